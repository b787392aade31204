/**
 * What one idle graphql-ws series subscriber holds in the service's JavaScript heap: the
 * evidence behind P6 (docs/performance.md). Starts the service (as the benchmark does), opens M
 * subscribers, takes a heap snapshot, opens M more, takes another, and lists the objects that
 * appeared in between (by V8's stable object ids) grouped by kind and constructor, per
 * subscriber. (RSS is P6's business: a heap snapshot itself grows the RSS.)
 *
 *   node bench/heap-per-subscriber.ts [--backend embedded|real | --baseline] [--count 1000] [--top 40] [--owners "array ,closure "]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep, startBenchServer, waitForSubscriptions } from './harness/server.ts';
import { connectRaw, subscribeMany, subscribeRaw } from './harness/gqlws.ts';
import { startWsBaseline } from './harness/ws-baseline.ts';
import { LIVE_SERIES, LIVE_SERIES_VARIABLES } from './scenarios/fanout.ts';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'embedded' },
    count: { type: 'string', default: '1000' },
    top: { type: 'string', default: '40' },
    /** Also lists who holds the new objects of these groups ("kind name", comma-separated). */
    owners: { type: 'string' },
    baseline: { type: 'boolean', default: false },
  },
});
const backend = values.backend === 'real' ? 'real' : 'embedded';
const count = Number(values.count);

interface Snapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/**
 * Who holds the objects of the given groups that are not in `before`: per holder (its kind and
 * name, and the edge's name), how many of them.
 */
function ownersOf(file: string, before: Map<number, unknown>, groups: Set<string>): Map<string, { held: number; bytes: number }> {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const { node_fields: fields, node_types: nodeTypes, edge_fields: edgeFields, edge_types: edgeTypes } = parsed.snapshot.meta;
  const width = fields.length;
  const edgeWidth = edgeFields.length;
  const at = (field: string) => fields.indexOf(field);
  const [typeAt, nameAt, idAt, edgeCountAt, sizeAt] = [at('type'), at('name'), at('id'), at('edge_count'), at('self_size')];
  const [edgeTypeAt, edgeNameAt, toAt] = ['type', 'name_or_index', 'to_node'].map((field) => edgeFields.indexOf(field));
  const labelOf = (node: number) => {
    const kind = nodeTypes[0][parsed.nodes[node + typeAt]!]!;
    const name = kind === 'object' || kind === 'closure' || kind === 'native' ? parsed.strings[parsed.nodes[node + nameAt]!]! : '';
    return `${kind} ${name.slice(0, 60)}`;
  };
  const owners = new Map<string, { held: number; bytes: number }>();
  let edge = 0;
  for (let node = 0; node < parsed.nodes.length; node += width) {
    const edges = parsed.nodes[node + edgeCountAt]!;
    for (let i = 0; i < edges; i++, edge += edgeWidth) {
      const target = parsed.edges[edge + toAt!]!;
      if (before.has(parsed.nodes[target + idAt]!) || !groups.has(labelOf(target))) continue;
      const edgeType = edgeTypes[0][parsed.edges[edge + edgeTypeAt!]!];
      if (edgeType === 'weak') continue;
      const nameOrIndex = parsed.edges[edge + edgeNameAt!]!;
      const edgeName = edgeType === 'element' || edgeType === 'hidden' ? `[${nameOrIndex}]` : parsed.strings[nameOrIndex];
      const key = `${labelOf(target)} <- ${labelOf(node)} .${edgeName}`;
      const owner = owners.get(key) ?? { held: 0, bytes: 0 };
      owner.held += 1;
      owner.bytes += parsed.nodes[target + sizeAt]!;
      owners.set(key, owner);
    }
  }
  return owners;
}

/** Each object of a snapshot: id → [kind, name, self size]. */
function objectsOf(file: string): Map<number, [string, string, number]> {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = parsed.snapshot.meta.node_fields;
  const kinds = parsed.snapshot.meta.node_types[0];
  const width = fields.length;
  const [typeAt, nameAt, idAt, sizeAt] = ['type', 'name', 'id', 'self_size'].map((field) => fields.indexOf(field));
  const objects = new Map<number, [string, string, number]>();
  for (let i = 0; i < parsed.nodes.length; i += width) {
    const kind = kinds[parsed.nodes[i + typeAt!]!]!;
    // Strings and code are named by their content: grouped by kind only.
    const name = kind === 'object' || kind === 'closure' || kind === 'native' ? parsed.strings[parsed.nodes[i + nameAt!]!]! : '';
    objects.set(parsed.nodes[i + idAt!]!, [kind, name.slice(0, 60), parsed.nodes[i + sizeAt!]!]);
  }
  return objects;
}

const diagnostics = mkdtempSync(join(tmpdir(), 'heap-per-subscriber-'));
const snapshotOptions = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${diagnostics}`;
/** --baseline: P6's raw `ws` server and bare sockets instead of the service and subscribers. */
let target: { pid: number; open(n: number): Promise<void>; close(): Promise<void> };
const subscribers: { close(): void }[] = [];
if (values.baseline) {
  // The baseline process inherits this one's environment.
  process.env.NODE_OPTIONS = snapshotOptions;
  const baseline = await startWsBaseline();
  delete process.env.NODE_OPTIONS;
  target = {
    pid: baseline.pid,
    async open(n) {
      for (let i = 0; i < n; i++) {
        const socket = await connectRaw(baseline.url, () => {});
        subscribers.push({ close: () => socket.terminate() });
      }
      await baseline.ask({ count: true });
      await sleep(1_000);
    },
    close: () => baseline.stop(),
  };
} else {
  const server = await startBenchServer(backend, { env: { NODE_OPTIONS: snapshotOptions } });
  target = {
    pid: server.pid,
    async open(n) {
      subscribers.push(...(await subscribeMany(n, () => subscribeRaw(server.wsUrl, LIVE_SERIES, LIVE_SERIES_VARIABLES, () => {}))));
      await waitForSubscriptions(server.url, subscribers.length, 120_000);
      await sleep(1_000);
    },
    close: () => server.close(),
  };
}
async function snapshot(): Promise<string> {
  const before = new Set(readdirSync(diagnostics));
  process.kill(target.pid, 'SIGUSR2');
  for (;;) {
    await sleep(500);
    const written = readdirSync(diagnostics).find((name) => !before.has(name) && name.endsWith('.heapsnapshot'));
    // The file is complete once it ends the snapshot's JSON object (it is written in pieces).
    if (written) {
      const path = join(diagnostics, written);
      for (;;) {
        await sleep(500);
        if (readFileSync(path, 'utf8').trimEnd().endsWith(']}')) return path;
      }
    }
  }
}
const open = (n: number) => target.open(n);
try {
  await open(count);
  const first = await snapshot();
  await open(count);
  const second = await snapshot();
  const before = objectsOf(first);
  const after = objectsOf(second);
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (const [id, [kind, name, size]] of after) {
    if (before.has(id)) continue;
    const key = `${kind} ${name}`;
    const group = groups.get(key) ?? { count: 0, bytes: 0 };
    group.count += 1;
    group.bytes += size;
    groups.set(key, group);
    total += size;
  }
  console.log(
    `${values.baseline ? 'raw ws baseline' : backend}: ${count} more ${values.baseline ? 'sockets' : 'subscribers'}: live heap +${(total / count).toFixed(0)} bytes each`,
  );
  console.log('bytes/sub  objects/sub  kind name');
  for (const [key, group] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top))) {
    console.log(`${(group.bytes / count).toFixed(0).padStart(9)}  ${(group.count / count).toFixed(2).padStart(11)}  ${key}`);
  }
  if (values.owners) {
    console.log('\nheld by (per subscriber: objects, bytes)');
    const owners = ownersOf(second, before, new Set(values.owners.split(',')));
    for (const [key, { held, bytes }] of [...owners].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top))) {
      console.log(`${(held / count).toFixed(2).padStart(6)} ${(bytes / count).toFixed(0).padStart(6)}  ${key}`);
    }
  }
} finally {
  for (const subscriber of subscribers) subscriber.close();
  await target.close();
  if (!process.env.KEEP_SNAPSHOTS) rmSync(diagnostics, { recursive: true, force: true });
  else console.log(`snapshots kept in ${diagnostics}`);
}
process.exit(0);

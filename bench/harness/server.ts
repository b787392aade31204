/**
 * Streamlens under benchmark: the real service as a child process (test/support/server.ts),
 * on the embedded default or on the real servers, plus what the benchmarks read from outside
 * it: its CPU time and memory from /proc, and GraphQL calls over plain fetch.
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { print } from 'graphql';
import { startServer, removeDataDir, realServerEnv, type TestServer } from '../../test/support/server.ts';
import { uniqueName } from '../../test/support/real-servers.ts';
import { IngestDocument, ReadStreamStatusDocument } from '../../test/generated/operations.ts';
import type { BackendName } from './cli.ts';
import type { BenchEvent } from './events.ts';

export interface BenchServer extends TestServer {
  backend: BackendName;
  /** The real-server names it uses (topic, keyspace, database), when on real servers. */
  env: Record<string, string>;
  pid: number;
  close(): Promise<void>;
}

/**
 * Settings every benchmark server shares. The per-key rate limits are raised so that they do
 * not cap what is measured (20k events/s and 100 subscriptions/s by default), the allowed
 * lateness covers the 24 h of P7's history. The log level stays `info`: the start-up line is
 * how test/support/server.ts learns the port (nothing is logged per request).
 */
export const BENCH_SERVER_ENV: Record<string, string> = {
  INGEST_RATE_PER_KEY: '100000000',
  QUERY_RATE_PER_KEY: '1000000',
  MAX_SUBSCRIPTIONS_PER_TENANT: '20000',
  // The fan-out and memory runs open up to 10,000 sockets from one (open-mode) caller, plus a few.
  MAX_WS_CONNECTIONS: '40000',
  MAX_WS_CONNECTIONS_PER_KEY: '40000',
  ALLOWED_LATENESS: '48h',
  // Measured as deployed (README's configuration table): graphql-js skips its development-only
  // checks (a cross-realm test inside every instanceof of its types), which the P2 profile
  // showed among an ingest request's larger main-thread costs. Only GraphiQL and introspection change
  // besides, and no scenario uses them.
  NODE_ENV: 'production',
};

export const PROFILE_DIR = new URL('../results/profiles/', import.meta.url).pathname;

export async function startBenchServer(
  backend: BackendName,
  options: { env?: Record<string, string>; profile?: string | null; dataDir?: string } = {},
): Promise<BenchServer> {
  const env = backend === 'real' ? { ...realServerEnv(uniqueName('bench')), ...(options.env ?? {}) } : { ...(options.env ?? {}) };
  const profileEnv: Record<string, string> = {};
  if (options.profile) {
    // A folder per run and Node's own file names (CPU.<date>.<time>.<pid>.<thread>.<n>.cpuprofile):
    // the processor's worker thread writes a profile of its own, which a fixed name overwrote.
    const dir = join(PROFILE_DIR, options.profile);
    mkdirSync(dir, { recursive: true });
    profileEnv.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${dir}`;
  }
  const server = await startServer({
    backend: backend === 'real' ? 'real servers' : 'embedded',
    env: { ...BENCH_SERVER_ENV, ...env, ...profileEnv },
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
  });
  return {
    ...server,
    backend,
    env,
    pid: server.child.pid!,
    async close() {
      await server.stop();
      removeDataDir(server.dataDir);
    },
  };
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** User + system CPU seconds a process has used so far. */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command: state is field 3, utime 14 and stime 15 (1-based), i.e. 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident set size of a process, in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

const ingestQuery = print(IngestDocument);
const statusQuery = print(ReadStreamStatusDocument);

/** One `ingest` mutation; resolves with the number of events acknowledged. */
export async function ingest(url: string, events: BenchEvent[]): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: ingestQuery, variables: { events } }),
  });
  const body = (await response.json()) as { data?: { ingest: { accepted: number; rejected: number } }; errors?: unknown };
  if (!body.data) throw new Error(`ingest failed: ${JSON.stringify(body.errors)}`);
  if (body.data.ingest.rejected > 0) throw new Error(`ingest rejected ${body.data.ingest.rejected} bench events`);
  return body.data.ingest.accepted;
}

export interface StreamStatus {
  lag: number;
  processed: number;
  liveSubscriptions: number;
}

export async function streamStatus(url: string): Promise<StreamStatus> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: statusQuery }),
  });
  const body = (await response.json()) as { data?: { streamStatus: StreamStatus }; errors?: unknown };
  if (!body.data) throw new Error(`streamStatus failed: ${JSON.stringify(body.errors)}`);
  return body.data.streamStatus;
}

/** Waits until the processor has caught up (lag 0), polling; gives up quietly after `timeoutMs`. */
export async function drained(url: string, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await streamStatus(url)).lag === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

export async function waitForSubscriptions(url: string, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await streamStatus(url);
    if (status.liveSubscriptions >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${status.liveSubscriptions} of ${count} subscriptions after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

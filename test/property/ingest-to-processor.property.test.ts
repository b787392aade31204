/**
 * Property: whatever an ingest call holds, every ACCEPTED event is eventually counted (readable
 * with `event(id)`), quarantined with a reason, or set aside with a reason, and processing never
 * stalls: a sentinel ingested after each call is processed.
 *
 * The service runs in-process on the embedded backend and is driven over HTTP, with arbitrary
 * events: arbitrary keys and strings (lone surrogates, control characters, prototype member
 * names such as constructor and __proto__), values of every JSON type, nesting in properties.
 *
 * Default: a short run with a fixed seed. A larger random run (the seed is printed, so a failure
 * can be replayed with FUZZ_SEED=<seed>):
 *   FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startApp, type RunningApp } from '../../src/app.ts';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createEmbeddedApiKeyStore } from '../../src/adapters/embedded/embedded-api-key-store.ts';
import { createEmbeddedRateLimitStore } from '../../src/adapters/embedded/embedded-rate-limit-store.ts';
import { createEmbeddedResultCache } from '../../src/adapters/embedded/embedded-result-cache.ts';
import { fuzzSettings } from './fuzz-settings.ts';

/** A fixed seed, so `npm test` is deterministic; 15 calls meet every kind of hostile string a few times, in seconds. */
const { seed, numRuns } = fuzzSettings('ingest-to-processor', { seed: 1_100_011, runs: 15 });
/** How long a sentinel may take: a poison record costs one failed delivery and its isolation, well under this. */
const SENTINEL_TIMEOUT_MS = 20_000;

/** JSON text built by hand: an object literal in JS cannot hold an own `__proto__` key. */
type Json = { json: string };
const raw = (json: string): Json => ({ json });
const text = (value: string): Json => raw(JSON.stringify(value));
const object = (entries: [string, Json][]): Json => raw(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v.json}`).join(',')}}`);
const array = (items: Json[]): Json => raw(`[${items.map((i) => i.json).join(',')}]`);

const PROTOTYPE_NAMES = [
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__proto__',
  'isPrototypeOf',
  '__defineGetter__',
  'prototype',
];
/** Any UTF-16 code unit, so lone surrogates and control characters come up often. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
const hostileString = fc.oneof(
  fc.constantFrom(...PROTOTYPE_NAMES, '', 'a.b', '$gt', 'x\u0000y', '\ud800', 'sur-\udfff', '\u202e', 'ok_key'),
  fc
    .array(fc.oneof(codeUnit, fc.constantFrom('\ud83d', '\ude00', '\u0000', '\u001b', 'a', '_')), { maxLength: 12 })
    .map((units) => units.join('')),
  fc.string({ maxLength: 12 }),
);
/** Keys: mostly names ingest accepts (so events get through to the processor), often hostile. */
const key = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES, 'country', 'plan', 'n', 'ms') },
  { weight: 1, arbitrary: hostileString },
);
const finiteNumber = fc.double({ noNaN: true, noDefaultInfinity: true });
const scalar: fc.Arbitrary<Json> = fc.oneof(
  hostileString.map(text),
  finiteNumber.map((n) => raw(JSON.stringify(n))),
  fc.boolean().map((b) => raw(String(b))),
);
const flatMap = (value: fc.Arbitrary<Json>) => fc.array(fc.tuple(key, value), { maxLength: 5 }).map(object);
const nested: fc.Arbitrary<Json> = fc.letrec<{ node: Json }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.constant(raw('null')),
    fc.array(tie('node'), { maxLength: 3 }).map(array),
    fc.array(fc.tuple(key, tie('node')), { maxLength: 3 }).map(object),
  ),
})).node;

/** An event input: its id (made unique per call when the test sends it), type, and the other fields as JSON. */
interface FuzzEvent {
  id: string | null;
  type: string;
  fields: [string, Json][];
}

const eventInput: fc.Arbitrary<FuzzEvent> = fc.record({
  id: fc.option(fc.oneof(hostileString, fc.constantFrom('dup-1', 'dup-2')), { freq: 5 }),
  type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('fuzz_a', 'fuzz.b', 'fuzz:c') }, { weight: 1, arbitrary: hostileString }),
  fields: fc
    .record(
      {
        source: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('web', 'app') }, { weight: 1, arbitrary: hostileString }).map(text),
        dimensions: flatMap(scalar),
        values: flatMap(finiteNumber.map((n) => raw(JSON.stringify(n)))),
        properties: fc.array(fc.tuple(key, nested), { maxLength: 4 }).map(object),
      },
      { requiredKeys: ['values'] },
    )
    .map((fields) => Object.entries(fields)),
});

const INGEST = 'mutation Ingest($events: [EventInput!]!) { ingest(events: $events) { acks { id status } } }';
const EVENT = 'query Event($id: ID!) { event(id: $id) { id type } }';
const EVENT_TYPES = 'query { eventTypes { type count } }';
const QUARANTINE = 'query { quarantine(first: 1000) { edges { node { id } } } }';
const SET_ASIDE = 'query { setAsideRecords(first: 1000) { edges { node { eventId reason error } } } }';

describe('ingest to processor, with arbitrary events', () => {
  let dataDir: string;
  let app: RunningApp;
  let url: string;

  async function post(body: string): Promise<{ data?: any; errors?: { extensions?: { code?: string } }[] }> {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return (await response.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] };
  }
  const graphql = (queryText: string, variables: Record<string, unknown> = {}) => post(JSON.stringify({ query: queryText, variables }));

  /** The type of the counted event with this id, or null. */
  async function storedType(id: string): Promise<string | null> {
    return (await graphql(EVENT, { id })).data?.event?.type ?? null;
  }
  /** Rollup counts per type: what "counted" means (a stored event whose rollups failed is not counted). */
  async function countsByType(): Promise<Map<string, number>> {
    const types: { type: string; count: number }[] = (await graphql(EVENT_TYPES)).data.eventTypes;
    return new Map(types.map((t) => [t.type, t.count]));
  }

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'streamlens-property-'));
    // One failed delivery before isolation: the property is about the outcome, not the patience.
    const loaded = loadConfig({
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      PROCESSING_MAX_ATTEMPTS: '1',
      INGEST_RATE_PER_KEY: '100000000',
      QUERY_RATE_PER_KEY: '1000000',
    });
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    const silent = { info() {}, warn() {}, error() {} };
    app = await startApp(
      loaded.config,
      {
        log: createEmbeddedEventLog({ dataDir, retentionMs: loaded.config.logRetentionMs }),
        eventStore: createEmbeddedEventStore({ dataDir, retentionMs: null }),
        seriesStore: createEmbeddedSeriesStore({ dataDir }),
        liveBus: createEmbeddedLiveBus(),
        apiKeys: createEmbeddedApiKeyStore({ dataDir }),
        rateLimits: createEmbeddedRateLimitStore(),
        resultCache: createEmbeddedResultCache({ maxEntries: 100, maxChars: 1_000_000 }),
      },
      silent,
    );
    url = app.server.url;
  });

  afterAll(async () => {
    await app?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(
    'counts every accepted event or sets it aside with a reason, and never stalls',
    async () => {
      let sentinels = 0;
      /** What became of the accepted events, printed at the end: the size of the run. */
      const outcomes = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(fc.array(eventInput, { minLength: 1, maxLength: 6 }), async (events) => {
          const call = (sentinels += 1);
          const before = await countsByType();
          // Ids unique to this call (hostile after the prefix), so the counts of each call can be checked exactly.
          const inputs = events.map((e) =>
            object([...(e.id === null ? [] : [['id', text(`c${call}-${e.id}`)] as [string, Json]]), ['type', text(e.type)], ...e.fields]),
          );
          const answer = await post(`{"query":${JSON.stringify(INGEST)},"variables":{"events":${array(inputs).json}}}`);
          // A whole call may be refused (a value the JSONObject scalar rejects): then nothing was accepted.
          const acks: { id: string | null; status: string }[] = answer.data?.ingest?.acks ?? [];
          if (!answer.data) expect(answer.errors?.[0]?.extensions?.code).toBeTypeOf('string');
          const accepted = new Set(acks.filter((ack) => ack.status === 'ACCEPTED').map((ack) => ack.id!));

          const sentinel = `sentinel-${call}`;
          const sent = await graphql(INGEST, { events: [{ id: sentinel, type: 'sentinel' }] });
          expect(sent.data.ingest.acks[0].status).toBe('ACCEPTED');
          const deadline = Date.now() + SENTINEL_TIMEOUT_MS;
          while ((await countsByType()).get('sentinel') !== call) {
            if (Date.now() > deadline) throw new Error(`processing stalled: ${sentinel} was not counted within ${SENTINEL_TIMEOUT_MS} ms`);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }

          const quarantined = new Set<string>(
            (await graphql(QUARANTINE)).data.quarantine.edges.map((e: { node: { id: string } }) => e.node.id),
          );
          const setAside = new Map<string, { reason: string; error: string }>(
            (await graphql(SET_ASIDE)).data.setAsideRecords.edges.map((e: { node: { eventId: string; reason: string; error: string } }) => [
              e.node.eventId,
              e.node,
            ]),
          );
          const expectedDelta = new Map<string, number>();
          for (const id of accepted) {
            // Counted: stored with the occurrence that owns the id (the first one that could be
            // counted: an occurrence set aside frees the id for a later one, a client's retry).
            const type = await storedType(id);
            const entry = setAside.get(id.toWellFormed());
            const outcome =
              type !== null ? 'counted' : quarantined.has(id) ? 'quarantined' : entry ? `set aside (${entry.reason})` : 'lost';
            expect(outcome, `accepted event ${JSON.stringify(id)}`).not.toBe('lost');
            if (entry) expect(entry.error.length).toBeGreaterThan(0);
            if (type !== null) expectedDelta.set(type, (expectedDelta.get(type) ?? 0) + 1);
            outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          }
          // Counted means in the rollups, exactly once: each type's count grew by its counted events.
          const after = await countsByType();
          for (const type of new Set([...expectedDelta.keys(), ...after.keys()])) {
            if (type === 'sentinel') continue;
            expect((after.get(type) ?? 0) - (before.get(type) ?? 0), `count of type ${type}`).toBe(expectedDelta.get(type) ?? 0);
          }
        }),
        { seed, numRuns, endOnFailure: true },
      );
      console.log(`fuzz: ${sentinels} ingest calls; accepted events: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    },
    Math.max(60_000, numRuns * SENTINEL_TIMEOUT_MS),
  );
});

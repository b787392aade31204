/**
 * Hostile log records, end to end: a foreign producer writes records straight into the event
 * log (the embedded SQLite log, or the Kafka topic) that the processor cannot count. Each must be
 * set aside with its reason, queryable (a tenant sees its own, the bootstrap admin all), and
 * replayable; a stall must show on /ready and in the metrics while it lasts; the ordinary
 * events after it must be counted; /health must answer throughout, and within 100 ms after
 * each case.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, realServerEnv, startServer, type Backend, type TestServer, expectHealthy } from '../support/server.ts';
import { execute, query, waitForProcessing, waitUntil, type Credentials } from '../support/clients.ts';
import {
  CreateApiKeyDocument,
  IngestDocument,
  ListEventTypesDocument,
  ListSetAsideRecordsDocument,
  ReplaySetAsideRecordsDocument,
  type SetAsideRecordFieldsFragment,
} from '../generated/operations.ts';
import { ATTEMPTS_ALONE, DEFAULT_MAX_ATTEMPTS } from '../../src/stream/failure-policy.ts';

const ADMIN_KEY = 'hostile-setaside-suite-admin-key-0123456789';
const TENANT = 'acme';
const TYPE = 'checkout';
/** Deep enough that storing the properties overflows the stack (V8 recurses in JSON.stringify): 40 KB of brackets. */
const POISON_DEPTH = 20_000;

/** Writes records into the service's log behind its back, as a foreign producer would. */
interface ForeignProducer {
  write(key: string, values: string[]): Promise<void>;
  close(): Promise<void>;
}

function embeddedProducer(dataDir: string): ForeignProducer {
  const db = new Database(join(dataDir, 'log.sqlite'));
  db.pragma('busy_timeout = 5000');
  const insert = db.prepare('INSERT INTO records (key, value, appended_at) VALUES (?, ?, ?)');
  return {
    async write(key, values) {
      for (const value of values) insert.run(key, value, Date.now());
    },
    async close() {
      db.close();
    },
  };
}

async function kafkaProducer(brokers: string, topic: string): Promise<ForeignProducer> {
  const kafka = new Kafka({ brokers: brokers.split(','), clientId: 'hostile-setaside-foreign-producer', logLevel: logLevel.NOTHING });
  // The service's partitioner: a record keyed like the service's own lands in the same partition.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  return {
    async write(key, values) {
      await producer.send({ topic, acks: -1, messages: values.map((value) => ({ key, value })) });
    },
    close: () => producer.disconnect(),
  };
}

function acceptedEvent(id: string, properties: unknown): string {
  const now = Date.now();
  return `{"tenant":"${TENANT}","id":"${id}","type":"${TYPE}","timestamp":${now},"receivedAt":${now},"clockCorrectionMs":0,"source":null,"dimensions":{},"values":{"n":1},"properties":${properties}}`;
}

async function metric(server: TestServer, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe.each(BACKENDS)('hostile log records on %s', (backend: Backend) => {
  let server: TestServer;
  let producer: ForeignProducer;
  const tenant: Credentials = {};
  const readOnly: Credentials = {};
  const admin: Credentials = { apiKey: ADMIN_KEY };

  const countOf = async (type: string) =>
    (await query(server.url, ListEventTypesDocument, undefined, tenant)).eventTypes.find((t) => t.type === type)?.count ?? 0;
  const ingest = async (ids: string[]) => {
    const result = await query(server.url, IngestDocument, { events: ids.map((id) => ({ id, type: TYPE, values: { n: 1 } })) }, tenant);
    expect(result.ingest.accepted).toBe(ids.length);
  };
  const listed = async (credentials: Credentials, allTenants = false): Promise<SetAsideRecordFieldsFragment[]> =>
    (await query(server.url, ListSetAsideRecordsDocument, { first: 100, allTenants }, credentials)).setAsideRecords.edges.map(
      (e) => e.node,
    );

  beforeAll(async () => {
    const env = backend === 'real servers' ? realServerEnv() : {};
    server = await startServer({ backend, env: { ...env, ADMIN_KEY } });
    producer = backend === 'real servers' ? await kafkaProducer(env.KAFKA_BROKERS!, env.KAFKA_TOPIC!) : embeddedProducer(server.dataDir);
    tenant.apiKey = (
      await query(server.url, CreateApiKeyDocument, { tenant: TENANT, scopes: ['INGEST', 'READ', 'ADMIN'] }, admin)
    ).createApiKey.key;
    readOnly.apiKey = (await query(server.url, CreateApiKeyDocument, { tenant: 'other', scopes: ['READ'] }, admin)).createApiKey.key;
  });

  afterAll(async () => {
    await producer?.close();
    await server?.stop();
  });

  it('sets aside records that are not events, with their reason, and counts the events after them', async () => {
    await producer.write(`${TENANT}:${TYPE}`, ['{not json', JSON.stringify({ tenant: TENANT, id: 'half-an-event' })]);
    // The embedded log wakes its consumer on its own appends: ordinary events right after.
    await ingest(['after-undecodable-1', 'after-undecodable-2']);
    await waitForProcessing(server.url, 60_000, tenant);

    expect(await countOf(TYPE)).toBe(2);
    const own = await listed(tenant);
    expect(own.map((r) => [r.tenant, r.eventId, r.reason, r.error])).toEqual([
      [TENANT, 'half-an-event', 'UNDECODABLE', 'not an event as ingest writes it: "type" is missing or of the wrong type'],
    ]);
    // The record that names no tenant is the operator's alone.
    const all = await listed(admin, true);
    const orphan = all.find((r) => r.record === '{not json')!;
    expect(orphan).toMatchObject({ tenant: null, eventId: null, reason: 'UNDECODABLE', attempts: 1 });
    expect(orphan.error).toMatch(/^not JSON: /);
    expect(await listed(readOnly)).toEqual([]);
    expect(await metric(server, 'streamlens_set_aside_records_total', '{reason="UNDECODABLE"}')).toBe(2);
    await expectHealthy(server);
  });

  it('reports a stalled partition on /ready and in the metrics, then sets aside the record that fails alone and counts the rest', async () => {
    const poison = acceptedEvent('deep-properties', `{"deep":${'['.repeat(POISON_DEPTH)}${']'.repeat(POISON_DEPTH)}}`);
    await producer.write(`${TENANT}:${TYPE}`, [poison]);
    await ingest(['after-poison-1', 'after-poison-2', 'after-poison-3']);

    const stalled = await waitUntil(
      async () => {
        // Alive throughout (the 100 ms bound is checked once the case is over, as in every hostile case).
        expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
        const ready = await fetch(`${server.baseUrl}/ready`);
        if (ready.status !== 503) return null;
        const body = (await ready.json()) as { ready: boolean; reason: string };
        return { body, gauge: await metric(server, 'streamlens_stalled_partitions') };
      },
      30_000,
      '/ready to report the stalled partition',
    );
    expect(stalled.body.ready).toBe(false);
    expect(stalled.body.reason).toMatch(/^the stream processor is stalled on partition \d+ at offset \d+ \(\d+ failed attempts/);
    expect(stalled.body.reason).toContain('Maximum call stack size exceeded');
    expect(stalled.gauge).toBeGreaterThanOrEqual(1);

    await waitForProcessing(server.url, 60_000, tenant);
    expect(await countOf(TYPE)).toBe(5);
    const entry = (await listed(tenant)).find((r) => r.eventId === 'deep-properties')!;
    expect(entry).toMatchObject({
      tenant: TENANT,
      reason: 'UNPROCESSABLE',
      record: poison,
      attempts: DEFAULT_MAX_ATTEMPTS + ATTEMPTS_ALONE,
    });
    expect(entry.error).toContain('RangeError: Maximum call stack size exceeded');
    await waitUntil(async () => (await fetch(`${server.baseUrl}/ready`)).status === 200, 10_000, '/ready to recover');
    expect(await metric(server, 'streamlens_stalled_partitions')).toBe(0);
    expect(await metric(server, 'streamlens_set_aside_records_total', '{reason="UNPROCESSABLE"}')).toBe(1);
    expect(await metric(server, 'streamlens_processing_batch_failures_total', '{cause="error"}')).toBe(DEFAULT_MAX_ATTEMPTS);
    expect(await metric(server, 'streamlens_processing_batch_failures_total', '{cause="outage"}')).toBe(0);
    await expectHealthy(server);
  });

  it('replays a set-aside record for its tenant ADMIN only, appending it to the log again', async () => {
    const [before] = (await listed(tenant)).filter((r) => r.eventId === 'half-an-event');
    const forbidden = await execute(server.url, ReplaySetAsideRecordsDocument, { ids: [before!.id] }, readOnly);
    expect(forbidden.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const badId = await execute(server.url, ReplaySetAsideRecordsDocument, { ids: ['not-an-id'] }, tenant);
    expect(badId.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');

    const replay = await query(server.url, ReplaySetAsideRecordsDocument, { ids: [before!.id, '0:999999999'] }, tenant);
    expect(replay.replaySetAsideRecords.replayed.map((r) => r.id)).toEqual([before!.id]);
    expect(replay.replaySetAsideRecords.notFound).toEqual(['0:999999999']);
    await ingest(['after-replay']);
    await waitForProcessing(server.url, 60_000, tenant);
    // Its cause is not fixed: it is set aside again, at its new position, and nothing is lost.
    const again = (await listed(tenant)).filter((r) => r.eventId === 'half-an-event');
    expect(again).toHaveLength(1);
    expect(again[0]!.id).not.toBe(before!.id);
    expect(again[0]!.record).toBe(before!.record);
    expect((await query(server.url, ReplaySetAsideRecordsDocument, { ids: [before!.id] }, tenant)).replaySetAsideRecords.notFound).toEqual([
      before!.id,
    ]);
    expect(await countOf(TYPE)).toBe(6);
    await expectHealthy(server);
  });
});

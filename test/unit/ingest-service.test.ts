import { afterEach, describe, expect, it } from 'vitest';
import { createIngestService, derivedEventId } from '../../src/ingest/ingest-service.ts';
import { wholeTenantAccess } from '../../src/auth/tenant-access.ts';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createLagMonitor } from '../../src/stream/lag-monitor.ts';
import type { EventLog } from '../../src/ports/event-log.ts';
import { StreamlensError } from '../../src/errors.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const limits = { maxBatchEvents: 100, maxPropertiesBytes: 1024 };
let dataDir: string;
let log: EventLog;

afterEach(async () => {
  await log?.close();
  if (dataDir) removeDataDir(dataDir);
});

function openLog() {
  dataDir = newDataDir();
  log = createEmbeddedEventLog({ dataDir, retentionMs: 86_400_000 });
  return log;
}

describe('ingest service', () => {
  it('refuses with a retryable UNAVAILABLE while processing is past its lag bound, and accepts again after', async () => {
    const eventLog = openLog();
    await eventLog.append(Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: String(i) })));
    const monitor = createLagMonitor({
      log: eventLog,
      groupId: 'processor',
      maxLag: 3,
      onReadFailure: () => {},
      onReadRecovered: () => {},
    });
    try {
      await expect.poll(() => monitor.lastLag()).toBe(5);
      const ingest = createIngestService({ log: eventLog, limits, overloadReason: monitor.overloadReason });
      const refusal = await ingest.ingest(wholeTenantAccess('default'), [{ type: 'x' }], null).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(StreamlensError);
      expect(refusal).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
      expect((refusal as Error).message).toContain('processing is 5 events behind (the bound is 3)');
      expect(await eventLog.lag('processor')).toBe(5);

      const consumer = await eventLog.consume({ groupId: 'processor', handleBatch: async () => {} });
      await expect.poll(() => monitor.lastLag(), { timeout: 5_000 }).toBe(0);
      await consumer.stop();
      expect((await ingest.ingest(wholeTenantAccess('default'), [{ type: 'x' }], null)).accepted).toBe(1);
    } finally {
      monitor.stop();
    }
  });

  it('drains calls in flight and refuses new ones once draining', async () => {
    const eventLog = openLog();
    const ingest = createIngestService({ log: eventLog, limits });
    const inFlight = ingest.ingest(wholeTenantAccess('default'), [{ type: 'x', id: 'in-flight' }], null);
    const drained = ingest.drain();
    await expect(ingest.ingest(wholeTenantAccess('default'), [{ type: 'x' }], null)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await drained;
    expect((await inFlight).acks[0]).toMatchObject({ id: 'in-flight', status: 'ACCEPTED' });
    expect(await eventLog.lag('anyone')).toBe(1);
  });

  it('tells once when reading the lag starts failing and once when it recovers, and never refuses on an unknown lag', async () => {
    const eventLog = openLog();
    let lagFails = true;
    let reads = 0;
    const flakyLog: EventLog = {
      ...eventLog,
      lag: async (groupId) => {
        reads += 1;
        if (lagFails) throw new Error('the log is unreachable');
        return eventLog.lag(groupId);
      },
    };
    const reports: string[] = [];
    const monitor = createLagMonitor({
      log: flakyLog,
      groupId: 'processor',
      maxLag: 3,
      onReadFailure: (error) => reports.push(`failure: ${(error as Error).message}`),
      onReadRecovered: () => reports.push('recovered'),
    });
    try {
      // Three samples into the streak (about 1 s at two a second), still a single report.
      await expect.poll(() => reads, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
      expect(reports).toEqual(['failure: the log is unreachable']);
      expect(monitor.lastLag()).toBeNull();
      expect(monitor.overloadReason()).toBeNull();
      lagFails = false;
      await expect.poll(() => monitor.lastLag(), { timeout: 5_000 }).toBe(0);
      expect(reports).toEqual(['failure: the log is unreachable', 'recovered']);
    } finally {
      monitor.stop();
    }
  });
});

describe('ids derived from an idempotency key', () => {
  it('item 9: the same call sent again gets the same ids for its events without one; ids of their own are kept', async () => {
    const ingest = createIngestService({ log: openLog(), limits });
    const batch = [{ type: 'x' }, { type: 'x', id: 'mine' }, { type: 'x' }];
    const first = await ingest.ingest(wholeTenantAccess('default'), batch, null, 'call-1');
    const again = await ingest.ingest(wholeTenantAccess('default'), batch, null, 'call-1');
    expect(first.acks.map((ack) => ack.id)).toEqual([
      derivedEventId('default', 'call-1', 0),
      'mine',
      derivedEventId('default', 'call-1', 2),
    ]);
    expect(again.acks).toEqual(first.acks);
    // Another key, another tenant or no key at all: other ids.
    const other = await ingest.ingest(wholeTenantAccess('default'), batch, null, 'call-2');
    const otherTenant = await ingest.ingest(wholeTenantAccess('acme'), batch, null, 'call-1');
    const unkeyed = await ingest.ingest(wholeTenantAccess('default'), batch, null);
    const firstIds = new Set([first.acks[0]!.id, first.acks[2]!.id]);
    for (const result of [other, otherTenant, unkeyed]) {
      expect(firstIds.has(result.acks[0]!.id)).toBe(false);
      expect(firstIds.has(result.acks[2]!.id)).toBe(false);
    }
  });

  it('derives RFC 9562 version 8 UUIDs, one per index', () => {
    const ids = Array.from({ length: 1000 }, (_, index) => derivedEventId('default', 'k', index));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(1000);
  });

  it('refuses the whole call with BAD_USER_INPUT for a key that could not be an id', async () => {
    const ingest = createIngestService({ log: openLog(), limits });
    for (const key of ['', 'x'.repeat(129), 'a\u0000b', 'lone \ud800']) {
      await expect(ingest.ingest(wholeTenantAccess('default'), [{ type: 'x' }], null, key)).rejects.toMatchObject({
        code: 'BAD_USER_INPUT',
      });
    }
    expect(await log.lag('processor')).toBe(0);
  });
});

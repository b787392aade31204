/**
 * Event time end to end: the watermark, final buckets, and the quarantine for events that
 * are too late or too far in the future. The server runs with short bounds to make them visible.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { query, waitForProcessing } from '../support/clients.ts';
import {
  IngestDocument,
  ListEventsDocument,
  ListQuarantineDocument,
  ReadEventDocument,
  ReadSeriesDocument,
  ReadStreamStatusDocument,
  type EventInput,
} from '../generated/operations.ts';

describe.each(BACKENDS)('event time on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ backend, env: { OUT_OF_ORDERNESS: '1s', ALLOWED_LATENESS: '1m', FUTURE_TOLERANCE: '1m' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function ingest(events: EventInput[]) {
    expect((await query(server.url, IngestDocument, { events })).ingest.accepted).toBe(events.length);
    await waitForProcessing(server.url);
  }

  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const minuteOf = (ms: number) => Math.floor(ms / 60_000) * 60_000;

  describe('event time', () => {
    it('finalises buckets behind the watermark and quarantines what is too late or too early', async () => {
      const early = now - 3 * 60_000;
      await ingest([{ id: 'early', type: 'et', timestamp: iso(early) }]);
      await ingest([{ id: 'current', type: 'et', timestamp: iso(now) }]);
      // 30 s late is within the allowed lateness (1 min): it still counts.
      await ingest([
        { id: 'late-ok', type: 'et', timestamp: iso(now - 30_000) },
        { id: 'too-late', type: 'et', timestamp: iso(now - 10 * 60_000) },
        { id: 'future', type: 'et', timestamp: iso(now + 5 * 60_000) },
      ]);

      const { streamStatus } = await query(server.url, ReadStreamStatusDocument);
      expect(streamStatus.watermark).toBe(iso(now - 1_000));
      expect(streamStatus.quarantined).toBe(2);

      const { series } = await query(server.url, ReadSeriesDocument, {
        query: { type: 'et', interval: 'MINUTE', from: iso(now - 15 * 60_000), to: iso(now + 10 * 60_000) },
      });
      const points = series[0]!.points.map((p) => [p.start, p.count, p.final]);
      const expected = [[iso(minuteOf(early)), 1, true]];
      if (minuteOf(now - 30_000) === minuteOf(now)) expected.push([iso(minuteOf(now)), 2, false]);
      else expected.push([iso(minuteOf(now - 30_000)), 1, false], [iso(minuteOf(now)), 1, false]);
      expect(points).toEqual(expected);
      expect(series[0]!.watermark).toBe(iso(now - 1_000));

      const events = await query(server.url, ListEventsDocument, { filter: { types: ['et'] } });
      expect(events.events.edges.map((e) => e.node.id)).toEqual(['current', 'late-ok', 'early']);
      expect((await query(server.url, ReadEventDocument, { id: 'too-late' })).event).toBeNull();

      const { quarantine } = await query(server.url, ListQuarantineDocument, { first: 10 });
      const entries = quarantine.edges.map((e) => [e.node.id, e.node.type, e.node.reason.split(':')[0]]);
      expect(entries.sort()).toEqual([
        ['future', 'et', 'FUTURE'],
        ['too-late', 'et', 'TOO_LATE'],
      ]);
      const tooLate = quarantine.edges.find((e) => e.node.id === 'too-late')!.node;
      expect(tooLate.event).toMatchObject({ id: 'too-late', type: 'et', timestamp: iso(now - 10 * 60_000) });
    });
  });
});

describe('configuration', () => {
  it('exits at start with one message that names every bad variable', () => {
    const result = spawnSync(process.execPath, ['src/main.ts'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, PORT: 'eighty', OUT_OF_ORDERNESS: 'soon', DATA_DIR: '/tmp/never-used' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('cannot start');
    expect(result.stderr).toContain('PORT: "eighty" is not a whole number from 0 to 65535');
    expect(result.stderr).toContain('OUT_OF_ORDERNESS: "soon" is not a duration');
  });
});

import { describe, expect, it } from 'vitest';
import { loadConfig, parseDuration } from '../../src/config.ts';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const result = loadConfig({});
    expect(result.ok && result.config).toMatchObject({
      port: 4000,
      host: '127.0.0.1',
      dataDir: './data',
      kafka: null,
      eventRetentionMs: null,
      mongodbUrl: null,
      cassandra: null,
      redisUrl: null,
      eventTime: { outOfOrdernessMs: 5_000, allowedLatenessMs: 86_400_000, futureToleranceMs: 600_000 },
      ingest: { maxBatchEvents: 1000, maxPropertiesBytes: 16_384 },
    });
  });

  it('reports every bad variable at once, by name', () => {
    const result = loadConfig({ PORT: 'eighty', OUT_OF_ORDERNESS: '5 seconds', INGEST_MAX_BATCH_EVENTS: '0', LOG_LEVEL: 'loud' });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['INGEST_MAX_BATCH_EVENTS', 'LOG_LEVEL', 'OUT_OF_ORDERNESS', 'PORT']);
  });

  it('reads server lists', () => {
    const result = loadConfig({
      KAFKA_BROKERS: 'a:9092, b:9092',
      CASSANDRA_CONTACT_POINTS: 'c1,c2',
      CASSANDRA_KEYSPACE: 'ks',
      EVENT_RETENTION: '30d',
    });
    expect(result.ok && result.config.kafka).toEqual({ brokers: ['a:9092', 'b:9092'], topic: 'streamlens.events', partitions: 6 });
    expect(result.ok && result.config.eventRetentionMs).toBe(30 * 86_400_000);
    expect(result.ok && result.config.cassandra).toEqual({ contactPoints: ['c1', 'c2'], localDataCenter: 'datacenter1', keyspace: 'ks' });
  });

  it('item 4: runs the processor in a worker thread unless PROCESSOR_THREAD=main, and refuses any other placement by name', () => {
    const byDefault = loadConfig({});
    expect(byDefault.ok && byDefault.config.processorThread).toBe('worker');
    const onMain = loadConfig({ PROCESSOR_THREAD: 'main' });
    expect(onMain.ok && onMain.config.processorThread).toBe('main');
    for (const value of ['both', 'WORKER', ' worker', '1']) {
      const refused = loadConfig({ PROCESSOR_THREAD: value });
      expect(refused.ok).toBe(false);
      expect(refused.ok ? [] : refused.problems.map((problem) => problem.split(':')[0])).toEqual(['PROCESSOR_THREAD']);
    }
  });

  it('parses durations', () => {
    expect([parseDuration('250ms'), parseDuration('5s'), parseDuration('1.5m'), parseDuration('24h'), parseDuration('7d')]).toEqual([
      250, 5_000, 90_000, 86_400_000, 604_800_000,
    ]);
    expect(parseDuration('5')).toBeNull();
    expect(parseDuration('-5s')).toBeNull();
  });

  it('item 11: refuses a SECOND_RETENTION shorter than ALLOWED_LATENESS + OUT_OF_ORDERNESS + one SECOND bucket, saying what would do', () => {
    const result = loadConfig({ SECOND_RETENTION: '6h' });
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.problems).toEqual([
      'SECOND_RETENTION: 6h is shorter than ALLOWED_LATENESS + OUT_OF_ORDERNESS + 1s (86406s): a late event could still ' +
        'update a SECOND bucket after the purge deleted it. Set SECOND_RETENTION to 86406s or more (or leave it unset), ' +
        'or lower ALLOWED_LATENESS',
    ]);
    // Exactly the minimum is enough; so is any retention with a lateness that fits in it.
    expect(loadConfig({ SECOND_RETENTION: '86406s' }).ok).toBe(true);
    const short = loadConfig({ SECOND_RETENTION: '1h', ALLOWED_LATENESS: '30m' });
    expect(short.ok && short.config.secondRetentionMs).toBe(3_600_000);
  });

  it('item 11: unset, SECOND_RETENTION is 6h, or what the allowed lateness needs when that is more', () => {
    const defaults = loadConfig({});
    // 24h + 5s + 1s: a bucket is purged only once no event can change it any more.
    expect(defaults.ok && defaults.config.secondRetentionMs).toBe(86_406_000);
    const shortLateness = loadConfig({ ALLOWED_LATENESS: '1m' });
    expect(shortLateness.ok && shortLateness.config.secondRetentionMs).toBe(6 * 3_600_000);
    const longLateness = loadConfig({ ALLOWED_LATENESS: '7d', OUT_OF_ORDERNESS: '0s' });
    expect(longLateness.ok && longLateness.config.secondRetentionMs).toBe(7 * 86_400_000 + 1_000);
  });
});

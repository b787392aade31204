/**
 * The single-machine event log: an append-only SQLite table in WAL mode, one partition.
 *
 * Appends are group-committed (../group-commit.ts): every append made while a commit is being
 * prepared joins the same transaction, so concurrent ingest calls share one fsync instead of
 * queueing for one each.
 *
 * The file may be open in several threads of one process (the stream processor consumes in a
 * worker thread while ingest appends on the main one: src/stream/processor-thread.ts): each
 * commit wakes the consumers of every thread, through a BroadcastChannel named after the file.
 */
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import type { AppendRecord, ConsumeOptions, EventLog, LogConsumer, LogRecord } from '../../ports/event-log.ts';
import { unavailable } from '../../errors.ts';
import { openDatabase, type SqliteDatabase } from './sqlite.ts';
import { createGroupCommit } from '../group-commit.ts';

/** The embedded log has a single partition: order is total. */
const PARTITION = 0;
const DEFAULT_MAX_BATCH = 1000;
/** How often records past the retention are deleted. */
const DEFAULT_RETENTION_CHECK_MS = 60_000;
/** How long a failed batch waits before it is delivered again: long enough not to spin. */
const REDELIVERY_BACKOFF_MS = 500;

export interface EmbeddedEventLogOptions {
  dataDir: string;
  /** Records older than this, and committed by every group, are deleted. */
  retentionMs: number;
  /** How often that is checked (default once a minute; tests shorten it). */
  retentionCheckMs?: number;
  onError?: (error: unknown) => void;
}

export function createEmbeddedEventLog(options: EmbeddedEventLogOptions): EventLog {
  const path = join(options.dataDir, 'log.sqlite');
  const db: SqliteDatabase = openDatabase(path);
  db.exec(`
    CREATE TABLE IF NOT EXISTS records (
      offset INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: offsets are never reused after truncation
      key TEXT NOT NULL,
      value TEXT NOT NULL,
      appended_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS committed_offsets (
      group_id TEXT PRIMARY KEY,
      last_offset INTEGER NOT NULL
    );
    -- One row: the log's identity, made with the file, so a new file (offsets from 1 again) has another.
    CREATE TABLE IF NOT EXISTS log_identity (
      single_row INTEGER PRIMARY KEY CHECK (single_row = 1),
      identity TEXT NOT NULL
    );
  `);
  // A file made before identities existed gets one on its first open by this version.
  db.prepare('INSERT OR IGNORE INTO log_identity (single_row, identity) VALUES (1, ?)').run(`embedded:${randomUUID()}`);
  const logIdentity = db.prepare<[], { identity: string }>('SELECT identity FROM log_identity').get()!.identity;
  const insertRecord = db.prepare('INSERT INTO records (key, value, appended_at) VALUES (?, ?, ?)');
  const readRecords = db.prepare<[number, number], { offset: number; value: string; appended_at: number }>(
    'SELECT offset, value, appended_at FROM records WHERE offset > ? ORDER BY offset LIMIT ?',
  );
  const readNewest = db.prepare<[], { offset: number }>('SELECT offset FROM records ORDER BY offset DESC LIMIT 1');
  const readCommitted = db.prepare<[string], { last_offset: number }>('SELECT last_offset FROM committed_offsets WHERE group_id = ?');
  const writeCommitted = db.prepare(
    'INSERT INTO committed_offsets (group_id, last_offset) VALUES (?, ?) ON CONFLICT (group_id) DO UPDATE SET last_offset = excluded.last_offset',
  );
  /**
   * A consumer's committed offset is written without an fsync of its own (synchronous = NORMAL
   * for that one commit): it only spares replays. A batch's handler has finished (the processor:
   * stored it, its commits fsynced) before its offset is written, so an offset a power cut takes
   * back only redelivers handled batches, which every consumer takes anyway (delivery is at least
   * once: a crash before this write does the same). Any later fsync of this write-ahead log (the
   * next append's, a retention purge's) makes it durable too: a purge of what it committed never
   * outlives it. Appends, which clients are promised, keep their fsync (openDatabase).
   */
  const commitOffset = (groupId: string, offset: number) => {
    db.pragma('synchronous = NORMAL');
    try {
      writeCommitted.run(groupId, offset);
    } finally {
      db.pragma('synchronous = FULL');
    }
  };
  const readEnd = db.prepare<[], { end: number | null }>("SELECT seq AS end FROM sqlite_sequence WHERE name = 'records'");
  /**
   * Retention deletes a prefix of the offsets: records are appended in offset order, stamped with
   * the clock, so the expired ones come first. Finding where they end reads from the oldest record
   * to the first one not expired (about a minute's records, at one check a minute). Filtering on
   * appended_at instead, which has no index, scanned the whole log at every check, inside a write
   * transaction: at a few million records that held the log for hundreds of milliseconds, and
   * ingest's appends and the processor's offset commits waited behind it. A record stamped earlier
   * than one before it (the clock stepped back) is kept until that one expires: kept longer, never
   * deleted early.
   */
  const firstUnexpired = db.prepare<[number], { offset: number }>(
    'SELECT offset FROM records WHERE appended_at >= ? ORDER BY offset LIMIT 1',
  );
  const deleteThrough = db.prepare(
    'DELETE FROM records WHERE offset <= ? AND offset <= (SELECT coalesce(min(last_offset), 0) FROM committed_offsets)',
  );
  const deleteExpired = (cutoff: number) => {
    const keepFrom = firstUnexpired.get(cutoff)?.offset ?? Number.MAX_SAFE_INTEGER;
    deleteThrough.run(keepFrom - 1);
  };
  const appendAll = db.transaction((group: AppendRecord[][], now: number) => {
    for (const records of group) for (const record of records) insertRecord.run(record.key, record.value, now);
  });

  let closed = false;
  const waiters = new Set<() => void>();
  const consumers = new Set<LogConsumer>();

  function wakeConsumers(): void {
    for (const wake of waiters) wake();
    waiters.clear();
  }

  // Every instance of this file in the process hears the others' commits (never its own: a
  // channel does not deliver to itself, and local consumers are woken directly). Unreferenced,
  // so it never keeps a process or thread alive.
  const commits = new BroadcastChannel(`streamlens:embedded-log:${resolve(path)}`);
  commits.unref();
  commits.onmessage = wakeConsumers;
  let commitsOpen = true;

  const appends = createGroupCommit<AppendRecord[]>((group) => {
    try {
      appendAll(group, Date.now());
    } catch (error) {
      throw unavailable('the embedded log could not write to disk', error);
    }
    // On the next turn: the appenders' answers (the ingest responses) go out first, and the
    // appends that arrive meanwhile join the consumer's next read instead of a batch of their own.
    setImmediate(() => {
      wakeConsumers();
      if (commitsOpen) commits.postMessage(null);
    });
  });

  function endOffset(): number {
    return readEnd.get()?.end ?? 0;
  }

  function committedOffset(groupId: string): number {
    return readCommitted.get(groupId)?.last_offset ?? 0;
  }

  const retentionTimer = setInterval(() => {
    try {
      deleteExpired(Date.now() - options.retentionMs);
    } catch (error) {
      options.onError?.(error);
    }
  }, options.retentionCheckMs ?? DEFAULT_RETENTION_CHECK_MS);
  retentionTimer.unref();

  return {
    append(records) {
      if (closed) return Promise.reject(unavailable('the event log is shutting down'));
      if (records.length === 0) return Promise.resolve();
      return appends.add(records);
    },

    async consume({ groupId, handleBatch, maxBatchSize = DEFAULT_MAX_BATCH }: ConsumeOptions) {
      let stopped = false;
      let wakeSleeper: (() => void) | null = null;
      const loop = (async () => {
        let position = committedOffset(groupId);
        while (!stopped) {
          const rows = readRecords.all(position, maxBatchSize);
          if (rows.length === 0) {
            await new Promise<void>((resolve) => {
              wakeSleeper = resolve;
              waiters.add(resolve);
            });
            continue;
          }
          const records: LogRecord[] = rows.map((row) => ({
            position: { partition: PARTITION, offset: row.offset },
            value: row.value,
            appendedAt: row.appended_at,
          }));
          try {
            await handleBatch({ partition: PARTITION, records });
          } catch {
            // Not reported here: the handler reports its own failures (once per streak, not per attempt).
            await sleep(REDELIVERY_BACKOFF_MS);
            continue;
          }
          position = rows[rows.length - 1]!.offset;
          commitOffset(groupId, position);
          // The stores here answer synchronously, so without this a backlog is worked off in one
          // unbroken chain of microtasks: nothing else on this thread (a worker's status request,
          // timers, HTTP on the main thread) would run until the backlog is gone.
          await yieldToEventLoop();
        }
      })();
      const consumer: LogConsumer = {
        async stop() {
          stopped = true;
          if (wakeSleeper) {
            waiters.delete(wakeSleeper);
            wakeSleeper();
          }
          await loop;
          consumers.delete(consumer);
        },
      };
      consumers.add(consumer);
      return consumer;
    },

    async lag(groupId) {
      return Math.max(0, endOffset() - committedOffset(groupId));
    },

    async partitionEnds() {
      if (closed) throw unavailable('the event log is closed');
      return new Map([[PARTITION, readNewest.get()?.offset ?? null]]);
    },

    async checkHealth() {
      if (closed) throw unavailable('the event log is closed');
      db.prepare('SELECT 1').get();
    },

    async identity() {
      return logIdentity;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(retentionTimer);
      // Appends already accepted by append() are still written (or failed) before the file closes.
      await appends.flushed();
      await Promise.all([...consumers].map((consumer) => consumer.stop()));
      commitsOpen = false;
      commits.close();
      db.close();
    },
  };
}

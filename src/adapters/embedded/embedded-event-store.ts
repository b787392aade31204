/** The single-machine event store: raw events in SQLite, keyed by (tenant, id). */
import { join } from 'node:path';
import { dimensionsAsText, type QuarantineReason, type StoredEvent } from '../../domain/event.ts';
import type { DimensionCondition } from '../../domain/dimension-conditions.ts';
import { eventKey, type EventClaim, type EventQuery, type EventStore } from '../../ports/event-store.ts';
import type { SetAsideReason, SetAsideRecord } from '../../domain/set-aside.ts';
import { inChunks, openDatabase, placeholders, runGuarded } from './sqlite.ts';

/** SQLite binds at most 32766 parameters per statement; ids per IN list stay well below. */
const IDS_PER_QUERY = 500;

interface EventRow {
  tenant: string;
  id: string;
  type: string;
  timestamp: number;
  received_at: number;
  clock_correction_ms: number;
  source: string | null;
  dimensions: string;
  value_map: string;
  /** JSON of the event's distinct values; NULL when it carries none. */
  distinct_values: string | null;
  properties: string | null;
  log_partition: number;
  log_offset: number;
  quarantine: QuarantineReason | null;
}

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    tenant: row.tenant,
    id: row.id,
    type: row.type,
    timestamp: row.timestamp,
    receivedAt: row.received_at,
    clockCorrectionMs: row.clock_correction_ms,
    source: row.source,
    dimensions: JSON.parse(row.dimensions),
    values: JSON.parse(row.value_map),
    ...(row.distinct_values === null ? {} : { distinct: JSON.parse(row.distinct_values) }),
    properties: row.properties === null ? null : JSON.parse(row.properties),
    position: { partition: row.log_partition, offset: row.log_offset },
    quarantine: row.quarantine,
  };
}

interface SetAsideRow {
  log_partition: number;
  log_offset: number;
  tenant: string | null;
  event_id: string | null;
  reason: SetAsideReason;
  error: string;
  record: string;
  attempts: number;
  set_aside_at: number;
}

function toSetAsideRecord(row: SetAsideRow): SetAsideRecord {
  return {
    position: { partition: row.log_partition, offset: row.log_offset },
    tenant: row.tenant,
    eventId: row.event_id,
    reason: row.reason,
    error: row.error,
    record: row.record,
    attempts: row.attempts,
    setAsideAt: row.set_aside_at,
  };
}

/** A JSON path for one dimension key. Keys are validated to [A-Za-z0-9_:-], so quoting is safe. */
function dimensionPath(key: string): string {
  return `$."${key}"`;
}

/**
 * One `where` condition as SQL over `dimension_text`, deciding exactly what `matchesCondition`
 * decides. `dimension_text` holds every value as a JSON string, so `json_extract` is NULL exactly
 * when the dimension is absent; SQLite caches the parsed JSON of a row between the calls.
 */
function conditionSql(condition: DimensionCondition): { sql: string; params: unknown[] } {
  const text = 'json_extract(dimension_text, ?)';
  const path = dimensionPath(condition.key);
  switch (condition.operator) {
    case 'eq':
      return { sql: `${text} = ?`, params: [path, condition.value] };
    case 'neq':
      // IS NOT is the null-safe inequality: an absent dimension (NULL) differs from every value.
      return { sql: `${text} IS NOT ?`, params: [path, condition.value] };
    case 'in': {
      const values = [...condition.values];
      if (values.length === 0) return { sql: '0', params: [] };
      return { sql: `${text} IN (${placeholders(values.length)})`, params: [path, ...values] };
    }
    case 'notIn': {
      const values = [...condition.values];
      if (values.length === 0) return { sql: '1', params: [] };
      // NULL NOT IN (…) is NULL, which WHERE treats as false: an absent dimension is let through here.
      return { sql: `coalesce(${text} NOT IN (${placeholders(values.length)}), 1)`, params: [path, ...values] };
    }
    case 'exists':
      return { sql: `${text} IS ${condition.exists ? 'NOT NULL' : 'NULL'}`, params: [path] };
  }
}

/** Retention runs at MongoDB's TTL pace: once a minute. */
const PURGE_EVERY_MS = 60_000;

export interface EmbeddedEventStoreOptions {
  dataDir: string;
  /** How long an event is kept after it was received (and so how long its id dedupes); null: forever. */
  retentionMs?: number | null;
  onError?: (error: unknown) => void;
}

export function createEmbeddedEventStore(options: EmbeddedEventStoreOptions): EventStore {
  const db = openDatabase(join(options.dataDir, 'events.sqlite'));
  // Rows kept in the order they are claimed, found by (tenant, id) through a narrow unique index.
  // Ids are often random (clients' own UUIDs), and clustering the wide rows by id scattered each
  // batch's inserts over the whole table: the processor spent 40% more CPU per event on them.
  // Data directories made before keep their table as it is (WITHOUT ROWID, keyed by (tenant, id)):
  // every statement here works on both. Checked and made in one write transaction, since the
  // processor's thread may open the file at the same moment as the main one.
  db.transaction(() => {
    if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").get() !== undefined) return;
    db.exec(`
      CREATE TABLE events (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        clock_correction_ms INTEGER NOT NULL,
        source TEXT,
        dimensions TEXT NOT NULL,      -- as sent
        dimension_text TEXT NOT NULL,  -- every value as a string: what filters compare
        value_map TEXT NOT NULL,
        properties TEXT,
        log_partition INTEGER NOT NULL,
        log_offset INTEGER NOT NULL,
        quarantine TEXT,
        distinct_values TEXT
      );
      CREATE UNIQUE INDEX events_by_key ON events (tenant, id);
    `);
  }).immediate();
  db.exec(`
    CREATE INDEX IF NOT EXISTS events_newest_first
      ON events (tenant, timestamp DESC, id DESC) WHERE quarantine IS NULL;
    CREATE INDEX IF NOT EXISTS events_by_type_newest_first
      ON events (tenant, type, timestamp DESC, id DESC) WHERE quarantine IS NULL;
    CREATE INDEX IF NOT EXISTS events_by_position
      ON events (tenant, log_partition, log_offset) WHERE quarantine IS NULL;
    CREATE INDEX IF NOT EXISTS events_by_receipt ON events (received_at);
    CREATE INDEX IF NOT EXISTS quarantine_newest_first
      ON events (tenant, received_at DESC, id DESC) WHERE quarantine IS NOT NULL;
    -- Log records the processor could not count, by their log position. Kept until replayed
    -- (or deleted by an operator): they are what was accepted and not counted, so no retention.
    CREATE TABLE IF NOT EXISTS set_aside (
      log_partition INTEGER NOT NULL,
      log_offset INTEGER NOT NULL,
      tenant TEXT,                     -- NULL: the record names no readable tenant
      event_id TEXT,
      reason TEXT NOT NULL,
      error TEXT NOT NULL,
      record TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      set_aside_at INTEGER NOT NULL,
      PRIMARY KEY (log_partition, log_offset)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS set_aside_newest_first
      ON set_aside (set_aside_at DESC, log_partition DESC, log_offset DESC);
    CREATE INDEX IF NOT EXISTS set_aside_of_tenant_newest_first
      ON set_aside (tenant, set_aside_at DESC, log_partition DESC, log_offset DESC);
  `);
  // Added with distinct counts: a data directory from before them gains the column (NULL: none).
  const eventColumns = new Set(
    db
      .prepare<[], { name: string }>('PRAGMA table_info(events)')
      .all()
      .map((column) => column.name),
  );
  if (!eventColumns.has('distinct_values')) db.exec('ALTER TABLE events ADD COLUMN distinct_values TEXT');

  const insert = db.prepare(`
    INSERT INTO events (tenant, id, type, timestamp, received_at, clock_correction_ms, source,
      dimensions, dimension_text, value_map, distinct_values, properties, log_partition, log_offset, quarantine)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (tenant, id) DO NOTHING`);
  /**
   * Inserts the events whose id is free, recording their claims; returns the others (their id
   * was claimed before, or earlier in this batch), whose claims must be read back.
   */
  const insertAll = db.transaction((events: StoredEvent[], claims: Map<string, EventClaim>): StoredEvent[] => {
    const refused: StoredEvent[] = [];
    for (const e of events) {
      const dimensions = JSON.stringify(e.dimensions);
      const { changes } = insert.run(
        e.tenant,
        e.id,
        e.type,
        e.timestamp,
        e.receivedAt,
        e.clockCorrectionMs,
        e.source,
        dimensions,
        // Most dimensions are strings already, and then their text form is the same JSON.
        Object.values(e.dimensions).every((value) => typeof value === 'string')
          ? dimensions
          : JSON.stringify(dimensionsAsText(e.dimensions)),
        JSON.stringify(e.values),
        e.distinct === undefined ? null : JSON.stringify(e.distinct),
        e.properties === null ? null : JSON.stringify(e.properties),
        e.position.partition,
        e.position.offset,
        e.quarantine,
      );
      // Inserted: this position owns the id, as it was written (no read back needed).
      if (changes === 1) claims.set(eventKey(e.tenant, e.id), { position: e.position, quarantine: e.quarantine });
      else refused.push(e);
    }
    return refused;
  });

  const insertSetAside = db.prepare(`
    INSERT INTO set_aside (log_partition, log_offset, tenant, event_id, reason, error, record, attempts, set_aside_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (log_partition, log_offset) DO NOTHING`);
  // Only the claim this very position made: an id owned by another occurrence stays owned.
  const releaseClaim = db.prepare('DELETE FROM events WHERE tenant = ? AND id = ? AND log_partition = ? AND log_offset = ?');
  const setAsideAll = db.transaction((records: SetAsideRecord[]) => {
    for (const r of records) {
      insertSetAside.run(
        r.position.partition,
        r.position.offset,
        r.tenant,
        r.eventId,
        r.reason,
        r.error,
        r.record,
        r.attempts,
        r.setAsideAt,
      );
      if (r.tenant !== null && r.eventId !== null) releaseClaim.run(r.tenant, r.eventId, r.position.partition, r.position.offset);
    }
  });
  const deleteSetAsideAt = db.prepare('DELETE FROM set_aside WHERE log_partition = ? AND log_offset = ?');
  const findSetAsideAt = db.prepare<[number, number], SetAsideRow>('SELECT * FROM set_aside WHERE log_partition = ? AND log_offset = ?');

  const guarded = <T>(what: string, fn: () => T) => runGuarded('embedded event store', what, fn);

  const retentionMs = options.retentionMs ?? null;
  const purgeTimer =
    retentionMs === null
      ? null
      : setInterval(() => {
          try {
            db.prepare('DELETE FROM events WHERE received_at < ?').run(Date.now() - retentionMs);
          } catch (error) {
            options.onError?.(error);
          }
        }, PURGE_EVERY_MS);
  purgeTimer?.unref();

  /** The bounded replay: per partition named in `through`, the events in (after, through]. */
  function listBetweenPositions(
    tenant: string,
    after: ReadonlyMap<number, number>,
    through: ReadonlyMap<number, number>,
    limit: number,
  ): StoredEvent[] {
    if (through.size === 0) return [];
    const conditions: string[] = [];
    const params: unknown[] = [tenant];
    for (const [partition, last] of through) {
      conditions.push('(log_partition = ? AND log_offset > ? AND log_offset <= ?)');
      // Offsets start at 0: a partition `after` does not name is read from its start.
      params.push(partition, after.get(partition) ?? -1, last);
    }
    const sql = `SELECT * FROM events WHERE tenant = ? AND quarantine IS NULL AND (${conditions.join(' OR ')})
      ORDER BY log_partition, log_offset LIMIT ?`;
    return db
      .prepare<unknown[], EventRow>(sql)
      .all(...params, limit)
      .map(toStoredEvent);
  }

  return {
    claim(events) {
      return guarded('store events', () => {
        const claims = new Map<string, EventClaim>();
        const refused = insertAll(events, claims);
        // Only ids already owned are read: most of a batch is fresh ids, which the insert claimed.
        const idsByTenant = new Map<string, string[]>();
        for (const e of refused) {
          const ids = idsByTenant.get(e.tenant) ?? [];
          ids.push(e.id);
          idsByTenant.set(e.tenant, ids);
        }
        for (const [tenant, ids] of idsByTenant) {
          inChunks([...new Set(ids)], IDS_PER_QUERY, (chunk) => {
            const rows = db
              .prepare<unknown[], { id: string; log_partition: number; log_offset: number; quarantine: QuarantineReason | null }>(
                `SELECT id, log_partition, log_offset, quarantine FROM events WHERE tenant = ? AND id IN (${placeholders(chunk.length)})`,
              )
              .all(tenant, ...chunk);
            for (const row of rows) {
              claims.set(eventKey(tenant, row.id), {
                position: { partition: row.log_partition, offset: row.log_offset },
                quarantine: row.quarantine,
              });
            }
          });
        }
        return claims;
      });
    },

    findByIds(tenant, ids) {
      return guarded('read events', () => {
        const found: StoredEvent[] = [];
        inChunks([...new Set(ids)], IDS_PER_QUERY, (chunk) => {
          const rows = db
            .prepare<unknown[], EventRow>(
              `SELECT * FROM events WHERE tenant = ? AND quarantine IS NULL AND id IN (${placeholders(chunk.length)})`,
            )
            .all(tenant, ...chunk);
          for (const row of rows) found.push(toStoredEvent(row));
        });
        return found;
      });
    },

    listEvents(query: EventQuery, limit, after, maxScanned = Number.MAX_SAFE_INTEGER) {
      return guarded('list events', () => {
        // The window: what an index walks, newest first (tenant, types, time range, cursor).
        const window = ['tenant = ?', 'quarantine IS NULL'];
        const windowParams: unknown[] = [query.tenant];
        if (query.types && query.types.length > 0) {
          window.push(`type IN (${placeholders(query.types.length)})`);
          windowParams.push(...query.types);
        }
        if (query.from != null) {
          window.push('timestamp >= ?');
          windowParams.push(query.from);
        }
        if (query.to != null) {
          window.push('timestamp < ?');
          windowParams.push(query.to);
        }
        if (after) {
          window.push('(timestamp < ? OR (timestamp = ? AND id < ?))');
          windowParams.push(after.timestamp, after.timestamp, after.id);
        }
        // The filters no index serves, applied to at most `maxScanned` rows of the window: SQLite
        // runs on this thread, so an unbounded scan would hold the event loop for the whole read.
        const filters: string[] = [];
        const filterParams: unknown[] = [];
        if (query.source != null) {
          filters.push('source = ?');
          filterParams.push(query.source);
        }
        for (const [key, value] of Object.entries(dimensionsAsText(query.dimensions ?? {}))) {
          filters.push('json_extract(dimension_text, ?) = ?');
          filterParams.push(dimensionPath(key), value);
        }
        for (const condition of query.where ?? []) {
          const { sql, params } = conditionSql(condition);
          filters.push(sql);
          filterParams.push(...params);
        }
        const scanned = `SELECT * FROM events WHERE ${window.join(' AND ')} ORDER BY timestamp DESC, id DESC LIMIT ?`;
        const windowArgs = [...windowParams, maxScanned];
        if (filters.length === 0) {
          return {
            events: db
              .prepare<unknown[], EventRow>(scanned)
              .all(...windowParams, limit)
              .map(toStoredEvent),
            scannedUpTo: null,
          };
        }
        const sql = `SELECT * FROM (${scanned}) WHERE ${filters.join(' AND ')} ORDER BY timestamp DESC, id DESC LIMIT ?`;
        const events = db
          .prepare<unknown[], EventRow>(sql)
          .all(...windowArgs, ...filterParams, limit)
          .map(toStoredEvent);
        if (events.length >= limit) return { events, scannedUpTo: null };
        // A short page: did it stop because the window ended, or because the bound did?
        const examined = db.prepare<unknown[], { n: number }>(`SELECT count(*) AS n FROM (${scanned})`).get(...windowArgs)!.n;
        if (examined < maxScanned) return { events, scannedUpTo: null };
        const oldest = db
          .prepare<unknown[], { timestamp: number; id: string }>(
            `SELECT timestamp, id FROM (${scanned}) ORDER BY timestamp ASC, id ASC LIMIT 1`,
          )
          .get(...windowArgs)!;
        return { events, scannedUpTo: { timestamp: oldest.timestamp, id: oldest.id } };
      });
    },

    listAfterPositions(tenant, after, limit, through) {
      return guarded('replay events', () => {
        return listBetweenPositions(tenant, after, through, limit);
      });
    },

    listQuarantine(tenant, limit, after, within) {
      return guarded('list the quarantine', () => {
        const clauses = ['tenant = ?', 'quarantine IS NOT NULL'];
        const params: unknown[] = [tenant];
        if (after) {
          clauses.push('(received_at < ? OR (received_at = ? AND id < ?))');
          params.push(after.receivedAt, after.receivedAt, after.id);
        }
        if (within?.types) {
          // No type at all: `IN ()` is not SQL, and the answer is nothing.
          clauses.push(within.types.length === 0 ? '0' : `type IN (${placeholders(within.types.length)})`);
          params.push(...within.types);
        }
        for (const condition of within?.where ?? []) {
          const { sql, params: conditionParams } = conditionSql(condition);
          clauses.push(sql);
          params.push(...conditionParams);
        }
        const rows = db
          .prepare<unknown[], EventRow>(`SELECT * FROM events WHERE ${clauses.join(' AND ')} ORDER BY received_at DESC, id DESC LIMIT ?`)
          .all(...params, limit);
        return rows.map(toStoredEvent);
      });
    },

    setAside(records) {
      return guarded('set records aside', () => setAsideAll(records));
    },

    listSetAside(scope, limit, after) {
      return guarded('list set-aside records', () => {
        const where: string[] = [];
        const params: unknown[] = [];
        if (scope !== 'ALL') {
          where.push('tenant = ?');
          params.push(scope.tenant);
        }
        if (after) {
          where.push(`(set_aside_at < ? OR (set_aside_at = ? AND (log_partition < ? OR (log_partition = ? AND log_offset < ?))))`);
          params.push(after.setAsideAt, after.setAsideAt, after.partition, after.partition, after.offset);
        }
        const sql = `SELECT * FROM set_aside ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY set_aside_at DESC, log_partition DESC, log_offset DESC LIMIT ?`;
        return db
          .prepare<unknown[], SetAsideRow>(sql)
          .all(...params, limit)
          .map(toSetAsideRecord);
      });
    },

    findSetAside(positions) {
      return guarded('read set-aside records', () =>
        positions.flatMap((p) => {
          const row = findSetAsideAt.get(p.partition, p.offset);
          return row ? [toSetAsideRecord(row)] : [];
        }),
      );
    },

    deleteSetAside(positions) {
      return guarded('delete set-aside records', () => {
        db.transaction(() => {
          for (const p of positions) deleteSetAsideAt.run(p.partition, p.offset);
        })();
      });
    },

    checkHealth() {
      return guarded('be read', () => void db.prepare('SELECT 1').get());
    },

    async close() {
      if (purgeTimer) clearInterval(purgeTimer);
      if (db.open) db.close();
    },
  };
}

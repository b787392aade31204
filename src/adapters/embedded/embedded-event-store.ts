/** The single-machine event store: raw events in SQLite, keyed by (tenant, id). */
import { join } from 'node:path';
import { dimensionsAsText, type QuarantineReason, type StoredEvent } from '../../domain/event.ts';
import { eventKey, type EventClaim, type EventQuery, type EventStore } from '../../ports/event-store.ts';
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
    properties: row.properties === null ? null : JSON.parse(row.properties),
    position: { partition: row.log_partition, offset: row.log_offset },
    quarantine: row.quarantine,
  };
}

/** A JSON path for one dimension key. Keys are validated to [A-Za-z0-9_:-], so quoting is safe. */
function dimensionPath(key: string): string {
  return `$."${key}"`;
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
  db.exec(`
    CREATE TABLE IF NOT EXISTS events (
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
      PRIMARY KEY (tenant, id)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS events_newest_first
      ON events (tenant, timestamp DESC, id DESC) WHERE quarantine IS NULL;
    CREATE INDEX IF NOT EXISTS events_by_type_newest_first
      ON events (tenant, type, timestamp DESC, id DESC) WHERE quarantine IS NULL;
    CREATE INDEX IF NOT EXISTS events_by_position
      ON events (tenant, log_partition, log_offset) WHERE quarantine IS NULL;
    CREATE INDEX IF NOT EXISTS events_by_receipt ON events (received_at);
    CREATE INDEX IF NOT EXISTS quarantine_newest_first
      ON events (tenant, received_at DESC, id DESC) WHERE quarantine IS NOT NULL;
  `);

  const insert = db.prepare(`
    INSERT INTO events (tenant, id, type, timestamp, received_at, clock_correction_ms, source,
      dimensions, dimension_text, value_map, properties, log_partition, log_offset, quarantine)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (tenant, id) DO NOTHING`);
  const insertAll = db.transaction((events: StoredEvent[]) => {
    for (const e of events) {
      insert.run(
        e.tenant, e.id, e.type, e.timestamp, e.receivedAt, e.clockCorrectionMs, e.source,
        JSON.stringify(e.dimensions), JSON.stringify(dimensionsAsText(e.dimensions)), JSON.stringify(e.values),
        e.properties === null ? null : JSON.stringify(e.properties), e.position.partition, e.position.offset, e.quarantine,
      );
    }
  });

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

  return {
    claim(events) {
      return guarded('store events', () => {
        insertAll(events);
        const claims = new Map<string, EventClaim>();
        const idsByTenant = new Map<string, string[]>();
        for (const e of events) {
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

    listEvents(query: EventQuery, limit, after) {
      return guarded('list events', () => {
        const where = ['tenant = ?', 'quarantine IS NULL'];
        const params: unknown[] = [query.tenant];
        if (query.types && query.types.length > 0) {
          where.push(`type IN (${placeholders(query.types.length)})`);
          params.push(...query.types);
        }
        if (query.source != null) {
          where.push('source = ?');
          params.push(query.source);
        }
        if (query.from != null) {
          where.push('timestamp >= ?');
          params.push(query.from);
        }
        if (query.to != null) {
          where.push('timestamp < ?');
          params.push(query.to);
        }
        for (const [key, value] of Object.entries(dimensionsAsText(query.dimensions ?? {}))) {
          where.push('json_extract(dimension_text, ?) = ?');
          params.push(dimensionPath(key), value);
        }
        if (after) {
          where.push('(timestamp < ? OR (timestamp = ? AND id < ?))');
          params.push(after.timestamp, after.timestamp, after.id);
        }
        const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY timestamp DESC, id DESC LIMIT ?`;
        return db.prepare<unknown[], EventRow>(sql).all(...params, limit).map(toStoredEvent);
      });
    },

    listAfterPositions(tenant, after, limit) {
      return guarded('replay events', () => {
        const named = [...after.keys()];
        const conditions = [`log_partition NOT IN (${placeholders(named.length)})`];
        const params: unknown[] = [tenant, ...named];
        for (const [partition, offset] of after) {
          conditions.push('(log_partition = ? AND log_offset > ?)');
          params.push(partition, offset);
        }
        const sql = `SELECT * FROM events WHERE tenant = ? AND quarantine IS NULL AND (${conditions.join(' OR ')})
          ORDER BY log_partition, log_offset LIMIT ?`;
        return db.prepare<unknown[], EventRow>(sql).all(...params, limit).map(toStoredEvent);
      });
    },

    listQuarantine(tenant, limit, after) {
      return guarded('list the quarantine', () => {
        const rows = after
          ? db
              .prepare<unknown[], EventRow>(
                `SELECT * FROM events WHERE tenant = ? AND quarantine IS NOT NULL
                   AND (received_at < ? OR (received_at = ? AND id < ?))
                 ORDER BY received_at DESC, id DESC LIMIT ?`,
              )
              .all(tenant, after.receivedAt, after.receivedAt, after.id, limit)
          : db
              .prepare<unknown[], EventRow>(
                'SELECT * FROM events WHERE tenant = ? AND quarantine IS NOT NULL ORDER BY received_at DESC, id DESC LIMIT ?',
              )
              .all(tenant, limit);
        return rows.map(toStoredEvent);
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

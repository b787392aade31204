/**
 * Embedded data directories as earlier versions made them, for the tests that prove the current
 * code keeps working on them.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * An events table as data directories made before the current layout hold it: rows clustered by
 * (tenant, id) (WITHOUT ROWID), and no distinct_values column yet. The store keeps such a table
 * as it is, so every statement must work on both layouts.
 */
export function createEarlierEventsTable(dataDir: string): void {
  const db = new Database(join(dataDir, 'events.sqlite'));
  try {
    db.exec(`
      CREATE TABLE events (
        tenant TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, timestamp INTEGER NOT NULL,
        received_at INTEGER NOT NULL, clock_correction_ms INTEGER NOT NULL, source TEXT,
        dimensions TEXT NOT NULL, dimension_text TEXT NOT NULL, value_map TEXT NOT NULL, properties TEXT,
        log_partition INTEGER NOT NULL, log_offset INTEGER NOT NULL, quarantine TEXT,
        PRIMARY KEY (tenant, id)
      ) WITHOUT ROWID`);
  } finally {
    db.close();
  }
}

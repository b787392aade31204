/**
 * The embedded events table's layout: a new data directory keeps rows in claim order with a
 * narrow unique (tenant, id) index, and one made before keeps its table as it is, without a
 * second index on the key it already has (each index is paid on every claim). The contract
 * suite (test/contract/event-store.contract.test.ts) runs every behaviour against both layouts.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';
import { createEarlierEventsTable } from '../support/earlier-data-dirs.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) removeDataDir(dir);
});

function schemaOf(dataDir: string): { table: string; indexes: string[] } {
  const db = new Database(join(dataDir, 'events.sqlite'), { readonly: true });
  try {
    const table = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'").get()!.sql;
    const indexes = db
      .prepare<[], { name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name",
      )
      .all()
      .map((row) => row.name);
    return { table, indexes };
  } finally {
    db.close();
  }
}

describe('the embedded events table', () => {
  it('is made with rows in claim order and a unique (tenant, id) index in a new data directory', async () => {
    const dataDir = newDataDir();
    dirs.push(dataDir);
    await createEmbeddedEventStore({ dataDir }).close();
    const { table, indexes } = schemaOf(dataDir);
    expect(table).not.toMatch(/WITHOUT ROWID/);
    expect(indexes).toEqual([
      'events_by_key',
      'events_by_position',
      'events_by_receipt',
      'events_by_type_newest_first',
      'events_newest_first',
      'quarantine_newest_first',
    ]);
  });

  it('is kept as it was in a data directory made before, with no second index on its key', async () => {
    const dataDir = newDataDir();
    dirs.push(dataDir);
    createEarlierEventsTable(dataDir);
    await createEmbeddedEventStore({ dataDir }).close();
    const { table, indexes } = schemaOf(dataDir);
    expect(table).toMatch(/WITHOUT ROWID/);
    expect(table).toMatch(/distinct_values TEXT/);
    expect(indexes).not.toContain('events_by_key');
  });
});

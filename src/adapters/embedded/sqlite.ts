import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { unavailable } from '../../errors.ts';

export type SqliteDatabase = Database.Database;

/**
 * Opens a SQLite database for an embedded adapter.
 *
 * WAL lets readers (queries) run beside the writer. `synchronous = FULL` makes every commit
 * fsync, because a commit is what we promise clients (the log) or what lets the processor move
 * its committed offset past data (the stores): a power cut must not undo either. (The committed
 * offset itself is the one commit written without: embedded-event-log.ts says why.)
 */
export function openDatabase(path: string): SqliteDatabase {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  // Another connection (a second process by mistake, or a backup tool) gets a wait, not an error.
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Runs `fn` over `items` in slices, to stay under SQLite's limit on bound parameters. */
export function inChunks<T>(items: readonly T[], size: number, fn: (chunk: readonly T[]) => void): void {
  for (let i = 0; i < items.length; i += size) fn(items.slice(i, i + size));
}

export function placeholders(count: number): string {
  return new Array<string>(count).fill('?').join(',');
}

/**
 * Runs a synchronous SQLite operation as the port's promise, turning a failure (a full disk, a
 * corrupted file) into the UNAVAILABLE error every adapter reports for an unusable store.
 */
export function runGuarded<T>(store: string, what: string, fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(unavailable(`the ${store} could not ${what}`, error));
  }
}

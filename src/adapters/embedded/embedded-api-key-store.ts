/** The single-machine API key store: one SQLite table in DATA_DIR. */
import { join } from 'node:path';
import type { ApiKeyRecord, ApiKeyStore, ApiScope } from '../../ports/api-key-store.ts';
import { openDatabase, runGuarded } from './sqlite.ts';

interface KeyRow {
  id: string;
  tenant: string;
  name: string | null;
  scopes: string;
  created_at: number;
  revoked_at: number | null;
  secret_hash: string;
}

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    scopes: JSON.parse(row.scopes) as ApiScope[],
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    secretHash: row.secret_hash,
  };
}

export function createEmbeddedApiKeyStore(options: { dataDir: string }): ApiKeyStore {
  // Its own file: the key CLI opens it while the service runs, without touching the others.
  const db = openDatabase(join(options.dataDir, 'api-keys.sqlite'));
  db.exec(`
    CREATE TABLE IF NOT EXISTS api_keys (
      id TEXT PRIMARY KEY,
      tenant TEXT NOT NULL,
      name TEXT,
      scopes TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      revoked_at INTEGER,
      secret_hash TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant, created_at);
    CREATE TABLE IF NOT EXISTS token_signing_secret (
      name TEXT PRIMARY KEY,
      secret TEXT NOT NULL
    );
  `);
  const guarded = <T>(what: string, fn: () => T) => runGuarded('embedded API key store', what, fn);
  const byId = db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?');
  return {
    create(record) {
      return guarded('create a key', () => {
        db.prepare('INSERT INTO api_keys (id, tenant, name, scopes, created_at, revoked_at, secret_hash) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
          record.id,
          record.tenant,
          record.name,
          JSON.stringify(record.scopes),
          record.createdAt,
          record.revokedAt,
          record.secretHash,
        );
      });
    },
    findById(id) {
      return guarded('read a key', () => {
        const row = byId.get(id);
        return row ? toRecord(row) : null;
      });
    },
    list(tenant) {
      return guarded('list keys', () =>
        (tenant === null
          ? db.prepare<[], KeyRow>('SELECT * FROM api_keys ORDER BY created_at, id').all()
          : db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at, id').all(tenant)
        ).map(toRecord),
      );
    },
    revoke(id, at) {
      return guarded('revoke a key', () => {
        db.prepare('UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?').run(at, id);
        const row = byId.get(id);
        return row ? toRecord(row) : null;
      });
    },
    count() {
      return guarded('count keys', () => db.prepare<[], { n: number }>('SELECT count(*) AS n FROM api_keys').get()!.n);
    },
    signingSecret(candidate) {
      return guarded('read the token signing secret', () => {
        db.prepare("INSERT OR IGNORE INTO token_signing_secret (name, secret) VALUES ('default', ?)").run(candidate);
        return db.prepare<[], { secret: string }>("SELECT secret FROM token_signing_secret WHERE name = 'default'").get()!.secret;
      });
    },
    checkHealth() {
      return guarded('be read', () => void db.prepare('SELECT 1').get());
    },
    async close() {
      if (db.open) db.close();
    },
  };
}

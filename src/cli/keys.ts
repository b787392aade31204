/**
 * Manage API keys from a shell: `npm run keys -- create|list|revoke`. Reads the same
 * configuration as the service (MONGODB_URL, else DATA_DIR), so it works beside a running one.
 *
 *   npm run keys -- create --tenant acme --scopes INGEST,READ [--name "acme backend"]
 *   npm run keys -- list [--tenant acme]
 *   npm run keys -- revoke <id>
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { openAdapters } from '../adapters/adapter-table.ts';
import { createAuthenticator } from '../auth/authenticator.ts';
import { createKeyService } from '../auth/key-service.ts';
import { API_SCOPES, type ApiKeyRecord, type ApiScope } from '../ports/api-key-store.ts';
import type { Principal } from '../auth/authenticator.ts';
import { escapeForTerminal } from './terminal-text.ts';

const USAGE = `usage:
  npm run keys -- create --tenant <tenant> --scopes <INGEST,READ,ADMIN> [--name <name>]
  npm run keys -- list [--tenant <tenant>]
  npm run keys -- revoke <id>`;

function fail(message: string): never {
  // A message may quote the store or the command line: escaped, with its own line breaks kept.
  process.stderr.write(`keys: ${message.split('\n').map(escapeForTerminal).join('\n')}\n`);
  process.exit(1);
}

function describe(key: ApiKeyRecord): string {
  const state = key.revokedAt === null ? 'active' : `revoked ${new Date(key.revokedAt).toISOString()}`;
  // Every field comes from the store, which another tool may have written: escape them all.
  const line = `${key.id}  ${key.tenant}  ${key.scopes.join(',')}  ${new Date(key.createdAt).toISOString()}  ${state}  ${key.name ?? ''}`;
  return escapeForTerminal(line).trimEnd();
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' } },
});
const [command, ...rest] = positionals;
const loaded = loadConfig(process.env);
if (!loaded.ok) fail(`fix the configuration:\n  ${loaded.problems.join('\n  ')}`);

// The key store, and the live bus: a revocation from here reaches running instances through
// Redis; without it they stop trusting the key when their cache expires (a few seconds).
const opened = await openAdapters(loaded.config, ['apiKeys', 'liveBus']);
const { apiKeys: store, liveBus } = opened.adapters;
const keys = createKeyService({
  store,
  authenticator: createAuthenticator({ store, adminKey: null }),
  liveBus,
  maxKeysPerTenant: loaded.config.maxKeysPerTenant,
});
/** Whoever can run this CLI can read the store: it acts as the bootstrap admin. */
const operator: Principal = { tenant: null, keyId: null, scopes: new Set(['ADMIN']), isRootAdmin: true };

try {
  if (command === 'create') {
    if (!values.tenant || !values.scopes) fail(`create needs --tenant and --scopes\n${USAGE}`);
    const scopes = values.scopes.split(',').map((scope) => scope.trim().toUpperCase());
    const unknown = scopes.filter((scope) => !API_SCOPES.includes(scope as ApiScope));
    if (unknown.length > 0) fail(`unknown scope ${unknown.join(', ')}; scopes are ${API_SCOPES.join(', ')}`);
    const created = await keys.create(operator, values.tenant, scopes as ApiScope[], values.name ?? null);
    process.stdout.write(`${created.key}\n`);
    process.stderr.write(`created ${describe(created.apiKey)}\nthe key above is shown only once: store it now\n`);
  } else if (command === 'list') {
    const all = await keys.list(operator);
    for (const key of all.filter((k) => !values.tenant || k.tenant === values.tenant)) process.stdout.write(`${describe(key)}\n`);
  } else if (command === 'revoke') {
    if (rest.length !== 1) fail(`revoke needs one key id\n${USAGE}`);
    process.stdout.write(`${describe(await keys.revoke(operator, rest[0]!))}\n`);
  } else {
    fail(USAGE);
  }
} catch (error) {
  fail((error as Error).message);
} finally {
  await opened.close();
}

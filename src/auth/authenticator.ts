/**
 * Who is calling. Every request, SSE stream and WebSocket connection is authenticated once,
 * when its context is built; resolvers then check scopes (requireScope).
 *
 * Modes:
 * - keys: ADMIN_KEY is set, or any key was ever created. Calls need a valid key.
 * - open: neither. Everything is tenant `default` with every scope; only allowed on a loopback
 *   HOST (or with ALLOW_OPEN=1), and main.ts says so at start. Creating the first key ends it.
 */
import type { ApiKeyStore, ApiScope } from '../ports/api-key-store.ts';
import { DEFAULT_TENANT } from '../domain/event.ts';
import type { DataSlice } from './data-slice.ts';
import { ALL_SCOPES, bearerToken, constantTimeEquals, parseKey, secretMatches } from './api-keys.ts';

export interface Principal {
  /** The tenant whose data the caller reads and writes; null for the bootstrap admin. */
  tenant: string | null;
  /**
   * The key used, or null (open mode, bootstrap admin). For an access token: the key that minted
   * it, so revoking that key ends the token's subscriptions as it ends the key's own.
   */
  keyId: string | null;
  scopes: ReadonlySet<ApiScope>;
  /** The bootstrap admin manages keys of every tenant; a tenant's ADMIN key only its own. */
  isRootAdmin: boolean;
  /** Set when the caller sent an access token rather than an API key. */
  token?: AccessTokenGrant | null;
}

/** What a verified access token grants beyond its tenant and scopes (contract-2.md, "Access tokens"). */
export interface AccessTokenGrant {
  /** The token's own id (random, minted with it): its rate-limit buckets, its log lines. */
  id: string;
  /** When it stops being accepted (ms since the epoch). */
  expiresAt: number;
  /** The part of the tenant's data it sees (src/auth/data-slice.ts). */
  slice: DataSlice;
  /** Its own limits, at most the minting key's; null: the minting key's. */
  queriesPerSecond: number | null;
  eventsPerSecond: number | null;
}

export type Authentication = { ok: true; principal: Principal } | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' };

export interface Authenticator {
  authenticate(authorization: string | null | undefined): Promise<Authentication>;
  /** Forget a key at once (it was revoked here). */
  forget(keyId: string): void;
  /** Open mode ends as soon as a key exists. */
  noteKeyCreated(): void;
  isOpen(): Promise<boolean>;
}

/** How long a verified key is trusted without reading the store again: bounds revocation delay across instances. */
const KEY_CACHE_MS = 5_000;
/** How often an open instance checks whether another process created the first key. */
const OPEN_CHECK_MS = 2_000;

export function createAuthenticator(options: { store: ApiKeyStore; adminKey: string | null; now?: () => number }): Authenticator {
  const now = options.now ?? Date.now;
  const cache = new Map<string, { principal: Principal | null; reason?: 'revoked'; secretHash: string; until: number }>();
  let keysExist = options.adminKey !== null;
  let openCheckedAt = -Infinity;

  async function isOpen(): Promise<boolean> {
    if (keysExist) return false;
    if (now() - openCheckedAt >= OPEN_CHECK_MS) {
      openCheckedAt = now();
      keysExist = (await options.store.count()) > 0;
    }
    return !keysExist;
  }

  return {
    isOpen,
    forget: (keyId) => void cache.delete(keyId),
    noteKeyCreated: () => void (keysExist = true),
    async authenticate(authorization) {
      if (await isOpen()) {
        return { ok: true, principal: { tenant: DEFAULT_TENANT, keyId: null, scopes: new Set(ALL_SCOPES), isRootAdmin: true } };
      }
      if (authorization == null || authorization === '') return { ok: false, reason: 'missing' };
      const token = bearerToken(authorization);
      if (!token) return { ok: false, reason: 'malformed' };
      if (options.adminKey !== null && constantTimeEquals(token, options.adminKey)) {
        return { ok: true, principal: { tenant: null, keyId: null, scopes: new Set(['ADMIN']), isRootAdmin: true } };
      }
      const parsed = parseKey(token);
      if (!parsed) return { ok: false, reason: 'malformed' };
      let entry = cache.get(parsed.id);
      if (!entry || entry.until < now()) {
        const record = await options.store.findById(parsed.id);
        if (!record) return { ok: false, reason: 'unknown' };
        entry = {
          secretHash: record.secretHash,
          until: now() + KEY_CACHE_MS,
          ...(record.revokedAt !== null
            ? { principal: null, reason: 'revoked' as const }
            : { principal: { tenant: record.tenant, keyId: record.id, scopes: new Set(record.scopes), isRootAdmin: false } }),
        };
        cache.set(parsed.id, entry);
      }
      // A forged secret for a real id is "unknown": the answer must not confirm that the id exists.
      if (!secretMatches(parsed.secret, entry.secretHash)) return { ok: false, reason: 'unknown' };
      if (!entry.principal) return { ok: false, reason: 'revoked' };
      return { ok: true, principal: entry.principal };
    },
  };
}

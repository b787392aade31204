/**
 * Who is calling. Every request, SSE stream and WebSocket connection is authenticated once,
 * when its context is built; resolvers then check scopes and take the slice (requireAccess).
 *
 * Modes:
 * - keys: ADMIN_KEY is set, or any key was ever created. Calls need a valid key.
 * - open: neither. Everything is tenant `default` with every scope; only allowed on a loopback
 *   HOST (or with ALLOW_OPEN=1), and main.ts says so at start. Creating the first key ends it.
 */
import type { ApiKeyRecord, ApiKeyStore, ApiScope } from '../ports/api-key-store.ts';
import { DEFAULT_TENANT } from '../domain/event.ts';
import type { DataSlice } from './data-slice.ts';
import { ALL_SCOPES, bearerToken, constantTimeEquals, parseKey, secretMatches } from './api-keys.ts';
import { looksLikeAccessToken, MAX_TOKEN_LIFETIME_MS, verifyToken, type SigningKeys, type TokenClaims } from './access-tokens.ts';

/**
 * One shared, read-only set per combination of scopes: every operation and subscription holds a
 * principal, and a set of its own costs some 240 bytes each (benchmark P6). Only known scopes are
 * shared, so the shared sets stay few (at most one per combination of API_SCOPES).
 */
const sharedScopeSets = new Map<string, ReadonlySet<ApiScope>>();
function scopeSetOf(scopes: Iterable<ApiScope>): ReadonlySet<ApiScope> {
  const unique = [...new Set(scopes)].sort();
  if (!unique.every((scope) => ALL_SCOPES.includes(scope))) return new Set(unique);
  const key = unique.join(',');
  let shared = sharedScopeSets.get(key);
  if (!shared) sharedScopeSets.set(key, (shared = new Set(unique)));
  return shared;
}

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

/** Why a caller is refused; 'expired' is an access token's only (TOKEN_EXPIRED, not UNAUTHENTICATED). */
export type RefusalReason = 'missing' | 'malformed' | 'unknown' | 'revoked' | 'expired';
export type Authentication = { ok: true; principal: Principal } | { ok: false; reason: RefusalReason };

export interface Authenticator {
  authenticate(authorization: string | null | undefined): Promise<Authentication>;
  /** Forget a key at once (it was revoked here). */
  forget(keyId: string): void;
  /** Open mode ends as soon as a key exists. */
  noteKeyCreated(): void;
  isOpen(): Promise<boolean>;
  /**
   * Reads every key once (app.ts calls it at start): which are revoked and which are valid, so
   * this instance judges tokens from its first request on without reading a key in a request.
   */
  start(): Promise<void>;
}

/** How long a verified key is trusted without reading the store again: bounds revocation delay across instances. */
const KEY_CACHE_MS = 5_000;
/** How often an open instance checks whether another process created the first key. */
const OPEN_CHECK_MS = 2_000;

/**
 * How a token learns that its minting key was revoked, without a database read in the request:
 * - the revoking instance knows at once, and every other one as soon as the revocation reaches it
 *   over the bus (key-service.ts calls `forget`);
 * - each instance also keeps what it last read of every minting key it has seen, and reads it
 *   again in the background once it is older than this (the request meanwhile goes on with what
 *   it knew): a revocation whose bus message was lost is known within this, plus one read.
 * The same bound as an API key's own cache (KEY_CACHE_MS).
 */
export const MINTING_KEY_REFRESH_MS = KEY_CACHE_MS;

export interface AuthenticatorOptions {
  store: ApiKeyStore;
  adminKey: string | null;
  /** The keys access tokens are verified with; without them no token is accepted. */
  signingKeys?: SigningKeys | null;
  now?: () => number;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const now = options.now ?? Date.now;
  const mintingKeys = createMintingKeyView(options.store, now);
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
    forget(keyId) {
      cache.delete(keyId);
      mintingKeys.revoked(keyId);
    },
    noteKeyCreated: () => void (keysExist = true),
    async start() {
      const records = await options.store.list(null);
      if (records.length > 0) keysExist = true;
      mintingKeys.learn(records);
    },
    async authenticate(authorization) {
      if (await isOpen()) {
        return { ok: true, principal: { tenant: DEFAULT_TENANT, keyId: null, scopes: scopeSetOf(ALL_SCOPES), isRootAdmin: true } };
      }
      if (authorization == null || authorization === '') return { ok: false, reason: 'missing' };
      const token = bearerToken(authorization);
      if (!token) return { ok: false, reason: 'malformed' };
      // A token is told apart by its prefix before anything else; ADMIN_KEY cannot start with it (config.ts).
      if (looksLikeAccessToken(token)) return authenticateToken(token);
      if (options.adminKey !== null && constantTimeEquals(token, options.adminKey)) {
        return { ok: true, principal: { tenant: null, keyId: null, scopes: scopeSetOf(['ADMIN']), isRootAdmin: true } };
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
            : { principal: { tenant: record.tenant, keyId: record.id, scopes: scopeSetOf(record.scopes), isRootAdmin: false } }),
        };
        cache.set(parsed.id, entry);
      }
      // A forged secret for a real id is "unknown": the answer must not confirm that the id exists.
      if (!secretMatches(parsed.secret, entry.secretHash)) return { ok: false, reason: 'unknown' };
      if (!entry.principal) return { ok: false, reason: 'revoked' };
      return { ok: true, principal: entry.principal };
    },
  };

  function authenticateToken(token: string): Authentication {
    if (!options.signingKeys) return { ok: false, reason: 'unknown' };
    const verified = verifyToken(token, options.signingKeys, now());
    if (!verified.ok) return verified;
    const claims = verified.claims;
    if (!mintingKeys.allows(claims.keyId, claims.tenant)) return { ok: false, reason: 'revoked' };
    return { ok: true, principal: tokenPrincipal(claims) };
  }
}

function tokenPrincipal(claims: TokenClaims): Principal {
  return {
    tenant: claims.tenant,
    keyId: claims.keyId,
    scopes: scopeSetOf(claims.scopes),
    isRootAdmin: false,
    token: {
      id: claims.id,
      expiresAt: claims.expiresAt,
      slice: { types: claims.types, where: claims.where },
      queriesPerSecond: claims.queriesPerSecond,
      eventsPerSecond: claims.eventsPerSecond,
    },
  };
}

/**
 * What this instance knows of the keys that minted the tokens it sees: stale-while-revalidate,
 * never waiting on the store in a request (see MINTING_KEY_REFRESH_MS).
 */
function createMintingKeyView(store: ApiKeyStore, now: () => number) {
  /** Keys known to be revoked (or unknown to the store), with when that became known. */
  const refused = new Map<string, number>();
  /** Keys last read valid, with the tenant they belong to and when they were read. */
  const valid = new Map<string, { tenant: string; readAt: number }>();
  const reading = new Set<string>();

  function refuse(keyId: string): void {
    valid.delete(keyId);
    refused.set(keyId, now());
  }

  /**
   * A key revoked more than a token's lifetime ago has no live token left (none can be minted
   * after the revocation): forgetting it bounds the memory this takes.
   */
  function prune(): void {
    for (const [keyId, since] of refused) if (now() - since > MAX_TOKEN_LIFETIME_MS) refused.delete(keyId);
  }

  function readInBackground(keyId: string): void {
    if (reading.has(keyId)) return;
    reading.add(keyId);
    store
      .findById(keyId)
      .then((record) => {
        if (!record || record.revokedAt !== null) refuse(keyId);
        else if (!refused.has(keyId)) valid.set(keyId, { tenant: record.tenant, readAt: now() });
      })
      // The store is down: keep what is known, read again on the next request.
      .catch(() => {})
      .finally(() => reading.delete(keyId));
  }

  return {
    revoked(keyId: string): void {
      refuse(keyId);
      prune();
    },
    /** Whether a token of this key (for this tenant) may be used now, from what is known here. */
    allows(keyId: string, tenant: string): boolean {
      if (refused.has(keyId)) return false;
      const known = valid.get(keyId);
      if (known && known.tenant !== tenant) return false;
      if (!known || now() - known.readAt >= MINTING_KEY_REFRESH_MS) readInBackground(keyId);
      // Not known here (a key created after this instance started): its signature proves the key
      // minted it less than a day ago, and a revocation since came over the bus; the read confirms it.
      return true;
    },
    /** What a read of every key says (at start). Keys revoked more than a token's lifetime ago need no entry. */
    learn(records: readonly ApiKeyRecord[]): void {
      for (const record of records) {
        if (record.revokedAt === null) valid.set(record.id, { tenant: record.tenant, readAt: now() });
        else if (now() - record.revokedAt <= MAX_TOKEN_LIFETIME_MS) refused.set(record.id, record.revokedAt);
      }
    },
  };
}

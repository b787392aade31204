/**
 * Managing API keys: create (the secret is returned once), revoke (effective at once here, within
 * seconds elsewhere, open subscriptions included), list. Who may do what:
 * - the bootstrap admin (ADMIN_KEY, or anyone in open mode): keys of any tenant;
 * - a tenant's key with the ADMIN scope: keys of its own tenant.
 */
import type { ApiKeyRecord, ApiKeyStore, ApiScope } from '../ports/api-key-store.ts';
import type { LiveBus } from '../ports/live-bus.ts';
import { badInput, forbidden, StreamlensError } from '../errors.ts';
import { generateKey, hashSecret, TENANT_PATTERN } from './api-keys.ts';
import type { Authenticator, Principal } from './authenticator.ts';
import { illFormedMessage } from '../domain/well-formed.ts';

/** The bus topic on which revocations reach every instance. */
export const REVOCATIONS_TOPIC = 'streamlens:api-keys:revoked';
const MAX_NAME_LENGTH = 128;
/**
 * What a key name may not hold: control characters (C0, DEL, C1: terminal escape sequences
 * start with ESC or CSI) and the bidirectional formatting characters (they reorder what is
 * shown, "Trojan Source"). Names are shown in terminals (the key CLI) and in admin tools.
 */
export const UNSAFE_NAME_CHARACTERS = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

export interface KeyService {
  create(
    principal: Principal,
    tenant: string,
    scopes: readonly ApiScope[],
    name: string | null,
  ): Promise<{ key: string; apiKey: ApiKeyRecord }>;
  revoke(principal: Principal, id: string): Promise<ApiKeyRecord>;
  list(principal: Principal): Promise<ApiKeyRecord[]>;
  /** Called for every revocation, from this instance or another. */
  onRevoked(listener: (keyId: string) => void): void;
  /** Subscribes to revocations from other instances. */
  start(): Promise<void>;
}

function requireAdminOf(principal: Principal, tenant: string | null): void {
  if (!principal.scopes.has('ADMIN')) throw forbidden('managing API keys needs the ADMIN scope');
  if (!principal.isRootAdmin && principal.tenant !== tenant) throw forbidden("an ADMIN key manages only its own tenant's keys");
}

export interface KeyServiceOptions {
  store: ApiKeyStore;
  authenticator: Authenticator;
  liveBus: LiveBus;
  /** Active (unrevoked) keys one tenant may hold; unbounded when absent. */
  maxKeysPerTenant?: number;
  now?: () => number;
}

export function createKeyService(options: KeyServiceOptions): KeyService {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeysPerTenant ?? Infinity;
  /**
   * Creations of one tenant run one at a time here, so concurrent calls cannot all pass the
   * count; across instances a race can still overshoot by the number of instances creating at once.
   */
  const creating = new Map<string, Promise<unknown>>();
  const oneAtATime = <T>(tenant: string, work: () => Promise<T>): Promise<T> => {
    const previous = creating.get(tenant) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => {});
    creating.set(tenant, settled);
    void settled.then(() => {
      if (creating.get(tenant) === settled) creating.delete(tenant);
    });
    return next;
  };
  async function createWithinCap(tenant: string, scopes: readonly ApiScope[], name: string | null) {
    if (Number.isFinite(maxKeys)) {
      const active = (await options.store.list(tenant)).filter((key) => key.revokedAt === null).length;
      if (active >= maxKeys) {
        throw new StreamlensError(
          'KEY_LIMIT',
          `tenant ${tenant} already has ${active} active keys, the most it may hold (${maxKeys}); revoke one first`,
          {
            details: { limit: maxKeys },
          },
        );
      }
    }
    const generated = generateKey();
    const apiKey: ApiKeyRecord = {
      id: generated.id,
      tenant,
      name,
      scopes: [...new Set(scopes)],
      createdAt: now(),
      revokedAt: null,
      secretHash: hashSecret(generated.secret),
    };
    await options.store.create(apiKey);
    options.authenticator.noteKeyCreated();
    return { key: generated.key, apiKey };
  }

  const listeners: ((keyId: string) => void)[] = [];
  const revoked = (keyId: string) => {
    options.authenticator.forget(keyId);
    for (const listener of listeners) listener(keyId);
  };

  return {
    async create(principal, tenant, scopes, name) {
      if (!TENANT_PATTERN.test(tenant))
        throw badInput('tenant must be 1 to 63 characters of a-z, 0-9, _ and -, starting with a letter or digit');
      if (scopes.length === 0) throw badInput('a key needs at least one scope');
      if (name !== null && (name.length === 0 || name.length > MAX_NAME_LENGTH))
        throw badInput(`name must be 1 to ${MAX_NAME_LENGTH} characters`);
      // Stored as UTF-8, a lone surrogate would come back as U+FFFD: a different name from the one sent.
      if (name !== null && !name.isWellFormed()) throw badInput(illFormedMessage('name', name));
      if (name !== null && UNSAFE_NAME_CHARACTERS.test(name)) {
        throw badInput('name must not contain control characters (terminal escape sequences) or bidirectional formatting characters');
      }
      requireAdminOf(principal, tenant);
      return oneAtATime(tenant, () => createWithinCap(tenant, scopes, name));
    },

    async revoke(principal, id) {
      const existing = await options.store.findById(id);
      // Without the right to see it, a key of another tenant is reported as not found.
      if (!existing || (!principal.isRootAdmin && existing.tenant !== principal.tenant)) {
        requireAdminOf(principal, principal.tenant);
        throw new StreamlensError('NOT_FOUND', `no API key with id ${id}`);
      }
      requireAdminOf(principal, existing.tenant);
      const updated = (await options.store.revoke(id, now()))!;
      revoked(id);
      await options.liveBus.publish(REVOCATIONS_TOPIC, id).catch(() => {
        // Other instances still stop trusting the key when their cache expires (seconds).
      });
      return updated;
    },

    async list(principal) {
      requireAdminOf(principal, principal.isRootAdmin ? null : principal.tenant);
      return options.store.list(principal.isRootAdmin ? null : principal.tenant);
    },

    onRevoked(listener) {
      listeners.push(listener);
    },

    async start() {
      await options.liveBus.subscribe(REVOCATIONS_TOPIC, (keyId) => revoked(keyId));
    },
  };
}

/**
 * The usage limits clients can hit: events ingested per second, operations per second, and
 * concurrent subscriptions per tenant. Each refusal is a StreamlensError with a code and, where
 * waiting helps, `retryAfter` in seconds (src/server/errors.ts adds a Retry-After header over HTTP).
 *
 * Rates are token buckets at two levels: per key, and per tenant (shared by every key of the
 * tenant, so minting more keys does not multiply what a tenant may do). The key's bucket is
 * taken first: a key refused by its own limit then costs its tenant nothing, so one runaway key
 * cannot drain the bucket its tenant's other keys share. Callers without a valid key have one
 * bucket per remote address.
 *
 * An access token has buckets of its own (by token id) in place of its minting key's, at its
 * queriesPerSecond / eventsPerSecond (by default the key's rates): a partner's end users do not
 * share one bucket, and each is held to what its token says. The tenant's buckets still apply.
 * A token's events bucket holds one second's worth (not a full batch, as a key's does), so a
 * token set to 10 events per second never ingests more than 10 at once.
 */
import { StreamlensError } from '../errors.ts';
import type { RateLimitStore } from '../ports/rate-limit-store.ts';
import type { BucketRule } from '../domain/token-bucket.ts';
import type { Principal } from '../auth/authenticator.ts';

export interface UsageLimitsConfig {
  /** Events per second per key; a bucket holds a second's worth, or a full batch if that is more. */
  ingestEventsPerSecond: number;
  /** Events per second per tenant, over all its keys; the same bucket shape. */
  tenantIngestEventsPerSecond: number;
  maxBatchEvents: number;
  /** Operations started per second per key; bursts of twice that pass. */
  operationsPerSecond: number;
  /** Operations started per second per tenant, over all its keys; bursts of twice that pass. */
  tenantOperationsPerSecond: number;
  /** Operations per second from one remote address without a valid key; bursts of twice that. */
  unauthenticatedOperationsPerSecond: number;
  /** Subscriptions one tenant may hold open on one instance. */
  maxSubscriptionsPerTenant: number;
}

export interface UsageLimits {
  /** Takes `events` (at least one: an empty call is still a call) from the caller's ingest buckets, or throws RATE_LIMITED. */
  takeIngest(principal: Principal, events: number): Promise<void>;
  /** Takes one operation from the caller's buckets, or throws RATE_LIMITED. */
  takeOperation(principal: Principal): Promise<void>;
  /** Takes one operation from the bucket of a remote address whose caller has no valid key, or throws RATE_LIMITED. */
  takeUnauthenticated(remoteAddress: string | null): Promise<void>;
  /** Throws SUBSCRIPTION_LIMIT when the tenant already holds `open` subscriptions here. */
  checkSubscriptions(tenant: string, open: number): void;
  config: UsageLimitsConfig;
}

/** One bucket per key; open mode and the bootstrap admin have no key id, so name them. */
export function bucketOf(principal: Principal): string {
  return principal.keyId ?? (principal.tenant === null ? 'bootstrap-admin' : `open:${principal.tenant}`);
}

/**
 * The tenant-wide bucket, or null for the bootstrap admin (no tenant) and for open mode, where
 * every caller already shares the one bucket of tenant `default`. The prefix cannot clash with a
 * key id (16 letters and digits) nor with `open:`/`bootstrap-admin`.
 */
function tenantBucketOf(principal: Principal): string | null {
  return principal.tenant === null || principal.keyId === null ? null : `tenant:${principal.tenant}`;
}

export function rateLimited(message: string, retryAfterMs: number): StreamlensError {
  // Whole seconds, as the Retry-After header counts them, and at least one.
  const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new StreamlensError('RATE_LIMITED', message, { details: { retryAfter } });
}

/** A bucket that holds `burst` and regains `perSecond` tokens a second. */
const rule = (perSecond: number, burst: number): BucketRule => ({ capacity: burst, refillPerSecond: perSecond });

/** Bursts of twice the operation rate: a page load starts a few queries at once. */
const OPERATION_BURST = 2;

export function createUsageLimits(store: RateLimitStore, config: UsageLimitsConfig): UsageLimits {
  const keyIngest = rule(config.ingestEventsPerSecond, Math.max(config.ingestEventsPerSecond, config.maxBatchEvents));
  const tenantIngest = rule(config.tenantIngestEventsPerSecond, Math.max(config.tenantIngestEventsPerSecond, config.maxBatchEvents));
  const keyOperations = rule(config.operationsPerSecond, config.operationsPerSecond * OPERATION_BURST);
  const tenantOperations = rule(config.tenantOperationsPerSecond, config.tenantOperationsPerSecond * OPERATION_BURST);
  const unauthenticated = rule(config.unauthenticatedOperationsPerSecond, config.unauthenticatedOperationsPerSecond * OPERATION_BURST);

  /** Takes from the key's (or the token's) bucket, then from the tenant's; the first refusal is thrown. */
  async function takeBoth(
    kind: 'ingest' | 'operations',
    principal: Principal,
    cost: number,
    rules: { key: BucketRule; tenant: BucketRule },
    messages: { key: string; tenant: string },
  ): Promise<void> {
    // The prefix keeps token ids (base64url) apart from key ids and the named buckets.
    const ownBucket = principal.token ? `token:${principal.token.id}` : bucketOf(principal);
    const byKey = await store.take(`${kind}:${ownBucket}`, cost, rules.key);
    if (!byKey.allowed) throw rateLimited(messages.key, byKey.retryAfterMs);
    const tenantBucket = tenantBucketOf(principal);
    if (tenantBucket === null) return;
    const byTenant = await store.take(`${kind}:${tenantBucket}`, cost, rules.tenant);
    if (!byTenant.allowed) throw rateLimited(messages.tenant, byTenant.retryAfterMs);
  }

  return {
    config,
    takeIngest(principal, events) {
      const perToken = principal.token?.eventsPerSecond ?? null;
      return takeBoth(
        'ingest',
        principal,
        Math.max(1, events),
        { key: perToken === null ? keyIngest : rule(perToken, perToken), tenant: tenantIngest },
        {
          key:
            perToken === null
              ? `this ${principal.token ? 'access token' : 'key'} may ingest ${config.ingestEventsPerSecond} events per second; retry this batch later`
              : `this access token may ingest ${perToken} events per second, and so at most ${perToken} in one batch; retry later`,
          tenant: `this tenant may ingest ${config.tenantIngestEventsPerSecond} events per second over all its keys; retry this batch later`,
        },
      );
    },
    takeOperation(principal) {
      const perToken = principal.token?.queriesPerSecond ?? config.operationsPerSecond;
      return takeBoth(
        'operations',
        principal,
        1,
        { key: principal.token ? rule(perToken, perToken * OPERATION_BURST) : keyOperations, tenant: tenantOperations },
        {
          key: `this ${principal.token ? 'access token' : 'key'} may start ${perToken} operations per second`,
          tenant: `this tenant may start ${config.tenantOperationsPerSecond} operations per second over all its keys`,
        },
      );
    },
    async takeUnauthenticated(remoteAddress) {
      // Without an address (not a socket: never in practice) every such caller shares one bucket.
      const taken = await store.take(`unauthenticated:${remoteAddress ?? 'unknown'}`, 1, unauthenticated);
      if (!taken.allowed) {
        throw rateLimited(
          `calls without a valid API key may start ${config.unauthenticatedOperationsPerSecond} operations per second from one address`,
          taken.retryAfterMs,
        );
      }
    },
    checkSubscriptions(tenant, open) {
      if (open >= config.maxSubscriptionsPerTenant) {
        throw new StreamlensError(
          'SUBSCRIPTION_LIMIT',
          `tenant ${tenant} already holds ${open} subscriptions on this instance, the most it may`,
          {
            details: { limit: config.maxSubscriptionsPerTenant },
          },
        );
      }
    },
  };
}

/**
 * The per-key usage limits clients can hit: events ingested per second, operations per second,
 * and concurrent subscriptions per tenant. Each refusal is a GraphQL error with a code and,
 * where waiting helps, `retryAfter` in seconds.
 */
import { GraphQLError } from 'graphql';
import type { RateLimitStore } from '../ports/rate-limit-store.ts';
import type { Principal } from '../auth/authenticator.ts';

export interface UsageLimitsConfig {
  /** Events per second per key; a bucket holds a second's worth, or a full batch if that is more. */
  ingestEventsPerSecond: number;
  maxBatchEvents: number;
  /** Queries and subscriptions started per second per key; bursts of twice that pass. */
  operationsPerSecond: number;
  /** Subscriptions one tenant may hold open on one instance. */
  maxSubscriptionsPerTenant: number;
}

export interface UsageLimits {
  /** Takes `events` from the caller's ingest bucket, or throws RATE_LIMITED. */
  takeIngest(principal: Principal, events: number): Promise<void>;
  /** Takes one operation from the caller's bucket, or throws RATE_LIMITED. */
  takeOperation(principal: Principal): Promise<void>;
  /** Throws SUBSCRIPTION_LIMIT when the tenant already holds `open` subscriptions here. */
  checkSubscriptions(tenant: string, open: number): void;
  config: UsageLimitsConfig;
}

/** One bucket per key; open mode and the bootstrap admin have no key id, so name them. */
export function bucketOf(principal: Principal): string {
  return principal.keyId ?? (principal.tenant === null ? 'bootstrap-admin' : `open:${principal.tenant}`);
}

function rateLimited(message: string, retryAfterMs: number): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'RATE_LIMITED', retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)) } });
}

export function createUsageLimits(store: RateLimitStore, config: UsageLimitsConfig): UsageLimits {
  const ingestRule = { capacity: Math.max(config.ingestEventsPerSecond, config.maxBatchEvents), refillPerSecond: config.ingestEventsPerSecond };
  const operationRule = { capacity: config.operationsPerSecond * 2, refillPerSecond: config.operationsPerSecond };
  return {
    config,
    async takeIngest(principal, events) {
      const taken = await store.take(`ingest:${bucketOf(principal)}`, events, ingestRule);
      if (!taken.allowed) {
        throw rateLimited(`this key may ingest ${config.ingestEventsPerSecond} events per second; retry this batch later`, taken.retryAfterMs);
      }
    },
    async takeOperation(principal) {
      const taken = await store.take(`operations:${bucketOf(principal)}`, 1, operationRule);
      if (!taken.allowed) throw rateLimited(`this key may start ${config.operationsPerSecond} operations per second`, taken.retryAfterMs);
    },
    checkSubscriptions(tenant, open) {
      if (open >= config.maxSubscriptionsPerTenant) {
        throw new GraphQLError(`tenant ${tenant} already holds ${open} subscriptions on this instance, the most it may`, {
          extensions: { code: 'SUBSCRIPTION_LIMIT', limit: config.maxSubscriptionsPerTenant },
        });
      }
    },
  };
}

/**
 * The GraphQL context: who is asking, the services, and per-operation DataLoaders (a loader
 * caches for one operation only, so one request never sees another's stale reads; in a
 * subscription, for one delivered event only).
 *
 * The tenant is not a plain field on purpose: resolvers get it from requireScope, so no data
 * can be read or written without the scope check that goes with it.
 */
import DataLoader from 'dataloader';
import { forbidden, StreamlensError, unauthenticated } from '../errors.ts';
import type { StoredEvent } from '../domain/event.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { ApiScope } from '../ports/api-key-store.ts';
import type { EventTypeSummary, QueryService } from '../query/query-service.ts';
import type { StreamProcessor } from '../stream/processor.ts';
import type { Authentication, Principal } from '../auth/authenticator.ts';
import type { KeyService } from '../auth/key-service.ts';
import type { AccessTokenService } from '../auth/token-service.ts';
import type { LiveService, LiveSubscriber } from '../live/live-service.ts';
import type { UsageLimits } from '../limits/usage-limits.ts';
import type { QueryBudget, QueryLimits } from '../query/query-limits.ts';
import type { SetAsideService } from '../query/set-aside-service.ts';

export interface Services {
  ingest: IngestService;
  queries: QueryService;
  processor: StreamProcessor;
  keys: KeyService;
  /** Minting access tokens (createAccessToken). */
  tokens: AccessTokenService;
  /** The live subscriptions this instance serves (src/live/). */
  live: LiveService;
  limits: UsageLimits;
  /** How much one query may read and answer (src/query/query-limits.ts). */
  queryLimits: QueryLimits;
  /** The records the processor set aside: listing and replay. */
  setAside: SetAsideService;
}

export interface GraphQLContext {
  services: Services;
  auth: Authentication;
  /** An SSE client's Last-Event-ID: where a reconnecting events subscription resumes. */
  lastEventId: string | null;
  /** The id of the HTTP request (or WebSocket connection) the operation came in on, for log lines. */
  requestId?: string;
  /** The caller's IP address (of the TCP connection; proxies' headers are not trusted): the rate-limit bucket of calls without a valid key. */
  remoteAddress: string | null;
  /** What this operation's query fields may still read and answer, shared by all of them. */
  budget: QueryBudget;
  loaders: {
    eventById(tenant: string): DataLoader<string, StoredEvent | null>;
    /** The catalog entry of a type: every type asked for in one operation costs one catalog read. */
    eventTypeByName(tenant: string): DataLoader<string, EventTypeSummary | null>;
  };
}

export function createGraphQLContext(
  services: Services,
  auth: Authentication,
  lastEventId: string | null = null,
  requestId?: string,
  remoteAddress: string | null = null,
): GraphQLContext {
  return {
    services,
    auth,
    lastEventId,
    requestId,
    remoteAddress,
    budget: services.queries.newBudget(),
    loaders: createLoaders(services),
  };
}

/**
 * The context to execute one event of a subscription with: the same caller, services and
 * budget, with loaders of its own. A subscription's context lives as long as the subscription,
 * so its loaders would answer every later event with what they read for the first one (an
 * event's typeInfo would never change).
 */
export function forOneSubscriptionEvent(context: GraphQLContext): GraphQLContext {
  return { ...context, loaders: createLoaders(context.services) };
}

function createLoaders(services: Services): GraphQLContext['loaders'] {
  const eventLoaders = new Map<string, DataLoader<string, StoredEvent | null>>();
  const typeLoaders = new Map<string, DataLoader<string, EventTypeSummary | null>>();
  return {
    eventById(tenant) {
      let loader = eventLoaders.get(tenant);
      if (!loader) eventLoaders.set(tenant, (loader = new DataLoader((ids) => services.queries.eventsByIds(tenant, ids))));
      return loader;
    },
    eventTypeByName(tenant) {
      let loader = typeLoaders.get(tenant);
      if (!loader) {
        loader = new DataLoader(
          async (types) => {
            const byType = new Map((await services.queries.eventTypes(tenant, types)).map((summary) => [summary.type, summary]));
            return types.map((type) => byType.get(type) ?? null);
          },
          // One catalog read names at most as many types as one eventTypes answer may hold.
          { maxBatchSize: services.queryLimits.maxEventTypes },
        );
        typeLoaders.set(tenant, loader);
      }
      return loader;
    },
  };
}

const UNAUTHENTICATED_MESSAGES = {
  missing: 'an API key is required: send Authorization: Bearer <key> (over graphql-ws: connectionParams.authorization)',
  malformed: 'the Authorization header is not "Bearer <key>" with a Streamlens key',
  unknown: 'the API key is not valid',
  revoked: 'the API key has been revoked',
} as const;

const TOKEN_EXPIRED_MESSAGE = 'the access token has expired; mint a new one (over graphql-ws: refresh it with a ping)';

/** The caller, or an UNAUTHENTICATED error saying what is wrong with its credentials. */
export function requirePrincipal(context: GraphQLContext): Principal {
  if (!context.auth.ok) {
    if (context.auth.reason === 'expired') throw new StreamlensError('TOKEN_EXPIRED', TOKEN_EXPIRED_MESSAGE);
    throw unauthenticated(UNAUTHENTICATED_MESSAGES[context.auth.reason]);
  }
  return context.auth.principal;
}

/** The tenant the caller may act on with this scope, or UNAUTHENTICATED / FORBIDDEN. */
export function requireScope(context: GraphQLContext, scope: Exclude<ApiScope, 'ADMIN'>): string {
  const principal = requirePrincipal(context);
  if (principal.tenant === null) {
    throw forbidden(`the bootstrap admin key only manages keys; create a key with the ${scope} scope for a tenant`);
  }
  if (!principal.scopes.has(scope)) {
    throw forbidden(`this API key lacks the ${scope} scope`, scope);
  }
  return principal.tenant;
}

/** Who opens a live subscription: the tenant it reads (READ scope), and the key whose revocation ends it. */
export function requireLiveSubscriber(context: GraphQLContext): LiveSubscriber {
  const tenant = requireScope(context, 'READ');
  return { tenant, keyId: context.auth.ok ? context.auth.principal.keyId : null };
}

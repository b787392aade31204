/**
 * The GraphQL context: who is asking, the services, and per-operation DataLoaders (a loader
 * caches for one operation only, so one request never sees another's stale reads; in a
 * subscription, for one delivered event only).
 *
 * The tenant is not a plain field on purpose: resolvers get a TenantAccess (the tenant and the
 * caller's slice of it) from requireAccess, so no data can be read or written without the scope
 * check and the slice that go with it (src/auth/tenant-access.ts).
 */
import DataLoader from 'dataloader';
import { forbidden, StreamlensError, unauthenticated } from '../errors.ts';
import type { StoredEvent } from '../domain/event.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { ApiScope } from '../ports/api-key-store.ts';
import type { EventTypeSummary, QueryService } from '../query/query-service.ts';
import type { RunningProcessor } from '../stream/processor-thread.ts';
import type { Authentication, Principal } from '../auth/authenticator.ts';
import type { KeyService } from '../auth/key-service.ts';
import type { AccessTokenService } from '../auth/token-service.ts';
import type { ConnectionCredentials, LiveService, LiveSubscriber } from '../live/live-service.ts';
import type { UsageLimits } from '../limits/usage-limits.ts';
import type { QueryBudget, QueryLimits } from '../query/query-limits.ts';
import type { SetAsideService } from '../query/set-aside-service.ts';
import { WHOLE_TENANT } from '../auth/data-slice.ts';
import { accessKey, type TenantAccess } from '../auth/tenant-access.ts';

export interface Services {
  ingest: IngestService;
  queries: QueryService;
  processor: RunningProcessor;
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
  /** The graphql-ws connection the operation came in on (its credentials, which a refresh replaces); absent over HTTP and SSE. */
  connection?: ConnectionCredentials | null;
  loaders: {
    eventById(access: TenantAccess): DataLoader<string, StoredEvent | null>;
    /** The catalog entry of a type: every type asked for in one operation costs one catalog read. */
    eventTypeByName(access: TenantAccess): DataLoader<string, EventTypeSummary | null>;
  };
}

export function createGraphQLContext(
  services: Services,
  auth: Authentication,
  lastEventId: string | null = null,
  requestId?: string,
  remoteAddress: string | null = null,
): GraphQLContext {
  const context: GraphQLContext = {
    services,
    auth,
    lastEventId,
    requestId,
    remoteAddress,
    budget: services.queries.newBudget(),
    loaders: createLoaders(services, () => context.budget),
  };
  return context;
}

/**
 * The context to execute one event of a subscription with: the same caller, services and
 * budget, with loaders of its own. A subscription's context lives as long as the subscription,
 * so its loaders would answer every later event with what they read for the first one (an
 * event's typeInfo would never change).
 */
export function forOneSubscriptionEvent(context: GraphQLContext): GraphQLContext {
  // A budget of its own too: a token's typeInfo reads rollup rows for every event, and a
  // subscription that lives for days must not spend one operation's budget on all of them.
  const budget = context.services.queries.newBudget();
  return { ...context, budget, loaders: createLoaders(context.services, () => budget) };
}

/** Loaders per access (one per operation in practice: an operation has one caller). */
function createLoaders(services: Services, budget: () => QueryBudget): GraphQLContext['loaders'] {
  const eventLoaders = new Map<string, DataLoader<string, StoredEvent | null>>();
  const typeLoaders = new Map<string, DataLoader<string, EventTypeSummary | null>>();
  return {
    eventById(access) {
      const key = accessKey(access);
      let loader = eventLoaders.get(key);
      if (!loader) eventLoaders.set(key, (loader = new DataLoader((ids) => services.queries.eventsByIds(access, ids))));
      return loader;
    },
    eventTypeByName(access) {
      const key = accessKey(access);
      let loader = typeLoaders.get(key);
      if (!loader) {
        loader = new DataLoader(
          async (types) => {
            const summaries = await services.queries.eventTypes(access, types, budget());
            const byType = new Map(summaries.map((summary) => [summary.type, summary]));
            return types.map((type) => byType.get(type) ?? null);
          },
          // One catalog read names at most as many types as one eventTypes answer may hold.
          { maxBatchSize: services.queryLimits.maxEventTypes },
        );
        typeLoaders.set(key, loader);
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

function requireTenantScope(context: GraphQLContext, scope: Exclude<ApiScope, 'ADMIN'>): Principal & { tenant: string } {
  const principal = requirePrincipal(context);
  if (principal.tenant === null) {
    throw forbidden(`the bootstrap admin key only manages keys; create a key with the ${scope} scope for a tenant`);
  }
  if (!principal.scopes.has(scope)) {
    throw forbidden(`this ${principal.token ? 'access token' : 'API key'} lacks the ${scope} scope`, scope);
  }
  return principal as Principal & { tenant: string };
}

/**
 * What the caller may read (READ) or write (INGEST): its tenant and its slice of it (the whole
 * tenant for an API key, the token's slice for an access token), or UNAUTHENTICATED / FORBIDDEN.
 * The data services take nothing else (src/auth/tenant-access.ts).
 */
export function requireAccess(context: GraphQLContext, scope: Exclude<ApiScope, 'ADMIN'>): TenantAccess {
  const principal = requireTenantScope(context, scope);
  return { tenant: principal.tenant, slice: principal.token?.slice ?? WHOLE_TENANT };
}

/**
 * For what reveals the tenant as a whole and is not in an access token's list of fields
 * (streamStatus, the set-aside records): an API key's tenant; an access token is FORBIDDEN.
 */
export function requireWholeTenant(context: GraphQLContext, scope: Exclude<ApiScope, 'ADMIN'>): TenantAccess {
  const principal = requireTenantScope(context, scope);
  if (principal.token)
    throw forbidden('an access token reads events, series, top lists, the type catalog and the quarantine of its slice only');
  return { tenant: principal.tenant, slice: WHOLE_TENANT };
}

/**
 * Who opens a live subscription: what it reads (READ scope), the key whose revocation ends it,
 * the caller whose token's expiry ends it, and the connection whose refresh it follows.
 */
export function requireLiveSubscriber(context: GraphQLContext): LiveSubscriber {
  const access = requireAccess(context, 'READ');
  const principal = requirePrincipal(context);
  return { ...access, keyId: principal.keyId, openedUnder: principal, connection: context.connection ?? null };
}

/**
 * The credentials of a live connection, which a refresh replaces, and the pure rules that decide
 * what a refresh does to the subscriptions already open on it.
 *
 * A graphql-ws connection authenticates at connection_init. A `ping` whose payload is
 * `{ "authorization": "Bearer <new token>" }` then replaces its credentials without reconnecting
 * (src/server/graphql-ws-refresh.ts): new operations on the connection authenticate with the new
 * authorization, and each open subscription is judged against the credential it was opened
 * under. Its slice cannot change (its filter was narrowed by that slice when it opened), so it
 * goes on under the new expiry only if the new credential still sees everything it was opened to
 * see; otherwise it ends with FORBIDDEN. Over SSE there is no refresh: a stream lives until the
 * expiry of the token it was opened with, then the client reconnects with a fresh one.
 */
import type { Principal } from '../auth/authenticator.ts';
import { sliceCovers, WHOLE_TENANT, type DataSlice } from '../auth/data-slice.ts';
import type { DimensionCondition } from '../domain/dimension-conditions.ts';
import { forbidden, StreamlensError } from '../errors.ts';

/** One graphql-ws connection's current credentials: connection_init's, then the last refresh's. */
export interface ConnectionCredentials {
  /** What the connection's operations authenticate with (as an Authorization header). */
  authorization: string | null;
  /** Who that authorization is. */
  principal: Principal;
}

/** The slice a credential sees: a token's own, the whole tenant for an API key. */
export function sliceOf(principal: Principal): DataSlice {
  return principal.token?.slice ?? WHOLE_TENANT;
}

/** When a credential stops being accepted (ms since the epoch); null: never (an API key). */
export function expiryOf(principal: Principal): number | null {
  return principal.token?.expiresAt ?? null;
}

/**
 * The most a subscription can deliver: the slice of the credential it was opened under, narrowed
 * by its own event types and `where` (its other filters are left out, which only makes the slice
 * wider than what it delivers: a refresh then errs towards ending it). A refresh to a narrower
 * token thus ends only the subscriptions that read outside the new slice.
 */
export function subscriptionSlice(
  granted: DataSlice,
  types: readonly string[] | null,
  where: readonly DimensionCondition[] | null,
): DataSlice {
  // No types, or an empty list, filter nothing: every type (src/query/event-filter.ts).
  const own = types === null || types.length === 0 ? null : [...new Set(types)].sort();
  const narrowedTypes = own === null ? granted.types : granted.types === null ? own : own.filter((type) => granted.types!.includes(type));
  return { types: narrowedTypes, where: [...granted.where, ...(where ?? [])] };
}

/**
 * Why a subscription opened under `openedUnder` may not go on under `renewed`, or null when it
 * may: the same tenant, READ still granted, and a slice that holds all the subscription can
 * deliver (`delivers`, by default all of `openedUnder`'s slice; `sliceCovers` is conservative: a
 * slice worded differently counts as narrower).
 */
export function refusalOfRenewal(
  openedUnder: Principal,
  renewed: Principal,
  delivers: DataSlice = sliceOf(openedUnder),
): StreamlensError | null {
  if (renewed.tenant === null || renewed.tenant !== openedUnder.tenant) {
    return forbidden('the refreshed credential is of another tenant than this subscription');
  }
  if (!renewed.scopes.has('READ')) {
    return forbidden('the refreshed credential lacks the READ scope this subscription needs', 'READ');
  }
  if (!sliceCovers(sliceOf(renewed), delivers)) {
    return forbidden('the refreshed access token does not see all this subscription was opened to see (its types or where are narrower)');
  }
  return null;
}

/** The error an open subscription ends with when the credential it lives under expires. */
export function tokenExpiredError(): StreamlensError {
  return new StreamlensError(
    'TOKEN_EXPIRED',
    'the access token of this subscription has expired; refresh it before its expiry (graphql-ws: a ping with the new token), or subscribe again with a new one',
  );
}

/**
 * The `expiresAt` a refresh's pong carries: the new token's expiry as an ISO time, or null when
 * the new credential is an API key (it never expires).
 */
export function pongPayloadOf(principal: Principal): { expiresAt: string | null } {
  const expiresAt = expiryOf(principal);
  return { expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString() };
}

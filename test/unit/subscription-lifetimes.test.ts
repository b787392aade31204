/**
 * How long a live subscription lives: until the expiry of the access token it lives under (one
 * timer, TOKEN_EXPIRED), moved under a refreshed connection's new credential when that still
 * allows it (same tenant, READ, a slice covering the one it opened with), else ended with
 * FORBIDDEN. The registry is driven directly, with fake timers: no stores, no HTTP.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AccessTokenGrant, Principal } from '../../src/auth/authenticator.ts';
import { WHOLE_TENANT, type DataSlice } from '../../src/auth/data-slice.ts';
import type { ApiScope } from '../../src/ports/api-key-store.ts';
import {
  pongPayloadOf,
  refusalOfRenewal,
  sliceOf,
  subscriptionSlice,
  type ConnectionCredentials,
} from '../../src/live/connection-credentials.ts';
import { createSubscriptionRegistry, type LiveSubscriber, type SubscriptionRegistry } from '../../src/live/subscription-registry.ts';
import type { LiveQueue } from '../../src/live/live-queue.ts';

const START = Date.parse('2026-01-01T00:00:00.000Z');
const MINUTE = 60_000;

const CUSTOMER_7: DataSlice = { types: ['pageview'], where: [{ key: 'customer', operator: 'eq', value: '7' }] };
const CUSTOMER_7_PURCHASES: DataSlice = { types: ['purchase'], where: CUSTOMER_7.where };
const CUSTOMER_7_ALL_TYPES: DataSlice = { types: null, where: CUSTOMER_7.where };

function tokenPrincipal(options: {
  expiresAt: number;
  slice?: DataSlice;
  tenant?: string;
  keyId?: string;
  scopes?: ApiScope[];
  id?: string;
}): Principal {
  const token: AccessTokenGrant = {
    id: options.id ?? 'token-1',
    expiresAt: options.expiresAt,
    slice: options.slice ?? CUSTOMER_7,
    queriesPerSecond: null,
    eventsPerSecond: null,
  };
  return {
    tenant: options.tenant ?? 'acme',
    keyId: options.keyId ?? 'key-minting',
    scopes: new Set(options.scopes ?? ['READ']),
    isRootAdmin: false,
    token,
  };
}

const apiKey = (tenant = 'acme', keyId = 'key-plain'): Principal => ({ tenant, keyId, scopes: new Set(['READ']), isRootAdmin: false });

describe('the rules of a renewal', () => {
  const opened = tokenPrincipal({ expiresAt: START + MINUTE });

  it('allows the same slice, a wider one, and an API key of the same tenant', () => {
    expect(refusalOfRenewal(opened, tokenPrincipal({ expiresAt: START + 2 * MINUTE, id: 'token-2' }))).toBeNull();
    expect(refusalOfRenewal(opened, tokenPrincipal({ expiresAt: START + 2 * MINUTE, slice: CUSTOMER_7_ALL_TYPES }))).toBeNull();
    expect(refusalOfRenewal(opened, tokenPrincipal({ expiresAt: START + 2 * MINUTE, slice: WHOLE_TENANT }))).toBeNull();
    expect(refusalOfRenewal(opened, apiKey())).toBeNull();
  });

  it('refuses a narrower or other slice, a missing READ, another tenant, with FORBIDDEN', () => {
    const refusal = (renewed: Principal) => {
      const error = refusalOfRenewal(opened, renewed);
      return error && { code: error.code, message: error.message };
    };
    expect(refusal(tokenPrincipal({ expiresAt: START + 2 * MINUTE, slice: CUSTOMER_7_PURCHASES }))).toEqual({
      code: 'FORBIDDEN',
      message: 'the refreshed access token does not see all this subscription was opened to see (its types or where are narrower)',
    });
    expect(refusal(tokenPrincipal({ expiresAt: START + 2 * MINUTE, scopes: ['INGEST'] }))).toEqual({
      code: 'FORBIDDEN',
      message: 'the refreshed credential lacks the READ scope this subscription needs',
    });
    expect(refusal(tokenPrincipal({ expiresAt: START + 2 * MINUTE, tenant: 'other' }))).toEqual({
      code: 'FORBIDDEN',
      message: 'the refreshed credential is of another tenant than this subscription',
    });
    // A subscription opened with a key sees the whole tenant: no token's slice covers it.
    expect(refusalOfRenewal(apiKey(), tokenPrincipal({ expiresAt: START + MINUTE }))?.code).toBe('FORBIDDEN');
  });

  it("says the new token's expiry in the pong, null for an API key", () => {
    expect(pongPayloadOf(tokenPrincipal({ expiresAt: START + MINUTE }))).toEqual({ expiresAt: '2026-01-01T00:01:00.000Z' });
    expect(pongPayloadOf(apiKey())).toEqual({ expiresAt: null });
  });
});

describe('subscriptions within their credential’s lifetime', () => {
  let registry: SubscriptionRegistry;

  beforeEach(() => {
    vi.useFakeTimers({ now: START });
    registry = createSubscriptionRegistry(() => {});
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function open(subscriber: LiveSubscriber): LiveQueue<string> {
    return registry.reserve(subscriber).openQueue<string>({ limit: 10, overflowError: () => new Error('overflow'), onClose: () => {} });
  }

  /** What the subscriber's next read gives: a value, the end, or the code it failed with. */
  async function nextOf(queue: LiveQueue<string>): Promise<unknown> {
    try {
      const step = await queue.next();
      return step.done ? 'done' : step.value;
    } catch (error) {
      return { code: (error as { code?: string }).code };
    }
  }

  function subscriberOf(principal: Principal, connection: ConnectionCredentials | null = null): LiveSubscriber {
    return {
      tenant: principal.tenant!,
      slice: principal.token?.slice ?? WHOLE_TENANT,
      keyId: principal.keyId,
      openedUnder: principal,
      connection,
    };
  }

  it('ends a token’s subscription with TOKEN_EXPIRED when the token expires, not before', async () => {
    const queue = open(subscriberOf(tokenPrincipal({ expiresAt: START + MINUTE })));
    vi.advanceTimersByTime(MINUTE - 1);
    queue.push('before the expiry');
    expect(await nextOf(queue)).toBe('before the expiry');
    vi.advanceTimersByTime(1);
    expect(await nextOf(queue)).toEqual({ code: 'TOKEN_EXPIRED' });
    expect(await nextOf(queue)).toBe('done');
    expect(registry.openCount()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never ends an API key’s subscription, and clears the timer of one that ends first', async () => {
    open(subscriberOf(apiKey()));
    expect(vi.getTimerCount()).toBe(0);
    const ended = open(subscriberOf(tokenPrincipal({ expiresAt: START + MINUTE })));
    expect(vi.getTimerCount()).toBe(1);
    await ended.return!();
    expect(vi.getTimerCount()).toBe(0);
    expect(registry.openCount()).toBe(1);
  });

  it('ends at once a subscription whose token expired while it was opening', async () => {
    const queue = open(subscriberOf(tokenPrincipal({ expiresAt: START - 1 })));
    expect(await nextOf(queue)).toEqual({ code: 'TOKEN_EXPIRED' });
  });

  it('a refresh moves every subscription of the connection under the new expiry, and only that connection’s', async () => {
    const first = tokenPrincipal({ expiresAt: START + MINUTE });
    const connection: ConnectionCredentials = { authorization: 'Bearer first', principal: first };
    const refreshed = open(subscriberOf(first, connection));
    const otherConnection = open(subscriberOf(first, { authorization: 'Bearer first', principal: first }));

    connection.principal = tokenPrincipal({ expiresAt: START + 10 * MINUTE, id: 'token-2', keyId: 'key-other' });
    connection.authorization = 'Bearer second';
    registry.followConnection(connection);

    vi.advanceTimersByTime(MINUTE);
    expect(await nextOf(otherConnection)).toEqual({ code: 'TOKEN_EXPIRED' });
    refreshed.push('after the old expiry');
    expect(await nextOf(refreshed)).toBe('after the old expiry');
    // Revoking the key of the new token now ends it: the registry names that key.
    expect(registry.queues().map((open) => open.keyId)).toEqual(['key-other']);
    vi.advanceTimersByTime(9 * MINUTE);
    expect(await nextOf(refreshed)).toEqual({ code: 'TOKEN_EXPIRED' });
  });

  it('a refresh to a narrower slice ends with FORBIDDEN only the subscriptions it no longer covers', async () => {
    const pageviews = tokenPrincipal({ expiresAt: START + MINUTE, slice: CUSTOMER_7 });
    const connection: ConnectionCredentials = { authorization: 'Bearer pageviews', principal: pageviews };
    const openedNarrow = open(subscriberOf(pageviews, connection));
    // Refreshed to a token of every type of the customer: the pageview subscription goes on...
    const everyType = tokenPrincipal({ expiresAt: START + 2 * MINUTE, slice: CUSTOMER_7_ALL_TYPES, id: 'token-2' });
    connection.principal = everyType;
    registry.followConnection(connection);
    // ...and one more is opened under it.
    const openedWide = open(subscriberOf(everyType, connection));

    connection.principal = tokenPrincipal({ expiresAt: START + 5 * MINUTE, slice: CUSTOMER_7, id: 'token-3' });
    registry.followConnection(connection);
    expect(await nextOf(openedWide)).toEqual({ code: 'FORBIDDEN' });
    vi.advanceTimersByTime(2 * MINUTE);
    openedNarrow.push('still allowed, past the earlier expiries');
    expect(await nextOf(openedNarrow)).toBe('still allowed, past the earlier expiries');
    expect(registry.openCount()).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
  });

  it('a refresh to an API key lifts the expiry', async () => {
    const first = tokenPrincipal({ expiresAt: START + MINUTE });
    const connection: ConnectionCredentials = { authorization: 'Bearer first', principal: first };
    const queue = open(subscriberOf(first, connection));
    connection.principal = apiKey();
    registry.followConnection(connection);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60 * MINUTE);
    queue.push('an hour later');
    expect(await nextOf(queue)).toBe('an hour later');
  });

  it('a subscription still opening when its connection was refreshed lives under the new credential', async () => {
    const first = tokenPrincipal({ expiresAt: START + MINUTE });
    // The subscribe was authenticated with the first token, the refresh landed before its queue opened.
    const connection: ConnectionCredentials = {
      authorization: 'Bearer second',
      principal: tokenPrincipal({ expiresAt: START + 10 * MINUTE, id: 'token-2' }),
    };
    const queue = open(subscriberOf(first, connection));
    vi.advanceTimersByTime(MINUTE);
    queue.push('after the first token’s expiry');
    expect(await nextOf(queue)).toBe('after the first token’s expiry');
  });
});

describe('what a subscription can deliver', () => {
  const opened = tokenPrincipal({ expiresAt: START + MINUTE, slice: { types: ['pageview', 'purchase'], where: CUSTOMER_7.where } });
  const pageviewsOnly = tokenPrincipal({ expiresAt: START + 2 * MINUTE, slice: CUSTOMER_7 });
  const plan = { key: 'plan', operator: 'eq', value: 'pro' } as const;

  it('is the slice narrowed by its own types and where; no types (or none listed) narrow nothing', () => {
    expect(subscriptionSlice(CUSTOMER_7_ALL_TYPES, ['purchase', 'pageview', 'purchase'], [plan])).toEqual({
      types: ['pageview', 'purchase'],
      where: [...CUSTOMER_7.where, plan],
    });
    expect(subscriptionSlice(CUSTOMER_7, ['pageview', 'other'], null)).toEqual({ types: ['pageview'], where: CUSTOMER_7.where });
    expect(subscriptionSlice(CUSTOMER_7, [], null)).toEqual(CUSTOMER_7);
    expect(subscriptionSlice(WHOLE_TENANT, null, null)).toEqual(WHOLE_TENANT);
  });

  it('decides a refresh to a narrower token per subscription: one that reads only inside the new slice goes on', () => {
    const pageviews = subscriptionSlice(sliceOf(opened), ['pageview'], null);
    const everything = subscriptionSlice(sliceOf(opened), null, null);
    expect(refusalOfRenewal(opened, pageviewsOnly, pageviews)).toBeNull();
    expect(refusalOfRenewal(opened, pageviewsOnly, everything)?.code).toBe('FORBIDDEN');
    // A where of its own does not make it read outside: the token's conditions are all still there.
    expect(refusalOfRenewal(opened, pageviewsOnly, subscriptionSlice(sliceOf(opened), ['pageview'], [plan]))).toBeNull();
  });
});

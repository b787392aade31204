/**
 * Access tokens on live connections (contract-2.md, "Access tokens for end users": Expiry, Refresh
 * without reconnecting): an open subscription ends with TOKEN_EXPIRED when its token expires; a
 * graphql-ws `ping` with `{ authorization }` replaces the connection's token without ending its
 * subscriptions, answered by a pong `{ expiresAt }`; an invalid token or one of another tenant
 * closes the socket with 4403; a subscription the new token no longer allows ends with FORBIDDEN;
 * an SSE stream ends with TOKEN_EXPIRED and resumes with a fresh token from its Last-Event-ID.
 * With the graphql-ws client and with raw frames, on both stacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { query, waitForLiveSubscriptions, waitForProcessing, waitUntil, type Credentials } from '../support/clients.ts';
import { openRawGraphqlWs, type WsMessage, type WsSession } from '../support/raw-graphql-ws.ts';
import {
  CreateAccessTokenDocument,
  CreateApiKeyDocument,
  IngestDocument,
  LiveEventsDocument,
  RevokeApiKeyDocument,
} from '../generated/operations.ts';
import { PROTOTYPE_MEMBERS } from '../support/prototype-members.ts';

const ADMIN_KEY = 'token-refresh-suite-admin-key-0123456789abcdef';
const admin: Credentials = { apiKey: ADMIN_KEY };
/** A token that expires while a test waits for it, yet lives long enough for the test to open its subscriptions. */
const SHORT_LIFETIME = '3s';
/** A token that outlives every test of the file. */
const LONG_LIFETIME = '1h';
/** The largest WebSocket message the server reads (MAX_REQUEST_BYTES, default 1 MiB). */
const MAX_MESSAGE_BYTES = 1_048_576;

const LIVE_EVENTS = 'subscription Live($types: [String!]) { events(filter: { types: $types }) { cursor node { id type } } }';
const INGEST = 'mutation Ingest($events: [EventInput!]!) { ingest(events: $events) { accepted rejected } }';

/** A result as the graphql-ws client hands it over. */
type WsResult = { data?: unknown; errors?: readonly { extensions?: { code?: unknown } }[] };

interface Minted {
  token: string;
  expiresAt: string;
}

describe.each(BACKENDS)('access tokens on live connections on %s', (backend) => {
  let server: TestServer;
  let partner: Credentials;
  let otherTenant: Credentials;

  beforeAll(async () => {
    server = await startServer({ backend, env: { ADMIN_KEY } });
    const keyOf = async (tenant: string) =>
      (await query(server.url, CreateApiKeyDocument, { tenant, scopes: ['READ', 'INGEST'], name: 'partner' }, admin)).createApiKey.key;
    partner = { apiKey: await keyOf('refresh-partner') };
    otherTenant = { apiKey: await keyOf('refresh-other') };
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function mint(
    input: { expiresIn: string; types?: string[]; scopes?: ('READ' | 'INGEST')[] },
    minting: Credentials = partner,
  ): Promise<Minted> {
    const { createAccessToken } = await query(
      server.url,
      CreateAccessTokenDocument,
      {
        input: {
          scopes: input.scopes ?? ['READ'],
          expiresIn: input.expiresIn,
          types: input.types ?? null,
          where: [{ key: 'customer', eq: '7' }],
        },
      },
      minting,
    );
    return { token: createAccessToken.token, expiresAt: String(createAccessToken.expiresAt) };
  }

  async function ingest(type: string, ids: string[]): Promise<void> {
    const events = ids.map((id) => ({ id, type, dimensions: { customer: '7' } }));
    expect((await query(server.url, IngestDocument, { events }, partner)).ingest.accepted).toBe(ids.length);
  }

  const waitForSubscriptions = (count: number) => waitForLiveSubscriptions(server.url, count, partner);
  /** Waits until the token's expiry has passed on this machine's clock (the server's, in these tests). */
  const waitPast = (expiresAt: string) => waitUntil(async () => Date.now() > Date.parse(expiresAt) + 250, 15_000, `past ${expiresAt}`);

  describe('with the graphql-ws client', () => {
    /** A graphql-ws client whose raw socket is at hand, to send a ping with a payload. */
    function tokenClient(token: string) {
      let socket: WebSocket | null = null;
      const pongs: unknown[] = [];
      const client: Client = createClient({
        url: server.wsUrl,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${token}` },
        on: {
          connected: (connected) => {
            socket = connected as WebSocket;
          },
          pong: (received, payload) => {
            if (received) pongs.push(payload);
          },
        },
      });
      return {
        client,
        async refresh(newToken: string): Promise<unknown> {
          await waitUntil(async () => socket, 5_000, 'the connection');
          const before = pongs.length;
          socket!.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${newToken}` } }));
          await waitUntil(async () => pongs.length > before, 5_000, 'the pong');
          return pongs[before];
        },
      };
    }

    function collect(client: Client, types: string[]) {
      const ids: string[] = [];
      const errors: unknown[] = [];
      const stop = client.subscribe<{ events: { node: { id: string } } }>(
        { query: LIVE_EVENTS, variables: { types } },
        {
          next: (result) => (result.errors ? errors.push(result.errors) : ids.push(result.data!.events.node.id)),
          error: (error) => errors.push(error),
          complete: () => {},
        },
      );
      return { ids, errors, stop };
    }

    function codesOf(errors: unknown[]): unknown[] {
      return errors.flatMap((error) =>
        Array.isArray(error) ? error.map((e: { extensions?: { code?: string } }) => e.extensions?.code) : [String(error)],
      );
    }

    it('refreshes the token without ending the subscriptions, which then live past the old expiry', async () => {
      const first = await mint({ expiresIn: SHORT_LIFETIME });
      const second = await mint({ expiresIn: LONG_LIFETIME });
      const { client, refresh } = tokenClient(first.token);
      try {
        const live = collect(client, ['refresh_kept']);
        await waitForSubscriptions(1);
        await ingest('refresh_kept', ['before']);
        await waitUntil(async () => live.ids.length === 1, 10_000, 'the first event');

        expect(await refresh(second.token)).toEqual({ expiresAt: second.expiresAt });
        await waitPast(first.expiresAt);
        await ingest('refresh_kept', ['after']);
        await waitUntil(async () => live.ids.length === 2, 10_000, 'the event after the old expiry');
        expect(live.ids).toEqual(['before', 'after']);
        expect(live.errors).toEqual([]);
        live.stop();
        await waitForSubscriptions(0);
      } finally {
        await client.dispose();
      }
    });

    it('ends a subscription with TOKEN_EXPIRED when its token expires without a refresh', async () => {
      const token = await mint({ expiresIn: SHORT_LIFETIME });
      const { client } = tokenClient(token.token);
      try {
        const live = collect(client, ['refresh_expiring']);
        await waitForSubscriptions(1);
        await waitUntil(async () => live.errors.length > 0, 15_000, 'the end of the subscription');
        expect(codesOf(live.errors)).toEqual(['TOKEN_EXPIRED']);
        expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(token.expiresAt));
        await waitForSubscriptions(0);
      } finally {
        await client.dispose();
      }
    });

    it('ends with FORBIDDEN only the subscriptions a narrower token no longer allows', async () => {
      const wide = await mint({ expiresIn: LONG_LIFETIME, types: ['refresh_narrow_kept', 'refresh_narrow_ended'] });
      const narrow = await mint({ expiresIn: LONG_LIFETIME, types: ['refresh_narrow_kept'] });
      const { client, refresh } = tokenClient(wide.token);
      try {
        const kept = collect(client, ['refresh_narrow_kept']);
        const ended = collect(client, ['refresh_narrow_ended']);
        const everyType = collect(client, []);
        await waitForSubscriptions(3);
        expect(await refresh(narrow.token)).toEqual({ expiresAt: narrow.expiresAt });
        await waitUntil(async () => ended.errors.length > 0 && everyType.errors.length > 0, 10_000, 'the FORBIDDEN ends');
        expect(codesOf(ended.errors)).toEqual(['FORBIDDEN']);
        expect(codesOf(everyType.errors)).toEqual(['FORBIDDEN']);
        await waitForSubscriptions(1);
        await ingest('refresh_narrow_kept', ['kept-1']);
        await waitUntil(async () => kept.ids.length === 1, 10_000, 'the kept subscription’s event');
        expect(kept.ids).toEqual(['kept-1']);
        expect(kept.errors).toEqual([]);
        kept.stop();
        await waitForSubscriptions(0);
      } finally {
        await client.dispose();
      }
    });

    it('runs the operations started after a refresh with the new token', async () => {
      const readOnly = await mint({ expiresIn: LONG_LIFETIME, scopes: ['READ'] });
      const readAndIngest = await mint({ expiresIn: LONG_LIFETIME, scopes: ['READ', 'INGEST'] });
      const { client, refresh } = tokenClient(readOnly.token);
      const ingestOverSocket = () =>
        new Promise<WsResult>((resolve, reject) => {
          let result: WsResult;
          client.subscribe(
            { query: INGEST, variables: { events: [{ id: `ws-${Math.random()}`, type: 'refresh_ops', dimensions: { customer: '7' } }] } },
            { next: (value) => (result = value), error: reject, complete: () => resolve(result) },
          );
        });
      try {
        expect((await ingestOverSocket()).errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
        expect(await refresh(readAndIngest.token)).toEqual({ expiresAt: readAndIngest.expiresAt });
        expect(await ingestOverSocket()).toEqual({ data: { ingest: { accepted: 1, rejected: 0 } } });
        // ...and back: the next refresh takes the scope away again.
        expect(await refresh(readOnly.token)).toEqual({ expiresAt: readOnly.expiresAt });
        expect((await ingestOverSocket()).errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
      } finally {
        await client.dispose();
      }
    });
  });

  describe('in raw frames', () => {
    /** Messages of the session, kept aside until a test asks for them by what they are. */
    function inbox(session: WsSession) {
      const kept: WsMessage[] = [];
      return {
        async next(matches: (message: WsMessage) => boolean, timeoutMs = 10_000): Promise<WsMessage> {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const index = kept.findIndex(matches);
            if (index >= 0) return kept.splice(index, 1)[0]!;
            const message = await session.next(Math.max(1, deadline - Date.now()));
            if (!message) throw new Error(`the socket closed: ${JSON.stringify(await session.closed)}`);
            kept.push(message);
          }
        },
      };
    }

    const ping = (session: WsSession, payload?: unknown) =>
      session.socket.send(JSON.stringify(payload === undefined ? { type: 'ping' } : { type: 'ping', payload }));

    it('answers a refresh with exactly { expiresAt }, and a ping without authorization as before: its payload echoed', async () => {
      const first = await mint({ expiresIn: LONG_LIFETIME });
      const second = await mint({ expiresIn: '2h' });
      const session = await openRawGraphqlWs(server, { init: `Bearer ${first.token}` });
      const messages = inbox(session);
      try {
        ping(session);
        expect(await messages.next((m) => m.type === 'pong')).toEqual({ type: 'pong' });
        ping(session, { hello: 'there', nested: { n: 1 } });
        expect(await messages.next((m) => m.type === 'pong')).toEqual({ type: 'pong', payload: { hello: 'there', nested: { n: 1 } } });
        ping(session, { authorization: `Bearer ${second.token}`, other: 'ignored' });
        expect(await messages.next((m) => m.type === 'pong')).toEqual({ type: 'pong', payload: { expiresAt: second.expiresAt } });
        // An API key of the same tenant never expires: null.
        ping(session, { authorization: `Bearer ${partner.apiKey}` });
        expect(await messages.next((m) => m.type === 'pong')).toEqual({ type: 'pong', payload: { expiresAt: null } });
      } finally {
        session.socket.close();
      }
      await expectHealthy(server);
    });

    it('ends the subscription in an error frame with TOKEN_EXPIRED, and later operations on the socket fail with it too', async () => {
      const token = await mint({ expiresIn: SHORT_LIFETIME });
      const session = await openRawGraphqlWs(server, { init: `Bearer ${token.token}` });
      const messages = inbox(session);
      try {
        session.socket.send(
          JSON.stringify({ id: 'live', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: { types: ['raw_expiry'] } } }),
        );
        const ended = await messages.next((m) => m.id === 'live', 15_000);
        expect(ended).toEqual({
          id: 'live',
          type: 'error',
          payload: [
            {
              message:
                'the access token of this subscription has expired; refresh it before its expiry (graphql-ws: a ping with the new token), or subscribe again with a new one',
              extensions: { code: 'TOKEN_EXPIRED' },
            },
          ],
        });
        session.socket.send(
          JSON.stringify({ id: 'again', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: { types: ['raw_expiry'] } } }),
        );
        const again = await messages.next((m) => m.id === 'again');
        const errors = (again.type === 'error' ? again.payload : (again.payload as { errors: unknown[] }).errors) as {
          extensions: { code: string };
        }[];
        expect(errors.map((e) => e.extensions.code)).toEqual(['TOKEN_EXPIRED']);
      } finally {
        session.socket.close();
      }
      await expectHealthy(server);
    });

    it('refreshes an API key connection to a token of the same tenant, and the token’s expiry then applies', async () => {
      const token = await mint({ expiresIn: SHORT_LIFETIME });
      const session = await openRawGraphqlWs(server, { init: `Bearer ${partner.apiKey}` });
      const messages = inbox(session);
      try {
        session.socket.send(
          JSON.stringify({
            id: 'narrowed',
            type: 'subscribe',
            payload: { query: LIVE_EVENTS, variables: { types: ['raw_key_to_token'] } },
          }),
        );
        await waitForSubscriptions(1);
        ping(session, { authorization: `Bearer ${token.token}` });
        expect(await messages.next((m) => m.type === 'pong')).toEqual({ type: 'pong', payload: { expiresAt: token.expiresAt } });
        // The key saw the whole tenant; the token only customer 7: the subscription is not covered.
        const ended = await messages.next((m) => m.id === 'narrowed');
        expect(ended.type).toBe('error');
        expect((ended.payload as { extensions: { code: string } }[]).map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
        await waitForSubscriptions(0);
      } finally {
        session.socket.close();
      }
    });

    it('moves a subscription under the key of the new token: revoking the old key no longer ends it, revoking the new one does', async () => {
      const keyFor = async (name: string) =>
        (await query(server.url, CreateApiKeyDocument, { tenant: 'refresh-partner', scopes: ['READ'], name }, admin)).createApiKey;
      const [oldKey, newKey] = [await keyFor('old-minting'), await keyFor('new-minting')];
      const before = await mint({ expiresIn: LONG_LIFETIME }, { apiKey: oldKey.key });
      const after = await mint({ expiresIn: LONG_LIFETIME }, { apiKey: newKey.key });
      const session = await openRawGraphqlWs(server, { init: `Bearer ${before.token}` });
      const messages = inbox(session);
      try {
        session.socket.send(
          JSON.stringify({ id: 'live', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: { types: ['raw_revoked'] } } }),
        );
        await waitForSubscriptions(1);
        ping(session, { authorization: `Bearer ${after.token}` });
        expect(await messages.next((m) => m.type === 'pong')).toEqual({ type: 'pong', payload: { expiresAt: after.expiresAt } });

        await query(server.url, RevokeApiKeyDocument, { id: oldKey.apiKey.id }, admin);
        await ingest('raw_revoked', ['after-old-revoked']);
        const delivered = await messages.next((m) => m.id === 'live');
        expect(delivered).toMatchObject({ type: 'next', payload: { data: { events: { node: { id: 'after-old-revoked' } } } } });

        await query(server.url, RevokeApiKeyDocument, { id: newKey.apiKey.id }, admin);
        const ended = await messages.next((m) => m.id === 'live');
        expect(ended.type).toBe('error');
        expect((ended.payload as { extensions: { code: string } }[]).map((e) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
        await waitForSubscriptions(0);
      } finally {
        session.socket.close();
      }
    });

    it.each([
      ['a tampered token', async () => `Bearer ${(await mint({ expiresIn: LONG_LIFETIME })).token.slice(0, -2)}AA`, 'UNAUTHENTICATED'],
      ['a word that is no credential', async () => 'Bearer not-a-token', 'UNAUTHENTICATED'],
      ['no Bearer', async () => (await mint({ expiresIn: LONG_LIFETIME })).token, 'UNAUTHENTICATED'],
      ['an empty authorization', async () => '', 'UNAUTHENTICATED'],
      ['a lone surrogate', async () => `Bearer slt_\ud800.${'A'.repeat(43)}`, 'UNAUTHENTICATED'],
      ['a token of another tenant', async () => `Bearer ${(await mint({ expiresIn: LONG_LIFETIME }, otherTenant)).token}`, 'FORBIDDEN'],
      ['a key of another tenant', async () => `Bearer ${otherTenant.apiKey}`, 'FORBIDDEN'],
      ['the bootstrap admin key', async () => `Bearer ${ADMIN_KEY}`, 'FORBIDDEN'],
      ['a 100 KB token', async () => `Bearer slt_${'A'.repeat(100_000)}.${'A'.repeat(43)}`, 'UNAUTHENTICATED'],
    ])('closes the socket with 4403 on a refresh with %s, ending its subscriptions', async (_name, authorizationOf, code) => {
      const token = await mint({ expiresIn: LONG_LIFETIME });
      const authorization = await authorizationOf();
      const session = await openRawGraphqlWs(server, { init: `Bearer ${token.token}` });
      session.socket.send(
        JSON.stringify({ id: 'live', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: { types: ['raw_refused'] } } }),
      );
      await waitForSubscriptions(1);
      ping(session, { authorization });
      const closed = await session.closed;
      expect(closed.code).toBe(4403);
      expect(closed.reason.startsWith(`${code}: `)).toBe(true);
      expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
      await waitForSubscriptions(0);
      await expectHealthy(server);
    });

    it('closes the socket with 4403 and TOKEN_EXPIRED on a refresh with an expired token', async () => {
      const expired = await mint({ expiresIn: '1s' });
      const current = await mint({ expiresIn: LONG_LIFETIME });
      await waitPast(expired.expiresAt);
      const session = await openRawGraphqlWs(server, { init: `Bearer ${current.token}` });
      ping(session, { authorization: `Bearer ${expired.token}` });
      expect(await session.closed).toEqual({ code: 4403, reason: 'TOKEN_EXPIRED: the access token has expired' });
      await expectHealthy(server);
    });

    it.each([
      ['null', null],
      ['a number', 7],
      ['true', true],
      ['an object', { token: 'x' }],
      ['a list', ['Bearer x']],
    ])('closes with 4403 on a refresh whose authorization is %s', async (_name, authorization) => {
      const session = await openRawGraphqlWs(server, { init: `Bearer ${(await mint({ expiresIn: LONG_LIFETIME })).token}` });
      ping(session, { authorization });
      expect(await session.closed).toEqual({
        code: 4403,
        reason: 'UNAUTHENTICATED: the authorization is not "Bearer <key>" with a Streamlens key',
      });
      await expectHealthy(server);
    });

    it.each([
      ['a string', '"Bearer x"'],
      ['a number', '7'],
      ['true', 'true'],
      ['a list', '[{"authorization":"Bearer x"}]'],
    ])('closes with 4400 a ping whose payload is %s, as graphql-ws does', async (_name, payload) => {
      const session = await openRawGraphqlWs(server, { init: `Bearer ${(await mint({ expiresIn: LONG_LIFETIME })).token}` });
      session.socket.send(`{"type":"ping","payload":${payload}}`);
      expect(await session.closed).toEqual({ code: 4400, reason: 'Invalid message received' });
      await expectHealthy(server);
    });

    it('closes with 1009 a ping larger than the largest message', async () => {
      const session = await openRawGraphqlWs(server, { init: `Bearer ${(await mint({ expiresIn: LONG_LIFETIME })).token}` });
      ping(session, { authorization: `Bearer ${'A'.repeat(MAX_MESSAGE_BYTES)}` });
      expect((await session.closed).code).toBe(1009);
      await expectHealthy(server);
    });

    it('treats prototype-member keys as any other key: echoed, never an inherited authorization', async () => {
      const session = await openRawGraphqlWs(server, { init: `Bearer ${(await mint({ expiresIn: LONG_LIFETIME })).token}` });
      const messages = inbox(session);
      try {
        for (const member of PROTOTYPE_MEMBERS) {
          const text = `{"type":"ping","payload":{${JSON.stringify(member)}:{"authorization":"Bearer ${otherTenant.apiKey}"}}}`;
          session.socket.send(text);
          const pong = await messages.next((m) => m.type === 'pong');
          expect(JSON.stringify(pong)).toBe(
            `{"type":"pong","payload":{${JSON.stringify(member)}:{"authorization":"Bearer ${otherTenant.apiKey}"}}}`,
          );
        }
      } finally {
        session.socket.close();
      }
      await expectHealthy(server);
    });

    it('closes with 4401 a refresh before the connection is acknowledged', async () => {
      const session = await openRawGraphqlWs(server);
      ping(session, { authorization: `Bearer ${partner.apiKey}` });
      expect(await session.closed).toEqual({
        code: 4401,
        reason: 'UNAUTHENTICATED: send connection_init and wait for its ack before refreshing',
      });
      await expectHealthy(server);
    });
  });

  describe('over SSE', () => {
    interface SseEvent {
      event: string | null;
      id: string | null;
      data: string | null;
    }

    /** An SSE stream read to its end (or until `enough` says so), as EventSource parses it. */
    async function openSse(token: string, types: string[], lastEventId: string | null) {
      const abort = new AbortController();
      const response = await fetch(server.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${token}`,
          ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
        },
        body: JSON.stringify({ query: print(LiveEventsDocument), variables: { filter: { types } } }),
        signal: abort.signal,
      });
      expect(response.status).toBe(200);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      const events: SseEvent[] = [];
      let text = '';
      let ended = false;
      return {
        events,
        async until(enough: (events: SseEvent[]) => boolean, timeoutMs = 15_000): Promise<SseEvent[]> {
          const deadline = Date.now() + timeoutMs;
          while (!enough(events) && !ended) {
            if (Date.now() > deadline) throw new Error(`SSE: not enough events in time: ${JSON.stringify(events)}`);
            const { value, done } = await reader.read();
            if (done) {
              ended = true;
              break;
            }
            text += value;
            let end: number;
            while ((end = text.indexOf('\n\n')) >= 0) {
              const lines = text.slice(0, end).split('\n');
              text = text.slice(end + 2);
              const field = (name: string) =>
                lines
                  .find((line) => line.startsWith(`${name}:`))
                  ?.slice(name.length + 1)
                  .trimStart() ?? null;
              if (lines.every((line) => line.startsWith(':'))) continue; // a keep-alive comment
              events.push({ event: field('event'), id: field('id'), data: field('data') });
            }
          }
          return events;
        },
        get ended() {
          return ended;
        },
        close: () => abort.abort(),
      };
    }

    const nodeIds = (events: SseEvent[]) =>
      events
        .filter((e) => e.event === 'next' && e.id !== null)
        .map((e) => (JSON.parse(e.data!) as { data: { events: { node: { id: string } } } }).data.events.node.id);

    it('ends the stream with TOKEN_EXPIRED, and a new token resumes it from Last-Event-ID with every event exactly once', async () => {
      const first = await mint({ expiresIn: SHORT_LIFETIME });
      const stream = await openSse(first.token, ['sse_expiry'], null);
      await waitForSubscriptions(1);
      await ingest('sse_expiry', ['e0', 'e1', 'e2']);
      await stream.until((events) => nodeIds(events).length === 3);

      const all = await stream.until(() => false);
      expect(stream.ended).toBe(true);
      const ending = all.filter((e) => !(e.event === 'next' && e.id !== null));
      expect(ending.map((e) => e.event)).toEqual(['next', 'complete']);
      expect((JSON.parse(ending[0]!.data!) as { errors: { extensions: { code: string } }[] }).errors.map((e) => e.extensions.code)).toEqual(
        ['TOKEN_EXPIRED'],
      );
      expect(nodeIds(all)).toEqual(['e0', 'e1', 'e2']);
      await waitForSubscriptions(0);

      // While the client is away, more events come.
      await ingest('sse_expiry', ['e3', 'e4', 'e5']);
      await waitForProcessing(server.url, 30_000, partner);
      const lastEventId = all.filter((e) => e.event === 'next' && e.id !== null).at(-1)!.id!;
      const second = await mint({ expiresIn: LONG_LIFETIME });
      const resumed = await openSse(second.token, ['sse_expiry'], lastEventId);
      await resumed.until((events) => nodeIds(events).length === 3);
      await waitForSubscriptions(1);
      await ingest('sse_expiry', ['e6']);
      const replayed = await resumed.until((events) => nodeIds(events).length === 4);
      expect(nodeIds(replayed)).toEqual(['e3', 'e4', 'e5', 'e6']);
      resumed.close();
      await waitForSubscriptions(0);
    });
  });
});

describe('refreshes are paid for as operations', () => {
  let server: TestServer;
  beforeAll(async () => {
    // One operation a second, bursts of two (docs/api.md, QUERY_RATE_PER_KEY).
    server = await startServer({ env: { ADMIN_KEY, QUERY_RATE_PER_KEY: '1' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('closes the socket with 4429 and RATE_LIMITED once refreshes outrun the key’s rate', async () => {
    const key = (await query(server.url, CreateApiKeyDocument, { tenant: 'refresh-rate', scopes: ['READ'], name: 'pinger' }, admin))
      .createApiKey.key;
    const session = await openRawGraphqlWs(server, { init: `Bearer ${key}` });
    const pongs: WsMessage[] = [];
    // Far more refreshes than a burst of two allows, faster than one a second comes back.
    for (let i = 0; i < 10; i += 1) session.socket.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${key}` } }));
    for (let message = await session.next(); message; message = await session.next()) pongs.push(message);
    const closed = await session.closed;
    expect(closed.code).toBe(4429);
    expect(closed.reason.startsWith('RATE_LIMITED: ')).toBe(true);
    expect(pongs.length).toBeGreaterThanOrEqual(1);
    expect(pongs.length).toBeLessThan(10);
    expect(new Set(pongs.map((pong) => JSON.stringify(pong)))).toEqual(new Set(['{"type":"pong","payload":{"expiresAt":null}}']));
    await expectHealthy(server);
  });
});

/**
 * Hostile transports, end to end: what a caller (or a web page in a developer's browser) can do
 * through HTTP, SSE and graphql-ws themselves, rather than through the documents it sends.
 *
 * - a subscription that fails (a forged resume cursor, a key revoked while its stream is open)
 *   ends with one error, over SSE as over graphql-ws, and is logged at most once;
 * - open mode is safe in a browser: other origins, other Host names, form posts and cross-site
 *   WebSocket upgrades are refused; CORS opens only for the origins named in CORS_ORIGINS;
 * - the persisted-operation allow-list holds over graphql-ws too;
 * - graphql-ws connections: refused without a valid key, closed without connection_init, capped
 *   per instance and per key; concurrent subscribes cannot overshoot the tenant's cap;
 * - with introspection off, error messages suggest no field names.
 *
 * Every case is followed by GET /health answering within 100 ms.
 */
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer, expectHealthy } from '../support/server.ts';
import { openRawGraphqlWs, type WsMessage, type WsSession } from '../support/raw-graphql-ws.ts';
import { execute, query, waitForLiveSubscriptions, type Credentials } from '../support/clients.ts';
import { CreateApiKeyDocument, ListEventTypesDocument, RevokeApiKeyDocument } from '../generated/operations.ts';

const ADMIN_KEY = 'hostile-transport-suite-admin-key-0123456789';
const admin: Credentials = { apiKey: ADMIN_KEY };
/** The most partitions a stream cursor may name (docs/api.md, Limits). */
const MAX_CURSOR_PARTITIONS = 512;
/** A subscriber that keeps sending error frames is stopped after this many, and fails the case. */
const ENOUGH_FRAMES = 20;

const LIVE_EVENTS = 'subscription Live($after: String) { events(after: $after) { cursor node { id } } }';

/** A stream cursor naming `partitions` partitions, as a forger would write it. */
function forgedCursor(partitions: number): string {
  return Buffer.from(JSON.stringify(['s', Array.from({ length: partitions }, (_, i) => [i, 0])])).toString('base64url');
}

async function createKey(server: TestServer, tenant: string, scopes: ('READ' | 'INGEST' | 'ADMIN')[]) {
  const created = (await query(server.url, CreateApiKeyDocument, { tenant, scopes, name: `${tenant}-${scopes.join('-')}` }, admin))
    .createApiKey;
  return { key: created.key, id: created.apiKey.id };
}

// ---------------------------------------------------------------------------------------------
// Raw clients, so that every frame, status and close code is visible.

interface SseFrame {
  event: string;
  data: string;
}

interface SseStream {
  frames: SseFrame[];
  /** Resolves when the server ended the stream (true), or when the client cut it (false). */
  ended: Promise<{ status: number; endedByServer: boolean }>;
  /** Resolves once the response head has arrived. */
  opened: Promise<void>;
}

/** A POST subscription over SSE; the stream is cut after `timeoutMs` or ENOUGH_FRAMES frames. */
function openSse(server: TestServer, body: unknown, headers: Record<string, string>, timeoutMs = 10_000): SseStream {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const frames: SseFrame[] = [];
  let markOpened = () => {};
  const opened = new Promise<void>((resolve) => (markOpened = resolve));
  const ended = (async () => {
    let status = 0;
    try {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { accept: 'text/event-stream', 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      status = response.status;
      markOpened();
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let pending = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return { status, endedByServer: true };
        pending += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const frame = pending.slice(0, end);
          pending = pending.slice(end + 2);
          if (frame.startsWith(':')) continue; // a keep-alive comment
          const event = /^event: ?(.*)$/m.exec(frame)?.[1] ?? '';
          const data = /^data: ?(.*)$/m.exec(frame)?.[1] ?? '';
          frames.push({ event, data });
        }
        if (frames.length >= ENOUGH_FRAMES) {
          controller.abort();
          return { status, endedByServer: false };
        }
      }
    } catch {
      markOpened();
      return { status, endedByServer: false };
    } finally {
      clearTimeout(timer);
    }
  })();
  return { frames, ended, opened };
}

/** The error codes of an SSE `next` frame's result. */
const codesOf = (frame: SseFrame | undefined): unknown[] =>
  ((JSON.parse(frame?.data || '{}') as { errors?: { extensions?: { code?: string } }[] }).errors ?? []).map((e) => e.extensions?.code);

/** The upgrade's refusal: its HTTP status and body. */
async function refusedUpgrade(attempt: Promise<WsSession>): Promise<{ status: number; body: string }> {
  try {
    const session = await attempt;
    session.socket.close();
  } catch (error) {
    const refusal = error as { status?: number; body?: string };
    if (refusal.status) return { status: refusal.status, body: refusal.body ?? '' };
    throw error;
  }
  throw new Error('the upgrade was accepted');
}

/** The codes of an operation's errors: from an `error` frame, or a `next` frame's result. */
function wsErrorCodes(message: WsMessage | null): unknown[] {
  if (!message) return [];
  const errors = (message.type === 'error' ? message.payload : (message.payload as { errors?: unknown[] } | undefined)?.errors) as
    | { extensions?: { code?: string } }[]
    | undefined;
  return (errors ?? []).map((e) => e.extensions?.code);
}

/** Every message of operation `id` until it ends (complete or error), at most ENOUGH_FRAMES. */
async function messagesUntilEnd(session: WsSession, id: string, timeoutMs = 10_000): Promise<WsMessage[]> {
  const messages: WsMessage[] = [];
  while (messages.length < ENOUGH_FRAMES) {
    const message = await session.next(timeoutMs);
    if (!message) break;
    if (message.id !== id) continue;
    messages.push(message);
    if (message.type === 'complete' || message.type === 'error') {
      // A loop would send more: give it a moment to show itself.
      await new Promise((resolve) => setTimeout(resolve, 200));
      while (true) {
        const more = await Promise.race([session.next(10), new Promise<null>((resolve) => setTimeout(() => resolve(null), 20))]).catch(
          () => null,
        );
        if (!more) break;
        if (more.id === id) messages.push(more);
      }
      break;
    }
  }
  return messages;
}

/** A raw HTTP request, so that Host and Origin are exactly what the case says. */
function rawHttp(
  server: TestServer,
  options: { method: string; path?: string; headers: Record<string, string>; body?: string | Buffer },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const port = Number(new URL(server.baseUrl).port);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port, method: options.method, path: options.path ?? '/graphql', headers: options.headers },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

const errorCode = (body: string): unknown => {
  try {
    return (JSON.parse(body) as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code ?? null;
  } catch {
    return null;
  }
};

// ---------------------------------------------------------------------------------------------

describe('hostile transports with API keys on', () => {
  let server: TestServer;
  let reader: { key: string; id: string };

  beforeAll(async () => {
    server = await startServer({
      env: {
        ADMIN_KEY,
        MAX_SUBSCRIPTIONS_PER_TENANT: '5',
        INTROSPECTION: 'off',
        MAX_WS_CONNECTIONS_PER_KEY: '3',
        MAX_WS_CONNECTIONS_PER_TOKEN: '2',
      },
    });
    reader = await createKey(server, 'transport', ['READ', 'INGEST']);
  });
  afterAll(async () => {
    await server?.stop();
  });

  describe('a failed subscription ends with one error', () => {
    it.each([
      ['the `after` argument', (cursor: string) => ({ body: { query: LIVE_EVENTS, variables: { after: cursor } }, headers: {} })],
      ['Last-Event-ID', (cursor: string) => ({ body: { query: LIVE_EVENTS }, headers: { 'last-event-id': cursor } })],
    ])('SSE: a cursor over 512 partitions in %s is BAD_USER_INPUT, once, and the stream ends', async (_where, request) => {
      const { body, headers } = request(forgedCursor(1_200));
      const stream = openSse(server, body, { authorization: `Bearer ${reader.key}`, ...headers });
      const ended = await stream.ended;
      expect(ended).toEqual({ status: 200, endedByServer: true });
      expect(stream.frames.map((f) => f.event)).toEqual(['next', 'complete']);
      expect(codesOf(stream.frames[0])).toEqual(['BAD_USER_INPUT']);
      expect(stream.frames[0]!.data).toContain(`at most ${MAX_CURSOR_PARTITIONS} partitions`);
      await expectHealthy(server);
    });

    it('SSE: a cursor of 512 partitions is accepted', async () => {
      const stream = openSse(
        server,
        { query: LIVE_EVENTS, variables: { after: forgedCursor(MAX_CURSOR_PARTITIONS) } },
        { authorization: `Bearer ${reader.key}` },
        1_500,
      );
      const ended = await stream.ended;
      // Still open when the client cut it: a live subscription, no error.
      expect(ended).toEqual({ status: 200, endedByServer: false });
      expect(stream.frames).toEqual([]);
      await expectHealthy(server);
    });

    it('SSE: a cursor that is megabytes of text is BAD_USER_INPUT before it is decoded', async () => {
      const stream = openSse(
        server,
        { query: LIVE_EVENTS, variables: { after: 'A'.repeat(900_000) } },
        { authorization: `Bearer ${reader.key}` },
      );
      expect(await stream.ended).toEqual({ status: 200, endedByServer: true });
      expect(codesOf(stream.frames[0])).toEqual(['BAD_USER_INPUT']);
      expect(stream.frames[0]!.data).toContain('too long');
      await expectHealthy(server);
    });

    it('graphql-ws: a cursor over 512 partitions is BAD_USER_INPUT, once, and the operation ends', async () => {
      const session = await openRawGraphqlWs(server, { init: `Bearer ${reader.key}` });
      try {
        session.socket.send(
          JSON.stringify({ id: 'forged', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: { after: forgedCursor(1_200) } } }),
        );
        const messages = await messagesUntilEnd(session, 'forged');
        expect(messages.map((m) => m.type)).toEqual(['next', 'complete']);
        expect(wsErrorCodes(messages[0]!)).toEqual(['BAD_USER_INPUT']);
      } finally {
        session.socket.close();
      }
      await expectHealthy(server);
    });

    it('SSE: revoking the key ends its open stream with one UNAUTHENTICATED, logged at most once', async () => {
      const doomed = await createKey(server, 'revoked-sse', ['READ']);
      const stream = openSse(server, { query: LIVE_EVENTS }, { authorization: `Bearer ${doomed.key}` });
      await stream.opened;
      await waitForLiveSubscriptions(server.url, 1, { apiKey: (await createKey(server, 'revoked-sse', ['READ'])).key });
      await query(server.url, RevokeApiKeyDocument, { id: doomed.id }, admin);
      expect(await stream.ended).toEqual({ status: 200, endedByServer: true });
      expect(stream.frames.map((f) => f.event)).toEqual(['next', 'complete']);
      expect(codesOf(stream.frames[0])).toEqual(['UNAUTHENTICATED']);
      expect(
        server
          .output()
          .split('\n')
          .filter((line) => line.includes('the API key has been revoked')).length,
      ).toBeLessThanOrEqual(1);
      await expectHealthy(server);
    });

    it('graphql-ws: revoking the key ends its subscription with one UNAUTHENTICATED error', async () => {
      const doomed = await createKey(server, 'revoked-ws', ['READ']);
      const session = await openRawGraphqlWs(server, { init: `Bearer ${doomed.key}` });
      try {
        session.socket.send(JSON.stringify({ id: 'live', type: 'subscribe', payload: { query: LIVE_EVENTS } }));
        await waitForLiveSubscriptions(server.url, 1, { apiKey: (await createKey(server, 'revoked-ws', ['READ'])).key });
        await query(server.url, RevokeApiKeyDocument, { id: doomed.id }, admin);
        const messages = await messagesUntilEnd(session, 'live');
        expect(messages.map((m) => m.type)).toEqual(['error']);
        expect(wsErrorCodes(messages[0]!)).toEqual(['UNAUTHENTICATED']);
      } finally {
        session.socket.close();
      }
      await expectHealthy(server);
    });
  });

  describe('graphql-ws connections', () => {
    it('closes a connection_init without a key with 4403', async () => {
      const session = await openRawGraphqlWs(server, { init: null, expectAck: false });
      expect(await session.closed).toEqual({ code: 4403, reason: expect.stringContaining('UNAUTHENTICATED') });
      await expectHealthy(server);
    });

    it('closes a connection_init with a forged key with 4403', async () => {
      const session = await openRawGraphqlWs(server, { init: `Bearer sl_${'a'.repeat(16)}_${'B'.repeat(43)}`, expectAck: false });
      expect((await session.closed).code).toBe(4403);
      await expectHealthy(server);
    });

    it('closes a connection that never sends connection_init with 4408', async () => {
      const session = await openRawGraphqlWs(server);
      expect(await session.closed).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
      await expectHealthy(server);
    });

    it("closes a key's connection past MAX_WS_CONNECTIONS_PER_KEY with 4429", async () => {
      const own = await createKey(server, 'many-sockets', ['READ']);
      const sessions = [];
      try {
        for (let i = 0; i < 3; i++) sessions.push(await openRawGraphqlWs(server, { init: `Bearer ${own.key}` }));
        const fourth = await openRawGraphqlWs(server, { init: `Bearer ${own.key}`, expectAck: false });
        expect(await fourth.closed).toEqual({ code: 4429, reason: expect.stringContaining('3 WebSocket connections') });
        // Another key is not held back by this one.
        const other = await openRawGraphqlWs(server, { init: `Bearer ${reader.key}` });
        other.socket.close();
        // A closed connection frees its slot.
        sessions.pop()!.socket.close();
        await waitForSocketsOf(server, own.key, 2);
      } finally {
        for (const session of sessions) session.socket.close();
      }
      await expectHealthy(server);
    });

    it("counts an access token's connections on their own: past MAX_WS_CONNECTIONS_PER_TOKEN 4429, the key's untouched", async () => {
      const own = await createKey(server, 'token-sockets', ['READ']);
      const mint = async () => {
        const response = await fetch(server.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${own.key}` },
          body: JSON.stringify({ query: 'mutation { createAccessToken(input: { scopes: [READ], expiresIn: "1h" }) { token } }' }),
        });
        return ((await response.json()) as { data: { createAccessToken: { token: string } } }).data.createAccessToken.token;
      };
      const [first, second] = [await mint(), await mint()];
      const sessions = [];
      try {
        for (let i = 0; i < 2; i++) sessions.push(await openRawGraphqlWs(server, { init: `Bearer ${first}` }));
        const third = await openRawGraphqlWs(server, { init: `Bearer ${first}`, expectAck: false });
        expect(await third.closed).toEqual({
          code: 4429,
          reason: 'TOO_MANY_CONNECTIONS: this access token already holds 2 WebSocket connections here, the most it may',
        });
        // Another end user of the same key, and the key itself up to its own cap of 3: five
        // connections of one key's holders, so the tokens' took nothing from the key's count.
        for (let i = 0; i < 2; i++) sessions.push(await openRawGraphqlWs(server, { init: `Bearer ${second}` }));
        for (let i = 0; i < 3; i++) sessions.push(await openRawGraphqlWs(server, { init: `Bearer ${own.key}` }));
      } finally {
        for (const session of sessions) session.socket.close();
      }
      await expectHealthy(server);
    });

    it('holds concurrent subscribes on one socket to MAX_SUBSCRIPTIONS_PER_TENANT', async () => {
      const own = await createKey(server, 'concurrent', ['READ']);
      const session = await openRawGraphqlWs(server, { init: `Bearer ${own.key}` });
      try {
        for (let i = 0; i < 12; i++) {
          session.socket.send(JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: LIVE_EVENTS } }));
        }
        const refused: string[] = [];
        while (refused.length < 7) {
          const message = await session.next();
          if (wsErrorCodes(message).includes('SUBSCRIPTION_LIMIT')) refused.push(message!.id!);
        }
        await waitForLiveSubscriptions(server.url, 5, { apiKey: own.key });
        // Nothing else was refused, and nothing more is open.
        const late = await Promise.race([session.next(300), new Promise<null>((resolve) => setTimeout(() => resolve(null), 500))]).catch(
          () => null,
        );
        expect(wsErrorCodes(late)).toEqual([]);
        expect(refused).toHaveLength(7);
      } finally {
        session.socket.close();
      }
      await expectHealthy(server);
    });
  });

  describe('with introspection off, no field names are suggested', () => {
    it('HTTP: a misspelt field is refused without "Did you mean"', async () => {
      const result = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${reader.key}` },
        body: JSON.stringify({ query: '{ eventTyps { type } }' }),
      });
      const body = (await result.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors.map((e) => e.extensions.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(body.errors[0]!.message).toBe('Cannot query field "eventTyps" on type "Query".');
      await expectHealthy(server);
    });

    it('HTTP: a misspelt input field in variables is refused without "Did you mean"', async () => {
      const result = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${reader.key}` },
        body: JSON.stringify({
          query: 'query($f: EventFilter) { events(filter: $f) { edges { cursor } } }',
          variables: { f: { typez: ['x'] } },
        }),
      });
      const body = (await result.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors.map((e) => e.extensions.code)).toEqual(['BAD_USER_INPUT']);
      expect(body.errors[0]!.message).toContain('"typez" is not defined');
      expect(body.errors[0]!.message).not.toContain('Did you mean');
      await expectHealthy(server);
    });

    it('graphql-ws: a misspelt field is refused without "Did you mean"', async () => {
      const session = await openRawGraphqlWs(server, { init: `Bearer ${reader.key}` });
      try {
        session.socket.send(JSON.stringify({ id: 'typo', type: 'subscribe', payload: { query: 'subscription { evnts { cursor } }' } }));
        const message = await session.next();
        expect(message?.type).toBe('error');
        expect((message!.payload as { message: string }[])[0]!.message).toBe('Cannot query field "evnts" on type "Subscription".');
      } finally {
        session.socket.close();
      }
      await expectHealthy(server);
    });
  });
});

/** Waits until the server holds `count` acknowledged sockets of this key (a new one is acknowledged). */
async function waitForSocketsOf(server: TestServer, key: string, count: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const probes: WsSession[] = [];
    try {
      // With `count` held, exactly 3 - count more are acknowledged.
      let acknowledged = 0;
      for (let i = 0; i < 3 - count + 1; i++) {
        const probe = await openRawGraphqlWs(server, { init: `Bearer ${key}`, expectAck: false });
        probes.push(probe);
        const reply = await probe.next();
        if (reply?.type === 'connection_ack') acknowledged += 1;
      }
      if (acknowledged === 3 - count) return;
    } finally {
      for (const probe of probes) probe.socket.close();
    }
    if (Date.now() > deadline) throw new Error(`the server did not release the key's sockets down to ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('open mode in a browser', () => {
  let server: TestServer;
  let port: number;
  const PARTNER = 'https://partner.example';

  beforeAll(async () => {
    server = await startServer({ env: { CORS_ORIGINS: PARTNER, MAX_WS_CONNECTIONS: '4' } });
    port = Number(new URL(server.baseUrl).port);
  });
  afterAll(async () => {
    await server?.stop();
  });

  const json = JSON.stringify({ query: '{ eventTypes { type } }' });
  const ingest = 'mutation { ingest(events: [{ type: "forged" }]) { accepted } }';

  it.each([
    ['text/plain', ingest],
    ['application/x-www-form-urlencoded', `query=${encodeURIComponent(ingest)}`],
    [
      'multipart/form-data; boundary=x',
      `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: ingest })}\r\n--x--\r\n`,
    ],
    ['application/graphql', ingest],
  ])('refuses a POST of %s with 415 UNSUPPORTED_MEDIA_TYPE', async (contentType, body) => {
    const answer = await rawHttp(server, { method: 'POST', headers: { host: `127.0.0.1:${port}`, 'content-type': contentType }, body });
    expect({ status: answer.status, code: errorCode(answer.body) }).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(JSON.parse(answer.body).errors[0].message).toContain('application/json');
    await expectHealthy(server);
  });

  it('refuses a page of another origin, without CORS headers, before anything runs', async () => {
    for (const method of ['POST', 'GET', 'OPTIONS']) {
      const answer = await rawHttp(server, {
        method,
        path: method === 'GET' ? `/graphql?query=${encodeURIComponent('{ eventTypes { type } }')}` : '/graphql',
        headers: {
          host: `127.0.0.1:${port}`,
          origin: 'https://evil.example',
          'content-type': 'application/json',
          ...(method === 'OPTIONS' ? { 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } : {}),
        },
        ...(method === 'POST' ? { body: json } : {}),
      });
      expect({ method, status: answer.status, code: errorCode(answer.body) }).toEqual({ method, status: 403, code: 'ORIGIN_NOT_ALLOWED' });
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    }
    await expectHealthy(server);
  });

  it('refuses a DNS-rebound Host with 403 HOST_NOT_ALLOWED, and serves the loopback names', async () => {
    const rebound = await rawHttp(server, {
      method: 'POST',
      headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}`, 'content-type': 'application/json' },
      body: json,
    });
    expect({ status: rebound.status, code: errorCode(rebound.body) }).toEqual({ status: 403, code: 'HOST_NOT_ALLOWED' });
    // A name that is not this machine's, even without an Origin (a rebound page's fetch sends one anyway).
    const named = await rawHttp(server, {
      method: 'POST',
      headers: { host: `streamlens.internal:${port}`, 'content-type': 'application/json' },
      body: json,
    });
    expect({ status: named.status, code: errorCode(named.body) }).toEqual({ status: 403, code: 'HOST_NOT_ALLOWED' });
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      // A same-origin page sends its own origin: served.
      const answer = await rawHttp(server, {
        method: 'POST',
        headers: { host, origin: `http://${host}`, 'content-type': 'application/json' },
        body: json,
      });
      expect({ host, status: answer.status, body: answer.body }).toEqual({ host, status: 200, body: '{"data":{"eventTypes":[]}}' });
    }
    await expectHealthy(server);
  });

  it('opens CORS to an origin named in CORS_ORIGINS, and only to it', async () => {
    const preflight = await rawHttp(server, {
      method: 'OPTIONS',
      headers: {
        host: `127.0.0.1:${port}`,
        origin: PARTNER,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(PARTNER);
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    const answer = await rawHttp(server, {
      method: 'POST',
      headers: { host: `127.0.0.1:${port}`, origin: PARTNER, 'content-type': 'application/json' },
      body: json,
    });
    expect({ status: answer.status, allow: answer.headers['access-control-allow-origin'] }).toEqual({ status: 200, allow: PARTNER });
    await expectHealthy(server);
  });

  it('keeps GET queries read-only: a mutation over GET is 405', async () => {
    const answer = await rawHttp(server, {
      method: 'GET',
      path: `/graphql?query=${encodeURIComponent(ingest)}`,
      headers: { host: `127.0.0.1:${port}`, accept: 'application/json' },
    });
    expect(answer.status).toBe(405);
    await expectHealthy(server);
  });

  it('refuses a cross-site WebSocket upgrade and a rebound Host with 403; serves non-browser and same-origin clients', async () => {
    const crossSite = await refusedUpgrade(openRawGraphqlWs(server, { headers: { origin: 'https://evil.example' } }));
    expect(crossSite).toEqual({ status: 403, body: expect.stringContaining('ORIGIN_NOT_ALLOWED') });
    const rebound = await refusedUpgrade(openRawGraphqlWs(server, { headers: { host: `evil.example:${port}` } }));
    expect(rebound).toEqual({ status: 403, body: expect.stringContaining('HOST_NOT_ALLOWED') });
    for (const headers of [{}, { origin: `http://127.0.0.1:${port}` }, { origin: PARTNER }] as Record<string, string>[]) {
      const session = await openRawGraphqlWs(server, { init: null, headers });
      session.socket.close();
      await session.closed;
    }
    await expectHealthy(server);
  });

  it('refuses a WebSocket upgrade past MAX_WS_CONNECTIONS with 503', async () => {
    const sessions: WsSession[] = [];
    try {
      for (let i = 0; i < 4; i++) sessions.push(await openRawGraphqlWs(server, { init: null }));
      const refused = await refusedUpgrade(openRawGraphqlWs(server, { init: null }));
      expect(refused).toEqual({ status: 503, body: expect.stringContaining('TOO_MANY_CONNECTIONS') });
    } finally {
      for (const session of sessions) session.socket.close();
    }
    await Promise.all(sessions.map((session) => session.closed));
    await expectHealthy(server);
  });
});

describe('persisted operations on every transport', () => {
  let server: TestServer;
  const dir = mkdtempSync(join(tmpdir(), 'streamlens-persisted-ws-'));
  const operations = join(dir, 'persisted-documents.json');

  beforeAll(async () => {
    writeFileSync(operations, JSON.stringify({ 'list-types': print(ListEventTypesDocument), 'live-events': LIVE_EVENTS }));
    server = await startServer({ env: { NODE_ENV: 'production', PERSISTED_OPERATIONS_FILE: operations } });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const arbitrary = 'mutation { ingest(events: [{ type: "smuggled" }]) { accepted } }';

  it('HTTP and graphql-ws refuse an arbitrary document with the same code', async () => {
    const overHttp = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: arbitrary }),
    });
    const httpCode = errorCode(await overHttp.text());
    expect(httpCode).toBe('CANNOT_SEND_PQ_ID_AND_BODY');
    const session = await openRawGraphqlWs(server, { init: null });
    try {
      session.socket.send(JSON.stringify({ id: 'smuggled', type: 'subscribe', payload: { query: arbitrary } }));
      const message = await session.next();
      expect(message?.type).toBe('error');
      expect(wsErrorCodes(message)).toEqual([httpCode]);
    } finally {
      session.socket.close();
    }
    const stored = await execute(server.url, ListEventTypesDocument);
    expect(stored.errors?.[0]?.extensions?.code).toBe('CANNOT_SEND_PQ_ID_AND_BODY');
    await expectHealthy(server);
  });

  it('graphql-ws runs a listed operation by documentId or persistedQuery hash, and refuses an unknown id', async () => {
    const session = await openRawGraphqlWs(server, { init: null });
    try {
      session.socket.send(JSON.stringify({ id: 'by-id', type: 'subscribe', payload: { query: '', documentId: 'list-types' } }));
      expect(await session.next()).toEqual({ id: 'by-id', type: 'next', payload: { data: { eventTypes: [] } } });
      expect(await session.next()).toEqual({ id: 'by-id', type: 'complete' });
      session.socket.send(
        JSON.stringify({
          id: 'by-hash',
          type: 'subscribe',
          payload: { query: '', extensions: { persistedQuery: { version: 1, sha256Hash: 'list-types' } } },
        }),
      );
      expect(await session.next()).toEqual({ id: 'by-hash', type: 'next', payload: { data: { eventTypes: [] } } });
      expect(await session.next()).toEqual({ id: 'by-hash', type: 'complete' });
      session.socket.send(JSON.stringify({ id: 'unknown', type: 'subscribe', payload: { query: '', documentId: 'no-such-operation' } }));
      const unknown = await session.next();
      expect(unknown?.type).toBe('error');
      expect(wsErrorCodes(unknown)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
      session.socket.send(JSON.stringify({ id: 'none', type: 'subscribe', payload: { query: '' } }));
      expect(wsErrorCodes(await session.next())).toEqual(['PERSISTED_QUERY_ID_REQUIRED']);
    } finally {
      session.socket.close();
    }
    await expectHealthy(server);
  });
});

/**
 * A graphql-ws ping as a token refresh, without sockets: what a payload asks for, the pong or the
 * close it is answered with, and refreshes of one connection applied in the order they came.
 */
import { describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type { Authentication, Principal } from '../../src/auth/authenticator.ts';
import type { ConnectionCredentials } from '../../src/live/connection-credentials.ts';
import { createPingAnswer, pingRequestOf } from '../../src/server/graphql-ws-refresh.ts';

describe('what a ping asks for', () => {
  it('is a keep-alive without an own authorization', () => {
    for (const payload of [undefined, null, {}, [], { other: 1 }, JSON.parse('{"__proto__":{"authorization":"Bearer x"}}')]) {
      expect(pingRequestOf(payload)).toEqual({ kind: 'keepAlive' });
    }
    expect(pingRequestOf(Object.create({ authorization: 'Bearer inherited' }))).toEqual({ kind: 'keepAlive' });
  });

  it('is a refresh with a string authorization, malformed with any other', () => {
    expect(pingRequestOf({ authorization: 'Bearer abc', other: 1 })).toEqual({ kind: 'refresh', authorization: 'Bearer abc' });
    for (const authorization of [null, 1, true, {}, ['Bearer abc']])
      expect(pingRequestOf({ authorization })).toEqual({ kind: 'malformed' });
  });
});

const tokenOf = (id: string, expiresAt: number, tenant = 'acme'): Principal => ({
  tenant,
  keyId: 'key-1',
  scopes: new Set(['READ']),
  isRootAdmin: false,
  token: { id, expiresAt, slice: { types: null, where: [] }, queriesPerSecond: null, eventsPerSecond: null },
});

function fakeSocket() {
  const closes: { code: number; reason: string }[] = [];
  const socket = {
    OPEN: 1,
    readyState: 1,
    close(code: number, reason: string) {
      closes.push({ code, reason });
      socket.readyState = 3;
    },
  };
  const connection = { socket: socket as unknown as WebSocket, requestId: 'request-1', remoteAddress: '127.0.0.1' };
  return { connection, closes };
}

describe('answering a refresh', () => {
  it('applies refreshes of one connection in the order their pings came, whatever order their checks end in', async () => {
    const credentials: ConnectionCredentials = { authorization: 'Bearer t0', principal: tokenOf('t0', 1_000) };
    const followed: string[] = [];
    const releases: (() => void)[] = [];
    const answer = createPingAnswer({
      credentialsOf: () => credentials,
      // The first check is slow: it ends only after the second one was asked for.
      authenticate: (authorization) =>
        new Promise<Authentication>((resolve) => {
          const id = authorization.slice('Bearer '.length);
          releases.push(() => resolve({ ok: true, principal: tokenOf(id, id === 't1' ? 2_000 : 3_000) }));
        }),
      follow: (connection) => followed.push(connection.authorization!),
    });
    const { connection } = fakeSocket();
    const first = answer(connection, { authorization: 'Bearer t1' });
    const second = answer(connection, { authorization: 'Bearer t2' });
    await Promise.resolve();
    releases[0]!();
    expect(await first).toEqual({ expiresAt: '1970-01-01T00:00:02.000Z' });
    await Promise.resolve();
    releases[1]!();
    expect(await second).toEqual({ expiresAt: '1970-01-01T00:00:03.000Z' });
    expect(followed).toEqual(['Bearer t1', 'Bearer t2']);
    expect(credentials.authorization).toBe('Bearer t2');
  });

  it('closes with 4403 for another tenant and leaves the credentials as they were', async () => {
    const credentials: ConnectionCredentials = { authorization: 'Bearer t0', principal: tokenOf('t0', 1_000) };
    const answer = createPingAnswer({
      credentialsOf: () => credentials,
      authenticate: async () => ({ ok: true, principal: tokenOf('t1', 2_000, 'other') }),
      follow: () => {
        throw new Error('no refresh may be applied');
      },
    });
    const { connection, closes } = fakeSocket();
    expect(await answer(connection, { authorization: 'Bearer t1' })).toBeNull();
    expect(closes).toEqual([{ code: 4403, reason: 'FORBIDDEN: the new credential is of another tenant than this connection' }]);
    expect(credentials.authorization).toBe('Bearer t0');
  });

  it('closes with 4401 before the connection is acknowledged, and echoes a keep-alive', async () => {
    const answer = createPingAnswer({
      credentialsOf: () => undefined,
      authenticate: async () => ({ ok: false, reason: 'unknown' }),
      follow: () => {},
    });
    const { connection, closes } = fakeSocket();
    expect(await answer(connection, { hello: 'there' })).toEqual({ hello: 'there' });
    expect(await answer(connection, undefined)).toBeUndefined();
    expect(await answer(connection, { authorization: 'Bearer t1' })).toBeNull();
    expect(closes).toEqual([{ code: 4401, reason: 'UNAUTHENTICATED: send connection_init and wait for its ack before refreshing' }]);
  });
});

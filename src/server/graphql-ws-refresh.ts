/**
 * Refreshing a graphql-ws connection's token without reconnecting (contract: "Refresh without
 * reconnecting"). A `ping` whose payload has an `authorization` replaces the connection's
 * credentials; its `pong` payload is `{ "expiresAt": "<ISO time>" }` (null when the new credential
 * is an API key, which never expires). Any other ping is a keep-alive, answered as graphql-ws
 * always did: its payload echoed.
 *
 * - An authorization that is not a valid credential (not a string, malformed, unknown, revoked,
 *   expired), or one of another tenant than the connection's, closes the socket with 4403 and a
 *   short reason, as a refused connection_init does. Failures pay from the remote address's
 *   bucket for calls without a valid key (guessing tokens by ping is no cheaper than by HTTP), a
 *   valid refresh one operation of its key (it costs a verification and a visit of every
 *   subscription of the connection); past either rate the socket closes with 4429.
 * - A valid one: new operations on the connection use it, and each open subscription goes on
 *   under its expiry or ends with FORBIDDEN (src/live/connection-credentials.ts).
 * - A ping with an authorization before the connection is acknowledged closes it with 4401, as a
 *   subscribe before the acknowledgement does: there are no credentials yet to replace.
 *
 * Refreshes of one connection apply one at a time, in the order their pings arrived, so two pings
 * in quick succession leave the connection with the later one's token.
 */
import type { WebSocket } from 'ws';
import type { Authentication } from '../auth/authenticator.ts';
import { pongPayloadOf, type ConnectionCredentials } from '../live/connection-credentials.ts';
import { StreamlensError } from '../errors.ts';
import { refusalReason } from './errors.ts';
import {
  CLOSE_FORBIDDEN,
  CLOSE_TOO_MANY_CONNECTIONS,
  closeReasonOfRefusal,
  MAX_CLOSE_REASON_CHARACTERS,
} from './graphql-ws-connections.ts';
import type { PingAnswer, SocketExtra } from './graphql-ws-socket.ts';

/** graphql-ws's close code for an operation before the connection is acknowledged. */
export const CLOSE_UNAUTHORIZED = 4401;

export type PingRequest =
  /** A keep-alive (no payload, or one without `authorization`): answered with the payload echoed. */
  | { kind: 'keepAlive' }
  /** A refresh to this authorization (checked like a connection_init's). */
  | { kind: 'refresh'; authorization: string }
  /** A refresh whose authorization is not a string. */
  | { kind: 'malformed' };

/** What a ping's payload asks for. Only an own `authorization` counts: never one inherited through `__proto__`. */
export function pingRequestOf(payload: unknown): PingRequest {
  if (typeof payload !== 'object' || payload === null || !Object.hasOwn(payload, 'authorization')) return { kind: 'keepAlive' };
  const authorization = (payload as { authorization: unknown }).authorization;
  return typeof authorization === 'string' ? { kind: 'refresh', authorization } : { kind: 'malformed' };
}

export interface RefreshDependencies {
  /** The connection's credentials, once its connection_init was acknowledged. */
  credentialsOf(socket: WebSocket): ConnectionCredentials | undefined;
  /** Checks an authorization as a connection_init's is checked, and charges the refresh (rejects with RATE_LIMITED). */
  authenticate(authorization: string, remoteAddress: string | null): Promise<Authentication>;
  /** Moves the connection's open subscriptions under its new credentials. */
  follow(connection: ConnectionCredentials): void;
}

const ANOTHER_TENANT_REASON = refusalReason('FORBIDDEN', 'the new credential is of another tenant than this connection');
const MALFORMED_REASON = closeReasonOfRefusal('malformed');
const NOT_ACKNOWLEDGED_REASON = refusalReason('UNAUTHENTICATED', 'send connection_init and wait for its ack before refreshing');

export function createPingAnswer(dependencies: RefreshDependencies): PingAnswer {
  /** Each connection's refresh in progress: the next one waits for it. */
  const inProgress = new WeakMap<ConnectionCredentials, Promise<unknown>>();

  async function refresh({ socket, remoteAddress }: SocketExtra, credentials: ConnectionCredentials, authorization: string) {
    // An earlier refresh closed the socket: nothing is left to refresh.
    if (socket.readyState !== socket.OPEN) return null;
    let auth: Authentication;
    try {
      auth = await dependencies.authenticate(authorization, remoteAddress);
    } catch (error) {
      if (!(error instanceof StreamlensError) || error.code !== 'RATE_LIMITED') throw error;
      socket.close(CLOSE_TOO_MANY_CONNECTIONS, refusalReason(error.code, error.message).slice(0, MAX_CLOSE_REASON_CHARACTERS));
      return null;
    }
    if (!auth.ok) {
      socket.close(CLOSE_FORBIDDEN, closeReasonOfRefusal(auth.reason));
      return null;
    }
    if (auth.principal.tenant !== credentials.principal.tenant) {
      socket.close(CLOSE_FORBIDDEN, ANOTHER_TENANT_REASON);
      return null;
    }
    // The socket closed while the credential was checked: its subscriptions are ending anyway.
    if (socket.readyState !== socket.OPEN) return null;
    credentials.authorization = authorization;
    credentials.principal = auth.principal;
    dependencies.follow(credentials);
    return pongPayloadOf(auth.principal);
  }

  return async (connection, payload) => {
    const { socket } = connection;
    const request = pingRequestOf(payload);
    // As graphql-ws answers a ping: the payload back, or no payload when it had none.
    if (request.kind === 'keepAlive') return payload ?? undefined;
    const credentials = dependencies.credentialsOf(socket);
    if (!credentials) {
      socket.close(CLOSE_UNAUTHORIZED, NOT_ACKNOWLEDGED_REASON);
      return null;
    }
    if (request.kind === 'malformed') {
      socket.close(CLOSE_FORBIDDEN, MALFORMED_REASON);
      return null;
    }
    const previous = inProgress.get(credentials) ?? Promise.resolve();
    const refreshed = previous.then(() => refresh(connection, credentials, request.authorization));
    // A failed refresh (an unexpected error closes the socket) must not stop the next one waiting.
    inProgress.set(
      credentials,
      refreshed.catch(() => {}),
    );
    return refreshed;
  };
}

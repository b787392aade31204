/**
 * The page's GraphQL client: queries over fetch, subscriptions over graphql-ws, both on
 * /graphql of the page's own origin, both carrying the API key or access token when one is set
 * (`Authorization: Bearer …` over HTTP, `connectionParams.authorization` over graphql-ws). It also
 * turns graphql-ws's socket events into the connection state the page shows, tells the page when
 * the server says its token has expired, and refreshes a token in place with a graphql-ws `ping`.
 */
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { isAccessToken } from './access.ts';

export const GRAPHQL_PATH = '/graphql';

/**
 * - connecting: the first connection is being made (and retried);
 * - connected: live since the page loaded;
 * - reconnecting: the connection was lost and is being retried;
 * - resumed: live again after a loss (the subscriptions resumed from their last cursors);
 * - disconnected: the server refused the connection for good (for example a bad API key);
 * - expired: the access token has expired (the page asks for a fresh one).
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'resumed' | 'disconnected' | 'expired';

/** The code the server gives a request or subscription made with an expired access token. */
export const TOKEN_EXPIRED = 'TOKEN_EXPIRED';
/** The code the server gives a subscription resumed from a cursor too old to resume from. */
export const CURSOR_EXPIRED = 'CURSOR_EXPIRED';
/** The code the server ends a subscription with when it fell too far behind: subscribe again from the last cursor. */
export const SUBSCRIBER_TOO_SLOW = 'SUBSCRIBER_TOO_SLOW';
/** graphql-ws's Forbidden close code: a connection_init, or a refresh, with a credential it refuses. */
const CLOSE_FORBIDDEN = 4403;

/** An error the server answered, with its `extensions.code` when it gave one. */
export class ApiError extends Error {
  readonly code: string | null;
  constructor(message: string, code: string | null) {
    super(message);
    this.code = code;
  }
}

export interface Api {
  query<Result, Variables>(document: TypedDocumentNode<Result, Variables>, variables: Variables): Promise<Result>;
  /**
   * Returns the function that ends the subscription. graphql-ws subscribes again by itself after a
   * reconnect; `variables` may be a function, called at every (re)subscription, so a resumable
   * subscription names the last cursor it received (`after`) when it subscribes again.
   */
  subscribe<Result, Variables>(
    document: TypedDocumentNode<Result, Variables>,
    variables: Variables | (() => Variables),
    onData: (data: Result) => void,
    onError: (error: ApiError) => void,
  ): () => void;
  /**
   * Replaces the access token without reconnecting: new queries send the new one at once, and the
   * open graphql-ws connection takes it through a `ping` whose payload is `{ authorization }`, so
   * its subscriptions go on. Resolves with the expiry the server's `pong` names (ms since the
   * epoch), or null when there is no open connection or the server did not take the token that
   * way (the caller then reconnects with it).
   */
  refresh(token: string): Promise<number | null>;
  dispose(): void;
}

export interface ApiOptions {
  /** An API key or an access token; null: none (open mode). */
  credential: string | null;
  onConnectionState(state: ConnectionState, detail?: string): void;
  /** The server said the access token has expired: on a request, a subscription, or the connection. */
  onTokenExpired(): void;
}

interface GraphQLError {
  message: string;
  extensions?: { code?: unknown };
}

interface GraphQLResponse<Result> {
  data?: Result | null;
  errors?: GraphQLError[];
}

/** One error for the page out of a GraphQL `errors` list: every message, and the first code. */
function apiErrorOf(errors: readonly GraphQLError[] | undefined): ApiError {
  const message = (errors ?? []).map((error) => error.message).join('; ') || 'unknown error';
  const code = errors?.map((error) => error.extensions?.code).find((candidate) => typeof candidate === 'string');
  return new ApiError(message, (code as string | undefined) ?? null);
}

function isCloseEvent(value: unknown): value is { code: number; reason: string } {
  return typeof value === 'object' && value !== null && typeof (value as { code?: unknown }).code === 'number';
}

/** The server closes a connection whose token has expired with 4403 and a reason starting with the code. */
function isTokenExpiredClose(event: unknown): boolean {
  return isCloseEvent(event) && event.code === CLOSE_FORBIDDEN && String(event.reason).startsWith(TOKEN_EXPIRED);
}

/** Waits between reconnection attempts: quick at first, then every few seconds, never giving up. */
function waitBeforeRetry(retries: number): Promise<void> {
  const backoff = Math.min(500 * 2 ** retries, 4_000);
  // Jitter, so that many pages do not all reconnect at the same instant after a restart.
  return new Promise((resolve) => setTimeout(resolve, backoff + Math.random() * 500));
}

export function createApi(options: ApiOptions): Api {
  let credential = options.credential;
  const authorization = () => (credential ? `Bearer ${credential}` : null);
  const webSocketUrl = new URL(GRAPHQL_PATH, location.href);
  webSocketUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

  let everConnected = false;
  let disposed = false;
  /** Why the server refused the connection for good (graphql-ws gave up): nothing more is tried. */
  let refused: ApiError | null = null;
  /** The open, acknowledged socket: where a refresh `ping` goes. */
  let socket: WebSocket | null = null;
  /** A refresh waiting for its `pong`. */
  let awaitingPong: ((expiresAt: number | null) => void) | null = null;
  const settleRefresh = (expiresAt: number | null) => {
    const settle = awaitingPong;
    awaitingPong = null;
    settle?.(expiresAt);
  };
  /** Every error the server answers passes here, so an expired token is noticed wherever it shows. */
  const noticed = (error: ApiError): ApiError => {
    if (error.code === TOKEN_EXPIRED && !disposed) options.onTokenExpired();
    return error;
  };

  const client: Client = createClient({
    url: webSocketUrl.href,
    // Connect at once rather than at the first subscription, so the page shows the state early.
    lazy: false,
    // Read at every (re)connection: after a refresh, a reconnect sends the new token.
    connectionParams: () => {
      const current = authorization();
      return current ? { authorization: current } : {};
    },
    retryAttempts: Infinity,
    // A refused token never becomes valid by trying again (an expired one least of all): stop, and
    // let the page say why. A refused key is retried, as before: keys can be created meanwhile.
    shouldRetry: (event) => !(credential && isAccessToken(credential) && isCloseEvent(event) && event.code === CLOSE_FORBIDDEN),
    retryWait: waitBeforeRetry,
    // A ping every 10 s notices a dead connection (a server that vanished without closing it).
    keepAlive: 10_000,
    onNonLazyError: (error) => {
      if (disposed) return;
      refused = new ApiError(describeCloseReason(error, credential), isTokenExpiredClose(error) ? TOKEN_EXPIRED : null);
      if (isTokenExpiredClose(error)) options.onTokenExpired();
      else options.onConnectionState('disconnected', refused.message);
    },
    on: {
      connecting: () => {
        if (!disposed && !everConnected && !refused) options.onConnectionState('connecting');
      },
      connected: (connectedSocket) => {
        if (disposed) return;
        socket = connectedSocket as WebSocket;
        options.onConnectionState(everConnected ? 'resumed' : 'connected');
        everConnected = true;
      },
      // Keep-alive pongs carry nothing; the answer to a refresh carries `expiresAt` (an older
      // server echoes the ping's payload instead: no expiry, so the caller reconnects).
      pong: (received, payload) => {
        if (!received || payload === undefined) return;
        const expiresAt = typeof payload.expiresAt === 'string' ? Date.parse(payload.expiresAt) : Number.NaN;
        settleRefresh(Number.isFinite(expiresAt) ? expiresAt : null);
      },
      closed: (event) => {
        socket = null;
        settleRefresh(null);
        if (disposed) return;
        if (isTokenExpiredClose(event)) options.onTokenExpired();
        else if (everConnected) options.onConnectionState('reconnecting');
      },
    },
  });

  return {
    async query(document, variables) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
      };
      const current = authorization();
      if (current) headers.authorization = current;
      const response = await fetch(GRAPHQL_PATH, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query: print(document), variables }),
      });
      const body = (await response.json().catch(() => null)) as GraphQLResponse<never> | null;
      if (!body) throw new ApiError(`HTTP ${response.status} ${response.statusText}`, null);
      if (body.errors?.length || !body.data) throw noticed(apiErrorOf(body.errors));
      return body.data;
    },

    subscribe(document, variables, onData, onError) {
      // Refused for good: a new subscription would only open a socket to be refused again.
      if (refused) {
        onError(refused);
        return () => {};
      }
      const query = print(document);
      const variablesNow = () => (typeof variables === 'function' ? (variables as () => unknown)() : variables) as Record<string, unknown>;
      // graphql-ws sends this same payload object again at each re-subscription after a reconnect,
      // serialising it then: a getter makes that re-subscription carry the variables of that moment.
      const payload = {
        query,
        get variables() {
          return variablesNow();
        },
      };
      return client.subscribe(payload, {
        next: (result) => {
          if (result.errors?.length) onError(noticed(apiErrorOf(result.errors as GraphQLError[])));
          else if (result.data) onData(result.data as never);
        },
        error: (error) =>
          onError(
            noticed(
              Array.isArray(error)
                ? apiErrorOf(error as GraphQLError[])
                : new ApiError(describeCloseReason(error, credential), isTokenExpiredClose(error) ? TOKEN_EXPIRED : null),
            ),
          ),
        complete: () => {},
      });
    },

    refresh(token) {
      credential = token;
      settleRefresh(null);
      if (!socket || socket.readyState !== WebSocket.OPEN) return Promise.resolve(null);
      const openSocket = socket;
      return new Promise((resolve) => {
        awaitingPong = resolve;
        openSocket.send(JSON.stringify({ type: 'ping', payload: { authorization: authorization() } }));
      });
    },

    dispose() {
      disposed = true;
      settleRefresh(null);
      void client.dispose();
    },
  };
}

function describeCloseReason(error: unknown, credential: string | null): string {
  if (error instanceof Error) return error.message;
  const close = error as { code?: number; reason?: string } | null;
  if (close && typeof close.code === 'number') {
    if (isTokenExpiredClose(close)) return 'the access token has expired';
    if (close.code === 4401 || close.code === 4403) {
      return `the server refused the ${credential && isAccessToken(credential) ? 'access token' : 'API key'}`;
    }
    return `closed with code ${close.code}${close.reason ? `: ${close.reason}` : ''}`;
  }
  return String(error);
}

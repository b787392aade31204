/**
 * The page's GraphQL client: queries over fetch, subscriptions over graphql-ws, both on
 * /graphql of the page's own origin, both carrying the API key when one is set. It also turns
 * graphql-ws's socket events into the connection state the page shows.
 */
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';

export const GRAPHQL_PATH = '/graphql';

/**
 * - connecting: the first connection is being made (and retried);
 * - connected: live since the page loaded;
 * - reconnecting: the connection was lost and is being retried;
 * - resumed: live again after a loss (the page has re-read what it missed);
 * - disconnected: the server refused the connection for good (for example a bad API key).
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'resumed' | 'disconnected';

export interface Api {
  query<Result, Variables>(document: TypedDocumentNode<Result, Variables>, variables: Variables): Promise<Result>;
  /** Returns the function that ends the subscription. graphql-ws re-subscribes by itself after a reconnect. */
  subscribe<Result, Variables>(
    document: TypedDocumentNode<Result, Variables>,
    variables: Variables,
    onData: (data: Result) => void,
    onError: (message: string) => void,
  ): () => void;
  dispose(): void;
}

export interface ApiOptions {
  apiKey: string | null;
  onConnectionState(state: ConnectionState, detail?: string): void;
}

interface GraphQLResponse<Result> {
  data?: Result | null;
  errors?: { message: string }[];
}

function errorMessage(errors: readonly { message: string }[] | undefined): string {
  return (errors ?? []).map((error) => error.message).join('; ') || 'unknown error';
}

/** Waits between reconnection attempts: quick at first, then every few seconds, never giving up. */
function waitBeforeRetry(retries: number): Promise<void> {
  const backoff = Math.min(500 * 2 ** retries, 4_000);
  // Jitter, so that many pages do not all reconnect at the same instant after a restart.
  return new Promise((resolve) => setTimeout(resolve, backoff + Math.random() * 500));
}

export function createApi(options: ApiOptions): Api {
  const authorization = options.apiKey ? `Bearer ${options.apiKey}` : null;
  const webSocketUrl = new URL(GRAPHQL_PATH, location.href);
  webSocketUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

  let everConnected = false;
  let disposed = false;
  const client: Client = createClient({
    url: webSocketUrl.href,
    // Connect at once rather than at the first subscription, so the page shows the state early.
    lazy: false,
    connectionParams: () => (authorization ? { authorization } : {}),
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: waitBeforeRetry,
    // A ping every 10 s notices a dead connection (a server that vanished without closing it).
    keepAlive: 10_000,
    onNonLazyError: (error) => {
      options.onConnectionState('disconnected', describeCloseReason(error));
    },
    on: {
      connecting: () => {
        if (!disposed && !everConnected) options.onConnectionState('connecting');
      },
      connected: () => {
        if (disposed) return;
        options.onConnectionState(everConnected ? 'resumed' : 'connected');
        everConnected = true;
      },
      closed: () => {
        if (!disposed && everConnected) options.onConnectionState('reconnecting');
      },
    },
  });

  return {
    async query(document, variables) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
      };
      if (authorization) headers.authorization = authorization;
      const response = await fetch(GRAPHQL_PATH, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query: print(document), variables }),
      });
      const body = (await response.json().catch(() => null)) as GraphQLResponse<never> | null;
      if (!body) throw new Error(`HTTP ${response.status} ${response.statusText}`);
      if (body.errors?.length || !body.data) throw new Error(errorMessage(body.errors));
      return body.data;
    },

    subscribe(document, variables, onData, onError) {
      return client.subscribe(
        { query: print(document), variables: variables as Record<string, unknown> },
        {
          next: (result) => {
            if (result.errors?.length) onError(errorMessage(result.errors));
            else if (result.data) onData(result.data as never);
          },
          error: (error) => onError(Array.isArray(error) ? errorMessage(error) : describeCloseReason(error)),
          complete: () => {},
        },
      );
    },

    dispose() {
      disposed = true;
      void client.dispose();
    },
  };
}

function describeCloseReason(error: unknown): string {
  if (error instanceof Error) return error.message;
  const close = error as { code?: number; reason?: string } | null;
  if (close && typeof close.code === 'number') {
    if (close.code === 4401 || close.code === 4403) return 'the server refused the API key';
    return `closed with code ${close.code}${close.reason ? `: ${close.reason}` : ''}`;
  }
  return String(error);
}

/**
 * Real GraphQL clients: fetch over HTTP, graphql-ws over WebSocket, graphql-sse over SSE,
 * all driven by the typed documents that codegen generates from test/operations.
 */
import { print, type ExecutionResult } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { createClient as createSseClient, type Client as SseClient } from 'graphql-sse';
import WebSocket from 'ws';
import { ReadStreamStatusDocument } from '../generated/operations.ts';

/** An API key to send with every request of a helper, as `Authorization: Bearer <key>`. */
export interface Credentials {
  apiKey?: string;
}

const authorization = (credentials?: Credentials): Record<string, string> =>
  credentials?.apiKey ? { authorization: `Bearer ${credentials.apiKey}` } : {};

export async function execute<R, V>(
  url: string,
  document: TypedDocumentNode<R, V>,
  variables?: V,
  credentials?: Credentials,
): Promise<ExecutionResult<R>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...authorization(credentials) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return (await response.json()) as ExecutionResult<R>;
}

/** Executes and fails loudly on any GraphQL error: for the steps a test relies on. */
export async function query<R, V>(url: string, document: TypedDocumentNode<R, V>, variables?: V, credentials?: Credentials): Promise<R> {
  const result = await execute(url, document, variables, credentials);
  if (result.errors?.length || !result.data) {
    throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}

/** A subscription's received items, with a way to wait for a number of them. */
export interface Collected<R> {
  items: R[];
  errors: unknown[];
  waitFor(count: number, timeoutMs?: number): Promise<R[]>;
  stop(): void;
}

function collector<R>(): { collected: Collected<R>; push(item: R): void; fail(error: unknown): void; setStop(stop: () => void): void } {
  const items: R[] = [];
  const errors: unknown[] = [];
  let waiters: (() => void)[] = [];
  let stop = () => {};
  const notify = () => {
    for (const waiter of waiters) waiter();
  };
  return {
    collected: {
      items,
      errors,
      waitFor(count, timeoutMs = 10_000) {
        return new Promise((resolve, reject) => {
          const check = () => {
            if (items.length >= count) {
              waiters = waiters.filter((w) => w !== check);
              clearTimeout(timer);
              resolve(items.slice(0, count));
            } else if (errors.length > 0) {
              clearTimeout(timer);
              reject(new Error(`subscription failed: ${JSON.stringify(errors)}`));
            }
          };
          const timer = setTimeout(() => {
            waiters = waiters.filter((w) => w !== check);
            reject(
              new Error(`expected ${count} items within ${timeoutMs} ms, got ${items.length}: ${JSON.stringify(items).slice(0, 2000)}`),
            );
          }, timeoutMs);
          waiters.push(check);
          check();
        });
      },
      stop: () => stop(),
    },
    push(item) {
      items.push(item);
      notify();
    },
    fail(error) {
      errors.push(error);
      notify();
    },
    setStop(fn) {
      stop = fn;
    },
  };
}

export function wsClient(wsUrl: string, credentials?: Credentials): WsClient {
  return createWsClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    ...(credentials?.apiKey ? { connectionParams: { authorization: `Bearer ${credentials.apiKey}` } } : {}),
  });
}

/** The subscribe call graphql-ws and graphql-sse clients share. */
interface SubscribingClient {
  subscribe<R>(
    request: { query: string; variables: Record<string, unknown> },
    sink: { next(result: ExecutionResult<R>): void; error(error: unknown): void; complete(): void },
  ): () => void;
}

/** Subscribes with either client. Pair with waitForLiveSubscriptions before ingesting. */
export async function subscribe<R, V>(client: SubscribingClient, document: TypedDocumentNode<R, V>, variables: V): Promise<Collected<R>> {
  const c = collector<R>();
  const stop = client.subscribe<R>(
    { query: print(document), variables: variables as Record<string, unknown> },
    {
      next: (result) => (result.errors ? c.fail(result.errors) : c.push(result.data as R)),
      error: (error) => c.fail(error),
      complete: () => {},
    },
  );
  c.setStop(stop);
  return c.collected;
}

export function sseClient(url: string, credentials?: Credentials): SseClient {
  return createSseClient({ url, singleConnection: false, retryAttempts: 0, headers: authorization(credentials) });
}

/** Polls until `check` returns a truthy value: used only to wait for the processor to catch up. */
export async function waitUntil<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Neither graphql-ws nor SSE acknowledges a subscription before its first event, and a
 * subscription sees only what is processed after it starts: wait until the server serves
 * exactly `count` subscriptions before ingesting what they should receive (and, after
 * stopping them, until it has released them).
 */
export async function waitForLiveSubscriptions(url: string, count: number, credentials?: Credentials): Promise<void> {
  await waitUntil(
    async () => (await query(url, ReadStreamStatusDocument, undefined, credentials)).streamStatus.liveSubscriptions === count,
    10_000,
    `${count} live subscriptions`,
  );
}

/** Waits until the processor has committed everything accepted so far. */
export async function waitForProcessing(url: string, timeoutMs = 30_000, credentials?: Credentials): Promise<void> {
  await waitUntil(
    async () => (await query(url, ReadStreamStatusDocument, undefined, credentials)).streamStatus.lag === 0,
    timeoutMs,
    'processing lag 0',
  );
}

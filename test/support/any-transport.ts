/**
 * One GraphQL operation, sent as raw text over any of the three transports a browser holding an
 * access token can use: HTTP POST, graphql-ws (connectionParams.authorization) and SSE (the
 * Authorization header). The escape suite sends the same attack over each and expects the same
 * answer, so a transport that applies the slice differently shows up as a failing comparison.
 */
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { createClient as createSseClient, type Client as SseClient } from 'graphql-sse';
import WebSocket from 'ws';

export type Transport = 'HTTP' | 'graphql-ws' | 'SSE';
export const TRANSPORTS: Transport[] = ['HTTP', 'graphql-ws', 'SSE'];

export interface GraphQLAnswer {
  data?: Record<string, any> | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, any> }[];
}

/** A frozen server fails the test at this bound rather than at the suite's timeout. */
const REQUEST_TIMEOUT_MS = 20_000;

/** POST of a request body as it is, answered with the status and the body's exact text (for byte-for-byte comparisons). */
export async function postGraphqlText(url: string, body: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: response.status, body: await response.text() };
}

/** POST over HTTP with an optional bearer credential; `body` replaces the usual { query, variables }. */
export async function postGraphql(
  url: string,
  credential: string | null,
  query: string,
  variables?: Record<string, unknown>,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; answer: GraphQLAnswer }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(credential === null ? {} : { authorization: `Bearer ${credential}` }),
      ...options.headers,
    },
    body: options.body ?? JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let answer: GraphQLAnswer;
  try {
    answer = JSON.parse(text) as GraphQLAnswer;
  } catch {
    answer = { errors: [{ message: `not JSON: ${text.slice(0, 200)}` }] };
  }
  return { status: response.status, answer };
}

/**
 * Clients per (transport, credential), reused across operations so a suite opens few sockets;
 * `closeAll` disposes them.
 */
export class TransportClients {
  private readonly ws = new Map<string, WsClient>();
  private readonly sse = new Map<string, SseClient>();

  private readonly url: string;
  private readonly wsUrl: string;

  constructor(url: string, wsUrl: string) {
    this.url = url;
    this.wsUrl = wsUrl;
  }

  wsClientFor(credential: string): WsClient {
    let client = this.ws.get(credential);
    if (!client) {
      client = createWsClient({
        url: this.wsUrl,
        webSocketImpl: WebSocket,
        lazy: true,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${credential}` },
      });
      this.ws.set(credential, client);
    }
    return client;
  }

  sseClientFor(credential: string): SseClient {
    let client = this.sse.get(credential);
    if (!client) {
      client = createSseClient({
        url: this.url,
        singleConnection: false,
        retryAttempts: 0,
        headers: { authorization: `Bearer ${credential}` },
      });
      this.sse.set(credential, client);
    }
    return client;
  }

  /** A query or mutation: its single result (a refusal included, as `{ errors }`). */
  async run(transport: Transport, credential: string, query: string, variables: Record<string, unknown> = {}): Promise<GraphQLAnswer> {
    if (transport === 'HTTP') return (await postGraphql(this.url, credential, query, variables)).answer;
    const client = transport === 'graphql-ws' ? this.wsClientFor(credential) : this.sseClientFor(credential);
    return new Promise<GraphQLAnswer>((resolve, reject) => {
      let result: GraphQLAnswer | null = null;
      const timer = setTimeout(() => reject(new Error(`no ${transport} answer in time to ${query.slice(0, 80)}`)), REQUEST_TIMEOUT_MS);
      client.subscribe<Record<string, any>>(
        { query, variables },
        {
          next: (value) => {
            result ??= value as GraphQLAnswer;
          },
          error: (error) => {
            clearTimeout(timer);
            resolve({ errors: normaliseErrors(error) });
          },
          complete: () => {
            clearTimeout(timer);
            resolve(result ?? { errors: [{ message: 'completed without a result' }] });
          },
        },
      );
    });
  }

  /** A subscription whose items (and errors) are collected until `stop`. */
  open(transport: Exclude<Transport, 'HTTP'>, credential: string, query: string, variables: Record<string, unknown> = {}): LiveCollector {
    const client = transport === 'graphql-ws' ? this.wsClientFor(credential) : this.sseClientFor(credential);
    const collector = new LiveCollector();
    collector.stopper = client.subscribe<Record<string, any>>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors?.length) collector.errors.push(...normaliseErrors(value.errors));
          else collector.items.push(value.data);
        },
        error: (error) => collector.errors.push(...normaliseErrors(error)),
        complete: () => {
          collector.completed = true;
        },
      },
    );
    return collector;
  }

  async closeAll(): Promise<void> {
    for (const client of this.ws.values()) await client.dispose();
    for (const client of this.sse.values()) client.dispose();
    this.ws.clear();
    this.sse.clear();
  }
}

export class LiveCollector {
  readonly items: any[] = [];
  readonly errors: { message: string; extensions?: Record<string, any> }[] = [];
  completed = false;
  stopper: () => void = () => {};

  stop(): void {
    this.stopper();
  }
}

function normaliseErrors(error: unknown): { message: string; extensions?: Record<string, any> }[] {
  if (Array.isArray(error)) return error as { message: string }[];
  if (error && typeof error === 'object' && 'message' in error) return [error as { message: string }];
  // graphql-ws reports a closed socket as a CloseEvent: keep its code and reason.
  if (error && typeof error === 'object' && 'code' in error) {
    const { code, reason } = error as { code: number; reason: string };
    // The reason starts with the code ("UNAUTHENTICATED: …"), as docs/api.md's Errors section says.
    return [
      { message: `socket closed ${code}: ${reason}`, extensions: { code: reason.split(':')[0], closeCode: code, closeReason: reason } },
    ];
  }
  return [{ message: String(error) }];
}

/**
 * An SSE subscription spoken by hand (POST, Accept: text/event-stream), for what the graphql-sse
 * client cannot send: a Last-Event-ID header. Returns each `next` event's data and SSE id.
 */
export async function openRawSse(
  url: string,
  credential: string,
  query: string,
  variables: Record<string, unknown>,
  lastEventId: string | null,
): Promise<{ events: { id: string | null; data: GraphQLAnswer }[]; ended: Promise<void>; close(): void }> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      authorization: `Bearer ${credential}`,
      ...(lastEventId === null ? {} : { 'last-event-id': lastEventId }),
    },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  const events: { id: string | null; data: GraphQLAnswer }[] = [];
  const ended = (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let boundary: number;
        while ((boundary = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, boundary);
          buffered = buffered.slice(boundary + 2);
          let name = 'message';
          let data = '';
          let id: string | null = null;
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) name = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trim();
            else if (line.startsWith('id:')) id = line.slice(3).trim();
          }
          if (name === 'next' && data) events.push({ id, data: JSON.parse(data) as GraphQLAnswer });
          if (name === 'complete') return;
        }
      }
    } catch (error) {
      if ((error as Error).name !== 'AbortError') throw error;
    }
  })();
  return { events, ended, close: () => controller.abort() };
}

/**
 * A query over SSE spoken by hand, returning what the server sent whatever its form: the first
 * `next` event's payload, or the JSON body of a refusal answered before the stream starts.
 */
export async function sseOnce(
  url: string,
  credential: string,
  query: string,
  variables: Record<string, unknown>,
): Promise<GraphQLAnswer & { status: number }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${credential}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    try {
      return { status: response.status, ...(JSON.parse(text) as GraphQLAnswer) };
    } catch {
      return { status: response.status, errors: [{ message: `not JSON: ${text.slice(0, 200)}` }] };
    }
  }
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n');
    if (!lines.some((line) => line.startsWith('event: next') || line.startsWith('event:next'))) continue;
    const data = lines
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trim())
      .join('');
    return { status: response.status, ...(JSON.parse(data) as GraphQLAnswer) };
  }
  return { status: response.status, errors: [{ message: `no next event in ${text.slice(0, 200)}` }] };
}

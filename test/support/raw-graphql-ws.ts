/**
 * graphql-ws spoken by hand, for tests that must see every frame, close code and refused upgrade
 * (the hostile suites); ordinary tests use the graphql-ws client in clients.ts.
 */
import { once } from 'node:events';
import WebSocket from 'ws';
import { expect } from 'vitest';
import type { TestServer } from './server.ts';

export type WsMessage = { type: string; id?: string; payload?: unknown };

export interface WsSession {
  socket: WebSocket;
  next(timeoutMs?: number): Promise<WsMessage | null>;
  closed: Promise<{ code: number; reason: string }>;
}

/**
 * A graphql-transport-ws socket. `init` sends connection_init with this authorization (null: no
 * key; undefined: no connection_init at all). Rejects with the HTTP status if the upgrade is refused.
 */
export async function openRawGraphqlWs(
  server: TestServer,
  options: { init?: string | null; headers?: Record<string, string>; expectAck?: boolean } = {},
): Promise<WsSession> {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws', { headers: options.headers ?? {} });
  const inbox: WsMessage[] = [];
  let wake = () => {};
  let isClosed = false;
  socket.on('message', (data) => {
    inbox.push(JSON.parse(String(data)) as WsMessage);
    wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => {
      isClosed = true;
      resolve({ code, reason: String(reason) });
      wake();
    }),
  );
  socket.on('error', () => {}); // `closed` and the upgrade status report what happened
  const refused = new Promise<never>((_, reject) =>
    socket.once('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk));
      response.on('end', () =>
        reject(Object.assign(new Error(`upgrade refused: ${response.statusCode}`), { status: response.statusCode, body: text })),
      );
    }),
  );
  await Promise.race([once(socket, 'open'), refused]);
  const next = async (timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (inbox.length === 0 && !isClosed) {
      if (Date.now() > deadline) throw new Error('no WebSocket message in time');
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return inbox.shift() ?? null;
  };
  if (options.init !== undefined) {
    socket.send(JSON.stringify({ type: 'connection_init', payload: options.init ? { authorization: options.init } : {} }));
    if (options.expectAck ?? true) expect((await next())?.type).toBe('connection_ack');
  }
  return { socket, next, closed };
}

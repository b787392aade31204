/**
 * graphql-ws served over `ws` sockets: graphql-ws's protocol engine (`makeServer`) with a socket
 * adapter of our own, instead of graphql-ws's `useServer` (graphql-ws/use/ws).
 *
 * Why our own: `useServer`'s sockets answer every `ping` by echoing its payload in the `pong`.
 * Streamlens gives a ping a meaning (a `ping` carrying `{ authorization }` refreshes the
 * connection's token, and its pong says until when: graphql-ws-refresh.ts), and graphql-ws lets an
 * adapter take over the pong only through its socket's `onPing`, which `useServer` does not offer.
 * The rest does what `useServer` does: the subprotocol check, a WebSocket-level keep-alive that
 * drops a peer which stops answering, and a close that ends the connection's operations.
 */
import type { IncomingMessage } from 'node:http';
import {
  CloseCode,
  handleProtocols,
  makeServer,
  MessageType,
  parseMessage,
  stringifyMessage,
  type Context,
  type ServerOptions,
  type SubscribeMessage,
} from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';

/**
 * What graphql-ws's hooks see of a connection besides its messages. Not the upgrade request
 * itself (as `useServer` gives): only what is read of it, so that the request, its headers and
 * streams do not live as long as the socket.
 */
export interface SocketExtra {
  socket: WebSocket;
  /** The id of the upgrade request, which every operation on the connection carries. */
  requestId: string;
  remoteAddress: string | null;
  /** graphql-ws's state of the connection, known from its connection_init on. */
  protocol?: Context<Record<string, unknown>, SocketExtra>;
  /** Called once when the socket has closed: what the connection held is given back. */
  onSocketClosed?: () => void;
}

/**
 * Takes a subscribe message over from graphql-ws: answers null (synchronously, before anything
 * else can happen on the connection) to leave it to graphql-ws, or the handling of it.
 */
export type SubscribeInterceptor = (
  protocol: Context<Record<string, unknown>, SocketExtra>,
  message: SubscribeMessage,
) => Promise<void> | null;

type PingPayload = Record<string, unknown> | null | undefined;

/**
 * How a `ping` is answered: the pong's payload (undefined: a pong without one), or null when the
 * handler closed the socket instead, so no pong is sent.
 */
export type PingAnswer = (connection: SocketExtra, payload: PingPayload) => Promise<Record<string, unknown> | undefined | null>;

/**
 * How often a silent socket is pinged at the WebSocket level, and how long its pong may take before
 * the socket is dropped: graphql-ws's `useServer` default, kept. A peer that vanished without a
 * close (a laptop lid, a dropped route) otherwise holds its subscriptions until TCP gives up.
 */
const KEEP_ALIVE_MS = 12_000;

/** The close reason of an unexpected failure: its message stays in the log, never on the wire. */
const INTERNAL_ERROR_REASON = 'Internal server error';

export interface GraphqlWsServer {
  /** Closes every socket (1001) and stops the WebSocket server. */
  dispose(): Promise<void>;
}

export function serveGraphqlWs(
  webSockets: WebSocketServer,
  options: ServerOptions<Record<string, unknown>, SocketExtra>,
  answerPing: PingAnswer,
  logger: { error(object: object, message: string): void; warn(object: object, message: string): void },
  connectionOf: (request: IncomingMessage) => { requestId: string; remoteAddress: string | null },
  interceptSubscribe: SubscribeInterceptor | null = null,
): GraphqlWsServer {
  // graphql-ws's own wait for connection_init keeps its timer for the life of the connection:
  // this adapter's is dropped once connection_init comes.
  const initTimeoutMs = options.connectionInitWaitTimeout ?? DEFAULT_INIT_TIMEOUT_MS;
  const initTimers = new WeakMap<WebSocket, NodeJS.Timeout>();
  const stopInitTimer = (socket: WebSocket) => {
    clearTimeout(initTimers.get(socket));
    initTimers.delete(socket);
  };
  const protocol = makeServer({
    ...options,
    connectionInitWaitTimeout: 0,
    onConnect: (ctx) => {
      stopInitTimer(ctx.extra.socket);
      ctx.extra.protocol = ctx;
      return options.onConnect?.(ctx);
    },
  });
  const keepAlive = keepAliveOf(webSockets);
  webSockets.options.handleProtocols = handleProtocols;
  webSockets.once('error', (error) => {
    logger.error({ err: error }, 'the WebSocket server failed');
    for (const socket of webSockets.clients) socket.close(CloseCode.InternalServerError, INTERNAL_ERROR_REASON);
  });

  webSockets.on('connection', (socket, request) => {
    // Every field set here, so that the object keeps one shape (P6: memory per subscriber).
    const extra: SocketExtra = { socket, ...connectionOf(request), protocol: undefined, onSocketClosed: undefined };
    // A frame ws refuses (too large, not UTF-8, not masked): the peer's fault, and ws has already
    // closed the socket with the code that says so; closing again only covers other failures.
    // `on`, not `once`, for events a socket emits once anyway ('close'; 'error' is followed by the
    // close): `once` keeps a wrapper of some 180 bytes per listener for the socket's life (P6).
    socket.on('error', (error) => {
      logger.warn({ err: error }, 'a WebSocket failed');
      socket.close(CloseCode.InternalServerError, INTERNAL_ERROR_REASON);
    });
    if (initTimeoutMs > 0 && Number.isFinite(initTimeoutMs)) {
      initTimers.set(socket, setTimeout(closeUninitialised, initTimeoutMs, socket));
    }
    const send = (data: string) =>
      new Promise<void>((resolve, reject) => {
        if (socket.readyState !== socket.OPEN) return resolve();
        socket.send(data, (error) => (error ? reject(error) : resolve()));
      });
    const closed = protocol.opened(
      {
        protocol: socket.protocol,
        send,
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', async (data) => {
            try {
              const text = String(data);
              const intercepted = interceptSubscribe && extra.protocol ? intercept(interceptSubscribe, extra.protocol, text) : null;
              await (intercepted ?? handle(text));
            } catch (error) {
              logger.error({ err: error }, 'a graphql-ws message failed');
              socket.close(CloseCode.InternalServerError, INTERNAL_ERROR_REASON);
            }
          }),
        async onPing(payload) {
          const pong = await answerPing(extra, payload);
          if (pong === null) return;
          await send(stringifyMessage(pong === undefined ? { type: MessageType.Pong } : { type: MessageType.Pong, payload: pong }));
        },
      },
      extra,
    );
    socket.on('close', (code, reason) => {
      stopInitTimer(socket);
      extra.onSocketClosed?.();
      void closed(code, String(reason));
    });
  });

  return {
    async dispose() {
      keepAlive.stop();
      for (const socket of webSockets.clients) socket.close(1001, 'Going away');
      webSockets.removeAllListeners();
      await new Promise<void>((resolve, reject) => webSockets.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/**
 * A subscribe message of an acknowledged connection, with an id not in use, goes to the
 * interceptor; anything else (and a message graphql-ws would refuse) stays graphql-ws's.
 */
function intercept(
  interceptSubscribe: SubscribeInterceptor,
  protocol: Context<Record<string, unknown>, SocketExtra>,
  text: string,
): Promise<void> | null {
  if (!protocol.acknowledged) return null;
  let message;
  try {
    message = parseMessage(text);
  } catch {
    return null;
  }
  if (message.type !== MessageType.Subscribe || message.id in protocol.subscriptions) return null;
  return interceptSubscribe(protocol, message);
}

/** graphql-ws's own default wait for connection_init. */
const DEFAULT_INIT_TIMEOUT_MS = 3_000;

/** What graphql-ws does to a connection whose connection_init did not come in time. */
function closeUninitialised(socket: WebSocket): void {
  socket.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
}

/**
 * Every KEEP_ALIVE_MS, pings each socket; one that has not answered the previous ping by then is
 * terminated. One timer for the server, not one per socket (benchmark P6: memory per subscriber).
 */
function keepAliveOf(webSockets: WebSocketServer): { stop(): void } {
  const awaitingPong = new WeakSet<WebSocket>();
  function answered(this: WebSocket): void {
    awaitingPong.delete(this);
  }
  webSockets.on('connection', (socket) => socket.on('pong', answered));
  const interval = setInterval(() => {
    for (const socket of webSockets.clients) {
      if (socket.readyState !== socket.OPEN) continue;
      if (awaitingPong.has(socket)) {
        socket.terminate();
        continue;
      }
      awaitingPong.add(socket);
      socket.ping();
    }
  }, KEEP_ALIVE_MS);
  // The server's close, not this timer, decides when the process ends.
  interval.unref();
  return { stop: () => clearInterval(interval) };
}

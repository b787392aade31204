/**
 * HTTP wiring: GraphQL over HTTP and SSE (graphql-yoga), graphql-ws on the same path,
 * GraphiQL served from the service itself, /health and /ready.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getOperationAST, GraphQLError, Kind, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { MessageType, stringifyMessage } from 'graphql-ws';
import { createYoga, useReadinessCheck } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { WebSocketServer, type WebSocket } from 'ws';
import { serveGraphqlWs, type SocketExtra, type SubscribeInterceptor } from './graphql-ws-socket.ts';
import { LeanSubscription, type LeanEnvironment, type ProtocolState } from './lean-subscriptions.ts';
import { createPingAnswer } from './graphql-ws-refresh.ts';
import type { ConnectionCredentials } from '../live/connection-credentials.ts';
import type { GraphQLContext } from '../resolvers/context.ts';
import { createErrorMasker, createYogaLogging, refusalReason, type ErrorLogger } from './errors.ts';
import { StreamlensError } from '../errors.ts';
import { graphiqlExamples } from './graphiql-examples.ts';
import { useDashboard } from './dashboard.ts';
import { useSseEventIds } from './sse-event-ids.ts';
import { useOperationRateLimit } from './operation-rate-limit.ts';
import { resolvePersistedOperation, useAllowList, useNoIntrospection, type PersistedOperations } from './persisted-operations.ts';
import { checkUpgrade, createBrowserPolicy, guardHttp, type BrowserPolicyConfig } from './browser-guard.ts';
import {
  CLOSE_TOO_MANY_CONNECTIONS,
  CONNECTION_INIT_TIMEOUT_MS,
  createConnectionCounter,
  MAX_CLOSE_REASON_CHARACTERS,
} from './graphql-ws-connections.ts';
import type { Authentication } from '../auth/authenticator.ts';
import type { RequestLimits } from '../config.ts';
import { useRequestLimits } from './limits.ts';
import type { StreamlensMetrics } from '../observability/metrics.ts';
import { useGraphQLMetrics } from '../observability/graphql-metrics.ts';
import { useMetricsEndpoint } from './metrics-endpoint.ts';
import {
  deliverDirectly,
  LEAN_STARTED,
  subscribeLeanly,
  useSharedSubscriptionResults,
  webSocketDelivery,
} from './subscription-delivery.ts';
import { useCompiledQueries } from './compiled-queries.ts';
import { useIngestFastCoercion } from './ingest-coercion.ts';
import { useIngestAckCompletion } from './ingest-acks.ts';
import { currentRequestId, REQUEST_ID_HEADER, requestIdOf, runWithRequestId, withRequestIds } from './request-ids.ts';

export const GRAPHQL_PATH = '/graphql';

export interface HttpServerOptions {
  schema: GraphQLSchema;
  /**
   * Builds the context of one operation (HTTP request, SSE stream or WebSocket subscription);
   * `lastEventId` is the Last-Event-ID header of a reconnecting SSE client; `requestId` the id of
   * the HTTP request (of the upgrade, for graphql-ws) the operation came in on.
   */
  createContext: (request: {
    lastEventId: string | null;
    authorization: string | null;
    requestId?: string;
    remoteAddress?: string | null;
    /** The graphql-ws connection's credentials (whose `authorization` is the one above); null over HTTP and SSE. */
    connection?: ConnectionCredentials | null;
  }) => Promise<GraphQLContext>;
  /** Resolves when every dependency answers; rejects with the reason otherwise. */
  checkReadiness: () => Promise<void>;
  logger: ErrorLogger & { info(object: object, message: string): void; warn(object: object, message: string): void };
  /** Request body, query text and query shape limits; the body limit also bounds a WebSocket message. */
  limits: RequestLimits;
  /** Serves GET /metrics from this registry, and times GraphQL operations into it. */
  metrics?: StreamlensMetrics;
  /** What the endpoint reveals: GraphiQL, introspection, and (when set) only allow-listed operations. */
  exposure?: { graphiql: boolean; introspection: boolean; persistedOperations: PersistedOperations | null };
  /** Checks a graphql-ws connection_init's key: a connection without a valid one is closed. */
  /**
   * Who a graphql-ws connection_init is from. Rejects with RATE_LIMITED when its remote address
   * has made too many attempts without a valid key (the connection then closes with 4429).
   */
  authenticateConnection: (authorization: string | null, remoteAddress: string | null) => Promise<Authentication>;
  /**
   * Who a refreshing ping's authorization is: as `authenticateConnection`, and a valid one also
   * pays one operation from its key's and tenant's buckets (rejects with RATE_LIMITED past them).
   */
  authenticateRefresh: (authorization: string, remoteAddress: string | null) => Promise<Authentication>;
  /** A graphql-ws connection refreshed its token (a ping): its open subscriptions follow (LiveService.followConnection). */
  followConnection: (connection: ConnectionCredentials) => void;
  /** Which pages may call the service from a browser (CORS, Host, Origin). */
  browser: BrowserPolicyConfig;
  /** graphql-ws connections on this instance, in all and per key. */
  webSockets: { maxConnections: number; maxConnectionsPerKey: number; maxConnectionsPerToken: number };
}

/** CORS answers to a listed origin: the headers a GraphQL client sends, and the request id back. */
const CORS_ALLOWED_HEADERS = ['accept', 'authorization', 'content-type', 'last-event-id', 'x-request-id'];
/** How long a browser may reuse a preflight answer. */
const CORS_MAX_AGE_SECONDS = 600;

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting connections and requests; what is in flight carries on. */
  stopAccepting(): void;
  /**
   * Ends every subscription with a reason (WebSocket close 1001 "server shutting down"; SSE
   * streams end) and waits for the server to close. Call after the last update was published.
   */
  close(): Promise<void>;
}

export async function startHttpServer(options: HttpServerOptions, host: string, port: number): Promise<RunningServer> {
  const browserPolicy = createBrowserPolicy(options.browser, host, GRAPHQL_PATH);
  const persistedOperations = options.exposure?.persistedOperations ?? null;
  // Each acknowledged graphql-ws connection's credentials: its operations authenticate with
  // them, and a refreshing ping replaces them (graphql-ws-refresh.ts).
  const connectionCredentials = new WeakMap<WebSocket, ConnectionCredentials>();
  // Unexpected errors the masker logged with their ids: yoga's own log line would repeat them.
  const maskedAndLogged = new WeakSet<object>();
  const maskError = createErrorMasker(options.logger, {
    hideSuggestions: options.exposure?.introspection === false,
    loggedErrors: maskedAndLogged,
  });
  const yogaLogging = createYogaLogging(
    options.logger,
    (error) => typeof error === 'object' && error !== null && maskedAndLogged.has(error),
  );
  const yoga = createYoga({
    schema: options.schema,
    graphqlEndpoint: GRAPHQL_PATH,
    healthCheckEndpoint: '/health',
    landingPage: false,
    // The body is bounded by MAX_REQUEST_BYTES, counted while it is read (PAYLOAD_TOO_LARGE); yoga's
    // own 25 MB bound would answer REQUEST_ENTITY_TOO_LARGE, a code outside ERROR_CODES, to a
    // body between 25 MB and a MAX_REQUEST_BYTES set above it.
    maxRequestBodySize: false,
    // Other origins get CORS only when CORS_ORIGINS lists them (browser-guard.ts refuses the rest).
    cors: (request) => {
      const origin = request.headers.get('origin');
      if (!browserPolicy.corsAllows(origin)) return false;
      return {
        origin: [origin!],
        methods: ['GET', 'POST'],
        allowedHeaders: CORS_ALLOWED_HEADERS,
        exposedHeaders: [REQUEST_ID_HEADER],
        credentials: false,
        maxAge: CORS_MAX_AGE_SECONDS,
      };
    },
    context: (initial) => {
      // HTTP and SSE carry the key in a header; graphql-ws in the connection_init payload, or
      // the last refreshing ping's, which the connection's credentials hold.
      const request = (initial as { request?: Request }).request;
      const webSocket = (initial as { socketExtra?: SocketExtra }).socketExtra;
      const connection = webSocket ? (connectionCredentials.get(webSocket.socket) ?? null) : null;
      const incoming = (initial as { req?: IncomingMessage }).req;
      return options.createContext({
        lastEventId: request?.headers.get('last-event-id') ?? null,
        authorization: connection ? connection.authorization : (request?.headers.get('authorization') ?? null),
        requestId: incoming ? requestIdOf(incoming) : (webSocket?.requestId ?? currentRequestId()),
        remoteAddress: incoming?.socket?.remoteAddress ?? webSocket?.remoteAddress ?? null,
        connection,
      });
    },
    graphiql:
      options.exposure?.graphiql === false
        ? false
        : {
            title: 'Streamlens',
            defaultQuery: graphiqlExamples(),
            // Open mode ignores the header; with keys on, replace the placeholder with a key.
            headers: JSON.stringify({ Authorization: 'Bearer <your API key, when keys are on>' }, null, 2),
            subscriptionsProtocol: 'SSE',
          },
    renderGraphiQL,
    maskedErrors: { maskError },
    logging: yogaLogging,
    plugins: [
      ...(options.metrics ? [useMetricsEndpoint(options.metrics.registry), useGraphQLMetrics(options.metrics)] : []),
      useDashboard(),
      useSseEventIds(),
      useRequestLimits(options.limits),
      useOperationRateLimit(),
      useCompiledQueries(),
      useIngestFastCoercion(),
      useIngestAckCompletion(),
      ...(options.exposure?.introspection === false ? [useNoIntrospection()] : []),
      ...(persistedOperations ? [useAllowList(persistedOperations)] : []),
      useSharedSubscriptionResults(),
      useReadinessCheck({
        endpoint: '/ready',
        check: async () => {
          try {
            await options.checkReadiness();
            return true;
          } catch (error) {
            return new Response(JSON.stringify({ ready: false, reason: (error as Error).message }), {
              status: 503,
              headers: { 'content-type': 'application/json' },
            });
          }
        },
      }),
    ],
  });

  const server: Server = createServer(withRequestIds(guardHttp(browserPolicy, yoga)));
  const webSockets = new WebSocketServer({
    server,
    path: GRAPHQL_PATH,
    // A larger message closes its socket with 1009 before it is parsed.
    maxPayload: options.limits.maxRequestBytes,
    // Browsers never preflight an upgrade: Host and Origin are checked here, and the instance's
    // connection cap. The callback runs synchronously, so `clients` counts every accepted one.
    verifyClient: (info, accept) => {
      const refusal = checkUpgrade(browserPolicy, info.req);
      if (refusal) return accept(false, refusal.status, refusalReason(refusal.code, refusal.message));
      if (webSockets.clients.size >= options.webSockets.maxConnections) {
        const message = refusalReason(
          'TOO_MANY_CONNECTIONS',
          `this instance already holds ${options.webSockets.maxConnections} WebSocket connections, the most it may; retry later`,
        );
        return accept(false, 503, message);
      }
      accept(true);
    },
  });
  const connections = createConnectionCounter({
    maxPerKey: options.webSockets.maxConnectionsPerKey,
    maxPerToken: options.webSockets.maxConnectionsPerToken,
  });
  // The upgrade answers with the connection's request id, which every operation on it carries.
  webSockets.on('headers', (headers, request) => headers.push(`${REQUEST_ID_HEADER}: ${requestIdOf(request)}`));
  // Every operation, WebSocket ones included, goes through yoga's envelop pipeline, so the
  // same plugins (error masking, and later auth and limits) apply whatever the transport.
  const graphqlWs = serveGraphqlWs(
    webSockets,
    {
      connectionInitWaitTimeout: CONNECTION_INIT_TIMEOUT_MS,
      // With keys on, only a valid key is acknowledged; each key holds a bounded number of sockets.
      onConnect: async (ctx) => {
        const fromParams = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const authorization = typeof fromParams === 'string' ? fromParams : null;
        const socket = ctx.extra.socket;
        let auth: Authentication;
        try {
          auth = await options.authenticateConnection(authorization, ctx.extra.remoteAddress);
        } catch (error) {
          if (!(error instanceof StreamlensError) || error.code !== 'RATE_LIMITED') throw error;
          socket.close(CLOSE_TOO_MANY_CONNECTIONS, refusalReason(error.code, error.message).slice(0, MAX_CLOSE_REASON_CHARACTERS));
          return false;
        }
        const verdict = connections.admit(auth);
        if (!verdict.accept) {
          // Closed here, with the reason; graphql-ws's own close (4403 "Forbidden") then does nothing.
          socket.close(verdict.closeCode, verdict.reason);
          return false;
        }
        // The adapter's own close listener gives the connection back (a listener of its own per
        // socket would cost some 300 bytes: P6).
        if (socket.readyState !== socket.OPEN) verdict.release();
        else ctx.extra.onSocketClosed = verdict.release;
        if (auth.ok) connectionCredentials.set(socket, { authorization, principal: auth.principal });
        return true;
      },
      // In the connection's request scope, so a masked error names the request id here too.
      execute: (args: any) => runWithRequestId(args.contextValue.requestId, () => args.rootValue.execute(args)),
      subscribe: (args: any) => runWithRequestId(args.contextValue.requestId, () => args.rootValue.subscribe(args)),
      onSubscribe: async (ctx, id, payload) => {
        // The allow-list holds here as over HTTP: only a listed document runs, by its id.
        let params = payload;
        if (persistedOperations) {
          const listed = resolvePersistedOperation(persistedOperations, payload as Parameters<typeof resolvePersistedOperation>[1]);
          if (listed instanceof GraphQLError) return [listed];
          params = { ...payload, query: listed };
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          socketExtra: ctx.extra,
          params,
        });
        // A query that does not parse (or breaks a limit) is that operation's error; thrown, it
        // would close the whole socket with 4500 and end every other subscription on it.
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const args = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length > 0) return errors;
        deliverDirectly(args.contextValue, webSocketDelivery(ctx.extra.socket, id));
        return args;
      },
    },
    createPingAnswer({
      credentialsOf: (socket) => connectionCredentials.get(socket),
      authenticate: options.authenticateRefresh,
      follow: options.followConnection,
    }),
    options.logger,
    (request) => ({ requestId: requestIdOf(request), remoteAddress: request.socket.remoteAddress ?? null }),
    leanSubscriptions(),
  );

  /**
   * graphql-ws subscribe messages of subscription operations take the lean path
   * (lean-subscriptions.ts); queries, mutations and messages that fail before their operation is
   * known (allow-list, parse) are left to graphql-ws, which answers them through the hooks above.
   */
  function leanSubscriptions(): SubscribeInterceptor {
    const environment: LeanEnvironment = {
      maskError(error) {
        // As yoga's masking does: an error the masker replaced goes to yoga's log (which skips logged ones).
        const masked = maskError(error, 'Unexpected error.');
        if (masked !== error) yogaLogging.error(error);
        return masked;
      },
      ...(options.metrics ? { countActive: subscriptionCounter(options.metrics) } : {}),
    };
    return (ctx, message) => {
      const { id, payload } = message;
      let params = payload;
      if (persistedOperations) {
        const listed = resolvePersistedOperation(persistedOperations, payload as Parameters<typeof resolvePersistedOperation>[1]);
        if (listed instanceof GraphQLError) return null;
        params = { ...payload, query: listed };
      }
      const enveloped = yoga.getEnveloped({ ...ctx, socketExtra: ctx.extra, params });
      let document: DocumentNode;
      try {
        document = enveloped.parse(params.query);
      } catch {
        return null;
      }
      const operation = getOperationAST(document, params.operationName);
      if (operation?.operation !== 'subscription') return null;
      const root = operation.selectionSet.selections[0];
      const kind = root?.kind === Kind.FIELD ? root.name.value : 'unknown';
      const protocol = ctx as unknown as ProtocolState;
      // Taken now, as graphql-ws takes it: the same id again closes the connection (4409).
      protocol.subscriptions[id] = null;
      const subscription = new LeanSubscription(environment, ctx.extra.socket, protocol, id, kind, ctx.extra.requestId);
      const started = (async () => {
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) {
          if (id in protocol.subscriptions) await sendToSocket(ctx.extra.socket, errorMessage(id, errors));
          return false;
        }
        const contextValue = await enveloped.contextFactory();
        // The first subscriber's context executes the events of every identical subscriber
        // (subscription-delivery.ts): it must not keep this socket, or graphql-ws's state of it.
        Object.assign(contextValue, { socketExtra: undefined, extra: undefined, subscriptions: undefined });
        subscribeLeanly(contextValue, subscription);
        const args = {
          schema: enveloped.schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
        };
        const result = await runWithRequestId(contextValue.requestId, () => enveloped.subscribe(args));
        if (result === LEAN_STARTED) return true;
        // A subscription that did not start (a limit, a resolver's error): its result, then complete.
        if (id in protocol.subscriptions) await sendToSocket(ctx.extra.socket, nextMessage(id, result as ExecutionResult));
        if (id in protocol.subscriptions) await sendToSocket(ctx.extra.socket, stringifyMessage({ id, type: MessageType.Complete }));
        return false;
      })();
      return started.then(
        async (running) => {
          if (!running) delete protocol.subscriptions[id];
          // The client completed it while it was starting: it ends at once.
          else if (!(id in protocol.subscriptions)) await subscription.return();
          else protocol.subscriptions[id] = subscription;
        },
        (error) => {
          delete protocol.subscriptions[id];
          throw error;
        },
      );
    };
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  let accepting = true;
  const stopAccepting = () => {
    if (!accepting) return;
    accepting = false;
    server.close();
    // Keep-alive connections would otherwise carry new requests in for as long as they live.
    server.closeIdleConnections();
  };
  return {
    url: `http://${shownHost}:${address.port}${GRAPHQL_PATH}`,
    port: address.port,
    stopAccepting,
    async close() {
      stopAccepting();
      for (const socket of webSockets.clients) socket.close(1001, 'server shutting down');
      await graphqlWs.dispose();
      webSockets.close();
      // SSE streams never end by themselves: give them a moment to flush, then cut them.
      setTimeout(() => server.closeAllConnections(), 1_000).unref();
      await closed;
    },
  };
}

/** Writes one graphql-ws message, as graphql-ws's own `send` does (nothing once the socket is closing). */
function sendToSocket(socket: WebSocket, text: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (socket.readyState !== socket.OPEN) return resolve();
    socket.send(text, (error) => (error ? reject(error) : resolve()));
  });
}

/** graphql-ws's `next` message of a result, errors as their JSON. */
function nextMessage(id: string, result: ExecutionResult): string {
  const { errors, ...withoutErrors } = result;
  return stringifyMessage({
    id,
    type: MessageType.Next,
    payload: errors ? { ...withoutErrors, errors: errors.map((error) => error.toJSON()) } : withoutErrors,
  });
}

function errorMessage(id: string, errors: readonly GraphQLError[]): string {
  return stringifyMessage({ id, type: MessageType.Error, payload: errors.map((error) => error.toJSON()) });
}

/** The active-subscriptions gauge, as useGraphQLMetrics keeps it for the ordinary path. */
function subscriptionCounter(metrics: StreamlensMetrics): (kind: string, change: 1 | -1) => void {
  return (kind, change) => (change === 1 ? metrics.activeSubscriptions.inc({ kind }) : metrics.activeSubscriptions.dec({ kind }));
}

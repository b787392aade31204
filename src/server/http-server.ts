/**
 * HTTP wiring: GraphQL over HTTP and SSE (graphql-yoga), graphql-ws on the same path,
 * GraphiQL served from the service itself, /health and /ready.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphQLSchema } from 'graphql';
import { createYoga, useReadinessCheck } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { GraphQLContext } from '../resolvers/context.ts';
import { createErrorMasker, type ErrorLogger } from './errors.ts';
import { graphiqlExamples } from './graphiql-examples.ts';
import { useDashboard } from './dashboard.ts';
import { useSseEventIds } from './sse-event-ids.ts';

export const GRAPHQL_PATH = '/graphql';

export interface HttpServerOptions {
  schema: GraphQLSchema;
  /**
   * Builds the context of one operation (HTTP request, SSE stream or WebSocket subscription);
   * `lastEventId` is the Last-Event-ID header of a reconnecting SSE client.
   */
  createContext: (request: { lastEventId: string | null; authorization: string | null }) => Promise<GraphQLContext>;
  /** Resolves when every dependency answers; rejects with the reason otherwise. */
  checkReadiness: () => Promise<void>;
  logger: ErrorLogger & { info(object: object, message: string): void; warn(object: object, message: string): void };
}

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
  const yoga = createYoga({
    schema: options.schema,
    graphqlEndpoint: GRAPHQL_PATH,
    healthCheckEndpoint: '/health',
    landingPage: false,
    context: (initial) => {
      // HTTP and SSE carry the key in a header; graphql-ws in the connection_init payload.
      const request = (initial as { request?: Request }).request;
      const connectionParams = (initial as { connectionParams?: Record<string, unknown> }).connectionParams;
      const fromSocket = connectionParams?.authorization ?? connectionParams?.Authorization;
      return options.createContext({
        lastEventId: request?.headers.get('last-event-id') ?? null,
        authorization: request?.headers.get('authorization') ?? (typeof fromSocket === 'string' ? fromSocket : null),
      });
    },
    graphiql: { title: 'Streamlens', defaultQuery: graphiqlExamples(), subscriptionsProtocol: 'SSE' },
    renderGraphiQL,
    maskedErrors: { maskError: createErrorMasker(options.logger) },
    logging: {
      debug: () => {},
      info: (...args: unknown[]) => options.logger.info({ args }, 'graphql-yoga'),
      warn: (...args: unknown[]) => options.logger.warn({ args }, 'graphql-yoga'),
      error: (...args: unknown[]) => options.logger.error({ args }, 'graphql-yoga'),
    },
    plugins: [
      useDashboard(),
      useSseEventIds(),
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

  const server: Server = createServer(yoga);
  const webSockets = new WebSocketServer({ server, path: GRAPHQL_PATH });
  // Every operation, WebSocket ones included, goes through yoga's envelop pipeline, so the
  // same plugins (error masking, and later auth and limits) apply whatever the transport.
  const graphqlWs = useServer(
    {
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: (args: any) => args.rootValue.subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length > 0) return errors;
        return args;
      },
    },
    webSockets,
  );

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

/**
 * How failures reach clients: expected ones (StreamlensError, GraphQL validation) keep their
 * message and gain `extensions.code`; anything else is masked, and logged with an error id
 * (and the request id, see request-ids.ts) the client also receives, so a report can be matched
 * to the log line.
 *
 * This is the one place a StreamlensError becomes a GraphQL error (asGraphQLError), and where
 * graphql-js, yoga or graphql-ws need a GraphQLError of their own (a validation result, a
 * request refused while it is parsed, a graphql-ws subscribe message) it is built here too
 * (codedGraphQLError), with a code from the one list in src/errors.ts.
 *
 * And how they reach the log: a client's mistake (bad input, a missing key, a limit) is the
 * client's to fix and is already in its answer, so it is logged at `debug`; only server faults
 * (an unexpected error, a dependency down) are logged at `error`. Otherwise anyone could fill
 * the error log, and bury the real faults, with bad requests.
 */
import { randomUUID } from 'node:crypto';
import { GraphQLError, type GraphQLErrorOptions } from 'graphql';
import { ERROR_CODES, SERVER_FAULT_CODES, StreamlensError, type ErrorCode, type ErrorDetails } from '../errors.ts';
import { currentRequestId } from './request-ids.ts';

export interface ErrorLogger {
  error(object: object, message: string): void;
  /** Client mistakes; not logged when absent. */
  debug?(object: object, message: string): void;
}

/** The codes of errors the client causes and fixes; anything else is the server's. */
const CLIENT_ERROR_CODES: ReadonlySet<string> = new Set(ERROR_CODES.filter((code) => !SERVER_FAULT_CODES.includes(code)));

/**
 * What yoga reads from `extensions.http` over HTTP, and leaves out of the answer: the status,
 * headers, and `spec` (the status only for application/graphql-response+json clients, as
 * GraphQL over HTTP asks of request errors).
 */
export interface HttpExtension {
  status?: number;
  spec?: boolean;
  headers?: Record<string, string>;
}

/** Where an error happened in the operation: kept when an error is rebuilt. */
function locationOf(error: GraphQLError | undefined): Pick<GraphQLErrorOptions, 'nodes' | 'source' | 'positions' | 'path'> {
  if (!error) return {};
  return {
    ...(error.nodes ? { nodes: error.nodes } : {}),
    ...(error.source ? { source: error.source } : {}),
    ...(error.positions ? { positions: error.positions } : {}),
    ...(error.path ? { path: error.path } : {}),
  };
}

/**
 * A GraphQLError with a code from the list, its details as extensions (in their order), then
 * `retryable` when set and `http` when given. `at`: the located error it replaces.
 */
export function codedGraphQLError(
  code: ErrorCode,
  message: string,
  options: { details?: ErrorDetails; retryable?: boolean; http?: HttpExtension; at?: GraphQLError } = {},
): GraphQLError {
  return new GraphQLError(message, {
    ...locationOf(options.at),
    extensions: {
      code,
      ...options.details,
      ...(options.retryable ? { retryable: true } : {}),
      ...(options.http ? { http: options.http } : {}),
    },
  });
}

/**
 * The GraphQL error a client receives for a StreamlensError. RATE_LIMITED also tells HTTP
 * clients (and proxies) when to come back, in a Retry-After header.
 */
export function asGraphQLError(error: StreamlensError, at?: GraphQLError): GraphQLError {
  const retryAfter = error.code === 'RATE_LIMITED' ? error.details.retryAfter : undefined;
  return codedGraphQLError(error.code, error.message, {
    details: error.details,
    retryable: error.retryable,
    ...(retryAfter === undefined ? {} : { http: { headers: { 'Retry-After': String(retryAfter) } } }),
    at,
  });
}

/**
 * The reason of a refusal that is no GraphQL answer (a WebSocket upgrade refused, a socket
 * closed): it starts with the code, so a client can tell refusals apart as it does in answers.
 */
export function refusalReason(code: ErrorCode, message: string): string {
  return `${code}: ${message}`;
}

/**
 * A scalar's refusal of a value. graphql-js reports it as it is only when it is a GraphQLError
 * (anything else gets its message prefixed), and it carries no code: graphql-js and yoga give a
 * literal's GRAPHQL_VALIDATION_FAILED, the masker a variable's BAD_USER_INPUT.
 */
export function scalarRefusal(message: string): GraphQLError {
  return new GraphQLError(message);
}

/**
 * graphql-js's "Did you mean …?" hints name fields, arguments, types and enum values near a
 * misspelt one: the schema, a few names at a time, for anyone who guesses. Where introspection is
 * off, they go too.
 */
const SUGGESTION = /\s*Did you mean [^?]*\?\s*$/;

/** The error without graphql-js's name suggestions (the same error when it has none). */
export function withoutSuggestions(error: GraphQLError): GraphQLError {
  if (!SUGGESTION.test(error.message)) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ''), {
    ...locationOf(error),
    ...(error.originalError ? { originalError: error.originalError } : {}),
    extensions: error.extensions,
  });
}

function findStreamlensError(error: unknown): StreamlensError | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof StreamlensError) return current;
    current = (current as { originalError?: unknown; cause?: unknown }).originalError ?? (current as { cause?: unknown }).cause;
  }
  return null;
}

/**
 * A request error graphql-js gives no code: variables that do not coerce to their types (a
 * malformed DateTime, an unknown input field, a string where a list belongs). The client's
 * input is at fault, so it gets the code of every other input error.
 */
function asBadUserInput(error: GraphQLError): GraphQLError {
  return new GraphQLError(error.message, {
    ...(error.nodes ? { nodes: error.nodes } : {}),
    ...(error.source ? { source: error.source } : {}),
    ...(error.positions ? { positions: error.positions } : {}),
    ...(error.originalError ? { originalError: error.originalError } : {}),
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' satisfies ErrorCode },
  });
}

/**
 * The code a client sees for an error, or null for an unexpected one (which is masked):
 * a StreamlensError's code, a GraphQLError's own code, BAD_USER_INPUT for a request error
 * graphql-js gives no code.
 */
export function clientCodeOf(error: unknown): string | null {
  const expected = findStreamlensError(error);
  if (expected) return expected.code;
  if (error instanceof GraphQLError && (!error.originalError || error.originalError instanceof GraphQLError)) {
    const code = error.extensions?.code ?? (error.originalError as GraphQLError | undefined)?.extensions?.code;
    return typeof code === 'string' ? code : 'BAD_USER_INPUT';
  }
  return null;
}

/** Whether an error is the client's mistake (logged at debug), not a server fault (logged at error). */
export function isClientError(error: unknown): boolean {
  const code = clientCodeOf(error);
  return code !== null && CLIENT_ERROR_CODES.has(code);
}

/**
 * graphql-yoga's logger: yoga logs at `error` every error the masker rewrites, client
 * mistakes included, and once more each unexpected error the masker has already logged with
 * its ids. Client mistakes go to `debug`, the repeats are dropped, the rest stays at `error`.
 */
export function createYogaLogging(
  logger: ErrorLogger & { info(object: object, message: string): void; warn(object: object, message: string): void },
  alreadyLogged: (error: unknown) => boolean,
) {
  return {
    debug: () => {},
    info: (...args: unknown[]) => logger.info({ args }, 'graphql-yoga'),
    warn: (...args: unknown[]) => logger.warn({ args }, 'graphql-yoga'),
    error: (...args: unknown[]) => {
      const [first] = args;
      if (args.length === 1 && isClientError(first)) {
        logger.debug?.({ code: clientCodeOf(first), error: (first as Error).message }, 'client error');
        return;
      }
      if (args.length === 1 && alreadyLogged(first)) return;
      logger.error({ args }, 'graphql-yoga');
    },
  };
}

/**
 * The error masker of every transport. `hideSuggestions`: with introspection off, errors lose
 * graphql-js's "Did you mean …?" hints (a misspelt variable field would otherwise name the real
 * ones). `loggedErrors` collects the unexpected errors it logged, so yoga's logger can skip them.
 */
export function createErrorMasker(logger: ErrorLogger, options: { hideSuggestions?: boolean; loggedErrors?: WeakSet<object> } = {}) {
  const shown = (error: GraphQLError): GraphQLError => (options.hideSuggestions ? withoutSuggestions(error) : error);
  const loggedErrors = options.loggedErrors ?? new WeakSet<object>();
  return (error: unknown, message: string): Error => {
    const expected = findStreamlensError(error);
    if (expected) return asGraphQLError(expected, error instanceof GraphQLError ? error : undefined);
    if (error instanceof GraphQLError && (!error.originalError || error.originalError instanceof GraphQLError)) {
      return shown(error.path || error.extensions?.code !== undefined ? error : asBadUserInput(error));
    }
    const errorId = randomUUID();
    // The request id too, so a report quoting either finds the log line (and the proxy's lines).
    const requestId = currentRequestId();
    const ids = requestId === undefined ? { errorId } : { errorId, requestId };
    logger.error({ err: error, ...ids }, 'unexpected error while executing an operation');
    if (typeof error === 'object' && error !== null) loggedErrors.add(error);
    return new GraphQLError(message, {
      ...(error instanceof GraphQLError && error.path ? { path: error.path } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR' satisfies ErrorCode, ...ids },
    });
  };
}

/**
 * How failures reach clients: expected ones (StreamlensError, GraphQL validation) keep their
 * message and gain `extensions.code`; anything else is masked, and logged with an error id
 * (and the request id, see request-ids.ts) the client also receives, so a report can be matched
 * to the log line.
 *
 * And how they reach the log: a client's mistake (bad input, a missing key, a limit) is the
 * client's to fix and is already in its answer, so it is logged at `debug`; only server faults
 * (an unexpected error, a dependency down) are logged at `error`. Otherwise anyone could fill
 * the error log, and bury the real faults, with bad requests.
 */
import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { StreamlensError } from '../errors.ts';
import { currentRequestId } from './request-ids.ts';
import { withoutSuggestions } from './persisted-operations.ts';

export interface ErrorLogger {
  error(object: object, message: string): void;
  /** Client mistakes; not logged when absent. */
  debug?(object: object, message: string): void;
}

/** The codes of errors the client causes and fixes; anything else is the server's. */
const CLIENT_ERROR_CODES: ReadonlySet<string> = new Set([
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_IN_LIST',
  'PERSISTED_QUERY_ID_REQUIRED',
  'CANNOT_SEND_PQ_ID_AND_BODY',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'RATE_LIMITED',
  'SUBSCRIPTION_LIMIT',
  'KEY_LIMIT',
  'QUERY_TOO_COMPLEX',
  'QUERY_TOO_LARGE',
  'PAYLOAD_TOO_LARGE',
  'SUBSCRIBER_TOO_SLOW',
]);

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
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
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
    if (expected) {
      const path = error instanceof GraphQLError ? error.path : undefined;
      return new GraphQLError(expected.message, {
        ...(path ? { path } : {}),
        extensions: { code: expected.code, ...expected.details, ...(expected.retryable ? { retryable: true } : {}) },
      });
    }
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
      extensions: { code: 'INTERNAL_SERVER_ERROR', ...ids },
    });
  };
}

/**
 * How failures reach clients: expected ones (StreamlensError, GraphQL validation) keep their
 * message and gain `extensions.code`; anything else is masked, and logged with an error id
 * (and the request id, see request-ids.ts) the client also receives, so a report can be matched
 * to the log line.
 */
import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { StreamlensError } from '../errors.ts';
import { currentRequestId } from './request-ids.ts';

export interface ErrorLogger {
  error(object: object, message: string): void;
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
    extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
  });
}

export function createErrorMasker(logger: ErrorLogger) {
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
      return error.path || error.extensions?.code !== undefined ? error : asBadUserInput(error);
    }
    const errorId = randomUUID();
    // The request id too, so a report quoting either finds the log line (and the proxy's lines).
    const requestId = currentRequestId();
    const ids = requestId === undefined ? { errorId } : { errorId, requestId };
    logger.error({ err: error, ...ids }, 'unexpected error while executing an operation');
    return new GraphQLError(message, {
      ...(error instanceof GraphQLError && error.path ? { path: error.path } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR', ...ids },
    });
  };
}

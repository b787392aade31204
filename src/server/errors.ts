/**
 * How failures reach clients: expected ones (StreamlensError, GraphQL validation) keep their
 * message and gain `extensions.code`; anything else is masked, and logged with an error id
 * the client also receives, so a report can be matched to the log line.
 */
import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { StreamlensError } from '../errors.ts';

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

export function createErrorMasker(logger: ErrorLogger) {
  return (error: unknown, message: string): Error => {
    const expected = findStreamlensError(error);
    if (expected) {
      const path = error instanceof GraphQLError ? error.path : undefined;
      return new GraphQLError(expected.message, {
        ...(path ? { path } : {}),
        extensions: { code: expected.code, ...(expected.retryable ? { retryable: true } : {}) },
      });
    }
    if (error instanceof GraphQLError && !error.originalError) return error;
    if (error instanceof GraphQLError && error.originalError instanceof GraphQLError) return error;
    const errorId = randomUUID();
    logger.error({ err: error, errorId }, 'unexpected error while executing an operation');
    return new GraphQLError(message, {
      ...(error instanceof GraphQLError && error.path ? { path: error.path } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR', errorId },
    });
  };
}

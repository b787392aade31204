/**
 * What a client receives for an expected error: src/server/errors.ts turns a StreamlensError into
 * the GraphQL error with its code, its details, `retryable`, where it happened, and for
 * RATE_LIMITED the Retry-After header; and every code but the server faults is the client's.
 */
import { describe, expect, it } from 'vitest';
import { GraphQLError, parse, type FieldNode, type OperationDefinitionNode } from 'graphql';
import { ERROR_CODES, forbidden, SERVER_FAULT_CODES, StreamlensError, unavailable } from '../../src/errors.ts';
import { createErrorMasker, isClientError } from '../../src/server/errors.ts';
import { rateLimited } from '../../src/limits/usage-limits.ts';

const silent = { error: () => {} };

/** The error graphql-js makes of one thrown by the `apiKeys` resolver. */
function thrownByResolver(error: Error): GraphQLError {
  const operation = parse('query Keys {\n  apiKeys { id }\n}').definitions[0] as OperationDefinitionNode;
  const field = operation.selectionSet.selections[0] as FieldNode;
  return new GraphQLError(error.message, { nodes: [field], path: ['apiKeys'], originalError: error });
}

describe('the error vocabulary', () => {
  it('answers a StreamlensError with its code, details and location', () => {
    const shown = createErrorMasker(silent)(thrownByResolver(forbidden('this API key lacks the READ scope', 'READ')), 'Unexpected error.');
    expect(JSON.parse(JSON.stringify(shown))).toEqual({
      message: 'this API key lacks the READ scope',
      locations: [{ line: 2, column: 3 }],
      path: ['apiKeys'],
      extensions: { code: 'FORBIDDEN', requiredScope: 'READ' },
    });
  });

  it('marks UNAVAILABLE retryable, and gives RATE_LIMITED its Retry-After header (yoga moves `http` out of the body)', () => {
    const mask = createErrorMasker(silent);
    expect((mask(unavailable('the event log is down'), 'Unexpected error.') as GraphQLError).extensions).toEqual({
      code: 'UNAVAILABLE',
      retryable: true,
    });
    expect(
      (mask(rateLimited('this key may start 10 operations per second', 2_400), 'Unexpected error.') as GraphQLError).extensions,
    ).toEqual({
      code: 'RATE_LIMITED',
      retryAfter: 3,
      http: { headers: { 'Retry-After': '3' } },
    });
    const tooLarge = new StreamlensError('QUERY_TOO_LARGE', 'too many points', { details: { measure: 'points', limit: 10, actual: 12 } });
    expect((mask(tooLarge, 'Unexpected error.') as GraphQLError).extensions).toEqual({
      code: 'QUERY_TOO_LARGE',
      measure: 'points',
      limit: 10,
      actual: 12,
    });
  });

  it('counts every code as the client’s mistake except the server faults', () => {
    expect([...SERVER_FAULT_CODES].sort()).toEqual(['INTERNAL_SERVER_ERROR', 'UNAVAILABLE']);
    for (const code of ERROR_CODES) {
      expect(isClientError(thrownByResolver(new StreamlensError(code, 'x'))), code).toBe(!SERVER_FAULT_CODES.includes(code));
      expect(isClientError(new GraphQLError('x', { extensions: { code } })), code).toBe(!SERVER_FAULT_CODES.includes(code));
    }
  });
});

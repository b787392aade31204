import { describe, expect, it } from 'vitest';
import { GraphQLError } from 'graphql';
import { createErrorMasker, createYogaLogging, isClientError } from '../../src/server/errors.ts';
import { badInput, unavailable } from '../../src/errors.ts';

function capture() {
  const lines: { level: string; object: Record<string, unknown>; message: string }[] = [];
  const at = (level: string) => (object: object, message: string) =>
    void lines.push({ level, object: object as Record<string, unknown>, message });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('log levels of errors', () => {
  it('tells client mistakes from server faults', () => {
    const located = (original: Error) => new GraphQLError(original.message, { originalError: original, path: ['field'] });
    expect(isClientError(located(badInput('bad')))).toBe(true);
    expect(isClientError(new GraphQLError('Variable "$e" got invalid value 5'))).toBe(true);
    for (const code of [
      'UNAUTHENTICATED',
      'FORBIDDEN',
      'RATE_LIMITED',
      'QUERY_TOO_COMPLEX',
      'QUERY_TOO_LARGE',
      'PAYLOAD_TOO_LARGE',
      'PERSISTED_QUERY_NOT_IN_LIST',
      'KEY_LIMIT',
      'GRAPHQL_VALIDATION_FAILED',
    ]) {
      expect(isClientError(new GraphQLError('x', { extensions: { code } }))).toBe(true);
    }
    expect(isClientError(located(unavailable('the log is down')))).toBe(false);
    expect(isClientError(located(new TypeError("Cannot read properties of undefined (reading 'rows')")))).toBe(false);
    expect(isClientError(new GraphQLError('x', { extensions: { code: 'INTERNAL_SERVER_ERROR' } }))).toBe(false);
  });

  it("logs yoga's client errors at debug, server faults at error, and a masked fault once", () => {
    const { lines, logger } = capture();
    const logged = new WeakSet<object>();
    const mask = createErrorMasker(logger, { loggedErrors: logged });
    const logging = createYogaLogging(logger, (error) => typeof error === 'object' && error !== null && logged.has(error));

    logging.error(new GraphQLError('tenant must be…', { originalError: badInput('tenant must be…'), path: ['createApiKey'] }));
    logging.error(new GraphQLError('Variable "$e" got invalid value 5'));
    expect(lines.map((line) => [line.level, line.message, line.object.code])).toEqual([
      ['debug', 'client error', 'BAD_USER_INPUT'],
      ['debug', 'client error', 'BAD_USER_INPUT'],
    ]);

    lines.length = 0;
    const fault = new GraphQLError('boom', { originalError: new TypeError('boom'), path: ['events'] });
    mask(fault, 'Unexpected error.');
    logging.error(fault); // yoga repeats what the masker logged: dropped
    logging.error(new GraphQLError('down', { originalError: unavailable('down'), path: ['x'] }));
    expect(lines.map((line) => [line.level, line.message])).toEqual([
      ['error', 'unexpected error while executing an operation'],
      ['error', 'graphql-yoga'],
    ]);
  });
});

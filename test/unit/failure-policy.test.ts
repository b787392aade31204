import { describe, expect, it } from 'vitest';
import { backoffMs, describeFailure, isOutage } from '../../src/stream/failure-policy.ts';
import { StreamlensError, unavailable } from '../../src/errors.ts';

/** An error shaped like a driver's: a name and fields, without importing the driver. */
function driverError(name: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name, ...fields });
}

describe('telling an outage from a poison record', () => {
  it.each([
    ['an UNAVAILABLE StreamlensError', unavailable('the series store could not write rollups')],
    ['a retryable StreamlensError', new StreamlensError('BAD_USER_INPUT', 'later', { retryable: true })],
    ['kafkajs marking an error retriable', driverError('KafkaJSProtocolError', { retriable: true })],
    ['a MongoDB network error', driverError('MongoNetworkError')],
    ['a MongoDB error labelled retryable', driverError('MongoServerError', { code: 91, errorLabels: ['RetryableWriteError'] })],
    ['a Cassandra cluster without hosts', driverError('NoHostAvailableError')],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['a full SQLite disk', driverError('SqliteError', { code: 'SQLITE_FULL' })],
    [
      'an outage wrapped by an adapter',
      unavailable('the MongoDB event store could not store events', driverError('MongoServerSelectionError')),
    ],
  ])('%s is an outage', (_, error) => {
    expect(isOutage(error)).toBe(true);
  });

  it.each([
    ['a plain error of the processor', new Error('the event store returned no claim for event x')],
    ['a TypeError of our code on this data', new TypeError("Cannot read properties of undefined (reading 'accept')")],
    [
      'a stack overflow, even wrapped as UNAVAILABLE by a SQLite adapter',
      unavailable('the embedded event store could not store events', new RangeError('Maximum call stack size exceeded')),
    ],
    [
      'a document MongoDB refuses, wrapped as UNAVAILABLE',
      unavailable('the MongoDB event store could not store events', driverError('MongoServerError', { code: 10334 })),
    ],
    [
      'a statement Cassandra refuses as invalid',
      unavailable('the Cassandra series store could not write rollups', driverError('ResponseError', { code: 0x2200 })),
    ],
    ['a thrown string', 'boom'],
  ])('%s is not an outage', (_, error) => {
    expect(isOutage(error)).toBe(false);
  });

  it('follows a cyclic cause chain without hanging', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(isOutage(a)).toBe(false);
    expect(describeFailure(a)).toBe('Error: a <- caused by Error: b');
  });

  it('describes a failure on one bounded, well-formed line', () => {
    const described = describeFailure(new Error(`line one\nline two \ud800 ${'x'.repeat(2_000)}`), 100);
    expect(described).toHaveLength(100);
    expect(described.startsWith('Error: line one line two \ufffd x')).toBe(true);
    expect(described.isWellFormed()).toBe(true);
  });

  it('doubles the pause from 250 ms up to 8 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(backoffMs)).toEqual([250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });
});

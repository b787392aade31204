import { describe, expect, it } from 'vitest';
import { decodeLogRecord } from '../../src/domain/log-record.ts';

const valid = {
  tenant: 'default',
  id: 'a',
  type: 'click',
  timestamp: 1,
  receivedAt: 2,
  clockCorrectionMs: 0,
  source: null,
  dimensions: { country: 'NL', n: 1, ok: true },
  values: { ms: 5 },
  properties: { any: { nested: ['thing'] } },
};

describe('decodeLogRecord', () => {
  it('reads back what ingest writes', () => {
    expect(decodeLogRecord(JSON.stringify(valid))).toEqual(valid);
  });

  it.each([
    ['not JSON', '{"tenant":'],
    ['not an object', '[1,2]'],
    ['a missing id', JSON.stringify({ ...valid, id: undefined })],
    ['a non-numeric value', JSON.stringify({ ...valid, values: { ms: '5' } })],
    ['a dotted dimension key', JSON.stringify({ ...valid, dimensions: { 'a.b': 'x' } })],
    ['an operator key', JSON.stringify({ ...valid, values: { $inc: 1 } })],
    ['a nested dimension', JSON.stringify({ ...valid, dimensions: { a: { b: 1 } } })],
  ])('treats a record with %s as poison', (_, text) => {
    expect(decodeLogRecord(text)).toBeNull();
  });
});

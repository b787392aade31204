/**
 * Every string ingest stores is well-formed UTF-16: a lone surrogate cannot be written as UTF-8
 * (every store and the log turn it into U+FFFD, so two different ids would become one). Ingest
 * refuses it with the field's code; a record already in the log with one is poison.
 */
import { describe, expect, it } from 'vitest';
import { validateEvent, type EventInput, type ValidationContext } from '../../src/ingest/validate-event.ts';
import { decodeLogRecord, encodeLogRecord } from '../../src/domain/log-record.ts';
import { decodeEventCursor, encodeEventCursor } from '../../src/query/cursors.ts';
import { toEventQuery, validateDimensionFilter } from '../../src/query/event-filter.ts';

const context: ValidationContext = {
  tenant: 'default',
  receivedAt: Date.parse('2026-11-27T12:00:00.000Z'),
  sentAt: null,
  limits: { maxPropertiesBytes: 16_384 },
  newId: () => 'generated-id',
};

function rejection(input: EventInput) {
  const result = validateEvent(input, context);
  if (result.ok) throw new Error(`expected a rejection of ${JSON.stringify(input)}`);
  return result.error;
}

const HIGH = '\ud800';
const LOW = '\udfff';

describe('validateEvent refuses strings that are not well-formed Unicode', () => {
  it.each([
    ['a lone high surrogate in the id', { type: 'a', id: `sur-${HIGH}` }, 'INVALID_ID', 'id'],
    ['a lone low surrogate in the id', { type: 'a', id: `${LOW}x` }, 'INVALID_ID', 'id'],
    ['reversed surrogates in the id', { type: 'a', id: `${LOW}${HIGH}` }, 'INVALID_ID', 'id'],
    ['a lone surrogate in the source', { type: 'a', source: `web${HIGH}` }, 'INVALID_SOURCE', 'source'],
    [
      'a lone surrogate in a dimension value',
      { type: 'a', dimensions: { country: `N${LOW}L` } },
      'INVALID_DIMENSIONS',
      'dimensions.country',
    ],
    ['a lone surrogate in a dimension key', { type: 'a', dimensions: { [`k${HIGH}`]: 'x' } }, 'INVALID_DIMENSIONS', 'dimensions.k\ufffd'],
    ['a lone surrogate in a value key', { type: 'a', values: { [`k${HIGH}`]: 1 } }, 'INVALID_VALUES', 'values.k\ufffd'],
    ['a lone surrogate in a property string', { type: 'a', properties: { note: `x${HIGH}` } }, 'INVALID_PROPERTIES', 'properties.note'],
    [
      'a lone surrogate deep in properties',
      { type: 'a', properties: { a: { b: [1, { c: [`${LOW}`] }] } } },
      'INVALID_PROPERTIES',
      'properties.a.b[1].c[0]',
    ],
    [
      'a lone surrogate in a property key',
      { type: 'a', properties: { a: { [`k${HIGH}`]: 1 } } },
      'INVALID_PROPERTIES',
      'properties.a.k\ufffd',
    ],
  ] as [string, EventInput, string, string][])('%s', (_, input, code, path) => {
    const error = rejection(input);
    expect([error.code, error.path]).toEqual([code, path]);
    expect(error.message).toMatch(/well-formed Unicode|characters of/);
    // The answer itself is well-formed: it can be written to any client and any log.
    expect(error.path.isWellFormed() && error.message.isWellFormed()).toBe(true);
  });

  it('names the lone surrogate in its message', () => {
    expect(rejection({ type: 'a', id: `sur-${HIGH}` }).message).toBe('id must be well-formed Unicode: it holds a lone surrogate (U+D800)');
  });

  it('accepts surrogate pairs (emoji) everywhere', () => {
    const emoji = '\u{1F600}';
    const result = validateEvent(
      { id: `id-${emoji}`, type: 'a', source: emoji, dimensions: { d: emoji }, properties: { [emoji]: [emoji, { x: emoji }] } },
      context,
    );
    expect(result.ok).toBe(true);
  });
});

describe('decodeLogRecord refuses records ingest would have refused', () => {
  const valid = {
    tenant: 'default',
    id: 'a',
    type: 'click',
    timestamp: 1,
    receivedAt: 2,
    clockCorrectionMs: 0,
    source: null,
    dimensions: { country: 'NL' },
    values: { ms: 5 },
    properties: { any: ['thing'] },
  };

  it.each([
    ['a lone surrogate in the id', { ...valid, id: `sur-${HIGH}` }],
    ['a lone surrogate in the tenant', { ...valid, tenant: `t${LOW}` }],
    ['a lone surrogate in the type', { ...valid, type: `t${HIGH}` }],
    ['a lone surrogate in the source', { ...valid, source: `s${HIGH}` }],
    ['a lone surrogate in a dimension value', { ...valid, dimensions: { country: HIGH } }],
    ['a lone surrogate deep in properties', { ...valid, properties: { a: [{ b: `x${LOW}` }] } }],
    ['a lone surrogate in a property key', { ...valid, properties: { a: { [LOW]: 1 } } }],
    ['an ill-formed type', { ...valid, type: 'has space' }],
    ['a values map that is an array', { ...valid, values: [1] }],
  ])('treats a record with %s as poison', (_, record) => {
    // JSON.stringify writes a lone surrogate as a \\u escape, as ingest's log encoding did.
    expect(decodeLogRecord(JSON.stringify(record))).toBeNull();
  });

  it.each([
    ['a __proto__ value key', '{"__proto__":1}', 'values'],
    ['a __proto__ dimension key', '{"__proto__":"x"}', 'dimensions'],
  ])('treats a record with %s as poison', (_, map, field) => {
    const text = JSON.stringify(valid).replace(`"${field}":${JSON.stringify(valid[field as 'values'])}`, `"${field}":${map}`);
    expect(text).toContain('__proto__');
    expect(decodeLogRecord(text)).toBeNull();
  });

  it('keeps only the fields of an event, whatever else a record carries', () => {
    const text = JSON.stringify(valid).replace(/^\{/, '{"__proto__":{"polluted":true},"extra":1,');
    const decoded = decodeLogRecord(text);
    expect(decoded).toEqual(valid);
    expect(Object.keys(decoded!)).toEqual(Object.keys(valid));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });

  it('reads back a record with escaped surrogate pairs', () => {
    const record = { ...valid, id: 'id-\u{1F600}', properties: { '\u{1F600}': '\u{1F600}' } };
    const text = encodeLogRecord(record).replace('\u{1F600}', '\\ud83d\\ude00');
    expect(decodeLogRecord(text)).toEqual(record);
  });

  it('reads back what encodeLogRecord writes', () => {
    expect(decodeLogRecord(encodeLogRecord(valid))).toEqual(valid);
  });
});

describe('query arguments that would reach a store', () => {
  it('refuses a lone surrogate in a dimension filter value', () => {
    expect(() => validateDimensionFilter({ country: `N${HIGH}` }, 'filter.dimensions')).toThrow(
      expect.objectContaining({
        code: 'BAD_USER_INPUT',
        message: 'filter.dimensions.country must be well-formed Unicode: it holds a lone surrogate (U+D800)',
      }),
    );
  });

  it('refuses a lone surrogate in the source filter', () => {
    expect(() => toEventQuery('default', { source: `web${LOW}` })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
  });

  it('refuses a forged cursor carrying a lone surrogate', () => {
    const forged = Buffer.from(`["e",1,"a\\ud800"]`).toString('base64url');
    expect(() => decodeEventCursor(forged)).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }));
    expect(decodeEventCursor(encodeEventCursor({ timestamp: 1, id: 'a\u{1F600}' }))).toEqual({ timestamp: 1, id: 'a\u{1F600}' });
  });
});

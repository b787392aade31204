import { describe, expect, it } from 'vitest';
import { validateEvent, type EventInput, type ValidationContext } from '../../src/ingest/validate-event.ts';

const RECEIVED_AT = Date.parse('2026-11-27T12:00:00.000Z');
const context: ValidationContext = {
  tenant: 'default',
  receivedAt: RECEIVED_AT,
  sentAt: null,
  limits: { maxPropertiesBytes: 64 },
  newId: () => 'generated-id',
};

function rejectCode(input: EventInput, ctx: ValidationContext = context) {
  const result = validateEvent(input, ctx);
  if (result.ok) throw new Error('expected a rejection');
  return [result.error.code, result.error.path];
}

describe('validateEvent', () => {
  it('normalises a complete event', () => {
    const result = validateEvent(
      {
        id: 'order-1',
        type: 'purchase',
        timestamp: new Date('2026-11-27T11:59:00.000Z'),
        source: 'web',
        dimensions: { country: 'NL', pro: true, tier: 2 },
        values: { amount: 49.5 },
        properties: { cart: ['a', 'b'] },
      },
      context,
    );
    expect(result).toEqual({
      ok: true,
      event: {
        tenant: 'default',
        id: 'order-1',
        type: 'purchase',
        timestamp: Date.parse('2026-11-27T11:59:00.000Z'),
        receivedAt: RECEIVED_AT,
        clockCorrectionMs: 0,
        source: 'web',
        dimensions: { country: 'NL', pro: true, tier: 2 },
        values: { amount: 49.5 },
        properties: { cart: ['a', 'b'] },
      },
    });
  });

  it('generates an id and takes the receive time when they are absent', () => {
    const result = validateEvent({ type: 'page_view' }, context);
    expect(result.ok && result.event.id).toBe('generated-id');
    expect(result.ok && result.event.timestamp).toBe(RECEIVED_AT);
    expect(result.ok && result.event.dimensions).toEqual({});
    expect(result.ok && result.event.values).toEqual({});
    expect(result.ok && result.event.properties).toBeNull();
  });

  it('corrects client clock skew by receivedAt - sentAt and keeps the correction', () => {
    // The client clock runs 90 s behind: it sent the batch "at" 11:58:30 when the server read 12:00:00.
    const ctx = { ...context, sentAt: RECEIVED_AT - 90_000 };
    const result = validateEvent({ type: 'click', timestamp: new Date(RECEIVED_AT - 100_000) }, ctx);
    expect(result.ok && result.event.timestamp).toBe(RECEIVED_AT - 10_000);
    expect(result.ok && result.event.clockCorrectionMs).toBe(90_000);
  });

  it('does not correct the server-assigned timestamp', () => {
    const result = validateEvent({ type: 'click' }, { ...context, sentAt: RECEIVED_AT - 90_000 });
    expect(result.ok && result.event.timestamp).toBe(RECEIVED_AT);
    expect(result.ok && result.event.clockCorrectionMs).toBe(0);
  });

  it.each([
    [{ type: 'a', id: '' }, 'INVALID_ID', 'id'],
    [{ type: 'a', id: 'x'.repeat(129) }, 'INVALID_ID', 'id'],
    [{ type: 'a', id: 'bad\nid' }, 'INVALID_ID', 'id'],
    [{ type: '' }, 'INVALID_TYPE', 'type'],
    [{ type: 'has space' }, 'INVALID_TYPE', 'type'],
    [{ type: 'x'.repeat(129) }, 'INVALID_TYPE', 'type'],
    [{ type: 'a', timestamp: new Date('1969-12-31T23:59:59.999Z') }, 'INVALID_TIMESTAMP', 'timestamp'],
    [{ type: 'a', timestamp: new Date(RECEIVED_AT + 367 * 86_400_000) }, 'INVALID_TIMESTAMP', 'timestamp'],
    [{ type: 'a', timestamp: new Date(Number.NaN) }, 'INVALID_TIMESTAMP', 'timestamp'],
    [{ type: 'a', source: '' }, 'INVALID_SOURCE', 'source'],
    [{ type: 'a', dimensions: { nested: { a: 1 } } }, 'INVALID_DIMENSIONS', 'dimensions.nested'],
    [{ type: 'a', dimensions: { list: [1] } }, 'INVALID_DIMENSIONS', 'dimensions.list'],
    [{ type: 'a', dimensions: { none: null } }, 'INVALID_DIMENSIONS', 'dimensions.none'],
    [{ type: 'a', dimensions: { $where: 'x' } }, 'INVALID_DIMENSIONS', 'dimensions.$where'],
    [{ type: 'a', dimensions: { 'a.b': 'x' } }, 'INVALID_DIMENSIONS', 'dimensions.a.b'],
    [{ type: 'a', dimensions: { long: 'x'.repeat(257) } }, 'INVALID_DIMENSIONS', 'dimensions.long'],
    [{ type: 'a', values: { amount: '12' } }, 'INVALID_VALUES', 'values.amount'],
    [{ type: 'a', values: { amount: true } }, 'INVALID_VALUES', 'values.amount'],
    [{ type: 'a', values: { amount: Number.POSITIVE_INFINITY } }, 'INVALID_VALUES', 'values.amount'],
    [{ type: 'a', values: { amount: Number.NaN } }, 'INVALID_VALUES', 'values.amount'],
    [{ type: 'a', properties: { blob: 'x'.repeat(100) } }, 'INVALID_PROPERTIES', 'properties'],
  ] as [EventInput, string, string][])('rejects %j with %s at %s', (input, code, path) => {
    expect(rejectCode(input)).toEqual([code, path]);
  });

  it('says why a key named __proto__ is refused (a plain object would drop it), for dimensions and values', () => {
    // JSON.parse makes `__proto__` an own key, as a request body does; an object literal would not.
    const input = JSON.parse('{"type":"a","dimensions":{"__proto__":"x"}}') as EventInput;
    const result = validateEvent(input, context);
    expect(result.ok).toBe(false);
    expect(result.ok ? null : result.error).toMatchObject({
      code: 'INVALID_DIMENSIONS',
      message: 'dimension keys must be 1 to 64 characters of A-Z, a-z, 0-9, _ : -, not start with - or :, and not be __proto__',
    });
    const values = validateEvent(JSON.parse('{"type":"a","values":{"__proto__":1}}') as EventInput, context);
    expect(values.ok ? null : values.error.message).toMatch(/^value keys must .* and not be __proto__$/);
  });

  it('accepts the edges of every limit', () => {
    const dimensions = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`d${i}`, 'x'.repeat(256)]));
    const result = validateEvent({ id: 'x'.repeat(128), type: 'a.b:c-d_E9'.padEnd(128, 'z'), dimensions, timestamp: new Date(0) }, context);
    expect(result.ok).toBe(true);
    expect(rejectCode({ type: 'a', dimensions: { ...dimensions, d32: 'x' } })).toEqual(['INVALID_DIMENSIONS', 'dimensions']);
  });

  it('refuses pathologically deep properties', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(rejectCode({ type: 'a', properties: deep }, { ...context, limits: { maxPropertiesBytes: 1_000_000 } })).toEqual([
      'INVALID_PROPERTIES',
      'properties',
    ]);
  });
});

/**
 * `EventInput.distinct` from ingest to the log and back: validated like dimensions (key rule,
 * value length, well-formed Unicode, prototype names are ordinary keys), but strings only and at
 * most four keys; absent when an event carries none, so such events are unchanged.
 */
import { describe, expect, it } from 'vitest';
import { validateEvent, type EventInput, type ValidationContext } from '../../src/ingest/validate-event.ts';
import { decodeLogRecord, encodeLogRecord } from '../../src/domain/log-record.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';

const context: ValidationContext = {
  tenant: 'acme',
  receivedAt: Date.parse('2026-11-27T12:00:00.000Z'),
  sentAt: null,
  limits: { maxPropertiesBytes: 1024 },
  newId: () => 'generated-id',
};

function accepted(input: EventInput): AcceptedEvent {
  const result = validateEvent(input, context);
  if (!result.ok) throw new Error(`expected acceptance, got ${result.error.code} at ${result.error.path}`);
  return result.event;
}

function rejected(input: EventInput): [string, string, string] {
  const result = validateEvent(input, context);
  if (result.ok) throw new Error('expected a rejection');
  return [result.error.code, result.error.path, result.error.message];
}

describe('EventInput.distinct', () => {
  it('keeps up to four string ids, prototype member names as ordinary keys', () => {
    const distinct = { user: 'u-1', constructor: 'c', toString: '', session: '😀'.repeat(128) };
    expect(accepted({ type: 'view', distinct }).distinct).toEqual(distinct);
  });

  it('leaves the field out when there is nothing to count', () => {
    expect(accepted({ type: 'view' })).not.toHaveProperty('distinct');
    expect(accepted({ type: 'view', distinct: null })).not.toHaveProperty('distinct');
    expect(accepted({ type: 'view', distinct: {} })).not.toHaveProperty('distinct');
  });

  it.each([
    ['five keys', { a: '1', b: '2', c: '3', d: '4', e: '5' }, 'distinct', /at most 4 distinct keys/],
    ['a number', { user: 42 }, 'distinct.user', /must be strings/],
    ['a boolean', { user: true }, 'distinct.user', /must be strings/],
    ['null', { user: null }, 'distinct.user', /must be strings/],
    ['an object', { user: { id: 'u' } }, 'distinct.user', /must be strings/],
    ['a list', { user: ['u'] }, 'distinct.user', /must be strings/],
    ['257 characters', { user: 'x'.repeat(257) }, 'distinct.user', /at most 256 characters/],
    ['a lone surrogate', { user: 'u\ud800' }, 'distinct.user', /lone surrogate \(U\+D800\)/],
    ['a dotted key', { 'a.b': 'u' }, 'distinct.a.b', /distinct keys must be/],
    ['a $ key', { $where: 'u' }, 'distinct.$where', /distinct keys must be/],
  ])('refuses %s with INVALID_DISTINCT', (_name, distinct, path, message) => {
    const [code, errorPath, text] = rejected({ type: 'view', distinct: distinct as Record<string, unknown> });
    expect([code, errorPath]).toEqual(['INVALID_DISTINCT', path]);
    expect(text).toMatch(message);
  });

  it('refuses a distinct that is not an object', () => {
    expect(rejected({ type: 'view', distinct: ['u'] as unknown as Record<string, unknown> }).slice(0, 2)).toEqual([
      'INVALID_DISTINCT',
      'distinct',
    ]);
  });

  it('travels through the log record and back; a record without it (older builds) reads as before', () => {
    const event = accepted({ type: 'view', distinct: { user: 'u-1', constructor: 'x' } });
    expect(decodeLogRecord(encodeLogRecord(event))).toEqual(event);
    const plain = accepted({ type: 'view' });
    expect(decodeLogRecord(encodeLogRecord(plain))).not.toHaveProperty('distinct');
  });

  it.each([
    ['a number value', { user: 1 }],
    ['five keys', { a: '1', b: '2', c: '3', d: '4', e: '5' }],
    ['an empty object', {}],
    ['a lone surrogate', { user: 'u\ud800' }],
    ['a bad key', { 'a.b': 'u' }],
  ])('takes a log record whose distinct holds %s for poison', (_name, distinct) => {
    const event = { ...accepted({ type: 'view' }), distinct };
    expect(decodeLogRecord(JSON.stringify(event))).toBeNull();
  });
});

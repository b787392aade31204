/**
 * Property-based tests of hostile events through the pure path from ingest to the rollups:
 * validation, the log codec, and the rollup maths, over arbitrary keys (prototype member names,
 * `__proto__`, `_bsontype`, store syntax, control characters, lone surrogates) and arbitrary
 * strings and nesting.
 *
 * `npm test` runs them with a fixed seed. A larger random run (fuzz-settings.ts):
 *   FUZZ_RUNS=20000 FUZZ_SEED=random npx vitest run test/property
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findIllFormedString } from '../../src/domain/well-formed.ts';
import { MAP_KEY_PATTERN } from '../../src/domain/event-rules.ts';
import { validateEvent, type EventInput, type IngestErrorCode } from '../../src/ingest/validate-event.ts';
import { decodeLogRecord, encodeLogRecord } from '../../src/domain/log-record.ts';
import { mergeIntoRollups, type CountedEvent } from '../../src/stream/rollup-plan.ts';
import {
  addEvent,
  decodeAggregate,
  emptyAggregate,
  encodeAggregate,
  mergeInto,
  pointStats,
  type Aggregate,
} from '../../src/domain/rollup.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';
import { fuzzSettings } from './fuzz-settings.ts';
import { PROTOTYPE_MEMBER_KEYS, PROTOTYPE_MEMBERS } from '../support/prototype-members.ts';

/** The fixed seed of `npm test`; pure functions, so 300 runs per property take well under a second each. */
const options = fuzzSettings('poison-events', { seed: 20261127, runs: 300 });

const CODES: IngestErrorCode[] = [
  'INVALID_ID',
  'INVALID_TYPE',
  'INVALID_TIMESTAMP',
  'INVALID_SOURCE',
  'INVALID_DIMENSIONS',
  'INVALID_VALUES',
  'INVALID_PROPERTIES',
];

/** One UTF-16 unit or code point of a hostile string: lone surrogates, controls, store syntax, emoji, ASCII. */
const hostileUnit = fc.oneof(
  fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)),
  fc.integer({ min: 0, max: 0x1f }).map((unit) => String.fromCharCode(unit)),
  fc.constantFrom('.', '$', '\u007f', '\u0085', '\ufffd', '\u{1F600}', '"', '\\'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
);
const hostileString = fc.string({ unit: hostileUnit, maxLength: 12 });

/** Keys: prototype member names, names stores treat specially, valid keys, and anything at all. */
const hostileKey = fc.oneof(
  fc.constantFrom(...PROTOTYPE_MEMBERS, '_bsontype', 'toBSON', '$where', 'a.b', 'toJSON'),
  fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_:-]{0,10}$/),
  hostileString,
);
/** Keys that pass the key rule, prototype member names first among them. */
const validKey = fc.oneof(
  fc.constantFrom(...PROTOTYPE_MEMBER_KEYS, '_bsontype', 'toBSON', 'toJSON'),
  fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_:-]{0,10}$/),
);

/** JSON has no negative zero: -0 in properties reads back as 0 from the log and every store. */
function withoutNegativeZero(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(withoutNegativeZero);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, withoutNegativeZero(child)]));
  }
  return value;
}

/** An object built as JSON.parse builds one: every key an own data property, `__proto__` included. */
function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  return Object.fromEntries(entries);
}

const context = {
  tenant: 'default',
  receivedAt: Date.parse('2026-11-27T12:00:00.000Z'),
  sentAt: null,
  limits: { maxPropertiesBytes: 16_384 },
  newId: () => 'generated-id',
};

/** Mostly what a client sends, sometimes hostile: so that both the accepted and the rejected paths run often. */
const mostly = <T, U = T>(usual: fc.Arbitrary<T>, hostile: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
  fc.oneof({ weight: 12, arbitrary: usual }, { weight: 1, arbitrary: hostile });
/** Well-formed text, controls and emoji included. */
const text = fc.string({
  unit: fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 12,
});
const anyString = mostly(text, hostileString);
const anyKey = mostly(validKey, hostileKey);
const map = <T>(value: fc.Arbitrary<T>) => fc.array(fc.tuple(anyKey, value), { maxLength: 6 }).map(objectOf);

const number = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: -1_000, max: 1_000 }),
  fc.constantFrom(-0, 0.5, 1e308),
);
const anyNumber = mostly(number, fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY));
const properties = fc
  .jsonValue({
    maxDepth: 4,
    stringUnit: fc.oneof(
      { weight: 8, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
      { weight: 1, arbitrary: hostileUnit },
    ),
  })
  .map(withoutNegativeZero);

const hostileEvent: fc.Arbitrary<EventInput> = fc.record(
  {
    id: fc.option(mostly(fc.stringMatching(/^[a-z0-9-]{1,20}$/), hostileString), { nil: null }),
    type: mostly(fc.constantFrom('page_view', 'constructor', 'toString', '__proto__', '_bsontype'), hostileString),
    timestamp: fc.option(
      mostly(fc.integer({ min: 0, max: context.receivedAt }), fc.constantFrom(-1, Number.NaN, 4_102_444_800_000)).map((ms) => new Date(ms)),
      { nil: null },
    ),
    source: fc.option(anyString, { nil: null }),
    dimensions: fc.option(
      map(mostly(fc.oneof(anyString, anyNumber, fc.boolean()), fc.oneof(fc.constant(null), fc.array(fc.integer(), { maxLength: 2 })))),
      { nil: null },
    ),
    values: fc.option(map(mostly(anyNumber, fc.oneof(hostileString, fc.boolean()))), { nil: null }),
    properties: fc.option(map(properties), { nil: null }),
  },
  { requiredKeys: ['type'] },
);

/** Whether every string of an accepted event, keys included and at any depth, is well-formed. */
function everyStringWellFormed(event: AcceptedEvent): boolean {
  return findIllFormedString(event as unknown as Record<string, unknown>, 'event', 64) === null;
}

describe('hostile events, property-based', () => {
  let accepted = 0;
  let acceptedWithPrototypeKeys = 0;
  it('validateEvent rejects with a known code, or accepts an event whose every string is well-formed and that the log codec returns unchanged', () => {
    fc.assert(
      fc.property(hostileEvent, (input) => {
        const result = validateEvent(input, context);
        if (!result.ok) {
          expect(CODES).toContain(result.error.code);
          expect(result.error.path.isWellFormed() && result.error.message.isWellFormed()).toBe(true);
          return;
        }
        const event = result.event;
        accepted += 1;
        if (Object.keys(event.values).some((key) => PROTOTYPE_MEMBERS.includes(key))) acceptedWithPrototypeKeys += 1;
        expect(everyStringWellFormed(event)).toBe(true);
        for (const key of [...Object.keys(event.dimensions), ...Object.keys(event.values)]) expect(key).toMatch(MAP_KEY_PATTERN);
        const decoded = decodeLogRecord(encodeLogRecord(event));
        expect(decoded).toEqual(event);
        expect(encodeLogRecord(decoded!)).toBe(encodeLogRecord(event));
      }),
      options,
    );
    expect(accepted).toBeGreaterThan(options.numRuns / 10);
    expect(acceptedWithPrototypeKeys).toBeGreaterThan(0);
  });

  let acceptedEvents = 0;
  it('every accepted event rolls up: rows count each event once per interval, and value counts, minima and maxima match a naive reference', () => {
    fc.assert(
      fc.property(fc.array(hostileEvent, { maxLength: 12 }), (inputs) => {
        const accepted = inputs.flatMap((input) => {
          const result = validateEvent(input, context);
          return result.ok ? [decodeLogRecord(encodeLogRecord(result.event))!] : [];
        });
        const counted: CountedEvent[] = accepted.map((event, offset) => ({
          partition: 0,
          offset,
          event: { ...event, position: { partition: 0, offset }, quarantine: null },
        }));
        const rows = mergeIntoRollups([], counted);
        acceptedEvents += accepted.length;
        const reference = new Map<string, { count: number; values: number[] }>();
        for (const event of accepted) {
          for (const [key, value] of Object.entries(event.values)) {
            let entry = reference.get(key);
            if (!entry) reference.set(key, (entry = { count: 0, values: [] }));
            entry.count += 1;
            entry.values.push(value);
          }
        }
        for (const interval of ['SECOND', 'MINUTE', 'HOUR', 'DAY']) {
          const ofInterval = rows.filter((row) => row.interval === interval);
          expect(ofInterval.reduce((n, row) => n + row.aggregate.count, 0)).toBe(accepted.length);
          for (const [key, entry] of reference) {
            const stats = ofInterval.map((row) => row.aggregate.values.get(key)).filter((s) => s !== undefined);
            expect(stats.reduce((n, s) => n + s.count, 0)).toBe(entry.count);
            expect(Math.min(...stats.map((s) => s.min))).toBe(Math.min(...entry.values));
            expect(Math.max(...stats.map((s) => s.max))).toBe(Math.max(...entry.values));
          }
        }
      }),
      options,
    );
    // The generators must reach the accepted path often enough to mean something.
    expect(acceptedEvents).toBeGreaterThan(options.numRuns / 2);
  });

  it('addEvent and mergeInto over arbitrary keys give exact counts and sums, equal to a naive Map-based reference', () => {
    // Quarters of integers are exact in binary floating point, so every sum is exact whatever its order.
    const exactNumber = fc.integer({ min: -4_000_000, max: 4_000_000 }).map((n) => n / 4);
    const measurement = fc
      .array(fc.tuple(validKey, exactNumber), { maxLength: 5 })
      .map((entries) => Object.fromEntries(entries) as Record<string, number>);
    fc.assert(
      fc.property(fc.array(fc.tuple(measurement, fc.integer({ min: 0, max: 2 }), fc.boolean()), { maxLength: 30 }), (events) => {
        const reference = new Map<string, { count: number; sum: number; min: number; max: number }>();
        const parts: Aggregate[] = [emptyAggregate(), emptyAggregate(), emptyAggregate()];
        for (const [values, part] of events) {
          addEvent(parts[part]!, values);
          for (const [key, value] of Object.entries(values)) {
            const entry = reference.get(key) ?? { count: 0, sum: 0, min: Infinity, max: -Infinity };
            reference.set(key, {
              count: entry.count + 1,
              sum: entry.sum + value,
              min: Math.min(entry.min, value),
              max: Math.max(entry.max, value),
            });
          }
        }
        const merged = emptyAggregate();
        // Some parts go through the storage form, as rows read back from a store do.
        parts.forEach((part, index) => mergeInto(merged, events[index]?.[2] ? decodeAggregate(encodeAggregate(part)) : part));
        expect(merged.count).toBe(events.length);
        expect([...merged.values.keys()].sort()).toEqual([...reference.keys()].sort());
        for (const [key, entry] of reference) {
          expect(pointStats(merged, key)).toMatchObject({ count: events.length, sum: entry.sum, min: entry.min, max: entry.max });
          expect(merged.values.get(key)!.count).toBe(entry.count);
          expect(pointStats(decodeAggregate(encodeAggregate(merged), key), key)).toMatchObject({
            sum: entry.sum,
            min: entry.min,
            max: entry.max,
          });
        }
      }),
      options,
    );
  });
});

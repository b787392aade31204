/**
 * `where`: the checks of a condition list (validateWhere) and the one matcher every layer uses,
 * on events and on rollup rows (series and top). Exact answers; the agreement of the stores'
 * translations with the matcher is in test/property/where-matcher.property.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { matchesConditions } from '../../src/domain/dimension-conditions.ts';
import type { DimensionValue } from '../../src/domain/event.ts';
import { matchesEventQuery, toEventQuery, validateWhere, type DimensionConditionInput } from '../../src/query/event-filter.ts';
import { MAX_CONDITION_VALUES, MAX_WHERE_CONDITIONS } from '../../src/query/query-limits.ts';
import { buildSeries, buildTop } from '../../src/query/series-view.ts';
import { mergeIntoRollups, type CountedEvent } from '../../src/stream/rollup-plan.ts';
import { StreamlensError } from '../../src/errors.ts';
import { PROTOTYPE_MEMBER_KEYS } from '../support/prototype-members.ts';

function matches(dimensions: Record<string, DimensionValue>, where: DimensionConditionInput[]): boolean {
  return matchesConditions(dimensions, validateWhere(where, 'where'));
}

/** The error validateWhere throws, as code, message and extensions. */
function refusal(where: unknown[]): { code: string; message: string; details: unknown } {
  try {
    validateWhere(where as DimensionConditionInput[], 'query.where');
  } catch (error) {
    if (!(error instanceof StreamlensError)) throw error;
    return { code: error.code, message: error.message, details: error.details };
  }
  throw new Error('validateWhere accepted it');
}

describe('validateWhere', () => {
  it('is null for no conditions', () => {
    expect(validateWhere(null, 'w')).toBeNull();
    expect(validateWhere(undefined, 'w')).toBeNull();
    expect(validateWhere([], 'w')).toBeNull();
  });

  it('puts values in their compared text form, in sets for lists', () => {
    expect(
      validateWhere(
        [
          { key: 'tier', eq: 2 },
          { key: 'flag', neq: true },
          { key: 'n', in: [1.5, '1.5', -0] },
          { key: 'plan', notIn: ['free'] },
          { key: 'x', exists: false },
        ],
        'w',
      ),
    ).toEqual([
      { key: 'tier', operator: 'eq', value: '2' },
      { key: 'flag', operator: 'neq', value: 'true' },
      { key: 'n', operator: 'in', values: new Set(['1.5', '0']) },
      { key: 'plan', operator: 'notIn', values: new Set(['free']) },
      { key: 'x', operator: 'exists', exists: false },
    ]);
  });

  it('refuses a condition with no operator, or with two, naming the condition', () => {
    expect(refusal([{ key: 'plan', eq: 'a' }, { key: 'country' }])).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'query.where[1] (key "country") must set exactly one of eq, neq, in, notIn, exists; it sets none',
      details: {},
    });
    // An explicit null is not set.
    expect(refusal([{ key: 'country', eq: null, exists: null }]).message).toBe(
      'query.where[0] (key "country") must set exactly one of eq, neq, in, notIn, exists; it sets none',
    );
    expect(refusal([{ key: 'plan', eq: 'a', notIn: [], exists: false }]).message).toBe(
      'query.where[0] (key "plan") must set exactly one of eq, neq, in, notIn, exists; it sets eq, notIn and exists',
    );
  });

  it('refuses keys ingest refuses, __proto__ included', () => {
    for (const key of ['', '__proto__', '$gt', 'a.b', '-x', 'k'.repeat(65), '\ud800']) {
      expect(refusal([{ key, exists: true }])).toMatchObject({ code: 'BAD_USER_INPUT' });
    }
    expect(refusal([{ key: 'a.b', exists: true }]).message).toBe(
      'query.where[0].key: "a.b" is not a dimension or value key (1 to 64 characters of A-Z, a-z, 0-9, _ : -)',
    );
  });

  it('refuses values no dimension holds: lone surrogates, non-finite numbers, objects', () => {
    expect(refusal([{ key: 'c', eq: 'ok\ud800' }])).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'query.where[0].eq must be well-formed Unicode: it holds a lone surrogate (U+D800)',
      details: {},
    });
    expect(refusal([{ key: 'c', notIn: ['a', '\udc00'] }]).message).toBe(
      'query.where[0].notIn[1] must be well-formed Unicode: it holds a lone surrogate (U+DC00)',
    );
    expect(refusal([{ key: 'c', neq: Number.POSITIVE_INFINITY }]).message).toBe(
      'query.where[0].neq: a condition value must be a string, a finite number or a boolean',
    );
    expect(refusal([{ key: 'c', in: [{ $gt: '' }] }]).code).toBe('BAD_USER_INPUT');
  });

  it(`refuses more than ${MAX_WHERE_CONDITIONS} conditions and lists over ${MAX_CONDITION_VALUES} values with QUERY_TOO_LARGE`, () => {
    const many = Array.from({ length: MAX_WHERE_CONDITIONS + 1 }, () => ({ key: 'c', exists: true }));
    expect(refusal(many)).toEqual({
      code: 'QUERY_TOO_LARGE',
      message:
        'query.where holds too many conditions: 21 conditions, above the limit of 20; combine conditions on the same key into one in or notIn list',
      details: { measure: 'conditions', limit: 20, actual: 21 },
    });
    expect(validateWhere(many.slice(1), 'w')).toHaveLength(MAX_WHERE_CONDITIONS);

    const values = Array.from({ length: MAX_CONDITION_VALUES + 1 }, (_, i) => `v${i}`);
    expect(
      refusal([
        { key: 'c', exists: true },
        { key: 'c', notIn: values },
      ]),
    ).toEqual({
      code: 'QUERY_TOO_LARGE',
      message: 'query.where[1].notIn: 101 values, above the limit of 100; use fewer values, or a notIn list of the values to leave out',
      details: { measure: 'values', limit: 100, actual: 101 },
    });
    expect(validateWhere([{ key: 'c', in: values.slice(1) }], 'w')![0]).toMatchObject({ operator: 'in' });
  });
});

describe('the matcher', () => {
  const nl = { country: 'NL', plan: 'pro', tier: 2 };
  const noPlan = { country: 'DE' };

  it('eq and in hold only where the dimension is present with a listed text', () => {
    expect(matches(nl, [{ key: 'country', eq: 'NL' }])).toBe(true);
    expect(matches(nl, [{ key: 'tier', eq: '2' }])).toBe(true);
    expect(matches({ tier: '2' }, [{ key: 'tier', eq: 2 }])).toBe(true);
    expect(matches(noPlan, [{ key: 'plan', eq: 'pro' }])).toBe(false);
    expect(matches(nl, [{ key: 'country', in: ['DE', 'NL'] }])).toBe(true);
    expect(matches(noPlan, [{ key: 'plan', in: ['pro', 'free'] }])).toBe(false);
    expect(matches(nl, [{ key: 'country', in: [] }])).toBe(false);
  });

  it('neq and notIn also hold where the dimension is absent', () => {
    expect(matches(nl, [{ key: 'plan', neq: 'pro' }])).toBe(false);
    expect(matches(noPlan, [{ key: 'plan', neq: 'pro' }])).toBe(true);
    expect(matches(nl, [{ key: 'plan', notIn: ['free', 'pro'] }])).toBe(false);
    expect(matches(noPlan, [{ key: 'plan', notIn: ['free', 'pro'] }])).toBe(true);
    expect(matches(nl, [{ key: 'plan', notIn: [] }])).toBe(true);
    expect(matches({ flag: false }, [{ key: 'flag', neq: 'false' }])).toBe(false);
  });

  it('exists says whether the dimension is there', () => {
    expect(matches(nl, [{ key: 'plan', exists: true }])).toBe(true);
    expect(matches(noPlan, [{ key: 'plan', exists: true }])).toBe(false);
    expect(matches(noPlan, [{ key: 'plan', exists: false }])).toBe(true);
  });

  it('ANDs a list, several conditions on one key included', () => {
    expect(
      matches(nl, [
        { key: 'country', neq: 'DE' },
        { key: 'country', neq: 'US' },
        { key: 'plan', in: ['pro'] },
      ]),
    ).toBe(true);
    expect(
      matches(nl, [
        { key: 'country', neq: 'DE' },
        { key: 'country', neq: 'NL' },
      ]),
    ).toBe(false);
  });

  it.each(PROTOTYPE_MEMBER_KEYS)('treats a key named %s as an ordinary key', (key) => {
    // A plain object inherits every one of these names: only the event's own keys count.
    expect(matches({}, [{ key, exists: false }])).toBe(true);
    expect(matches({}, [{ key, exists: true }])).toBe(false);
    expect(matches({}, [{ key, neq: 'x' }])).toBe(true);
    expect(matches({}, [{ key, notIn: [String(Object.prototype[key as keyof object])] }])).toBe(true);
    expect(matches({}, [{ key, in: [String(Object.prototype[key as keyof object])] }])).toBe(false);
    expect(matches({ [key]: 'x' }, [{ key, eq: 'x' }])).toBe(true);
    expect(matches({ [key]: 'x' }, [{ key, exists: true }])).toBe(true);
  });

  it('is ANDed with the dimensions filter and the rest of an events query', () => {
    const query = toEventQuery('acme', { dimensions: { plan: 'pro' }, where: [{ key: 'country', notIn: ['DE'] }] });
    const event = (dimensions: Record<string, DimensionValue>) => ({
      tenant: 'acme',
      id: 'e',
      type: 't',
      timestamp: 0,
      receivedAt: 0,
      clockCorrectionMs: 0,
      source: null,
      dimensions,
      values: {},
      properties: null,
      position: { partition: 0, offset: 0 },
      quarantine: null,
    });
    expect(matchesEventQuery(event({ plan: 'pro', country: 'NL' }), query)).toBe(true);
    expect(matchesEventQuery(event({ plan: 'pro' }), query)).toBe(true);
    expect(matchesEventQuery(event({ plan: 'pro', country: 'DE' }), query)).toBe(false);
    expect(matchesEventQuery(event({ plan: 'free', country: 'NL' }), query)).toBe(false);
  });
});

describe('where over rollup rows', () => {
  const base = Date.parse('2026-11-27T12:00:00Z');
  let offset = 0;
  function counted(minute: number, dimensions: Record<string, DimensionValue>, amount: number): CountedEvent {
    offset += 1;
    return {
      partition: 0,
      offset,
      event: {
        tenant: 'default',
        id: `e${offset}`,
        type: 'purchase',
        timestamp: base + minute * 60_000 + 1_000,
        receivedAt: base,
        clockCorrectionMs: 0,
        source: null,
        dimensions,
        values: { amount },
        properties: null,
        position: { partition: 0, offset },
        quarantine: null,
      },
    };
  }
  const rows = mergeIntoRollups(
    [],
    [
      counted(0, { country: 'NL', plan: 'pro' }, 10),
      counted(0, { country: 'NL', plan: 'free' }, 5),
      counted(0, { country: 'DE', plan: 'pro' }, 20),
      counted(1, { country: 'DE' }, 7),
      counted(1, { country: 'US', plan: 'team', tier: 2 }, 30),
      counted(1, { plan: 'pro', tier: '2' }, 1),
    ],
  ).filter((row) => row.interval === 'MINUTE');
  const finality = { watermark: null, allowedLatenessMs: 0 };
  const series = (where: DimensionConditionInput[], extra: object = {}) =>
    buildSeries(
      rows,
      { interval: 'MINUTE', value: 'amount', from: base, to: base + 120_000, where: validateWhere(where, 'w'), ...extra },
      finality,
    ).map((s) => [s.group, s.points.map((p) => [(p.start - base) / 60_000, p.count, p.sum])]);

  it('keeps the rows whose combination passes, absent dimensions included for neq and notIn', () => {
    expect(series([{ key: 'plan', notIn: ['free'] }])).toEqual([
      [
        null,
        [
          [0, 2, 30],
          [1, 3, 38],
        ],
      ],
    ]);
    expect(series([{ key: 'plan', exists: false }])).toEqual([[null, [[1, 1, 7]]]]);
    expect(series([{ key: 'tier', eq: 2 }])).toEqual([[null, [[1, 2, 31]]]]);
  });

  it('groups what passes, ANDed with the dimensions filter', () => {
    expect(series([{ key: 'country', in: ['NL', 'US'] }], { groupBy: 'plan' })).toEqual([
      ['free', [[0, 1, 5]]],
      ['pro', [[0, 1, 10]]],
      ['team', [[1, 1, 30]]],
    ]);
    expect(series([{ key: 'country', neq: 'DE' }], { dimensions: { plan: 'pro' }, groupBy: 'country' })).toEqual([
      ['NL', [[0, 1, 10]]],
      [null, [[1, 1, 1]]],
    ]);
  });

  it('ranks top over what passes', () => {
    expect(buildTop(rows, { by: 'country', value: 'amount', where: validateWhere([{ key: 'plan', neq: 'pro' }], 'w'), limit: 10 })).toEqual(
      [
        { key: 'US', count: 1, sum: 30 },
        { key: 'DE', count: 1, sum: 7 },
        { key: 'NL', count: 1, sum: 5 },
      ],
    );
    expect(
      buildTop(rows, {
        by: 'plan',
        dimensions: { tier: 2 },
        where: validateWhere([{ key: 'country', notIn: ['NL'] }], 'w'),
        limit: 10,
      }),
    ).toEqual([
      { key: 'pro', count: 1, sum: null },
      { key: 'team', count: 1, sum: null },
    ]);
  });
});

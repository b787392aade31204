/**
 * The ingest fast path (src/server/ingest-coercion.ts) against graphql-js's own coercion, over
 * random valid and invalid `events` values: prototype-member keys, unknown fields, lone
 * surrogates, wrong types, nulls, numbers too large for a double, a lone event instead of a list.
 *
 * - Pure: the fast path either declines (null) or returns exactly what the executor's
 *   getVariableValues returns, and it declines whenever graphql-js reports an error.
 * - Over real HTTP: the same request sent as the plain document (the fast path) and as the same
 *   document with `@include(if: true)` on its field (which the fast path leaves alone, so
 *   graphql-js coerces it) gets the same status and byte-for-byte the same body. The variable
 *   definitions and the field start at the same place in both texts, so error locations match.
 */
import fc from 'fast-check';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { getVariableValues } from '@graphql-tools/executor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.ts';
import { coerceEventsQuickly, eventScalarsOf, ingestEventsVariable } from '../../src/server/ingest-coercion.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { postGraphqlText } from '../support/any-transport.ts';
import { PROTOTYPE_MEMBERS } from '../support/prototype-members.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const pureOptions = fuzzSettings('ingest-coercion (pure)', { seed: 20261202, runs: 500 });
/** Two requests per run against a child process: fewer runs, the same generators. */
const httpOptions = fuzzSettings('ingest-coercion (HTTP)', { seed: 20261202, runs: 80 });

const SELECTION = '{ accepted rejected acks { index id status error { code message path } } }';
const VARIABLES = '($events: [EventInput!]!, $key: String)';
const FAST_DOCUMENT = `mutation Ingest${VARIABLES} { ingest(events: $events, idempotencyKey: $key) ${SELECTION} }`;
const STANDARD_DOCUMENT = `mutation Ingest${VARIABLES} { ingest(events: $events, idempotencyKey: $key) @include(if: true) ${SELECTION} }`;

/** A number JSON.stringify writes as 7.77e+77, replaced in the request text by 1e400, which JSON.parse reads as Infinity. */
const HUGE_SENTINEL = 7.77e77;
const toRequestText = (value: unknown) => JSON.stringify(value).replaceAll('7.77e+77', '1e400');

const LONE_SURROGATES = ['\ud800', 'a\udc00b', '\udbff'];
const strings = fc.oneof(
  fc.constantFrom('', 'ok', 'purchase', 'NL', 'x'.repeat(300), 'tab\there', '\u{1f600}'),
  fc.constantFrom(...LONE_SURROGATES),
  fc.constantFrom(...PROTOTYPE_MEMBERS),
  fc.string({ maxLength: 12 }),
);
const scalars = fc.oneof(strings, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(HUGE_SENTINEL));
const keys = fc.oneof(
  fc.constantFrom('country', 'plan', 'amount', 'a:b', '-x', '$where', 'a.b'),
  fc.constantFrom(...PROTOTYPE_MEMBERS),
  strings,
);
/** An object from entries: a `__proto__` entry becomes an own key, as JSON.parse makes it. */
const objectOf = (values: fc.Arbitrary<unknown>) =>
  fc.array(fc.tuple(keys, values), { maxLength: 4 }).map((entries) => Object.fromEntries(entries));
const jsonObjects = fc.oneof(
  objectOf(scalars),
  objectOf(fc.oneof(scalars, objectOf(scalars), fc.array(scalars, { maxLength: 3 }))),
  fc.constant(null),
  scalars,
  fc.array(scalars, { maxLength: 2 }),
);
const timestamps = fc.oneof(
  fc.constantFrom('2026-11-27T12:00:00.000Z', '2026-11-27T12:00:00+02:00', '2026-02-30T00:00:00Z', '2026-11-27T12:00:00', 'yesterday'),
  fc.constantFrom('1969-12-31T23:59:59Z', '2999-01-01T00:00:00Z', '0000-01-01T00:00:00Z'),
  fc
    .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  scalars,
);

/** Each field absent, or of its kind (mostly), or something else; plus now and then a field EventInput has not. */
const events = fc
  .record(
    {
      id: fc.oneof(fc.uuid(), strings, fc.integer(), scalars),
      type: fc.oneof(fc.constantFrom('purchase', 'page.view', 'a:b-c_d'), strings, scalars),
      timestamp: timestamps,
      source: fc.oneof(fc.constantFrom('web', 'bench'), strings, scalars),
      dimensions: jsonObjects,
      values: fc.oneof(objectOf(fc.oneof(fc.double(), fc.constant(HUGE_SENTINEL))), jsonObjects),
      distinct: fc.oneof(objectOf(strings), jsonObjects),
      properties: jsonObjects,
    },
    { requiredKeys: [] },
  )
  .chain((fields) =>
    fc
      .option(fc.tuple(fc.oneof(fc.constantFrom('color', 'ID', 'Type'), fc.constantFrom(...PROTOTYPE_MEMBERS)), scalars), { freq: 4 })
      .map((extra) => (extra ? Object.fromEntries([...Object.entries(fields), extra]) : fields)),
  );

/** Valid events of the common shape: the fast path must take every one of them. */
const commonEvents = fc.record(
  {
    id: fc.uuid(),
    type: fc.constantFrom('purchase', 'page.view'),
    timestamp: fc.constant('2026-11-27T12:00:00.000Z'),
    source: fc.constantFrom('web', 'bench'),
    dimensions: fc.constant({ country: 'NL', plan: 'pro', mobile: true }),
    values: fc.constant({ amount: 9.99 }),
    distinct: fc.constant({ user: 'u-1' }),
    properties: fc.constant({ page: '/a', nested: { list: [1, 'two'] } }),
  },
  { requiredKeys: ['type'] },
);

const eventsValue = fc.oneof(
  { weight: 6, arbitrary: fc.array(events, { maxLength: 5 }) },
  { weight: 2, arbitrary: fc.array(commonEvents, { minLength: 1, maxLength: 5 }) },
  { weight: 1, arbitrary: events },
  { weight: 1, arbitrary: fc.array(fc.oneof(events, scalars, fc.array(events, { maxLength: 1 })), { maxLength: 3 }) },
  { weight: 1, arbitrary: scalars },
);

function operationOf(text: string): OperationDefinitionNode {
  const definition = parse(text).definitions[0];
  if (definition?.kind !== Kind.OPERATION_DEFINITION) throw new Error('the test document has no operation first');
  return definition;
}
const operation = operationOf(FAST_DOCUMENT);
const eventScalars = eventScalarsOf(schema)!;

function standardCoercion(value: unknown): { events: unknown } | { errors: readonly unknown[] } {
  const result = getVariableValues(schema, operation.variableDefinitions ?? [], { events: value }, { maxErrors: 50 });
  if (result.errors) return { errors: result.errors };
  return { events: (result.variableValues as unknown as { coerced: Record<string, unknown> }).coerced.events };
}

describe('the ingest fast path against graphql-js coercion', () => {
  it('applies to the plain document only', () => {
    expect(ingestEventsVariable(parse(FAST_DOCUMENT), operation)).toBe('events');
    expect(ingestEventsVariable(parse(STANDARD_DOCUMENT), operationOf(STANDARD_DOCUMENT))).toBeNull();
  });

  it('declines, or coerces exactly as graphql-js does', () => {
    fc.assert(
      fc.property(eventsValue, (value) => {
        const asReceived: unknown = JSON.parse(toRequestText(value));
        const fast = coerceEventsQuickly(asReceived, eventScalars);
        const standard = standardCoercion(asReceived);
        if ('errors' in standard) expect(fast).toBeNull();
        else if (fast !== null) expect(fast).toStrictEqual(standard.events);
      }),
      pureOptions,
    );
  });

  it('takes every batch of the common shape', () => {
    fc.assert(
      fc.property(fc.array(commonEvents, { maxLength: 20 }), (value) => {
        const asReceived: unknown = JSON.parse(JSON.stringify(value));
        const fast = coerceEventsQuickly(asReceived, eventScalars);
        expect(fast).not.toBeNull();
        expect(fast).toStrictEqual((standardCoercion(asReceived) as { events: unknown }).events);
      }),
      pureOptions,
    );
  });
});

describe('the ingest fast path over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Rates far above what the runs send: a refusal for the rate would hide the comparison.
    server = await startServer({ env: { INGEST_RATE_PER_KEY: '100000000', QUERY_RATE_PER_KEY: '1000000' } });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  const answer = (document: string, variablesText: string) =>
    postGraphqlText(server.url, `{"query":${JSON.stringify(document)},"variables":${variablesText}}`);

  it('answers every request exactly as graphql-js coercion does', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(eventsValue, async (value) => {
        // The same key in both requests: events without an id get the same derived ids.
        const variables = toRequestText({ events: value, key: `coercion-${run++}` });
        const fast = await answer(FAST_DOCUMENT, variables);
        const standard = await answer(STANDARD_DOCUMENT, variables);
        expect(fast).toEqual(standard);
      }),
      httpOptions,
    );
  }, 120_000);
});

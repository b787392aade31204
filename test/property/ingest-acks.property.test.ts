/**
 * The ingest ack path (src/server/ingest-acks.ts) against graphql-js's own completion of the
 * acks, over real HTTP: random selections of the answer (aliases, __typename, a field asked twice,
 * now and then an inline fragment or a directive, which the ack path leaves alone), random batches
 * (valid and invalid events, too many events, an invalid idempotency key: the resolver's errors),
 * the `ingest` field itself aliased or not.
 * The same request sent as the plain document and as the same document with `@include(if: true)`
 * on its `ingest` field (which the ack path leaves alone, so graphql-js completes every ack) gets
 * the same status and byte-for-byte the same body. The field starts at the same place in both
 * texts, so error locations match.
 */
import fc from 'fast-check';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ackPlanOf } from '../../src/server/ingest-acks.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { postGraphqlText } from '../support/any-transport.ts';
import { wsClient } from '../support/clients.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const httpOptions = fuzzSettings('ingest-acks (HTTP)', { seed: 20261203, runs: 80 });

/** Small, so that a batch above the limit is one of the generated cases. */
const MAX_BATCH_EVENTS = 6;
const VARIABLES = '($events: [EventInput!]!, $key: String, $sentAt: DateTime)';

function documents(selection: string, alias = ''): { plain: string; standard: string } {
  const field = `${alias}ingest(events: $events, idempotencyKey: $key, sentAt: $sentAt)`;
  return {
    plain: `mutation Ingest${VARIABLES} { ${field} ${selection} }`,
    standard: `mutation Ingest${VARIABLES} { ${field} @include(if: true) ${selection} }`,
  };
}

function operationOf(text: string): OperationDefinitionNode {
  const definition = parse(text).definitions[0];
  if (definition?.kind !== Kind.OPERATION_DEFINITION) throw new Error('the test document has no operation first');
  return definition;
}

/** Aliases unlike any field name, so that no two fields conflict (the document stays valid). */
const ALIASES = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];

/**
 * A selection of some of `fields` (each a leaf, or a function of the nested selection), some
 * aliased, one leaf now and then asked twice (graphql-js merges it), now and then wrapped in an
 * inline fragment on `type` or given a directive.
 */
function selectionOf(type: string, fields: Record<string, fc.Arbitrary<string> | null>): fc.Arbitrary<string> {
  const names = Object.keys(fields);
  return fc
    .tuple(
      fc.shuffledSubarray(names, { minLength: 1 }),
      fc.shuffledSubarray(ALIASES, { minLength: names.length, maxLength: names.length }),
      fc.array(fc.boolean(), { minLength: names.length, maxLength: names.length }),
      fc.tuple(...names.map((name) => fields[name] ?? fc.constant(''))),
      fc.oneof(
        { weight: 12, arbitrary: fc.constant('none') },
        { weight: 1, arbitrary: fc.constantFrom('twice', 'fragment', 'include', 'skip') },
      ),
    )
    .map(([chosen, aliases, aliased, nested, twist]) => {
      const parts = chosen.map((name) => {
        const index = names.indexOf(name);
        return `${aliased[index] ? `${aliases[index]}: ` : ''}${name}${nested[index] ? ` ${nested[index]}` : ''}`;
      });
      const leaf = parts.findIndex((part) => !part.includes('{'));
      if (twist === 'twice' && leaf >= 0) parts.push(parts[leaf]!);
      if (twist === 'fragment') parts[0] = `... on ${type} { ${parts[0]} }`;
      if (twist === 'include') parts[0] = parts[0]!.replace(/^((\w+: )?\w+)/, '$1 @include(if: true)');
      if (twist === 'skip') parts.push('__typename @skip(if: true)');
      return `{ ${parts.join(' ')} }`;
    });
}

const errorSelection = selectionOf('IngestError', { code: null, message: null, path: null, __typename: null });
const ackSelection = selectionOf('EventAck', { index: null, id: null, status: null, error: errorSelection, __typename: null });
const resultSelection = selectionOf('IngestResult', { accepted: null, rejected: null, acks: ackSelection, __typename: null });

const validEvent = fc.record(
  {
    id: fc.constantFrom('e-1', 'e-2', 'an-id-of-its-own'),
    type: fc.constantFrom('purchase', 'page.view'),
    source: fc.constantFrom('web', 'bench'),
    dimensions: fc.constant({ country: 'NL', plan: 'pro' }),
    values: fc.constant({ amount: 9.99 }),
  },
  { requiredKeys: ['type'] },
);
const invalidEvent = fc.oneof(
  fc.constant({ type: 'not a type!' }),
  fc.constant({ type: 'purchase', id: '' }),
  fc.constant({ type: 'purchase', dimensions: { country: { nested: true } } }),
  fc.constant({ type: 'purchase', values: { amount: 'many' } }),
  fc.constant({ type: 'purchase', distinct: { user: 42 } }),
  fc.constant({ type: 'purchase', timestamp: '1969-12-31T23:59:59Z' }),
);
const batches = fc.array(fc.oneof(validEvent, validEvent, invalidEvent), { maxLength: MAX_BATCH_EVENTS + 1 });

describe('the ingest ack path', () => {
  it('applies to plain selections of the acks only', () => {
    const plain = '{ accepted rejected acks { index id status error { code message path } } }';
    expect(ackPlanOf(operationOf(documents(plain).plain))).not.toBeNull();
    expect(ackPlanOf(operationOf(documents(plain).standard))).toBeNull();
    expect(ackPlanOf(operationOf(documents('{ acks { ... on EventAck { index } } }').plain))).toBeNull();
    expect(ackPlanOf(operationOf(documents('{ acks { index @include(if: true) } }').plain))).toBeNull();
    expect(ackPlanOf(operationOf(documents('{ acks { index index } }').plain))).toBeNull();
  });
});

describe('the ingest ack path over HTTP', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Rates far above what the runs send: a refusal for the rate would hide the comparison.
    server = await startServer({
      env: { INGEST_RATE_PER_KEY: '100000000', QUERY_RATE_PER_KEY: '1000000', INGEST_MAX_BATCH_EVENTS: String(MAX_BATCH_EVENTS) },
    });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  const answer = (document: string, variables: unknown) => postGraphqlText(server.url, JSON.stringify({ query: document, variables }));

  it('answers every request exactly as graphql-js completes it', async () => {
    let run = 0;
    let ackPath = 0;
    await fc.assert(
      fc.asyncProperty(
        resultSelection,
        batches,
        fc.constantFrom('key', 'key', 'key', 'empty key', 'sentAt'),
        fc.constantFrom('', '', 'sent: '),
        async (selection, events, extra, alias) => {
          run += 1;
          // The same key in both requests: events without an id get the same derived ids.
          const variables = {
            events,
            key: extra === 'empty key' ? '' : `acks-${run}`,
            ...(extra === 'sentAt' ? { sentAt: '2026-12-02T10:00:00.000Z' } : {}),
          };
          const { plain, standard } = documents(selection, alias);
          if (ackPlanOf(operationOf(plain))) ackPath += 1;
          const fast = await answer(plain, variables);
          const slow = await answer(standard, variables);
          expect(fast).toEqual(slow);
        },
      ),
      httpOptions,
    );
    // Most runs take the ack path: the comparison is about it, not about the documents it declines.
    expect(ackPath).toBeGreaterThan(run / 3);
  }, 180_000);

  it('answers over graphql-ws as graphql-js completes it', async () => {
    const selection = '{ accepted acks { index id status error { code path message __typename } __typename } }';
    const { plain, standard } = documents(selection, 'sent: ');
    const variables = {
      events: [
        { type: 'purchase', id: 'w-1' },
        { type: 'purchase', values: { n: 'x' } },
      ],
      key: 'over-ws',
    };
    const ws = wsClient(server.wsUrl);
    try {
      const overWs = await new Promise<unknown>((resolve, reject) => {
        let result: unknown;
        ws.subscribe({ query: plain, variables }, { next: (value) => (result = value), error: reject, complete: () => resolve(result) });
      });
      expect(JSON.stringify(overWs)).toBe((await answer(standard, variables)).body);
    } finally {
      await ws.dispose();
    }
  });

  it('answers the common document with the acks graphql-js gives', async () => {
    const selection = '{ accepted rejected acks { index id status error { code message path } } }';
    const { plain, standard } = documents(selection);
    const variables = { events: [{ type: 'purchase', id: 'a' }, { type: 'bad type' }, { type: 'view' }], key: 'common' };
    const fast = await answer(plain, variables);
    expect(fast).toEqual(await answer(standard, variables));
    expect(JSON.parse(fast.body)).toEqual({
      data: {
        ingest: {
          accepted: 2,
          rejected: 1,
          acks: [
            { index: 0, id: 'a', status: 'ACCEPTED', error: null },
            {
              index: 1,
              id: null,
              status: 'REJECTED',
              error: { code: 'INVALID_TYPE', message: 'type must be 1 to 128 characters of A-Z, a-z, 0-9, _ . : -', path: 'type' },
            },
            { index: 2, id: expect.stringMatching(/^[0-9a-f-]{36}$/), status: 'ACCEPTED', error: null },
          ],
        },
      },
    });
  });
});

import { describe, expect, it } from 'vitest';
import { getOperationAST, parse } from 'graphql';
import { checkRequestBatch, countIngestEvents, onlyIngests } from '../../src/server/request-batch-limit.ts';

const count = (text: string, variables: Record<string, unknown> = {}) => {
  const document = parse(text);
  return countIngestEvents(document, getOperationAST(document)!, variables);
};
const events = (n: number) => Array.from({ length: n }, () => ({ type: 't' }));

describe('the batch bound per request', () => {
  it('counts the events of every ingest field, aliased, spread or inline', () => {
    expect(count('mutation($e: [EventInput!]!) { ingest(events: $e) { accepted } }', { e: events(7) })).toBe(7);
    expect(
      count('mutation($e: [EventInput!]!) { a: ingest(events: $e) { accepted } b: ingest(events: $e) { accepted } }', { e: events(7) }),
    ).toBe(14);
    expect(
      count(
        'mutation($e: [EventInput!]!) { ...F ... on Mutation { c: ingest(events: $e) { accepted } } } fragment F on Mutation { a: ingest(events: $e) { accepted } b: ingest(events: $e) { accepted } }',
        {
          e: events(5),
        },
      ),
    ).toBe(15);
  });

  it('counts list literals item by item, a lone item as one, null and absent variables as none', () => {
    expect(count('mutation($x: EventInput!) { ingest(events: [$x, $x, {type: "t"}]) { accepted } }', { x: { type: 't' } })).toBe(3);
    expect(count('mutation($e: [EventInput!]!) { ingest(events: $e) { accepted } }', { e: { type: 't' } })).toBe(1);
    expect(count('mutation { ingest(events: {type: "t"}) { accepted } }')).toBe(1);
    expect(count('mutation($e: [EventInput!]!) { ingest(events: $e) { accepted } }', {})).toBe(0);
  });

  it('counts nothing for queries, and survives a cyclic fragment spread (validation refuses it later)', () => {
    expect(count('query { eventTypes { type } }')).toBe(0);
    expect(
      count(
        'mutation($e: [EventInput!]!) { ...A } fragment A on Mutation { ingest(events: $e) { accepted } ...B } fragment B on Mutation { ...A }',
        { e: events(2) },
      ),
    ).toBe(2);
  });

  it('refuses a request over the bound with BAD_USER_INPUT and extensions.limit', () => {
    const document = parse('mutation($e: [EventInput!]!) { a: ingest(events: $e) { accepted } b: ingest(events: $e) { accepted } }');
    const operation = getOperationAST(document)!;
    expect(checkRequestBatch(document, operation, { e: events(50) }, 100)).toBeNull();
    const refused = checkRequestBatch(document, operation, { e: events(51) }, 100);
    expect(refused?.extensions).toEqual({ code: 'BAD_USER_INPUT', limit: 100 });
    expect(refused?.message).toBe('a request ingests at most 100 events over all its ingest fields (aliases included); this one has 102');
  });

  it('knows a mutation made only of ingest fields (paid in events) from any other operation', () => {
    const is = (text: string) => {
      const document = parse(text);
      return onlyIngests(document, getOperationAST(document)!);
    };
    expect(is('mutation { a: ingest(events: []) { accepted } ...F } fragment F on Mutation { b: ingest(events: []) { accepted } }')).toBe(
      true,
    );
    expect(is('mutation { ingest(events: []) { accepted } __typename }')).toBe(false);
    expect(is('mutation { ingest(events: []) { accepted } revokeApiKey(id: "x") { id } }')).toBe(false);
    expect(is('mutation { ... on Mutation { createApiKey(tenant: "t", scopes: [READ]) { key } } }')).toBe(false);
    expect(is('query { eventTypes { type } }')).toBe(false);
  });
});

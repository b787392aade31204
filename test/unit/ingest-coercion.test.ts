/**
 * Which documents the ingest fast path (src/server/ingest-coercion.ts) may take: only one
 * `ingest` field whose events are a `[EventInput!]!` variable used nowhere else, so the events
 * it coerces reach that one resolver. Every other document keeps graphql-js's coercion.
 */
import { getOperationAST, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { ingestEventsVariable } from '../../src/server/ingest-coercion.ts';

function eventsVariableOf(text: string, operationName?: string): string | null {
  const document = parse(text);
  const operation = getOperationAST(document, operationName);
  if (!operation) throw new Error('no such operation');
  return ingestEventsVariable(document, operation);
}

const ACKS = '{ accepted }';

describe('documents the ingest fast path takes', () => {
  it('takes one ingest field with its events in a variable, whatever the variable is called', () => {
    expect(eventsVariableOf(`mutation ($e: [EventInput!]!) { ingest(events: $e) ${ACKS} }`)).toBe('e');
    expect(eventsVariableOf(`mutation ($e: [EventInput!]!, $s: DateTime) { sent: ingest(events: $e, sentAt: $s) ${ACKS} }`)).toBe('e');
  });

  it('takes the named operation of a document that holds several', () => {
    const text = `mutation A($e: [EventInput!]!) { ingest(events: $e) ${ACKS} } query B { __typename }`;
    expect(eventsVariableOf(text, 'A')).toBe('e');
  });

  it.each([
    ['two ingest fields', `mutation ($e: [EventInput!]!) { a: ingest(events: $e) ${ACKS} b: ingest(events: $e) ${ACKS} }`],
    ['a directive on the field', `mutation ($e: [EventInput!]!) { ingest(events: $e) @include(if: true) ${ACKS} }`],
    ['events as a literal', `mutation { ingest(events: [{ type: "a" }]) ${ACKS} }`],
    ['a default for the variable', `mutation ($e: [EventInput!]! = []) { ingest(events: $e) ${ACKS} }`],
    ['a nullable list', `mutation ($e: [EventInput!]) { ingest(events: $e) ${ACKS} }`],
    ['nullable items', `mutation ($e: [EventInput]!) { ingest(events: $e) ${ACKS} }`],
    ['an undefined variable', `mutation { ingest(events: $e) ${ACKS} }`],
    ['a variable named like a prototype member', `mutation ($__proto__: [EventInput!]!) { ingest(events: $__proto__) ${ACKS} }`],
    ['the field inside a fragment', `mutation ($e: [EventInput!]!) { ...F } fragment F on Mutation { ingest(events: $e) ${ACKS} }`],
    ['another root field', `mutation ($e: [EventInput!]!) { ingest(events: $e) ${ACKS} __typename }`],
    ['a query', `query ($e: [EventInput!]!) { ingest(events: $e) ${ACKS} }`],
  ])('leaves %s to graphql-js', (_name, text) => {
    expect(eventsVariableOf(text)).toBeNull();
  });

  it('leaves a document whose variable is also used in a fragment elsewhere to graphql-js', () => {
    const text = `mutation ($e: [EventInput!]!) { ingest(events: $e) { ...A } } fragment A on IngestResult { accepted @skip(if: $e) }`;
    expect(eventsVariableOf(text)).toBeNull();
  });
});

/**
 * The batch bound per request: INGEST_MAX_BATCH_EVENTS counts the events of every `ingest`
 * field of the operation together, so aliased fields (`a: ingest(events: $e) b: ingest(events: $e)`)
 * cannot multiply it. Counted from the document and the raw variables before anything runs,
 * so nothing of an oversized request is appended and no ingest token is taken for it.
 *
 * Pure: no I/O, so it is tested on its own.
 */
import { Kind, type DocumentNode, type GraphQLError, type OperationDefinitionNode, type SelectionSetNode, type ValueNode } from 'graphql';
import { codedGraphQLError } from './errors.ts';

const INGEST_FIELD = 'ingest';
const EVENTS_ARGUMENT = 'events';

/** How many events one `events:` argument holds; a lone item is coerced to a list of one, as GraphQL does. */
function eventsIn(value: ValueNode, variables: Readonly<Record<string, unknown>>): number {
  if (value.kind === Kind.LIST) return value.values.length;
  if (value.kind === Kind.NULL) return 0;
  if (value.kind === Kind.VARIABLE) {
    const given = variables[value.name.value];
    if (Array.isArray(given)) return given.length;
    return given === undefined || given === null ? 0 : 1;
  }
  return 1;
}

/**
 * The events of every `ingest` field at the root of `operation`, through fragments and inline
 * fragments (each fragment counted once per spread; a cyclic spread is graphql-js's to refuse).
 * Fields under @skip/@include are counted too: an over-count refuses a strange request, never
 * lets an oversized one through.
 */
export function countIngestEvents(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>>,
): number {
  if (operation.operation !== 'mutation') return 0;
  const fragments = new Map<string, SelectionSetNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition.selectionSet);
  }
  const spreading = new Set<string>();
  const count = (selectionSet: SelectionSetNode): number => {
    let total = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value !== INGEST_FIELD) continue;
        const events = selection.arguments?.find((argument) => argument.name.value === EVENTS_ARGUMENT);
        if (events) total += eventsIn(events.value, variables);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        total += count(selection.selectionSet);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || spreading.has(name)) continue;
        spreading.add(name);
        total += count(fragment);
        spreading.delete(name);
      }
    }
    return total;
  };
  return count(operation.selectionSet);
}

/** BAD_USER_INPUT with `extensions.limit` when the request's ingest fields hold more than `maxBatchEvents`, else null. */
export function checkRequestBatch(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>>,
  maxBatchEvents: number,
): GraphQLError | null {
  const events = countIngestEvents(document, operation, variables);
  if (events <= maxBatchEvents) return null;
  return codedGraphQLError(
    'BAD_USER_INPUT',
    `a request ingests at most ${maxBatchEvents} events over all its ingest fields (aliases included); this one has ${events}`,
    { details: { limit: maxBatchEvents } },
  );
}

/** Whether every root field of the operation is `ingest`: such a call is paid for in events, not operations. */
export function onlyIngests(document: DocumentNode, operation: OperationDefinitionNode): boolean {
  if (operation.operation !== 'mutation') return false;
  const fragments = new Map<string, SelectionSetNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition.selectionSet);
  }
  const visited = new Set<string>();
  const check = (selectionSet: SelectionSetNode): boolean =>
    selectionSet.selections.every((selection) => {
      if (selection.kind === Kind.FIELD) return selection.name.value === INGEST_FIELD;
      if (selection.kind === Kind.INLINE_FRAGMENT) return check(selection.selectionSet);
      const fragment = fragments.get(selection.name.value);
      // An unknown or cyclic spread never gets this far: validation refuses it.
      if (!fragment || visited.has(selection.name.value)) return true;
      visited.add(selection.name.value);
      return check(fragment);
    });
  return check(operation.selectionSet);
}

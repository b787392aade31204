/**
 * A cheaper coercion of the `events` variable of an `ingest` call. graphql-js coerces a
 * `[EventInput!]!` variable generically: @graphql-tools/executor first copies every event
 * (snapshotInputValue), then graphql-js walks each field through its type, with an error
 * callback per value. For a batch of 100 events that was the largest single cost of an ingest
 * request on the main thread (profile of P9, docs/performance.md).
 *
 * This plugin coerces the common shape itself: a JSON array of plain objects holding only
 * EventInput's fields, each of its expected kind; the scalars (DateTime, JSONObject) are parsed
 * by the schema's own parseValue, so they coerce exactly as they would. Anything else (a lone
 * event instead of a list, a null item, a number as `id`, an unknown or prototype-member key,
 * a value a scalar refuses) returns null, and the request runs the standard path untouched:
 * every coercion error is graphql-js's own, word for word.
 *
 * When the fast path succeeds, the standard executor still runs the operation, with the events
 * variable given as an empty list (nothing to coerce) and the coerced events handed to the
 * `ingest` resolver in the operation's root value (preCoercedEvents). The other variables
 * (`sentAt`, `idempotencyKey`) are coerced by graphql-js as before. This is only done for a
 * document whose operation is one `ingest` field, without directives, whose `events` argument
 * is a variable used nowhere else: then the root value reaches that one resolver and no other.
 */
import {
  Kind,
  visit,
  type DocumentNode,
  type GraphQLScalarType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type TypeNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { perOperation } from './per-operation-cache.ts';

const PRE_COERCED_EVENTS = Symbol('events coerced by the ingest fast path');

/** The events the fast path coerced for this operation, or undefined when it did not run. */
export function preCoercedEvents(root: unknown): readonly Record<string, unknown>[] | undefined {
  if (typeof root !== 'object' || root === null) return undefined;
  return (root as { [PRE_COERCED_EVENTS]?: readonly Record<string, unknown>[] })[PRE_COERCED_EVENTS];
}

/** Whether a type node reads exactly `[EventInput!]!`. */
function isEventListType(type: TypeNode): boolean {
  return (
    type.kind === Kind.NON_NULL_TYPE &&
    type.type.kind === Kind.LIST_TYPE &&
    type.type.type.kind === Kind.NON_NULL_TYPE &&
    type.type.type.type.kind === Kind.NAMED_TYPE &&
    type.type.type.type.name.value === 'EventInput'
  );
}

/**
 * The name of the variable that holds the events, when the operation is one `ingest` field
 * without directives whose `events` argument is a `[EventInput!]!` variable (no default) used
 * nowhere else in the document; null for any other document.
 */
export function ingestEventsVariable(document: DocumentNode, operation: OperationDefinitionNode): string | null {
  if (operation.operation !== 'mutation' || operation.selectionSet.selections.length !== 1) return null;
  const field = operation.selectionSet.selections[0]!;
  if (field.kind !== Kind.FIELD || field.name.value !== 'ingest' || (field.directives?.length ?? 0) > 0) return null;
  const events = field.arguments?.find((argument) => argument.name.value === 'events');
  if (events?.value.kind !== Kind.VARIABLE) return null;
  const name = events.value.name.value;
  // A name such as __proto__ would need care at every object it keys; no client needs one.
  if (name.startsWith('__')) return null;
  const definitions = (operation.variableDefinitions ?? []).filter((definition) => definition.variable.name.value === name);
  if (definitions.length !== 1) return null;
  const definition = definitions[0]!;
  if (!isEventListType(definition.type) || definition.defaultValue || (definition.directives?.length ?? 0) > 0) return null;
  let uses = 0;
  visit(document, {
    // A definition names the variable; it does not use it.
    VariableDefinition: () => false,
    Variable(node) {
      if (node.name.value === name) uses += 1;
    },
  });
  return uses === 1 ? name : null;
}

/** The scalars an event's fields are parsed with: the schema's own, so they coerce exactly as graphql-js would. */
export interface EventScalars {
  dateTime: GraphQLScalarType;
  jsonObject: GraphQLScalarType;
}

/**
 * A scalar type of the schema by its name. Recognised by its shape, not with instanceof: a test
 * runner may load graphql-js twice (its ESM and CJS builds), and the schema's types then come
 * from the other copy.
 */
function scalarNamed(schema: GraphQLSchema, name: string): GraphQLScalarType | null {
  const type = schema.getType(name);
  return type && 'specifiedByURL' in type && typeof type.parseValue === 'function' ? (type as GraphQLScalarType) : null;
}

export function eventScalarsOf(schema: GraphQLSchema): EventScalars | null {
  const dateTime = scalarNamed(schema, 'DateTime');
  const jsonObject = scalarNamed(schema, 'JSONObject');
  return dateTime && jsonObject ? { dateTime, jsonObject } : null;
}

/** A sentinel of parseScalar: the value needs the standard path. */
const REFUSED = Symbol('refused');

function parseScalar(scalar: GraphQLScalarType, value: unknown): unknown {
  if (value === null) return null;
  try {
    const parsed = scalar.parseValue(value);
    return parsed === undefined ? REFUSED : parsed;
  } catch {
    return REFUSED;
  }
}

/**
 * One event as graphql-js coerces an EventInput, or null when anything about it is unusual
 * (then the standard path must coerce it, and word its error). The result holds the fields the
 * input holds, in EventInput's field order, as graphql-js's coercion builds it.
 */
function coerceEvent(item: unknown, scalars: EventScalars): Record<string, unknown> | null {
  if (typeof item !== 'object' || item === null || Object.getPrototypeOf(item) !== Object.prototype) return null;
  const input = item as Record<string, unknown>;
  let id: unknown;
  let type: unknown;
  let timestamp: unknown;
  let source: unknown;
  let dimensions: unknown;
  let values: unknown;
  let distinct: unknown;
  let properties: unknown;
  for (const key of Object.keys(input)) {
    const value = input[key];
    switch (key) {
      case 'id':
        // ID also takes an integer (as its text): rare, left to graphql-js.
        if (value !== null && typeof value !== 'string') return null;
        id = value;
        break;
      case 'type':
        if (typeof value !== 'string') return null;
        type = value;
        break;
      case 'timestamp':
        timestamp = parseScalar(scalars.dateTime, value);
        if (timestamp === REFUSED) return null;
        break;
      case 'source':
        if (value !== null && typeof value !== 'string') return null;
        source = value;
        break;
      case 'dimensions':
        dimensions = parseScalar(scalars.jsonObject, value);
        if (dimensions === REFUSED) return null;
        break;
      case 'values':
        values = parseScalar(scalars.jsonObject, value);
        if (values === REFUSED) return null;
        break;
      case 'distinct':
        distinct = parseScalar(scalars.jsonObject, value);
        if (distinct === REFUSED) return null;
        break;
      case 'properties':
        properties = parseScalar(scalars.jsonObject, value);
        if (properties === REFUSED) return null;
        break;
      default:
        // An unknown field (a prototype member's name included) is graphql-js's error to word.
        return null;
    }
  }
  if (type === undefined) return null;
  const event: Record<string, unknown> = {};
  if (id !== undefined) event.id = id;
  event.type = type;
  if (timestamp !== undefined) event.timestamp = timestamp;
  if (source !== undefined) event.source = source;
  if (dimensions !== undefined) event.dimensions = dimensions;
  if (values !== undefined) event.values = values;
  if (distinct !== undefined) event.distinct = distinct;
  if (properties !== undefined) event.properties = properties;
  return event;
}

/**
 * The value of a `[EventInput!]!` variable as graphql-js coerces it, or null when it is not the
 * common shape (an array of events, each coerceEvent's) and must take the standard path.
 */
export function coerceEventsQuickly(value: unknown, scalars: EventScalars): Record<string, unknown>[] | null {
  if (!Array.isArray(value)) return null;
  const events: Record<string, unknown>[] = new Array(value.length);
  for (let index = 0; index < value.length; index++) {
    const event = coerceEvent(value[index], scalars);
    if (event === null) return null;
    events[index] = event;
  }
  return events;
}

export function useIngestFastCoercion(): Plugin {
  const eventsVariableOf = perOperation((operation, document) => ingestEventsVariable(document, operation));
  const scalarsBySchema = new WeakMap<GraphQLSchema, EventScalars | null>();

  function scalarsOf(schema: GraphQLSchema): EventScalars | null {
    let scalars = scalarsBySchema.get(schema);
    if (scalars === undefined) scalarsBySchema.set(schema, (scalars = eventScalarsOf(schema)));
    return scalars;
  }

  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const variable = eventsVariableOf(args.document, args.operationName);
      if (variable === null) return;
      setExecuteFn((execution) => {
        const raw = execution.variableValues;
        const scalars = scalarsOf(execution.schema);
        const events = raw && scalars && Object.hasOwn(raw, variable) ? coerceEventsQuickly(raw[variable], scalars) : null;
        if (events === null) return executeFn(execution);
        const rootValue = typeof execution.rootValue === 'object' && execution.rootValue !== null ? execution.rootValue : {};
        return executeFn({
          ...execution,
          variableValues: { ...raw, [variable]: [] },
          rootValue: { ...rootValue, [PRE_COERCED_EVENTS]: events },
        });
      });
    },
  };
}

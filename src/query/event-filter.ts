/** The events filter: validation of its input, and matching for live subscriptions. Pure. */
import { matchesDimensions, type DimensionValue, type StoredEvent } from '../domain/event.ts';
import { MAP_KEY_PATTERN, TYPE_PATTERN } from '../domain/event-rules.ts';
import { matchesConditions, type ConditionOperator, type DimensionCondition } from '../domain/dimension-conditions.ts';
import type { EventQuery } from '../ports/event-store.ts';
import { badInput } from '../errors.ts';
import { illFormedMessage } from '../domain/well-formed.ts';
import { MAX_CONDITION_VALUES, MAX_WHERE_CONDITIONS, queryTooLarge } from './query-limits.ts';

/**
 * A string argument compared with stored strings. Stores hold well-formed Unicode only (ingest
 * refuses the rest), and a lone surrogate sent to one becomes U+FFFD on the way, where it could
 * match a different stored value: it is refused instead of silently matching.
 */
export function requireWellFormed<T extends string | null | undefined>(text: T, path: string): T {
  if (typeof text === 'string' && !text.isWellFormed()) throw badInput(illFormedMessage(path, text));
  return text;
}

export interface EventFilterInput {
  types?: string[] | null;
  source?: string | null;
  from?: Date | null;
  to?: Date | null;
  dimensions?: Record<string, unknown> | null;
  where?: readonly DimensionConditionInput[] | null;
}

/** One `DimensionCondition` as GraphQL hands it over: an operator is set when it is not null. */
export interface DimensionConditionInput {
  key: string;
  eq?: DimensionValue | null;
  neq?: DimensionValue | null;
  in?: readonly DimensionValue[] | null;
  notIn?: readonly DimensionValue[] | null;
  exists?: boolean | null;
}

/**
 * Checks a dimensions filter: flat, with the same key rules as ingest. This is also what keeps
 * operator objects ({"$gt": …}) and other smuggled syntax away from every store.
 */
export function validateDimensionFilter(
  dimensions: Record<string, unknown> | null | undefined,
  path: string,
): Record<string, DimensionValue> | null {
  if (dimensions == null) return null;
  const checked: Record<string, DimensionValue> = {};
  for (const [key, value] of Object.entries(dimensions)) {
    if (!MAP_KEY_PATTERN.test(key)) throw badInput(`${path}: "${key.toWellFormed()}" is not a dimension key`);
    if (typeof value === 'string') {
      checked[key] = requireWellFormed(value, `${path}.${key}`);
    } else if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
      checked[key] = value;
    } else {
      throw badInput(`${path}.${key}: a dimension filter value must be a string, number or boolean`);
    }
  }
  return checked;
}

const OPERATORS: readonly ConditionOperator[] = ['eq', 'neq', 'in', 'notIn', 'exists'];

/** A value of a condition in its compared form (the dimension's text), refused when no dimension can hold it. */
function conditionValue(value: unknown, path: string): string {
  if (typeof value === 'string') return requireWellFormed(value, path);
  if (typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) return String(value);
  throw badInput(`${path}: a condition value must be a string, a finite number or a boolean`);
}

/**
 * Checks a `where` and puts it in the form the matcher and the stores take: at most
 * MAX_WHERE_CONDITIONS conditions, each on a key ingest would accept, with exactly one operator
 * (an error names the condition by its index and key), lists of at most MAX_CONDITION_VALUES
 * values, values in their compared text. Null when there is no condition.
 */
export function validateWhere(where: readonly DimensionConditionInput[] | null | undefined, path: string): DimensionCondition[] | null {
  if (where == null || where.length === 0) return null;
  if (where.length > MAX_WHERE_CONDITIONS) {
    throw queryTooLarge('conditions', MAX_WHERE_CONDITIONS, where.length, `${path} holds too many conditions`);
  }
  return where.map((input, index) => {
    const at = `${path}[${index}]`;
    validateKeyName(input.key, `${at}.key`);
    const named = `${at} (key "${input.key}")`;
    const set = OPERATORS.filter((operator) => input[operator] != null);
    if (set.length !== 1) {
      const sets = set.length === 0 ? 'none' : `${set.slice(0, -1).join(', ')} and ${set.at(-1)}`;
      throw badInput(`${named} must set exactly one of eq, neq, in, notIn, exists; it sets ${sets}`);
    }
    const operator = set[0]!;
    const key = input.key;
    switch (operator) {
      case 'eq':
      case 'neq':
        return { key, operator, value: conditionValue(input[operator], `${at}.${operator}`) };
      case 'in':
      case 'notIn': {
        const list = input[operator]!;
        if (list.length > MAX_CONDITION_VALUES) {
          throw queryTooLarge('values', MAX_CONDITION_VALUES, list.length, `${at}.${operator}`);
        }
        return { key, operator, values: new Set(list.map((value, i) => conditionValue(value, `${at}.${operator}[${i}]`))) };
      }
      case 'exists':
        if (typeof input.exists !== 'boolean') throw badInput(`${at}.exists must be true or false`);
        return { key, operator, exists: input.exists };
    }
  });
}

/**
 * An event type as a query names it. A type ingest would refuse can match nothing, so it is
 * refused here too: the client learns of its mistake (or that smuggled syntax goes nowhere)
 * instead of getting an empty answer.
 */
export function validateTypeName(type: string, path: string): string {
  if (!TYPE_PATTERN.test(type))
    throw badInput(`${path}: "${type.slice(0, 64).toWellFormed()}" is not an event type (1 to 128 characters of A-Z, a-z, 0-9, _ . : -)`);
  return type;
}

/** A dimension or value key as a query names it (groupBy, by, value): the ingest key rule. */
export function validateKeyName<T extends string | null | undefined>(key: T, path: string): T {
  if (typeof key === 'string' && !MAP_KEY_PATTERN.test(key)) {
    throw badInput(
      `${path}: "${key.slice(0, 64).toWellFormed()}" is not a dimension or value key (1 to 64 characters of A-Z, a-z, 0-9, _ : -)`,
    );
  }
  return key;
}

export function toEventQuery(tenant: string, filter: EventFilterInput | null | undefined): EventQuery {
  return {
    tenant,
    types: filter?.types?.map((type, index) => validateTypeName(type, `filter.types[${index}]`)) ?? null,
    source: requireWellFormed(filter?.source ?? null, 'filter.source'),
    from: filter?.from?.getTime() ?? null,
    to: filter?.to?.getTime() ?? null,
    dimensions: validateDimensionFilter(filter?.dimensions, 'filter.dimensions'),
    where: validateWhere(filter?.where, 'filter.where'),
  };
}

/** The same semantics as the stores' queries, for events arriving live. */
export function matchesEventQuery(event: StoredEvent, query: EventQuery): boolean {
  if (event.tenant !== query.tenant) return false;
  if (query.types && query.types.length > 0 && !query.types.includes(event.type)) return false;
  if (query.source != null && event.source !== query.source) return false;
  if (query.from != null && event.timestamp < query.from) return false;
  if (query.to != null && event.timestamp >= query.to) return false;
  return matchesDimensions(event.dimensions, query.dimensions) && matchesConditions(event.dimensions, query.where);
}

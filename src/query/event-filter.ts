/** The events filter: validation of its input, and matching for live subscriptions. Pure. */
import { matchesDimensions, type DimensionValue, type StoredEvent } from '../domain/event.ts';
import { MAP_KEY_PATTERN, TYPE_PATTERN } from '../domain/event-rules.ts';
import type { EventQuery } from '../ports/event-store.ts';
import { badInput } from '../errors.ts';
import { illFormedMessage } from '../domain/well-formed.ts';

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
  };
}

/** The same semantics as the stores' queries, for events arriving live. */
export function matchesEventQuery(event: StoredEvent, query: EventQuery): boolean {
  if (event.tenant !== query.tenant) return false;
  if (query.types && query.types.length > 0 && !query.types.includes(event.type)) return false;
  if (query.source != null && event.source !== query.source) return false;
  if (query.from != null && event.timestamp < query.from) return false;
  if (query.to != null && event.timestamp >= query.to) return false;
  return matchesDimensions(event.dimensions, query.dimensions);
}

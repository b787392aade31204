/**
 * The slice of a tenant's data an access token may see: an allow-list of event types and
 * dimension conditions every event must meet. An API key sees the whole tenant (no slice).
 * Pure: the rules that decide what a slice holds, and whether one slice holds all of another.
 *
 * Where the slice is applied to queries, subscriptions and ingest is one module (see
 * docs/architecture.md); this file only says what a slice is.
 */
import { conditionsKey, matchesConditions, type DimensionCondition } from '../domain/dimension-conditions.ts';
import type { DimensionValue } from '../domain/event.ts';

export interface DataSlice {
  /** The event types the token may see, sorted and without repeats; null: every type. */
  readonly types: readonly string[] | null;
  /** Conditions every event of the slice meets (ANDed); empty: no condition. */
  readonly where: readonly DimensionCondition[];
}

/** What an API key sees: everything of its tenant. */
export const WHOLE_TENANT: DataSlice = Object.freeze({ types: null, where: Object.freeze([]) as readonly DimensionCondition[] });

export function isWholeTenant(slice: DataSlice): boolean {
  return slice.types === null && slice.where.length === 0;
}

/** Whether the slice holds an event of this type with these dimensions. */
export function sliceHolds(slice: DataSlice, event: { type: string; dimensions: Readonly<Record<string, DimensionValue>> }): boolean {
  if (slice.types !== null && !slice.types.includes(event.type)) return false;
  return matchesConditions(event.dimensions, slice.where);
}

/** Whether the slice may hold events of this type at all. */
export function sliceAllowsType(slice: DataSlice, type: string): boolean {
  return slice.types === null || slice.types.includes(type);
}

/**
 * Whether `wider` holds every event `narrower` holds, decided without looking at any event:
 * every type of `narrower` is a type of `wider`, and every condition of `wider` is one of
 * `narrower`'s (the same key, operator and values). Sound, not complete: `in: [a]` is narrower
 * than `in: [a, b]`, but this says no, and a refreshed token that words its slice differently is
 * treated as a narrower one. That errs on the side of ending a subscription, never of widening it.
 */
export function sliceCovers(wider: DataSlice, narrower: DataSlice): boolean {
  if (wider.types !== null) {
    if (narrower.types === null) return false;
    for (const type of narrower.types) if (!wider.types.includes(type)) return false;
  }
  const narrowerConditions = new Set(narrower.where.map((condition) => JSON.stringify(conditionsKey([condition]))));
  return wider.where.every((condition) => narrowerConditions.has(JSON.stringify(conditionsKey([condition]))));
}

/**
 * The slice as plain JSON: part of every key under which an answer is cached or shared between
 * subscribers, so an answer computed for one slice is never served to another.
 */
export function sliceKey(slice: DataSlice): unknown {
  return isWholeTenant(slice) ? null : [slice.types, conditionsKey(slice.where)];
}

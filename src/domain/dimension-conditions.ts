/**
 * Conditions on dimensions: the `where` of queries and subscriptions. One matcher decides them for
 * an event's dimensions and for a rollup row's dimension combination alike, so live matching,
 * the stores' in-process filtering and the rollup filtering cannot disagree; the stores that
 * translate conditions into their own query language are held to it by a property test
 * (test/property/where-matcher.property.test.ts). Pure.
 *
 * Values compare as the dimension's canonical text (`dimensionText`), like the `dimensions`
 * equality filter: `2` matches `"2"`, `true` matches `"true"`. A dimension the event does not
 * have is absent: `eq` and `in` are false there, `neq` and `notIn` true, `exists` says which.
 */
import { dimensionOf, dimensionText, type DimensionValue } from './event.ts';

export type DimensionCondition =
  | { readonly key: string; readonly operator: 'eq' | 'neq'; readonly value: string }
  | { readonly key: string; readonly operator: 'in' | 'notIn'; readonly values: ReadonlySet<string> }
  | { readonly key: string; readonly operator: 'exists'; readonly exists: boolean };

export type ConditionOperator = DimensionCondition['operator'];

/** Whether one condition holds for these dimensions (an event's values, or a row's text). */
export function matchesCondition(dimensions: Readonly<Record<string, DimensionValue>>, condition: DimensionCondition): boolean {
  const actual = dimensionOf(dimensions, condition.key);
  const text = actual === undefined ? undefined : dimensionText(actual);
  switch (condition.operator) {
    case 'eq':
      return text === condition.value;
    case 'neq':
      return text !== condition.value;
    case 'in':
      return text !== undefined && condition.values.has(text);
    case 'notIn':
      return text === undefined || !condition.values.has(text);
    case 'exists':
      return (text !== undefined) === condition.exists;
  }
}

/** Whether every condition holds (a list is ANDed; none: true). */
export function matchesConditions(
  dimensions: Readonly<Record<string, DimensionValue>>,
  conditions: readonly DimensionCondition[] | null | undefined,
): boolean {
  if (!conditions) return true;
  for (const condition of conditions) if (!matchesCondition(dimensions, condition)) return false;
  return true;
}

/** One condition as plain JSON: its key, its operator, and its values sorted (a set has no order). */
export type ConditionJson = [string, 'eq' | 'neq', string] | [string, 'in' | 'notIn', string[]] | [string, 'exists', boolean];

export function conditionJson(condition: DimensionCondition): ConditionJson {
  switch (condition.operator) {
    case 'eq':
    case 'neq':
      return [condition.key, condition.operator, condition.value];
    case 'in':
    case 'notIn':
      return [condition.key, condition.operator, [...condition.values].sort()];
    case 'exists':
      return [condition.key, condition.operator, condition.exists];
  }
}

/**
 * The conditions as plain JSON, in their order and with list values sorted: part of the key of a
 * cached result and of a shared live feed, so the same `where` always gives the same key.
 */
export function conditionsKey(conditions: readonly DimensionCondition[] | null | undefined): ConditionJson[] | null {
  if (!conditions || conditions.length === 0) return null;
  return conditions.map(conditionJson);
}

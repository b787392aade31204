/**
 * Grouping a series by dimensions: by none, by one (`groupBy`), or by the combination of one to
 * three (`groupByDimensions`). Pure.
 *
 * Rollup rows carry their full dimension combination, so grouping is a merge at query time: each
 * row belongs to the group of its values of the grouping keys, in the order the query names
 * them, an absent dimension counting as null. `groupBy: "country"` and
 * `groupByDimensions: ["country"]` therefore group alike and answer alike.
 *
 * Every name here is a client's: a group's values and keys may be `constructor`, `toString` or
 * any other member name of Object.prototype. They are kept in arrays and in objects without a
 * prototype (`groupKeyObject`), never looked up through a plain object.
 */
import { dimensionOf } from '../domain/event.ts';
import { badInput } from '../errors.ts';
import { validateKeyName } from './event-filter.ts';

/**
 * The contract's bound on `groupByDimensions`. Each key multiplies the groups a query may
 * answer; MAX_SERIES_GROUPS bounds their product.
 */
export const MAX_GROUP_BY_DIMENSIONS = 3;

/** A group's values, one per grouping key in the order asked; null where the dimension is absent. */
export type GroupValues = readonly (string | null)[];

/**
 * A group as a Map key: the JSON text of its values. JSON tells `null` (absent) from `"null"`
 * (a value), and no separator inside a value can make two groups one. Ungrouped: `[]`.
 */
export type GroupId = string;

/** What asks for grouping: the series query and the live series subscription. */
export interface GroupingRequest {
  groupBy?: string | null;
  groupByDimensions?: readonly string[] | null;
}

/**
 * The grouping keys a request names, checked: `groupBy` and `groupByDimensions` exclusive, 1 to
 * MAX_GROUP_BY_DIMENSIONS keys, each a valid dimension key, none twice. Refusals are
 * BAD_USER_INPUT naming the argument. The length is checked first, so a huge list costs nothing.
 */
export function validateGrouping(request: GroupingRequest, path: string): string[] {
  const { groupBy, groupByDimensions } = request;
  if (groupByDimensions == null) {
    validateKeyName(groupBy, `${path}.groupBy`);
    return groupBy == null ? [] : [groupBy];
  }
  if (groupBy != null) {
    throw badInput(`${path}: set groupBy or groupByDimensions, not both (groupByDimensions with one key groups as groupBy does)`);
  }
  if (groupByDimensions.length < 1 || groupByDimensions.length > MAX_GROUP_BY_DIMENSIONS) {
    throw badInput(
      `${path}.groupByDimensions: name 1 to ${MAX_GROUP_BY_DIMENSIONS} dimension keys (got ${groupByDimensions.length}); omit it to not group`,
    );
  }
  const seen = new Set<string>();
  groupByDimensions.forEach((key, index) => {
    validateKeyName(key, `${path}.groupByDimensions[${index}]`);
    if (seen.has(key)) throw badInput(`${path}.groupByDimensions[${index}]: "${key}" is named twice`);
    seen.add(key);
  });
  return [...groupByDimensions];
}

/**
 * The keys a checked request groups by: `groupByDimensions`, else `groupBy` alone, else none.
 * For shapes that have been through validateGrouping (or are built by code, like `top`'s).
 */
export function groupingKeys(request: GroupingRequest): readonly string[] {
  return request.groupByDimensions ?? (request.groupBy ? [request.groupBy] : []);
}

/** The group of a rollup row (or a live bucket) with these dimensions. */
export function groupIdOf(dimensions: Readonly<Record<string, string>>, keys: readonly string[]): GroupId {
  return JSON.stringify(keys.map((key) => dimensionOf(dimensions, key) ?? null));
}

export function groupValues(id: GroupId): GroupValues {
  return JSON.parse(id) as GroupValues;
}

/**
 * `Series.group`: the values joined by ", " in the order asked. An absent value shows as nothing
 * (as Array.join shows null), and a group whose every value is absent is null, as `groupBy`
 * shows an absent value; so `groupByDimensions: ["country"]` labels exactly like
 * `groupBy: "country"`. A label, not an identity: a value holding ", " (or empty) can make two
 * groups' labels equal; `groupKey` tells them apart.
 */
export function groupLabel(values: GroupValues): string | null {
  if (values.every((value) => value === null)) return null;
  return values.map((value) => value ?? '').join(', ');
}

/**
 * `Series.groupKey`: each grouping key with its value, null where absent; `{}` ungrouped. An
 * object without a prototype, so a key named `constructor` or `__proto__` is an own property like
 * any other (JSON.stringify, which writes the answer, sees exactly these keys).
 */
export function groupKeyObject(keys: readonly string[], values: GroupValues): Record<string, string | null> {
  const object: Record<string, string | null> = Object.create(null);
  keys.forEach((key, index) => {
    object[key] = values[index] ?? null;
  });
  return object;
}

/**
 * The order of groups in an answer: by their values, the first key first; within a key, values
 * by UTF-16 code units (JavaScript's `<`, as `groupBy` has always sorted) and an absent value
 * after every present one. So `groupBy`'s order (null last) is the one-key case of this one.
 */
export function compareGroupValues(a: GroupValues, b: GroupValues): number {
  for (let index = 0; index < Math.max(a.length, b.length); index++) {
    const left = a[index] ?? null;
    const right = b[index] ?? null;
    if (left === right) continue;
    if (left === null) return 1;
    if (right === null) return -1;
    return left < right ? -1 : 1;
  }
  return 0;
}

/**
 * What a token's slice means, written from the contract alone (docs/api.md "Filtering with
 * `where`" and the access-token section), independent of the product's matcher: the escape
 * suite compares what the service answers through a token with the whole-tenant answer passed
 * through this oracle, so a bug shared by the product's matcher and its slice code still shows.
 */

export type OracleValue = string | number | boolean;

export interface OracleCondition {
  key: string;
  eq?: OracleValue;
  neq?: OracleValue;
  in?: OracleValue[];
  notIn?: OracleValue[];
  exists?: boolean;
}

export interface OracleSlice {
  types: string[] | null;
  where: OracleCondition[];
}

/** Values compare as the dimension's text: 2 matches "2", true matches "true". */
const asText = (value: unknown): string => String(value);

/** Own keys only: a dimension named "constructor" is an ordinary key, never Object.prototype's member. */
function dimensionOf(dimensions: Record<string, unknown>, key: string): { present: boolean; text: string } {
  const present = Object.prototype.hasOwnProperty.call(dimensions, key);
  return { present, text: present ? asText(dimensions[key]) : '' };
}

export function conditionHolds(dimensions: Record<string, unknown>, condition: OracleCondition): boolean {
  const { present, text } = dimensionOf(dimensions, condition.key);
  if (condition.eq !== undefined) return present && text === asText(condition.eq);
  if (condition.neq !== undefined) return !present || text !== asText(condition.neq);
  if (condition.in !== undefined) return present && condition.in.some((value) => asText(value) === text);
  if (condition.notIn !== undefined) return !present || condition.notIn.every((value) => asText(value) !== text);
  if (condition.exists !== undefined) return present === condition.exists;
  throw new Error(`condition on ${condition.key} sets no operator`);
}

export function oracleHolds(slice: OracleSlice, event: { type: string; dimensions: Record<string, unknown> }): boolean {
  if (slice.types !== null && !slice.types.includes(event.type)) return false;
  return slice.where.every((condition) => conditionHolds(event.dimensions, condition));
}

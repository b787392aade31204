/** The Pothos builder: plugins, context and scalar typing only. Types live one per file beside it. */
import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import { StreamlensError } from '../errors.ts';
import type { DimensionValue } from '../domain/event.ts';
import type { GraphQLContext } from '../resolvers/context.ts';

/**
 * The most work one operation may ask for: every field costs 1, and a list multiplies what is
 * selected under it (by `first` for pages, by 10 otherwise). A full page of 1,000 events with
 * every field costs about 12,000; the text-level limits (depth, fields, aliases) apply before.
 */
export const MAX_QUERY_COMPLEXITY = 50_000;

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  // Non-null unless a field says otherwise: the contract marks the few nullable ones.
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | number };
    JSONObject: { Input: Record<string, unknown>; Output: Record<string, unknown> };
    SafeInt: { Input: number; Output: number };
    DimensionValue: { Input: DimensionValue; Output: DimensionValue };
    ID: { Input: string; Output: string };
  };
}>({
  plugins: [ComplexityPlugin],
  defaultFieldNullability: false,
  complexity: {
    defaultComplexity: 1,
    defaultListMultiplier: 10,
    limit: { complexity: MAX_QUERY_COMPLEXITY },
    complexityError: (kind, result) =>
      // Checked as each root field starts: the field's error, like any other a resolver throws.
      new StreamlensError(
        'QUERY_TOO_COMPLEX',
        `the operation's estimated ${String(kind).toLowerCase()} is ${result.complexity}, above the limit of ${MAX_QUERY_COMPLEXITY}; ask for fewer items or fields`,
        { details: { measure: 'complexity', limit: MAX_QUERY_COMPLEXITY } },
      ),
  },
});

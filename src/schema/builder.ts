/** The Pothos builder: context and scalar typing only. Types live one per file beside it. */
import SchemaBuilder from '@pothos/core';
import type { GraphQLContext } from '../resolvers/context.ts';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  // Non-null unless a field says otherwise: the contract marks the few nullable ones.
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | number };
    JSONObject: { Input: Record<string, unknown>; Output: Record<string, unknown> };
    SafeInt: { Input: number; Output: number };
    ID: { Input: string; Output: string };
  };
}>({ defaultFieldNullability: false });

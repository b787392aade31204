/** `DimensionCondition`: one condition of a `where`, shared by the filters of events, series and top. */
import { builder } from './builder.ts';

export const DimensionCondition = builder.inputType('DimensionCondition', {
  description:
    'One condition on a dimension; exactly one operator is set. A list of conditions is ANDed. Values compare as the dimension\'s text (2 matches "2"). At most 20 conditions per `where`, and 100 values per `in` or `notIn` list.',
  fields: (t) => ({
    key: t.string({ required: true, description: 'A dimension key.' }),
    eq: t.field({ type: 'DimensionValue', description: 'The dimension equals this value.' }),
    neq: t.field({ type: 'DimensionValue', description: 'The dimension differs from this value, or is absent.' }),
    in: t.field({ type: ['DimensionValue'], description: 'The dimension equals one of these values.' }),
    notIn: t.field({ type: ['DimensionValue'], description: 'The dimension equals none of these values, or is absent.' }),
    exists: t.boolean({ description: 'true: the event has the dimension; false: it has not.' }),
  }),
});

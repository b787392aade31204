import type { TopEntryView } from '../query/series-view.ts';
import { builder } from './builder.ts';
import { requireScope } from '../resolvers/context.ts';
import { DimensionCondition } from './dimension-condition.ts';

const TopQuery = builder.inputType('TopQuery', {
  fields: (t) => ({
    type: t.string({ required: true }),
    by: t.string({ required: true, description: 'Dimension key to rank.' }),
    value: t.string({ description: 'Rank by the sum of this value; omitted: by count.' }),
    from: t.field({ type: 'DateTime', required: true }),
    to: t.field({ type: 'DateTime', required: true }),
    dimensions: t.field({ type: 'JSONObject' }),
    where: t.field({ type: [DimensionCondition], description: 'Conditions on dimensions, all of which hold; ANDed with `dimensions`.' }),
    limit: t.int({ description: 'Default 10, at most 1000.' }),
  }),
});

const TopEntry = builder.objectRef<TopEntryView>('TopEntry').implement({
  fields: (t) => ({
    key: t.exposeString('key'),
    count: t.field({ type: 'SafeInt', resolve: (e) => e.count }),
    sum: t.exposeFloat('sum', { nullable: true }),
  }),
});

builder.queryField('top', (t) =>
  t.field({
    type: [TopEntry],
    description: 'The values of a dimension ranked over the MINUTE buckets that overlap [from, to).',
    args: { query: t.arg({ type: TopQuery, required: true }) },
    resolve: (_root, args, context) => context.services.queries.top(requireScope(context, 'READ'), args.query, context.budget),
  }),
);

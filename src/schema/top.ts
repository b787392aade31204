/** Top lists: the `top` query, the live `top` subscription and their types. */
import type { TopEntryView } from '../query/series-view.ts';
import { builder } from './builder.ts';
import { DISTINCT_ERROR_TEXT } from './distinct-text.ts';

export const TopRank = builder.enumType('TopRank', {
  description: 'What `top` orders by, largest first (ties by key).',
  values: {
    COUNT: { description: 'The number of events (the default without `value`).' },
    SUM: { description: 'The sum of `value` (needs `value`; the default when `value` is given).' },
    DISTINCT: { description: 'The different values of `distinct` (needs `distinct`).' },
  } as const,
});
import { requireAccess, requireLiveSubscriber } from '../resolvers/context.ts';
import type { TopUpdateView } from '../live/live-service.ts';
import { DimensionCondition } from './dimension-condition.ts';

const TopQuery = builder.inputType('TopQuery', {
  fields: (t) => ({
    type: t.string({ required: true }),
    by: t.string({ required: true, description: 'Dimension key to rank.' }),
    value: t.string({ description: 'Rank by the sum of this value; omitted: by count. `rankBy` overrides the ranking.' }),
    from: t.field({ type: 'DateTime', required: true }),
    to: t.field({ type: 'DateTime', required: true }),
    dimensions: t.field({ type: 'JSONObject' }),
    where: t.field({ type: [DimensionCondition], description: 'Conditions on dimensions, all of which hold; ANDed with `dimensions`.' }),
    limit: t.int({ description: 'Default 10, at most 1000.' }),
    distinct: t.string({
      description: `A key of \`EventInput.distinct\`: each entry's \`distinct\` counts its different values over the whole range. ${DISTINCT_ERROR_TEXT}`,
    }),
    rankBy: t.field({
      type: TopRank,
      description:
        'COUNT (the default), SUM (needs `value`) or DISTINCT (needs `distinct`); without it, a query naming `value` ranks by SUM, as before `rankBy` existed. A ranking without its argument is BAD_USER_INPUT.',
    }),
  }),
});

const TopEntry = builder.objectRef<TopEntryView>('TopEntry').implement({
  fields: (t) => ({
    key: t.exposeString('key'),
    count: t.field({ type: 'SafeInt', resolve: (e) => e.count }),
    sum: t.exposeFloat('sum', { nullable: true }),
    distinct: t.field({
      type: 'SafeInt',
      nullable: true,
      description: `Different values of the query's \`distinct\` key among this key's events; null unless the query names one. ${DISTINCT_ERROR_TEXT}`,
      resolve: (e) => e.distinct ?? null,
    }),
  }),
});

builder.queryField('top', (t) =>
  t.field({
    type: [TopEntry],
    description: 'The values of a dimension ranked over the MINUTE buckets that overlap [from, to).',
    args: { query: t.arg({ type: TopQuery, required: true }) },
    resolve: (_root, args, context) => context.services.queries.top(requireAccess(context, 'READ'), args.query, context.budget),
  }),
);

const LiveTopQuery = builder.inputType('LiveTopQuery', {
  description: 'A top list over a sliding window of MINUTE buckets, as TopQuery ranks it.',
  fields: (t) => ({
    type: t.string({ required: true }),
    by: t.string({ required: true, description: 'Dimension key to rank.' }),
    value: t.string({ description: 'As TopQuery.value.' }),
    distinct: t.string({ description: 'As TopQuery.distinct.' }),
    rankBy: t.field({ type: TopRank, description: 'As TopQuery.rankBy.' }),
    dimensions: t.field({ type: 'JSONObject' }),
    where: t.field({ type: [DimensionCondition], description: 'Conditions on dimensions, all of which hold; ANDed with `dimensions`.' }),
    limit: t.int({ description: 'Default 10, at most 1000.' }),
    window: t.string({
      required: true,
      description:
        'How far back the list looks: a whole number of minutes, hours or days ("15m", "24h", "7d"), at most 7 days. The window ends with the current minute and slides at every minute boundary.',
    }),
  }),
});

const TopUpdate = builder.objectRef<TopUpdateView>('TopUpdate').implement({
  description: 'The top list over [from, to): exactly what the `top` query answers for that range.',
  fields: (t) => ({
    entries: t.field({ type: [TopEntry], resolve: (u) => u.entries }),
    from: t.field({ type: 'DateTime', description: "The window's start, on a minute.", resolve: (u) => u.from }),
    to: t.field({ type: 'DateTime', description: "The window's end (exclusive): the end of the current minute.", resolve: (u) => u.to }),
    watermark: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Data complete up to this event time.',
      resolve: (u) => u.watermark,
    }),
  }),
});

builder.subscriptionField('top', (t) =>
  t.field({
    type: TopUpdate,
    description:
      'A top list over a sliding window: the first update at once, then one whenever the ranking or a value changes, at most one per second (changes in between conflate: the latest wins).',
    args: { query: t.arg({ type: LiveTopQuery, required: true }) },
    subscribe: (_root, args, context) => context.services.live.subscribeToTop(requireLiveSubscriber(context), args.query),
    resolve: (update) => update,
  }),
);

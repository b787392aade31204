/** Series: the `series` query, the live `series` subscription and their types. */
import { QUERY_INTERVALS, type QueryInterval } from '../domain/interval.ts';
import type { SeriesResult } from '../query/query-service.ts';
import type { PointView } from '../query/series-view.ts';
import type { SeriesUpdateView } from '../live/live-service.ts';
import { builder } from './builder.ts';
import { DISTINCT_ERROR_TEXT } from './distinct-text.ts';
import { requireAccess, requireLiveSubscriber } from '../resolvers/context.ts';
import { DimensionCondition } from './dimension-condition.ts';

/** What each interval's buckets are, and which stored rollups serve them (see docs/api.md, Intervals and time zones). */
const INTERVAL_DESCRIPTIONS: Record<QueryInterval, string> = {
  SECOND: 'UTC seconds (kept for SECOND_RETENTION).',
  MINUTE: 'UTC minutes.',
  FIVE_MINUTES: 'Five minutes, aligned to the hour (:00, :05, …); merged from MINUTE rollups.',
  FIFTEEN_MINUTES: 'Fifteen minutes, aligned to the hour (:00, :15, :30, :45); merged from MINUTE rollups.',
  HOUR: 'UTC hours.',
  DAY: 'Days from midnight in `timeZone` (default UTC); a day that changes daylight-saving time has 23 or 25 hours.',
  WEEK: 'Weeks from Monday 00:00 in `timeZone` (default UTC); merged from DAY, HOUR or MINUTE rollups.',
  MONTH: 'Calendar months from the 1st, 00:00 in `timeZone` (default UTC); merged from DAY, HOUR or MINUTE rollups.',
};

export const Interval = builder.enumType('Interval', {
  values: Object.fromEntries(QUERY_INTERVALS.map((interval) => [interval, { description: INTERVAL_DESCRIPTIONS[interval] }])) as Record<
    QueryInterval,
    { description: string }
  >,
});

const SeriesQuery = builder.inputType('SeriesQuery', {
  fields: (t) => ({
    type: t.string({ required: true }),
    value: t.string({ description: 'A key of `values`; omitted: counts only.' }),
    interval: t.field({ type: Interval, required: true }),
    from: t.field({ type: 'DateTime', required: true, description: 'Aligned down to the interval.' }),
    to: t.field({ type: 'DateTime', required: true, description: 'Exclusive.' }),
    groupBy: t.string({ description: 'A dimension key: one series per distinct value.' }),
    groupByDimensions: t.stringList({
      description:
        'One to three dimension keys: one series per combination of their values (an absent dimension counts as null). Exclusive with groupBy. At most MAX_SERIES_GROUPS series (default 1,000).',
    }),
    dimensions: t.field({ type: 'JSONObject', description: 'Exact-match filter.' }),
    where: t.field({ type: [DimensionCondition], description: 'Conditions on dimensions, all of which hold; ANDed with `dimensions`.' }),
    fill: t.boolean({ description: 'Include empty buckets between from and to.' }),
    timeZone: t.string({
      description:
        'An IANA time-zone name (for example "America/New_York"), default "UTC": where DAY, WEEK and MONTH buckets start. An unknown name is a BAD_USER_INPUT error.',
    }),
    distinct: t.string({
      description: `A key of \`EventInput.distinct\`: each point's \`distinct\` counts its different values, merged by union (a DAY point's users are not the sum of its hours). ${DISTINCT_ERROR_TEXT}`,
    }),
  }),
});

const SeriesPoint = builder.objectRef<PointView>('SeriesPoint').implement({
  fields: (t) => ({
    start: t.field({ type: 'DateTime', resolve: (p) => p.start }),
    count: t.field({ type: 'SafeInt', description: 'Events in the bucket.', resolve: (p) => p.count }),
    sum: t.exposeFloat('sum', { nullable: true }),
    min: t.exposeFloat('min', { nullable: true }),
    max: t.exposeFloat('max', { nullable: true }),
    avg: t.exposeFloat('avg', { nullable: true }),
    p50: t.exposeFloat('p50', { nullable: true, description: 'Within 1% relative accuracy.' }),
    p90: t.exposeFloat('p90', { nullable: true }),
    p95: t.exposeFloat('p95', { nullable: true }),
    p99: t.exposeFloat('p99', { nullable: true }),
    distinct: t.field({
      type: 'SafeInt',
      nullable: true,
      description: `Different values of the query's \`distinct\` key among the bucket's events; null unless the query names one. ${DISTINCT_ERROR_TEXT}`,
      resolve: (p) => p.distinct ?? null,
    }),
    final: t.exposeBoolean('final', {
      description: 'True once the watermark has passed the end of the bucket plus the allowed lateness: it will not change again.',
    }),
  }),
});

const GROUP_DESCRIPTION =
  'The groupBy value, or the groupByDimensions values joined by ", " in the order asked (an absent value shows as nothing); null when not grouping or when every value is absent. A label: groupKey identifies the group.';
const GROUP_KEY_DESCRIPTION =
  'The group\'s values by key: {} when not grouping, { country: "NL" } for groupBy: "country", { country: "NL", plan: null } where a dimension is absent.';

const Series = builder.objectRef<SeriesResult>('Series').implement({
  fields: (t) => ({
    group: t.exposeString('group', { nullable: true, description: GROUP_DESCRIPTION }),
    groupKey: t.field({ type: 'JSONObject', description: GROUP_KEY_DESCRIPTION, resolve: (s) => s.groupKey }),
    points: t.field({ type: [SeriesPoint], resolve: (s) => s.points }),
    watermark: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Data complete up to this event time.',
      resolve: (s) => s.watermark,
    }),
  }),
});

builder.queryField('series', (t) =>
  t.field({
    type: [Series],
    description: 'Every bucket of the interval that overlaps [from, to), ordered by start.',
    args: { query: t.arg({ type: SeriesQuery, required: true }) },
    resolve: (_root, args, context) => context.services.queries.series(requireAccess(context, 'READ'), args.query, context.budget),
  }),
);

const LiveSeriesQuery = builder.inputType('LiveSeriesQuery', {
  fields: (t) => ({
    type: t.string({ required: true }),
    value: t.string(),
    interval: t.field({ type: Interval, required: true }),
    groupBy: t.string(),
    groupByDimensions: t.stringList({ description: 'As SeriesQuery.groupByDimensions.' }),
    dimensions: t.field({ type: 'JSONObject' }),
    where: t.field({ type: [DimensionCondition], description: 'Conditions on dimensions, all of which hold; ANDed with `dimensions`.' }),
    distinct: t.string({ description: 'As SeriesQuery.distinct: each point counts the different values of this key.' }),
    timeZone: t.string({ description: 'As SeriesQuery.timeZone: where DAY, WEEK and MONTH buckets start (default "UTC").' }),
    from: t.field({
      type: 'DateTime',
      description:
        'First send one update per existing point from here (aligned down to the interval) up to `to` or now, ordered by start within each group, then live updates. Absent: live updates only. Spans at most 10,000 buckets up to now, as the series query.',
    }),
    to: t.field({
      type: 'DateTime',
      description:
        'Exclusive: only buckets starting before it. The subscription completes once every bucket overlapping [from, to) is final and has been sent with `final: true`.',
    }),
  }),
});

const SeriesUpdate = builder.objectRef<SeriesUpdateView>('SeriesUpdate').implement({
  fields: (t) => ({
    group: t.exposeString('group', { nullable: true, description: GROUP_DESCRIPTION }),
    groupKey: t.field({ type: 'JSONObject', description: GROUP_KEY_DESCRIPTION, resolve: (u) => u.groupKey }),
    point: t.field({ type: SeriesPoint, resolve: (u) => u.point }),
    watermark: t.field({ type: 'DateTime', nullable: true, resolve: (u) => u.watermark }),
    cursor: t.exposeString('cursor', {
      description:
        'Keep the last one received: `series(query, after: cursor)` with the same query, on any instance, sends every point that changed after it (some unchanged ones too), then goes on live. Refused with CURSOR_EXPIRED after 24 hours.',
    }),
  }),
});

builder.subscriptionField('series', (t) =>
  t.field({
    type: SeriesUpdate,
    description:
      'Every change of a bucket, corrections of earlier buckets included, as the new total; each bucket once more with `final: true` when it becomes final. With `query.from`, first a snapshot; with `after`, every point changed after that cursor first.',
    args: {
      query: t.arg({ type: LiveSeriesQuery, required: true }),
      after: t.arg.string({ description: 'A `cursor` of an update of this subscription (same query): resume after it, losing no change.' }),
    },
    subscribe: (_root, args, context) =>
      context.services.live.subscribeToSeries(requireLiveSubscriber(context), args.query, args.after ?? null),
    resolve: (update) => update,
  }),
);

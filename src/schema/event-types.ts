import type { EventTypeSummary } from '../query/query-service.ts';
import { builder } from './builder.ts';
import { requireAccess } from '../resolvers/context.ts';

export const EventTypeInfo = builder.objectRef<EventTypeSummary>('EventTypeInfo').implement({
  description: 'What has been seen of one event type: the catalog to explore the data by.',
  fields: (t) => ({
    type: t.exposeString('type'),
    count: t.field({ type: 'SafeInt', resolve: (i) => i.count }),
    firstSeen: t.field({
      type: 'DateTime',
      description:
        "Earliest event time. Through an access token with `where` conditions: to the minute (the start of the slice's first minute).",
      resolve: (i) => i.firstSeen,
    }),
    lastSeen: t.field({
      type: 'DateTime',
      description:
        "Latest event time. Through an access token with `where` conditions: to the minute (the start of the slice's last minute).",
      resolve: (i) => i.lastSeen,
    }),
    dimensions: t.exposeStringList('dimensions', {
      description:
        'Dimension keys seen, sorted: at most 256 per type and log partition, the first seen (past that, keys are counted in droppedDimensionKeys, not listed).',
    }),
    values: t.exposeStringList('values', {
      description: 'Value keys seen, sorted: at most 256 per type and log partition, the first seen (see droppedValueKeys).',
    }),
    dimensionsTruncated: t.boolean({
      description: 'True when some dimension keys of this type are not listed in `dimensions` because the list was full.',
      resolve: (i) => i.droppedDimensionKeys > 0,
    }),
    droppedDimensionKeys: t.field({
      type: 'SafeInt',
      description:
        'Dimension keys not listed because the list was full, counted once per event that carried one (and once per key left out when partitions were merged): how much is missing, not how many distinct keys.',
      resolve: (i) => i.droppedDimensionKeys,
    }),
    valuesTruncated: t.boolean({
      description: 'True when some value keys of this type are not listed in `values` because the list was full.',
      resolve: (i) => i.droppedValueKeys > 0,
    }),
    droppedValueKeys: t.field({
      type: 'SafeInt',
      description: 'Value keys not listed because the list was full, counted as droppedDimensionKeys is.',
      resolve: (i) => i.droppedValueKeys,
    }),
  }),
});

builder.queryField('eventTypes', (t) =>
  t.field({
    type: [EventTypeInfo],
    description:
      "Every event type of the tenant, sorted by name, or only those named in `types`. At most MAX_EVENT_TYPES (default 1,000) per answer: a tenant with more names the ones it wants. Through an access token: only the types of its slice, with the counts, first and last seen, dimensions and values of the slice's events (summed from its rollup rows when the token has `where` conditions, within the query's row budget).",
    args: {
      types: t.arg.stringList({ description: 'Only these types (unknown ones are left out); omitted: every type.' }),
    },
    resolve: (_root, args, context) => context.services.queries.eventTypes(requireAccess(context, 'READ'), args.types, context.budget),
  }),
);

import type { EventTypeSummary } from '../query/query-service.ts';
import { builder } from './builder.ts';
import { requireScope } from '../resolvers/context.ts';

export const EventTypeInfo = builder.objectRef<EventTypeSummary>('EventTypeInfo').implement({
  description: 'What has been seen of one event type: the catalog to explore the data by.',
  fields: (t) => ({
    type: t.exposeString('type'),
    count: t.field({ type: 'SafeInt', resolve: (i) => i.count }),
    firstSeen: t.field({ type: 'DateTime', description: 'Earliest event time.', resolve: (i) => i.firstSeen }),
    lastSeen: t.field({ type: 'DateTime', description: 'Latest event time.', resolve: (i) => i.lastSeen }),
    dimensions: t.exposeStringList('dimensions', { description: 'Dimension keys seen.' }),
    values: t.exposeStringList('values', { description: 'Value keys seen.' }),
  }),
});

builder.queryField('eventTypes', (t) =>
  t.field({
    type: [EventTypeInfo],
    resolve: (_root, _args, context) => context.services.queries.eventTypes(requireScope(context, 'READ')),
  }),
);

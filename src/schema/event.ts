/** Event, its filter and connection, and the `event`, `events` queries and subscription. */
import type { StoredEvent } from '../domain/event.ts';
import type { LiveEventEdge } from '../live/live-service.ts';
import { builder } from './builder.ts';
import { requireAccess, requireLiveSubscriber } from '../resolvers/context.ts';
import { requireWellFormed } from '../query/event-filter.ts';
import { PageInfo } from './page-info.ts';
import { EventTypeInfo } from './event-types.ts';
import { DimensionCondition } from './dimension-condition.ts';

export const Event = builder.objectRef<StoredEvent>('Event').implement({
  description: 'One event, as the stream processor stored it.',
  fields: (t) => ({
    id: t.exposeID('id', { description: "The client's idempotency key, or a generated UUIDv7." }),
    type: t.exposeString('type'),
    timestamp: t.field({ type: 'DateTime', description: 'Event time, skew-corrected.', resolve: (e) => e.timestamp }),
    receivedAt: t.field({ type: 'DateTime', description: 'When ingest accepted the event.', resolve: (e) => e.receivedAt }),
    source: t.exposeString('source', { nullable: true }),
    dimensions: t.field({ type: 'JSONObject', resolve: (e) => e.dimensions }),
    values: t.field({ type: 'JSONObject', resolve: (e) => e.values }),
    distinct: t.field({
      type: 'JSONObject',
      nullable: true,
      description:
        'The values whose different occurrences `distinct` counts (users, sessions), as ingested; null when the event carries none.',
      resolve: (e) => e.distinct ?? null,
    }),
    properties: t.field({ type: 'JSONObject', nullable: true, resolve: (e) => e.properties }),
    typeInfo: t.field({
      type: EventTypeInfo,
      nullable: true,
      description:
        "The catalog entry of this event's type (batched: one catalog read per operation); through an access token, of its slice only (see `eventTypes`).",
      resolve: (e, _args, context) => context.loaders.eventTypeByName(requireAccess(context, 'READ')).load(e.type),
    }),
    clockCorrectionMs: t.field({
      type: 'SafeInt',
      description:
        "How much the client's timestamp was moved to correct its clock (receivedAt - sentAt of the batch); 0 when not corrected.",
      resolve: (e) => e.clockCorrectionMs,
    }),
  }),
});

export const EventFilter = builder.inputType('EventFilter', {
  fields: (t) => ({
    types: t.stringList({ description: 'Any of these types.' }),
    source: t.string(),
    from: t.field({ type: 'DateTime', description: 'Inclusive, event time.' }),
    to: t.field({ type: 'DateTime', description: 'Exclusive, event time.' }),
    dimensions: t.field({ type: 'JSONObject', description: 'Exact match on each given key, compared as strings.' }),
    where: t.field({ type: [DimensionCondition], description: 'Conditions on dimensions, all of which hold; ANDed with `dimensions`.' }),
  }),
});

export const EventEdge = builder.objectRef<LiveEventEdge>('EventEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: Event, resolve: (edge) => edge.node }),
  }),
});

const EventConnection = builder
  .objectRef<{ edges: LiveEventEdge[]; pageInfo: { hasNextPage: boolean; endCursor: string | null }; streamCursor: string | null }>(
    'EventConnection',
  )
  .implement({
    fields: (t) => ({
      // The page size is already counted on `events`: edges multiply by nothing more.
      edges: t.field({ type: [EventEdge], complexity: { field: 1, multiplier: 1 }, resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
      streamCursor: t.string({
        nullable: true,
        description:
          'The stream position as of this query: subscribe to events with `after` set to it to receive everything processed since, with no gap (events the query already returned may come again).',
        resolve: (c) => c.streamCursor,
      }),
    }),
  });

builder.queryField('event', (t) =>
  t.field({
    type: Event,
    nullable: true,
    description: "One event by id, or null (also when it is outside the access token's slice).",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => {
      const access = requireAccess(context, 'READ');
      return context.loaders.eventById(access).load(requireWellFormed(String(args.id), 'id'));
    },
  }),
);

builder.queryField('events', (t) =>
  t.field({
    type: EventConnection,
    description: 'Events, newest event time first. Cursors stay valid while new events arrive.',
    // A page costs what one edge costs, times the page size.
    complexity: (args) => ({ field: 1, multiplier: args.first ?? 50 }),
    args: {
      filter: t.arg({ type: EventFilter }),
      first: t.arg.int({ defaultValue: 50 }),
      after: t.arg.string(),
    },
    resolve: (_root, args, context) =>
      context.services.queries.events(requireAccess(context, 'READ'), args.filter, args.first ?? 50, args.after),
  }),
);

builder.subscriptionField('events', (t) =>
  t.field({
    type: EventEdge,
    description:
      'Each processed event that matches the filter, as soon as it is stored. The edge cursor is a stream position to resume from.',
    args: {
      filter: t.arg({ type: EventFilter }),
      after: t.arg.string({
        description:
          "A cursor this subscription (or a query's streamCursor) returned: replays every matching event after it from history, then continues live, with no gap and no duplicate. Over SSE, Last-Event-ID does the same.",
      }),
    },
    // An explicit `after` wins over an SSE client's Last-Event-ID.
    subscribe: (_root, args, context) =>
      context.services.live.subscribeToEvents(requireLiveSubscriber(context), args.filter, args.after ?? context.lastEventId ?? null),
    resolve: (edge) => edge,
  }),
);

/** The ingest mutation and its per-event acknowledgements. */
import type { EventAck as EventAckShape, IngestResult as IngestResultShape } from '../ingest/ingest-service.ts';
import type { EventInput as EventInputShape, IngestError as IngestErrorShape } from '../ingest/validate-event.ts';
import { StreamlensError } from '../errors.ts';
import { builder } from './builder.ts';
import { requireAccess, requirePrincipal } from '../resolvers/context.ts';
import { preCoercedEvents } from '../server/ingest-coercion.ts';
import { withAcksCompletedLater } from '../server/ingest-acks.ts';

const IngestStatus = builder.enumType('IngestStatus', { values: ['ACCEPTED', 'REJECTED'] as const });

const IngestError = builder.objectRef<IngestErrorShape>('IngestError').implement({
  fields: (t) => ({
    code: t.exposeString('code', {
      description:
        "INVALID_ID, INVALID_TYPE, INVALID_TIMESTAMP, INVALID_SOURCE, INVALID_DIMENSIONS, INVALID_VALUES, INVALID_DISTINCT or INVALID_PROPERTIES; OUTSIDE_TOKEN_SLICE for a valid event outside the access token's slice.",
    }),
    message: t.exposeString('message'),
    path: t.exposeString('path', { nullable: true, description: 'Where in the event, for example dimensions.country.' }),
  }),
});

const EventAck = builder.objectRef<EventAckShape>('EventAck').implement({
  fields: (t) => ({
    index: t.exposeInt('index', { description: 'Position of the event in the batch.' }),
    id: t.exposeID('id', { nullable: true }),
    status: t.field({ type: IngestStatus, resolve: (ack) => ack.status }),
    error: t.field({ type: IngestError, nullable: true, resolve: (ack) => ack.error }),
  }),
});

const IngestResult = builder.objectRef<IngestResultShape>('IngestResult').implement({
  fields: (t) => ({
    accepted: t.exposeInt('accepted'),
    rejected: t.exposeInt('rejected'),
    acks: t.field({ type: [EventAck], resolve: (result) => result.acks }),
  }),
});

const EventInput = builder.inputType('EventInput', {
  fields: (t) => ({
    id: t.id({ description: 'Idempotency key, 1..128 characters; a UUIDv7 is generated when absent.' }),
    type: t.string({ required: true, description: '1..128 characters of [A-Za-z0-9_.:-].' }),
    timestamp: t.field({ type: 'DateTime', description: 'Event time; defaults to the receive time.' }),
    source: t.string(),
    dimensions: t.field({ type: 'JSONObject', description: 'Flat: string, number or boolean values; compared as strings.' }),
    values: t.field({ type: 'JSONObject', description: 'Flat: finite numbers only.' }),
    distinct: t.field({
      type: 'JSONObject',
      description:
        'Up to 4 keys, each a string id (at most 256 characters) whose different values `SeriesQuery.distinct` and `TopQuery.distinct` count, e.g. { user: "u-1" }. Never dimensions: they add no rollup rows.',
    }),
    properties: t.field({ type: 'JSONObject', description: 'Free-form, size-limited.' }),
  }),
});

builder.mutationField('ingest', (t) =>
  t.field({
    type: IngestResult,
    description:
      "Validates every event on its own. An ACCEPTED event is durable when the call returns and is processed exactly once. One invalid event never fails the others. `sentAt` is the client's clock when it sent the batch: timestamps are corrected by receivedAt - sentAt.",
    args: {
      events: t.arg({ type: [EventInput], required: true }),
      sentAt: t.arg({ type: 'DateTime' }),
      idempotencyKey: t.arg.string({
        description:
          'Names this batch, for retries: an event without an `id` gets one derived from the key and its index in `events`, so sending the same batch again with the same key (after UNAVAILABLE, say) counts each event once. Use a new key for each new batch. 1..128 characters, no control characters.',
      }),
    },
    resolve: async (root, args, context) => {
      const access = requireAccess(context, 'INGEST');
      // Coerced by the fast path (server/ingest-coercion.ts) when the request had the common shape.
      const events = (preCoercedEvents(root) as typeof args.events | undefined) ?? args.events;
      // The size first: a batch refused for its size must take no tokens (the request-wide
      // bound over all ingest fields is checked before execution, in operation-rate-limit.ts).
      const { maxBatchEvents } = context.services.limits.config;
      if (events.length > maxBatchEvents) {
        throw new StreamlensError('BAD_USER_INPUT', `a batch holds at most ${maxBatchEvents} events; this one has ${events.length}`, {
          details: { limit: maxBatchEvents },
        });
      }
      await context.services.limits.takeIngest(requirePrincipal(context), events.length);
      // As they are, not copied: an ID arrives as text (graphql-js coerces an integer ID to its
      // digits, the fast path takes strings only), and validation reads an absent id as null.
      const result = await context.services.ingest.ingest(
        access,
        events as readonly EventInputShape[],
        args.sentAt ?? null,
        args.idempotencyKey ?? null,
      );
      // The ack path (server/ingest-acks.ts) completes the acks itself when the operation's selection is plain.
      return withAcksCompletedLater(root, result);
    },
  }),
);

import type { StoredEvent } from '../domain/event.ts';
import { builder } from './builder.ts';
import { requireAccess } from '../resolvers/context.ts';
import { PageInfo } from './page-info.ts';

const QUARANTINE_REASONS = {
  TOO_LATE: 'later than the watermark minus the allowed lateness: its buckets are final',
  FUTURE: 'further ahead of its receive time than the future tolerance',
} as const;

/**
 * Why the event was not counted. The quarantine lists quarantined events only (the event store's
 * contract): an event without a reason here is a fault of the store or a bug, so it fails as one,
 * rather than telling the client a reason that is not true.
 */
function quarantineReasonOf(event: StoredEvent): string {
  if (event.quarantine === null) {
    throw new Error(`event ${event.id} of tenant ${event.tenant} is listed in the quarantine without a reason`);
  }
  return `${event.quarantine}: ${QUARANTINE_REASONS[event.quarantine]}`;
}

const QuarantinedEvent = builder.objectRef<StoredEvent>('QuarantinedEvent').implement({
  description: 'An accepted event that is stored but not counted in rollups, with the reason.',
  fields: (t) => ({
    id: t.exposeID('id', { nullable: true }),
    type: t.exposeString('type', { nullable: true }),
    reason: t.string({
      description: 'TOO_LATE or FUTURE, with an explanation.',
      resolve: quarantineReasonOf,
    }),
    receivedAt: t.field({ type: 'DateTime', resolve: (e) => e.receivedAt }),
    event: t.field({
      type: 'JSONObject',
      description: 'The event as accepted.',
      resolve: (e) => ({
        id: e.id,
        type: e.type,
        timestamp: new Date(e.timestamp).toISOString(),
        receivedAt: new Date(e.receivedAt).toISOString(),
        source: e.source,
        dimensions: e.dimensions,
        values: e.values,
        ...(e.distinct ? { distinct: e.distinct } : {}),
        properties: e.properties,
      }),
    }),
  }),
});

const QuarantineEdge = builder.objectRef<{ cursor: string; node: StoredEvent }>('QuarantineEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: QuarantinedEvent, resolve: (edge) => edge.node }),
  }),
});

const QuarantineConnection = builder
  .objectRef<{ edges: { cursor: string; node: StoredEvent }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>(
    'QuarantineConnection',
  )
  .implement({
    fields: (t) => ({
      edges: t.field({ type: [QuarantineEdge], complexity: { field: 1, multiplier: 1 }, resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
    }),
  });

builder.queryField('quarantine', (t) =>
  t.field({
    type: QuarantineConnection,
    description:
      'Events that were accepted but not counted (too late, or too far in the future), newest first; through an access token, those of its slice only.',
    args: { first: t.arg.int({ defaultValue: 50 }), after: t.arg.string() },
    complexity: (args) => ({ field: 1, multiplier: args.first ?? 50 }),
    resolve: (_root, args, context) => context.services.queries.quarantine(requireAccess(context, 'READ'), args.first ?? 50, args.after),
  }),
);

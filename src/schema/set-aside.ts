/**
 * The dead letter: log records the stream processor set aside instead of counting them
 * (setAsideRecords), and their replay once the cause is fixed (replaySetAsideRecords).
 */
import { forbidden } from '../errors.ts';
import { SET_ASIDE_REASONS, type SetAsideRecord } from '../domain/set-aside.ts';
import type { SetAsideScope } from '../ports/event-store.ts';
import { MAX_REPLAY_IDS, type ReplayResult } from '../query/set-aside-service.ts';
import { requirePrincipal, requireWholeTenant, type GraphQLContext } from '../resolvers/context.ts';
import { setAsideId } from '../stream/set-aside.ts';
import { builder } from './builder.ts';
import { PageInfo } from './page-info.ts';

const SetAsideReasonEnum = builder.enumType('SetAsideReason', {
  description: 'Why the stream processor set a log record aside instead of counting it.',
  values: {
    UNDECODABLE: {
      value: SET_ASIDE_REASONS[0],
      description: 'Not an event: not JSON, or not the shape ingest writes (a foreign producer, a corrupted write).',
    },
    UNPROCESSABLE: {
      value: SET_ASIDE_REASONS[1],
      description:
        'An event whose processing failed on its own, repeatedly, while the stores answered (a bug, or content a store refuses).',
    },
  } as const,
});

const SetAsideRecordType = builder.objectRef<SetAsideRecord>('SetAsideRecord').implement({
  description: 'A log record the stream processor could not count, kept with the reason, until it is replayed.',
  fields: (t) => ({
    id: t.id({
      description: 'Its log position, "partition:offset": what replaySetAsideRecords takes.',
      resolve: (r) => setAsideId(r.position),
    }),
    tenant: t.exposeString('tenant', {
      nullable: true,
      description: 'null when the record names no readable tenant (only the bootstrap admin sees those).',
    }),
    eventId: t.exposeID('eventId', { nullable: true, description: 'The id of the event the record carries, when it can be read.' }),
    reason: t.field({ type: SetAsideReasonEnum, resolve: (r) => r.reason }),
    error: t.exposeString('error', { description: 'What failed: the last error, or why the record is not an event.' }),
    partition: t.int({ resolve: (r) => r.position.partition }),
    offset: t.field({ type: 'SafeInt', resolve: (r) => r.position.offset }),
    record: t.exposeString('record', {
      description: 'The log record as read, with lone surrogates replaced by U+FFFD: what a replay appends.',
    }),
    attempts: t.exposeInt('attempts', { description: 'Times processing was tried before the record was set aside.' }),
    setAsideAt: t.field({ type: 'DateTime', resolve: (r) => r.setAsideAt }),
  }),
});

const SetAsideRecordEdge = builder.objectRef<{ cursor: string; node: SetAsideRecord }>('SetAsideRecordEdge').implement({
  fields: (t) => ({
    cursor: t.exposeString('cursor'),
    node: t.field({ type: SetAsideRecordType, resolve: (edge) => edge.node }),
  }),
});

const SetAsideRecordConnection = builder
  .objectRef<{ edges: { cursor: string; node: SetAsideRecord }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>(
    'SetAsideRecordConnection',
  )
  .implement({
    fields: (t) => ({
      edges: t.field({ type: [SetAsideRecordEdge], complexity: { field: 1, multiplier: 1 }, resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfo, resolve: (c) => c.pageInfo }),
    }),
  });

const ReplaySetAsideResultType = builder.objectRef<ReplayResult>('ReplaySetAsideResult').implement({
  fields: (t) => ({
    replayed: t.field({
      type: [SetAsideRecordType],
      description: 'The records appended to the log again (and no longer set aside); each is processed like a new record.',
      resolve: (r) => r.replayed,
    }),
    notFound: t.idList({
      description: 'Ids that name no set-aside record this caller may see (already replayed, or never set aside).',
      resolve: (r) => r.notFound,
    }),
  }),
});

/** Every tenant's records, and those of no tenant: the bootstrap admin only (or open mode). */
function requireOperator(context: GraphQLContext): SetAsideScope {
  const principal = requirePrincipal(context);
  if (!principal.isRootAdmin) throw forbidden("only the bootstrap admin key sees every tenant's set-aside records; omit allTenants");
  return 'ALL';
}

builder.queryField('setAsideRecords', (t) =>
  t.field({
    type: SetAsideRecordConnection,
    description:
      "Log records the stream processor set aside instead of counting them, newest first: the tenant's own (READ), or with allTenants every tenant's and those of no tenant (the bootstrap admin only, who always sees all).",
    args: {
      first: t.arg.int({ defaultValue: 50 }),
      after: t.arg.string(),
      allTenants: t.arg.boolean({ defaultValue: false }),
    },
    complexity: (args) => ({ field: 1, multiplier: args.first ?? 50 }),
    resolve: (_root, args, context) => {
      const principal = requirePrincipal(context);
      // Raw log records of the whole tenant: never for an access token (FORBIDDEN).
      const scope =
        args.allTenants || principal.tenant === null ? requireOperator(context) : { tenant: requireWholeTenant(context, 'READ').tenant };
      return context.services.setAside.list(scope, args.first ?? 50, args.after);
    },
  }),
);

builder.mutationField('replaySetAsideRecords', (t) =>
  t.field({
    type: ReplaySetAsideResultType,
    description: `Needs ADMIN: appends set-aside records to the log again, once their cause is fixed (a tenant's ADMIN key replays its own, the bootstrap admin any). At most ${MAX_REPLAY_IDS} ids per call. A replayed event is counted once: ids are deduplicated as always.`,
    args: { ids: t.arg.idList({ required: true }) },
    resolve: (_root, args, context) => {
      const principal = requirePrincipal(context);
      if (!principal.scopes.has('ADMIN') || principal.token) throw forbidden('replaying set-aside records needs the ADMIN scope');
      const scope: SetAsideScope = principal.isRootAdmin ? 'ALL' : { tenant: principal.tenant! };
      return context.services.setAside.replay(scope, args.ids.map(String));
    },
  }),
);

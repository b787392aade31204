import { builder } from './builder.ts';
import { requireWholeTenant } from '../resolvers/context.ts';

interface StreamStatusShape {
  lag: number;
  watermark: number | null;
  processed: number;
  duplicates: number;
  quarantined: number;
  poisonRecords: number;
  liveSubscriptions: number;
  tenantScoped: boolean;
}

const StreamStatus = builder.objectRef<StreamStatusShape>('StreamStatus').implement({
  description:
    "How far the stream processor has come. Counters are this instance's, since it started; for a tenant's key, of that tenant's records only (docs/api.md).",
  fields: (t) => ({
    lag: t.field({
      type: 'SafeInt',
      description:
        "Accepted events not yet processed and committed. For a tenant's key only 0 (everything accepted is processed) or 1 (not yet): the count would tell other tenants' volume.",
      resolve: (s) => s.lag,
    }),
    watermark: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Data complete up to this event time: the watermark that decides `final` (the same for every tenant; never goes back).',
      resolve: (s) => s.watermark,
    }),
    processed: t.field({ type: 'SafeInt', resolve: (s) => s.processed }),
    duplicates: t.field({
      type: 'SafeInt',
      description: 'Records skipped because their id was already counted.',
      resolve: (s) => s.duplicates,
    }),
    quarantined: t.field({ type: 'SafeInt', resolve: (s) => s.quarantined }),
    poisonRecords: t.field({ type: 'SafeInt', description: 'Log records that were not events, skipped.', resolve: (s) => s.poisonRecords }),
    liveSubscriptions: t.int({
      description: "Subscriptions this instance is serving now (for a tenant's key, that tenant's).",
      resolve: (s) => s.liveSubscriptions,
    }),
    tenantScoped: t.boolean({
      description: "True when the counters are the caller's tenant's only and `lag` is 0 or 1 (any key of a tenant); false in open mode.",
      resolve: (s) => s.tenantScoped,
    }),
  }),
});

builder.queryField('streamStatus', (t) =>
  t.field({
    type: StreamStatus,
    resolve: async (_root, _args, context) => {
      // Counters of the whole tenant: not for an access token (FORBIDDEN), whose end user sees a slice.
      const { tenant } = requireWholeTenant(context, 'READ');
      const { processor, queries, live } = context.services;
      // Open mode serves one tenant, `default`: there is nobody else's activity to hide.
      const wholeDeployment = context.auth.ok && context.auth.principal.isRootAdmin;
      // The committed watermark as stored: the one that decides this tenant's `final`, the same on
      // every instance, never going back. It is global (docs/architecture.md says why).
      const [{ lag, counters }, { watermark }] = await Promise.all([processor.status(wholeDeployment ? null : tenant), queries.finality()]);
      if (wholeDeployment) {
        return {
          lag,
          watermark,
          processed: counters.processed,
          duplicates: counters.duplicates,
          quarantined: counters.quarantined,
          poisonRecords: counters.poison,
          liveSubscriptions: live.openCount(),
          tenantScoped: false,
        };
      }
      return {
        // The log does not know whose records are behind without reading them: a tenant learns
        // whether anything is, not how much (which would tell another tenant's volume).
        lag: lag > 0 ? 1 : 0,
        watermark,
        processed: counters.processed,
        duplicates: counters.duplicates,
        quarantined: counters.quarantined,
        poisonRecords: counters.poison,
        liveSubscriptions: live.openCount(tenant),
        tenantScoped: true,
      };
    },
  }),
);

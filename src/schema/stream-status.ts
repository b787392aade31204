import { builder } from './builder.ts';
import { requireScope } from '../resolvers/context.ts';

interface StreamStatusShape {
  lag: number;
  watermark: number | null;
  processed: number;
  duplicates: number;
  quarantined: number;
  poisonRecords: number;
  liveSubscriptions: number;
}

const StreamStatus = builder.objectRef<StreamStatusShape>('StreamStatus').implement({
  description: "How far the stream processor has come. Counters are this instance's, since it started.",
  fields: (t) => ({
    lag: t.field({ type: 'SafeInt', description: 'Accepted events not yet processed and committed.', resolve: (s) => s.lag }),
    watermark: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'Data complete up to this event time.',
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
    liveSubscriptions: t.int({ description: 'Subscriptions this instance is serving now.', resolve: (s) => s.liveSubscriptions }),
  }),
});

builder.queryField('streamStatus', (t) =>
  t.field({
    type: StreamStatus,
    resolve: async (_root, _args, context) => {
      requireScope(context, 'READ');
      const { processor } = context.services;
      const stats = processor.stats();
      return {
        lag: await processor.lag(),
        watermark: processor.watermark(),
        processed: stats.processed,
        duplicates: stats.duplicates,
        quarantined: stats.quarantined,
        poisonRecords: stats.poison,
        liveSubscriptions: context.services.live.openCount(),
      };
    },
  }),
);

/**
 * The series subscription. The bus says which buckets changed; this feed re-reads each changed
 * bucket from the series store and pushes the merged point of every affected group. Reading
 * the store (rather than applying deltas) makes every update a correct total, corrections of
 * earlier buckets included, and lets pending updates of one bucket conflate to the latest.
 */
import { GraphQLError } from 'graphql';
import { matchesDimensions } from '../domain/event.ts';
import type { Interval } from '../domain/interval.ts';
import { liveTopics } from '../ports/live-bus.ts';
import { validateDimensionFilter, validateKeyName, validateTypeName } from '../query/event-filter.ts';
import { aggregateByGroup, toPoint, type PointView, type SeriesShape } from '../query/series-view.ts';
import { decodeSeriesMessage } from '../stream/live-messages.ts';
import { createLiveQueue, type LiveQueue } from './live-queue.ts';
import { openSubscriptionsOf, type GraphQLContext } from './context.ts';

export interface LiveSeriesInput {
  type: string;
  value?: string | null;
  interval: Interval;
  groupBy?: string | null;
  dimensions?: Record<string, unknown> | null;
}

export interface SeriesUpdateView {
  group: string | null;
  point: PointView;
  watermark: number | null;
}

export async function subscribeToSeries(
  context: GraphQLContext,
  tenant: string,
  input: LiveSeriesInput,
): Promise<AsyncIterable<SeriesUpdateView>> {
  const { services } = context;
  services.limits.checkSubscriptions(tenant, openSubscriptionsOf(services, tenant));
  // The same name rules as the series query: a name that cannot exist is refused, not watched forever.
  validateTypeName(input.type, 'query.type');
  const shape: SeriesShape = {
    value: validateKeyName(input.value ?? null, 'query.value'),
    interval: input.interval,
    groupBy: validateKeyName(input.groupBy ?? null, 'query.groupBy'),
    dimensions: validateDimensionFilter(input.dimensions, 'query.dimensions'),
  };
  const allowedLatenessMs = (await services.queries.finality()).allowedLatenessMs;
  /** Changed buckets not yet re-read: start → affected groups, plus the newest watermark. */
  const dirty = new Map<number, Set<string | null>>();
  let watermark: number | null = null;
  let refreshing = false;
  let unsubscribe: () => Promise<void> = async () => {};

  const queue = createLiveQueue<SeriesUpdateView>({
    limit: services.live.maxPendingSeriesUpdates,
    overflowError: () =>
      new GraphQLError('this subscriber fell too far behind; subscribe again to continue', {
        extensions: { code: 'SUBSCRIBER_TOO_SLOW' },
      }),
    onClose: () => {
      services.live.queues.delete(queue as LiveQueue<unknown>);
      return unsubscribe();
    },
  });

  async function refresh(): Promise<void> {
    if (refreshing) return;
    refreshing = true;
    try {
      while (dirty.size > 0) {
        const [start, groups] = dirty.entries().next().value!;
        dirty.delete(start);
        const rows = await services.seriesStore.readRollups({
          tenant,
          type: input.type,
          interval: input.interval,
          // Just this bucket: every row whose bucket starts exactly at `start`.
          from: start,
          to: start + 1,
        });
        const byGroup = aggregateByGroup(rows, shape);
        for (const group of groups) {
          const aggregate = byGroup.get(group)?.get(start);
          if (!aggregate) continue;
          const point = toPoint(start, aggregate, shape, { watermark, allowedLatenessMs });
          if (!queue.push({ group, point, watermark }, `${group}\u0000${start}`)) return;
        }
      }
    } catch (error) {
      queue.fail(
        new GraphQLError('live series updates are unavailable; subscribe again to continue', {
          extensions: { code: 'UNAVAILABLE', retryable: true },
          originalError: error as Error,
        }),
      );
    } finally {
      refreshing = false;
    }
  }

  unsubscribe = await services.liveBus.subscribe(liveTopics.series(tenant, input.interval, input.type), (text) => {
    const message = decodeSeriesMessage(text);
    if (message.watermark !== null && (watermark === null || message.watermark > watermark)) watermark = message.watermark;
    for (const bucket of message.buckets) {
      if (!matchesDimensions(bucket.dimensions, shape.dimensions)) continue;
      const group = shape.groupBy ? (bucket.dimensions[shape.groupBy] ?? null) : null;
      let groups = dirty.get(bucket.start);
      if (!groups) {
        if (dirty.size >= services.live.maxPendingSeriesUpdates) {
          queue.fail(new GraphQLError('this subscriber fell too far behind; subscribe again to continue', {
            extensions: { code: 'SUBSCRIBER_TOO_SLOW' },
          }));
          return;
        }
        dirty.set(bucket.start, (groups = new Set()));
      }
      groups.add(group);
    }
    void refresh();
  });
  services.live.queues.set(queue as LiveQueue<unknown>, { keyId: context.auth.ok ? context.auth.principal.keyId : null, tenant });
  return queue;
}

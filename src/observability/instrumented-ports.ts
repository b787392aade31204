/**
 * Timing decorators for the ports: each returns the same interface, delegating every method to
 * the adapter and recording the data operations in one histogram, labelled by port, operation
 * and outcome. The rest of the app cannot tell a decorated port from the adapter, so metrics
 * need no change in any adapter, and every adapter (embedded or real) is measured the same way.
 *
 * Not timed: lifecycle and long-lived calls (consume, subscribe, checkHealth, close), whose
 * duration says nothing about store latency, and EventLog.lag, which the lag monitor samples.
 */
import type { EventLog } from '../ports/event-log.ts';
import type { EventStore } from '../ports/event-store.ts';
import type { SeriesStore } from '../ports/series-store.ts';
import type { LiveBus } from '../ports/live-bus.ts';

/**
 * Where call durations go: the app's histogram, or, in the processor's worker thread, a relay
 * that sends them to the main thread's histogram (src/stream/processor-thread.ts).
 */
export interface StoreDurationHistogram {
  observe(labels: { port: string; operation: string; outcome: string }, seconds: number): void;
}

/** Times one call; a synchronous throw is an error outcome like a rejection. */
function timed<T>(histogram: StoreDurationHistogram, port: string, operation: string, call: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const record = (outcome: 'ok' | 'error') => histogram.observe({ port, operation, outcome }, (performance.now() - started) / 1000);
  let pending: Promise<T>;
  try {
    pending = call();
  } catch (error) {
    record('error');
    throw error;
  }
  return pending.then(
    (value) => {
      record('ok');
      return value;
    },
    (error: unknown) => {
      record('error');
      throw error;
    },
  );
}

export function instrumentEventLog(log: EventLog, histogram: StoreDurationHistogram): EventLog {
  const time = <T>(operation: string, call: () => Promise<T>) => timed(histogram, 'event_log', operation, call);
  return {
    append: (records) => time('append', () => log.append(records)),
    consume: (options) => log.consume(options),
    lag: (groupId) => log.lag(groupId),
    partitionEnds: () => log.partitionEnds(),
    checkHealth: () => log.checkHealth(),
    close: () => log.close(),
    identity: () => log.identity(),
  };
}

export function instrumentEventStore(store: EventStore, histogram: StoreDurationHistogram): EventStore {
  const time = <T>(operation: string, call: () => Promise<T>) => timed(histogram, 'event_store', operation, call);
  return {
    claim: (events) => time('claim', () => store.claim(events)),
    findByIds: (tenant, ids) => time('findByIds', () => store.findByIds(tenant, ids)),
    listEvents: (query, limit, after, maxScanned) => time('listEvents', () => store.listEvents(query, limit, after, maxScanned)),
    listAfterPositions: (tenant, after, limit, through) =>
      time('listAfterPositions', () => store.listAfterPositions(tenant, after, limit, through)),
    listQuarantine: (tenant, limit, after, within) => time('listQuarantine', () => store.listQuarantine(tenant, limit, after, within)),
    setAside: (records) => time('setAside', () => store.setAside(records)),
    listSetAside: (scope, limit, after) => time('listSetAside', () => store.listSetAside(scope, limit, after)),
    findSetAside: (positions) => time('findSetAside', () => store.findSetAside(positions)),
    deleteSetAside: (positions) => time('deleteSetAside', () => store.deleteSetAside(positions)),
    checkHealth: () => store.checkHealth(),
    close: () => store.close(),
  };
}

export function instrumentSeriesStore(store: SeriesStore, histogram: StoreDurationHistogram): SeriesStore {
  const time = <T>(operation: string, call: () => Promise<T>) => timed(histogram, 'series_store', operation, call);
  return {
    loadRollups: (ids) => time('loadRollups', () => store.loadRollups(ids)),
    readRollups: (range) => time('readRollups', () => store.readRollups(range)),
    loadCatalog: (ids) => time('loadCatalog', () => store.loadCatalog(ids)),
    readCatalog: (tenant, range) => time('readCatalog', () => store.readCatalog(tenant, range)),
    loadProgress: () => time('loadProgress', () => store.loadProgress()),
    saveBatch: (batch) => time('saveBatch', () => store.saveBatch(batch)),
    recordLogIdentity: (identity) => store.recordLogIdentity(identity),
    deleteBucketsBefore: (interval, before) => time('deleteBucketsBefore', () => store.deleteBucketsBefore(interval, before)),
    holdPurgeLease: (holder, forMs) => time('holdPurgeLease', () => store.holdPurgeLease(holder, forMs)),
    checkHealth: () => store.checkHealth(),
    close: () => store.close(),
  };
}

export function instrumentLiveBus(bus: LiveBus, histogram: StoreDurationHistogram): LiveBus {
  return {
    publish: (topic, message) => timed(histogram, 'live_bus', 'publish', () => bus.publish(topic, message)),
    subscribe: (topic, onMessage, onPossibleLoss) => bus.subscribe(topic, onMessage, onPossibleLoss),
    checkHealth: () => bus.checkHealth(),
    close: () => bus.close(),
  };
}

/** The four data ports, each decorated; anything else passes through untouched. */
export function instrumentPorts<A extends { log: EventLog; eventStore: EventStore; seriesStore: SeriesStore; liveBus: LiveBus }>(
  adapters: A,
  histogram: StoreDurationHistogram,
): A {
  return {
    ...adapters,
    log: instrumentEventLog(adapters.log, histogram),
    eventStore: instrumentEventStore(adapters.eventStore, histogram),
    seriesStore: instrumentSeriesStore(adapters.seriesStore, histogram),
    liveBus: instrumentLiveBus(adapters.liveBus, histogram),
  };
}

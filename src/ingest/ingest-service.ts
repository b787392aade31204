/**
 * The ingest service: validates a batch event by event, appends the valid ones to the log and
 * answers once they are durable. One invalid event never fails the others.
 */
import { v7 as uuidv7 } from 'uuid';
import type { EventLog } from '../ports/event-log.ts';
import { badInput, unavailable } from '../errors.ts';
import { encodeLogRecord, logKey } from '../domain/log-record.ts';
import { validateEvent, type EventInput, type IngestError, type IngestLimits } from './validate-event.ts';

export type IngestStatus = 'ACCEPTED' | 'REJECTED';

export interface EventAck {
  index: number;
  id: string | null;
  status: IngestStatus;
  error: IngestError | null;
}

export interface IngestResult {
  accepted: number;
  rejected: number;
  acks: EventAck[];
}

export interface IngestServiceOptions {
  log: EventLog;
  limits: IngestLimits & { maxBatchEvents: number };
  /** Why ingest must refuse for now (processing too far behind), or null. */
  overloadReason?: () => string | null;
  now?: () => number;
  newId?: () => string;
}

export interface IngestService {
  ingest(tenant: string, events: readonly EventInput[], sentAt: Date | null): Promise<IngestResult>;
  /** Refuses new calls, and resolves once every call in flight has answered. */
  drain(): Promise<void>;
}

export function createIngestService(options: IngestServiceOptions): IngestService {
  const now = options.now ?? Date.now;
  const newId = options.newId ?? (() => uuidv7());
  let draining = false;
  const inFlight = new Set<Promise<unknown>>();

  async function ingest(tenant: string, events: readonly EventInput[], sentAt: Date | null): Promise<IngestResult> {
    if (events.length > options.limits.maxBatchEvents) {
      throw badInput(`a batch holds at most ${options.limits.maxBatchEvents} events; this one has ${events.length}`);
    }
    if (sentAt !== null && Number.isNaN(sentAt.getTime())) throw badInput('sentAt is not a valid date');
    const receivedAt = now();
    const context = { tenant, receivedAt, sentAt: sentAt?.getTime() ?? null, limits: options.limits, newId };
    const acks: EventAck[] = [];
    const records: { key: string; value: string }[] = [];
    events.forEach((input, index) => {
      const result = validateEvent(input, context);
      if (result.ok) {
        acks.push({ index, id: result.event.id, status: 'ACCEPTED', error: null });
        records.push({ key: logKey(tenant, result.event.type), value: encodeLogRecord(result.event) });
      } else {
        const id = typeof input.id === 'string' ? input.id : null;
        acks.push({ index, id, status: 'REJECTED', error: result.error });
      }
    });
    // All or nothing for the valid ones: if the log refuses, the caller gets an UNAVAILABLE
    // error and retries the batch; ids make that retry harmless.
    await options.log.append(records);
    return { accepted: records.length, rejected: acks.length - records.length, acks };
  }

  return {
    ingest(tenant, events, sentAt) {
      if (draining) return Promise.reject(unavailable('the service is shutting down; retry against another instance'));
      const overload = options.overloadReason?.();
      if (overload) return Promise.reject(unavailable(overload));
      const call = ingest(tenant, events, sentAt);
      inFlight.add(call);
      void call.catch(() => {}).finally(() => inFlight.delete(call));
      return call;
    },
    async drain() {
      draining = true;
      await Promise.allSettled([...inFlight]);
    },
  };
}

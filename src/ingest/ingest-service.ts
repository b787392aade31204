/**
 * The ingest service: validates a batch event by event, appends the valid ones to the log and
 * answers once they are durable. One invalid event never fails the others.
 */
import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { EventLog } from '../ports/event-log.ts';
import { badInput, unavailable } from '../errors.ts';
import { encodeLogRecord, logKey } from '../domain/log-record.ts';
import { validateEvent, whyIdIsInvalid, type EventInput, type IngestError, type IngestLimits } from './validate-event.ts';
import { eventIdNamespace, outsideSliceReason, type TenantAccess } from '../auth/tenant-access.ts';

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
  /**
   * With an `idempotencyKey`, an event without an `id` gets one derived from the key and its
   * index in `events` (derivedEventId), so a retry of the call with the same key counts it once.
   * A valid event outside the access's slice is REJECTED with OUTSIDE_TOKEN_SLICE. Through a token
   * with a slice, an accepted event's id is stored in the slice's namespace (eventIdNamespace).
   */
  ingest(access: TenantAccess, events: readonly EventInput[], sentAt: Date | null, idempotencyKey?: string | null): Promise<IngestResult>;
  /** Refuses new calls, and resolves once every call in flight has answered. */
  drain(): Promise<void>;
}

/**
 * The id of the event at `index` of a call sent with `idempotencyKey`, when the event has none:
 * a UUID (version 8, the RFC 9562 layout for ids made by an application's own rule) from the
 * SHA-256 of the tenant, the key and the index. The same call sent again gets the same ids.
 *
 * Why ids, and not a batch written in one piece: a call that fails with UNAVAILABLE may have
 * been partly written to Kafka. A batch goes out in several produce requests (one per partition
 * leader, and more past MAX_SEND_BYTES, see kafka-producer.ts), and each partition's write
 * succeeds or fails on its own, so no single send is all or nothing. Only a Kafka transaction
 * would be, at the cost of a transactional id per producer, a commit round trip per send and
 * read_committed consumers; and a lost commit answer would leave the client just as unsure.
 * With stable ids the claim dedupe of the processor makes any retry exact, whatever was written.
 */
export function derivedEventId(tenant: string, idempotencyKey: string, index: number): string {
  // NUL cannot occur in a tenant or a key (control characters are refused), so the parts cannot run together.
  const hex = createHash('sha256').update(`${tenant}\u0000${idempotencyKey}\u0000${index}`).digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export function createIngestService(options: IngestServiceOptions): IngestService {
  const now = options.now ?? Date.now;
  const newId = options.newId ?? (() => uuidv7());
  let draining = false;
  const inFlight = new Set<Promise<unknown>>();

  async function ingest(
    access: TenantAccess,
    events: readonly EventInput[],
    sentAt: Date | null,
    idempotencyKey: string | null,
  ): Promise<IngestResult> {
    const { tenant } = access;
    if (events.length > options.limits.maxBatchEvents) {
      throw badInput(`a batch holds at most ${options.limits.maxBatchEvents} events; this one has ${events.length}`);
    }
    if (sentAt !== null && Number.isNaN(sentAt.getTime())) throw badInput('sentAt is not a valid date');
    if (idempotencyKey !== null) {
      const invalid = whyIdIsInvalid(idempotencyKey, 'idempotencyKey');
      if (invalid) throw badInput(invalid);
    }
    const receivedAt = now();
    const namespace = eventIdNamespace(access);
    const context = { tenant, receivedAt, sentAt: sentAt?.getTime() ?? null, limits: options.limits, newId };
    const acks: EventAck[] = [];
    const records: { key: string; value: string }[] = [];
    events.forEach((input, index) => {
      const idOfIndex = idempotencyKey === null ? newId : () => derivedEventId(tenant, idempotencyKey, index);
      const result = validateEvent(input, { ...context, newId: idOfIndex });
      // Validity first (its code says what to fix), then whether the token may write it at all.
      const outside = result.ok ? outsideSliceReason(access, result.event) : null;
      if (result.ok && outside) {
        const id = typeof input.id === 'string' ? input.id : null;
        acks.push({ index, id, status: 'REJECTED', error: { code: 'OUTSIDE_TOKEN_SLICE', ...outside } });
      } else if (result.ok) {
        // Through a token with a slice, the id lives in the slice's namespace; the ack says it as stored.
        const event = namespace === '' ? result.event : { ...result.event, id: namespace + result.event.id };
        acks.push({ index, id: event.id, status: 'ACCEPTED', error: null });
        records.push({ key: logKey(tenant, event.type), value: encodeLogRecord(event) });
      } else {
        const id = typeof input.id === 'string' ? input.id : null;
        acks.push({ index, id, status: 'REJECTED', error: result.error });
      }
    });
    // If the log refuses, the caller gets an UNAVAILABLE error and retries the batch. On Kafka
    // part of it may have been written all the same (see derivedEventId): the events' ids, the
    // client's own or derived from its idempotency key, make that retry count each event once.
    await options.log.append(records);
    return { accepted: records.length, rejected: acks.length - records.length, acks };
  }

  return {
    ingest(access, events, sentAt, idempotencyKey = null) {
      if (draining) return Promise.reject(unavailable('the service is shutting down; retry against another instance'));
      const overload = options.overloadReason?.();
      if (overload) return Promise.reject(unavailable(overload));
      const call = ingest(access, events, sentAt, idempotencyKey);
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

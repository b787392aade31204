/**
 * The pieces every exactly-once test shares: clients that ingest without pause and retry as a
 * real client would, and the check that, after recovery, every ACCEPTED event is stored exactly
 * once and the rollups equal the totals recomputed from the raw events.
 *
 * The ground truth is what the clients were told: an id acknowledged ACCEPTED must be stored.
 * A batch the clients never heard back about, or that was refused as UNAVAILABLE, may or may not
 * be in the log (a failed append can have been written all the same), so it is sent again until
 * it is ACCEPTED; then "stored ids = ACCEPTED ids" holds exactly, with no unknowns left over.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionResult } from 'graphql';
import { expect } from 'vitest';
import { execute, query } from './clients.ts';
import {
  IngestDocument,
  ListEventsDocument,
  ListEventTypesDocument,
  ReadSeriesDocument,
  ReadStreamStatusDocument,
  type EventInput,
  type IngestMutation,
  type ListEventsQuery,
  type ReadStreamStatusQuery,
} from '../generated/operations.ts';

const COUNTRIES = ['NL', 'DE', 'US', 'FR'];
/** Backoff after an UNAVAILABLE answer: short at first (a leader election), capped (a broker restart). */
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1_000;

/** What the clients know. */
export interface IngestLedger {
  /** Ids acknowledged ACCEPTED at least once. */
  accepted: Set<string>;
  /** ACCEPTED acknowledgements in total: above accepted.size when a batch was accepted more than once. */
  acceptedAcks: number;
  /** Batches whose outcome is unknown (no answer, or refused when the writer was told to stop): still to send. */
  unanswered: EventInput[][];
  /** UNAVAILABLE answers received; every one of them was retried. */
  unavailableAnswers: number;
}

export function newLedger(): IngestLedger {
  return { accepted: new Set(), acceptedAcks: 0, unanswered: [], unavailableAnswers: 0 };
}

export interface IngestShape {
  /** The event type of every event, also what allEvents and the checks read back. */
  type: string;
  writers: number;
  batchSize: number;
  /**
   * Pause of each writer between batches. Without one the writers outrun the processor many
   * times over on the real servers, and the recovery at the end is mostly a long backlog.
   */
  pauseBetweenBatchesMs?: number;
}

export type SendOutcome = 'accepted' | 'unavailable' | 'no answer';

/** One ingest call. Anything but ACCEPTED-for-all, UNAVAILABLE or a dead connection is a test failure. */
export async function sendBatch(url: string, events: EventInput[], ledger: IngestLedger): Promise<SendOutcome> {
  let result: ExecutionResult<IngestMutation>;
  try {
    result = await execute(url, IngestDocument, { events });
  } catch {
    return 'no answer'; // the connection died with the process: the outcome is unknown
  }
  if (result.data) {
    const acks = result.data.ingest.acks;
    const refused = acks.filter((ack) => ack.status !== 'ACCEPTED');
    if (refused.length > 0) throw new Error(`valid events were not accepted: ${JSON.stringify(refused).slice(0, 500)}`);
    for (const ack of acks) ledger.accepted.add(ack.id!);
    ledger.acceptedAcks += acks.length;
    return 'accepted';
  }
  if (result.errors?.length && result.errors.every((error) => error.extensions?.code === 'UNAVAILABLE')) {
    ledger.unavailableAnswers += 1;
    return 'unavailable';
  }
  throw new Error(`ingest failed unexpectedly: ${JSON.stringify(result.errors)}`);
}

/**
 * Sends a batch until it is ACCEPTED, backing off after each UNAVAILABLE. Returns false, and
 * leaves the batch in ledger.unanswered, when there is no answer (the process is gone) or when
 * `stop` says to give up; the batch is then sent again to the next instance.
 */
export async function sendUntilAccepted(url: string, events: EventInput[], ledger: IngestLedger, stop: { now: boolean }): Promise<boolean> {
  let backoff = FIRST_BACKOFF_MS;
  for (;;) {
    const outcome = await sendBatch(url, events, ledger);
    if (outcome === 'accepted') return true;
    if (outcome === 'no answer' || stop.now) {
      ledger.unanswered.push(events);
      return false;
    }
    await sleep(backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

/** Sends again every batch whose outcome is unknown; each must end ACCEPTED within the deadline. */
export async function resendUnanswered(url: string, ledger: IngestLedger, deadlineMs = 60_000): Promise<number> {
  const batches = ledger.unanswered;
  ledger.unanswered = [];
  const giveUp = { now: false };
  const timer = setTimeout(() => (giveUp.now = true), deadlineMs);
  try {
    for (const events of batches) {
      if (!(await sendUntilAccepted(url, events, ledger, giveUp))) {
        throw new Error(`a batch sent again was not ACCEPTED within ${deadlineMs} ms (no answer, or UNAVAILABLE throughout)`);
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return batches.length;
}

/** A batch with ids of its own, spread over four countries, and a value to sum. */
export function batchOf(shape: IngestShape, idPrefix: string, writer: number, sequence: number): EventInput[] {
  return Array.from({ length: shape.batchSize }, (_, i) => {
    const n = sequence * shape.batchSize + i;
    return {
      id: `${idPrefix}-w${writer}-${n}`,
      type: shape.type,
      dimensions: { country: COUNTRIES[n % COUNTRIES.length]!, writer },
      values: { amount: (n % 17) + 0.25 },
    };
  });
}

/**
 * Writers send batches back to back until `stop.now`, and every fourth batch resends the
 * previous one (a client retry after a lost answer, whose first send did arrive). A writer
 * whose call got no answer stops: the process it talked to is gone.
 */
export function sustainIngest(
  url: string,
  shape: IngestShape,
  ledger: IngestLedger,
  options: { idPrefix: string; stop: { now: boolean }; maxBatchesPerWriter?: number },
): Promise<void> {
  const { idPrefix, stop, maxBatchesPerWriter = 400 } = options;
  const writing = Promise.all(
    Array.from({ length: shape.writers }, async (_, writer) => {
      let previous: EventInput[] | null = null;
      for (let sequence = 0; !stop.now && sequence < maxBatchesPerWriter; sequence++) {
        const events: EventInput[] = previous && sequence % 4 === 0 ? previous : batchOf(shape, idPrefix, writer, sequence);
        if (!(await sendUntilAccepted(url, events, ledger, stop))) return;
        previous = events;
        if (shape.pauseBetweenBatchesMs) await sleep(shape.pauseBetweenBatchesMs);
      }
    }),
  ).then(
    () => {},
    (error: unknown) => {
      stop.now = true; // an unexpected answer ends the whole ingest, not one writer
      throw error;
    },
  );
  // Callers await this only after the fault they inject; until then a failure must not count as
  // an unhandled rejection (awaiting it later still throws).
  writing.catch(() => {});
  return writing;
}

export type EventNode = ListEventsQuery['events']['edges'][number]['node'];

export async function allEvents(url: string, type: string): Promise<EventNode[]> {
  const nodes: EventNode[] = [];
  let after: string | null = null;
  do {
    const page: ListEventsQuery = await query(url, ListEventsDocument, { filter: { types: [type] }, first: 1000, after });
    nodes.push(...page.events.edges.map((edge) => edge.node));
    after = page.events.pageInfo.hasNextPage ? page.events.pageInfo.endCursor : null;
  } while (after);
  return nodes;
}

export async function readStreamStatus(url: string): Promise<ReadStreamStatusQuery['streamStatus']> {
  return (await query(url, ReadStreamStatusDocument)).streamStatus;
}

/**
 * After recovery (everything resent and processed): every ACCEPTED id is stored once and
 * nothing else is; MINUTE, HOUR and DAY rollups per country, and the event type's count, equal
 * what the raw events add up to. Returns the stored events.
 */
export async function expectExactlyOnce(url: string, type: string, ledger: IngestLedger): Promise<EventNode[]> {
  expect(ledger.unanswered, 'batches still unanswered: resend them before checking').toEqual([]);
  const events = await allEvents(url, type);
  const ids = events.map((e) => e.id);
  expect(new Set(ids).size, 'an event is stored more than once').toBe(ids.length);
  expect(new Set(ids)).toEqual(ledger.accepted);

  // Recompute the totals from the raw events and compare them with every rollup.
  const byCountry = new Map<string, { count: number; sum: number }>();
  for (const event of events) {
    const country = String(event.dimensions.country);
    const entry = byCountry.get(country) ?? { count: 0, sum: 0 };
    entry.count += 1;
    entry.sum += event.values.amount as number;
    byCountry.set(country, entry);
  }
  const from = new Date(Date.now() - 2 * 86_400_000).toISOString();
  const to = new Date(Date.now() + 86_400_000).toISOString();
  for (const interval of ['MINUTE', 'HOUR', 'DAY'] as const) {
    const { series } = await query(url, ReadSeriesDocument, { query: { type, value: 'amount', interval, from, to, groupBy: 'country' } });
    const rolledUp = new Map(
      series.map((s) => [
        s.group!,
        { count: s.points.reduce((n, p) => n + p.count, 0), sum: s.points.reduce((n, p) => n + (p.sum ?? 0), 0) },
      ]),
    );
    expect([...rolledUp.keys()].sort()).toEqual([...byCountry.keys()].sort());
    for (const [country, expected] of byCountry) {
      expect(rolledUp.get(country)!.count, `${interval} ${country} count`).toBe(expected.count);
      expect(rolledUp.get(country)!.sum, `${interval} ${country} sum`).toBeCloseTo(expected.sum, 6);
    }
  }
  const { eventTypes } = await query(url, ListEventTypesDocument);
  expect(eventTypes.find((t) => t.type === type)?.count).toBe(events.length);
  return events;
}

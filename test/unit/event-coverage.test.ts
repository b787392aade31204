/**
 * Item 2, the pure part: how an events subscriber takes a live message that names the log range
 * it covers. A model subscriber that applies planMessage (filling gaps from a model store) must
 * end with every stored event exactly once, in log order, whatever messages are lost, repeated
 * or reordered around it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { StoredEvent } from '../../src/domain/event.ts';
import type { EventsMessage } from '../../src/domain/live-messages.ts';
import { behindStored, completeThrough, planMessage } from '../../src/live/event-coverage.ts';
import { fuzzSettings } from '../property/fuzz-settings.ts';

function event(offset: number, partition = 0): StoredEvent {
  return {
    tenant: 'acme',
    id: `e${partition}-${offset}`,
    type: 'purchase',
    timestamp: 0,
    receivedAt: 0,
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: {},
    properties: null,
    position: { partition, offset },
    quarantine: null,
  } as StoredEvent;
}

const message = (from: number, to: number, offsets: number[] | null): EventsMessage => ({
  partition: 0,
  from,
  to,
  events: offsets === null ? null : offsets.map((offset) => event(offset)),
});

describe('item 2: a live message says which log range it covers, and a subscriber that sees a gap fills it first', () => {
  it('continues the coverage with no store read when the message starts where the subscriber stands', () => {
    expect(planMessage(4, message(4, 9, [6, 8]))).toEqual({ fillThrough: null, events: [event(6), event(8)], advanceTo: 9 });
  });

  it('offers only what is above where it stands when the message overlaps it (a batch published twice)', () => {
    expect(planMessage(7, message(4, 9, [6, 8]))).toEqual({ fillThrough: null, events: [event(8)], advanceTo: 9 });
    expect(planMessage(9, message(4, 9, [6, 8]))).toEqual({ fillThrough: null, events: [], advanceTo: 9 });
  });

  it('reads the gap from the store first when the message starts past where it stands (a lost message)', () => {
    // Offsets 6 to 8 were in a lost message: they come from the store, then 10.
    expect(planMessage(5, message(8, 10, [10]))).toEqual({ fillThrough: 8, events: [event(10)], advanceTo: 10 });
  });

  it('reads a doorbell (a message whose publish failed, sent again without its events) from the store', () => {
    expect(planMessage(5, message(5, 12, null))).toEqual({ fillThrough: 12, events: [], advanceTo: 12 });
    expect(planMessage(12, message(5, 12, null))).toEqual({ fillThrough: null, events: [], advanceTo: 12 });
  });

  it('finds the partitions where the stores stand ahead of the subscriber', () => {
    const coverage = new Map([
      [0, 10],
      [1, 3],
    ]);
    const stored = new Map([
      [0, 10],
      [1, 7],
      [2, 0],
    ]);
    expect([...behindStored(coverage, stored)]).toEqual([
      [1, 7],
      [2, 0],
    ]);
    expect(completeThrough(coverage, 5)).toBe(-1);
  });

  it('never misses or repeats an event, whatever messages are lost, repeated or cut into ranges', () => {
    fc.assert(
      fc.property(
        // The log of one partition: for each offset, whether it holds a counted event of the tenant.
        fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
        // Cut points: the batches the processor published.
        fc.array(fc.nat(59), { maxLength: 20 }),
        // For each batch: delivered, lost, delivered twice, or sent as a doorbell.
        fc.array(fc.constantFrom('delivered', 'lost', 'twice', 'doorbell'), { minLength: 60, maxLength: 60 }),
        (holds, cuts, fates) => {
          const stored = holds.flatMap((has, offset) => (has ? [event(offset)] : []));
          const ends = [...new Set([...cuts.filter((c) => c < holds.length - 1), holds.length - 1])].sort((a, b) => a - b);
          let standsAt = -1;
          const offered: number[] = [];
          const offer = (offsets: number[]) => {
            for (const offset of offsets) {
              offered.push(offset);
              standsAt = offset;
            }
          };
          let from = -1;
          ends.forEach((to, index) => {
            const inRange = stored.filter((e) => e.position.offset > from && e.position.offset <= to).map((e) => e.position.offset);
            const fate = fates[index]!;
            const sent = fate === 'lost' ? [] : fate === 'twice' ? [1, 2] : [1];
            for (const _ of sent) {
              const plan = planMessage(standsAt, message(from, to, fate === 'doorbell' ? null : inRange));
              if (plan.fillThrough !== null) {
                const through = plan.fillThrough;
                offer(stored.map((e) => e.position.offset).filter((offset) => offset > standsAt && offset <= through));
              }
              offer(plan.events.map((e) => e.position.offset).filter((offset) => offset > standsAt));
              standsAt = Math.max(standsAt, plan.advanceTo);
            }
            from = to;
          });
          // What the loss signal or the periodic check adds: a fill up to the stored position.
          const behind = behindStored(new Map([[0, standsAt]]), new Map([[0, holds.length - 1]]));
          if (behind.size > 0) offer(stored.map((e) => e.position.offset).filter((offset) => offset > standsAt));
          expect(offered).toEqual(stored.map((e) => e.position.offset));
        },
      ),
      fuzzSettings('event-coverage', { seed: 12, runs: 300 }),
    );
  });
});

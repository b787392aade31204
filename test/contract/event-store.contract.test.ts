import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventKey, type EventPageKey, type EventSliceFilter, type EventStore } from '../../src/ports/event-store.ts';
import type { StoredEvent } from '../../src/domain/event.ts';
import type { SetAsideRecord } from '../../src/domain/set-aside.ts';
import { eventStoreAdapters, type AdapterHarness } from './adapters.ts';
import { validateWhere, type DimensionConditionInput } from '../../src/query/event-filter.ts';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');

function setAside(partition: number, offset: number, overrides: Partial<SetAsideRecord> = {}): SetAsideRecord {
  return {
    position: { partition, offset },
    tenant: 'acme',
    eventId: null,
    reason: 'UNDECODABLE',
    error: 'SyntaxError: Unexpected token',
    record: `not json ${partition}:${offset}`,
    attempts: 1,
    setAsideAt: T0,
    ...overrides,
  };
}

function stored(id: string, overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    tenant: 'acme',
    id,
    type: 'page_view',
    timestamp: T0,
    receivedAt: T0,
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: {},
    properties: null,
    position: { partition: 0, offset: 1 },
    quarantine: null,
    ...overrides,
  };
}

describe.each(eventStoreAdapters)('EventStore contract: $name', (factory) => {
  let harness: AdapterHarness<EventStore>;
  let store: EventStore;

  beforeEach(async () => {
    harness = factory.harness();
    store = await harness.open();
  });
  afterEach(async () => {
    await store.close();
    await harness.cleanup();
  });

  it('keeps the first claim of an id and reports it to every later claimant', async () => {
    const first = stored('e1', { position: { partition: 0, offset: 7 }, values: { amount: 1 } });
    const claims1 = await store.claim([first]);
    expect(claims1.get(eventKey('acme', 'e1'))).toEqual({ position: { partition: 0, offset: 7 }, quarantine: null });

    const retry = stored('e1', { position: { partition: 2, offset: 99 }, values: { amount: 1000 } });
    const claims2 = await store.claim([retry, stored('e2', { position: { partition: 2, offset: 100 } })]);
    expect(claims2.get(eventKey('acme', 'e1'))).toEqual({ position: { partition: 0, offset: 7 }, quarantine: null });
    expect(claims2.get(eventKey('acme', 'e2'))).toEqual({ position: { partition: 2, offset: 100 }, quarantine: null });
    const [kept] = await store.findByIds('acme', ['e1']);
    expect(kept!.values).toEqual({ amount: 1 });
  });

  it('claims the same id in a batch once, for the first position', async () => {
    const claims = await store.claim([
      stored('dup', { position: { partition: 0, offset: 1 } }),
      stored('dup', { position: { partition: 0, offset: 2 } }),
    ]);
    expect(claims.get(eventKey('acme', 'dup'))!.position).toEqual({ partition: 0, offset: 1 });
  });

  it("reports each claim's own quarantine decision, to its claimant and to every later one", async () => {
    const late = stored('late', { position: { partition: 0, offset: 3 }, quarantine: 'TOO_LATE' });
    const fresh = stored('fresh', { position: { partition: 0, offset: 4 } });
    const claims = await store.claim([late, fresh]);
    expect(claims.get(eventKey('acme', 'late'))).toEqual({ position: { partition: 0, offset: 3 }, quarantine: 'TOO_LATE' });
    expect(claims.get(eventKey('acme', 'fresh'))).toEqual({ position: { partition: 0, offset: 4 }, quarantine: null });

    // Replayed at a new position and now decided otherwise: the first claim, and its decision, stand.
    const again = await store.claim([
      stored('late', { position: { partition: 1, offset: 8 }, quarantine: null }),
      stored('fresh', { position: { partition: 1, offset: 9 }, quarantine: 'FUTURE' }),
    ]);
    expect(again.get(eventKey('acme', 'late'))).toEqual({ position: { partition: 0, offset: 3 }, quarantine: 'TOO_LATE' });
    expect(again.get(eventKey('acme', 'fresh'))).toEqual({ position: { partition: 0, offset: 4 }, quarantine: null });
  });

  it('round-trips every field', async () => {
    const event = stored('full', {
      type: 'purchase',
      timestamp: T0 - 5,
      receivedAt: T0,
      clockCorrectionMs: -1500,
      source: 'web',
      dimensions: { country: 'NL', pro: true, tier: 2 },
      values: { amount: 49.99, qty: -1 },
      properties: { cart: [{ sku: 'a', n: 1 }], note: 'ünïcode ✓' },
    });
    await store.claim([event]);
    expect(await store.findByIds('acme', ['full', 'missing'])).toEqual([event]);
  });

  it('keeps keys named after Object.prototype members, and _bsontype, as ordinary keys', async () => {
    const event = stored('proto', {
      dimensions: { constructor: 'a', toString: 't', hasOwnProperty: true, _bsontype: 'ObjectId' },
      values: { constructor: 1.5, valueOf: 2, _bsontype: 3 },
      properties: { constructor: { _bsontype: 'Long', toString: 1 } },
    });
    await store.claim([event, stored('plain', { timestamp: T0 + 1, dimensions: { country: 'NL' } })]);
    expect(await store.findByIds('acme', ['proto'])).toEqual([event]);
    const ids = async (dimensions: Record<string, string | boolean>) =>
      (await store.listEvents({ tenant: 'acme', dimensions }, 10)).events.map((e) => e.id);
    expect(await ids({ constructor: 'a', _bsontype: 'ObjectId', hasOwnProperty: true })).toEqual(['proto']);
    expect(await ids({ toString: String(Object.prototype.toString) })).toEqual([]);
    expect(await ids({ valueOf: 'x' })).toEqual([]);
  });

  it('keeps tenants apart', async () => {
    await store.claim([stored('same-id', { tenant: 'a' }), stored('same-id', { tenant: 'b', source: 'b' })]);
    expect((await store.findByIds('a', ['same-id'])).map((e) => e.source)).toEqual([null]);
    expect((await store.findByIds('b', ['same-id'])).map((e) => e.source)).toEqual(['b']);
    expect(await store.listEvents({ tenant: 'c' }, 10)).toEqual({ events: [], scannedUpTo: null });
  });

  it('lists newest first with filters and stable keyset pages', async () => {
    await store.claim([
      stored('a', { timestamp: T0 + 1000, type: 'click', dimensions: { country: 'NL', tier: 2 } }),
      stored('b', { timestamp: T0 + 2000, type: 'page_view', source: 'app', dimensions: { country: 'DE' } }),
      stored('c', { timestamp: T0 + 2000, type: 'page_view', dimensions: { country: 'NL', tier: '2' } }),
      stored('d', { timestamp: T0 + 3000, type: 'page_view', dimensions: { country: 'NL' } }),
      stored('q', { timestamp: T0 + 4000, quarantine: 'TOO_LATE' }),
    ]);
    const ids = (events: StoredEvent[]) => events.map((e) => e.id);
    expect(ids((await store.listEvents({ tenant: 'acme' }, 10)).events)).toEqual(['d', 'c', 'b', 'a']);
    expect(ids((await store.listEvents({ tenant: 'acme', types: ['page_view'] }, 10)).events)).toEqual(['d', 'c', 'b']);
    expect(ids((await store.listEvents({ tenant: 'acme', source: 'app' }, 10)).events)).toEqual(['b']);
    expect(ids((await store.listEvents({ tenant: 'acme', from: T0 + 2000, to: T0 + 3000 }, 10)).events)).toEqual(['c', 'b']);
    // Dimensions compare as strings: 2 matches "2".
    expect(ids((await store.listEvents({ tenant: 'acme', dimensions: { country: 'NL', tier: 2 } }, 10)).events)).toEqual(['c', 'a']);
    expect(ids((await store.listEvents({ tenant: 'acme', dimensions: { country: 'FR' } }, 10)).events)).toEqual([]);

    const { events: page1 } = await store.listEvents({ tenant: 'acme' }, 2);
    expect(ids(page1)).toEqual(['d', 'c']);
    // A newer event arriving between pages does not shift the next page.
    await store.claim([stored('newest', { timestamp: T0 + 9000 })]);
    const page2 = await store.listEvents({ tenant: 'acme' }, 2, { timestamp: page1[1]!.timestamp, id: page1[1]!.id });
    expect(ids(page2.events)).toEqual(['b', 'a']);
  });

  it('filters with where: each operator, absent dimensions for neq, notIn and exists: false, ANDed with dimensions', async () => {
    await store.claim([
      stored('a', { timestamp: T0 + 1000, dimensions: { country: 'NL', plan: 'pro' } }),
      stored('b', { timestamp: T0 + 2000, dimensions: { country: 'NL', plan: 'free' } }),
      stored('c', { timestamp: T0 + 3000, dimensions: { country: 'DE', plan: 'pro', tier: 2 } }),
      stored('d', { timestamp: T0 + 4000, dimensions: { country: 'DE' } }),
      stored('e', { timestamp: T0 + 5000, dimensions: { plan: 'pro', tier: '2', flag: true } }),
      stored('f', { timestamp: T0 + 6000, dimensions: { constructor: 'x', toString: 'NL', _bsontype: 'ObjectId' } }),
      stored('q', { timestamp: T0 + 7000, dimensions: { country: 'NL' }, quarantine: 'TOO_LATE' }),
    ]);
    const ids = async (where: DimensionConditionInput[], dimensions: Record<string, string> | null = null) =>
      (await store.listEvents({ tenant: 'acme', dimensions, where: validateWhere(where, 'where') }, 10)).events.map((e) => e.id);
    expect(await ids([{ key: 'country', eq: 'NL' }])).toEqual(['b', 'a']);
    expect(await ids([{ key: 'plan', neq: 'pro' }])).toEqual(['f', 'd', 'b']);
    expect(await ids([{ key: 'country', in: ['DE', 'US'] }])).toEqual(['d', 'c']);
    expect(await ids([{ key: 'country', in: [] }])).toEqual([]);
    expect(await ids([{ key: 'country', notIn: ['NL', 'DE'] }])).toEqual(['f', 'e']);
    expect(await ids([{ key: 'country', notIn: [] }])).toEqual(['f', 'e', 'd', 'c', 'b', 'a']);
    expect(await ids([{ key: 'plan', exists: false }])).toEqual(['f', 'd']);
    expect(await ids([{ key: 'tier', exists: true }])).toEqual(['e', 'c']);
    // Values compare as text: 2 matches "2", true matches "true".
    expect(await ids([{ key: 'tier', eq: 2 }])).toEqual(['e', 'c']);
    expect(await ids([{ key: 'flag', in: [true] }])).toEqual(['e']);
    // A list is ANDed, two conditions on one key included, and ANDed with the equality filter.
    expect(
      await ids([
        { key: 'country', neq: 'NL' },
        { key: 'country', neq: 'DE' },
      ]),
    ).toEqual(['f', 'e']);
    expect(await ids([{ key: 'country', notIn: ['DE'] }], { plan: 'pro' })).toEqual(['e', 'a']);
    // Keys named after prototype members and a BSON marker are ordinary keys.
    expect(await ids([{ key: 'constructor', exists: true }])).toEqual(['f']);
    expect(await ids([{ key: 'toString', eq: 'NL' }])).toEqual(['f']);
    expect(await ids([{ key: '_bsontype', neq: 'ObjectId' }])).toEqual(['e', 'd', 'c', 'b', 'a']);
    expect(await ids([{ key: 'valueOf', exists: false }])).toEqual(['f', 'e', 'd', 'c', 'b', 'a']);
  });

  it('fills a page whatever its scan bound when the matches come first, and says nothing more', async () => {
    await store.claim(['a', 'b', 'c', 'd'].map((id, i) => stored(id, { timestamp: T0 + i * 1000, dimensions: { country: 'NL' } })));
    expect(await store.listEvents({ tenant: 'acme', dimensions: { country: 'NL' } }, 2, null, 2)).toMatchObject({ scannedUpTo: null });
    expect((await store.listEvents({ tenant: 'acme', dimensions: { country: 'NL' } }, 2, null, 2)).events.map((e) => e.id)).toEqual([
      'd',
      'c',
    ]);
  });

  it('keeps quarantined events out of event reads, and lists them newest receipt first', async () => {
    await store.claim([
      stored('late', { quarantine: 'TOO_LATE', receivedAt: T0 + 1 }),
      stored('future', { quarantine: 'FUTURE', receivedAt: T0 + 2 }),
      stored('ok'),
    ]);
    expect((await store.findByIds('acme', ['late', 'ok'])).map((e) => e.id)).toEqual(['ok']);
    const listed = await store.listQuarantine('acme', 10);
    expect(listed.map((e) => [e.id, e.quarantine])).toEqual([
      ['future', 'FUTURE'],
      ['late', 'TOO_LATE'],
    ]);
    expect((await store.listQuarantine('acme', 10, { receivedAt: T0 + 2, id: 'future' })).map((e) => e.id)).toEqual(['late']);
  });

  it("lists only the quarantined events a slice holds, in the store's query: pages stay full and cursors go on within it", async () => {
    const quarantined = (id: string, receivedAt: number, type: string, customer: string | null) =>
      stored(id, { quarantine: 'TOO_LATE', receivedAt, type, dimensions: customer === null ? {} : { customer } });
    await store.claim([
      quarantined('a-visit-1', T0 + 1, 'visit', 'A'),
      quarantined('b-visit', T0 + 2, 'visit', 'B'),
      quarantined('a-click', T0 + 3, 'click', 'A'),
      quarantined('none-visit', T0 + 4, 'visit', null),
      quarantined('a-visit-2', T0 + 5, 'visit', 'A'),
      quarantined('b-visit-2', T0 + 6, 'visit', 'B'),
      stored('a-counted', { type: 'visit', dimensions: { customer: 'A' } }),
    ]);
    const slice: EventSliceFilter = { types: ['visit'], where: validateWhere([{ key: 'customer', eq: 'A' }], 'where')! };
    const ids = async (limit: number, after: { receivedAt: number; id: string } | null, within = slice) =>
      (await store.listQuarantine('acme', limit, after, within)).map((e) => e.id);
    expect(await ids(10, null)).toEqual(['a-visit-2', 'a-visit-1']);
    // A page of one is full although the newest quarantined events are outside the slice.
    expect(await ids(1, null)).toEqual(['a-visit-2']);
    // A cursor of any origin (here past an event of B) goes on within the slice only.
    expect(await ids(10, { receivedAt: T0 + 6, id: 'b-visit-2' })).toEqual(['a-visit-2', 'a-visit-1']);
    expect(await ids(10, null, { types: null, where: validateWhere([{ key: 'customer', neq: 'A' }], 'where')! })).toEqual([
      'b-visit-2',
      'none-visit',
      'b-visit',
    ]);
    expect(await ids(10, null, { types: ['click'], where: [] })).toEqual(['a-click']);
    expect(await ids(10, null, { types: [], where: [] })).toEqual([]);
    expect(await ids(10, null, { types: null, where: [] })).toEqual([
      'b-visit-2',
      'a-visit-2',
      'none-visit',
      'a-click',
      'b-visit',
      'a-visit-1',
    ]);
  });

  it('replays counted events after stream positions, in log order per partition', async () => {
    const at = (partition: number, offset: number, id: string, overrides: Partial<StoredEvent> = {}) =>
      stored(id, { position: { partition, offset }, ...overrides });
    await store.claim([
      at(0, 1, 'p0-1'),
      at(0, 2, 'p0-2'),
      at(0, 3, 'p0-3-late', { quarantine: 'TOO_LATE' }),
      at(0, 4, 'p0-4'),
      at(1, 1, 'p1-1'),
      at(1, 2, 'p1-2'),
      at(2, 5, 'p2-5'),
      at(0, 9, 'other-tenant', { tenant: 'other' }),
    ]);
    const ids = (events: StoredEvent[]) => events.map((e) => e.id);
    // Everything stored: each partition through its last offset.
    const everythingStored = new Map([
      [0, 9],
      [1, 2],
      [2, 5],
    ]);
    expect(ids(await store.listAfterPositions('acme', new Map(), 100, everythingStored))).toEqual([
      'p0-1',
      'p0-2',
      'p0-4',
      'p1-1',
      'p1-2',
      'p2-5',
    ]);
    expect(
      ids(
        await store.listAfterPositions(
          'acme',
          new Map([
            [0, 2],
            [1, 2],
          ]),
          100,
          everythingStored,
        ),
      ),
    ).toEqual(['p0-4', 'p2-5']);
    expect(ids(await store.listAfterPositions('acme', new Map([[0, 1]]), 3, everythingStored))).toEqual(['p0-2', 'p0-4', 'p1-1']);
    expect(
      ids(
        await store.listAfterPositions(
          'acme',
          new Map([
            [0, 4],
            [1, 2],
            [2, 5],
          ]),
          100,
          everythingStored,
        ),
      ),
    ).toEqual([]);
  });

  it('item 8: a replay bounded by the stored position reads only the partitions named, each up to its offset', async () => {
    const at = (partition: number, offset: number, id: string) => stored(id, { position: { partition, offset } });
    // Partition 0 is stored through 2; its claims at 3 and 4 are of a batch still in flight.
    // Partition 1 is stored through 1 and partition 2 not at all (no progress yet).
    await store.claim([
      at(0, 1, 'p0-1'),
      at(0, 2, 'p0-2'),
      at(0, 3, 'p0-3'),
      at(0, 4, 'p0-4'),
      at(1, 1, 'p1-1'),
      at(1, 2, 'p1-2'),
      at(2, 0, 'p2-0'),
    ]);
    const ids = (events: StoredEvent[]) => events.map((e) => e.id);
    const storedThrough = new Map([
      [0, 2],
      [1, 1],
    ]);
    expect(ids(await store.listAfterPositions('acme', new Map(), 100, storedThrough))).toEqual(['p0-1', 'p0-2', 'p1-1']);
    expect(ids(await store.listAfterPositions('acme', new Map([[0, 1]]), 100, storedThrough))).toEqual(['p0-2', 'p1-1']);
    expect(ids(await store.listAfterPositions('acme', new Map([[0, 1]]), 1, storedThrough))).toEqual(['p0-2']);
    expect(ids(await store.listAfterPositions('acme', new Map([[0, 2]]), 100, new Map([[0, 4]])))).toEqual(['p0-3', 'p0-4']);
    expect(await store.listAfterPositions('acme', new Map(), 100, new Map())).toEqual([]);
  });

  it('claims large batches', async () => {
    const events = Array.from({ length: 2500 }, (_, i) => stored(`bulk-${i}`, { position: { partition: 0, offset: i } }));
    const claims = await store.claim(events);
    expect(claims.size).toBe(2500);
    expect(
      (
        await store.findByIds(
          'acme',
          events.map((e) => e.id),
        )
      ).length,
    ).toBe(2500);
  });

  it('keeps set-aside records by log position, each once, and lists them newest first per tenant', async () => {
    const older = setAside(0, 3, { setAsideAt: T0 - 1000, record: 'ünïcode ✓ {' });
    const tied = [setAside(0, 7), setAside(1, 2), setAside(0, 9)];
    const ofOther = setAside(2, 1, { tenant: 'other' });
    const ofNobody = setAside(2, 4, { tenant: null, record: '\u0000 not even json' });
    await store.setAside([older, ...tied, ofOther, ofNobody]);
    // The same position again (a batch replayed after a crash) keeps the first entry.
    await store.setAside([setAside(0, 7, { error: 'a second failure', attempts: 9 })]);

    const positions = (records: SetAsideRecord[]) => records.map((r) => `${r.position.partition}:${r.position.offset}`);
    const acme = await store.listSetAside({ tenant: 'acme' }, 10);
    expect(positions(acme)).toEqual(['1:2', '0:9', '0:7', '0:3']);
    expect(acme.find((r) => r.position.offset === 7)).toEqual(setAside(0, 7));
    expect(acme.at(-1)).toEqual(older);
    expect(positions(await store.listSetAside({ tenant: 'other' }, 10))).toEqual(['2:1']);
    expect(positions(await store.listSetAside({ tenant: 'nobody' }, 10))).toEqual([]);
    // The operator's view: every tenant's, and the records of no tenant.
    expect(positions(await store.listSetAside('ALL', 10))).toEqual(['2:4', '2:1', '1:2', '0:9', '0:7', '0:3']);

    const page1 = await store.listSetAside({ tenant: 'acme' }, 2);
    const last = page1.at(-1)!;
    const after = { setAsideAt: last.setAsideAt, partition: last.position.partition, offset: last.position.offset };
    expect(positions(await store.listSetAside({ tenant: 'acme' }, 10, after))).toEqual(['0:7', '0:3']);
    expect(positions(await store.listSetAside('ALL', 2, after))).toEqual(['0:7', '0:3']);

    expect(
      await store.findSetAside([
        { partition: 2, offset: 4 },
        { partition: 5, offset: 5 },
      ]),
    ).toEqual([ofNobody]);
    await store.deleteSetAside([
      { partition: 0, offset: 7 },
      { partition: 2, offset: 4 },
      { partition: 5, offset: 5 },
    ]);
    expect(positions(await store.listSetAside('ALL', 10))).toEqual(['2:1', '1:2', '0:9', '0:3']);
  });

  it('releases the claim a set-aside record made, and only that one', async () => {
    await store.claim([
      stored('poison', { position: { partition: 0, offset: 5 } }),
      stored('owned-elsewhere', { position: { partition: 0, offset: 1 } }),
    ]);
    await store.setAside([
      setAside(0, 5, { eventId: 'poison', reason: 'UNPROCESSABLE' }),
      // A later duplicate of an id another position owns: that claim stays.
      setAside(0, 6, { eventId: 'owned-elsewhere', reason: 'UNPROCESSABLE' }),
    ]);
    expect((await store.findByIds('acme', ['poison', 'owned-elsewhere'])).map((e) => e.id)).toEqual(['owned-elsewhere']);
    // Replayed at a new position, the id is free to claim, and the new position owns it.
    const claims = await store.claim([stored('poison', { position: { partition: 0, offset: 42 } })]);
    expect(claims.get(eventKey('acme', 'poison'))!.position).toEqual({ partition: 0, offset: 42 });
    expect((await store.findByIds('acme', ['owned-elsewhere']))[0]!.position).toEqual({ partition: 0, offset: 1 });
  });
});

describe('embedded event store: the scan bound of a filtered page', () => {
  // SQLite reads on the service's own thread, so a filter that matches little must not walk the
  // tenant's whole history in one call (docs/api.md, MAX_ROWS_READ).
  let harness: AdapterHarness<EventStore>;
  let store: EventStore;
  beforeEach(async () => {
    harness = eventStoreAdapters[0]!.harness();
    store = await harness.open();
    // Ten events, newest first j..a; only b and h are from DE.
    await store.claim(
      [...'abcdefghij'].map((id, i) =>
        stored(id, { timestamp: T0 + i * 1000, dimensions: { country: id === 'b' || id === 'h' ? 'DE' : 'NL' } }),
      ),
    );
  });
  afterEach(async () => {
    await store.close();
    await harness.cleanup();
  });

  it('examines at most maxScanned events and says where it stopped', async () => {
    const de = { tenant: 'acme', dimensions: { country: 'DE' } };
    const page = async (after: EventPageKey | null) => {
      const { events, scannedUpTo } = await store.listEvents(de, 5, after, 4);
      return { ids: events.map((e) => e.id), scannedUpTo };
    };
    // j i h g, then f e d c, then b a: four at a time.
    expect(await page(null)).toEqual({ ids: ['h'], scannedUpTo: { timestamp: T0 + 6000, id: 'g' } });
    expect(await page({ timestamp: T0 + 6000, id: 'g' })).toEqual({ ids: [], scannedUpTo: { timestamp: T0 + 2000, id: 'c' } });
    expect(await page({ timestamp: T0 + 2000, id: 'c' })).toEqual({ ids: ['b'], scannedUpTo: null });
    // Without the bound the same filter finds both at once.
    expect(await store.listEvents(de, 5)).toMatchObject({ scannedUpTo: null });
    expect((await store.listEvents(de, 5)).events.map((e) => e.id)).toEqual(['h', 'b']);
  });

  it('applies where inside the same bound', async () => {
    const notNl = { tenant: 'acme', where: validateWhere([{ key: 'country', notIn: ['NL'] }], 'where') };
    const page = async (after: EventPageKey | null) => {
      const { events, scannedUpTo } = await store.listEvents(notNl, 5, after, 4);
      return { ids: events.map((e) => e.id), scannedUpTo };
    };
    expect(await page(null)).toEqual({ ids: ['h'], scannedUpTo: { timestamp: T0 + 6000, id: 'g' } });
    expect(await page({ timestamp: T0 + 6000, id: 'g' })).toEqual({ ids: [], scannedUpTo: { timestamp: T0 + 2000, id: 'c' } });
    expect(await page({ timestamp: T0 + 2000, id: 'c' })).toEqual({ ids: ['b'], scannedUpTo: null });
  });
});

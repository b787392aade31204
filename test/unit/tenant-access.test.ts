/**
 * The slice applied in one place (src/auth/tenant-access.ts): what a caller's access is, the
 * refusals with their exact words, an ingest through a token, and the catalog of a slice summed
 * from rollup rows (src/query/sliced-catalog.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WHOLE_TENANT, type DataSlice } from '../../src/auth/data-slice.ts';
import type { Principal } from '../../src/auth/authenticator.ts';
import {
  eventIdNamespace,
  narrowEventQuery,
  outsideSliceReason,
  requireTypeInSlice,
  typesInSlice,
  wholeTenantAccess,
  type TenantAccess,
} from '../../src/auth/tenant-access.ts';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { emptyAggregate, type Aggregate } from '../../src/domain/rollup.ts';
import { createIngestService } from '../../src/ingest/ingest-service.ts';
import type { EventLog } from '../../src/ports/event-log.ts';
import type { RollupRow } from '../../src/ports/series-store.ts';
import { toEventQuery, validateWhere } from '../../src/query/event-filter.ts';
import { summarizeRows } from '../../src/query/sliced-catalog.ts';
import { createCursorSeal, encodeEventCursor } from '../../src/query/cursors.ts';
import { createQueryService } from '../../src/query/query-service.ts';
import type { EventPageKey, EventQuery, EventStore } from '../../src/ports/event-store.ts';
import type { SeriesStore } from '../../src/ports/series-store.ts';
import type { EventTimePolicy } from '../../src/stream/event-time.ts';
import { requireAccess, requireLiveSubscriber, requireWholeTenant, type GraphQLContext } from '../../src/resolvers/context.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const SLICE_A: DataSlice = { types: ['click', 'visit'], where: validateWhere([{ key: 'customer', eq: 'A' }], 'where')! };
const TOKEN_A: TenantAccess = { tenant: 'acme', slice: SLICE_A };

function contextOf(principal: Principal): GraphQLContext {
  return { auth: { ok: true, principal } } as GraphQLContext;
}
const keyPrincipal: Principal = { tenant: 'acme', keyId: 'key-1', scopes: new Set(['READ', 'INGEST']), isRootAdmin: false };
const tokenPrincipal: Principal = {
  ...keyPrincipal,
  scopes: new Set(['READ']),
  token: { id: 'tok-1', expiresAt: Date.now() + 60_000, slice: SLICE_A, queriesPerSecond: null, eventsPerSecond: null },
};

function errorOf(action: () => unknown): { code: string; message: string } {
  try {
    action();
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message };
  }
  throw new Error('expected an error');
}

describe('the access of a caller', () => {
  it("is the whole tenant for an API key and the token's slice for an access token", () => {
    expect(requireAccess(contextOf(keyPrincipal), 'READ')).toEqual({ tenant: 'acme', slice: WHOLE_TENANT });
    expect(requireAccess(contextOf(tokenPrincipal), 'READ')).toEqual({ tenant: 'acme', slice: SLICE_A });
    expect(requireLiveSubscriber(contextOf(tokenPrincipal))).toEqual({
      tenant: 'acme',
      slice: SLICE_A,
      keyId: 'key-1',
      openedUnder: tokenPrincipal,
      connection: null,
    });
  });

  it('refuses a scope the token lacks, and what reveals the whole tenant, to a token only', () => {
    expect(errorOf(() => requireAccess(contextOf(tokenPrincipal), 'INGEST'))).toEqual({
      code: 'FORBIDDEN',
      message: 'this access token lacks the INGEST scope',
    });
    expect(requireWholeTenant(contextOf(keyPrincipal), 'READ')).toEqual({ tenant: 'acme', slice: WHOLE_TENANT });
    expect(errorOf(() => requireWholeTenant(contextOf(tokenPrincipal), 'READ'))).toEqual({
      code: 'FORBIDDEN',
      message: 'an access token reads events, series, top lists, the type catalog and the quarantine of its slice only',
    });
  });
});

describe('the rules of a slice', () => {
  it('intersects asked types, and refuses asking only for types outside the slice, naming what the token may read', () => {
    expect(narrowEventQuery(TOKEN_A, toEventQuery('acme', { types: ['visit', 'buy'] }))).toEqual({
      tenant: 'acme',
      types: ['visit'],
      source: null,
      from: null,
      to: null,
      dimensions: null,
      where: SLICE_A.where,
    });
    expect(narrowEventQuery(TOKEN_A, toEventQuery('acme', null)).types).toEqual(['click', 'visit']);
    expect(errorOf(() => narrowEventQuery(TOKEN_A, toEventQuery('acme', { types: ['buy'] })))).toEqual({
      code: 'FORBIDDEN',
      message: 'this access token reads only events of type click, visit; filter.types ["buy"] is outside its slice',
    });
    expect(errorOf(() => requireTypeInSlice(TOKEN_A, 'buy', 'query.type'))).toEqual({
      code: 'FORBIDDEN',
      message: 'this access token reads only events of type click, visit; query.type "buy" is outside its slice',
    });
    const wholeQuery = toEventQuery('acme', { types: ['buy'] });
    expect(narrowEventQuery(wholeTenantAccess('acme'), wholeQuery)).toBe(wholeQuery);
  });

  it('leaves types outside the slice out of a catalog answer, as unknown ones are', () => {
    expect(typesInSlice(TOKEN_A, ['buy', 'visit'])).toEqual(['visit']);
    expect(typesInSlice(TOKEN_A, null)).toEqual(['click', 'visit']);
    expect(typesInSlice(wholeTenantAccess('acme'), null)).toBeNull();
  });

  it('says which part of an ingested event is outside the slice', () => {
    expect(outsideSliceReason(TOKEN_A, { type: 'buy', dimensions: { customer: 'A' } })).toEqual({
      path: 'type',
      message: 'this access token ingests only events of type click, visit; "buy" is outside its slice',
    });
    expect(outsideSliceReason(TOKEN_A, { type: 'visit', dimensions: { customer: 'B' } })).toEqual({
      path: 'dimensions.customer',
      message: 'the event\'s dimension "customer" is outside this access token\'s slice',
    });
    expect(outsideSliceReason(TOKEN_A, { type: 'visit', dimensions: { customer: 'A', plan: 'pro' } })).toBeNull();
  });
});

describe('an ingest through a token', () => {
  let dataDir: string;
  let log: EventLog;
  afterEach(async () => {
    await log?.close();
    removeDataDir(dataDir);
  });

  it('rejects each event outside the slice with OUTSIDE_TOKEN_SLICE and accepts the rest of the batch', async () => {
    dataDir = newDataDir();
    log = createEmbeddedEventLog({ dataDir, retentionMs: 86_400_000 });
    const ingest = createIngestService({ log, limits: { maxBatchEvents: 100, maxPropertiesBytes: 1024 }, newId: () => 'generated' });
    const result = await ingest.ingest(
      TOKEN_A,
      [
        { id: 'in', type: 'visit', dimensions: { customer: 'A' } },
        { id: 'other-customer', type: 'visit', dimensions: { customer: 'B' } },
        { type: 'buy', dimensions: { customer: 'A' } },
        { id: 'invalid', type: 'not a type', dimensions: { customer: 'B' } },
      ],
      null,
    );
    expect(result.accepted).toBe(1);
    expect(result.rejected).toBe(3);
    expect(result.acks.map((ack) => [ack.index, ack.id, ack.status, ack.error?.code ?? null, ack.error?.path ?? null])).toEqual([
      // Accepted through a token with a slice, the id lives in the slice's namespace.
      [0, `${eventIdNamespace(TOKEN_A)}in`, 'ACCEPTED', null, null],
      [1, 'other-customer', 'REJECTED', 'OUTSIDE_TOKEN_SLICE', 'dimensions.customer'],
      [2, null, 'REJECTED', 'OUTSIDE_TOKEN_SLICE', 'type'],
      [3, 'invalid', 'REJECTED', 'INVALID_TYPE', 'type'],
    ]);
  });
});

describe('the id namespace of a slice', () => {
  it('is empty for the whole tenant, and differs between slices however they are worded alike', () => {
    expect(eventIdNamespace(wholeTenantAccess('acme'))).toBe('');
    expect(eventIdNamespace(TOKEN_A)).toMatch(/^~[A-Za-z0-9_-]{10}~$/);
    const sliceB: DataSlice = { types: ['click', 'visit'], where: validateWhere([{ key: 'customer', eq: 'B' }], 'where')! };
    expect(eventIdNamespace({ tenant: 'acme', slice: sliceB })).not.toBe(eventIdNamespace(TOKEN_A));
    // The namespace follows from the slice, not the token: a refreshed token of the same slice dedupes with the first.
    expect(eventIdNamespace({ tenant: 'acme', slice: { ...SLICE_A } })).toBe(eventIdNamespace(TOKEN_A));
  });
});

describe('the catalog of a slice, from its rollup rows', () => {
  const DAY = 86_400_000;
  const row = (bucketStart: number, dimensions: Record<string, string>, count: number, values: string[] = []): RollupRow => {
    const aggregate: Aggregate = emptyAggregate();
    aggregate.count = count;
    for (const key of values) aggregate.values.set(key, {} as never);
    return {
      tenant: 'acme',
      type: 'visit',
      interval: 'DAY',
      bucketStart,
      dimensionsKey: JSON.stringify(dimensions),
      partition: 0,
      dimensions,
      appliedOffset: 1,
      aggregate,
    };
  };

  it('counts, spans and lists the keys of the matching rows only', () => {
    expect(
      summarizeRows('visit', [
        row(2 * DAY, { customer: 'A', plan: 'pro' }, 3, ['amount']),
        row(5 * DAY, { customer: 'A' }, 2),
        row(9 * DAY, { customer: 'A' }, 0),
      ]),
    ).toEqual({
      type: 'visit',
      count: 5,
      firstDay: 2 * DAY,
      lastDay: 5 * DAY,
      dimensions: ['customer', 'plan'],
      values: ['amount'],
      droppedDimensionKeys: 0,
      droppedValueKeys: 0,
    });
    expect(summarizeRows('visit', [])).toBeNull();
  });
});

describe("a token's short events page", () => {
  const unmatched = { timestamp: 1_700_000_000_000, id: 'order-of-customer-B' };
  const eventStore = {
    // As the embedded store answers when its bounded scan ends without a match.
    listEvents: async (_query: EventQuery, _limit: number, after: EventPageKey | null) => ({
      events: [],
      scannedUpTo: after === null ? unmatched : null,
    }),
  } as unknown as EventStore;
  const seriesStore = { loadProgress: async () => new Map() } as unknown as SeriesStore;
  const queries = createQueryService({ eventStore, seriesStore, policy: { allowedLatenessMs: 0 } as EventTimePolicy });

  it('seals where the scan stopped, so the token never learns the id or time of an event it did not match, and goes on from there', async () => {
    const page = await queries.events(TOKEN_A, null, 10, null);
    const cursor = page.pageInfo.endCursor!;
    expect(page.pageInfo.hasNextPage).toBe(true);
    const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
    expect(decoded).not.toContain('customer-B');
    expect(decoded).not.toContain(String(unmatched.timestamp));
    // The next page starts after the sealed position: the store is asked from there (and has no more).
    const next = await queries.events(TOKEN_A, null, 10, cursor);
    expect(next.pageInfo).toEqual({ hasNextPage: false, endCursor: null });
    // A key's cursor is as before: plain.
    const keyPage = await queries.events(wholeTenantAccess('acme'), null, 10, null);
    expect(keyPage.pageInfo.endCursor).toBe(encodeEventCursor(unmatched));
  });

  it('refuses a sealed cursor that was tampered with, or sealed by another process', async () => {
    const sealed = createCursorSeal().seal(encodeEventCursor(unmatched));
    const refusedWith = async (cursor: string) =>
      queries.events(TOKEN_A, null, 10, cursor).catch((error: { code: string; message: string }) => [error.code, error.message]);
    expect(await refusedWith(sealed)).toEqual(['BAD_USER_INPUT', 'the cursor is not one this field returned']);
    const parts = JSON.parse(Buffer.from(sealed, 'base64url').toString('utf8')) as [string, string];
    const flipped = Buffer.from(parts[1], 'base64url');
    flipped[flipped.length - 1]! ^= 1;
    const tampered = Buffer.from(JSON.stringify(['sealed', flipped.toString('base64url')])).toString('base64url');
    expect(await refusedWith(tampered)).toEqual(['BAD_USER_INPUT', 'the cursor is not one this field returned']);
    expect(await refusedWith(Buffer.from(JSON.stringify(['sealed', 42])).toString('base64url'))).toEqual([
      'BAD_USER_INPUT',
      'the cursor is not one this field returned',
    ]);
  });
});

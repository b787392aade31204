/**
 * What a caller may read or write: a tenant, and the slice of it (src/auth/data-slice.ts). An API
 * key's access is the whole tenant; an access token's is its slice.
 *
 * This is the one place where a slice is applied. The data services (queries, live
 * subscriptions, ingest) take a TenantAccess, never a bare tenant, and each of their entry points
 * hands its request to one of the rules below before any store is read or written. A resolver
 * gets a TenantAccess only from requireAccess (src/resolvers/context.ts), which builds it from
 * the caller's credentials: so a field cannot reach data without the caller's slice, and a new
 * field gets the slice without knowing about it. Pure.
 */
import { createHash } from 'node:crypto';
import type { DimensionCondition } from '../domain/dimension-conditions.ts';
import type { DimensionValue } from '../domain/event.ts';
import type { EventQuery } from '../ports/event-store.ts';
import { forbidden } from '../errors.ts';
import { isWholeTenant, sliceAllowsType, sliceHolds, sliceKey, WHOLE_TENANT, type DataSlice } from './data-slice.ts';

export interface TenantAccess {
  readonly tenant: string;
  readonly slice: DataSlice;
}

/** What an API key (or open mode) may see of its tenant: all of it. */
export function wholeTenantAccess(tenant: string): TenantAccess {
  return { tenant, slice: WHOLE_TENANT };
}

/**
 * The access as plain JSON, for keys of loaders, cached answers and shared results: two callers
 * with the same key see exactly the same data.
 */
export function accessKey(access: TenantAccess): string {
  return JSON.stringify([access.tenant, sliceKey(access.slice)]);
}

/** How many allowed types an error names before it says how many more there are (keeps the message short). */
const TYPES_NAMED_IN_ERRORS = 20;

function allowedTypesText(types: readonly string[]): string {
  if (types.length === 0) return 'no event type';
  const named = types.slice(0, TYPES_NAMED_IN_ERRORS).join(', ');
  const more = types.length - TYPES_NAMED_IN_ERRORS;
  return `only events of type ${named}${more > 0 ? ` and ${more} more` : ''}`;
}

function outsideTypes(slice: DataSlice & { types: readonly string[] }, asked: string): Error {
  return forbidden(`this access token reads ${allowedTypesText(slice.types)}; ${asked} is outside its slice`);
}

/** FORBIDDEN unless the slice may hold events of `type` (series, top, the live series). */
export function requireTypeInSlice(access: TenantAccess, type: string, path: string): void {
  const { slice } = access;
  if (slice.types !== null && !sliceAllowsType(slice, type)) {
    throw outsideTypes({ ...slice, types: slice.types }, `${path} "${type}"`);
  }
}

/** The query's conditions and the slice's, ANDed: what a rollup read must match. Null: none. */
export function narrowWhere(access: TenantAccess, where: readonly DimensionCondition[] | null | undefined): DimensionCondition[] | null {
  const all = [...(where ?? []), ...access.slice.where];
  return all.length === 0 ? null : all;
}

/**
 * The events query narrowed to the slice: its types intersected with the slice's (no type asked
 * means the slice's types), its conditions ANDed with the slice's. Asking only for types outside
 * the slice is FORBIDDEN, naming what the token may read: an empty answer would look like "no
 * such events" to a client that cannot tell it is not allowed to look.
 */
export function narrowEventQuery(access: TenantAccess, query: EventQuery): EventQuery {
  const { slice } = access;
  if (isWholeTenant(slice)) return query;
  let types = query.types && query.types.length > 0 ? query.types : null;
  if (slice.types !== null) {
    const allowed = slice.types;
    if (types === null) {
      // An empty type list means "every type" to the stores: a token that may read none is refused.
      if (allowed.length === 0) throw outsideTypes({ ...slice, types: allowed }, 'every type');
      types = [...allowed];
    } else {
      const kept = types.filter((type) => allowed.includes(type));
      if (kept.length === 0) throw outsideTypes({ ...slice, types: allowed }, `filter.types ${JSON.stringify(types.slice(0, 5))}`);
      types = kept;
    }
  }
  return { ...query, types, where: narrowWhere(access, query.where) };
}

/**
 * The types an eventTypes answer may hold: the asked ones (or every type, null) within the
 * slice's. Types outside the slice are left out, as unknown types are.
 */
export function typesInSlice(access: TenantAccess, asked: readonly string[] | null | undefined): readonly string[] | null {
  const allowed = access.slice.types;
  if (allowed === null) return asked ?? null;
  return asked ? asked.filter((type) => allowed.includes(type)) : allowed;
}

/** Whether the slice holds this event: what `event(id)` and every other read by id may return. */
export function accessHolds(access: TenantAccess, event: { type: string; dimensions: Readonly<Record<string, DimensionValue>> }): boolean {
  return sliceHolds(access.slice, event);
}

/**
 * Why an event ingested through a token falls outside its slice (the `path` and `message` of an
 * OUTSIDE_TOKEN_SLICE ack), or null when it is inside.
 */
export function outsideSliceReason(
  access: TenantAccess,
  event: { type: string; dimensions: Readonly<Record<string, DimensionValue>> },
): { path: string; message: string } | null {
  const { slice } = access;
  if (slice.types !== null && !slice.types.includes(event.type)) {
    return { path: 'type', message: `this access token ingests ${allowedTypesText(slice.types)}; "${event.type}" is outside its slice` };
  }
  const failed = slice.where.find((condition) => !sliceHolds({ types: null, where: [condition] }, event));
  if (failed) {
    return { path: `dimensions.${failed.key}`, message: `the event's dimension "${failed.key}" is outside this access token's slice` };
  }
  return null;
}

/**
 * Characters of the slice's hash in an id namespace: 60 bits, so two different slices of one
 * tenant never share a namespace in practice, and ids stay short.
 */
const NAMESPACE_HASH_CHARACTERS = 10;

/**
 * The namespace of the ids of events ingested through access with a slice: `~<hash of the
 * slice>~`, or '' for the whole tenant (API keys, and tokens without a slice).
 *
 * Event ids are the tenant's dedupe keys (product.md: the same id is never counted twice). Were a
 * token's ids the tenant's ids as sent, an end user could learn that an id exists outside its
 * slice (an event sent under it is acknowledged but never found), and could squat another
 * customer's future ids or idempotency keys so that their events are dropped as duplicates. In
 * its own namespace a token's events dedupe against its slice's only. The namespace follows from
 * the slice, not the token: a retry with a refreshed token of the same slice still dedupes.
 */
export function eventIdNamespace(access: TenantAccess): string {
  if (isWholeTenant(access.slice)) return '';
  const hash = createHash('sha256')
    .update(JSON.stringify(sliceKey(access.slice)))
    .digest('base64url');
  return `~${hash.slice(0, NAMESPACE_HASH_CHARACTERS)}~`;
}

/** The id an event sent with `id` through this access is stored under (see eventIdNamespace). */
export function storedEventId(access: TenantAccess, id: string): string {
  return eventIdNamespace(access) + id;
}

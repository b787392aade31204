/**
 * Token escape: an attacker holding an access token for customer A's events of type x tries to
 * read anything else out of every field of the schema, on both stacks, over HTTP, graphql-ws
 * and SSE. It knows only the contract (the "Access tokens for end users" section and docs/api.md).
 *
 * FIELD INVENTORY (schema.graphql). Every root field, and every field of every object type
 * reachable from one, is listed in ROOT_FIELDS / OBJECT_FIELDS below; "the inventory matches the
 * schema" fails when the schema gains a field the list lacks, and "tried every field" fails when a
 * listed field was never selected by a token over each transport. So a field added later cannot
 * go without an escape test.
 *
 *   Query.events           slice only: types intersected, where ANDed; only types outside → FORBIDDEN;
 *                          explicit where/dimensions/source on other values → empty; key-minted and other
 *                          tenants' endCursors replayed by the token; sealed scan cursors (MAX_ROWS_READ 4);
 *                          streamCursor must not count other customers' events; aliases, fragments, pages,
 *                          HTTP GET; tokens of every where operator against an oracle
 *   Query.event(id)        an event outside the slice (another customer, type, tenant, quarantined) → null
 *   Query.series           counts/sums/distinct/percentiles of the slice only; groupBy, groupByDimensions;
 *                          every interval and time zone equal to the key asking with the slice's conditions;
 *                          type outside → FORBIDDEN; a cached wider answer never served to the token
 *   Query.top              the slice only; type outside → FORBIDDEN; cached answers as for series
 *   Query.eventTypes       only allowed types, with the slice's count, first/last seen, dimension and value keys
 *   Query.quarantine       the slice's quarantined events only (TOO_LATE and FUTURE)
 *   Query.streamStatus     per-tenant counters would tell other customers' volume → FORBIDDEN to a token
 *   Query.setAsideRecords  raw log records of the whole tenant → FORBIDDEN to a token
 *   Query.apiKeys          ADMIN only → FORBIDDEN
 *   Mutation.ingest        an event outside the slice → REJECTED, OUTSIDE_TOKEN_SLICE, nothing stored; aliased
 *                          fields; ids of events outside the slice neither pull them in nor tell they exist;
 *                          another customer's batch with the same idempotencyKey does not suppress the token's
 *   Mutation.createAccessToken  a token minting a token → FORBIDDEN; a key widening itself → refused
 *   Mutation.createApiKey, revokeApiKey, replaySetAsideRecords  ADMIN only → FORBIDDEN
 *   Subscription.events    live and replayed (after / Last-Event-ID from a key's cursor): the slice only, also
 *                          beside the key's and another token's identical operations (shared results); edge
 *                          cursors must not count other customers' events; ended by expiry, key revocation,
 *                          and a refresh (ping) to another customer's token
 *   Subscription.series    updates of the slice's buckets only (MINUTE, HOUR grouped, DAY); type outside → FORBIDDEN
 *   Object fields: Event.* (typeInfo the slice's catalog entry, not the type's), EventConnection.*,
 *   EventEdge.*, PageInfo.*, EventTypeInfo.*, Series.*, SeriesPoint.*, SeriesUpdate.*, TopEntry.*,
 *   QuarantineConnection.*, QuarantineEdge.*, QuarantinedEvent.* (its `event` JSON), StreamStatus.*,
 *   SetAsideRecord*.*, ApiKey.*, CreatedApiKey.*, IngestResult.*, EventAck.*, IngestError.*,
 *   ReplaySetAsideResult.*, AccessToken.*: each selected by a token over every transport.
 *
 * Also: tokens that are expired, tampered with (payload edited, signed with another secret, kid
 * swapped, alg games, truncated, 100 KB, lone surrogates, a key given the token prefix), a token
 * of tenant T aimed at tenant U's data, tokens that try to widen the minting key, and a
 * fast-check property comparing any token's answers with the whole-tenant answer passed through
 * an oracle of the slice's meaning (test/support/slice-oracle.ts).
 */
import { readFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildSchema, getNamedType, isObjectType, parse, TypeInfo, visit, visitWithTypeInfo, type GraphQLObjectType } from 'graphql';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { waitUntil } from '../support/clients.ts';
import { openRawGraphqlWs } from '../support/raw-graphql-ws.ts';
import { PROTOTYPE_MEMBER_KEYS } from '../support/prototype-members.ts';
import { fuzzSettings } from '../property/fuzz-settings.ts';
import {
  openRawSse,
  postGraphql,
  sseOnce,
  TransportClients,
  TRANSPORTS,
  type GraphQLAnswer,
  type Transport,
} from '../support/any-transport.ts';
import { oracleHolds, type OracleCondition, type OracleSlice } from '../support/slice-oracle.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const SCHEMA = buildSchema(readFileSync(join(ROOT, 'schema.graphql'), 'utf8'));

/** Every root field, and what a token gets from it (the escape test that holds it). */
const ROOT_FIELDS: Record<string, string> = {
  'Query.apiKeys': 'FORBIDDEN (ADMIN only)',
  'Query.event': 'null outside the slice',
  'Query.eventTypes': "the slice's types and numbers only",
  'Query.events': 'the slice only; types outside FORBIDDEN',
  'Query.quarantine': "the slice's quarantined events only",
  'Query.series': 'the slice only; type outside FORBIDDEN',
  'Query.setAsideRecords': 'FORBIDDEN (raw records of the whole tenant)',
  'Query.streamStatus': 'FORBIDDEN (counters of the whole tenant)',
  'Query.top': 'the slice only; type outside FORBIDDEN',
  'Mutation.createAccessToken': 'FORBIDDEN (a token does not mint)',
  'Mutation.createApiKey': 'FORBIDDEN (ADMIN only)',
  'Mutation.ingest': 'outside the slice REJECTED with OUTSIDE_TOKEN_SLICE',
  'Mutation.replaySetAsideRecords': 'FORBIDDEN (ADMIN only)',
  'Mutation.revokeApiKey': 'FORBIDDEN (ADMIN only)',
  'Subscription.events': 'the slice only, live and replayed',
  'Subscription.series': "the slice's buckets only; type outside FORBIDDEN",
  'Subscription.top': "the slice's ranking only; type outside FORBIDDEN",
};

/**
 * Root fields that read no tenant data, with the reason: none today. A new root field must be
 * added to ROOT_FIELDS with an escape test, or here with a reason a reviewer can check.
 */
const ROOT_FIELDS_WITHOUT_TENANT_DATA: Record<string, string> = {};

/** Every field of every object type reachable from a root field, as the schema has them. */
const OBJECT_FIELDS: Record<string, string[]> = {
  AccessToken: ['expiresAt', 'scopes', 'token', 'types', 'where'],
  ApiKey: ['createdAt', 'id', 'name', 'revokedAt', 'scopes', 'tenant'],
  CreatedApiKey: ['apiKey', 'key'],
  Event: [
    'clockCorrectionMs',
    'dimensions',
    'distinct',
    'id',
    'properties',
    'receivedAt',
    'source',
    'timestamp',
    'type',
    'typeInfo',
    'values',
  ],
  EventAck: ['error', 'id', 'index', 'status'],
  EventConnection: ['edges', 'pageInfo', 'streamCursor'],
  EventEdge: ['cursor', 'node'],
  EventTypeInfo: [
    'count',
    'dimensions',
    'dimensionsTruncated',
    'droppedDimensionKeys',
    'droppedValueKeys',
    'firstSeen',
    'lastSeen',
    'type',
    'values',
    'valuesTruncated',
  ],
  IngestError: ['code', 'message', 'path'],
  IngestResult: ['accepted', 'acks', 'rejected'],
  PageInfo: ['endCursor', 'hasNextPage'],
  QuarantineConnection: ['edges', 'pageInfo'],
  QuarantineEdge: ['cursor', 'node'],
  QuarantinedEvent: ['event', 'id', 'reason', 'receivedAt', 'type'],
  ReplaySetAsideResult: ['notFound', 'replayed'],
  Series: ['group', 'groupKey', 'points', 'watermark'],
  SeriesPoint: ['avg', 'count', 'distinct', 'final', 'max', 'min', 'p50', 'p90', 'p95', 'p99', 'start', 'sum'],
  SeriesUpdate: ['cursor', 'group', 'groupKey', 'point', 'watermark'],
  SetAsideRecord: ['attempts', 'error', 'eventId', 'id', 'offset', 'partition', 'reason', 'record', 'setAsideAt', 'tenant'],
  SetAsideRecordConnection: ['edges', 'pageInfo'],
  SetAsideRecordEdge: ['cursor', 'node'],
  StreamStatus: ['duplicates', 'lag', 'liveSubscriptions', 'poisonRecords', 'processed', 'quarantined', 'tenantScoped', 'watermark'],
  TopEntry: ['count', 'distinct', 'key', 'sum'],
  TopUpdate: ['entries', 'from', 'to', 'watermark'],
};

function rootFieldsOf(schema: typeof SCHEMA): string[] {
  const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(
    (type): type is GraphQLObjectType => type !== null && type !== undefined,
  );
  return roots.flatMap((type) => Object.keys(type.getFields()).map((field) => `${type.name}.${field}`)).sort();
}

/** The object types reachable from the root fields, each with its field names. */
function reachableObjectFields(schema: typeof SCHEMA): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name, schema.getSubscriptionType()?.name]);
  const queue: GraphQLObjectType[] = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(
    (type): type is GraphQLObjectType => Boolean(type),
  );
  const seen = new Set<string>();
  while (queue.length > 0) {
    const type = queue.shift()!;
    if (seen.has(type.name)) continue;
    seen.add(type.name);
    if (!roots.has(type.name)) found[type.name] = Object.keys(type.getFields()).sort();
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type);
      if (isObjectType(named)) queue.push(named);
    }
  }
  return found;
}

describe('the escape inventory', () => {
  it('lists every root field of the schema, as covered or as reading no tenant data', () => {
    const listed = [...Object.keys(ROOT_FIELDS), ...Object.keys(ROOT_FIELDS_WITHOUT_TENANT_DATA)].sort();
    expect(rootFieldsOf(SCHEMA)).toEqual(listed);
  });

  it('lists every field of every object type reachable from a root field', () => {
    const listed = Object.fromEntries(Object.entries(OBJECT_FIELDS).map(([type, fields]) => [type, [...fields].sort()]));
    expect(reachableObjectFields(SCHEMA)).toEqual(listed);
  });
});

// ---------------------------------------------------------------------------------------------
// The data: tenant T holds events of types x and y for customers A and B (and some of x with no
// customer); tenant U holds events with the same ids as T's A events, other numbers. Every
// non-slice event carries a marker (below) that must never appear in a token's answer.

const ADMIN_KEY = 'token-escape-admin-key-0123456789abcdefghij';
/** Known signing secrets, so the suite can forge tokens: the first signs, both verify. */
const SIGNING_SECRET = 'escape-secret-one-0123456789abcdefghijklmnop';
const OTHER_SIGNING_SECRET = 'escape-secret-two-0123456789abcdefghijklmnop';
const TOKEN_SIGNING_KEYS = `k1:${SIGNING_SECRET},k2:${OTHER_SIGNING_SECRET}`;
/** Far above what the suite sends, so no answer here is RATE_LIMITED (the per-key limit a token may not exceed). */
const QUERY_RATE_PER_KEY = 100_000;
const INGEST_RATE_PER_KEY = 100_000;

const SERVER_ENV = {
  ADMIN_KEY,
  TOKEN_SIGNING_KEYS,
  // Short event-time bounds, as in event-time.e2e.test.ts, so quarantine and final buckets happen within the test.
  OUT_OF_ORDERNESS: '1s',
  ALLOWED_LATENESS: '1m',
  FUTURE_TOLERANCE: '1m',
  QUERY_RATE_PER_KEY: String(QUERY_RATE_PER_KEY),
  INGEST_RATE_PER_KEY: String(INGEST_RATE_PER_KEY),
  // The tampered-token cases are many failed authentications from one address.
  UNAUTHENTICATED_RATE_PER_ADDRESS: '100000',
};

interface Seed {
  tenant: 'T' | 'U';
  id: string;
  type: string;
  timestamp: number;
  dimensions: Record<string, string>;
  values: Record<string, number>;
  distinct: Record<string, string>;
  properties: Record<string, string>;
  source: string;
  quarantine?: 'TOO_LATE' | 'FUTURE';
}

/**
 * The real-server stacks of every test run share one Redis, whose result cache is keyed by tenant
 * and range: names of their own per run keep another run's cached answers (same tenant, other
 * Cassandra keyspace) from answering this one.
 */
const RUN_ID = `escape${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const TENANT_T = `${RUN_ID}-t`;
const TENANT_U = `${RUN_ID}-u`;

const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
const minuteOf = (ms: number) => Math.floor(ms / MINUTE) * MINUTE;

/** Markers only non-slice data carries: none may appear in the data of a token's answer. */
const LEAK_MARKERS: RegExp[] = [
  /"B"/,
  /gold/,
  /bSecret/,
  /north/,
  /region/,
  /x-B-/,
  /y-A-/,
  /y-B-/,
  /x-none/,
  /src-B/,
  /B-user/,
  /B-note/,
  /u-only/,
  /late-x-B|late-y-A|future-x-B/,
  /\b9\d{3}\b/, // tenant U's amounts are 9000 and up
  /\b1\d{3}\b/, // B's amounts are 1000 and up
  /"y"/,
];

function expectNoLeak(what: unknown, context: string): void {
  const text = JSON.stringify(what ?? null);
  for (const marker of LEAK_MARKERS) expect(text, `${context}: ${marker} in ${text.slice(0, 1500)}`).not.toMatch(marker);
}

function expectError(answer: GraphQLAnswer, code: string, context: string): void {
  expect(answer.errors?.[0]?.extensions?.code, `${context}: ${JSON.stringify(answer).slice(0, 800)}`).toBe(code);
  expectNoLeak(answer.data, context);
}

function expectData(answer: GraphQLAnswer, context: string): Record<string, any> {
  expect(answer.errors, `${context}: ${JSON.stringify(answer.errors)}`).toBeUndefined();
  return answer.data!;
}

const EVENT_FIELDS = `id type timestamp receivedAt dimensions values properties distinct source clockCorrectionMs
  typeInfo { ...TypeFields }`;
const TYPE_FIELDS = `fragment TypeFields on EventTypeInfo { type count firstSeen lastSeen dimensions values dimensionsTruncated
  valuesTruncated droppedDimensionKeys droppedValueKeys }`;
const EVENTS_QUERY = `query Events($filter: EventFilter, $first: Int, $after: String) {
  events(filter: $filter, first: $first, after: $after) {
    edges { cursor node { ${EVENT_FIELDS} } } pageInfo { endCursor hasNextPage } streamCursor } } ${TYPE_FIELDS}`;
const EVENT_QUERY = `query Event($id: ID!) { event(id: $id) { ${EVENT_FIELDS} } } ${TYPE_FIELDS}`;
const EVENT_TYPES_QUERY = `query Types($types: [String!]) { eventTypes(types: $types) { ...TypeFields } } ${TYPE_FIELDS}`;
const SERIES_QUERY = `query Series($query: SeriesQuery!) { series(query: $query) { group groupKey watermark
  points { start count sum min max avg p50 p90 p95 p99 distinct final } } }`;
const TOP_QUERY = `query Top($query: TopQuery!) { top(query: $query) { key count sum distinct } }`;
const LIVE_TOP = `subscription LiveTop($query: LiveTopQuery!) { top(query: $query) { from to watermark entries { key count sum distinct } } }`;
const QUARANTINE_QUERY = `query Quarantine($first: Int, $after: String) { quarantine(first: $first, after: $after) {
  edges { cursor node { id type reason receivedAt event } } pageInfo { endCursor hasNextPage } } }`;
const STREAM_STATUS_QUERY = `{ streamStatus { duplicates lag liveSubscriptions poisonRecords processed quarantined tenantScoped watermark } }`;
const SET_ASIDE_QUERY = `query SetAside($all: Boolean) { setAsideRecords(allTenants: $all) { edges { cursor node {
  attempts error eventId id offset partition reason record setAsideAt tenant } } pageInfo { endCursor hasNextPage } } }`;
const API_KEYS_QUERY = `{ apiKeys { createdAt id name revokedAt scopes tenant } }`;
const CREATE_API_KEY = `mutation CreateKey($tenant: String!, $scopes: [ApiScope!]!) { createApiKey(tenant: $tenant, scopes: $scopes, name: "escape") {
  key apiKey { createdAt id name revokedAt scopes tenant } } }`;
const REVOKE_API_KEY = `mutation Revoke($id: ID!) { revokeApiKey(id: $id) { createdAt id name revokedAt scopes tenant } }`;
const REPLAY = `mutation Replay($ids: [ID!]!) { replaySetAsideRecords(ids: $ids) { notFound replayed {
  attempts error eventId id offset partition reason record setAsideAt tenant } } }`;
const INGEST = `mutation Ingest($events: [EventInput!]!) { ingest(events: $events) { accepted rejected acks { index id status error { code message path } } } }`;
const MINT = `mutation Mint($input: AccessTokenInput!) { createAccessToken(input: $input) { token expiresAt scopes types where } }`;
const LIVE_EVENTS = `subscription LiveEvents($filter: EventFilter, $after: String) { events(filter: $filter, after: $after) {
  cursor node { ${EVENT_FIELDS} } } } ${TYPE_FIELDS}`;
const LIVE_SERIES = `subscription LiveSeries($query: LiveSeriesQuery!) { series(query: $query) { cursor group groupKey watermark
  point { start count sum min max avg p50 p90 p95 p99 distinct final } } }`;

/** The seeded events of both tenants, built once from one clock reading. */
function seedEvents(now: number): { main: Seed[]; clock: Seed[]; quarantined: Seed[] } {
  const base = minuteOf(now);
  const main: Seed[] = [];
  const customerEvent = (tenant: 'T' | 'U', id: string, type: string, customer: string, timestamp: number, amount: number): Seed => ({
    tenant,
    id,
    type,
    timestamp,
    dimensions: customer === 'A' ? { customer: 'A' } : { customer: 'B', plan: 'gold' },
    values: customer === 'A' ? { amount } : { amount, bSecret: 7 },
    distinct: { user: `${customer}-user-${amount % 2}` },
    properties: { note: `${customer}-note` },
    source: `src-${customer}`,
  });
  for (const k of [6, 5, 4, 3]) {
    for (const customer of ['A', 'B']) {
      for (const type of ['x', 'y']) {
        // Distinct seconds, so no two events tie on time (ties order by id).
        const second = (customer === 'A' ? 7 : 17) + (type === 'y' ? 3 : 0);
        const amount = (customer === 'A' ? 0 : 1000) + k * 10 + (type === 'y' ? 1 : 0);
        main.push(customerEvent('T', `${type}-${customer}-${k}`, type, customer, base - k * MINUTE + second * 1000, amount));
      }
    }
    // U's are three minutes older than T's, with the same ids as T's A events.
    main.push({ ...customerEvent('U', `x-A-${k}`, 'x', 'A', base - (k + 3) * MINUTE + 2_000, 9000 + k) });
  }
  // B alone in the first and last minutes: a slice's first/last seen must not reach them.
  main.push(customerEvent('T', 'x-B-7', 'x', 'B', base - 7 * MINUTE + 17_000, 1070));
  main.push(customerEvent('T', 'x-B-2', 'x', 'B', base - 2 * MINUTE + 17_000, 1020));
  main.push({
    tenant: 'T',
    id: 'x-none-5',
    type: 'x',
    timestamp: base - 5 * MINUTE + 27_000,
    dimensions: { region: 'north' },
    values: { amount: 555 },
    distinct: { user: 'none-user' },
    properties: { note: 'none-note' },
    source: 'src-none',
  });
  main.push({ ...customerEvent('U', 'u-only', 'x', 'A', base - 8 * MINUTE + 47_000, 9999) });
  // The clock: recent events in every (tenant, type) partition move the watermark to about now.
  const clock = [
    customerEvent('T', 'x-A-now', 'x', 'A', now - 2_000, 2),
    customerEvent('T', 'x-B-now', 'x', 'B', now - 1_000, 1002),
    customerEvent('T', 'y-A-now', 'y', 'A', now - 2_000, 3),
    customerEvent('U', 'x-A-now', 'x', 'A', now - 1_500, 9002),
    customerEvent('T', 'x-A-tick', 'x', 'A', now - 1_800, 8),
    customerEvent('T', 'y-A-tick', 'y', 'A', now - 1_800, 9),
    customerEvent('U', 'x-A-tick', 'x', 'A', now - 1_800, 9008),
  ];
  const late = base - 10 * MINUTE;
  const future = now + 5 * MINUTE;
  const quarantined: Seed[] = [
    { ...customerEvent('T', 'late-x-A', 'x', 'A', late, 4), quarantine: 'TOO_LATE' },
    { ...customerEvent('T', 'late-x-B', 'x', 'B', late + 1_000, 1004), quarantine: 'TOO_LATE' },
    { ...customerEvent('T', 'late-y-A', 'y', 'A', late + 2_000, 5), quarantine: 'TOO_LATE' },
    { ...customerEvent('T', 'future-x-A', 'x', 'A', future, 6), quarantine: 'FUTURE' },
    { ...customerEvent('T', 'future-x-B', 'x', 'B', future + 1_000, 1006), quarantine: 'FUTURE' },
    { ...customerEvent('U', 'late-x-A', 'x', 'A', late, 9004), quarantine: 'TOO_LATE' },
  ];
  return { main, clock, quarantined };
}

const asInput = (seed: Seed) => ({
  id: seed.id,
  type: seed.type,
  timestamp: iso(seed.timestamp),
  dimensions: seed.dimensions,
  values: seed.values,
  distinct: seed.distinct,
  properties: seed.properties,
  source: seed.source,
});

const newestFirst = (a: Seed, b: Seed) => b.timestamp - a.timestamp || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** The token's slice: customer A's events of type x. */
const SLICE_A: OracleSlice = { types: ['x'], where: [{ key: 'customer', eq: 'A' }] };
const inSliceA = (seed: Seed) => oracleHolds(SLICE_A, seed);

describe.each(BACKENDS)('access-token escapes on %s', (backend) => {
  let server: TestServer;
  let clients: TransportClients;
  const seeds: Seed[] = [];
  const keys = { tAdmin: '', tKey: '', tRead: '', uKey: '' };
  let tokenA = ''; // READ, types [x], where customer eq A
  let tokenAIngest = ''; // READ + INGEST, same slice
  const now = Date.now();
  const base = minuteOf(now);
  const dataRange = { from: iso(base - 8 * MINUTE), to: iso(base + 10 * MINUTE) };
  /** Every bucket of this range is final once the watermark is about now (lateness 1 min). */
  const finalRange = { from: iso(base - 7 * MINUTE), to: iso(base - 2 * MINUTE) };

  /** `Type.field@transport` for every field a token's document selected. */
  const tried = new Set<string>();
  function recordSelections(query: string, transport: Transport): void {
    const typeInfo = new TypeInfo(SCHEMA);
    visit(
      parse(query),
      visitWithTypeInfo(typeInfo, {
        Field() {
          const parent = typeInfo.getParentType();
          const field = typeInfo.getFieldDef();
          if (parent && field) tried.add(`${parent.name}.${field.name}@${transport}`);
        },
      }),
    );
  }

  /** Runs a document with a token (recording what it selected) or a key. */
  async function run(transport: Transport, credential: string, query: string, variables: Record<string, unknown> = {}) {
    if (credential !== keys.tKey && credential !== keys.uKey && credential !== keys.tAdmin && credential !== ADMIN_KEY) {
      recordSelections(query, transport);
    }
    return clients.run(transport, credential, query, variables);
  }

  async function asKey(credential: string, query: string, variables: Record<string, unknown> = {}): Promise<Record<string, any>> {
    return expectData((await postGraphql(server.url, credential, query, variables)).answer, query.slice(0, 60));
  }

  async function mint(credential: string, input: Record<string, unknown>): Promise<GraphQLAnswer> {
    return (await postGraphql(server.url, credential, MINT, { input })).answer;
  }

  async function mintOk(credential: string, input: Record<string, unknown>): Promise<string> {
    const answer = await mint(credential, input);
    return expectData(answer, `mint ${JSON.stringify(input)}`).createAccessToken.token as string;
  }

  async function waitForProcessing(): Promise<void> {
    await waitUntil(async () => (await asKey(keys.tKey, '{ streamStatus { lag } }')).streamStatus.lag === 0, 30_000, 'lag 0');
  }

  async function ingestAs(credential: string, events: Seed[]): Promise<void> {
    const { ingest } = await asKey(credential, INGEST, { events: events.map(asInput) });
    expect(ingest.rejected, JSON.stringify(ingest.acks)).toBe(0);
    seeds.push(...events);
  }

  const counted = (tenant: 'T' | 'U' = 'T') => seeds.filter((seed) => seed.tenant === tenant && !seed.quarantine);
  const sliceEvents = () => counted().filter(inSliceA).sort(newestFirst);

  beforeAll(async () => {
    server = await startServer({ backend, env: SERVER_ENV });
    clients = new TransportClients(server.url, server.wsUrl);
    const create = async (tenant: string, scopes: string[]) =>
      (await asKey(ADMIN_KEY, CREATE_API_KEY, { tenant, scopes })).createApiKey.key as string;
    keys.tAdmin = await create(TENANT_T, ['ADMIN']);
    keys.tKey = await create(TENANT_T, ['READ', 'INGEST']);
    keys.tRead = await create(TENANT_T, ['READ']);
    keys.uKey = await create(TENANT_U, ['READ', 'INGEST']);

    const { main, clock, quarantined } = seedEvents(now);
    // One minute of events at a time, oldest first, each processed before the next: a log
    // partition decides lateness by the newest time it (or, for its first batch, every
    // partition) has seen, and the partitions of one ingest are processed in any order. So
    // no minute may arrive after one more than ALLOWED_LATENESS newer.
    const oldestFirst = (a: Seed, b: Seed) => a.timestamp - b.timestamp;
    for (const minute of [...new Set(main.map((seed) => minuteOf(seed.timestamp)))].sort((a, b) => a - b)) {
      const wave = main.filter((seed) => minuteOf(seed.timestamp) === minute).sort(oldestFirst);
      for (const [tenant, key] of [
        ['U', keys.uKey],
        ['T', keys.tKey],
      ] as const) {
        const events = wave.filter((seed) => seed.tenant === tenant);
        if (events.length > 0) await ingestAs(key, events);
      }
      await waitForProcessing();
    }
    // The setup itself: every main event counted, none held back (else the escape tests below would misreport).
    for (const key of [keys.tKey, keys.uKey]) {
      const held = (await asKey(key, QUARANTINE_QUERY, { first: 1000 })).quarantine.edges.map((edge: any) => [
        edge.node.id,
        edge.node.reason,
      ]);
      expect(held, 'main events quarantined during setup').toEqual([]);
    }
    // A partition commits as its watermark the threshold its last batch was decided with (the
    // time before that batch): two rounds of clock events move it to the first round's times.
    for (const round of [clock.filter((seed) => !seed.id.endsWith('tick')), clock.filter((seed) => seed.id.endsWith('tick'))]) {
      await ingestAs(
        keys.tKey,
        round.filter((seed) => seed.tenant === 'T'),
      );
      await ingestAs(
        keys.uKey,
        round.filter((seed) => seed.tenant === 'U'),
      );
      await waitForProcessing();
    }
    // TOO_LATE needs the watermark near now: every partition has had its clock event.
    let watermark: string | null = null;
    await waitUntil(
      async () => {
        ({ watermark } = (await asKey(keys.tKey, '{ streamStatus { watermark } }')).streamStatus);
        // Near now: TOO_LATE (10 minutes back) and final buckets (2 minutes back) are then certain.
        return watermark !== null && Date.parse(watermark) >= now - 5_000;
      },
      30_000,
      'the watermark to reach the clock events',
    ).catch((error: Error) => {
      throw new Error(`${error.message}: it is ${watermark}, the clock events are at ${iso(now - 2_000)}`);
    });
    await ingestAs(
      keys.tKey,
      quarantined.filter((seed) => seed.tenant === 'T'),
    );
    await ingestAs(
      keys.uKey,
      quarantined.filter((seed) => seed.tenant === 'U'),
    );
    await waitForProcessing();

    const slice = { types: ['x'], where: [{ key: 'customer', eq: 'A' }] };
    tokenA = await mintOk(keys.tKey, { scopes: ['READ'], expiresIn: '1h', ...slice });
    tokenAIngest = await mintOk(keys.tKey, { scopes: ['READ', 'INGEST'], expiresIn: '1h', ...slice });
  });

  afterAll(async () => {
    await clients?.closeAll();
    await server?.stop();
  });

  // ---------------------------------------------------------------------------------------------
  // Exact answers of every query field through the token.

  function expectSliceEvent(node: Record<string, any>, seed: Seed, context: string): void {
    expect(
      {
        id: node.id,
        type: node.type,
        timestamp: node.timestamp,
        dimensions: node.dimensions,
        values: node.values,
        properties: node.properties,
        distinct: node.distinct,
        source: node.source,
        clockCorrectionMs: node.clockCorrectionMs,
      },
      context,
    ).toEqual({
      id: seed.id,
      type: seed.type,
      timestamp: iso(seed.timestamp),
      dimensions: seed.dimensions,
      values: seed.values,
      properties: seed.properties,
      distinct: seed.distinct,
      source: seed.source,
      clockCorrectionMs: 0,
    });
  }

  /** The catalog entry of x as the slice holds it: its count, times and keys. */
  function sliceTypeInfo(): Record<string, unknown> {
    const events = sliceEvents();
    return {
      type: 'x',
      count: events.length,
      // docs/api.md: with conditions, firstSeen / lastSeen come from the slice's rollup rows, to the minute.
      firstSeen: iso(minuteOf(Math.min(...events.map((e) => e.timestamp)))),
      lastSeen: iso(minuteOf(Math.max(...events.map((e) => e.timestamp)))),
      dimensions: ['customer'],
      values: ['amount'],
      dimensionsTruncated: false,
      valuesTruncated: false,
      droppedDimensionKeys: 0,
      droppedValueKeys: 0,
    };
  }

  it.each(TRANSPORTS)('events through the token over %s: exactly A x events, every field, page by page', async (transport) => {
    const expected = sliceEvents();
    for (const filter of [
      null,
      { types: ['x'] },
      { where: [{ key: 'customer', in: ['A', 'B'] }] },
      { from: dataRange.from, to: dataRange.to },
    ]) {
      const data = expectData(await run(transport, tokenA, EVENTS_QUERY, { filter, first: 1000 }), `events ${JSON.stringify(filter)}`);
      expectNoLeak(data, `events ${JSON.stringify(filter)}`);
      expect(data.events.edges.map((edge: any) => edge.node.id)).toEqual(expected.map((seed) => seed.id));
      data.events.edges.forEach((edge: any, i: number) => {
        expectSliceEvent(edge.node, expected[i]!, `events[${i}]`);
        expect(edge.node.typeInfo).toEqual(sliceTypeInfo());
      });
      expect(data.events.pageInfo.hasNextPage).toBe(false);
    }
    // Pages of two, each from the previous page's endCursor.
    const paged: string[] = [];
    let after: string | null = null;
    for (;;) {
      const data = expectData(await run(transport, tokenA, EVENTS_QUERY, { first: 2, after }), 'events page');
      expectNoLeak(data, 'events page');
      paged.push(...data.events.edges.map((edge: any) => edge.node.id));
      if (!data.events.pageInfo.hasNextPage) break;
      after = data.events.pageInfo.endCursor;
    }
    expect(paged).toEqual(expected.map((seed) => seed.id));
  });

  it.each(TRANSPORTS)('events through the token over %s: filters that ask for other values find nothing', async (transport) => {
    for (const filter of [
      { where: [{ key: 'customer', eq: 'B' }] },
      { where: [{ key: 'customer', neq: 'A' }] },
      { where: [{ key: 'customer', exists: false }] },
      { where: [{ key: 'plan', exists: true }] },
      { dimensions: { customer: 'B' } },
      { dimensions: { plan: 'gold' } },
      { source: 'src-B' },
      { types: ['x'], where: [{ key: 'region', eq: 'north' }] },
      { where: [{ key: 'constructor', exists: true }] },
      { where: [{ key: 'customer', notIn: ['A'] }] },
    ]) {
      const data = expectData(await run(transport, tokenA, EVENTS_QUERY, { filter }), `events ${JSON.stringify(filter)}`);
      expect(data.events.edges, JSON.stringify(filter)).toEqual([]);
      expect(data.events.pageInfo).toEqual({ endCursor: null, hasNextPage: false });
    }
  });

  it.each(TRANSPORTS)('events through the token over %s: types outside the slice are cut away, only them FORBIDDEN', async (transport) => {
    // docs/api.md: the filter's types are intersected with the token's; asking only for others is FORBIDDEN.
    for (const types of [['y'], ['y', 'constructor'], ['constructor'], ['__proto__']]) {
      const answer = await run(transport, tokenA, EVENTS_QUERY, { filter: { types } });
      expectError(answer, 'FORBIDDEN', `events types ${types}`);
      expect(answer.data ?? null).toBeNull();
    }
    for (const types of [
      ['x', 'y'],
      ['y', 'x'],
      ['x', 'constructor'],
    ]) {
      const data = expectData(await run(transport, tokenA, EVENTS_QUERY, { filter: { types }, first: 1000 }), `events types ${types}`);
      expectNoLeak(data, `events types ${types}`);
      expect(data.events.edges.map((edge: any) => edge.node.id)).toEqual(sliceEvents().map((seed) => seed.id));
    }
  });

  it.each(TRANSPORTS)('event(id) through the token over %s: the slice event, null for every other', async (transport) => {
    for (const seed of counted()) {
      const data = expectData(await run(transport, tokenA, EVENT_QUERY, { id: seed.id }), `event ${seed.id}`);
      if (inSliceA(seed)) {
        expectSliceEvent(data.event, seed, `event ${seed.id}`);
        expect(data.event.typeInfo).toEqual(sliceTypeInfo());
      } else expect(data.event, seed.id).toBeNull();
    }
    // Quarantined events, U's own id, and ids no one has.
    for (const id of ['late-x-A', 'future-x-A', 'late-x-B', 'u-only', 'nobody', 'constructor', '__proto__']) {
      expect(expectData(await run(transport, tokenA, EVENT_QUERY, { id }), id).event, id).toBeNull();
    }
  });

  /** The MINUTE points of the slice over a range, as the series query shows them. */
  function slicePoints(from: string, to: string, value = true): { start: string; count: number; sum: number | null }[] {
    const byMinute = new Map<number, Seed[]>();
    for (const seed of sliceEvents()) {
      if (seed.timestamp < Date.parse(from) || seed.timestamp >= Date.parse(to)) continue;
      const minute = minuteOf(seed.timestamp);
      byMinute.set(minute, [...(byMinute.get(minute) ?? []), seed]);
    }
    return [...byMinute.entries()]
      .sort(([a], [b]) => a - b)
      .map(([minute, events]) => ({
        start: iso(minute),
        count: events.length,
        sum: value ? events.reduce((total, e) => total + e.values.amount!, 0) : null,
      }));
  }

  it.each(TRANSPORTS)('series through the token over %s: the slice counts, sums and users only', async (transport) => {
    const expected = slicePoints(dataRange.from, dataRange.to);
    const query = { type: 'x', interval: 'MINUTE', value: 'amount', distinct: 'user', ...dataRange };
    for (const variant of [
      {},
      { where: [{ key: 'customer', in: ['A', 'B'] }] },
      { groupBy: 'customer' },
      { groupByDimensions: ['customer', 'plan'] },
    ]) {
      const data = expectData(
        await run(transport, tokenA, SERIES_QUERY, { query: { ...query, ...variant } }),
        `series ${JSON.stringify(variant)}`,
      );
      expectNoLeak(data, `series ${JSON.stringify(variant)}`);
      expect(data.series).toHaveLength(1);
      const series = data.series[0];
      if ('groupBy' in variant) expect([series.group, series.groupKey]).toEqual(['A', { customer: 'A' }]);
      else if ('groupByDimensions' in variant) expect([series.group, series.groupKey]).toEqual(['A, ', { customer: 'A', plan: null }]);
      else expect([series.group, series.groupKey]).toEqual([null, {}]);
      expect(series.points.map((p: any) => ({ start: p.start, count: p.count, sum: p.sum }))).toEqual(expected);
      for (const point of series.points) {
        const events = sliceEvents().filter((e) => minuteOf(e.timestamp) === Date.parse(point.start));
        const amounts = events.map((e) => e.values.amount!);
        expect([point.min, point.max, point.distinct]).toEqual([
          Math.min(...amounts),
          Math.max(...amounts),
          new Set(events.map((e) => e.distinct.user)).size,
        ]);
      }
    }
    // Grouped by a key only other customers carry: one group, null, of the slice's events.
    const byPlan = expectData(await run(transport, tokenA, SERIES_QUERY, { query: { ...query, groupBy: 'plan' } }), 'series by plan');
    expectNoLeak(byPlan, 'series by plan');
    expect(byPlan.series.map((s: any) => [s.group, s.points.reduce((n: number, p: any) => n + p.count, 0)])).toEqual([
      [null, sliceEvents().filter((e) => e.timestamp >= Date.parse(dataRange.from) && e.timestamp < Date.parse(dataRange.to)).length],
    ]);
  });

  it.each(TRANSPORTS)('series through the token over %s: other values are empty, other types FORBIDDEN', async (transport) => {
    const query = { type: 'x', interval: 'MINUTE', ...dataRange };
    for (const variant of [
      { where: [{ key: 'customer', eq: 'B' }] },
      { dimensions: { customer: 'B' } },
      { where: [{ key: 'plan', exists: true }] },
      { where: [{ key: 'customer', exists: false }] },
    ]) {
      const data = expectData(await run(transport, tokenA, SERIES_QUERY, { query: { ...query, ...variant } }), JSON.stringify(variant));
      // One series without points, as for a key whose filter matches nothing.
      expect(data.series, JSON.stringify(variant)).toEqual([{ group: null, groupKey: {}, points: [], watermark: expect.any(String) }]);
    }
    for (const type of ['y', 'constructor', '__proto__']) {
      expectError(await run(transport, tokenA, SERIES_QUERY, { query: { ...query, type } }), 'FORBIDDEN', `series type ${type}`);
    }
  });

  it("series and top through the token equal the key asking with the slice's conditions, at every interval and zone", async () => {
    const sliceWhere = [{ key: 'customer', eq: 'A' }];
    const withoutWatermark = (series: any[]) => series.map(({ watermark: _watermark, ...rest }) => rest);
    const variants: Record<string, unknown>[] = [
      { interval: 'SECOND' },
      { interval: 'MINUTE', fill: true },
      { interval: 'FIVE_MINUTES' },
      { interval: 'FIFTEEN_MINUTES', groupByDimensions: ['customer', 'plan'] },
      { interval: 'HOUR', groupBy: 'customer' },
      { interval: 'DAY' },
      { interval: 'DAY', timeZone: 'Asia/Kolkata' },
      { interval: 'DAY', timeZone: 'Australia/Eucla' },
      { interval: 'WEEK', timeZone: 'America/New_York' },
      { interval: 'MONTH', timeZone: 'Asia/Kathmandu' },
    ];
    for (const variant of variants) {
      const query = { type: 'x', value: 'amount', distinct: 'user', ...dataRange, ...variant };
      const token = expectData(await run('HTTP', tokenA, SERIES_QUERY, { query }), `series ${JSON.stringify(variant)}`);
      expectNoLeak(token, `series ${JSON.stringify(variant)}`);
      const key = await asKey(keys.tKey, SERIES_QUERY, { query: { ...query, where: sliceWhere } });
      expect(withoutWatermark(token.series), JSON.stringify(variant)).toEqual(withoutWatermark(key.series));
      const total = token.series.reduce((n: number, series: any) => n + series.points.reduce((m: number, p: any) => m + p.count, 0), 0);
      // Every slice event is within the last quarter hour, so every bucket variant holds them all
      // (SECOND rows are purged after SECOND_RETENTION: both answers above read the same ones).
      if (variant.interval !== 'SECOND')
        expect(total, JSON.stringify(variant)).toBe(
          sliceEvents().filter((e) => e.timestamp >= minuteOf(Date.parse(dataRange.from))).length,
        );
    }
    for (const variant of [
      {},
      { rankBy: 'SUM', value: 'amount' },
      { rankBy: 'DISTINCT', distinct: 'user' },
      { by: 'plan' },
      { limit: 1 },
    ]) {
      const query = { type: 'x', by: 'customer', ...dataRange, ...variant };
      const token = expectData(await run('HTTP', tokenA, TOP_QUERY, { query }), `top ${JSON.stringify(variant)}`);
      const key = await asKey(keys.tKey, TOP_QUERY, { query: { ...query, where: sliceWhere } });
      expect(token.top, JSON.stringify(variant)).toEqual(key.top);
    }
  });

  it("tokens of every operator read exactly their slice of events, quarantine and catalog (oracle over the key's answers)", async () => {
    const slices: OracleSlice[] = [
      { types: null, where: [] },
      { types: ['y'], where: [] },
      { types: null, where: [{ key: 'customer', neq: 'A' }] },
      { types: ['x'], where: [{ key: 'customer', notIn: ['A'] }] },
      { types: null, where: [{ key: 'customer', exists: false }] },
      {
        types: ['x', 'y'],
        where: [
          { key: 'customer', in: ['B'] },
          { key: 'plan', exists: true },
        ],
      },
      { types: null, where: [{ key: 'plan', neq: 'gold' }] },
      {
        types: null,
        where: [
          { key: 'constructor', exists: false },
          { key: 'customer', in: ['A', 'B'] },
        ],
      },
      { types: ['x'], where: [{ key: 'region', eq: 'north' }] },
    ];
    const keyEvents = (await asKey(keys.tKey, 'query { events(first: 1000) { edges { node { id type dimensions } } } }')).events.edges.map(
      (edge: any) => edge.node,
    ) as { id: string; type: string; dimensions: Record<string, unknown> }[];
    const keyQuarantine = (await asKey(keys.tKey, QUARANTINE_QUERY, { first: 1000 })).quarantine.edges.map((edge: any) => edge.node) as {
      id: string;
      event: { type: string; dimensions: Record<string, unknown> };
    }[];
    for (const slice of slices) {
      const context = JSON.stringify(slice);
      const token = await mintOk(keys.tKey, { scopes: ['READ'], expiresIn: '1h', types: slice.types, where: slice.where });
      const data = expectData(
        await run(
          'HTTP',
          token,
          `query { events(first: 1000) { edges { node { id typeInfo { type count dimensions } } } } quarantine(first: 1000) { edges { node { id } } }
            eventTypes { type count dimensions } }`,
        ),
        context,
      );
      expect(
        data.events.edges.map((edge: any) => edge.node.id),
        `events ${context}`,
      ).toEqual(keyEvents.filter((event) => oracleHolds(slice, event)).map((event) => event.id));
      expect(
        data.quarantine.edges.map((edge: any) => edge.node.id),
        `quarantine ${context}`,
      ).toEqual(keyQuarantine.filter((entry) => oracleHolds(slice, entry.event)).map((entry) => entry.id));
      // Each event's typeInfo is its type's entry of the token's own catalog.
      for (const edge of data.events.edges) {
        expect(edge.node.typeInfo, `typeInfo ${context}`).toEqual(
          data.eventTypes.find((entry: any) => entry.type === edge.node.typeInfo.type),
        );
      }
      const types = [...new Set(keyEvents.filter((event) => oracleHolds(slice, event)).map((event) => event.type))].sort();
      expect(
        data.eventTypes.map((entry: any) => [entry.type, entry.count, entry.dimensions]),
        `eventTypes ${context}`,
      ).toEqual(
        types.map((type) => {
          const held = keyEvents.filter((event) => event.type === type && oracleHolds(slice, event));
          return [type, held.length, [...new Set(held.flatMap((event) => Object.keys(event.dimensions)))].sort()];
        }),
      );
    }
  });

  it.each(TRANSPORTS)('top through the token over %s: the slice ranked alone', async (transport) => {
    const events = sliceEvents().filter((e) => e.timestamp >= Date.parse(dataRange.from) && e.timestamp < Date.parse(dataRange.to));
    const total = {
      key: 'A',
      count: events.length,
      sum: events.reduce((n, e) => n + e.values.amount!, 0),
      distinct: new Set(events.map((e) => e.distinct.user)).size,
    };
    const query = { type: 'x', by: 'customer', value: 'amount', distinct: 'user', ...dataRange };
    for (const variant of [{}, { rankBy: 'COUNT' }, { rankBy: 'DISTINCT' }, { where: [{ key: 'customer', in: ['A', 'B'] }] }]) {
      const data = expectData(
        await run(transport, tokenA, TOP_QUERY, { query: { ...query, ...variant } }),
        `top ${JSON.stringify(variant)}`,
      );
      expectNoLeak(data, `top ${JSON.stringify(variant)}`);
      expect(data.top).toEqual([total]);
    }
    for (const variant of [
      { by: 'plan' },
      { by: 'region' },
      { where: [{ key: 'customer', eq: 'B' }] },
      { dimensions: { customer: 'B' } },
    ]) {
      const data = expectData(
        await run(transport, tokenA, TOP_QUERY, { query: { ...query, ...variant } }),
        `top ${JSON.stringify(variant)}`,
      );
      expect(data.top, JSON.stringify(variant)).toEqual([]);
    }
    for (const type of ['y', 'constructor']) {
      expectError(await run(transport, tokenA, TOP_QUERY, { query: { ...query, type } }), 'FORBIDDEN', `top type ${type}`);
    }
  });

  it.each(TRANSPORTS)('eventTypes through the token over %s: type x with the slice numbers, nothing of y', async (transport) => {
    for (const types of [null, ['x'], ['x', 'y']]) {
      const data = expectData(await run(transport, tokenA, EVENT_TYPES_QUERY, { types }), `eventTypes ${types}`);
      expectNoLeak(data, `eventTypes ${types}`);
      expect(data.eventTypes).toEqual([sliceTypeInfo()]);
    }
    for (const types of [['y'], ['constructor'], ['__proto__']]) {
      expect(expectData(await run(transport, tokenA, EVENT_TYPES_QUERY, { types }), `eventTypes ${types}`).eventTypes).toEqual([]);
    }
  });

  it.each(TRANSPORTS)('quarantine through the token over %s: only A x events held back', async (transport) => {
    const data = expectData(await run(transport, tokenA, QUARANTINE_QUERY, { first: 1000 }), 'quarantine');
    expectNoLeak(data, 'quarantine');
    const entries = data.quarantine.edges.map((edge: any) => [
      edge.node.id,
      edge.node.type,
      edge.node.reason.split(':')[0],
      edge.node.event.dimensions,
      edge.node.event.values,
    ]);
    expect(entries.sort()).toEqual(
      seeds
        .filter((seed) => seed.tenant === 'T' && seed.quarantine && inSliceA(seed))
        .map((seed) => [seed.id, seed.type, seed.quarantine, seed.dimensions, seed.values])
        .sort(),
    );
    // Page by page, the same entries.
    const paged: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page = expectData(await run(transport, tokenA, QUARANTINE_QUERY, { first: 1, after }), 'quarantine page');
      expectNoLeak(page, 'quarantine page');
      paged.push(...page.quarantine.edges.map((edge: any) => edge.node.id));
      if (!page.quarantine.pageInfo.hasNextPage) break;
      after = page.quarantine.pageInfo.endCursor;
    }
    expect(paged.sort()).toEqual(entries.map((entry: any[]) => entry[0]).sort());
  });

  it.each(TRANSPORTS)('fields a token may not use over %s answer FORBIDDEN', async (transport) => {
    expectError(await run(transport, tokenA, STREAM_STATUS_QUERY), 'FORBIDDEN', 'streamStatus');
    for (const all of [false, true]) expectError(await run(transport, tokenA, SET_ASIDE_QUERY, { all }), 'FORBIDDEN', 'setAsideRecords');
    expectError(await run(transport, tokenA, API_KEYS_QUERY), 'FORBIDDEN', 'apiKeys');
    expectError(await run(transport, tokenA, CREATE_API_KEY, { tenant: TENANT_T, scopes: ['ADMIN'] }), 'FORBIDDEN', 'createApiKey');
    expectError(await run(transport, tokenA, REVOKE_API_KEY, { id: 'whatever' }), 'FORBIDDEN', 'revokeApiKey');
    expectError(await run(transport, tokenA, REPLAY, { ids: ['0:0'] }), 'FORBIDDEN', 'replaySetAsideRecords');
    expectError(
      await run(transport, tokenA, MINT, {
        input: { scopes: ['READ'], expiresIn: '1m', types: ['x'], where: [{ key: 'customer', eq: 'A' }] },
      }),
      'FORBIDDEN',
      'createAccessToken',
    );
    expectError(
      await run(transport, tokenA, INGEST, { events: [{ type: 'x', dimensions: { customer: 'A' } }] }),
      'FORBIDDEN',
      'ingest READ',
    );
  });

  // ---------------------------------------------------------------------------------------------
  // One document asking for everything at once: aliases, fragments, directives.

  it.each(TRANSPORTS)('aliases and fragments over %s reach no more than plain fields', async (transport) => {
    const bEvent = counted().find((seed) => seed.id === 'x-B-5')!;
    const document = `query Everything($b: ID!) {
      mine: events(first: 1000) { ...Page }
      theirs: events(filter: { where: [{ key: "customer", eq: "B" }] }) { ...Page }
      noCustomer: events(filter: { where: [{ key: "customer", exists: false }] }) { ...Page }
      bEvent: event(id: $b) { id ...EventBits }
      bAgain: event(id: $b) @include(if: true) { id }
      a1: event(id: "x-A-5") { id }
      b1: event(id: "x-B-5") { id }
      y1: event(id: "y-A-5") { id }
      n1: event(id: "x-none-5") { id }
      types: eventTypes { ...TypeFields }
      typesNamed: eventTypes(types: ["y", "x"]) { type count }
      bTop: top(query: { type: "x", by: "customer", from: "${dataRange.from}", to: "${dataRange.to}", where: [{ key: "customer", neq: "A" }] }) { key count }
      noCustomerSeries: series(query: { type: "x", interval: HOUR, from: "${dataRange.from}", to: "${dataRange.to}", where: [{ key: "customer", exists: false }] }) { points { count } }
      q: quarantine(first: 1000) { edges { node { id event } } }
    }
    fragment Page on EventConnection { edges { node { ...EventBits } } }
    fragment EventBits on Event { id dimensions values typeInfo { ...TypeFields } }
    ${TYPE_FIELDS}`;
    const data = expectData(await run(transport, tokenA, document, { b: bEvent.id }), 'everything');
    expectNoLeak(data, 'everything');
    expect(data.mine.edges.map((edge: any) => edge.node.id)).toEqual(sliceEvents().map((seed) => seed.id));
    expect([data.theirs.edges, data.noCustomer.edges, data.bEvent, data.bAgain, data.bTop, data.noCustomerSeries]).toEqual([
      [],
      [],
      null,
      null,
      [],
      [{ points: [] }],
    ]);
    // One operation loads these ids together (one batched read): only the slice's comes back.
    expect([data.a1, data.b1, data.y1, data.n1]).toEqual([{ id: 'x-A-5' }, null, null, null]);
    expect(data.types).toEqual([sliceTypeInfo()]);
    expect(data.typesNamed).toEqual([{ type: 'x', count: sliceEvents().length }]);
    expect(data.q.edges.map((edge: any) => edge.node.id).sort()).toEqual(['future-x-A', 'late-x-A']);
  });

  it('HTTP GET through the token answers as POST does', async () => {
    const get = async (query: string, variables: Record<string, unknown>) => {
      recordSelections(query, 'HTTP');
      const url = new URL(server.url);
      url.searchParams.set('query', query);
      url.searchParams.set('variables', JSON.stringify(variables));
      const response = await fetch(url, { headers: { accept: 'application/graphql-response+json', authorization: `Bearer ${tokenA}` } });
      return (await response.json()) as GraphQLAnswer;
    };
    const data = expectData(await get(EVENTS_QUERY, { first: 1000 }), 'GET events');
    expectNoLeak(data, 'GET events');
    expect(data.events.edges.map((edge: any) => edge.node.id)).toEqual(sliceEvents().map((seed) => seed.id));
    expectError(await get(EVENTS_QUERY, { filter: { types: ['y'] } }), 'FORBIDDEN', 'GET events of y');
    expect(expectData(await get(EVENT_QUERY, { id: 'x-B-5' }), 'GET event').event).toBeNull();
  });

  it('aliased ingest fields in one mutation are each held to the slice', async () => {
    const at = iso(Date.now() - 1_000);
    const inside: Seed = { ...sliceEvents()[0]!, id: 'alias-in-A', timestamp: Date.parse(at) };
    const document = `mutation Two($a: [EventInput!]!, $b: [EventInput!]!) {
      a: ingest(events: $a) { accepted rejected acks { id status error { code } } }
      b: ingest(events: $b) { accepted rejected acks { status error { code } } }
    }`;
    const data = expectData(
      await run('HTTP', tokenAIngest, document, {
        a: [asInput(inside)],
        b: [{ ...asInput(inside), id: 'alias-out-B', dimensions: { customer: 'B' } }],
      }),
      'aliased ingest',
    );
    // Ingested through a token with a slice, an event's id lives in the slice's namespace: the ack says it as stored.
    expect(data).toEqual({
      a: {
        accepted: 1,
        rejected: 0,
        acks: [{ id: expect.stringMatching(/^~[A-Za-z0-9_-]{10}~alias-in-A$/), status: 'ACCEPTED', error: null }],
      },
      b: { accepted: 0, rejected: 1, acks: [{ status: 'REJECTED', error: { code: 'OUTSIDE_TOKEN_SLICE' } }] },
    });
    seeds.push({ ...inside, id: data.a.acks[0].id });
    await waitForProcessing();
    expect((await asKey(keys.tKey, EVENT_QUERY, { id: 'alias-out-B' })).event).toBeNull();
  });

  it('a batched HTTP request (an array body) is refused whole and reveals nothing', async () => {
    const body = JSON.stringify([
      { query: EVENTS_QUERY, variables: { filter: { types: ['y'] } } },
      { query: EVENT_QUERY, variables: { id: 'x-B-5' } },
    ]);
    recordSelections(EVENTS_QUERY, 'HTTP');
    const { status, answer } = await postGraphql(server.url, tokenA, '', undefined, { body });
    expect(status).toBe(400);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    expectNoLeak(answer, 'batched');
    await expectHealthy(server);
  });

  // ---------------------------------------------------------------------------------------------
  // Cursors minted with the whole-tenant key, replayed with the token.

  it.each(TRANSPORTS)('an events endCursor from the key, used by the token over %s, pages only A x events after it', async (transport) => {
    const all = counted().sort(newestFirst);
    for (const [filter, first] of [
      [null, 3],
      [{ types: ['y'] }, 2],
      [{ where: [{ key: 'customer', eq: 'B' }] }, 4],
      [null, 1],
    ] as const) {
      const page = await asKey(keys.tKey, EVENTS_QUERY, { filter, first });
      const last = page.events.edges.at(-1).node.id as string;
      const position = all.findIndex((seed) => seed.id === last);
      const expected = all.slice(position + 1).filter(inSliceA);
      const data = expectData(
        await run(transport, tokenA, EVENTS_QUERY, { first: 1000, after: page.events.pageInfo.endCursor }),
        `after ${JSON.stringify(filter)}`,
      );
      expectNoLeak(data, 'key cursor');
      expect(
        data.events.edges.map((edge: any) => edge.node.id),
        JSON.stringify(filter),
      ).toEqual(expected.map((seed) => seed.id));
    }
    // The key's quarantine cursors: after each entry of the key's list, the slice's entries that follow it.
    const keyQuarantine = (await asKey(keys.tKey, QUARANTINE_QUERY, { first: 1000 })).quarantine.edges as any[];
    const quarantinedInSlice = new Set(
      seeds.filter((seed) => seed.tenant === 'T' && seed.quarantine && inSliceA(seed)).map((seed) => seed.id),
    );
    for (const [i, edge] of keyQuarantine.entries()) {
      const data = expectData(await run(transport, tokenA, QUARANTINE_QUERY, { first: 1000, after: edge.cursor }), `quarantine after ${i}`);
      expectNoLeak(data, 'key quarantine cursor');
      expect(data.quarantine.edges.map((e: any) => e.node.id)).toEqual(
        keyQuarantine
          .slice(i + 1)
          .map((e) => e.node.id)
          .filter((id: string) => quarantinedInSlice.has(id)),
      );
    }
    // Tenant U's cursors are positions in U's data: used by T's token, they show T's slice after that position.
    const uPage = await asKey(keys.uKey, EVENTS_QUERY, { first: 1 });
    const uData = expectData(
      await run(transport, tokenA, EVENTS_QUERY, { first: 1000, after: uPage.events.pageInfo.endCursor }),
      'U cursor',
    );
    expectNoLeak(uData, 'U cursor');
    for (const edge of uData.events.edges) expect(inSliceA(counted().find((seed) => seed.id === edge.node.id)!)).toBe(true);
  });

  // ---------------------------------------------------------------------------------------------
  // The result cache: final buckets are cached; a wider answer must never serve the token.

  it.each(TRANSPORTS)(
    'a cached whole-tenant answer is never served to the token over %s, nor the token one to the key',
    async (transport) => {
      const offset = TRANSPORTS.indexOf(transport);
      // A range of its own per transport, so the first ask of each is a cache miss.
      const range = { from: iso(base - 7 * MINUTE), to: iso(base - (2 + offset) * MINUTE) };
      const seriesQuery = { type: 'x', interval: 'MINUTE', value: 'amount', ...range };
      const topQuery = { type: 'x', by: 'customer', ...range };
      const keySeriesBefore = (await asKey(keys.tKey, SERIES_QUERY, { query: seriesQuery })).series;
      const keyTopBefore = (await asKey(keys.tKey, TOP_QUERY, { query: topQuery })).top;
      expect(keySeriesBefore[0].points.every((p: any) => p.final)).toBe(true);
      expect(keyTopBefore.map((entry: any) => entry.key)).toEqual(['B', 'A']);
      const tokenSeries = expectData(await run(transport, tokenA, SERIES_QUERY, { query: seriesQuery }), 'cached series');
      expectNoLeak(tokenSeries, 'cached series');
      expect(tokenSeries.series[0].points.map((p: any) => ({ start: p.start, count: p.count, sum: p.sum }))).toEqual(
        slicePoints(range.from, range.to),
      );
      const tokenTop = expectData(await run(transport, tokenA, TOP_QUERY, { query: topQuery }), 'cached top');
      expect(tokenTop.top.map((entry: any) => entry.key)).toEqual(['A']);
      // And the other way round: the token's answer, now cached, does not narrow the key's.
      expect((await asKey(keys.tKey, SERIES_QUERY, { query: seriesQuery })).series).toEqual(keySeriesBefore);
      expect((await asKey(keys.tKey, TOP_QUERY, { query: topQuery })).top).toEqual(keyTopBefore);
      // A narrower token first, then the wider one: each its own numbers.
      const range2 = { from: iso(base - 6 * MINUTE), to: iso(base - (2 + offset) * MINUTE) };
      const tokenFirst = expectData(await run(transport, tokenA, TOP_QUERY, { query: { ...topQuery, ...range2 } }), 'top first');
      expect(tokenFirst.top.map((entry: any) => entry.key)).toEqual(['A']);
      const keyAfter = (await asKey(keys.tKey, TOP_QUERY, { query: { ...topQuery, ...range2 } })).top;
      expect(keyAfter.map((entry: any) => entry.key).sort()).toEqual(['A', 'B']);
    },
  );

  // ---------------------------------------------------------------------------------------------
  // Ingest through a token.

  it.each(TRANSPORTS)('ingest through the token over %s: events outside the slice are REJECTED and never stored', async (transport) => {
    const suffix = transport.replace(/\W/g, '');
    const at = Date.now() - 1_000;
    const inside: Seed = {
      tenant: 'T',
      id: `tok-in-A-${suffix}`,
      type: 'x',
      timestamp: at,
      dimensions: { customer: 'A' },
      values: { amount: 7 },
      distinct: { user: 'A-user-1' },
      properties: { note: 'A-note' },
      source: 'src-A',
    };
    const outside = [
      { ...inside, id: `tok-out-B-${suffix}`, dimensions: { customer: 'B' } },
      { ...inside, id: `tok-out-y-${suffix}`, type: 'y' },
      { ...inside, id: `tok-out-none-${suffix}`, dimensions: {} },
      { ...inside, id: `tok-out-num-${suffix}`, dimensions: { customer: 'a' } },
      { ...inside, id: `tok-out-proto-${suffix}`, dimensions: { constructor: 'A' } },
    ];
    const answer = await run(transport, tokenAIngest, INGEST, {
      events: [asInput(outside[0]!), asInput(inside), ...outside.slice(1).map(asInput)],
    });
    const { ingest } = expectData(answer, 'token ingest');
    expect([ingest.accepted, ingest.rejected]).toEqual([1, outside.length]);
    expect(ingest.acks.map((ack: any) => [ack.index, ack.status, ack.error?.code ?? null])).toEqual([
      [0, 'REJECTED', 'OUTSIDE_TOKEN_SLICE'],
      [1, 'ACCEPTED', null],
      ...outside.slice(1).map((_, i) => [i + 2, 'REJECTED', 'OUTSIDE_TOKEN_SLICE']),
    ]);
    const storedId: string = ingest.acks[1].id;
    expect(storedId).toMatch(new RegExp(`^~[A-Za-z0-9_-]{10}~${inside.id}$`));
    seeds.push({ ...inside, id: storedId });
    await waitForProcessing();
    expect((await asKey(keys.tKey, EVENT_QUERY, { id: storedId })).event.id).toBe(storedId);
    // The token finds its event by the id it sent, too.
    expect(expectData(await run(transport, tokenA, EVENT_QUERY, { id: inside.id }), 'by the sent id').event.id).toBe(storedId);
    for (const event of outside) expect((await asKey(keys.tKey, EVENT_QUERY, { id: event.id })).event, event.id).toBeNull();
    // The READ-only token may not ingest at all.
    expectError(await run(transport, tokenA, INGEST, { events: [asInput(inside)] }), 'FORBIDDEN', 'READ token ingest');
  });

  it('ingest through the token cannot reuse the id of an event outside the slice to pull it in', async () => {
    const at = Date.now() - 1_000;
    const ids = ['x-B-5', 'y-A-5', 'x-none-5'];
    const sent: Seed[] = ids.map((id) => ({ ...sliceEvents()[0]!, id, timestamp: at, values: { amount: 1 } }));
    const answer = await run('HTTP', tokenAIngest, INGEST, { events: sent.map(asInput) });
    const { ingest } = expectData(answer, 'colliding ids');
    // Accepted as new events of the slice, each under the id sent in the slice's own namespace:
    // the events outside the slice that hold those ids are neither replaced nor pulled in.
    const storedIds: string[] = ingest.acks.map((ack: any) => ack.id);
    expect(ingest.acks.map((ack: any) => ack.status)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED']);
    storedIds.forEach((storedId, index) => expect(storedId).toMatch(new RegExp(`^~[A-Za-z0-9_-]{10}~${ids[index]}$`)));
    sent.forEach((seed, index) => seeds.push({ ...seed, id: storedIds[index]! }));
    await waitForProcessing();
    for (const [index, id] of ids.entries()) {
      // Through the token, the id sent names the token's own event, never the other one.
      const mine = expectData(await run('HTTP', tokenA, EVENT_QUERY, { id }), id).event;
      expect([mine?.id, mine?.dimensions, mine?.values], id).toEqual([storedIds[index], sent[index]!.dimensions, { amount: 1 }]);
      const original = seeds.find((seed) => seed.tenant === 'T' && seed.id === id)!;
      const stored = (await asKey(keys.tKey, EVENT_QUERY, { id })).event;
      expect([stored?.type, stored?.dimensions, stored?.values], id).toEqual([original.type, original.dimensions, original.values]);
    }
    const data = expectData(await run('HTTP', tokenA, EVENTS_QUERY, { first: 1000 }), 'events after collisions');
    expect(data.events.edges.map((edge: any) => edge.node.id)).toEqual(sliceEvents().map((seed) => seed.id));
  });

  it('ingest through the token cannot tell whether an id outside the slice exists', async () => {
    // The probe: ingest the slice's event under an id, then look for it. An id another customer's
    // event holds is deduplicated (the probe vanishes), a free one is stored: if the two differ,
    // the token has learnt that an event outside its slice exists.
    const at = Date.now() - 1_000;
    const probe = (id: string): Seed => ({ ...sliceEvents()[0]!, id, timestamp: at, values: { amount: 9 } });
    const taken = probe('x-B-6');
    const free = probe('probe-free-1');
    const { ingest } = expectData(await run('HTTP', tokenAIngest, INGEST, { events: [asInput(taken), asInput(free)] }), 'probe');
    expect(ingest.acks.map((ack: any) => ack.status)).toEqual(['ACCEPTED', 'ACCEPTED']);
    await waitForProcessing();
    const visible = async (id: string) => expectData(await run('HTTP', tokenA, EVENT_QUERY, { id }), id).event !== null;
    const seen = { taken: await visible(taken.id), free: await visible(free.id) };
    for (const [index, seed] of [taken, free].entries()) if (seen.free) seeds.push({ ...seed, id: ingest.acks[index].id });
    expect(seen, "the probe shows whether B's id exists").toEqual({ taken: seen.free, free: seen.free });
  });

  it("another customer's batch sent with the same idempotencyKey neither suppresses the token's events nor tells it was sent", async () => {
    // Ids derived from an idempotencyKey name the batch within the tenant: if B's token can claim
    // them first, A's events vanish as duplicates (and A learns that B sent a batch by that name).
    const tokenBIngest = await mintOk(keys.tKey, {
      scopes: ['READ', 'INGEST'],
      expiresIn: '1h',
      types: ['x'],
      where: [{ key: 'customer', eq: 'B' }],
    });
    const at = iso(Date.now() - 1_000);
    const idempotencyKey = 'nightly-batch-1';
    const send = (token: string, customer: string, amount: number) =>
      run(
        'HTTP',
        token,
        'mutation($e: [EventInput!]!, $k: String) { ingest(events: $e, idempotencyKey: $k) { accepted acks { id status } } }',
        {
          e: [{ type: 'x', timestamp: at, dimensions: customer === 'B' ? { customer, plan: 'gold' } : { customer }, values: { amount } }],
          k: idempotencyKey,
        },
      );
    const fromB = expectData(await send(tokenBIngest, 'B', 1500), 'B batch').ingest;
    const fromA = expectData(await send(tokenAIngest, 'A', 22), 'A batch').ingest;
    expect([fromB.accepted, fromA.accepted]).toEqual([1, 1]);
    await waitForProcessing();
    seeds.push({
      ...sliceEvents()[0]!,
      id: fromB.acks[0].id,
      timestamp: Date.parse(at),
      dimensions: { customer: 'B', plan: 'gold' },
      values: { amount: 1500 },
    });
    const mine = expectData(await run('HTTP', tokenA, EVENT_QUERY, { id: fromA.acks[0].id }), "A's event").event;
    if (mine) seeds.push({ ...sliceEvents()[0]!, id: fromA.acks[0].id, timestamp: Date.parse(at), values: { amount: 22 } });
    expect(mine?.values ?? null, "A's event, ingested after B's batch of the same idempotencyKey").toEqual({ amount: 22 });
  });

  it("a live top list through the token, on graphql-ws and SSE, ranks the slice's events only, equal to the token's top query", async () => {
    const open = (transport: 'graphql-ws' | 'SSE', variables: Record<string, unknown>) => {
      recordSelections(LIVE_TOP, transport);
      return clients.open(transport, tokenA, LIVE_TOP, variables);
    };
    const asked = [
      { by: 'customer', value: 'amount', rankBy: 'SUM' },
      { by: 'plan', distinct: 'user', rankBy: 'DISTINCT' },
      { by: 'customer', where: [{ key: 'customer', eq: 'B' }] },
    ].map((query) => ({ type: 'x', window: '24h', limit: 50, ...query }));
    const lists = (['graphql-ws', 'SSE'] as const).flatMap((transport) =>
      asked.map((query) => ({ query, live: open(transport, { query }) })),
    );
    const refused = (['graphql-ws', 'SSE'] as const).map((transport) =>
      open(transport, { query: { type: 'y', by: 'customer', window: '1h' } }),
    );
    try {
      for (const { query, live } of lists) {
        await waitUntil(async () => live.items.length > 0 || live.errors.length > 0, 15_000, 'the first top update');
        expect(live.errors).toEqual([]);
        const update = live.items[0]!.top;
        expectNoLeak(update, `live top ${JSON.stringify(query)}`);
        // The first update equals the token's own top query over the same window, entry for entry.
        const { window: _window, ...topQuery } = query;
        const answered = expectData(
          await run('HTTP', tokenA, TOP_QUERY, { query: { ...topQuery, from: update.from, to: update.to } }),
          'top over the window',
        );
        expect(update.entries, JSON.stringify(query)).toEqual(answered.top);
        const keys: string[] = update.entries.map((entry: { key: string }) => entry.key);
        if (query.by === 'customer')
          expect(
            keys.every((key) => key === 'A'),
            JSON.stringify(keys),
          ).toBe(true);
      }
      for (const live of refused) {
        await waitUntil(async () => live.errors.length > 0 || live.completed, 10_000, 'the refusal');
        expect(live.errors[0]?.extensions?.code, JSON.stringify(live.errors)).toBe('FORBIDDEN');
        expect(live.items).toEqual([]);
      }
    } finally {
      for (const { live } of lists) live.stop();
      for (const live of refused) live.stop();
    }
    await expectHealthy(server);
  });

  it('a token without READ reads nothing', async () => {
    const ingestOnly = await mintOk(keys.tKey, {
      scopes: ['INGEST'],
      expiresIn: '1h',
      types: ['x'],
      where: [{ key: 'customer', eq: 'A' }],
    });
    for (const transport of TRANSPORTS) {
      for (const query of [EVENTS_QUERY, EVENT_TYPES_QUERY, QUARANTINE_QUERY]) {
        const answer = await run(transport, ingestOnly, query, {});
        expectError(answer, 'FORBIDDEN', `INGEST-only ${transport}`);
        expect(answer.errors?.[0]?.extensions?.requiredScope).toBe('READ');
      }
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Live: subscriptions open while other customers' and types' events arrive.

  it('live subscriptions through the token, on graphql-ws and SSE, receive A x events only, from any cursor', async () => {
    const keyCursor = (await asKey(keys.tKey, EVENTS_QUERY, { first: 0 })).events.streamCursor as string;
    const open = (transport: 'graphql-ws' | 'SSE', query: string, variables: Record<string, unknown>) => {
      recordSelections(query, transport);
      return clients.open(transport, tokenA, query, variables);
    };
    // The key's subscriptions with the very documents and variables the token's use, opened first:
    // a result shared between subscribers of one operation must never reach a narrower slice.
    const keyLive = (['graphql-ws', 'SSE'] as const).flatMap((transport) => [
      { name: `key ${transport} events`, live: clients.open(transport, keys.tKey, LIVE_EVENTS, {}) },
      {
        name: `key ${transport} series`,
        live: clients.open(transport, keys.tKey, LIVE_SERIES, { query: { type: 'x', interval: 'MINUTE', value: 'amount' } }),
      },
    ]);
    await waitUntil(
      async () => (await asKey(keys.tKey, '{ streamStatus { liveSubscriptions } }')).streamStatus.liveSubscriptions === keyLive.length,
      15_000,
      "the key's live subscriptions",
    );
    const subscriptions = (['graphql-ws', 'SSE'] as const).flatMap((transport) => [
      { name: `${transport} events`, live: open(transport, LIVE_EVENTS, {}) },
      { name: `${transport} events of B`, live: open(transport, LIVE_EVENTS, { filter: { where: [{ key: 'customer', eq: 'B' }] } }) },
      { name: `${transport} events of x and y`, live: open(transport, LIVE_EVENTS, { filter: { types: ['x', 'y'] } }) },
      {
        name: `${transport} series of B`,
        live: open(transport, LIVE_SERIES, { query: { type: 'x', interval: 'MINUTE', where: [{ key: 'customer', eq: 'B' }] } }),
      },
      {
        name: `${transport} events in A, B`,
        live: open(transport, LIVE_EVENTS, { filter: { types: ['x'], where: [{ key: 'customer', in: ['A', 'B'] }] } }),
      },
      { name: `${transport} series`, live: open(transport, LIVE_SERIES, { query: { type: 'x', interval: 'MINUTE', value: 'amount' } }) },
      {
        name: `${transport} series by customer`,
        live: open(transport, LIVE_SERIES, { query: { type: 'x', interval: 'MINUTE', groupBy: 'customer' } }),
      },
    ]);
    const refused = (['graphql-ws', 'SSE'] as const).flatMap((transport) => [
      open(transport, LIVE_EVENTS, { filter: { types: ['y'] } }),
      open(transport, LIVE_SERIES, { query: { type: 'y', interval: 'MINUTE' } }),
    ]);
    await waitUntil(
      async () =>
        (await asKey(keys.tKey, '{ streamStatus { liveSubscriptions } }')).streamStatus.liveSubscriptions ===
        keyLive.length + subscriptions.length,
      15_000,
      `${subscriptions.length} live subscriptions`,
    );
    for (const live of refused) {
      await waitUntil(async () => live.errors.length > 0 || live.completed, 10_000, 'the refusal');
      expect(live.errors[0]?.extensions?.code, JSON.stringify(live.errors)).toBe('FORBIDDEN');
      expect(live.items).toEqual([]);
    }

    const at = Date.now() - 1_000;
    const liveSeed = (tenant: 'T' | 'U', id: string, type: string, customer: string | null, amount: number): Seed => ({
      tenant,
      id,
      type,
      timestamp: at,
      dimensions: customer === 'A' ? { customer: 'A' } : customer === 'B' ? { customer: 'B', plan: 'gold' } : { region: 'north' },
      values: customer === 'B' ? { amount, bSecret: 7 } : { amount },
      distinct: { user: `${customer}-user-live` },
      properties: { note: `${customer}-note` },
      source: `src-${customer}`,
    });
    await ingestAs(keys.tKey, [
      liveSeed('T', 'live-x-B', 'x', 'B', 1100),
      liveSeed('T', 'live-y-A', 'y', 'A', 11),
      liveSeed('T', 'live-x-none', 'x', null, 12),
    ]);
    await ingestAs(keys.uKey, [liveSeed('U', 'live-x-A', 'x', 'A', 9100)]);
    await waitForProcessing();
    const sentinel = liveSeed('T', 'live-x-A-sentinel', 'x', 'A', 13);
    await ingestAs(keys.tKey, [sentinel]);
    await waitForProcessing();

    const eventSubscriptions = subscriptions.filter(
      (s) => s.name.endsWith('events') || s.name.endsWith('A, B') || s.name.endsWith('x and y'),
    );
    for (const { name, live } of eventSubscriptions) {
      await waitUntil(async () => live.items.length >= 1 || live.errors.length > 0, 15_000, `${name} to receive the sentinel`);
      expect(live.errors, name).toEqual([]);
      expectNoLeak(live.items, name);
      expect(
        live.items.map((item) => item.events.node.id),
        name,
      ).toEqual([sentinel.id]);
      expectSliceEvent(live.items[0].events.node, sentinel, name);
      expect(live.items[0].events.node.typeInfo, name).toEqual(sliceTypeInfo());
    }
    const sentinelCount = sliceEvents().filter((e) => minuteOf(e.timestamp) === minuteOf(at)).length;
    for (const { name, live } of subscriptions.filter((s) => s.name.includes('series') && !s.name.endsWith('of B'))) {
      await waitUntil(
        async () => live.items.some((item) => item.series.point.start === iso(minuteOf(at)) && item.series.point.count === sentinelCount),
        15_000,
        `${name} to show the sentinel's bucket`,
      );
      expect(live.errors, name).toEqual([]);
      expectNoLeak(live.items, name);
      for (const item of live.items) {
        const start = Date.parse(item.series.point.start);
        const inBucket = sliceEvents().filter((e) => minuteOf(e.timestamp) === start);
        // Before the sentinel, the bucket held one event fewer; never more than the slice's.
        expect(item.series.point.count, `${name} ${item.series.point.start}`).toBeLessThanOrEqual(inBucket.length);
        if (name.endsWith('customer')) expect(item.series.group).toBe('A');
      }
    }
    // The control: the key's identical subscriptions did receive the others' events.
    for (const { name, live } of keyLive.filter((s) => s.name.endsWith('events'))) {
      await waitUntil(
        async () => live.items.some((item) => item.events.node.id === sentinel.id),
        15_000,
        `${name} to receive the sentinel`,
      );
      expect(live.items.map((item) => item.events.node.id).sort(), name).toEqual([
        'live-x-A-sentinel',
        'live-x-B',
        'live-x-none',
        'live-y-A',
      ]);
    }
    const wholeCount = counted().filter((e) => e.type === 'x' && minuteOf(e.timestamp) === minuteOf(at)).length;
    for (const { name, live } of keyLive.filter((s) => s.name.endsWith('series'))) {
      await waitUntil(
        async () => live.items.some((item) => item.series.point.start === iso(minuteOf(at)) && item.series.point.count === wholeCount),
        15_000,
        `${name} to count every x event of the bucket`,
      );
    }
    const ofB = subscriptions.filter((s) => s.name.endsWith('of B'));
    for (const { name, live } of ofB) expect([live.items, live.errors], name).toEqual([[], []]);

    // Replays from the key's stream cursor, taken before the leaks: the sentinel only.
    const replays = (['graphql-ws', 'SSE'] as const).map((transport) => ({
      transport,
      live: open(transport, LIVE_EVENTS, { after: keyCursor }),
    }));
    recordSelections(LIVE_EVENTS, 'SSE');
    const rawSse = await openRawSse(server.url, tokenA, LIVE_EVENTS, {}, keyCursor);
    for (const { transport, live } of replays) {
      await waitUntil(async () => live.items.length >= 1 || live.errors.length > 0, 15_000, `${transport} replay`);
      expectNoLeak(live.items, `${transport} replay`);
      expect(
        live.items.map((item) => item.events.node.id),
        transport,
      ).toEqual([sentinel.id]);
    }
    await waitUntil(async () => rawSse.events.length >= 1, 15_000, 'Last-Event-ID replay');
    // A second sentinel, processed after everything else: whatever the replays were to leak came before it.
    const second = liveSeed('T', 'live-x-A-sentinel-2', 'x', 'A', 14);
    await ingestAs(keys.tKey, [second]);
    for (const { transport, live } of replays) {
      await waitUntil(async () => live.items.length >= 2 || live.errors.length > 0, 15_000, `${transport} replay, second sentinel`);
      expectNoLeak(live.items, `${transport} replay`);
      expect(
        live.items.map((item) => item.events.node.id),
        transport,
      ).toEqual([sentinel.id, second.id]);
    }
    await waitUntil(async () => rawSse.events.length >= 2, 15_000, 'Last-Event-ID replay, second sentinel');
    expectNoLeak(rawSse.events, 'Last-Event-ID replay');
    expect(rawSse.events.map((event) => event.data.data?.events.node.id)).toEqual([sentinel.id, second.id]);
    rawSse.close();
    for (const { live } of [...keyLive, ...subscriptions, ...replays]) live.stop();
    for (const live of refused) live.stop();
  }, 90_000);

  // ---------------------------------------------------------------------------------------------
  // Live connections outliving what their token allows.

  /** The tenant's live subscriptions on this instance, as its key counts them. */
  const liveCount = async () => (await asKey(keys.tKey, '{ streamStatus { liveSubscriptions } }')).streamStatus.liveSubscriptions as number;

  /** Reads frames until `done` says the collected ones suffice. */
  async function framesUntil(session: Awaited<ReturnType<typeof openRawGraphqlWs>>, done: (frames: any[]) => boolean, frames: any[] = []) {
    while (!done(frames)) {
      const frame = await session.next(15_000);
      if (frame === null) break;
      frames.push(frame);
    }
    return frames;
  }

  it("a graphql-ws connection refreshed to another customer's token ends the subscriptions of the first, which see nothing more", async () => {
    // Earlier tests' subscriptions released first, so the count below is this test's own.
    await waitUntil(async () => (await liveCount()) === 0, 15_000, 'no live subscription');
    const before = 0;
    const session = await openRawGraphqlWs(server, { init: `Bearer ${tokenA}` });
    recordSelections(LIVE_EVENTS, 'graphql-ws');
    session.socket.send(JSON.stringify({ id: 'a', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: {} } }));
    await waitUntil(async () => (await liveCount()) === before + 1, 15_000, 'the subscription');
    const tokenB = await mintOk(keys.tKey, { scopes: ['READ'], expiresIn: '1h', types: ['x'], where: [{ key: 'customer', eq: 'B' }] });
    session.socket.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${tokenB}` } }));
    const frames = await framesUntil(
      session,
      (seen) => seen.some((f) => f.type === 'pong') && seen.some((f) => f.id === 'a' && (f.type === 'error' || f.type === 'complete')),
    );
    const ended = frames.find((f) => f.id === 'a' && f.type === 'error');
    expect(ended?.payload?.[0]?.extensions?.code, JSON.stringify(frames)).toBe('FORBIDDEN');
    expect(frames.filter((f) => f.type === 'next')).toEqual([]);
    // New operations run as B's token: B's events, never A's through the old subscription.
    session.socket.send(JSON.stringify({ id: 'b', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: {} } }));
    await waitUntil(async () => (await liveCount()) === before + 1, 15_000, "B's subscription alone");
    const at = Date.now() - 1_000;
    const aEvent: Seed = { ...sliceEvents()[0]!, id: 'refresh-x-A', timestamp: at };
    await ingestAs(keys.tKey, [aEvent]);
    await waitForProcessing();
    await ingestAs(keys.tKey, [
      { ...aEvent, id: 'refresh-x-B', dimensions: { customer: 'B', plan: 'gold' }, values: { amount: 1200, bSecret: 7 } },
    ]);
    const later = await framesUntil(session, (seen) => seen.some((f) => f.type === 'next'));
    expect(later.map((f) => [f.id, f.type, f.payload?.data?.events?.node?.id])).toEqual([['b', 'next', 'refresh-x-B']]);
    session.socket.close();
  });

  it('a refresh cannot move a graphql-ws connection to another tenant, nor to a forged token', async () => {
    const uToken = await mintOk(keys.uKey, { scopes: ['READ'], expiresIn: '1h', types: ['x'] });
    const forged = writeToken({ ...splitToken(tokenA).payload, typ: null, whr: [] }, 'attacker-secret-0123456789abcdefghijklmnopqrs');
    for (const [name, credential] of [
      ["tenant U's token", uToken],
      ["tenant U's API key", keys.uKey],
      ['a token signed with another secret', forged],
      ['a truncated token', tokenA.slice(0, -3)],
    ] as const) {
      const session = await openRawGraphqlWs(server, { init: `Bearer ${tokenA}` });
      session.socket.send(JSON.stringify({ id: 'q', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: {} } }));
      session.socket.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${credential}` } }));
      const frames = await framesUntil(session, () => false);
      const closed = await session.closed;
      expect([closed.code, frames.filter((f) => f.type === 'next' || f.type === 'pong')], name).toEqual([4403, []]);
    }
  });

  it('an open subscription ends with TOKEN_EXPIRED when its token expires, on graphql-ws and SSE, and delivers nothing after', async () => {
    // Earlier tests' subscriptions released first, so the count below is this test's own.
    await waitUntil(async () => (await liveCount()) === 0, 15_000, 'no live subscription');
    const before = 0;
    const minted = expectData(
      await mint(keys.tKey, { scopes: ['READ'], expiresIn: '3s', types: ['x'], where: [{ key: 'customer', eq: 'A' }] }),
      'mint 3s',
    ).createAccessToken;
    const session = await openRawGraphqlWs(server, { init: `Bearer ${minted.token}` });
    recordSelections(LIVE_EVENTS, 'graphql-ws');
    session.socket.send(JSON.stringify({ id: 'e', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: {} } }));
    const sse = await openRawSse(server.url, minted.token, LIVE_EVENTS, {}, null);
    await waitUntil(async () => (await liveCount()) === before + 2, 15_000, 'both subscriptions');
    const frames = await framesUntil(session, (seen) => seen.some((f) => f.id === 'e' && f.type !== 'next'));
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(minted.expiresAt));
    const ended = frames.find((f) => f.id === 'e' && f.type === 'error');
    expect(ended?.payload?.[0]?.extensions?.code, JSON.stringify(frames)).toBe('TOKEN_EXPIRED');
    await sse.ended;
    expect(sse.events.map((event) => event.data.errors?.[0]?.extensions?.code ?? 'data')).toEqual(['TOKEN_EXPIRED']);
    // Nothing after: an event of the slice finds no one (the count of live subscriptions is back).
    await waitUntil(async () => (await liveCount()) === before, 15_000, 'the subscriptions released');
    const after: Seed = { ...sliceEvents()[0]!, id: 'after-expiry-x-A', timestamp: Date.now() - 1_000 };
    await ingestAs(keys.tKey, [after]);
    await waitForProcessing();
    expect(frames.filter((f) => f.type === 'next')).toEqual([]);
    session.socket.close();
  });

  it("revoking the minting key ends its tokens' open subscriptions with UNAUTHENTICATED", async () => {
    // Earlier tests' subscriptions released first, so the count below is this test's own.
    await waitUntil(async () => (await liveCount()) === 0, 15_000, 'no live subscription');
    const before = 0;
    const created = (await asKey(keys.tAdmin, CREATE_API_KEY, { tenant: TENANT_T, scopes: ['READ'] })).createApiKey;
    const token = await mintOk(created.key, { scopes: ['READ'], expiresIn: '1h', types: ['x'], where: [{ key: 'customer', eq: 'A' }] });
    const session = await openRawGraphqlWs(server, { init: `Bearer ${token}` });
    session.socket.send(JSON.stringify({ id: 'r', type: 'subscribe', payload: { query: LIVE_EVENTS, variables: {} } }));
    const sse = await openRawSse(server.url, token, LIVE_EVENTS, {}, null);
    await waitUntil(async () => (await liveCount()) === before + 2, 15_000, 'both subscriptions');
    await asKey(keys.tAdmin, REVOKE_API_KEY, { id: created.apiKey.id });
    const frames = await framesUntil(session, (seen) => seen.some((f) => f.id === 'r' && f.type !== 'next'));
    expect(frames.find((f) => f.id === 'r' && f.type === 'error')?.payload?.[0]?.extensions?.code, JSON.stringify(frames)).toBe(
      'UNAUTHENTICATED',
    );
    await sse.ended;
    expect(sse.events.map((event) => event.data.errors?.[0]?.extensions?.code ?? 'data')).toEqual(['UNAUTHENTICATED']);
    session.socket.close();
  });

  it('two tokens of different customers on the same live operations each get their own slice (HOUR and DAY, grouped)', async () => {
    await waitUntil(async () => (await liveCount()) === 0, 15_000, 'no live subscription');
    const tokenB = await mintOk(keys.tKey, { scopes: ['READ'], expiresIn: '1h', types: ['x'], where: [{ key: 'customer', eq: 'B' }] });
    const grouped = { query: { type: 'x', interval: 'HOUR', groupByDimensions: ['customer', 'plan'] } };
    const daily = { query: { type: 'x', interval: 'DAY', value: 'amount' } };
    const open = (token: string, query: string, variables: Record<string, unknown>) => {
      recordSelections(query, 'graphql-ws');
      return clients.open('graphql-ws', token, query, variables);
    };
    const a = {
      events: open(tokenA, LIVE_EVENTS, {}),
      grouped: open(tokenA, LIVE_SERIES, grouped),
      daily: open(tokenA, LIVE_SERIES, daily),
    };
    const b = {
      events: open(tokenB, LIVE_EVENTS, {}),
      grouped: open(tokenB, LIVE_SERIES, grouped),
      daily: open(tokenB, LIVE_SERIES, daily),
    };
    try {
      await waitUntil(async () => (await liveCount()) === 6, 15_000, 'six subscriptions');
      const at = Date.now() - 1_000;
      const aEvent: Seed = { ...sliceEvents()[0]!, id: 'shared-x-A', timestamp: at, values: { amount: 21 } };
      const bEvent: Seed = {
        ...aEvent,
        id: 'shared-x-B',
        dimensions: { customer: 'B', plan: 'gold' },
        values: { amount: 1400, bSecret: 7 },
      };
      await ingestAs(keys.tKey, [aEvent, bEvent]);
      await waitForProcessing();
      const hourOf = (ms: number) => Math.floor(ms / 3_600_000) * 3_600_000;
      const dayOf = (ms: number) => Math.floor(ms / 86_400_000) * 86_400_000;
      const held = (customer: string, bucket: (ms: number) => number) =>
        counted().filter((e) => e.type === 'x' && e.dimensions.customer === customer && bucket(e.timestamp) === bucket(at));
      for (const [name, subs, customer, group] of [
        ['A', a, 'A', 'A, '],
        ['B', b, 'B', 'B, gold'],
      ] as const) {
        await waitUntil(async () => subs.events.items.length >= 1, 15_000, `${name}'s event`);
        await waitUntil(
          async () => subs.grouped.items.some((item) => item.series.point.count === held(customer, hourOf).length),
          15_000,
          `${name}'s hour`,
        );
        await waitUntil(
          async () => subs.daily.items.some((item) => item.series.point.count === held(customer, dayOf).length),
          15_000,
          `${name}'s day`,
        );
        expect(
          subs.events.items.map((item) => item.events.node.id),
          name,
        ).toEqual([`shared-x-${customer}`]);
        expect([...new Set(subs.grouped.items.map((item) => item.series.group))], name).toEqual([group]);
        const daySum = held(customer, dayOf).reduce((n, e) => n + e.values.amount!, 0);
        expect(subs.daily.items.at(-1).series.point.sum, name).toBe(daySum);
        for (const sub of Object.values(subs)) expect(sub.errors, name).toEqual([]);
      }
      expectNoLeak([a.events.items, a.grouped.items, a.daily.items], "A's live items");
    } finally {
      for (const sub of [...Object.values(a), ...Object.values(b)]) sub.stop();
    }
  });

  /**
   * What a holder can read out of a stream cursor: its log positions ([partition, offset] pairs),
   * or null when the cursor does not show them (sealed, opaque).
   */
  function readablePositions(cursor: string): unknown {
    try {
      const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
      return Array.isArray(parts) && Array.isArray(parts[1]) ? parts[1] : null;
    } catch {
      return null;
    }
  }

  it("stream cursors given to the token do not count other customers' events (no volume of B or y shows)", async () => {
    const streamCursor = async () =>
      expectData(await run('HTTP', tokenA, 'query { events(first: 0) { streamCursor } }'), 'streamCursor').events.streamCursor as string;
    await waitUntil(async () => (await liveCount()) === 0, 15_000, 'no live subscription');
    const first = await streamCursor();
    const live = clients.open('graphql-ws', tokenA, LIVE_EVENTS, {});
    await waitUntil(async () => (await liveCount()) === 1, 15_000, 'the subscription');
    const at = Date.now() - 1_000;
    const template: Seed = { ...sliceEvents()[0]!, timestamp: at };
    await ingestAs(keys.tKey, [{ ...template, id: 'volume-x-A-1' }]);
    await waitForProcessing();
    const afterOne = await streamCursor();
    // Ten events of other customers and types, processed between two of the slice's.
    const others = Array.from(
      { length: 10 },
      (_, i): Seed => ({
        ...template,
        id: `volume-other-${i}`,
        ...(i % 2 === 0 ? { dimensions: { customer: 'B', plan: 'gold' }, values: { amount: 1300 + i, bSecret: 7 } } : { type: 'y' }),
      }),
    );
    await ingestAs(keys.tKey, others);
    await waitForProcessing();
    const afterOthers = await streamCursor();
    await ingestAs(keys.tKey, [{ ...template, id: 'volume-x-A-2' }]);
    await waitUntil(async () => live.items.length >= 2 || live.errors.length > 0, 15_000, 'both slice events');
    live.stop();
    expect(live.items.map((item) => item.events.node.id)).toEqual(['volume-x-A-1', 'volume-x-A-2']);
    // The positions the token can read move with the slice's events only: between afterOne and
    // afterOthers only others arrived, so they must not differ (or not be readable at all).
    const readable = [first, afterOne, afterOthers].map(readablePositions);
    if (readable[1] !== null || readable[2] !== null) {
      expect
        .soft(readable[2], `streamCursor positions after 10 events outside the slice: ${JSON.stringify(readable)}`)
        .toEqual(readable[1]);
    }
    const [edgeOne, edgeTwo] = live.items.map((item) => readablePositions(item.events.cursor)) as [unknown, unknown];
    if (edgeOne !== null || edgeTwo !== null) {
      const offsets = (positions: unknown) => (positions as [number, number][]).reduce((sum, [, offset]) => sum + offset, 0);
      // Two consecutive events of the slice: one record apart, whatever else the partition holds.
      expect.soft(offsets(edgeTwo) - offsets(edgeOne), `edge cursors ${JSON.stringify([edgeOne, edgeTwo])}`).toBe(1);
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Another tenant's data.

  it.each(TRANSPORTS)('a token of tenant T over %s cannot name tenant U: nothing of U appears', async (transport) => {
    // U's ids collide with T's A events: the token sees T's, never U's numbers.
    for (const seed of counted('U')) {
      const data = expectData(await run(transport, tokenA, EVENT_QUERY, { id: seed.id }), seed.id);
      expectNoLeak(data, `U's ${seed.id}`);
      const mine = counted().find((t) => t.id === seed.id && inSliceA(t));
      if (mine) expect(data.event.values).toEqual(mine.values);
      else expect(data.event).toBeNull();
    }
    // A tenant argument is not part of any field a token may use.
    expectError(await run(transport, tokenA, CREATE_API_KEY, { tenant: TENANT_U, scopes: ['READ'] }), 'FORBIDDEN', 'createApiKey U');
    expectError(await run(transport, tokenA, SET_ASIDE_QUERY, { all: true }), 'FORBIDDEN', 'setAsideRecords all');
    // And a token minted by U's key, over T's data, sees U's slice only.
    const uToken = await mintOk(keys.uKey, { scopes: ['READ'], expiresIn: '1h', types: ['x'], where: [{ key: 'customer', eq: 'A' }] });
    const data = expectData(await run(transport, uToken, EVENTS_QUERY, { first: 1000 }), 'U token events');
    expect(
      data.events.edges.map((edge: any) => edge.node.values.amount),
      JSON.stringify(data.events.pageInfo),
    ).toEqual(
      counted('U')
        .filter(inSliceA)
        .sort(newestFirst)
        .map((seed) => seed.values.amount),
    );
  });

  // ---------------------------------------------------------------------------------------------
  // Minting: a token never has more than its key.

  it('a key cannot mint more than it has, and a token cannot mint at all', async () => {
    const slice = { types: ['x'], where: [{ key: 'customer', eq: 'A' }] };
    const cases: [string, string, Record<string, unknown>, string][] = [
      ['READ key asks for INGEST', keys.tRead, { scopes: ['INGEST'], expiresIn: '1h' }, 'FORBIDDEN'],
      ['READ key asks for READ and INGEST', keys.tRead, { scopes: ['READ', 'INGEST'], expiresIn: '1h' }, 'FORBIDDEN'],
      // ADMIN is never a token's scope (READ and/or INGEST): an input error, whatever the key holds.
      ['READ+INGEST key asks for ADMIN', keys.tKey, { scopes: ['ADMIN'], expiresIn: '1h' }, 'BAD_USER_INPUT'],
      ['READ+INGEST key asks for ADMIN and READ', keys.tKey, { scopes: ['READ', 'ADMIN'], expiresIn: '1h' }, 'BAD_USER_INPUT'],
      ['ADMIN key asks for ADMIN', keys.tAdmin, { scopes: ['ADMIN'], expiresIn: '1h' }, 'BAD_USER_INPUT'],
      ['ADMIN key asks for READ', keys.tAdmin, { scopes: ['READ'], expiresIn: '1h' }, 'FORBIDDEN'],
      ['a token mints a token', tokenA, { scopes: ['READ'], expiresIn: '1h', ...slice }, 'FORBIDDEN'],
      ['an ingest token mints a token', tokenAIngest, { scopes: ['READ'], expiresIn: '1m', ...slice }, 'FORBIDDEN'],
      [
        'queriesPerSecond above the key',
        keys.tKey,
        { scopes: ['READ'], expiresIn: '1h', queriesPerSecond: QUERY_RATE_PER_KEY + 1 },
        'BAD_USER_INPUT',
      ],
      [
        'eventsPerSecond above the key',
        keys.tKey,
        { scopes: ['INGEST'], expiresIn: '1h', eventsPerSecond: INGEST_RATE_PER_KEY + 1 },
        'BAD_USER_INPUT',
      ],
      ['queriesPerSecond 0', keys.tKey, { scopes: ['READ'], expiresIn: '1h', queriesPerSecond: 0 }, 'BAD_USER_INPUT'],
      ['eventsPerSecond negative', keys.tKey, { scopes: ['INGEST'], expiresIn: '1h', eventsPerSecond: -1 }, 'BAD_USER_INPUT'],
      ['no scope', keys.tKey, { scopes: [], expiresIn: '1h' }, 'BAD_USER_INPUT'],
      ['longer than 24h', keys.tKey, { scopes: ['READ'], expiresIn: '25h' }, 'BAD_USER_INPUT'],
      ['24h and a second', keys.tKey, { scopes: ['READ'], expiresIn: '86401s' }, 'BAD_USER_INPUT'],
      ['no duration', keys.tKey, { scopes: ['READ'], expiresIn: '' }, 'BAD_USER_INPUT'],
      ['a negative duration', keys.tKey, { scopes: ['READ'], expiresIn: '-1h' }, 'BAD_USER_INPUT'],
      ['a zero duration', keys.tKey, { scopes: ['READ'], expiresIn: '0s' }, 'BAD_USER_INPUT'],
      ['a word', keys.tKey, { scopes: ['READ'], expiresIn: 'forever' }, 'BAD_USER_INPUT'],
      ['a lone surrogate duration', keys.tKey, { scopes: ['READ'], expiresIn: '1\ud800h' }, 'BAD_USER_INPUT'],
      ['a 100 KB duration', keys.tKey, { scopes: ['READ'], expiresIn: '1'.repeat(100_000) + 's' }, 'BAD_USER_INPUT'],
      ['a __proto__ where key', keys.tKey, { scopes: ['READ'], expiresIn: '1h', where: [{ key: '__proto__', eq: 'A' }] }, 'BAD_USER_INPUT'],
      [
        'a where with two operators',
        keys.tKey,
        { scopes: ['READ'], expiresIn: '1h', where: [{ key: 'customer', eq: 'A', neq: 'B' }] },
        'BAD_USER_INPUT',
      ],
      [
        'a where with a lone surrogate',
        keys.tKey,
        { scopes: ['READ'], expiresIn: '1h', where: [{ key: 'customer', eq: 'A\udc00' }] },
        'BAD_USER_INPUT',
      ],
      ['a type with a lone surrogate', keys.tKey, { scopes: ['READ'], expiresIn: '1h', types: ['x\ud800'] }, 'BAD_USER_INPUT'],
      ['a type ingest would refuse', keys.tKey, { scopes: ['READ'], expiresIn: '1h', types: ['x y'] }, 'BAD_USER_INPUT'],
      ['an empty types list', keys.tKey, { scopes: ['READ'], expiresIn: '1h', types: [] }, 'BAD_USER_INPUT'],
      ['a millisecond over 24h', keys.tKey, { scopes: ['READ'], expiresIn: '86400001ms' }, 'BAD_USER_INPUT'],
      [
        'two conditions of one key and operator',
        keys.tKey,
        {
          scopes: ['READ'],
          expiresIn: '1h',
          where: [
            { key: 'customer', eq: 'A' },
            { key: 'customer', eq: 'B' },
          ],
        },
        'BAD_USER_INPUT',
      ],
      [
        '21 conditions',
        keys.tKey,
        { scopes: ['READ'], expiresIn: '1h', where: Array.from({ length: 21 }, (_, i) => ({ key: `k${i}`, exists: true })) },
        'QUERY_TOO_LARGE',
      ],
      [
        '101 values in one list',
        keys.tKey,
        { scopes: ['READ'], expiresIn: '1h', where: [{ key: 'customer', in: Array.from({ length: 101 }, (_, i) => `c${i}`) }] },
        'QUERY_TOO_LARGE',
      ],
      [
        'a slice too long for a token (over 8,192 characters)',
        keys.tKey,
        {
          scopes: ['READ'],
          expiresIn: '1h',
          where: [{ key: 'customer', in: Array.from({ length: 100 }, (_, i) => `${i}`.padEnd(100, 'v')) }],
        },
        'BAD_USER_INPUT',
      ],
    ];
    const answers: [string, unknown][] = [];
    for (const [name, credential, input] of cases) {
      const answer = await mint(credential, input);
      expect(answer.data ?? null, name).toBeNull();
      answers.push([name, answer.errors?.[0]?.extensions?.code]);
    }
    // One comparison of the whole table, so a failure shows every case at once.
    expect(answers).toEqual(cases.map(([name, , , code]) => [name, code]));
    // The bootstrap admin belongs to no tenant: it has no data to slice.
    expectError(await mint(ADMIN_KEY, { scopes: ['READ'], expiresIn: '1h' }), 'FORBIDDEN', 'bootstrap admin mints');
    // Within the key, a token's answer echoes what it holds.
    const minted = expectData(
      await mint(keys.tKey, {
        scopes: ['READ'],
        expiresIn: '15m',
        types: ['x'],
        where: [{ key: 'customer', eq: 'A' }],
        queriesPerSecond: QUERY_RATE_PER_KEY,
      }),
      'mint',
    ).createAccessToken;
    expect([minted.scopes, minted.types]).toEqual([['READ'], ['x']]);
    const expiresIn = Date.parse(minted.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(14 * MINUTE);
    expect(expiresIn).toBeLessThanOrEqual(15 * MINUTE);
    await expectHealthy(server);
  });

  it('a token sliced on prototype-member keys shows them as plain keys and reads nothing it does not hold', async () => {
    const minted = expectData(
      await mint(keys.tKey, {
        scopes: ['READ'],
        expiresIn: '1h',
        where: [
          { key: 'constructor', eq: 'A' },
          { key: 'toString', exists: true },
          { key: 'hasOwnProperty', in: ['__proto__', 'constructor'] },
        ],
      }),
      'mint prototype keys',
    ).createAccessToken;
    expect(minted.where).toEqual({
      constructor: { eq: 'A' },
      hasOwnProperty: { in: ['__proto__', 'constructor'] },
      toString: { exists: true },
    });
    for (const transport of TRANSPORTS) {
      const data = expectData(
        await run(
          transport,
          minted.token,
          `query { events(first: 1000) { edges { node { id } } } eventTypes { type count }
          top(query: { type: "x", by: "customer", from: "${dataRange.from}", to: "${dataRange.to}" }) { key count } }`,
        ),
        `prototype keys over ${transport}`,
      );
      expect(data).toEqual({ events: { edges: [] }, eventTypes: [], top: [] });
    }
  });

  it('a token of a revoked key is refused', async () => {
    const created = (await asKey(keys.tAdmin, CREATE_API_KEY, { tenant: TENANT_T, scopes: ['READ'] })).createApiKey;
    const token = await mintOk(created.key, { scopes: ['READ'], expiresIn: '1h', types: ['x'] });
    expect(
      expectData((await postGraphql(server.url, token, EVENTS_QUERY, { first: 1 })).answer, 'before revoke').events.edges,
    ).toHaveLength(1);
    await asKey(keys.tAdmin, REVOKE_API_KEY, { id: created.apiKey.id });
    for (const transport of TRANSPORTS) {
      await waitUntil(
        async () => (await clients.run(transport, token, EVENTS_QUERY, { first: 1 })).errors?.[0]?.extensions?.code === 'UNAUTHENTICATED',
        10_000,
        `${transport} to refuse the revoked key's token`,
      );
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Expired and tampered tokens.

  /** Refused with this code over HTTP, SSE and graphql-ws (where connection_init closes 4403). */
  async function expectRefused(credential: string, code: string, name: string): Promise<void> {
    const { status, answer } = await postGraphql(server.url, credential, EVENTS_QUERY, { first: 1000 });
    expect(answer.errors?.[0]?.extensions?.code, `${name} over HTTP (${status}): ${JSON.stringify(answer).slice(0, 300)}`).toBe(code);
    expect(answer.data ?? null, name).toBeNull();
    const sse = await sseOnce(server.url, credential, EVENTS_QUERY, { first: 1000 });
    expect(sse.errors?.[0]?.extensions?.code, `${name} over SSE: ${JSON.stringify(sse).slice(0, 300)}`).toBe(code);
    expect(sse.data ?? null, name).toBeNull();
    const ws = await openRawGraphqlWs(server, { init: `Bearer ${credential}`, expectAck: false });
    const first = await ws.next();
    expect(first, `${name} over graphql-ws`).toBeNull();
    const closed = await ws.closed;
    expect([closed.code, closed.reason.split(':')[0]], name).toEqual([4403, code]);
  }

  it('a token past its expiry is TOKEN_EXPIRED on every transport', async () => {
    const minted = expectData(await mint(keys.tKey, { scopes: ['READ'], expiresIn: '1s', types: ['x'] }), 'mint 1s').createAccessToken;
    await waitUntil(async () => Date.now() > Date.parse(minted.expiresAt) + 50, 5_000, 'the expiry');
    await expectRefused(minted.token, 'TOKEN_EXPIRED', 'expired');
  });

  it('tampered, forged and malformed tokens are UNAUTHENTICATED on every transport', async () => {
    const apiKey = keys.tKey;
    const cases = [...tamperedTokens(tokenA, apiKey)];
    for (const [name, credential] of cases) await expectRefused(credential, 'UNAUTHENTICATED', name);
    // 100 KB: over HTTP the header is over Node's 16 KB bound (431); over graphql-ws it is refused like any bad token.
    const huge = tokenA + 'A'.repeat(100_000);
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${huge}` },
      body: '{"query":"{ eventTypes { type } }"}',
    });
    expect(response.status).toBe(431);
    const ws = await openRawGraphqlWs(server, { init: `Bearer ${huge}`, expectAck: false });
    expect([(await ws.closed).code, (await ws.closed).reason.split(':')[0]]).toEqual([4403, 'UNAUTHENTICATED']);
    // Lone surrogates cannot be sent in an HTTP header; over graphql-ws they reach the server.
    for (const bad of [`${tokenA}\ud800`, `\udc00${tokenA}`, tokenA.slice(0, 10) + '\ud800' + tokenA.slice(11)]) {
      const socket = await openRawGraphqlWs(server, { init: `Bearer ${bad}`, expectAck: false });
      expect([(await socket.closed).code, (await socket.closed).reason.split(':')[0]]).toEqual([4403, 'UNAUTHENTICATED']);
    }
    await expectHealthy(server);
  });

  it("a token forged with the server's own secret is accepted (the suite speaks the format), and still cannot leave the format's bounds", async () => {
    const { payload } = splitToken(tokenA);
    const wider = { ...payload, typ: null, whr: [] };
    const whole = (await asKey(keys.tKey, EVENTS_QUERY, { first: 1000 })).events.edges.map((edge: any) => edge.node.id);
    for (const forged of [writeToken(wider, SIGNING_SECRET), writeToken({ ...wider, kid: 'k2' }, OTHER_SIGNING_SECRET)]) {
      const answer = (await postGraphql(server.url, forged, EVENTS_QUERY, { first: 1000 })).answer;
      expect(expectData(answer, 'forged').events.edges.map((edge: any) => edge.node.id)).toEqual(whole);
    }
    const hour = 3_600_000;
    const issued = Date.now();
    await expectRefused(
      writeToken({ ...payload, iat: issued - 2 * hour, exp: issued - hour }, SIGNING_SECRET),
      'TOKEN_EXPIRED',
      'forged expired',
    );
    for (const [name, forged] of [
      ['ADMIN scope', { ...payload, scp: ['ADMIN'] }],
      ['ADMIN and READ scopes', { ...payload, scp: ['ADMIN', 'READ'] }],
      ['a lifetime over 24h', { ...payload, exp: (payload.iat as number) + 25 * hour }],
      ['a __proto__ condition', { ...payload, whr: [['__proto__', 'eq', 'A']] }],
      ['an unknown operator', { ...payload, whr: [['customer', 'gt', 'A']] }],
      ['a condition as an object', { ...payload, whr: [{ key: 'customer', eq: 'A' }] }],
      ['a lone surrogate type', { ...payload, typ: ['x\ud800'] }],
      ['an extra field', { ...payload, admin: true }],
      ['a __proto__ field', JSON.parse(`{"__proto__": {"scp": ["ADMIN"]}, ${JSON.stringify(payload).slice(1)}`)],
      ['another format version', { ...payload, v: 2 }],
    ] as [string, Record<string, unknown>][]) {
      await expectRefused(writeToken(forged, SIGNING_SECRET), 'UNAUTHENTICATED', `forged ${name}`);
    }
    // Just over the longest token the format allows, still under Node's header bound.
    await expectRefused(writeToken({ ...payload, pad: 'A'.repeat(8_200) }, SIGNING_SECRET), 'UNAUTHENTICATED', 'forged 8 KB');
    await expectHealthy(server);
  });

  it('tried every field of the inventory with a token, over every transport that carries it', () => {
    const missing: string[] = [];
    const fields = [
      ...Object.keys(ROOT_FIELDS),
      ...Object.entries(OBJECT_FIELDS).flatMap(([type, names]) => names.map((name) => `${type}.${name}`)),
    ];
    for (const field of fields) {
      // Subscriptions (and what only they return) travel over graphql-ws and SSE, never plain HTTP.
      const live = field.startsWith('Subscription.') || field.startsWith('SeriesUpdate.') || field.startsWith('TopUpdate.');
      for (const transport of TRANSPORTS) {
        if (live && transport === 'HTTP') continue;
        if (!tried.has(`${field}@${transport}`)) missing.push(`${field}@${transport}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

/**
 * Tokens an attacker builds from a genuine one: a name and the credential. The format-aware
 * cases (payload edited, another secret, kid swapped) need the token's parts; they are filled
 * in from the format the product documents (see formatAwareTamperings).
 */
function tamperedTokens(token: string, apiKey: string): [string, string][] {
  const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
  return [
    ['truncated by one character', token.slice(0, -1)],
    ['truncated to half', token.slice(0, Math.floor(token.length / 2))],
    ['last character flipped', flip(token, token.length - 1)],
    ['middle character flipped', flip(token, Math.floor(token.length / 2))],
    ['doubled', token + token],
    ['empty', ''],
    ['the API key given the token prefix', tokenPrefixOf(token) + apiKey.slice(apiKey.indexOf('_') + 1)],
    ['the token given the API key prefix', apiKey.slice(0, apiKey.indexOf('_') + 1) + token.slice(tokenPrefixOf(token).length)],
    // Two credentials in one header: neither may be picked out of it.
    ['the token, then the API key', `${token}, Bearer ${apiKey}`],
    ['the API key, then the token', `${apiKey}, Bearer ${token}`],
    ['the token and the API key, space-separated', `${token} ${apiKey}`],
    ['the token with a tab before the API key', `${token}\tBearer ${apiKey}`],
    ...formatAwareTamperings(token),
  ];
}

/** Everything up to and including the token's first underscore (its type prefix), if any. */
function tokenPrefixOf(token: string): string {
  const underscore = token.indexOf('_');
  return underscore >= 0 && underscore < 8 ? token.slice(0, underscore + 1) : '';
}

/**
 * The documented format: `slt_<base64url JSON payload>.<base64url HMAC-SHA256(secret of kid,
 * "slt_" + payload)>`, the payload holding `kid`, `ten` (tenant), `typ`, `whr`, `exp`… The
 * suite's server runs with known secrets, so it can both forge (to prove it speaks the format:
 * see "a token forged with the server's own secret") and tamper.
 */
interface TokenParts {
  payload: Record<string, unknown>;
  signature: string;
}

function splitToken(token: string): TokenParts {
  const [encoded, signature] = token.slice('slt_'.length).split('.') as [string, string];
  return { payload: JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as Record<string, unknown>, signature };
}

function writeToken(payload: Record<string, unknown>, secret: string | null, signature?: string): string {
  const signed = `slt_${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}`;
  return `${signed}.${signature ?? createHmac('sha256', secret!).update(signed).digest('base64url')}`;
}

/** Standard base64 that differs from base64url: padded, so the token's text changes even when no + or / occurs. */
function standardBase64(bytes: Buffer): string {
  const text = bytes.toString('base64');
  return text.endsWith('=') || text !== bytes.toString('base64url') ? text : `${text}=`;
}

function formatAwareTamperings(token: string): [string, string][] {
  const { payload, signature } = splitToken(token);
  const wider = { ...payload, typ: null, whr: [] };
  const encodedPayload = token.slice('slt_'.length).split('.')[0]!;
  return [
    ['payload widened (no types, no where), signature kept', writeToken(wider, null, signature)],
    ['payload moved to customer B, signature kept', writeToken({ ...payload, whr: [['customer', 'eq', 'B']] }, null, signature)],
    ['payload moved to tenant U, signature kept', writeToken({ ...payload, ten: TENANT_U }, null, signature)],
    ['expiry pushed out, signature kept', writeToken({ ...payload, exp: (payload.exp as number) + 3_600_000 }, null, signature)],
    ['payload widened, signed with a secret the server does not hold', writeToken(wider, 'attacker-secret-0123456789abcdefghijklmnopqrs')],
    ['kid swapped to the other verifying key, signed with the first', writeToken({ ...wider, kid: 'k2' }, SIGNING_SECRET)],
    ['kid unknown to the server', writeToken({ ...wider, kid: 'k3' }, SIGNING_SECRET)],
    ['kid removed', writeToken(Object.fromEntries(Object.entries(wider).filter(([field]) => field !== 'kid')), SIGNING_SECRET.slice(1))],
    ['alg none: empty signature', `slt_${encodedPayload}.`],
    ['alg none: a JWT-style header in front', `slt_${Buffer.from('{"alg":"none"}').toString('base64url')}.${encodedPayload}.`],
    [
      'an extra alg field, signed with another secret',
      writeToken({ ...wider, alg: 'none' }, 'attacker-secret-0123456789abcdefghijklmnopqrs'),
    ],
    ['the signature of another token', writeToken(wider, null, splitToken(writeToken(wider, 'x'.repeat(43))).signature)],
    ['standard base64 with padding', `slt_${standardBase64(Buffer.from(JSON.stringify(payload)))}.${signature}`],
    ['no prefix', token.slice('slt_'.length)],
    ['upper-case prefix', `SLT_${token.slice('slt_'.length)}`],
    ['prefix doubled', `slt_${token}`],
    ['whitespace inside', `${token.slice(0, 20)} ${token.slice(20)}`],
  ];
}

// ---------------------------------------------------------------------------------------------
// The property: for random events and random slices, what a token reads is exactly the
// whole-tenant answer passed through the oracle of the slice's meaning.

const PROPERTY_TYPES = ['p', 'q', 'r'];
const PROPERTY_KEYS = [
  'customer',
  'plan',
  ...PROTOTYPE_MEMBER_KEYS.filter((key) => ['constructor', 'toString', 'hasOwnProperty'].includes(key)),
];
const PROPERTY_VALUES: (string | number | boolean)[] = ['A', 'B', '__proto__', 'constructor', '1', 1, true, 'true'];

/** The oracle's `top`: the slice's events of the type that carry `by`, counted per value's text, as a set. */
function oracleTop(
  events: { type: string; dimensions: Record<string, unknown> }[],
  slice: OracleSlice,
  type: string,
  by: string,
): [string, number][] {
  const counts = new Map<string, number>();
  for (const event of events) {
    if (event.type !== type || !oracleHolds(slice, event) || !Object.prototype.hasOwnProperty.call(event.dimensions, by)) continue;
    const key = String(event.dimensions[by]);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The oracle's `eventTypes`: each type with an event in the slice, its count and the dimension keys its events carry. */
function oracleEventTypes(events: { type: string; dimensions: Record<string, unknown> }[], slice: OracleSlice) {
  return PROPERTY_TYPES.flatMap((type) => {
    const held = events.filter((event) => event.type === type && oracleHolds(slice, event));
    if (held.length === 0) return [];
    return [{ type, count: held.length, dimensions: [...new Set(held.flatMap((event) => Object.keys(event.dimensions)))].sort() }];
  });
}

const PROPERTY_READS = `query Reads($type: String!, $from: DateTime!, $to: DateTime!) {
  series(query: { type: $type, interval: HOUR, from: $from, to: $to }) { points { count } }
  byCustomer: top(query: { type: $type, by: "customer", from: $from, to: $to, limit: 1000 }) { key count }
  byConstructor: top(query: { type: $type, by: "constructor", from: $from, to: $to, limit: 1000 }) { key count }
}`;

describe('property: a token reads exactly the slice of the whole-tenant answer (embedded)', () => {
  let server: TestServer;
  /** A tenant that only receives the property's ingest-through-token checks (never read). */
  let sinkKey = '';
  beforeAll(async () => {
    server = await startServer({ env: SERVER_ENV });
    sinkKey = expectData(
      (await postGraphql(server.url, ADMIN_KEY, CREATE_API_KEY, { tenant: `${RUN_ID}-sink`, scopes: ['READ', 'INGEST'] })).answer,
      'sink key',
    ).createApiKey.key as string;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const value = fc.constantFrom(...PROPERTY_VALUES);
  const condition: fc.Arbitrary<OracleCondition> = fc.oneof(
    fc.record({ key: fc.constantFrom(...PROPERTY_KEYS), eq: value }),
    fc.record({ key: fc.constantFrom(...PROPERTY_KEYS), neq: value }),
    fc.record({ key: fc.constantFrom(...PROPERTY_KEYS), in: fc.array(value, { maxLength: 3 }) }),
    fc.record({ key: fc.constantFrom(...PROPERTY_KEYS), notIn: fc.array(value, { maxLength: 3 }) }),
    fc.record({ key: fc.constantFrom(...PROPERTY_KEYS), exists: fc.boolean() }),
  );
  const slice: fc.Arbitrary<OracleSlice> = fc.record({
    types: fc.option(fc.subarray(PROPERTY_TYPES, { minLength: 1 }), { nil: null }),
    // At most one condition per key and operator (docs/api.md, createAccessToken's `where`).
    where: fc.uniqueArray(condition, { maxLength: 2, selector: (c) => `${c.key} ${Object.keys(c).find((k) => k !== 'key')}` }),
  });
  const event = fc.record({
    type: fc.constantFrom(...PROPERTY_TYPES),
    dimensions: fc.dictionary(fc.constantFrom(...PROPERTY_KEYS), value, { maxKeys: 3 }),
  });

  it('events, series, top, eventTypes and ingest through random tokens equal the oracle over the key answer', async () => {
    // About 0.2 s a run on the embedded stack: 60 runs stay well inside a minute on two cores.
    const settings = fuzzSettings('token-escape', { seed: 1616, runs: 60 });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { minLength: 1, maxLength: 12 }),
        fc.array(slice, { minLength: 1, maxLength: 4 }),
        async (events, slices) => {
          run += 1;
          const tenant = `${RUN_ID}-prop-${run}`;
          const key = expectData(
            (await postGraphql(server.url, ADMIN_KEY, CREATE_API_KEY, { tenant, scopes: ['READ', 'INGEST'] })).answer,
            'create key',
          ).createApiKey.key as string;
          const ingested = expectData(
            (await postGraphql(server.url, key, INGEST, { events: events.map((e, i) => ({ id: `e${i}`, ...e })) })).answer,
            'ingest',
          ).ingest;
          expect(ingested.accepted).toBe(events.length);
          await waitUntil(
            async () => expectData((await postGraphql(server.url, key, '{ streamStatus { lag } }')).answer, 'lag').streamStatus.lag === 0,
            30_000,
            'lag 0',
          );
          const whole = expectData(
            (await postGraphql(server.url, key, 'query { events(first: 1000) { edges { node { id type dimensions } } } }')).answer,
            'whole',
          );
          const wholeEvents: { id: string; type: string; dimensions: Record<string, unknown> }[] = whole.events.edges.map(
            (edge: any) => edge.node,
          );
          expect(wholeEvents).toHaveLength(events.length);
          const range = { from: iso(Date.now() - 2 * 3_600_000), to: iso(Date.now() + 3_600_000) };
          for (const [sliceIndex, s] of slices.entries()) {
            const context = JSON.stringify(s);
            const minted = await postGraphql(server.url, key, MINT, {
              input: { scopes: ['READ'], expiresIn: '5m', types: s.types, where: s.where },
            });
            const token = expectData(minted.answer, `mint ${context}`).createAccessToken.token as string;
            const through = expectData(
              (await postGraphql(server.url, token, 'query { events(first: 1000) { edges { node { id } } } }')).answer,
              'token events',
            );
            expect(
              through.events.edges.map((edge: any) => edge.node.id),
              context,
            ).toEqual(wholeEvents.filter((e) => oracleHolds(s, e)).map((e) => e.id));
            const catalog = expectData(
              (await postGraphql(server.url, token, '{ eventTypes { type count dimensions } }')).answer,
              'token eventTypes',
            );
            expect(catalog.eventTypes, `eventTypes ${context}`).toEqual(oracleEventTypes(wholeEvents, s));
            for (const type of PROPERTY_TYPES) {
              const answer = (await postGraphql(server.url, token, PROPERTY_READS, { type, ...range })).answer;
              if (s.types !== null && !s.types.includes(type)) {
                // The three fields are non-null: the first refusal nulls the whole answer (graphql-js stops collecting there).
                expect(answer.errors?.[0]?.extensions?.code, `${type} ${context}`).toBe('FORBIDDEN');
                expect(answer.data ?? null).toBeNull();
                continue;
              }
              const reads = expectData(answer, 'token reads');
              const total = reads.series.reduce(
                (n: number, series: any) => n + series.points.reduce((m: number, p: any) => m + p.count, 0),
                0,
              );
              expect(total, `series ${type} ${context}`).toBe(wholeEvents.filter((e) => e.type === type && oracleHolds(s, e)).length);
              const asSet = (entries: { key: string; count: number }[]) =>
                entries.map((entry): [string, number] => [entry.key, entry.count]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
              expect(asSet(reads.byCustomer), `top customer ${type} ${context}`).toEqual(oracleTop(wholeEvents, s, type, 'customer'));
              expect(asSet(reads.byConstructor), `top constructor ${type} ${context}`).toEqual(
                oracleTop(wholeEvents, s, type, 'constructor'),
              );
            }
            // Ingest through a token of the same slice (into a tenant of its own): REJECTED exactly where the oracle says outside.
            const ingestToken = expectData(
              (
                await postGraphql(server.url, sinkKey, MINT, {
                  input: { scopes: ['INGEST'], expiresIn: '5m', types: s.types, where: s.where },
                })
              ).answer,
              'mint ingest',
            ).createAccessToken.token as string;
            const acks = expectData(
              (
                await postGraphql(server.url, ingestToken, INGEST, {
                  events: events.map((e, i) => ({ id: `${run}-${sliceIndex}-${i}`, ...e })),
                })
              ).answer,
              'token ingest',
            ).ingest.acks as { status: string; error: { code: string } | null }[];
            expect(
              acks.map((ack) => [ack.status, ack.error?.code ?? null]),
              `ingest ${context}`,
            ).toEqual(events.map((e) => (oracleHolds(s, e) ? ['ACCEPTED', null] : ['REJECTED', 'OUTSIDE_TOKEN_SLICE'])));
          }
        },
      ),
      { seed: settings.seed, numRuns: settings.numRuns },
    );
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Sealed scan positions: where a token's page stops at the read bound without a match.

describe('a token page that stops at the read bound (embedded, MAX_ROWS_READ 4)', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Four rows a page: small enough that pages of a narrow slice stop on events outside it.
    server = await startServer({ env: { ...SERVER_ENV, MAX_ROWS_READ: '4' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('seals its endCursor: no page, cursor or continuation names an event outside the slice', async () => {
    const key = expectData(
      (await postGraphql(server.url, ADMIN_KEY, CREATE_API_KEY, { tenant: `${RUN_ID}-scan`, scopes: ['READ', 'INGEST'] })).answer,
      'key',
    ).createApiKey.key as string;
    const start = minuteOf(Date.now()) - 10 * MINUTE;
    // Newest first: one A, nine B, three A.
    const events = [
      ...[0, 1, 2].map((i) => ({ id: `scan-a-old-${i}`, customer: 'A', at: start + i * 1_000 })),
      ...[0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => ({ id: `scan-b-${i}`, customer: 'B', at: start + 10_000 + i * 1_000 })),
      { id: 'scan-a-new', customer: 'A', at: start + 30_000 },
    ];
    const input = events.map((e) => ({ id: e.id, type: 'x', timestamp: iso(e.at), dimensions: { customer: e.customer } }));
    expect(expectData((await postGraphql(server.url, key, INGEST, { events: input })).answer, 'ingest').ingest.accepted).toBe(
      events.length,
    );
    await waitUntil(
      async () => expectData((await postGraphql(server.url, key, '{ streamStatus { lag } }')).answer, 'lag').streamStatus.lag === 0,
      30_000,
      'lag 0',
    );
    const token = expectData(
      (await postGraphql(server.url, key, MINT, { input: { scopes: ['READ'], expiresIn: '5m', where: [{ key: 'customer', eq: 'A' }] } }))
        .answer,
      'mint',
    ).createAccessToken.token as string;
    const bMarks = events.filter((e) => e.customer === 'B').flatMap((e) => [e.id, String(e.at), iso(e.at)]);
    const decoded = (cursor: string) => Buffer.from(cursor, 'base64url').toString('utf8');
    const seen: string[] = [];
    const endCursors: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page += 1) {
      const answer = (await postGraphql(server.url, token, EVENTS_QUERY, { first: 2, after })).answer;
      const data = expectData(answer, `page ${page}`);
      seen.push(...data.events.edges.map((edge: any) => edge.node.id));
      for (const edge of data.events.edges) for (const mark of bMarks) expect(decoded(edge.cursor)).not.toContain(mark);
      if (!data.events.pageInfo.hasNextPage) break;
      after = data.events.pageInfo.endCursor as string;
      endCursors.push(after);
      for (const mark of bMarks) expect(decoded(after), `endCursor of page ${page}`).not.toContain(mark);
    }
    expect(seen).toEqual(['scan-a-new', 'scan-a-old-2', 'scan-a-old-1', 'scan-a-old-0']);
    // Some page did stop on B's events (else this test proves nothing), and its cursor is sealed.
    const sealed = endCursors.filter((cursor) => decoded(cursor).startsWith('["sealed"'));
    expect(sealed.length).toBeGreaterThan(0);
    // A sealed cursor edited by one character is refused, not opened.
    const [kind, opaque] = JSON.parse(decoded(sealed[0]!)) as [string, string];
    const flipped = opaque.slice(0, 20) + (opaque[20] === 'A' ? 'B' : 'A') + opaque.slice(21);
    const edited = Buffer.from(JSON.stringify([kind, flipped])).toString('base64url');
    const refused = (await postGraphql(server.url, token, EVENTS_QUERY, { first: 2, after: edited })).answer;
    expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(refused.data ?? null).toBeNull();
    await expectHealthy(server);
  });
});

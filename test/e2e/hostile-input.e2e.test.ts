/**
 * Hostile input, end to end: malformed and oversized bodies, deep, wide and aliased queries and
 * fragment bombs, operators and CQL smuggled through filters and dimensions, invalid UTF-8,
 * NaN and absurd timestamps, unknown fields and wrong types, missing and forged keys, and the
 * same over graphql-ws. Each case is a real request with an exact status and error code.
 *
 * Around the cases: a baseline of known events is read before and after, and must come back
 * exactly the same; the only data the cases may add are the hostile-but-valid events, which must
 * be stored exactly as sent. The service must still answer /health, its process still running.
 */
import { once } from 'node:events';
import { getIntrospectionQuery } from 'graphql';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.ts';
import { openRawGraphqlWs } from '../support/raw-graphql-ws.ts';
import { query, waitForProcessing, type Credentials } from '../support/clients.ts';
import {
  CreateApiKeyDocument,
  IngestDocument,
  ListEventsDocument,
  ListEventTypesDocument,
  ListQuarantineDocument,
  ReadSeriesDocument,
  ReadTopDocument,
  type EventInput,
} from '../generated/operations.ts';

/** A fixed bootstrap admin key: the suite runs with API keys on. */
const ADMIN_KEY = 'hostile-input-suite-admin-key-0123456789';
const MAX_REQUEST_BYTES = 1_048_576;
const MAX_QUERY_BYTES = 65_536;
const BASELINE_TYPE = 'hostile_baseline';
/** Hostile-looking events that are valid: they must be stored exactly as sent. */
const VALID_TYPE = 'hostile_valid';
const CQL = "'; DROP KEYSPACE streamlens; --";

const keys: { tenant: string; readOnly: string; tenantKeyId: string } = { tenant: '', readOnly: '', tenantKeyId: '' };
const tenant = (): Credentials => ({ apiKey: keys.tenant });

/** A minute boundary ten minutes ago: recent enough to count, old enough to be stable. */
const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
const at = (ms: number) => new Date(base + ms).toISOString();
const RANGE = { from: at(-3_600_000), to: at(3_600_000) };

const INGEST =
  'mutation Ingest($e: [EventInput!]!, $s: DateTime) { ingest(events: $e, sentAt: $s) { accepted rejected acks { index id status error { code message path } } } }';
const EVENTS =
  'query Events($f: EventFilter, $first: Int, $after: String) { events(filter: $f, first: $first, after: $after) { edges { cursor node { id } } } }';
const SERIES = 'query Series($q: SeriesQuery!) { series(query: $q) { group points { count sum } } }';
const TOP = 'query Top($q: TopQuery!) { top(query: $q) { key count sum } }';

type Auth = 'tenant' | 'readOnly' | 'admin' | 'none' | { header: string };

interface HttpCase {
  name: string;
  /** The raw body, or a GraphQL request to serialise. */
  body?: string | Uint8Array | { query: string; variables?: unknown; operationName?: string };
  method?: 'GET' | 'POST';
  /** Query string of a GET. */
  search?: Record<string, string>;
  contentType?: string;
  /** Sent without a Content-Length (chunked), so only counting while reading can stop it. */
  chunked?: boolean;
  auth?: Auth;
  status: number;
  /** errors[0].extensions.code, or the first rejected ack's code; null: not a GraphQL answer. */
  code: string | null;
  /** Substrings of the error message (and, for a rejected ack, its path). */
  message?: string[];
}

const gql = (queryText: string, variables?: unknown, operationName?: string) => ({ query: queryText, variables, operationName });
const ingest = (events: unknown, sentAt?: string) => gql(INGEST, sentAt === undefined ? { e: events } : { e: events, s: sentAt });
const event = (fields: Record<string, unknown>) => ({ type: 'hostile_rejected', ...fields });
const series = (fields: Record<string, unknown>) => gql(SERIES, { q: { type: BASELINE_TYPE, interval: 'MINUTE', ...RANGE, ...fields } });
const top = (fields: Record<string, unknown>) => gql(TOP, { q: { type: BASELINE_TYPE, by: 'country', ...RANGE, ...fields } });
const events = (filter: unknown, extra: Record<string, unknown> = {}) => gql(EVENTS, { f: filter, ...extra });
const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
const nested = (open: string, inner: string, close: string, levels: number) => open.repeat(levels) + inner + close.repeat(levels);
const aliases = (count: number) => `{ ${Array.from({ length: count }, (_, i) => `a${i}: __typename`).join(' ')} }`;

/** Each fragment spreads the previous one twice: 2^levels fields from a few hundred bytes. */
function fragmentBomb(levels: number, root = '{ eventTypes { ...F' + (levels - 1) + ' } }'): string {
  let fragments = 'fragment F0 on EventTypeInfo { type count }';
  for (let i = 1; i < levels; i++) fragments += ` fragment F${i} on EventTypeInfo { ...F${i - 1} ...F${i - 1} }`;
  return `${root} ${fragments}`;
}

// ---------------------------------------------------------------------------------------------
// The cases, by category.

const malformedBodies: HttpCase[] = [
  { name: 'truncated JSON', body: '{"query": ', status: 400, code: 'BAD_REQUEST', message: ['invalid JSON'] },
  { name: 'empty body', body: '', status: 400, code: 'BAD_REQUEST', message: ['invalid JSON'] },
  { name: 'JSON null', body: 'null', status: 400, code: 'BAD_REQUEST', message: ['received null'] },
  { name: 'JSON string', body: '"{ eventTypes { type } }"', status: 400, code: 'BAD_REQUEST', message: ['received string'] },
  { name: 'JSON number', body: '42', status: 400, code: 'BAD_REQUEST', message: ['received number'] },
  {
    name: 'batched array of operations',
    body: '[{"query": "{ eventTypes { type } }"}]',
    status: 400,
    code: 'BAD_REQUEST',
    message: ['Batching is not supported'],
  },
  { name: 'object without a query', body: '{}', status: 400, code: 'BAD_REQUEST', message: ['Must provide query string'] },
  { name: 'query that is a number', body: '{"query": 5}', status: 400, code: 'BAD_REQUEST', message: ['"query" param to be a string'] },
  {
    name: 'query that is an object',
    body: '{"query": {"$where": "1"}}',
    status: 400,
    code: 'BAD_REQUEST',
    message: ['"query" param to be a string'],
  },
  {
    name: 'variables that are an array',
    body: '{"query": "{ eventTypes { type } }", "variables": [1]}',
    status: 400,
    code: 'BAD_REQUEST',
    message: ['"variables" param'],
  },
  {
    name: 'variables that are a string',
    body: '{"query": "{ eventTypes { type } }", "variables": "{}"}',
    status: 400,
    code: 'BAD_REQUEST',
    message: ['"variables" param'],
  },
  { name: 'single-quoted JSON', body: "{'query': '{ eventTypes { type } }'}", status: 400, code: 'BAD_REQUEST', message: ['invalid JSON'] },
  {
    name: 'JSON with a comment',
    body: '{"query": "{ eventTypes { type } }" /* hi */}',
    status: 400,
    code: 'BAD_REQUEST',
    message: ['invalid JSON'],
  },
  {
    name: 'trailing garbage after the JSON',
    body: '{"query": "{ eventTypes { type } }"} DROP',
    status: 400,
    code: 'BAD_REQUEST',
    message: ['invalid JSON'],
  },
  {
    name: 'NaN written in the body',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "values": {"n": NaN}}]}}`,
    status: 400,
    code: 'BAD_REQUEST',
    message: ['invalid JSON'],
  },
  {
    name: 'Infinity written in the body',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "values": {"n": Infinity}}]}}`,
    status: 400,
    code: 'BAD_REQUEST',
    message: ['invalid JSON'],
  },
  {
    name: '-Infinity written in the body',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "values": {"n": -Infinity}}]}}`,
    status: 400,
    code: 'BAD_REQUEST',
    message: ['invalid JSON'],
  },
  {
    name: 'undefined written in the body',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "id": undefined}]}}`,
    status: 400,
    code: 'BAD_REQUEST',
    message: ['invalid JSON'],
  },
  {
    name: 'hex number in the body',
    body: `{"query": "{ events(first: 0x10) { edges { cursor } } }"}`,
    status: 400,
    code: 'GRAPHQL_PARSE_FAILED',
    message: ['Syntax Error'],
  },
  {
    name: 'invalid UTF-8 byte in the query',
    body: bytes('{"query": "{ eventTypes { type ', [0xff], ' } }"}'),
    status: 400,
    code: 'BAD_REQUEST',
    message: ['not valid UTF-8'],
  },
  {
    name: 'invalid UTF-8 in a dimension value',
    body: bytes(`{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "dimensions": {"c": "N`, [0xc3, 0x28], `L"}}]}}`),
    status: 400,
    code: 'BAD_REQUEST',
    message: ['not valid UTF-8'],
  },
  {
    name: 'overlong UTF-8 encoding of "/"',
    body: bytes('{"query": "{ eventTypes { type } }", "x": "', [0xc0, 0xaf], '"}'),
    status: 400,
    code: 'BAD_REQUEST',
    message: ['not valid UTF-8'],
  },
  {
    name: 'UTF-8-encoded UTF-16 surrogate',
    body: bytes('{"query": "{ eventTypes { type } }", "x": "', [0xed, 0xa0, 0x80], '"}'),
    status: 400,
    code: 'BAD_REQUEST',
    message: ['not valid UTF-8'],
  },
  {
    name: 'UTF-8 sequence cut off at the end of the body',
    body: bytes('{"query": "{ eventTypes { type } }"}', [0xe2, 0x82]),
    status: 400,
    code: 'BAD_REQUEST',
    message: ['not valid UTF-8'],
  },
  { name: 'GraphQL syntax error', body: gql('{ eventTypes { type '), status: 400, code: 'GRAPHQL_PARSE_FAILED', message: ['Syntax Error'] },
  {
    name: 'operation name that is not in the document',
    body: gql('query A { eventTypes { type } }', undefined, 'B'),
    status: 400,
    code: 'OPERATION_RESOLUTION_FAILURE',
    message: ['Could not determine what operation to execute'],
  },
  {
    name: 'two anonymous operations',
    body: gql('{ eventTypes { type } } { streamStatus { lag } }'),
    status: 400,
    code: 'OPERATION_RESOLUTION_FAILURE',
    message: ['Could not determine what operation to execute'],
  },
  {
    name: 'mutation over GET',
    method: 'GET',
    search: { query: 'mutation { ingest(events: []) { accepted } }' },
    status: 405,
    code: 'BAD_REQUEST',
    message: ['mutation'],
  },
];

const oversized: HttpCase[] = [
  {
    name: 'body over the byte limit with a Content-Length',
    body: `{"query": "{ eventTypes { type } }", "pad": "${'x'.repeat(MAX_REQUEST_BYTES)}"}`,
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: [`${MAX_REQUEST_BYTES} bytes`],
  },
  {
    name: 'chunked body over the byte limit',
    chunked: true,
    body: `{"query": "{ eventTypes { type } }", "pad": "${'x'.repeat(MAX_REQUEST_BYTES)}"}`,
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: [`${MAX_REQUEST_BYTES} bytes`],
  },
  {
    name: 'ten times the byte limit',
    body: ' '.repeat(10 * MAX_REQUEST_BYTES),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    message: ['larger than the limit'],
  },
  {
    name: 'batch within the byte limit but over the event limit',
    body: ingest(Array.from({ length: 1001 }, () => ({ type: 'hostile_rejected' }))),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['at most 1000 events', '1001'],
  },
  {
    name: 'batch of 1000 events whose properties pass the byte limit',
    body: ingest(Array.from({ length: 1000 }, (_, i) => event({ id: `big-${i}`, properties: { pad: 'x'.repeat(1_100) } }))),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: '300,000 empty events (every one invalid)',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [${Array(300_000).fill('{}').join(',')}]}}`,
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['"type" of required type'],
  },
  {
    name: 'properties over INGEST_MAX_PROPERTIES_BYTES',
    body: ingest([event({ properties: { pad: 'x'.repeat(17_000) } })]),
    status: 200,
    code: 'INVALID_PROPERTIES',
    message: ['16384', 'properties'],
  },
  {
    name: 'query text over the limit',
    body: gql(`{ eventTypes { type } } #${'x'.repeat(MAX_QUERY_BYTES)}`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['query text', `${MAX_QUERY_BYTES}`],
  },
  {
    name: 'a batch written as literals, over the query text limit',
    body: gql(
      `mutation { ingest(events: [${Array.from({ length: 1000 }, (_, i) => `{ id: "literal-${i}", type: "hostile_rejected", dimensions: { country: "NL", plan: "pro" }, values: { n: ${i} } }`).join(' ')}]) { accepted } }`,
    ),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['send large inputs as variables'],
  },
  {
    name: 'a GET whose URL passes the header limit',
    method: 'GET',
    search: { query: `{ eventTypes { type } } #${'x'.repeat(20_000)}` },
    status: 431,
    code: null,
  },
  {
    name: 'an Authorization header past the header limit',
    auth: { header: `Bearer ${'k'.repeat(20_000)}` },
    body: gql('{ eventTypes { type } }'),
    status: 431,
    code: null,
  },
];

const queryShapes: HttpCase[] = [
  {
    name: 'query 13 levels deep',
    body: gql(`{ ${nested('a { ', 'b', ' }', 12)} }`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['13 levels deep', 'limit is 12'],
  },
  {
    name: 'query 12 levels deep passes the limit (and fails validation)',
    body: gql(`{ ${nested('a { ', 'b', ' }', 11)} }`),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Cannot query field "a"'],
  },
  {
    name: 'depth reached through fragments',
    body: gql(`{ ...A } fragment A on Query { a { ...B } } fragment B on Query { ${nested('b { ', 'c', ' }', 11)} }`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['levels deep'],
  },
  {
    name: 'selection sets nested 5000 deep',
    body: gql(`{ ${nested('a { ', 'b', ' }', 5_000)} }`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['nests brackets'],
  },
  {
    name: 'list literal nested 5000 deep',
    body: gql(`{ events(first: ${nested('[', '1', ']', 5_000)}) { edges { cursor } } }`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['nests brackets'],
  },
  {
    name: 'object literal nested 5000 deep',
    body: gql(`{ events(filter: { dimensions: ${nested('{ a: ', '1', ' }', 5_000)} }) { edges { cursor } } }`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['nests brackets'],
  },
  { name: '31 aliases', body: gql(aliases(31)), status: 400, code: 'QUERY_TOO_COMPLEX', message: ['31 aliases', 'limit is 30'] },
  { name: '30 aliases pass', body: gql(aliases(30)), status: 200, code: null },
  { name: "GraphiQL's introspection query passes every limit", body: gql(getIntrospectionQuery()), status: 200, code: null },
  { name: '1000 aliases (alias flood)', body: gql(aliases(1_000)), status: 400, code: 'QUERY_TOO_COMPLEX', message: ['1000 aliases'] },
  {
    name: 'aliases multiplied by fragment spreads',
    body: gql(`{ ...A ...A ...A } fragment A on Query { ${Array.from({ length: 11 }, (_, i) => `x${i}: __typename`).join(' ')} }`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['33 aliases'],
  },
  {
    name: '2001 fields (wide query)',
    body: gql(`{ ${'__typename '.repeat(2_001)}}`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['2001 fields', 'limit is 2000'],
  },
  {
    name: 'fragment bomb of 2^30 fields',
    body: gql(fragmentBomb(30)),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['fields with its fragments expanded'],
  },
  {
    name: 'unused fragment bomb',
    body: gql(fragmentBomb(40, '{ eventTypes { type } }')),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['fragment F'],
  },
  {
    name: 'fragment that spreads itself',
    body: gql('{ eventTypes { ...A } } fragment A on EventTypeInfo { type ...A }'),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Cannot spread fragment "A" within itself'],
  },
  {
    name: 'fragments spreading each other',
    body: gql('{ eventTypes { ...A } } fragment A on EventTypeInfo { type ...B } fragment B on EventTypeInfo { count ...A }'),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Cannot spread fragment'],
  },
  {
    name: '51 directives',
    body: gql(`{ __typename ${'@include(if: true) '.repeat(51)}}`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['51 directives', 'limit is 50'],
  },
  {
    name: 'directives multiplied by fragment spreads',
    body: gql(`{ ${'...A '.repeat(20)}} fragment A on Query { __typename @skip(if: false) @include(if: true) @skip(if: false) }`),
    status: 400,
    code: 'QUERY_TOO_COMPLEX',
    message: ['60 directives'],
  },
  {
    name: 'unknown directive',
    body: gql('{ eventTypes @where(js: "1") { type } }'),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Unknown directive "@where"'],
  },
  {
    name: 'introspection nested past its own limit',
    body: gql(`{ __schema { types { ${nested('fields { type { ', 'name', ' } }', 6)} } } }`),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Maximum introspection depth exceeded'],
  },
];

const operators: HttpCase[] = [
  {
    name: '$where as a dimension key',
    body: ingest([event({ dimensions: { $where: 'sleep(1000)' } })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['dimensions.$where'],
  },
  {
    name: '$gt object as a dimension value',
    body: ingest([event({ dimensions: { country: { $gt: '' } } })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['dimensions.country', 'flat'],
  },
  {
    name: '$regex object as a dimension value',
    body: ingest([event({ dimensions: { country: { $regex: '.*' } } })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['dimensions.country'],
  },
  {
    name: 'dotted dimension key',
    body: ingest([event({ dimensions: { 'a.b': 1 } })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['dimensions.a.b'],
  },
  {
    name: '__proto__ as a dimension key',
    body: ingest([event({ dimensions: JSON.parse('{"__proto__": "x"}') })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['dimensions.__proto__'],
  },
  {
    name: '$inc as a value key',
    body: ingest([event({ values: { $inc: 1 } })]),
    status: 200,
    code: 'INVALID_VALUES',
    message: ['values.$inc'],
  },
  {
    name: '$ne object as a value',
    body: ingest([event({ values: { n: { $ne: 1 } } })]),
    status: 200,
    code: 'INVALID_VALUES',
    message: ['values.n', 'finite numbers'],
  },
  {
    name: '__proto__ as a value key',
    body: ingest([event({ values: JSON.parse('{"__proto__": 5}') })]),
    status: 200,
    code: 'INVALID_VALUES',
    message: ['values.__proto__'],
  },
  {
    name: '$gt object as an event id',
    body: ingest([event({ id: { $gt: '' } })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['ID cannot represent'],
  },
  {
    name: '$ne object as an event type',
    body: ingest([{ type: { $ne: null } }]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['String cannot represent'],
  },
  {
    name: '$ne in an events dimension filter',
    body: events({ dimensions: { country: { $ne: null } } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['filter.dimensions.country'],
  },
  {
    name: '$where as an events dimension filter key',
    body: events({ dimensions: { $where: 'this.a > 1' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['"$where" is not a dimension key'],
  },
  {
    name: '$or in an events dimension filter',
    body: events({ dimensions: { $or: [{ country: 'NL' }, { country: 'DE' }] } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['"$or"'],
  },
  {
    name: 'list as a dimension filter value',
    body: events({ dimensions: { country: ['NL', 'DE'] } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['filter.dimensions.country'],
  },
  {
    name: '__proto__ as a dimension filter key',
    body: events(JSON.parse('{"dimensions": {"__proto__": "x"}}')),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['"__proto__" is not a dimension key'],
  },
  {
    name: '$regex object as the types filter',
    body: events({ types: { $regex: '.*' } }),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['String cannot represent'],
  },
  {
    name: '$gt object as the source filter',
    body: events({ source: { $gt: '' } }),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['String cannot represent'],
  },
  {
    name: '$in in a series dimension filter',
    body: series({ dimensions: { plan: { $in: ['pro'] } } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['query.dimensions.plan'],
  },
  {
    name: '$where in a top dimension filter',
    body: top({ dimensions: { $where: 'this.a > 1' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['"$where"'],
  },
  {
    name: '$gt object as an event id argument',
    body: gql('query($id: ID!) { event(id: $id) { id } }', { id: { $gt: '' } }),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['ID cannot represent'],
  },
  {
    name: 'operator object smuggled in a cursor',
    body: events(null, { after: Buffer.from('{"$gt":""}').toString('base64url') }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['cursor'],
  },
  {
    name: '$regex as a series groupBy',
    body: series({ groupBy: '$regex' }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['query.groupBy'],
  },
];

const cqlFragments: HttpCase[] = [
  {
    name: 'CQL in a dimension key',
    body: ingest([event({ dimensions: { [`a${CQL}`]: 1 } })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['dimensions.a'],
  },
  { name: 'CQL in the event type', body: ingest([{ type: `x${CQL}` }]), status: 200, code: 'INVALID_TYPE', message: ['type'] },
  {
    name: 'CQL in a value key',
    body: ingest([event({ values: { [CQL]: 1 } })]),
    status: 200,
    code: 'INVALID_VALUES',
    message: ['values.'],
  },
  {
    name: 'CQL in a series type',
    body: series({ type: `${BASELINE_TYPE}${CQL}` }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['query.type', 'DROP KEYSPACE'],
  },
  {
    name: 'CQL in a series groupBy',
    body: series({ groupBy: `country${CQL}` }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['query.groupBy'],
  },
  { name: 'CQL in a series value', body: series({ value: `amount${CQL}` }), status: 200, code: 'BAD_USER_INPUT', message: ['query.value'] },
  { name: 'CQL in a top type', body: top({ type: CQL }), status: 200, code: 'BAD_USER_INPUT', message: ['query.type'] },
  { name: 'CQL in a top by', body: top({ by: `country${CQL}` }), status: 200, code: 'BAD_USER_INPUT', message: ['query.by'] },
  { name: 'CQL in a top value', body: top({ value: CQL }), status: 200, code: 'BAD_USER_INPUT', message: ['query.value'] },
  {
    name: 'CQL in the events types filter',
    body: events({ types: [BASELINE_TYPE, CQL] }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['filter.types[1]'],
  },
  {
    name: 'CQL in an events dimension filter key',
    body: events({ dimensions: { [CQL]: 'x' } }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['is not a dimension key'],
  },
  { name: 'CQL in a cursor', body: events(null, { after: CQL }), status: 200, code: 'BAD_USER_INPUT', message: ['cursor'] },
  {
    name: 'CQL in a quarantine cursor',
    body: gql('query($a: String) { quarantine(after: $a) { edges { cursor } } }', { a: CQL }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['cursor'],
  },
  { name: 'CQL as an interval', body: series({ interval: `MINUTE${CQL}` }), status: 400, code: 'BAD_USER_INPUT', message: ['Interval'] },
];

const numbersAndTimes: HttpCase[] = [
  {
    name: 'value 1e400 (Infinity once parsed)',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "values": {"n": 1e400}}]}}`,
    status: 200,
    code: 'INVALID_VALUES',
    message: ['finite', 'values.n'],
  },
  {
    name: 'value -1e400',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "values": {"n": -1e400}}]}}`,
    status: 200,
    code: 'INVALID_VALUES',
    message: ['finite'],
  },
  {
    name: 'dimension 1e400',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "dimensions": {"n": 1e400}}]}}`,
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['finite', 'dimensions.n'],
  },
  {
    name: 'value "NaN" as a string',
    body: ingest([event({ values: { n: 'NaN' } })]),
    status: 200,
    code: 'INVALID_VALUES',
    message: ['values.n'],
  },
  {
    name: 'value "Infinity" as a string',
    body: ingest([event({ values: { n: 'Infinity' } })]),
    status: 200,
    code: 'INVALID_VALUES',
    message: ['values.n'],
  },
  { name: 'first of 2^31', body: events(null, { first: 2 ** 31 }), status: 400, code: 'BAD_USER_INPUT', message: ['Int cannot represent'] },
  {
    name: 'first of 2^53 + 2 as a literal',
    body: gql('{ events(first: 9007199254740994) { edges { cursor } } }'),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Int cannot represent'],
  },
  {
    name: 'first of -1',
    body: events(null, { first: -1 }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['first must be a whole number from 0 to 1000'],
  },
  { name: 'first of 1.5', body: events(null, { first: 1.5 }), status: 400, code: 'BAD_USER_INPUT', message: ['Int cannot represent'] },
  { name: 'top limit of 0', body: top({ limit: 0 }), status: 200, code: 'BAD_USER_INPUT', message: ['limit must be'] },
  { name: 'top limit of a million', body: top({ limit: 1_000_000 }), status: 200, code: 'BAD_USER_INPUT', message: ['limit must be'] },
  {
    name: 'timestamp in year +275760',
    body: ingest([event({ timestamp: '+275760-09-13T00:00:00.000Z' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['DateTime must be an ISO-8601 string'],
  },
  {
    name: 'timestamp in year 275760 without a sign',
    body: ingest([event({ timestamp: '275760-09-13T00:00:00.000Z' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['DateTime must be an ISO-8601 string'],
  },
  {
    name: 'timestamp in a negative year',
    body: ingest([event({ timestamp: '-000001-01-01T00:00:00.000Z' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['DateTime must be an ISO-8601 string'],
  },
  {
    name: 'timestamp in year 9999',
    body: ingest([event({ timestamp: '9999-12-31T23:59:59.999Z' })]),
    status: 200,
    code: 'INVALID_TIMESTAMP',
    message: ['more than a year ahead'],
  },
  {
    name: 'timestamp in year 0',
    body: ingest([event({ timestamp: '0000-01-01T00:00:00.000Z' })]),
    status: 200,
    code: 'INVALID_TIMESTAMP',
    message: ['before 1970'],
  },
  {
    name: 'timestamp a millisecond before the epoch',
    body: ingest([event({ timestamp: '1969-12-31T23:59:59.999Z' })]),
    status: 200,
    code: 'INVALID_TIMESTAMP',
    message: ['before 1970'],
  },
  {
    name: 'February 30th',
    body: ingest([event({ timestamp: '2026-02-30T00:00:00Z' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['"2026-02-30T00:00:00Z" is not a valid date'],
  },
  {
    name: 'month 13',
    body: ingest([event({ timestamp: '2026-13-01T00:00:00Z' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['is not a valid date'],
  },
  {
    name: 'hour 25',
    body: ingest([event({ timestamp: '2026-01-01T25:00:00Z' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['is not a valid date'],
  },
  {
    name: 'timestamp without a time zone',
    body: ingest([event({ timestamp: '2026-11-27T12:00:00' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['with a time zone'],
  },
  {
    name: 'timestamp with a space for T',
    body: ingest([event({ timestamp: '2026-11-27 12:00:00Z' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['ISO-8601'],
  },
  {
    name: 'timestamp as epoch milliseconds',
    body: ingest([event({ timestamp: 1_700_000_000_000 })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['ISO-8601'],
  },
  {
    name: 'timestamp "yesterday"',
    body: ingest([event({ timestamp: 'yesterday' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['ISO-8601'],
  },
  {
    name: 'sentAt in year +275760',
    body: ingest([event({})], '+275760-09-13T00:00:00.000Z'),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['"$s"', 'ISO-8601'],
  },
  {
    name: 'sentAt at the epoch, pushing timestamps decades ahead',
    body: ingest([event({ timestamp: new Date().toISOString() })], '1970-01-01T00:00:00.000Z'),
    status: 200,
    code: 'INVALID_TIMESTAMP',
    message: ['more than a year ahead'],
  },
  {
    name: 'series from after to',
    body: series({ from: RANGE.to, to: RANGE.from }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['from must be before to'],
  },
  {
    name: 'series from year 1 to 9999 by DAY',
    body: series({ interval: 'DAY', from: '0001-01-01T00:00:00Z', to: '9999-12-31T00:00:00Z' }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['coarser interval'],
  },
  {
    name: 'series to year +275760',
    body: series({ to: '+275760-09-13T00:00:00.000Z' }),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['ISO-8601'],
  },
  {
    name: 'top over 32 days',
    body: top({ from: '2026-01-01T00:00:00Z', to: '2026-02-02T00:00:00Z' }),
    status: 200,
    code: 'BAD_USER_INPUT',
    message: ['31 days'],
  },
  {
    name: 'events filter from a date that does not exist',
    body: events({ from: '2026-04-31T00:00:00Z' }),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['is not a valid date'],
  },
];

const unknownFieldsAndTypes: HttpCase[] = [
  {
    name: 'tenant forged as an unknown event field',
    body: ingest([event({ tenant: 'someone-else' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['"tenant" is not defined by type "EventInput"'],
  },
  {
    name: 'tenant forged in the events filter',
    body: events({ tenant: 'someone-else' }),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['"tenant" is not defined by type "EventFilter"'],
  },
  {
    name: 'unknown root field',
    body: gql('{ users { password } }'),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Cannot query field "users"'],
  },
  {
    name: 'unknown argument',
    body: gql('{ events(tenant: "x") { edges { cursor } } }'),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Unknown argument "tenant"'],
  },
  { name: 'type as a number', body: ingest([{ type: 5 }]), status: 400, code: 'BAD_USER_INPUT', message: ['String cannot represent'] },
  { name: 'type missing', body: ingest([{ id: 'no-type' }]), status: 400, code: 'BAD_USER_INPUT', message: ['"type" of required type'] },
  { name: 'events null', body: ingest(null), status: 400, code: 'BAD_USER_INPUT', message: ['must not be null'] },
  {
    name: 'dimensions as an array',
    body: ingest([event({ dimensions: ['NL'] })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['JSONObject must be a JSON object'],
  },
  {
    name: 'dimensions as a string',
    body: ingest([event({ dimensions: 'country=NL' })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['JSONObject must be a JSON object'],
  },
  {
    name: 'properties as an array',
    body: ingest([event({ properties: [1, 2] })]),
    status: 400,
    code: 'BAD_USER_INPUT',
    message: ['JSONObject must be a JSON object'],
  },
  {
    name: 'nested dimensions',
    body: ingest([event({ dimensions: { geo: { country: 'NL' } } })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['dimensions.geo', 'flat'],
  },
  {
    name: 'properties nested 33 levels',
    body: ingest([event({ properties: JSON.parse(nested('{"a":', '1', '}', 33)) })]),
    status: 200,
    code: 'INVALID_PROPERTIES',
    message: ['32 levels'],
  },
  {
    name: 'properties nested 150,000 levels',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "properties": ${nested('{"a":', '1', '}', 150_000)}}]}}`,
    status: 200,
    code: 'INVALID_PROPERTIES',
    message: ['32 levels'],
  },
  {
    name: 'properties arrays nested 400,000 levels',
    body: `{"query": ${JSON.stringify(INGEST)}, "variables": {"e": [{"type": "x", "properties": {"a": ${nested('[', '1', ']', 400_000)}}}]}}`,
    status: 200,
    code: 'INVALID_PROPERTIES',
    message: ['32 levels'],
  },
  { name: 'empty id', body: ingest([event({ id: '' })]), status: 200, code: 'INVALID_ID', message: ['id must be 1 to 128'] },
  {
    name: 'id of 129 characters',
    body: ingest([event({ id: 'i'.repeat(129) })]),
    status: 200,
    code: 'INVALID_ID',
    message: ['id must be 1 to 128'],
  },
  {
    name: 'id with a NUL character',
    body: ingest([event({ id: 'a\u0000b' })]),
    status: 200,
    code: 'INVALID_ID',
    message: ['control characters'],
  },
  { name: 'empty source', body: ingest([event({ source: '' })]), status: 200, code: 'INVALID_SOURCE', message: ['source'] },
  {
    name: 'source with a newline',
    body: ingest([event({ source: 'api\nX-Injected: 1' })]),
    status: 200,
    code: 'INVALID_SOURCE',
    message: ['printable'],
  },
  {
    name: '33 dimensions',
    body: ingest([event({ dimensions: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`d${i}`, i])) })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['at most 32'],
  },
  {
    name: 'dimension value of 257 characters',
    body: ingest([event({ dimensions: { c: 'x'.repeat(257) } })]),
    status: 200,
    code: 'INVALID_DIMENSIONS',
    message: ['256 characters'],
  },
  {
    name: 'value as a boolean',
    body: ingest([event({ values: { n: true } })]),
    status: 200,
    code: 'INVALID_VALUES',
    message: ['finite numbers'],
  },
  {
    name: 'unknown enum value as a bare string in the query text',
    body: gql(`{ series(query: { type: "${BASELINE_TYPE}", interval: "MINUTE", from: "${RANGE.from}", to: "${RANGE.to}" }) { group } }`),
    status: 400,
    code: 'GRAPHQL_VALIDATION_FAILED',
    message: ['Interval'],
  },
  {
    name: 'two invalid events: each rejected on its own',
    body: ingest([{ type: 'hostile rejected' }, event({ id: 'x'.repeat(200) })]),
    status: 200,
    code: 'INVALID_TYPE',
    message: ['type'],
  },
];

const keyCases: HttpCase[] = [
  {
    name: 'no Authorization header',
    auth: 'none',
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
    message: ['an API key is required'],
  },
  {
    name: 'Basic credentials',
    auth: { header: 'Basic YWRtaW46YWRtaW4=' },
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
    message: ['is not "Bearer <key>"'],
  },
  { name: 'Bearer without a key', auth: { header: 'Bearer ' }, body: gql('{ eventTypes { type } }'), status: 200, code: 'UNAUTHENTICATED' },
  {
    name: 'two bearer tokens',
    auth: { header: 'Bearer a, Bearer b' },
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
    message: ['is not "Bearer <key>"'],
  },
  {
    name: 'a key of the wrong shape',
    auth: { header: 'Bearer sl_short_key' },
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
    message: ['is not "Bearer <key>"'],
  },
  {
    name: 'a key with CQL in it',
    auth: { header: `Bearer sl_${CQL.replace(/\s/g, '')}` },
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'a forged key of the right shape',
    auth: { header: `Bearer sl_${'A'.repeat(16)}_${'B'.repeat(43)}` },
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
    message: ['not valid'],
  },
  {
    name: 'a real key id with a forged secret',
    auth: { header: 'FORGED_SECRET' },
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
    message: ['not valid'],
  },
  {
    name: 'the admin key with its last character changed',
    auth: { header: `Bearer ${ADMIN_KEY.slice(0, -1)}X` },
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'an 8 KB bearer token',
    auth: { header: `Bearer ${'k'.repeat(8_000)}` },
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'the key in the query string instead of the header',
    auth: 'none',
    method: 'GET',
    search: { query: '{ eventTypes { type } }', authorization: `Bearer ${ADMIN_KEY}` },
    status: 200,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'the bootstrap admin key reading data',
    auth: 'admin',
    body: gql('{ eventTypes { type } }'),
    status: 200,
    code: 'FORBIDDEN',
    message: ['only manages keys'],
  },
  {
    name: 'a read-only key ingesting',
    auth: 'readOnly',
    body: ingest([event({})]),
    status: 200,
    code: 'FORBIDDEN',
    message: ['INGEST scope'],
  },
  {
    name: 'a tenant key creating keys',
    body: gql('mutation { createApiKey(tenant: "hostile", scopes: [ADMIN]) { key } }'),
    status: 200,
    code: 'FORBIDDEN',
  },
];

const CASES: [string, HttpCase[]][] = [
  ['malformed body', malformedBodies],
  ['oversized body or batch', oversized],
  ['query shape', queryShapes],
  ['operator injection', operators],
  ['CQL fragment', cqlFragments],
  ['number or timestamp', numbersAndTimes],
  ['unknown field or wrong type', unknownFieldsAndTypes],
  ['API key', keyCases],
];
const HTTP_CASES = CASES.flatMap(([category, cases]) => cases.map((c) => ({ ...c, name: `${category}: ${c.name}` })));

/** Hostile-looking but valid: accepted, and stored exactly as sent. */
const VALID_EVENTS: EventInput[] = [
  {
    id: CQL,
    type: VALID_TYPE,
    timestamp: at(5_000),
    source: CQL,
    dimensions: { country: CQL, plan: '{"$gt": ""}' },
    values: { amount: 1 },
  },
  {
    id: 'proto-values',
    type: VALID_TYPE,
    timestamp: at(6_000),
    dimensions: { country: '__proto__', plan: 'constructor' },
    values: { amount: 2 },
  },
  {
    id: 'operators-in-properties',
    type: VALID_TYPE,
    timestamp: at(7_000),
    dimensions: { country: 'NL' },
    properties: { $where: 'sleep(1000)', nested: { $gt: '', 'a.b': [CQL] } },
  },
  { id: 'max-nesting', type: VALID_TYPE, timestamp: at(8_000), properties: JSON.parse(nested('{"a":', '1', '}', 32)) },
];

// ---------------------------------------------------------------------------------------------

interface Answer {
  status: number;
  body: { errors?: { message: string; extensions?: Record<string, unknown> }[]; data?: Record<string, unknown> | null } | null;
}

function authorizationOf(auth: Auth | undefined): string | null {
  if (auth === undefined || auth === 'tenant') return `Bearer ${keys.tenant}`;
  if (auth === 'readOnly') return `Bearer ${keys.readOnly}`;
  if (auth === 'admin') return `Bearer ${ADMIN_KEY}`;
  if (auth === 'none') return null;
  if (auth.header === 'FORGED_SECRET') return `Bearer sl_${keys.tenantKeyId}_${'A'.repeat(43)}`;
  return auth.header;
}

async function send(server: TestServer, c: HttpCase): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/graphql-response+json' };
  const authorization = authorizationOf(c.auth);
  if (authorization !== null) headers.authorization = authorization;
  const url = new URL(server.url);
  let init: RequestInit & { duplex?: 'half' } = { method: c.method ?? 'POST', headers };
  if (c.method === 'GET') {
    for (const [name, value] of Object.entries(c.search ?? {})) url.searchParams.set(name, value);
  } else {
    headers['content-type'] = c.contentType ?? 'application/json';
    const raw = typeof c.body === 'string' || c.body instanceof Uint8Array ? c.body : JSON.stringify(c.body);
    const payload = typeof raw === 'string' ? Buffer.from(raw) : raw;
    if (c.chunked) {
      // A stream body has no Content-Length: fetch sends it chunked, in 64 KiB pieces.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let offset = 0; offset < payload.length; offset += 65_536) controller.enqueue(payload.subarray(offset, offset + 65_536));
          controller.close();
        },
      });
      init = { ...init, body: stream, duplex: 'half' };
    } else {
      init = { ...init, body: new Uint8Array(payload) };
    }
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let body: Answer['body'] = null;
  try {
    body = JSON.parse(text) as Answer['body'];
  } catch {
    // not JSON: Node's own answers (431) have no GraphQL body
  }
  return { status: response.status, body };
}

/** The error a case got: the request's first error, or the first rejected event's. */
function errorOf(body: Answer['body']): { code: unknown; message: string } | null {
  const error = body?.errors?.[0];
  if (error) return { code: error.extensions?.code ?? null, message: error.message };
  const acks = (
    body?.data?.ingest as { acks?: { status: string; error: { code: string; message: string; path: string } | null }[] } | undefined
  )?.acks;
  const rejected = acks?.find((ack) => ack.status === 'REJECTED');
  return rejected?.error ? { code: rejected.error.code, message: `${rejected.error.message} (${rejected.error.path})` } : null;
}

interface Snapshot {
  events: unknown;
  seriesByCountry: unknown;
  seriesByPlan: unknown;
  top: unknown;
  eventType: unknown;
}

async function snapshot(server: TestServer): Promise<Snapshot> {
  const [list, byCountry, byPlan, ranked, types] = await Promise.all([
    query(server.url, ListEventsDocument, { filter: { types: [BASELINE_TYPE] }, first: 1000 }, tenant()),
    query(
      server.url,
      ReadSeriesDocument,
      { query: { type: BASELINE_TYPE, value: 'amount', interval: 'MINUTE', groupBy: 'country', ...RANGE } },
      tenant(),
    ),
    query(
      server.url,
      ReadSeriesDocument,
      { query: { type: BASELINE_TYPE, value: 'amount', interval: 'HOUR', groupBy: 'plan', ...RANGE } },
      tenant(),
    ),
    query(server.url, ReadTopDocument, { query: { type: BASELINE_TYPE, by: 'country', value: 'amount', ...RANGE } }, tenant()),
    query(server.url, ListEventTypesDocument, undefined, tenant()),
  ]);
  // The watermark follows every tenant's newest events: progress, not this data, so it is left out.
  const withoutWatermark = (all: { watermark?: unknown }[]) => all.map(({ watermark: _, ...rest }) => rest);
  return {
    events: list.events.edges.map((edge) => edge.node),
    seriesByCountry: withoutWatermark(byCountry.series),
    seriesByPlan: withoutWatermark(byPlan.series),
    top: ranked.top,
    eventType: types.eventTypes.find((t) => t.type === BASELINE_TYPE),
  };
}

// ---------------------------------------------------------------------------------------------
// graphql-ws, spoken by hand so that every frame and close code is visible.

interface WsCase {
  name: string;
  /** A subscribe payload, or a raw frame. */
  send: { query: string; variables?: unknown } | { raw: string };
  expect: { error: string; message: string } | { close: number };
}

const WS_CASES: WsCase[] = [
  {
    name: 'a message over the byte limit',
    send: {
      raw: JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `{ eventTypes { type } } #${'x'.repeat(MAX_REQUEST_BYTES)}` } }),
    },
    expect: { close: 1009 },
  },
  { name: 'a frame that is not JSON', send: { raw: '{"type": "subscribe", NaN}' }, expect: { close: 4400 } },
  {
    name: 'a query that does not parse',
    send: { query: 'subscription { events { ' },
    expect: { error: 'GRAPHQL_PARSE_FAILED', message: 'Syntax Error' },
  },
  {
    name: 'a query 13 levels deep',
    send: { query: `subscription { ${nested('a { ', 'b', ' }', 12)} }` },
    expect: { error: 'QUERY_TOO_COMPLEX', message: 'levels deep' },
  },
  {
    name: 'a query text over the limit',
    send: { query: `subscription { events { cursor } } #${'x'.repeat(MAX_QUERY_BYTES)}` },
    expect: { error: 'QUERY_TOO_COMPLEX', message: 'query text' },
  },
  {
    name: 'brackets nested 5000 deep',
    send: { query: `subscription { ${nested('a { ', 'b', ' }', 5_000)} }` },
    expect: { error: 'QUERY_TOO_COMPLEX', message: 'nests brackets' },
  },
  {
    name: 'an alias flood',
    send: { query: `subscription { events { ${Array.from({ length: 31 }, (_, i) => `c${i}: cursor`).join(' ')} } }` },
    expect: { error: 'QUERY_TOO_COMPLEX', message: 'aliases' },
  },
  {
    name: 'an unknown field',
    send: { query: 'subscription { users { password } }' },
    expect: { error: 'GRAPHQL_VALIDATION_FAILED', message: 'Cannot query field "users"' },
  },
  {
    name: 'a $where operator in the filter',
    send: { query: 'subscription($f: EventFilter) { events(filter: $f) { cursor } }', variables: { f: { dimensions: { $where: '1' } } } },
    expect: { error: 'BAD_USER_INPUT', message: '"$where" is not a dimension key' },
  },
  {
    name: 'CQL in a live series groupBy',
    send: {
      query: 'subscription($q: LiveSeriesQuery!) { series(query: $q) { group } }',
      variables: { q: { type: BASELINE_TYPE, interval: 'MINUTE', groupBy: CQL } },
    },
    expect: { error: 'BAD_USER_INPUT', message: 'groupBy' },
  },
];

// ---------------------------------------------------------------------------------------------

describe('hostile input on embedded', () => {
  let server: TestServer;
  let before: Snapshot;

  beforeAll(async () => {
    server = await startServer({ env: { ADMIN_KEY } });
    const admin: Credentials = { apiKey: ADMIN_KEY };
    const created = (
      await query(server.url, CreateApiKeyDocument, { tenant: 'hostile', scopes: ['INGEST', 'READ'], name: 'hostile' }, admin)
    ).createApiKey;
    keys.tenant = created.key;
    keys.tenantKeyId = created.apiKey.id;
    keys.readOnly = (
      await query(server.url, CreateApiKeyDocument, { tenant: 'hostile', scopes: ['READ'], name: 'read' }, admin)
    ).createApiKey.key;

    const baseline: EventInput[] = Array.from({ length: 12 }, (_, i) => ({
      id: `baseline-${i}`,
      type: BASELINE_TYPE,
      timestamp: at(i * 15_000),
      dimensions: { country: ['NL', 'DE', 'US'][i % 3]!, plan: i % 2 ? 'pro' : 'free' },
      values: { amount: i + 0.5 },
      properties: { note: `baseline ${i}` },
    }));
    expect((await query(server.url, IngestDocument, { events: baseline }, tenant())).ingest.accepted).toBe(12);
    await waitForProcessing(server.url, 30_000, tenant());
    before = await snapshot(server);
    expect((before.events as unknown[]).length).toBe(12);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('has at least 100 cases', () => {
    expect(HTTP_CASES.length + WS_CASES.length).toBeGreaterThanOrEqual(100);
  });

  it.each(HTTP_CASES)('$name', async (c) => {
    const answer = await send(server, c);
    const error = errorOf(answer.body);
    expect({ status: answer.status, code: error?.code ?? null }, JSON.stringify(answer.body)?.slice(0, 600)).toEqual({
      status: c.status,
      code: c.code,
    });
    for (const part of c.message ?? []) expect(error?.message).toContain(part);
    // A rejected call accepted nothing.
    const ingested = answer.body?.data?.ingest as { accepted: number } | undefined;
    if (ingested) expect(ingested.accepted).toBe(0);
  });

  it.each(WS_CASES)('graphql-ws: $name', async (c) => {
    const session = await openRawGraphqlWs(server, { init: `Bearer ${keys.tenant}` });
    try {
      session.socket.send('raw' in c.send ? c.send.raw : JSON.stringify({ id: 'op', type: 'subscribe', payload: c.send }));
      if ('close' in c.expect) {
        expect((await session.closed).code).toBe(c.expect.close);
        return;
      }
      // Refused before execution: an `error` frame. Refused by a resolver: a `next` frame whose
      // result holds the error, after which the operation completes.
      const message = await session.next();
      expect(['error', 'next'], JSON.stringify(message)).toContain(message?.type);
      const [error] = (message!.type === 'error' ? message!.payload : (message!.payload as { errors: unknown[] }).errors) as {
        message: string;
        extensions?: { code?: string };
      }[];
      expect(error!.extensions?.code ?? (error!.message.startsWith('Syntax Error') ? 'GRAPHQL_PARSE_FAILED' : null)).toBe(c.expect.error);
      expect(error!.message).toContain(c.expect.message);
      // The refused operation ended alone: the same socket still serves the next one.
      session.socket.send(JSON.stringify({ id: 'after', type: 'subscribe', payload: { query: '{ eventTypes { type } }' } }));
      let reply = await session.next();
      if (reply?.type === 'complete' && reply.id === 'op') reply = await session.next();
      expect(reply).toMatchObject({ type: 'next', id: 'after' });
    } finally {
      session.socket.close();
    }
  });

  it('graphql-ws: refuses a connection without a key with UNAUTHENTICATED before any subscription', async () => {
    // Issue 11 (8c): an unauthenticated connection_init is closed with 4403, never acknowledged.
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(String(data)));
    socket.on('error', () => {});
    await once(socket, 'open');
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    const { code, reason } = await closed;
    expect(code).toBe(4403);
    expect(reason).toContain('UNAUTHENTICATED');
    expect(messages).toEqual([]);
  });

  it('accepts hostile-looking but valid events, and stores them exactly as sent', async () => {
    const result = (await query(server.url, IngestDocument, { events: VALID_EVENTS }, tenant())).ingest;
    expect(result.acks.map((ack) => [ack.id, ack.status])).toEqual(VALID_EVENTS.map((e) => [e.id, 'ACCEPTED']));
    await waitForProcessing(server.url, 30_000, tenant());
    const stored = (await query(server.url, ListEventsDocument, { filter: { types: [VALID_TYPE] } }, tenant())).events.edges.map(
      (edge) => edge.node,
    );
    expect(
      stored.map((e) => ({
        id: e.id,
        type: e.type,
        timestamp: e.timestamp,
        source: e.source,
        dimensions: e.dimensions,
        values: e.values,
        properties: e.properties,
      })),
    ).toEqual(
      [...VALID_EVENTS].reverse().map((e) => ({
        id: e.id,
        type: e.type,
        timestamp: e.timestamp,
        source: e.source ?? null,
        dimensions: e.dimensions ?? {},
        values: e.values ?? {},
        properties: e.properties ?? null,
      })),
    );
    // The CQL text is a dimension value like any other: it groups and filters exactly.
    const grouped = await query(
      server.url,
      ReadSeriesDocument,
      { query: { type: VALID_TYPE, interval: 'HOUR', groupBy: 'country', ...RANGE } },
      tenant(),
    );
    expect(grouped.series.map((s) => [s.group, s.points.reduce((n, p) => n + p.count, 0)])).toEqual([
      [CQL, 1],
      ['NL', 1],
      ['__proto__', 1],
      [null, 1],
    ]);
    const ranked = await query(server.url, ReadTopDocument, { query: { type: VALID_TYPE, by: 'plan', ...RANGE } }, tenant());
    expect(ranked.top.map((t) => [t.key, t.count])).toEqual([
      ['constructor', 1],
      ['{"$gt": ""}', 1],
    ]);
    const filtered = await query(
      server.url,
      ListEventsDocument,
      { filter: { types: [VALID_TYPE], dimensions: { country: CQL } } },
      tenant(),
    );
    expect(filtered.events.edges.map((edge) => edge.node.id)).toEqual([CQL]);
  });

  it('afterwards: the baseline is exactly unchanged, nothing else was stored, and the service is up', async () => {
    await waitForProcessing(server.url, 30_000, tenant());
    expect(await snapshot(server)).toEqual(before);
    const { eventTypes } = await query(server.url, ListEventTypesDocument, undefined, tenant());
    expect(eventTypes.map((t) => [t.type, t.count])).toEqual([
      [BASELINE_TYPE, 12],
      [VALID_TYPE, VALID_EVENTS.length],
    ]);
    const quarantined = await query(server.url, ListQuarantineDocument, { first: 10 }, tenant());
    expect(quarantined.quarantine.edges).toEqual([]);
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200);
    expect((await fetch(`${server.baseUrl}/ready`)).status).toBe(200);
    expect(server.child.exitCode).toBeNull();
    expect(server.child.signalCode).toBeNull();
    // Expected failures are answered, never crashes: no unexpected error was logged.
    expect(server.output()).not.toContain('unexpected error while executing an operation');
  });
});

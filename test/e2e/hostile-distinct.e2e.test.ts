/**
 * Hostile distinct input, end to end on both stacks (issue 14): `EventInput.distinct` with five
 * keys, thousands of keys, values that are not strings, huge values, lone surrogates in values
 * and keys; prototype member names as keys, which are ordinary keys; bad distinct key names in
 * queries; and `rankBy` without its argument. Each case is a real request with an exact HTTP
 * status and code, and the service answers /health promptly afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { waitForProcessing } from '../support/clients.ts';
import { PROTOTYPE_MEMBER_KEYS } from '../support/prototype-members.ts';

const INGEST =
  'mutation Ingest($e: [EventInput!]!) { ingest(events: $e) { accepted rejected acks { status error { code message path } } } }';
const SERIES = 'query Series($q: SeriesQuery!) { series(query: $q) { points { count distinct } } }';
const TOP = 'query Top($q: TopQuery!) { top(query: $q) { key count sum distinct } }';
const EVENT = 'query Event($id: ID!) { event(id: $id) { distinct } }';

const HOUR = 3_600_000;
const base = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const at = (ms: number) => new Date(base + ms).toISOString();
const RANGE = { from: at(0), to: at(HOUR) };
const run = Math.random().toString(36).slice(2, 8);

interface Answer {
  status: number;
  body: { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function post(server: TestServer, query: string, variables: unknown): Promise<Answer> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** An ingest of one event whose `distinct` is given: its one ack. */
async function ackOf(
  server: TestServer,
  distinct: unknown,
): Promise<{ status: string; error: { code: string; message: string; path: string } | null }> {
  const answer = await post(server, INGEST, { e: [{ type: `hostile_${run}`, timestamp: at(0), distinct }] });
  expect(answer.status).toBe(200);
  expect(answer.body.errors).toBeUndefined();
  return answer.body.data!.ingest.acks[0];
}

/** A request error: exact status, one error, its code and message parts. */
function expectError(answer: Answer, status: number, code: string, message: string[]): void {
  expect(answer.status).toBe(status);
  expect(answer.body.errors).toHaveLength(1);
  expect(answer.body.errors![0]!.extensions?.code).toBe(code);
  for (const part of message) expect(answer.body.errors![0]!.message).toContain(part);
}

describe.each(BACKENDS)('hostile distinct input on %s', (backend) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer({ backend });
    // Settled first (on Kafka the consumer joins its group in the background), so /health timings measure the cases.
    await waitForProcessing(server.url, 60_000);
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });

  it.each([
    ['five keys', { a: '1', b: '2', c: '3', d: '4', e: '5' }, 'distinct', 'at most 4 distinct keys'],
    ['10,000 keys', Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'])), 'distinct', 'at most 4 distinct keys'],
    ['a number value', { user: 42 }, 'distinct.user', 'must be strings'],
    ['a boolean value', { user: false }, 'distinct.user', 'must be strings'],
    ['a null value', { user: null }, 'distinct.user', 'must be strings'],
    ['an object value', { user: { $gt: '' } }, 'distinct.user', 'must be strings'],
    ['a list value', { user: ['u1', 'u2'] }, 'distinct.user', 'must be strings'],
    ['a value of 257 characters', { user: 'x'.repeat(257) }, 'distinct.user', 'at most 256 characters'],
    ['a value of 500,000 characters', { user: 'x'.repeat(500_000) }, 'distinct.user', 'at most 256 characters'],
    ['a lone high surrogate', { user: 'u-\ud800' }, 'distinct.user', 'lone surrogate (U+D800)'],
    ['a lone low surrogate', { user: '\udfff' }, 'distinct.user', 'lone surrogate (U+DFFF)'],
    ['a key with a lone surrogate', { ['k\ud800']: 'u' }, 'distinct.k\ufffd', 'distinct keys must be'],
    ['a dotted key', { 'user.id': 'u' }, 'distinct.user.id', 'distinct keys must be'],
    ['a $ key', { $where: 'u' }, 'distinct.$where', 'distinct keys must be'],
    ['__proto__ as a key', JSON.parse('{"__proto__": "u"}'), 'distinct.__proto__', 'distinct keys must be'],
  ])('rejects an event whose distinct has %s with INVALID_DISTINCT', async (_name, distinct, path, message) => {
    const ack = await ackOf(server, distinct);
    expect(ack.status).toBe('REJECTED');
    expect(ack.error).toMatchObject({ code: 'INVALID_DISTINCT', path });
    expect(ack.error!.message).toContain(message);
    await expectHealthy(server);
  });

  it('refuses a distinct that is not an object before anything is ingested', async () => {
    for (const distinct of ['user=u1', ['u1'], 7]) {
      const answer = await post(server, INGEST, { e: [{ type: `hostile_${run}`, distinct }] });
      expectError(answer, 400, 'BAD_USER_INPUT', ['JSONObject must be a JSON object']);
    }
    await expectHealthy(server);
  });

  it('counts keys named after Object.prototype members like any other key, and returns them', async () => {
    const type = `proto_${run}`;
    // Four keys an event at most: the member names in groups of four, two users each.
    const groups: string[][] = [];
    for (let i = 0; i < PROTOTYPE_MEMBER_KEYS.length; i += 4) groups.push(PROTOTYPE_MEMBER_KEYS.slice(i, i + 4));
    const events = groups.flatMap((keys, g) =>
      ['a', 'b', 'a'].map((user, i) => ({
        id: `${run}-proto-${g}-${i}`,
        type,
        timestamp: at(1_000),
        distinct: Object.fromEntries(keys.map((key) => [key, `${key}-${user}`])),
      })),
    );
    const answer = await post(server, INGEST, { e: events });
    expect(answer.body.data!.ingest).toMatchObject({ accepted: events.length, rejected: 0 });
    await waitForProcessing(server.url, 60_000);

    for (const key of PROTOTYPE_MEMBER_KEYS) {
      const series = await post(server, SERIES, { q: { type, interval: 'HOUR', ...RANGE, distinct: key } });
      expect(series.body).toEqual({ data: { series: [{ points: [{ count: events.length, distinct: 2 }] }] } });
    }
    const stored = await post(server, EVENT, { id: `${run}-proto-0-1` });
    expect(stored.body.data!.event.distinct).toEqual(Object.fromEntries(groups[0]!.map((key) => [key, `${key}-b`])));
    await expectHealthy(server);
  });

  it.each([
    ['a dotted key', 'user.id'],
    ['a $ key', '$where'],
    ['__proto__', '__proto__'],
    ['a lone surrogate', 'u\ud800'],
    ['an empty key', ''],
    ['a key of 100,000 characters', 'k'.repeat(100_000)],
  ])('refuses series and top naming %s as the distinct key with BAD_USER_INPUT', async (_name, distinct) => {
    expectError(await post(server, SERIES, { q: { type: 'any', interval: 'HOUR', ...RANGE, distinct } }), 200, 'BAD_USER_INPUT', [
      'query.distinct',
    ]);
    expectError(await post(server, TOP, { q: { type: 'any', by: 'country', ...RANGE, distinct } }), 200, 'BAD_USER_INPUT', [
      'query.distinct',
    ]);
    await expectHealthy(server);
  });

  it('refuses rankBy without its argument, and an unknown ranking', async () => {
    expectError(await post(server, TOP, { q: { type: 'any', by: 'country', ...RANGE, rankBy: 'SUM' } }), 200, 'BAD_USER_INPUT', [
      'SUM',
      'query.value',
    ]);
    expectError(
      await post(server, TOP, { q: { type: 'any', by: 'country', ...RANGE, rankBy: 'DISTINCT', value: 'amount' } }),
      200,
      'BAD_USER_INPUT',
      ['DISTINCT', 'query.distinct'],
    );
    expectError(await post(server, TOP, { q: { type: 'any', by: 'country', ...RANGE, rankBy: 'USERS' } }), 400, 'BAD_USER_INPUT', [
      'TopRank',
    ]);
    // With its argument, a ranking of nothing is simply empty.
    const empty = await post(server, TOP, { q: { type: 'nothing_here', by: 'country', ...RANGE, rankBy: 'DISTINCT', distinct: 'user' } });
    expect(empty.body).toEqual({ data: { top: [] } });
    await expectHealthy(server);
  });
});

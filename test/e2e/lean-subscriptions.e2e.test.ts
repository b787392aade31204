/**
 * graphql-ws subscriptions take a lean path (src/server/lean-subscriptions.ts): this suite pins
 * that, frame for frame, it answers as graphql-ws itself does (protocol graphql-transport-ws), for
 * what the other subscription suites do not reach: a subscription that does not start, a document
 * that does not validate, an id used twice, a client's `complete` among several subscriptions of
 * one socket, and the operations left to graphql-ws (queries, mutations).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { openRawGraphqlWs, type WsMessage, type WsSession } from '../support/raw-graphql-ws.ts';
import { query, waitForLiveSubscriptions } from '../support/clients.ts';
import { IngestDocument } from '../generated/operations.ts';

const LIVE_SERIES = 'subscription Live($type: String!) { series(query: { type: $type, interval: MINUTE }) { point { count } } }';

describe.each(BACKENDS)('lean graphql-ws subscriptions on %s', (backend) => {
  let server: TestServer;
  const sessions: WsSession[] = [];

  beforeAll(async () => {
    server = await startServer({ backend });
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    for (const session of sessions.splice(0)) session.socket.close();
    // Whatever a case opened, the server gives back.
    await waitForLiveSubscriptions(server.url, 0);
    await expectHealthy(server);
  });

  async function open(): Promise<WsSession> {
    const session = await openRawGraphqlWs(server, { init: null });
    sessions.push(session);
    return session;
  }

  function send(session: WsSession, message: object): void {
    session.socket.send(JSON.stringify(message));
  }

  /** The frames of one operation until it completes or errors. */
  async function framesOf(session: WsSession, id: string): Promise<WsMessage[]> {
    const frames: WsMessage[] = [];
    for (;;) {
      const message = await session.next();
      if (message === null) throw new Error('the socket closed');
      if (message.id !== id) continue;
      frames.push(message);
      if (message.type === 'complete' || message.type === 'error') return frames;
    }
  }

  it('answers a subscription refused by its resolver with next (its error) then complete', async () => {
    const session = await open();
    send(session, { id: 'refused', type: 'subscribe', payload: { query: LIVE_SERIES, variables: { type: 'bad type' } } });
    const frames = await framesOf(session, 'refused');
    expect(frames.map((frame) => frame.type)).toEqual(['next', 'complete']);
    const payload = frames[0]!.payload as { errors: { extensions: { code: string }; path: string[] }[] };
    // As graphql-js answers a subscription whose source could not be created: errors, no data.
    expect(Object.keys(payload)).toEqual(['errors']);
    expect(payload.errors.map((error) => [error.extensions.code, error.path])).toEqual([['BAD_USER_INPUT', ['series']]]);
  });

  it('answers a document that does not validate with one error frame, and no complete', async () => {
    const session = await open();
    send(session, { id: 'invalid', type: 'subscribe', payload: { query: 'subscription { series { nope } }' } });
    const frames = await framesOf(session, 'invalid');
    expect(frames).toEqual([
      {
        id: 'invalid',
        type: 'error',
        payload: [
          expect.objectContaining({ message: 'Cannot query field "nope" on type "SeriesUpdate".' }),
          expect.objectContaining({
            message: 'Field "series" argument "query" of type "LiveSeriesQuery!" is required, but it was not provided.',
          }),
        ],
      },
    ]);
    // The connection goes on: the same id may be used again.
    send(session, { id: 'invalid', type: 'subscribe', payload: { query: '{ streamStatus { lag } }' } });
    expect((await framesOf(session, 'invalid')).map((frame) => frame.type)).toEqual(['next', 'complete']);
  });

  it('closes the connection with 4409 when a subscription id is used twice', async () => {
    const session = await open();
    send(session, { id: 'twice', type: 'subscribe', payload: { query: LIVE_SERIES, variables: { type: 'lean_twice' } } });
    send(session, { id: 'twice', type: 'subscribe', payload: { query: LIVE_SERIES, variables: { type: 'lean_twice' } } });
    expect(await session.closed).toEqual({ code: 4409, reason: 'Subscriber for twice already exists' });
  });

  it("ends only the subscription a client's complete names; the others on the socket go on", async () => {
    const session = await open();
    send(session, { id: 'kept', type: 'subscribe', payload: { query: LIVE_SERIES, variables: { type: 'lean_kept' } } });
    send(session, { id: 'ended', type: 'subscribe', payload: { query: LIVE_SERIES, variables: { type: 'lean_kept' } } });
    await waitForLiveSubscriptions(server.url, 2);
    send(session, { id: 'ended', type: 'complete' });
    await waitForLiveSubscriptions(server.url, 1);
    await query(server.url, IngestDocument, { events: [{ id: 'lean-kept-1', type: 'lean_kept' }] });
    // The next frame is the kept one's (the ended one gets nothing, not even its own complete).
    expect(await session.next()).toEqual({ id: 'kept', type: 'next', payload: { data: { series: { point: { count: 1 } } } } });
    send(session, { id: 'kept', type: 'complete' });
    await waitForLiveSubscriptions(server.url, 0);
    expect(await session.next(500).catch(() => 'nothing')).toBe('nothing');
  });

  it('leaves queries and mutations to graphql-ws: next with the result, then complete', async () => {
    const session = await open();
    send(session, {
      id: 'mutation',
      type: 'subscribe',
      payload: { query: 'mutation { ingest(events: [{ id: "lean-m-1", type: "lean_mutation" }]) { accepted } }' },
    });
    expect(await framesOf(session, 'mutation')).toEqual([
      { id: 'mutation', type: 'next', payload: { data: { ingest: { accepted: 1 } } } },
      { id: 'mutation', type: 'complete' },
    ]);
  });
});

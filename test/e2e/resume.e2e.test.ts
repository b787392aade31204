/**
 * Resumable event subscriptions: from a subscription's own cursor over graphql-ws, from a
 * query's streamCursor, and over SSE with Last-Event-ID; every event exactly once, no gap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { print } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import { IngestDocument, ListEventsDocument, LiveEventsDocument } from '../generated/operations.ts';

describe.each(BACKENDS)('resuming event subscriptions on %s', (backend) => {
  let server: TestServer;
  let ws: WsClient;

  beforeAll(async () => {
    server = await startServer({ backend });
    ws = wsClient(server.wsUrl);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  async function ingest(type: string, ids: string[]) {
    const events = ids.map((id, i) => ({ id, type, values: { n: i } }));
    expect((await query(server.url, IngestDocument, { events })).ingest.accepted).toBe(ids.length);
  }
  const ids = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`);

  it('resumes from the last cursor received, with every event once', async () => {
    const first = await subscribe(ws, LiveEventsDocument, { filter: { types: ['resume'] } });
    await waitForLiveSubscriptions(server.url, 1);
    await ingest('resume', ids('r', 0, 10));
    const received = await first.waitFor(10);
    // The client goes away after the fourth event (say, a dropped connection) ...
    const lastCursor = received[3]!.events.cursor;
    first.stop();
    await waitForLiveSubscriptions(server.url, 0);
    // ... events keep coming while it is away, other types too ...
    await ingest('resume', ids('r', 10, 25));
    await ingest('resume_other', ids('o', 0, 5));
    await waitForProcessing(server.url);

    // ... and it resumes from its last cursor: history first, then live.
    const resumed = await subscribe(ws, LiveEventsDocument, { filter: { types: ['resume'] }, after: lastCursor });
    await resumed.waitFor(21);
    await ingest('resume', ids('r', 25, 30));
    await resumed.waitFor(26);
    await waitForProcessing(server.url);
    expect(resumed.items.map((item) => item.events.node.id)).toEqual(ids('r', 4, 30));
    resumed.stop();
    await waitForLiveSubscriptions(server.url, 0);
  });

  it("subscribes from a query's streamCursor without a gap", async () => {
    await ingest('snapshot', ids('s', 0, 5));
    await waitForProcessing(server.url);
    const snapshot = await query(server.url, ListEventsDocument, { filter: { types: ['snapshot'] } });
    expect(snapshot.events.edges.map((e) => e.node.id)).toEqual(ids('s', 0, 5).reverse());
    await ingest('snapshot', ids('s', 5, 12));
    await waitForProcessing(server.url);

    const live = await subscribe(ws, LiveEventsDocument, { filter: { types: ['snapshot'] }, after: snapshot.events.streamCursor });
    await live.waitFor(7);
    expect(live.items.map((item) => item.events.node.id)).toEqual(ids('s', 5, 12));
    live.stop();
    await waitForLiveSubscriptions(server.url, 0);
  });

  it('resumes over SSE from Last-Event-ID', async () => {
    const body = JSON.stringify({ query: print(LiveEventsDocument), variables: { filter: { types: ['sse_resume'] } } });
    const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
    const first = await openSse(server.url, body, headers);
    await waitForLiveSubscriptions(server.url, 1);
    await ingest('sse_resume', ids('e', 0, 6));
    const frames = await first.take(6);
    expect(frames.map((f) => f.id)).toEqual(frames.map((f) => f.data.events.cursor));
    first.close();
    await waitForLiveSubscriptions(server.url, 0);
    await ingest('sse_resume', ids('e', 6, 9));
    await waitForProcessing(server.url);

    const resumed = await openSse(server.url, body, { ...headers, 'last-event-id': frames[2]!.id! });
    const replayed = await resumed.take(6);
    expect(replayed.map((f) => f.data.events.node.id)).toEqual(ids('e', 3, 9));
    resumed.close();
    await waitForLiveSubscriptions(server.url, 0);
  });
});

interface SseFrame {
  id: string | null;
  data: { events: { cursor: string; node: { id: string } } };
}

/** A plain SSE reader over fetch: the frames, with their ids, as a browser's EventSource sees them. */
async function openSse(url: string, body: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const response = await fetch(url, { method: 'POST', body, headers, signal: abort.signal });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const frames: SseFrame[] = [];
  let text = '';
  return {
    async take(count: number): Promise<SseFrame[]> {
      const deadline = Date.now() + 15_000;
      while (frames.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} SSE frames, got ${frames.length}`);
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const lines = text.slice(0, end).split('\n');
          text = text.slice(end + 2);
          const field = (name: string) => lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2) ?? null;
          if (field('event') === 'next') frames.push({ id: field('id'), data: JSON.parse(field('data')!).data });
        }
      }
      return frames.slice(0, count);
    },
    close: () => abort.abort(),
  };
}

describe('resuming from an expired cursor', () => {
  let server: TestServer;
  let ws: WsClient;
  const HOUR_MS = 3_600_000;

  beforeAll(async () => {
    server = await startServer({ env: { EVENT_RETENTION: '1h' } });
    ws = wsClient(server.wsUrl);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  /** A stream cursor as the API writes one (cursors.ts): kind, position, and when it was issued. */
  const cursorIssuedAt = (issuedAt: number | undefined) =>
    Buffer.from(JSON.stringify(issuedAt === undefined ? ['s', []] : ['s', [], issuedAt])).toString('base64url');

  it('item 11: refuses over graphql-ws a cursor issued longer ago than EVENT_RETENTION with CURSOR_EXPIRED', async () => {
    const expired = await subscribe(ws, LiveEventsDocument, {
      filter: { types: ['expiry'] },
      after: cursorIssuedAt(Date.now() - 2 * HOUR_MS),
    });
    await expect(expired.waitFor(1)).rejects.toThrow('CURSOR_EXPIRED');
    expect(JSON.stringify(expired.errors)).toContain('EVENT_RETENTION');

    // A cursor within the retention, and one issued before cursors carried their age, still resume.
    await query(server.url, IngestDocument, { events: [{ id: 'x-0', type: 'expiry' }] });
    await waitForProcessing(server.url);
    for (const after of [cursorIssuedAt(Date.now() - HOUR_MS / 2), cursorIssuedAt(undefined)]) {
      const resumed = await subscribe(ws, LiveEventsDocument, { filter: { types: ['expiry'] }, after });
      expect((await resumed.waitFor(1))[0]!.events.node.id).toBe('x-0');
      resumed.stop();
    }
    // The cursors the API issues carry their age: one from the events query resumes as well.
    const { streamCursor } = (await query(server.url, ListEventsDocument, { filter: { types: ['expiry'] }, first: 1 })).events;
    expect(JSON.parse(Buffer.from(streamCursor!, 'base64url').toString())[2]).toBeGreaterThan(Date.now() - 60_000);
  });
});

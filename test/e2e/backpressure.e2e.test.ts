/**
 * Backpressure per subscriber: a client that stops reading does not grow server memory; once
 * its bounded queue is full it gets SUBSCRIBER_TOO_SLOW, telling it to resume from its cursor,
 * while other subscribers carry on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { print } from 'graphql';
import { startServer, type TestServer } from '../support/server.ts';
import { query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import { IngestDocument, LiveEventsDocument } from '../generated/operations.ts';

describe('a subscriber that stops reading', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ env: { INGEST_RATE_PER_KEY: '10000000' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('is told to resume from its cursor, and does not hold up the others', async () => {
    const stalled = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const messages: { type: string; payload?: unknown }[] = [];
    stalled.on('message', (data) => messages.push(JSON.parse(data.toString())));
    await new Promise((resolve) => stalled.once('open', resolve));
    stalled.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((resolve) => setTimeout(resolve, 200));
    stalled.send(
      JSON.stringify({
        id: 'slow',
        type: 'subscribe',
        payload: { query: print(LiveEventsDocument), variables: { filter: { types: ['flood'] } } },
      }),
    );
    const healthy = wsClient(server.wsUrl);
    const other = await subscribe(healthy, LiveEventsDocument, { filter: { types: ['flood'] } });
    await waitForLiveSubscriptions(server.url, 2);
    // The stalled client stops reading from its socket: the kernel buffers fill, then its queue.
    (stalled as unknown as { _socket: { pause(): void } })._socket.pause();

    const padding = 'x'.repeat(1_000);
    const total = 30_000;
    // Batches of 500 keep each request under the 1 MiB body limit.
    for (let batch = 0; batch < total / 500; batch++) {
      const events = Array.from({ length: 500 }, (_, i) => ({ id: `f-${batch}-${i}`, type: 'flood', properties: { padding } }));
      expect((await query(server.url, IngestDocument, { events })).ingest.accepted).toBe(500);
    }
    await waitForProcessing(server.url, 60_000);
    await other.waitFor(total, 60_000);
    expect(new Set(other.items.map((item) => item.events.node.id)).size).toBe(total);

    // Reading again, the stalled client finds what was sent before its queue overflowed, then the error.
    (stalled as unknown as { _socket: { resume(): void } })._socket.resume();
    await expect
      .poll(() => messages.find((m) => m.type === 'error'), { timeout: 20_000 })
      .toMatchObject({ payload: [{ extensions: { code: 'SUBSCRIBER_TOO_SLOW' } }] });
    const error = messages.find((m) => m.type === 'error') as { payload: { message: string }[] };
    expect(error.payload[0]!.message).toContain('subscribe again with `after` set to the last cursor');
    const delivered = messages.filter((m) => m.type === 'next').length;
    expect(delivered).toBeGreaterThan(0);
    expect(delivered).toBeLessThan(total);
    other.stop();
    stalled.close();
    await healthy.dispose();
  }, 120_000);
});

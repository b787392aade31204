/**
 * Graceful shutdown: ingest in flight is drained (answered ACCEPTED only once durable), the
 * batch in hand is finished, committed and pushed to subscribers before their connections close
 * with a reason, and the next start processes exactly what was left in the log.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { print } from 'graphql';
import { removeDataDir, startServer } from '../support/server.ts';
import { execute, query, waitForLiveSubscriptions, waitForProcessing } from '../support/clients.ts';
import { IngestDocument, ListEventTypesDocument, LiveEventsDocument, ReadStreamStatusDocument } from '../generated/operations.ts';

describe('graceful shutdown', () => {
  it('drains ingest, commits the batch in hand, pushes it, then closes subscriptions with a reason', async () => {
    const server = await startServer();
    try {
      // A raw graphql-ws conversation, to see the close code and reason the server sends.
      const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
      const received: string[] = [];
      const closedWith = new Promise<[number, string]>((resolve) =>
        socket.on('close', (code, reason) => resolve([code, reason.toString()])),
      );
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { type: string; payload?: { data?: { events: { node: { id: string } } } } };
        if (message.type === 'connection_ack') {
          socket.send(
            JSON.stringify({
              id: '1',
              type: 'subscribe',
              payload: { query: print(LiveEventsDocument), variables: { filter: { types: ['shutdown'] } } },
            }),
          );
        }
        if (message.type === 'next') received.push(message.payload!.data!.events.node.id);
        if (message.type === 'error') received.push(`error: ${JSON.stringify(message.payload)}`);
      });
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await waitForLiveSubscriptions(server.url, 1);

      // SIGTERM lands while batches are in flight: each either answers ACCEPTED (durable) or is
      // refused as a whole.
      const batches = Array.from({ length: 6 }, (_, b) =>
        Array.from({ length: 1000 }, (_, i) => ({ id: `s-${b}-${i}`, type: 'shutdown' })),
      );
      // The first batch is answered before the stop, so something is always accepted however slowly
      // a loaded machine delivers the rest; the other five are in flight when SIGTERM lands.
      const [first, ...inFlight] = batches;
      const firstAnswer = await execute(server.url, IngestDocument, { events: first! });
      const answers = [
        Promise.resolve(firstAnswer),
        ...inFlight.map((events) => execute(server.url, IngestDocument, { events }).catch(() => null)),
      ];
      await new Promise((resolve) => setTimeout(resolve, 15));
      const exitCode = await server.stop();
      const accepted = (await Promise.all(answers)).flatMap((answer) =>
        (answer?.data?.ingest.acks ?? []).filter((ack) => ack.status === 'ACCEPTED').map((ack) => ack.id!),
      );

      expect(exitCode).toBe(0);
      expect(await closedWith).toEqual([1001, 'server shutting down']);
      expect(accepted.length).toBeGreaterThan(0);
      // What was processed before the stop reached the subscriber, in order, before the close.
      const acceptedSet = new Set(accepted);
      expect(received.every((id) => acceptedSet.has(id))).toBe(true);
      expect(new Set(received).size).toBe(received.length);

      // The rest is in the log: the next start processes exactly that, and everything is stored once.
      const restarted = await startServer({ dataDir: server.dataDir });
      try {
        await waitForProcessing(restarted.url);
        const { streamStatus } = await query(restarted.url, ReadStreamStatusDocument);
        expect(streamStatus.processed).toBe(accepted.length - received.length);
        expect(streamStatus.duplicates).toBe(0);
        const { eventTypes } = await query(restarted.url, ListEventTypesDocument);
        expect(eventTypes.find((t) => t.type === 'shutdown')!.count).toBe(accepted.length);
      } finally {
        await restarted.stop();
      }
    } finally {
      await server.stop();
      removeDataDir(server.dataDir);
    }
  });
});

/**
 * A bare graphql-transport-ws client over `ws`: the benchmarks hold thousands of sockets, and
 * the raw-ws baselines are read by the same client code, so that the client side costs the
 * same in both arms. It counts (or hands over) the text of each `next` message.
 */
import WebSocket from 'ws';

export interface RawSubscriber {
  socket: WebSocket;
  close(): void;
}

export async function connectRaw(url: string, onMessage: (text: string) => void, protocol?: string): Promise<WebSocket> {
  const socket = new WebSocket(url, protocol ? [protocol] : [], { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.on('message', (data) => onMessage(data.toString()));
  socket.on('error', () => {});
  return socket;
}

/** Opens a socket, initialises graphql-transport-ws, and subscribes; resolves once the subscribe message is sent. */
export async function subscribeRaw(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  onNext: (text: string) => void,
): Promise<RawSubscriber> {
  let acked: () => void = () => {};
  const ack = new Promise<void>((resolve) => (acked = resolve));
  const socket = await connectRaw(
    url,
    (text) => {
      // Cheap dispatch without parsing every message: `next` frames are the bulk.
      if (text.startsWith('{"id":"1","type":"next"') || text.includes('"type":"next"')) onNext(text);
      else if (text.includes('"connection_ack"')) acked();
      else if (text.includes('"type":"error"')) process.stderr.write(`subscription error: ${text.slice(0, 300)}\n`);
    },
    'graphql-transport-ws',
  );
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  await ack;
  socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
  return { socket, close: () => socket.terminate() };
}

/** Opens `count` subscribers, `parallel` at a time (the server's accept queue is bounded). */
export async function subscribeMany(
  count: number,
  open: (index: number) => Promise<RawSubscriber>,
  parallel = 50,
): Promise<RawSubscriber[]> {
  const subscribers: RawSubscriber[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const index = next++;
        subscribers.push(await open(index));
      }
    }),
  );
  return subscribers;
}

/**
 * A graphql-ws subscriber of the `events` of one type, for freshness probes (P3, P10): each
 * delivered event whose id is waited for in `waiting` resolves with the time it arrived
 * (performance.now()). Ids are read from the frame's text, not parsed: bench event ids are
 * `${type}-…` (bench/harness/events.ts) and hold no quote.
 */
export function subscribeToArrivals(
  url: string,
  type: string,
  waiting: ReadonlyMap<string, (arrivedAt: number) => void>,
): Promise<RawSubscriber> {
  const query = `subscription Arrivals($types: [String!]) { events(filter: { types: $types }) { cursor node { id } } }`;
  const ids = new RegExp(`"id":"(${type}-[^"]+)"`, 'g');
  return subscribeRaw(url, query, { types: [type] }, (text) => {
    const now = performance.now();
    for (const match of text.matchAll(ids)) waiting.get(match[1]!)?.(now);
  });
}

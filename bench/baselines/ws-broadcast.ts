/**
 * The raw `ws` baseline of P5 and P6, run as its own process like Streamlens: a WebSocket
 * server that, on command, broadcasts one pre-serialised payload to every socket as fast as
 * the sockets take it (waiting while any socket has more than 1 MB queued).
 *
 * Commands come as JSON lines on stdin; answers go as JSON lines on stdout:
 *   {"blast": {"seconds": 1.5, "payload": "…"}} → {"sent": <messages>}
 *   {"count": true}                            → {"sockets": <open sockets>}
 */
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { WebSocketServer, type WebSocket } from 'ws';

const HIGH_WATER = 1 << 20;
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
const sockets = new Set<WebSocket>();
wss.on('connection', (socket) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});

async function blast(seconds: number, payload: string): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let sent = 0;
  while (performance.now() < deadline) {
    let congested = false;
    for (const socket of sockets) {
      if (socket.bufferedAmount > HIGH_WATER) {
        congested = true;
        continue;
      }
      socket.send(payload);
      sent += 1;
    }
    // Let the sockets flush (and answer stdin) between rounds.
    await new Promise((resolve) => (congested ? setTimeout(resolve, 1) : setImmediate(resolve)));
  }
  return sent;
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { blast?: { seconds: number; payload: string }; count?: boolean };
  if (command.blast) process.stdout.write(`${JSON.stringify({ sent: await blast(command.blast.seconds, command.blast.payload) })}\n`);
  else if (command.count) process.stdout.write(`${JSON.stringify({ sockets: sockets.size })}\n`);
}

/**
 * A Redis server of a test's own, on a free loopback port, with no persistence, that the test may
 * stop, restart and misuse at will (the shared one that scripts/services.sh runs is everybody's,
 * and stays untouched). Needs `redis-server` and `redis-cli` on PATH, as services.sh installs them.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, nothing saved) and starts it again on the same port. */
  restart(options?: { downForMs?: number }): Promise<void>;
  /** A command through redis-cli, for example `CLIENT KILL TYPE pubsub`; resolves with its output. */
  command(...args: string[]): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'streamlens-private-redis-'));
  let child: ChildProcess | null = null;

  const cli = (...args: string[]) => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });

  async function start(): Promise<void> {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 10_000;
    while (cli('PING').stdout.trim() !== 'PONG') {
      if (Date.now() > deadline) throw new Error(`the private redis-server on port ${port} did not answer PING within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function stopChild(): Promise<void> {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    await exited;
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart(options = {}) {
      await stopChild();
      await new Promise((resolve) => setTimeout(resolve, options.downForMs ?? 0));
      await start();
    },
    command(...args) {
      const result = cli(...args);
      if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${result.stderr}`);
      return result.stdout.trim();
    },
    async stop() {
      await stopChild();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the real service as a child process (`node src/main.ts`), on a free port and its own
 * DATA_DIR, exactly as `npm start` does, and reads its JSON log to learn where it listens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { expect } from 'vitest';
import { requireServerEnv, uniqueName } from './real-servers.ts';

export interface TestServer {
  url: string;
  wsUrl: string;
  baseUrl: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the process printed, for failure messages. */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash at an arbitrary moment. */
  kill(): Promise<void>;
}

export function newDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'streamlens-test-'));
}

export function removeDataDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Which parts a test server runs on: everything embedded, or all four real servers (at the
 * addresses `npm test` provides). End-to-end suites run once per backend.
 */
export type Backend = 'embedded' | 'real servers';
export const BACKENDS: Backend[] = ['embedded', 'real servers'];

/** The variables that point a server at the real services, with names of its own. */
export function realServerEnv(name = uniqueName('e2e')): Record<string, string> {
  const mongoUrl = new URL(requireServerEnv('MONGODB_URL'));
  mongoUrl.pathname = `/${name}`;
  return {
    KAFKA_BROKERS: requireServerEnv('KAFKA_BROKERS'),
    KAFKA_TOPIC: name,
    // Several partitions, so that the per-partition logic (watermarks, rollup rows) is exercised.
    KAFKA_PARTITIONS: '3',
    MONGODB_URL: mongoUrl.toString(),
    CASSANDRA_CONTACT_POINTS: requireServerEnv('CASSANDRA_CONTACT_POINTS'),
    CASSANDRA_LOCAL_DC: process.env.CASSANDRA_LOCAL_DC ?? 'datacenter1',
    CASSANDRA_KEYSPACE: name,
    REDIS_URL: requireServerEnv('REDIS_URL'),
  };
}

/** The environment of a server on this backend, unset real-server variables included. */
export function backendEnv(backend: Backend): Record<string, string | undefined> {
  if (backend === 'real servers') return realServerEnv();
  return { KAFKA_BROKERS: undefined, MONGODB_URL: undefined, CASSANDRA_CONTACT_POINTS: undefined, REDIS_URL: undefined };
}

export async function startServer(
  options: { dataDir?: string; env?: Record<string, string | undefined>; backend?: Backend } = {},
): Promise<TestServer> {
  const dataDir = options.dataDir ?? newDataDir();
  const env: Record<string, string | undefined> = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    ...backendEnv(options.backend ?? 'embedded'),
    ...options.env,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (chunk) => (output += chunk));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      output += chunk;
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          const entry = JSON.parse(line) as { port?: number; url?: string };
          if (entry.port && entry.url) {
            child.stdout!.off('data', onData);
            child.stdout!.on('data', (more) => (output += more));
            resolve(entry.port);
          }
        } catch {
          // not a JSON log line
        }
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${output}`)));
    setTimeout(() => reject(new Error(`server did not start within 60 s:\n${output}`)), 60_000).unref();
  });
  const exited = once(child, 'exit');
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * How fast GET /health must answer after a hostile request: a request that still held the event
 * loop (a runaway regex, an unbounded loop) would delay it by seconds. Not a performance target
 * (those are benchmarks): a wide bound, so that a loaded two-core machine, where one fetch can
 * take over 100 ms on its own, never fails a healthy service.
 */
export const HEALTH_BUDGET_MS = 1_000;

/** The service still answers GET /health with 200, within HEALTH_BUDGET_MS. */
export async function expectHealthy(server: TestServer): Promise<void> {
  const started = performance.now();
  const response = await fetch(`${server.baseUrl}/health`, { signal: AbortSignal.timeout(5_000) });
  const elapsed = performance.now() - started;
  expect(response.status).toBe(200);
  expect(elapsed).toBeLessThan(HEALTH_BUDGET_MS);
}

/**
 * Item 7 of issue 12: the stores record the identity of the log their offsets belong to, and a
 * service started on another log (offsets from 0 again) refuses to start, with one message on
 * stderr and exit code 1, instead of silently skipping the new log's events.
 *
 * Both cases run the service as `npm start` does (node src/main.ts): the embedded log with its
 * log.sqlite removed, and, on the real servers, the Kafka topic deleted and created again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { newDataDir, realServerEnv, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import { query, waitForProcessing } from '../support/clients.ts';
import { requireServerEnv, uniqueName } from '../support/real-servers.ts';
import { IngestDocument } from '../generated/operations.ts';

const EMBEDDED = { KAFKA_BROKERS: undefined, MONGODB_URL: undefined, CASSANDRA_CONTACT_POINTS: undefined, REDIS_URL: undefined };
const REFUSAL =
  /^streamlens: failed to start: the event log is not the one the stores were built from: the series store recorded the log (\S+), and the log now is (\S+)\. .*start over with empty stores.*\n$/;

/** A refused start exits within seconds; a start that is not refused serves until killed, here after this. */
const EXIT_WITHIN_MS = 20_000;
/** Children still running when a test ends (it failed): killed by afterEach, never left behind. */
const running = new Set<ChildProcess>();

/** Runs the service until it exits by itself (killed after EXIT_WITHIN_MS): its exit code and what it wrote to stderr. */
async function runUntilExit(dataDir: string, env: Record<string, string | undefined>): Promise<{ code: number | null; stderr: string }> {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    // Node's own process warnings (kafkajs sets a negative timeout, which Node 24 warns about) are not the service's output.
    NODE_NO_WARNINGS: '1',
    ...env,
  };
  for (const key of Object.keys(childEnv)) if (childEnv[key] === undefined) delete childEnv[key];
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: childEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  running.delete(child);
  return { code, stderr };
}

async function ingestAndProcess(server: TestServer): Promise<void> {
  const result = await query(server.url, IngestDocument, {
    events: Array.from({ length: 5 }, (_, i) => ({ id: `before-${i}`, type: 'identity_check', values: { n: i } })),
  });
  expect(result.ingest.accepted).toBe(5);
  await waitForProcessing(server.url);
}

describe('item 7: the log identity', () => {
  let server: TestServer | null = null;
  let dataDir: string | null = null;

  afterEach(async () => {
    for (const child of running) child.kill('SIGKILL');
    running.clear();
    await server?.stop();
    server = null;
    if (dataDir) removeDataDir(dataDir);
    dataDir = null;
  });

  it('item 7: embedded, with log.sqlite removed and the stores kept, the service refuses to start with one message', {
    timeout: 90_000,
  }, async () => {
    dataDir = newDataDir();
    server = await startServer({ dataDir, env: EMBEDDED });
    await ingestAndProcess(server);
    expect(await server.stop()).toBe(0);
    server = null;

    for (const file of ['log.sqlite', 'log.sqlite-wal', 'log.sqlite-shm']) rmSync(join(dataDir, file), { force: true });
    const { code, stderr } = await runUntilExit(dataDir, EMBEDDED);
    expect(code).toBe(1);
    expect(stderr).toMatch(REFUSAL);
    const [, recorded, current] = REFUSAL.exec(stderr)!;
    expect(recorded).toMatch(/^embedded:/);
    expect(current).toMatch(/^embedded:/);
    expect(current).not.toBe(recorded);

    // The log is left as the refused start made it, and the refusal holds on every later start.
    expect((await runUntilExit(dataDir, EMBEDDED)).code).toBe(1);
  });

  it('item 7: on Kafka, with the topic deleted and created again and the stores kept, the service refuses to start with one message', {
    timeout: 90_000,
  }, async () => {
    const name = uniqueName('e2e_identity');
    const env = realServerEnv(name);
    dataDir = newDataDir();
    server = await startServer({ dataDir, env });
    await ingestAndProcess(server);
    expect(await server.stop()).toBe(0);
    server = null;

    const admin = new Kafka({ brokers: requireServerEnv('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [name] });
      // Deletion completes in the background; the service creates the topic again at its start.
      const deadline = Date.now() + 30_000;
      while ((await admin.listTopics()).includes(name)) {
        if (Date.now() > deadline) throw new Error(`the topic ${name} was not deleted within 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await admin.disconnect();
    }

    const { code, stderr } = await runUntilExit(dataDir, env);
    expect(code).toBe(1);
    expect(stderr).toMatch(REFUSAL);
    const [, recorded, current] = REFUSAL.exec(stderr)!;
    expect(recorded).toMatch(new RegExp(`^kafka:${name}:`));
    expect(current).toMatch(new RegExp(`^kafka:${name}:`));
    expect(current).not.toBe(recorded);
  });
});

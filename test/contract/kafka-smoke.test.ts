/**
 * kafkajs against the real broker: the protocol calls the Kafka event log relies on, made with
 * kafkajs directly so that a broker/kafkajs incompatibility shows here first, with exact numbers;
 * then the adapter's behaviour when no broker answers, which the contract suite cannot provoke.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Kafka, Partitioners, logLevel, type Admin, type Consumer, type ISocketFactory, type Producer } from 'kafkajs';
import { createKafkaEventLog, kafkaGroupId } from '../../src/adapters/kafka/kafka-event-log.ts';
import type { EventLog } from '../../src/ports/event-log.ts';
import { StreamlensError } from '../../src/errors.ts';
import { requireServerEnv, uniqueName } from '../support/real-servers.ts';

/** "A few seconds": the bound on failing an append or a health check while the broker is down. */
const FAIL_FAST_BOUND_MS = 7_000;
/** Nothing listens on the discard port: connecting to it is refused at once. */
const DEAD_PORT = 9;
const DEAD_BROKER = `127.0.0.1:${DEAD_PORT}`;

async function until(check: () => boolean, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function timed<T>(work: () => Promise<T>): Promise<{ elapsedMs: number; outcome: PromiseSettledResult<T> }> {
  const start = performance.now();
  const [outcome] = await Promise.allSettled([work()]);
  return { elapsedMs: performance.now() - start, outcome: outcome! };
}

function expectUnavailable(outcome: PromiseSettledResult<unknown>) {
  expect(outcome.status).toBe('rejected');
  const reason = (outcome as PromiseRejectedResult).reason;
  expect(reason).toBeInstanceOf(StreamlensError);
  expect(reason).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
  expect((reason as Error).message).toMatch(/^the Kafka event log is unavailable: /);
}

/**
 * Sockets that can be cut as if the broker had died: open ones are reset, new ones are refused.
 * The broker is shared by everyone on this machine, so the outage has to be on our side.
 */
function cuttableNetwork() {
  const open = new Set<net.Socket>();
  let down = false;
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    const socket = down ? net.connect({ host: '127.0.0.1', port: DEAD_PORT }, onConnect) : net.connect({ host, port }, onConnect);
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    return socket;
  };
  return {
    socketFactory,
    cut() {
      down = true;
      for (const socket of open) socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    },
    restore() {
      down = false;
    },
  };
}

describe('kafkajs against the real broker', () => {
  const brokers = requireServerEnv('KAFKA_BROKERS').split(',');
  const kafka = new Kafka({ brokers, clientId: 'streamlens-smoke', logLevel: logLevel.ERROR });
  const cleanups: (() => Promise<unknown>)[] = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  it('creates a topic, produces, consumes a group with eachBatch, commits, and reads the committed offsets back', async () => {
    const topic = uniqueName('smoke');
    const groupId = uniqueName('smoke-group');
    const admin: Admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: -1 }], waitForLeaders: true })).toBe(true);
    cleanups.push(() => admin.deleteTopics({ topics: [topic] }));

    const producer: Producer = kafka.producer({ idempotent: true, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const sent = await producer.send({
      topic,
      acks: -1,
      messages: [
        ...['a0', 'a1', 'a2', 'a3', 'a4'].map((value) => ({ partition: 0, key: 'a', value })),
        ...['b0', 'b1', 'b2'].map((value) => ({ partition: 1, key: 'b', value })),
      ],
    });
    expect(sent.map(({ partition, baseOffset }) => ({ partition, baseOffset })).sort((x, y) => x.partition - y.partition)).toEqual([
      { partition: 0, baseOffset: '0' },
      { partition: 1, baseOffset: '0' },
    ]);
    const ends = await admin.fetchTopicOffsets(topic);
    expect(ends.map(({ partition, low, high }) => ({ partition, low, high })).sort((x, y) => x.partition - y.partition)).toEqual([
      { partition: 0, low: '0', high: '5' },
      { partition: 1, low: '0', high: '3' },
    ]);
    expect(await admin.fetchOffsets({ groupId, topics: [topic] })).toEqual([
      {
        topic,
        partitions: expect.arrayContaining([
          { partition: 0, offset: '-1', metadata: null },
          { partition: 1, offset: '-1', metadata: null },
        ]),
      },
    ]);

    const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
    await consumer.connect();
    cleanups.push(() => admin.deleteGroups([groupId]));
    cleanups.push(() => consumer.disconnect());
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const received = new Map<number, string[]>();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat }) => {
        const values = received.get(batch.partition) ?? [];
        values.push(...batch.messages.map((message) => message.value!.toString('utf8')));
        received.set(batch.partition, values);
        const next = String(Number(batch.lastOffset()) + 1);
        await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition: batch.partition, offset: next }] }] });
        resolveOffset(batch.lastOffset());
        await heartbeat();
      },
    });
    await until(() => (received.get(0)?.length ?? 0) + (received.get(1)?.length ?? 0) === 8, 'eight records');
    await consumer.disconnect();

    expect(received.get(0)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(received.get(1)).toEqual(['b0', 'b1', 'b2']);
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(committed).toHaveLength(1);
    expect(committed[0]!.topic).toBe(topic);
    expect([...committed[0]!.partitions].sort((x, y) => x.partition - y.partition)).toEqual([
      { partition: 0, offset: '5', metadata: null },
      { partition: 1, offset: '3', metadata: null },
    ]);
  });
});

describe('the Kafka event log, beyond the contract suite', () => {
  const brokers = requireServerEnv('KAFKA_BROKERS').split(',');
  const open: EventLog[] = [];
  let topic = '';
  const groupOf = (name: string) => kafkaGroupId(topic, name);

  afterEach(async () => {
    for (const log of open.splice(0)) await log.close();
    if (!topic) return;
    const admin = new Kafka({ brokers, clientId: 'streamlens-smoke-cleanup', logLevel: logLevel.NOTHING }).admin();
    await admin.connect().catch(() => {});
    await admin.deleteGroups([groupOf('g')]).catch(() => {});
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.disconnect().catch(() => {});
    topic = '';
  });

  it('commits the batch in hand when stopped in the middle of it', async () => {
    topic = uniqueName('stop');
    const log = await createKafkaEventLog({ brokers, topic, partitions: 1, onError: () => {} });
    open.push(log);
    await log.append([{ key: 'k', value: 'slow' }]);
    let entered = false;
    const consumer = await log.consume({
      groupId: 'g',
      handleBatch: async () => {
        entered = true;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      },
    });
    await until(() => entered, 'the batch to be in hand');
    await consumer.stop();
    expect(await log.lag('g')).toBe(0);
  });

  it('appends more than one partition batch of the broker holds (message.max.bytes, 1 MiB) in one call', async () => {
    topic = uniqueName('large');
    const log = await createKafkaEventLog({ brokers, topic, partitions: 1, onError: () => {} });
    open.push(log);
    const kilobyte = 'x'.repeat(1024);
    await log.append(Array.from({ length: 3000 }, (_, i) => ({ key: 't:big', value: `${i}:${kilobyte}` })));
    expect(await log.lag('nobody')).toBe(3000);
  });

  it('refuses to start, within seconds, when no broker listens', async () => {
    const reported: unknown[] = [];
    const { elapsedMs, outcome } = await timed(() =>
      createKafkaEventLog({ brokers: [DEAD_BROKER], topic: uniqueName('never'), partitions: 1, onError: (error) => reported.push(error) }),
    );
    expectUnavailable(outcome);
    expect(elapsedMs).toBeLessThan(FAIL_FAST_BOUND_MS);
    expect(reported.length).toBeGreaterThan(0);
  });

  it('fails appends and health checks within seconds while the broker is unreachable, and recovers after', async () => {
    topic = uniqueName('outage');
    const network = cuttableNetwork();
    const log = await createKafkaEventLog({ brokers, topic, partitions: 2, socketFactory: network.socketFactory, onError: () => {} });
    open.push(log);
    await log.append([{ key: 't:a', value: 'before' }]);

    network.cut();
    const append = await timed(() => log.append([{ key: 't:a', value: 'during' }]));
    expectUnavailable(append.outcome);
    expect(append.elapsedMs).toBeLessThan(FAIL_FAST_BOUND_MS);
    const health = await timed(() => log.checkHealth());
    expectUnavailable(health.outcome);
    expect(health.elapsedMs).toBeLessThan(FAIL_FAST_BOUND_MS);
    const lag = await timed(() => log.lag('nobody'));
    expectUnavailable(lag.outcome);
    expect(lag.elapsedMs).toBeLessThan(FAIL_FAST_BOUND_MS);

    network.restore();
    await expect(log.checkHealth()).resolves.toBeUndefined();
    await expect(log.append([{ key: 't:a', value: 'after' }])).resolves.toBeUndefined();
    // The cut came before the failed append opened any socket, so it cannot have been written.
    expect(await log.lag('nobody')).toBe(2);
  });
});

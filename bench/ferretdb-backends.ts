/**
 * Compares MongoDB-compatible servers for the event store, side by side (docs/services.md,
 * "FerretDB on SQLite or on PostgreSQL"). Not a scenario of `npm run bench`: it needs two servers.
 *
 *   node bench/ferretdb-backends.ts sqlite=mongodb://127.0.0.1:27017 postgresql=mongodb://127.0.0.1:27027
 *
 * Each server gets a fresh database. The arms alternate batch by batch (the order reversed every
 * round), so a machine whose load changes during the run affects every arm alike:
 *   1. `claim` of a new batch through the adapter (first delivery), then of the same batch again
 *      (a replay: the insert is refused and the claims are read back by `_id`);
 *   2. bare `insertMany` of the adapter's documents into a collection with the adapter's four
 *      query indexes, and into one with only `_id`: what maintaining those indexes costs;
 *   3. after the rounds, `explain` and the time of each query shape of the adapter.
 */
import { MongoClient, type Collection, type Document } from 'mongodb';
import { createMongoEventStore, eventDocument } from '../src/adapters/mongo/mongo-event-store.ts';
import type { EventStore } from '../src/ports/event-store.ts';
import type { StoredEvent } from '../src/domain/event.ts';
import { benchEvent, logRecordOf } from './harness/events.ts';

/** The processor's batch size, as in P8. */
const BATCH = 1000;
/** Ten rounds give a median that one slow batch (a checkpoint, a busy neighbour) cannot move. */
const ROUNDS = Number(process.env.ROUNDS ?? 10);
/** Four event types and four partitions, so the type and position queries select a quarter. */
const SPREAD = 4;
/** One event in a hundred quarantined, so the quarantine query has something to find. */
const QUARANTINE_EVERY = 100;

interface Server {
  name: string;
  client: MongoClient;
  store: EventStore;
  withIndexes: Collection<Document>;
  idOnly: Collection<Document>;
  rates: Record<'claim' | 'replay' | 'withIndexes' | 'idOnly', number[]>;
}

let nextOffset = 0;
function storedBatch(): StoredEvent[] {
  const base = Date.now() - BATCH;
  return Array.from({ length: BATCH }, (_, i) => {
    const record = logRecordOf(benchEvent(`type${i % SPREAD}`, base + i));
    return {
      ...(JSON.parse(record.value) as Omit<StoredEvent, 'position' | 'quarantine'>),
      position: { partition: i % SPREAD, offset: nextOffset++ },
      quarantine: i % QUARANTINE_EVERY === 0 ? 'FUTURE_TIMESTAMP' : null,
    } as StoredEvent;
  });
}

async function docsPerSecond(count: number, write: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await write();
  return count / ((performance.now() - started) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function open(name: string, url: string, database: string): Promise<Server> {
  const address = new URL(url);
  address.pathname = `/${database}`;
  const store = await createMongoEventStore({ url: address.toString(), retentionMs: null });
  const client = new MongoClient(address.toString());
  await client.connect();
  const db = client.db(database);
  const withIndexes = db.collection('with_query_indexes');
  // The adapter's four query indexes (mongo-event-store.ts, ensureQueryIndexes; the quarantine
  // one as FerretDB takes it, without its partial filter).
  await withIndexes.createIndex({ tenant: 1, counted: 1, timestamp: -1, id: -1 });
  await withIndexes.createIndex({ tenant: 1, counted: 1, type: 1, timestamp: -1, id: -1 });
  await withIndexes.createIndex({ tenant: 1, counted: 1, 'position.partition': 1, 'position.offset': 1 });
  await withIndexes.createIndex({ tenant: 1, counted: 1, receivedAt: -1, id: -1 });
  await db.createCollection('id_only');
  return {
    name,
    client,
    store,
    withIndexes,
    idOnly: db.collection('id_only'),
    rates: { claim: [], replay: [], withIndexes: [], idOnly: [] },
  };
}

async function round(server: Server): Promise<void> {
  const batch = storedBatch();
  server.rates.claim.push(await docsPerSecond(BATCH, () => server.store.claim(batch)));
  server.rates.replay.push(await docsPerSecond(BATCH, () => server.store.claim(batch)));
  for (const arm of ['withIndexes', 'idOnly'] as const) {
    const docs = storedBatch().map(eventDocument);
    server.rates[arm].push(await docsPerSecond(BATCH, () => server[arm].insertMany(docs as never[], { ordered: false })));
  }
}

/** The query shapes of the adapter, on its own collection. */
async function explainQueries(server: Server, database: string): Promise<void> {
  const events = server.client.db(database).collection<{ _id: string; tenant: string }>('events');
  const tenant = (await events.findOne({}))?.tenant ?? '';
  const ids = (await events.find({}).project({ _id: 1 }).limit(BATCH).toArray()).map((doc) => doc._id as string);
  const shapes: Record<string, () => ReturnType<typeof events.find>> = {
    'newest first': () =>
      events
        .find({ tenant: { $eq: tenant }, counted: true })
        .sort({ timestamp: -1, id: -1 })
        .limit(50),
    'by type': () =>
      events
        .find({ tenant: { $eq: tenant }, counted: true, type: { $in: ['type1'] } })
        .sort({ timestamp: -1, id: -1 })
        .limit(50),
    'log order': () =>
      events
        .find({
          tenant: { $eq: tenant },
          counted: { $eq: true },
          $or: [{ 'position.partition': { $eq: 1 }, 'position.offset': { $gt: 100 } }],
        })
        .sort({ 'position.partition': 1, 'position.offset': 1 })
        .limit(500),
    quarantine: () =>
      events
        .find({ tenant: { $eq: tenant }, counted: false })
        .sort({ receivedAt: -1, id: -1 })
        .limit(50),
    'claim read-back': () => events.find({ _id: { $in: ids } }),
    'one _id': () => events.find({ _id: { $eq: ids[0] } }),
  };
  console.log(`\n${server.name}: ${await events.countDocuments()} events`);
  for (const [shape, query] of Object.entries(shapes)) {
    const plan = await query().explain();
    const started = performance.now();
    await query().toArray();
    const ms = performance.now() - started;
    const pushdown = `filter ${plan.filterPushdown}, sort ${plan.sortPushdown}, limit ${plan.limitPushdown}`;
    console.log(`  ${shape}: ${ms.toFixed(0)} ms; pushdown ${pushdown}; plan ${JSON.stringify(plan.queryPlanner).slice(0, 300)}`);
  }
}

const targets = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=');
  if (at < 1) throw new Error(`expected name=mongodb://host:port, got "${arg}"`);
  return { name: arg.slice(0, at), url: arg.slice(at + 1) };
});
if (targets.length === 0) throw new Error('name at least one server: name=mongodb://host:port');
const database = `backends_${Date.now()}`;
const servers = await Promise.all(targets.map((target) => open(target.name, target.url, database)));
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const server of r % 2 === 0 ? servers : [...servers].reverse()) await round(server);
  }
  console.log(`medians of ${ROUNDS} rounds, documents/s, batches of ${BATCH}:`);
  for (const server of servers) {
    const m = (key: keyof Server['rates']) => median(server.rates[key]).toFixed(0);
    console.log(
      `  ${server.name}: claim ${m('claim')}, replayed claim ${m('replay')}, insertMany with the 4 query indexes ${m('withIndexes')}, with _id only ${m('idOnly')}`,
    );
  }
  for (const server of servers) await explainQueries(server, database);
} finally {
  for (const server of servers) {
    await server.client.db(database).dropDatabase();
    await server.store.close();
    await server.client.close();
  }
}

/**
 * Versioned schema migrations for the Cassandra series store.
 *
 * Every instance runs `migrate` at start. Two instances may start at once, so every statement
 * must be idempotent on its own (IF NOT EXISTS, ADD IF NOT EXISTS, ...): a migration interrupted
 * half-way, or raced by another instance, is simply run again. A version is recorded only after
 * all of its statements succeeded, and recording it twice writes the same row.
 */
import cassandra from 'cassandra-driver';
import type { Client, QueryOptions } from 'cassandra-driver';

export interface Migration {
  version: number;
  description: string;
  statements(keyspace: string): string[];
}

/**
 * The schema, oldest first. Never edit an applied migration: append a new version instead.
 * The window sizes in cassandra-statements.ts decide which partition a row lives in, so
 * changing them is a data migration too, not just a code change.
 */
export const seriesStoreMigrations: readonly Migration[] = [
  {
    version: 1,
    description: 'rollup rows partitioned by time window, and the registry of windows that hold rows',
    statements: (keyspace) => [
      `CREATE TABLE IF NOT EXISTS ${keyspace}.rollups (
         tenant text,
         type text,
         interval text,
         window_start bigint,
         bucket_start bigint,
         dimensions_key text,
         log_partition int,
         dimensions text,
         applied_offset bigint,
         aggregate text,
         PRIMARY KEY ((tenant, type, interval, window_start), bucket_start, dimensions_key, log_partition)
       ) WITH CLUSTERING ORDER BY (bucket_start ASC, dimensions_key ASC, log_partition ASC)`,
      // Lets a purge find every window partition of an interval without scanning `rollups`:
      // Cassandra cannot range-delete across partitions it is not told about.
      `CREATE TABLE IF NOT EXISTS ${keyspace}.rollup_windows (
         interval text,
         window_start bigint,
         tenant text,
         type text,
         PRIMARY KEY ((interval), window_start, tenant, type)
       ) WITH CLUSTERING ORDER BY (window_start ASC, tenant ASC, type ASC)`,
    ],
  },
  {
    version: 2,
    description: 'event-type catalog, one partition per tenant',
    statements: (keyspace) => [
      `CREATE TABLE IF NOT EXISTS ${keyspace}.catalog (
         tenant text,
         type text,
         log_partition int,
         applied_offset bigint,
         event_count bigint,
         first_seen bigint,
         last_seen bigint,
         dimension_keys text,
         value_keys text,
         PRIMARY KEY ((tenant), type, log_partition)
       ) WITH CLUSTERING ORDER BY (type ASC, log_partition ASC)`,
    ],
  },
  {
    version: 3,
    description: 'largest event time counted per log partition',
    statements: (keyspace) => [
      // A constant partition key keeps every log partition's progress in one small partition,
      // so reading all of them is a single-partition read rather than a full-table scan.
      `CREATE TABLE IF NOT EXISTS ${keyspace}.max_event_times (
         scope text,
         log_partition int,
         max_event_time bigint,
         PRIMARY KEY ((scope), log_partition)
       )`,
    ],
  },
  {
    version: 4,
    description: 'processor progress per log partition: stored-through offset and last activity',
    statements: (keyspace) => [
      `CREATE TABLE IF NOT EXISTS ${keyspace}.partition_progress (
         scope text,
         log_partition int,
         max_event_time bigint,
         stored_through bigint,
         last_active_at bigint,
         PRIMARY KEY ((scope), log_partition)
       )`,
    ],
  },
  {
    version: 5,
    description: 'catalog rows count the keys past the per-type cap',
    statements: (keyspace) => [
      `ALTER TABLE ${keyspace}.catalog ADD IF NOT EXISTS dropped_dimension_keys bigint`,
      `ALTER TABLE ${keyspace}.catalog ADD IF NOT EXISTS dropped_value_keys bigint`,
    ],
  },
  {
    version: 6,
    description: 'processor progress with a version (the fencing token), one Cassandra partition per log partition',
    statements: (keyspace) => [
      // Progress is written with lightweight transactions, whose Paxos rounds contend per
      // Cassandra partition: one per log partition keeps the owners of different log partitions
      // from queueing behind each other. The rows of partition_progress (migration 4) are read
      // as version 0 until a fenced write replaces them here (cassandra-series-store.ts).
      `CREATE TABLE IF NOT EXISTS ${keyspace}.log_partition_progress (
         log_partition int PRIMARY KEY,
         max_event_time bigint,
         stored_through bigint,
         last_active_at bigint,
         version bigint
       )`,
    ],
  },
  {
    version: 7,
    description: 'progress rows say when the last stored record was appended and which watermark the partition committed to',
    statements: (keyspace) => [
      // Null in rows written before: not known (idleness falls back to last_active_at) and no
      // commitment yet (src/stream/watermark.ts).
      `ALTER TABLE ${keyspace}.log_partition_progress ADD IF NOT EXISTS last_appended_at bigint`,
      `ALTER TABLE ${keyspace}.log_partition_progress ADD IF NOT EXISTS committed_watermark bigint`,
    ],
  },
  {
    version: 8,
    description: 'the identity of the event log whose offsets the progress and the rows refer to',
    statements: (keyspace) => [
      // One row per scope, written once with a lightweight transaction: concurrent first starts agree on one.
      `CREATE TABLE IF NOT EXISTS ${keyspace}.log_identity (
         scope text PRIMARY KEY,
         identity text,
         recorded_at timestamp
       )`,
    ],
  },
  {
    version: 9,
    description: 'window registry partitioned by span, the purge cursor and the purge lease',
    statements: (keyspace) => [
      // The registry of migration 1 kept every window of an interval in one partition, and the
      // purge deleted its entries one by one: every purge then read all the deletions of the
      // days before (Cassandra warns past 1,000 and fails the read past 100,000). Here a
      // partition holds the windows of one span (a day of SECOND windows), entries are never
      // deleted one by one, and a span's partition is dropped whole once the purge has passed
      // its end (cassandra-window-registry.ts).
      `CREATE TABLE IF NOT EXISTS ${keyspace}.rollup_windows_by_span (
         interval text,
         span_start bigint,
         window_start bigint,
         tenant text,
         type text,
         PRIMARY KEY ((interval, span_start), window_start, tenant, type)
       ) WITH CLUSTERING ORDER BY (window_start ASC, tenant ASC, type ASC)`,
      // Which spans hold registered windows: one small partition per interval. The purge reads
      // it from its cursor on, so the entries of spans it dropped are never read again.
      `CREATE TABLE IF NOT EXISTS ${keyspace}.rollup_window_spans (
         interval text,
         span_start bigint,
         PRIMARY KEY ((interval), span_start)
       ) WITH CLUSTERING ORDER BY (span_start ASC)`,
      // Per interval: every bucket before purged_before has been deleted (the purge's cursor),
      // and whether the windows of the registry of migration 1 have been copied over.
      `CREATE TABLE IF NOT EXISTS ${keyspace}.rollup_purges (
         interval text PRIMARY KEY,
         purged_before bigint,
         legacy_registry_carried_over boolean
       )`,
      // One row per lease, taken and renewed by a conditional update (a lightweight
      // transaction) whose TTL makes it lapse: the instance that holds it is the one that purges.
      `CREATE TABLE IF NOT EXISTS ${keyspace}.purge_lease (
         name text PRIMARY KEY,
         holder text
       )`,
    ],
  },
];

/** Unquoted CQL identifiers fold to lower case; insisting on it keeps every statement unquoted. */
const KEYSPACE_NAME = /^[a-z][a-z0-9_]{0,47}$/;

export function assertKeyspaceName(keyspace: string): void {
  if (!KEYSPACE_NAME.test(keyspace)) {
    throw new Error(
      `invalid Cassandra keyspace name ${JSON.stringify(keyspace)}: use 1 to 48 lower-case letters, digits or _, starting with a letter`,
    );
  }
}

function assertAscendingVersions(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    const previous = migrations[index - 1];
    if (!Number.isInteger(migration.version) || (previous && migration.version <= previous.version)) {
      throw new Error(`migration versions must be ascending whole numbers; ${migration.version} is out of place`);
    }
  });
}

/**
 * Before Cassandra's transactional metadata (5.1), two coordinators creating the same table at
 * the same moment can each pick their own table id and leave the cluster in schema
 * disagreement. One node applies its own schema changes one at a time, checking IF NOT EXISTS
 * inside that step, so sending every DDL statement of every instance to the same node (the
 * lowest address among those up) makes concurrent starts race-free.
 */
function schemaCoordinator(client: Client): QueryOptions {
  const hosts = client.hosts.values().filter((host) => host.isUp());
  hosts.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  const host = hosts[0];
  return host ? { host } : {};
}

export interface MigrationOptions {
  keyspace: string;
  localDataCenter: string;
  replicationFactor: number;
  migrations: readonly Migration[];
  onWarning?: (message: string, detail?: unknown) => void;
}

/** Creates the keyspace when missing and applies the migrations it has not recorded yet. */
export async function migrate(client: Client, options: MigrationOptions): Promise<{ applied: number[] }> {
  const { keyspace, migrations } = options;
  assertKeyspaceName(keyspace);
  assertAscendingVersions(migrations);
  if (!Number.isInteger(options.replicationFactor) || options.replicationFactor < 1) {
    throw new Error(`the replication factor must be a whole number of at least 1, not ${options.replicationFactor}`);
  }
  const ddl = schemaCoordinator(client);
  // The driver waits for schema agreement after each DDL response, so the next statement
  // already sees what the previous one created.
  await client.execute(
    `CREATE KEYSPACE IF NOT EXISTS ${keyspace} WITH replication = {'class': 'NetworkTopologyStrategy', ` +
      `${quoteString(options.localDataCenter)}: ${options.replicationFactor}}`,
    [],
    ddl,
  );
  await client.execute(
    `CREATE TABLE IF NOT EXISTS ${keyspace}.schema_migrations (
       version int PRIMARY KEY,
       description text,
       applied_at timestamp
     )`,
    [],
    ddl,
  );

  const recorded = await client.execute(`SELECT version FROM ${keyspace}.schema_migrations`);
  const appliedBefore = new Set(recorded.rows.map((row) => row.get('version') as number));
  const known = new Set(migrations.map((migration) => migration.version));
  const unknown = [...appliedBefore].filter((version) => !known.has(version)).sort((a, b) => a - b);
  if (unknown.length > 0) {
    // A newer build migrated this keyspace; its changes are additive, so this build keeps going.
    options.onWarning?.(`the keyspace ${keyspace} has schema versions this build does not know`, { versions: unknown });
  }

  const applied: number[] = [];
  for (const migration of migrations) {
    if (appliedBefore.has(migration.version)) continue;
    for (const statement of migration.statements(keyspace)) await client.execute(statement, [], ddl);
    await client.execute(
      `INSERT INTO ${keyspace}.schema_migrations (version, description, applied_at) VALUES (?, ?, ?)`,
      [migration.version, migration.description, new Date()],
      { prepare: true },
    );
    applied.push(migration.version);
  }
  return { applied };
}

/** Removes a keyspace and all its data, for throw-away keyspaces such as tests create. */
export async function dropKeyspace(options: { contactPoints: string[]; localDataCenter: string; keyspace: string }): Promise<void> {
  assertKeyspaceName(options.keyspace);
  const client = new cassandra.Client({ contactPoints: options.contactPoints, localDataCenter: options.localDataCenter });
  try {
    await client.connect();
    await client.execute(`DROP KEYSPACE IF EXISTS ${options.keyspace}`, [], schemaCoordinator(client));
  } finally {
    await client.shutdown();
  }
}

function quoteString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The event store on MongoDB: raw events in one collection, keyed by (tenant, id).
 *
 * Written for MongoDB itself; compatible servers (FerretDB, DocumentDB, Cosmos DB) lack some
 * features, so everything that only affects speed or housekeeping (partial indexes, TTL) is
 * attempted, and a refusal is reported through `onWarning` and worked around. Nothing that
 * affects results depends on such a feature.
 */
import {
  MongoAPIError,
  MongoBulkWriteError,
  MongoClient,
  MongoError,
  MongoServerError,
  type Collection,
  type CommandStartedEvent,
  type Db,
  type Filter,
  type IndexDirection,
  type MongoClientOptions,
} from 'mongodb';
import { dimensionsAsText, type DimensionValue, type QuarantineReason, type StoredEvent } from '../../domain/event.ts';
import type { DimensionCondition } from '../../domain/dimension-conditions.ts';
import { MAP_KEY_PATTERN } from '../../domain/event-rules.ts';
import {
  eventKey,
  type EventClaim,
  type EventPageKey,
  type EventQuery,
  type EventStore,
  type EventSliceFilter,
  type QuarantinePageKey,
} from '../../ports/event-store.ts';
import { badInput, unavailable } from '../../errors.ts';
import {
  ensureSetAsideIndexes,
  SET_ASIDE_COLLECTION,
  setAsideDocumentId,
  setAsideFilter,
  toSetAsideDocument,
  toSetAsideRecord,
  type SetAsideDocument,
} from './mongo-set-aside-documents.ts';

export interface MongoEventStoreOptions {
  url: string;
  /** Default: the database named in the URL's path, else `streamlens`. */
  database?: string;
  /** How long an event is kept after it was received; `null` keeps events forever. */
  retentionMs: number | null;
  /** Degraded set-ups (a refused index or TTL, a failing purge); each is reported once. */
  onWarning?: (message: string, detail?: unknown) => void;
  /** Every command the driver sends (command monitoring), for diagnostics and tests. */
  onCommandStarted?: (event: CommandStartedEvent) => void;
}

const COLLECTION = 'events';
/** Log records the processor set aside, keyed by their log position. */
const DEFAULT_DATABASE = 'streamlens';

/**
 * The driver waits 30 s by default for a reachable server before failing an operation. A
 * request should fail fast with UNAVAILABLE (the client retries with backoff) instead of
 * holding a connection open for half a minute; operations that were already sent when the
 * server vanished are interrupted by the driver's monitor when its heartbeat fails.
 * A URL that sets these options itself keeps its values.
 */
const DEFAULT_CLIENT_TIMEOUTS = { serverSelectionTimeoutMS: 3_000, connectTimeoutMS: 3_000 } as const;
/** Health probes run often and must answer well within a load balancer's own timeout. */
const HEALTH_CHECK_TIMEOUT_MS = 2_000;
/** MongoDB's TTL monitor runs once a minute; the fallback purge keeps the same pace. */
const PURGE_INTERVAL_MS = 60_000;
/**
 * A claimed event can vanish between the insert and the read-back only if retention deletes it
 * right then (an event received longer ago than the retention); claiming it again is correct.
 */
const MAX_CLAIM_ROUNDS = 3;

/**
 * Claims decide which log position owns an event id, and the processor counts an event (and
 * commits its offset) on the strength of its claim. A write acknowledged by the primary alone
 * is rolled back if the primary fails over before a majority has it: the event has then been
 * counted under a claim that no longer exists, and a replay or a client's retry claims the id
 * again at another position and counts it twice. So every claim write (and the release of a
 * claim when its record is set aside, and the set-aside entry itself) waits for a majority and
 * the journal, and survives any failover or restart once acknowledged. Pinned here, so that a
 * connection string or a server default (w: 1) cannot lower it.
 */
const CLAIM_WRITE_CONCERN = { w: 'majority', journal: true } as const;
/**
 * The reads that decide ownership (a claim found taken, whose owner is read back) see only
 * majority-committed claims: never one that a failover could still roll back, which would make
 * this batch skip an event as a duplicate of a claim that then disappears. A concurrent claim
 * not yet majority-committed is not seen; the claim round then retries, and past
 * MAX_CLAIM_ROUNDS the batch fails and is delivered again.
 */
const CLAIM_READ_CONCERN = { level: 'majority' } as const;

const SERVER_CODE = {
  /** `createIndex` found an index with this name or key but other options (e.g. another TTL). */
  indexOptionsConflict: 85,
  indexNotFound: 27,
  duplicateKey: 11000,
  namespaceExists: 48,
} as const;

const RETENTION_INDEX = 'events_retention';
const QUARANTINE_INDEX = 'quarantine_newest_first';

interface EventDocument {
  /** `documentId(tenant, id)`: the unique key that makes the first claim win. */
  _id: string;
  tenant: string;
  id: string;
  type: string;
  timestamp: number;
  receivedAt: number;
  /** `receivedAt` as a BSON date, which is the only type a TTL index expires on. */
  receivedAtDate: Date;
  clockCorrectionMs: number;
  source: string | null;
  dimensions: Record<string, DimensionValue>;
  /** Every dimension value as a string: what dimension filters compare (2 matches "2"). */
  dimensionText: Record<string, string>;
  values: Record<string, number>;
  /** The event's distinct values; absent when it carries none. */
  distinct?: Record<string, string>;
  /**
   * Properties are free-form JSON: their keys may hold `.`, a leading `$`, or NUL, which BSON
   * or some servers refuse as field names. They are never queried, so they are stored as text.
   */
  propertiesJson: string | null;
  position: { partition: number; offset: number };
  quarantine: QuarantineReason | null;
  /**
   * `quarantine === null`. An equality on a boolean is what every index (and every compatible
   * server) handles well; `quarantine: null` also matches a missing field and is not allowed in
   * partial index filters.
   */
  counted: boolean;
}

/**
 * An event document as written. The maps whose keys clients choose are written as `Map`s: the
 * BSON serialiser takes any plain object with a `_bsontype` key for one of its own types and
 * refuses it (`{ dimensions: { _bsontype: "x" } }` failed every insert, on every retry). A Map
 * is written as the same sub-document, and read back as a plain object.
 */
type WrittenEventDocument = Omit<EventDocument, 'dimensions' | 'dimensionText' | 'values' | 'distinct'> & {
  dimensions: Map<string, DimensionValue>;
  dimensionText: Map<string, string>;
  values: Map<string, number>;
  distinct?: Map<string, string>;
};

/**
 * The `_id` of an event: tenant first, then id, with the tenant's length in front. Tenants are
 * not restricted to a character set, so no separator could be reserved; the length prefix keeps
 * the encoding injective without escaping ("4:acme:x" cannot be confused with "5:acme::x"), and
 * it avoids NUL, which some compatible servers refuse inside strings. Leading with the tenant
 * keeps a tenant's events adjacent in the `_id` index.
 */
function documentId(tenant: string, id: string): string {
  return `${tenant.length}:${tenant}:${id}`;
}

/** The document the event store keeps for an event: exported so the P8 benchmark writes exactly this shape. */
export function eventDocument(event: StoredEvent): WrittenEventDocument {
  return toDocument(event, documentId(event.tenant, event.id));
}

function toDocument(event: StoredEvent, _id: string): WrittenEventDocument {
  return {
    _id,
    tenant: event.tenant,
    id: event.id,
    type: event.type,
    timestamp: event.timestamp,
    receivedAt: event.receivedAt,
    receivedAtDate: new Date(event.receivedAt),
    clockCorrectionMs: event.clockCorrectionMs,
    source: event.source,
    dimensions: new Map(Object.entries(event.dimensions)),
    dimensionText: new Map(Object.entries(dimensionsAsText(event.dimensions))),
    values: new Map(Object.entries(event.values)),
    ...(event.distinct === undefined ? {} : { distinct: new Map(Object.entries(event.distinct)) }),
    propertiesJson: event.properties === null ? null : JSON.stringify(event.properties),
    position: { partition: event.position.partition, offset: event.position.offset },
    quarantine: event.quarantine,
    counted: event.quarantine === null,
  };
}

/** The claim a stored (or about to be stored) document makes. */
function claimOf(doc: Pick<EventDocument, 'position' | 'quarantine'>): EventClaim {
  return { position: { partition: doc.position.partition, offset: doc.position.offset }, quarantine: doc.quarantine };
}

function toStoredEvent(doc: EventDocument): StoredEvent {
  return {
    tenant: doc.tenant,
    id: doc.id,
    type: doc.type,
    timestamp: doc.timestamp,
    receivedAt: doc.receivedAt,
    clockCorrectionMs: doc.clockCorrectionMs,
    source: doc.source,
    dimensions: doc.dimensions,
    values: doc.values,
    ...(doc.distinct === undefined ? {} : { distinct: doc.distinct }),
    properties: doc.propertiesJson === null ? null : JSON.parse(doc.propertiesJson),
    position: { partition: doc.position.partition, offset: doc.position.offset },
    quarantine: doc.quarantine,
  };
}

/**
 * Failures the server or the network caused: retrying later may succeed. Misuse of the driver
 * (MongoAPIError: bad arguments, a closed client) and non-driver errors are bugs and propagate.
 */
function isServerOrNetworkFailure(error: unknown): boolean {
  return error instanceof MongoError && !(error instanceof MongoAPIError);
}

async function guarded<T>(what: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw isServerOrNetworkFailure(error) ? unavailable(`the MongoDB event store could not ${what}`, error) : error;
  }
}

function hasServerCode(error: unknown, code: number): boolean {
  return error instanceof MongoServerError && error.code === code;
}

/** The database named in a connection string's path (`mongodb://host/name?…`), if any. */
function databaseInUrl(url: string): string | null {
  const afterScheme = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const pathStart = afterScheme.search(/[/?]/);
  if (pathStart < 0 || afterScheme[pathStart] !== '/') return null;
  const path = afterScheme.slice(pathStart + 1).split('?')[0] ?? '';
  return path === '' ? null : decodeURIComponent(path);
}

function clientOptions(url: string): MongoClientOptions {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const namedInUrl = new Set([...new URLSearchParams(query).keys()].map((key) => key.toLowerCase()));
  const options: MongoClientOptions = { appName: 'streamlens' };
  for (const [name, value] of Object.entries(DEFAULT_CLIENT_TIMEOUTS)) {
    if (!namedInUrl.has(name.toLowerCase())) options[name as keyof typeof DEFAULT_CLIENT_TIMEOUTS] = value;
  }
  return options;
}

/**
 * An insert refused only because the `_id` exists means the event was claimed before (a replay,
 * or a concurrent claimer that won the race): that is the expected outcome, not a failure. The
 * collection has no other unique index, so every duplicate-key error is about `_id`.
 */
function onlyAlreadyClaimed(error: unknown): boolean {
  if (!(error instanceof MongoBulkWriteError) || error.result.getWriteConcernError()) return false;
  const writeErrors = Array.isArray(error.writeErrors) ? error.writeErrors : [error.writeErrors];
  return writeErrors.length > 0 && writeErrors.every((writeError) => writeError.code === SERVER_CODE.duplicateKey);
}

/** Dimension filter keys become field paths; the key rule keeps `.`, `$` and the like out of them. */
function dimensionTextPath(key: string): `dimensionText.${string}` {
  if (!MAP_KEY_PATTERN.test(key)) throw badInput(`"${key}" is not a dimension key`);
  return `dimensionText.${key}`;
}

/**
 * One `where` condition as a MongoDB filter on `dimensionText`, deciding exactly what
 * `matchesCondition` decides: `$ne` and `$nin` also match a document without the field, which is
 * the contract's "also true where the dimension is absent". Operators MongoDB and FerretDB share.
 */
function conditionFilter(condition: DimensionCondition): Filter<EventDocument> {
  const path = dimensionTextPath(condition.key);
  switch (condition.operator) {
    case 'eq':
      return { [path]: { $eq: condition.value } };
    case 'neq':
      return { [path]: { $ne: condition.value } };
    case 'in':
      return { [path]: { $in: [...condition.values] } };
    case 'notIn':
      return { [path]: { $nin: [...condition.values] } };
    case 'exists':
      return { [path]: { $exists: condition.exists } };
  }
}

function eventsFilter(query: EventQuery, after: EventPageKey | null | undefined): Filter<EventDocument> {
  // `$eq` everywhere a caller's value lands: an object smuggled in is then compared, never run.
  const filter: Filter<EventDocument> = { tenant: { $eq: query.tenant }, counted: true };
  if (query.types && query.types.length > 0) filter.type = { $in: [...query.types] };
  if (query.source != null) filter.source = { $eq: query.source };
  const timestamp: { $gte?: number; $lt?: number; $lte?: number } = {};
  if (query.from != null) timestamp.$gte = query.from;
  if (query.to != null) timestamp.$lt = query.to;
  if (after) {
    // The `$lte` bound is implied by the `$or`, but it gives the planner a range on the index.
    timestamp.$lte = after.timestamp;
    filter.$or = [{ timestamp: { $lt: after.timestamp } }, { timestamp: { $eq: after.timestamp }, id: { $lt: after.id } }];
  }
  if (Object.keys(timestamp).length > 0) filter.timestamp = timestamp;
  const dimensionFilter: Record<string, { $eq: string }> = {};
  for (const [key, text] of Object.entries(dimensionsAsText(query.dimensions ?? {}))) {
    dimensionFilter[dimensionTextPath(key)] = { $eq: text };
  }
  // One clause per condition: two conditions on the same key must not overwrite each other.
  const where = query.where && query.where.length > 0 ? { $and: query.where.map(conditionFilter) } : {};
  return { ...filter, ...dimensionFilter, ...where };
}

function quarantineFilter(
  tenant: string,
  after: QuarantinePageKey | null | undefined,
  within: EventSliceFilter | null | undefined,
): Filter<EventDocument> {
  const filter: Filter<EventDocument> = { tenant: { $eq: tenant }, counted: false };
  if (after) {
    filter.receivedAt = { $lte: after.receivedAt };
    filter.$or = [{ receivedAt: { $lt: after.receivedAt } }, { receivedAt: { $eq: after.receivedAt }, id: { $lt: after.id } }];
  }
  if (within?.types) filter.type = { $in: [...within.types] };
  if (within && within.where.length > 0) filter.$and = within.where.map(conditionFilter);
  return filter;
}

type Warn = (message: string, detail?: unknown) => void;

/**
 * Creates an index; a server that refuses it (an unsupported option, an index of the same name
 * defined differently) leaves queries correct but slower, so that is a warning, and
 * `fallbackKey` (without the options) is tried instead when given. Network failures propagate.
 */
async function ensureIndex(
  events: Collection<EventDocument>,
  warn: Warn,
  name: string,
  key: Record<string, IndexDirection>,
  options: { partialFilterExpression?: Filter<EventDocument> } = {},
  fallbackKey?: Record<string, IndexDirection>,
): Promise<void> {
  try {
    await events.createIndex(key, { name, ...options });
  } catch (error) {
    if (!(error instanceof MongoServerError)) throw error;
    if (!fallbackKey) {
      warn(`MongoDB refused the index ${name}; queries that need it will scan more`, error);
      return;
    }
    try {
      await events.createIndex(fallbackKey, { name });
      warn(`MongoDB refused the index ${name} as specified; created it without its options`, error);
    } catch (fallbackError) {
      if (!(fallbackError instanceof MongoServerError)) throw fallbackError;
      warn(`MongoDB refused the index ${name}; queries that need it will scan more`, fallbackError);
    }
  }
}

async function ensureQueryIndexes(events: Collection<EventDocument>, warn: Warn): Promise<void> {
  // Equality on tenant and counted, then the sort order, so pages are read in index order.
  await ensureIndex(events, warn, 'events_newest_first', { tenant: 1, counted: 1, timestamp: -1, id: -1 });
  await ensureIndex(events, warn, 'events_by_type_newest_first', { tenant: 1, counted: 1, type: 1, timestamp: -1, id: -1 });
  // Replays for resuming subscribers read in log order.
  await ensureIndex(events, warn, 'events_by_position', { tenant: 1, counted: 1, 'position.partition': 1, 'position.offset': 1 });
  // Quarantined events are rare: a partial index holds only them. Without partial indexes
  // (FerretDB), the full index with `counted` in its key serves the same query.
  await ensureIndex(
    events,
    warn,
    QUARANTINE_INDEX,
    { tenant: 1, receivedAt: -1, id: -1 },
    { partialFilterExpression: { counted: false } },
    { tenant: 1, counted: 1, receivedAt: -1, id: -1 },
  );
}

/**
 * FerretDB 1.x answers every query of this store with a full scan whatever the indexes: it
 * pushes down at most equality filters (on PostgreSQL as a JSON containment test, which no
 * index serves; on SQLite only an `_id` equality) and sorts in memory. `explain` shows `Seq
 * Scan` (PostgreSQL) or `SCAN` (SQLite) and sortPushdown false for every query of this store. Yet it
 * maintains every secondary index on every insert: these four cost about 30% of the insert
 * rate on both backends (docs/services.md). So they are not created there. FerretDB 2 (built
 * on PostgreSQL's DocumentDB extension) plans with indexes and gets them, as MongoDB does.
 */
async function plansQueriesWithoutIndexes(db: Db): Promise<boolean> {
  const info = await db.admin().command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string' && /^v?1\./.test(info.ferretdbVersion);
}

/**
 * Sets up expiry by a TTL index on `receivedAtDate`. Returns false when the server cannot
 * provide one (FerretDB answers NotImplemented), in which case the caller purges periodically.
 * Retention counts from receipt, not event time: the stored claim is what deduplicates replays
 * of the log, whose own retention also runs from when records were appended.
 */
async function ensureTtlIndex(db: Db, events: Collection<EventDocument>, retentionMs: number, warn: Warn): Promise<boolean> {
  const expireAfterSeconds = Math.ceil(retentionMs / 1000);
  try {
    await events.createIndex({ receivedAtDate: 1 }, { name: RETENTION_INDEX, expireAfterSeconds });
    return true;
  } catch (error) {
    if (!(error instanceof MongoServerError)) throw error;
    if (!hasServerCode(error, SERVER_CODE.indexOptionsConflict)) {
      warn('MongoDB refused a TTL index; expired events are purged by the service every minute instead', error);
      return false;
    }
  }
  // The index exists with another expiry (the retention setting changed): change it in place,
  // which avoids rebuilding the index over the whole collection.
  try {
    await db.command({ collMod: COLLECTION, index: { name: RETENTION_INDEX, expireAfterSeconds } });
    return true;
  } catch (error) {
    if (!(error instanceof MongoServerError)) throw error;
    warn(
      `MongoDB could not change the expiry of the index ${RETENTION_INDEX}; expired events are purged by the service ` +
        'every minute instead (the existing index still expires events on its own schedule)',
      error,
    );
    return false;
  }
}

/** Keeping events forever must also stop a TTL index that an earlier configuration created. */
async function dropTtlIndex(events: Collection<EventDocument>, warn: Warn): Promise<void> {
  const indexes = await events.listIndexes().toArray();
  const ttl = indexes.find((index) => index.name === RETENTION_INDEX && index.expireAfterSeconds !== undefined);
  if (!ttl) return;
  try {
    await events.dropIndex(RETENTION_INDEX);
    warn(`retention is off: dropped the TTL index ${RETENTION_INDEX} left by an earlier configuration`);
  } catch (error) {
    if (hasServerCode(error, SERVER_CODE.indexNotFound)) return;
    if (!(error instanceof MongoServerError)) throw error;
    warn(`retention is off, but the TTL index ${RETENTION_INDEX} could not be dropped and still expires events`, error);
  }
}

/** Deletes expired events once a minute, for servers without TTL indexes. */
function startPurging(events: Collection<EventDocument>, retentionMs: number, warn: Warn): { stop(): void } {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  // An outage would otherwise produce a warning every minute: report when purging starts to
  // fail, and stay quiet until it has worked again.
  let failing = false;

  const purge = async () => {
    try {
      await events.deleteMany({ receivedAtDate: { $lt: new Date(Date.now() - retentionMs) } });
      failing = false;
    } catch (error) {
      if (!failing && !stopped) warn('purging expired events from MongoDB failed; it is retried every minute', error);
      failing = true;
    }
  };
  // Each purge is scheduled after the previous one ends, so a slow delete never overlaps the next.
  const schedule = () => {
    timer = setTimeout(() => {
      void purge().then(() => {
        if (!stopped) schedule();
      });
    }, PURGE_INTERVAL_MS);
    // Housekeeping must not keep a process alive that is otherwise done.
    timer.unref();
  };
  schedule();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

export async function createMongoEventStore(options: MongoEventStoreOptions): Promise<EventStore> {
  const { url, retentionMs } = options;
  if (retentionMs !== null && !(Number.isFinite(retentionMs) && retentionMs > 0)) {
    throw new TypeError(`retentionMs must be a positive number of milliseconds or null, not ${retentionMs}`);
  }
  const warn: Warn = options.onWarning ?? (() => {});
  const client = new MongoClient(url, { ...clientOptions(url), ...(options.onCommandStarted ? { monitorCommands: true } : {}) });
  if (options.onCommandStarted) client.on('commandStarted', options.onCommandStarted);
  const db = client.db(options.database ?? databaseInUrl(url) ?? DEFAULT_DATABASE);
  const events = db.collection<EventDocument>(COLLECTION);
  /** The same collection, for claims: their writes and the reads that decide ownership. */
  const claimReads = db.collection<EventDocument>(COLLECTION, { readConcern: CLAIM_READ_CONCERN });
  const claimWrites = db.collection<WrittenEventDocument>(COLLECTION, { writeConcern: CLAIM_WRITE_CONCERN });
  const setAsideRecords = db.collection<SetAsideDocument>(SET_ASIDE_COLLECTION, { writeConcern: CLAIM_WRITE_CONCERN });
  let purging: { stop(): void } | null = null;

  try {
    await guarded('connect', async () => {
      await client.connect();
      const withoutIndexes = await plansQueriesWithoutIndexes(db);
      if (withoutIndexes) {
        // Creating an index creates the collection; what follows (listIndexes) needs it to exist.
        await db.createCollection(COLLECTION).catch((error: unknown) => {
          if (!hasServerCode(error, SERVER_CODE.namespaceExists)) throw error;
        });
        warn('FerretDB 1.x plans no query on secondary indexes; the event query indexes are not created (they would only slow inserts)');
      } else {
        await ensureQueryIndexes(events, warn);
      }
      await ensureSetAsideIndexes(setAsideRecords, warn);
      if (retentionMs === null) {
        await dropTtlIndex(events, warn);
      } else if (!(await ensureTtlIndex(db, events, retentionMs, warn))) {
        // The purge's range query needs an index on the field the TTL index would have used.
        if (!withoutIndexes) await ensureIndex(events, warn, RETENTION_INDEX, { receivedAtDate: 1 });
        purging = startPurging(events, retentionMs, warn);
      }
    });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }

  /** The stored claims of these `_id`s, keyed by `eventKey`. */
  async function readClaims(ids: string[], claims: Map<string, EventClaim>): Promise<void> {
    const found = claimReads.find({ _id: { $in: ids } }, { projection: { _id: 0, tenant: 1, id: 1, position: 1, quarantine: 1 } });
    for await (const doc of found) claims.set(eventKey(doc.tenant, doc.id), claimOf(doc));
  }

  /**
   * Inserts the documents whose `_id` is free; true when that was all of them. Plain inserts,
   * not upserts: both are one `_id` probe on MongoDB, but FerretDB (SQLite) scans the whole
   * collection for every upsert (measured: 1000 upserts took 4 s into an empty collection and
   * 17 s into one of 3000 documents; 1000 inserts take 60-80 ms).
   */
  async function insertAll(docs: WrittenEventDocument[]): Promise<boolean> {
    try {
      const result = await claimWrites.insertMany(docs, { ordered: false });
      return result.acknowledged && result.insertedCount === docs.length;
    } catch (error) {
      if (onlyAlreadyClaimed(error)) return false;
      throw error;
    }
  }

  let closing: Promise<void> | null = null;

  return {
    claim(batch) {
      return guarded('store events', async () => {
        // Within a batch the first occurrence wins, as in the log; an unordered insert would not
        // promise which of two equal `_id`s it tries first. Each document is built once, here,
        // and reused by later rounds.
        const pending = new Map<string, WrittenEventDocument>();
        for (const event of batch) {
          const id = documentId(event.tenant, event.id);
          if (!pending.has(id)) pending.set(id, toDocument(event, id));
        }
        const claims = new Map<string, EventClaim>();
        for (let round = 0; round < MAX_CLAIM_ROUNDS && pending.size > 0; round++) {
          if (await insertAll([...pending.values()])) {
            // Every `_id` was free, so every claim is this call's: nothing to read back. This is
            // the common case (first delivery), and on FerretDB, where each read scans the
            // whole collection, it keeps claiming independent of the collection's size.
            for (const doc of pending.values()) claims.set(eventKey(doc.tenant, doc.id), claimOf(doc));
            pending.clear();
            break;
          }
          // Some ids were claimed before (a replay) or concurrently. Whoever owns each one is
          // read back rather than inferred from the per-document errors, so ownership never
          // depends on how a server reports a partly failed insert.
          await readClaims([...pending.keys()], claims);
          for (const [id, doc] of pending) {
            if (claims.has(eventKey(doc.tenant, doc.id))) pending.delete(id);
          }
        }
        if (pending.size > 0) {
          throw unavailable(`the MongoDB event store lost ${pending.size} claimed event(s) before it could read them back`);
        }
        return claims;
      });
    },

    findByIds(tenant, ids) {
      return guarded('read events', async () => {
        if (ids.length === 0) return [];
        const wanted = [...new Set(ids)].map((id) => documentId(tenant, id));
        const docs = await events.find({ _id: { $in: wanted }, counted: true }).toArray();
        return docs.map(toStoredEvent);
      });
    },

    // The scan runs on the server, not in this process: no scan bound is needed (see the port).
    listEvents(query, limit, after) {
      return guarded('list events', async () => {
        // A limit of 0 means "no limit" to MongoDB, and a negative one means something else again.
        if (limit <= 0) return { events: [], scannedUpTo: null };
        const docs = await events.find(eventsFilter(query, after)).sort({ timestamp: -1, id: -1 }).limit(limit).toArray();
        return { events: docs.map(toStoredEvent), scannedUpTo: null };
      });
    },

    listAfterPositions(tenant, after, limit, through) {
      return guarded('replay events', async () => {
        if (limit <= 0) return [];
        const afterPosition: Filter<EventDocument>[] = [];
        for (const [partition, last] of through) {
          const first = after.get(partition);
          afterPosition.push({
            'position.partition': { $eq: partition },
            'position.offset': first === undefined ? { $lte: last } : { $gt: first, $lte: last },
          });
        }
        if (afterPosition.length === 0) return [];
        const docs = await events
          .find({ tenant: { $eq: tenant }, counted: { $eq: true }, $or: afterPosition })
          .sort({ 'position.partition': 1, 'position.offset': 1 })
          .limit(limit)
          .toArray();
        return docs.map(toStoredEvent);
      });
    },

    listQuarantine(tenant, limit, after, within) {
      return guarded('list the quarantine', async () => {
        if (limit <= 0) return [];
        const docs = await events
          .find(quarantineFilter(tenant, after, within))
          .sort({ receivedAt: -1, id: -1 })
          .limit(limit)
          .toArray();
        return docs.map(toStoredEvent);
      });
    },

    setAside(records) {
      return guarded('set records aside', async () => {
        if (records.length === 0) return;
        try {
          await setAsideRecords.insertMany(records.map(toSetAsideDocument), { ordered: false });
        } catch (error) {
          // Kept already (the batch was replayed after a crash): the first entry stays.
          if (!onlyAlreadyClaimed(error)) throw error;
        }
        // After the entries are durable: a crash in between leaves a claim that the replayed
        // batch sets aside (and releases) again.
        for (const record of records) {
          if (record.tenant === null || record.eventId === null) continue;
          await claimWrites.deleteOne({
            _id: { $eq: documentId(record.tenant, record.eventId) },
            'position.partition': { $eq: record.position.partition },
            'position.offset': { $eq: record.position.offset },
          });
        }
      });
    },

    listSetAside(scope, limit, after) {
      return guarded('list set-aside records', async () => {
        if (limit <= 0) return [];
        const docs = await setAsideRecords
          .find(setAsideFilter(scope, after))
          .sort({ setAsideAt: -1, 'position.partition': -1, 'position.offset': -1 })
          .limit(limit)
          .toArray();
        return docs.map(toSetAsideRecord);
      });
    },

    findSetAside(positions) {
      return guarded('read set-aside records', async () => {
        if (positions.length === 0) return [];
        const docs = await setAsideRecords.find({ _id: { $in: positions.map(setAsideDocumentId) } }).toArray();
        return docs.map(toSetAsideRecord);
      });
    },

    deleteSetAside(positions) {
      return guarded('delete set-aside records', async () => {
        if (positions.length === 0) return;
        await setAsideRecords.deleteMany({ _id: { $in: positions.map(setAsideDocumentId) } });
      });
    },

    async checkHealth() {
      try {
        await db.command({ ping: 1 }, { signal: AbortSignal.timeout(HEALTH_CHECK_TIMEOUT_MS) });
      } catch (error) {
        // Whatever stops a ping (including the abort) means the store cannot serve requests.
        throw unavailable('the MongoDB event store could not be reached', error);
      }
    },

    close() {
      closing ??= (async () => {
        purging?.stop();
        await client.close();
      })();
      return closing;
    },
  };
}

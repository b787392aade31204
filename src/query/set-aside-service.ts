/**
 * The dead letter as the API sees it: listing set-aside records and replaying them. A replay
 * appends the kept record to the log again, as a new record; the processor then handles it like
 * any other, so it is counted once (its id is deduplicated by (tenant, id) as always), or set
 * aside again if the cause is not fixed.
 */
import type { EventLog } from '../ports/event-log.ts';
import type { EventStore, SetAsideScope } from '../ports/event-store.ts';
import type { LogPosition } from '../domain/event.ts';
import type { SetAsidePageKey, SetAsideRecord } from '../domain/set-aside.ts';
import { badInput } from '../errors.ts';
import { logKey } from '../domain/log-record.ts';
import { positionOfSetAsideId, setAsideId } from '../stream/set-aside.ts';
import { MAX_PAGE_SIZE, type Page } from './query-service.ts';

/** Records one replay call may take: each is an append, and the call answers within seconds. */
export const MAX_REPLAY_IDS = 100;
/** The log key of a replayed record that names no tenant and type: all such records keep one order. */
const UNNAMED_RECORD_KEY = 'set-aside:unnamed';

export interface ReplayResult {
  replayed: SetAsideRecord[];
  /** Ids that name no set-aside record in scope (already replayed, another tenant's, or never set aside). */
  notFound: string[];
}

export interface SetAsideService {
  list(scope: SetAsideScope, first: number, after: string | null | undefined): Promise<Page<SetAsideRecord>>;
  replay(scope: SetAsideScope, ids: readonly string[]): Promise<ReplayResult>;
}

function encodeCursor(record: SetAsideRecord): string {
  return Buffer.from(JSON.stringify(['a', record.setAsideAt, record.position.partition, record.position.offset])).toString('base64url');
}

function decodeCursor(cursor: string): SetAsidePageKey {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts[0] === 'a' && parts.slice(1).every((n) => Number.isSafeInteger(n)) && parts.length === 4) {
      return { setAsideAt: parts[1], partition: parts[2], offset: parts[3] };
    }
  } catch {
    // fall through to the error below
  }
  throw badInput('the cursor is not one this field returned');
}

/** The key ingest would have given the record, so a replay keeps the order of its tenant and type. */
function replayKey(record: SetAsideRecord): string {
  try {
    const parsed = JSON.parse(record.record) as { type?: unknown };
    if (record.tenant !== null && typeof parsed?.type === 'string') return logKey(record.tenant, parsed.type);
  } catch {
    // not JSON: no tenant or type to key by
  }
  return UNNAMED_RECORD_KEY;
}

export function createSetAsideService(options: { eventStore: EventStore; log: EventLog }): SetAsideService {
  const { eventStore, log } = options;
  const inScope = (scope: SetAsideScope, record: SetAsideRecord) => scope === 'ALL' || record.tenant === scope.tenant;

  return {
    async list(scope, first, after) {
      if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE)
        throw badInput(`first must be a whole number from 0 to ${MAX_PAGE_SIZE}`);
      const rows = await eventStore.listSetAside(scope, first + 1, after ? decodeCursor(after) : null);
      const page = rows.slice(0, first);
      const edges = page.map((node) => ({ cursor: encodeCursor(node), node }));
      return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
    },

    async replay(scope, ids) {
      if (ids.length === 0 || ids.length > MAX_REPLAY_IDS) throw badInput(`ids must name 1 to ${MAX_REPLAY_IDS} set-aside records`);
      const positions: LogPosition[] = [];
      for (const id of new Set(ids)) {
        const position = positionOfSetAsideId(id);
        if (!position) throw badInput(`"${id.slice(0, 64)}" is not the id of a set-aside record`);
        positions.push(position);
      }
      const found = (await eventStore.findSetAside(positions)).filter((record) => inScope(scope, record));
      found.sort((a, b) => a.position.partition - b.position.partition || a.position.offset - b.position.offset);
      // Appended before the entries are forgotten: a crash in between leaves them to replay again,
      // which the (tenant, id) deduplication makes harmless.
      await log.append(found.map((record) => ({ key: replayKey(record), value: record.record })));
      await eventStore.deleteSetAside(found.map((record) => record.position));
      const replayedIds = new Set(found.map((record) => setAsideId(record.position)));
      return { replayed: found, notFound: [...new Set(ids)].filter((id) => !replayedIds.has(setAsideId(positionOfSetAsideId(id)!))) };
    },
  };
}

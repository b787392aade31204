/**
 * How the MongoDB event store keeps set-aside log records (the dead letter): one document per
 * log position in the `set_aside` collection, its indexes, and its keyset pages. Pure mapping,
 * apart from creating the indexes.
 */
import { MongoServerError, type Collection, type Filter } from 'mongodb';
import type { LogPosition } from '../../domain/event.ts';
import type { SetAsidePageKey, SetAsideReason, SetAsideRecord } from '../../domain/set-aside.ts';

export const SET_ASIDE_COLLECTION = 'set_aside';

export interface SetAsideDocument {
  /** `setAsideDocumentId(position)`: one entry per log position. */
  _id: string;
  position: { partition: number; offset: number };
  tenant: string | null;
  eventId: string | null;
  reason: SetAsideReason;
  error: string;
  record: string;
  attempts: number;
  setAsideAt: number;
}

export function setAsideDocumentId(position: LogPosition): string {
  return `${position.partition}:${position.offset}`;
}

export function toSetAsideDocument(record: SetAsideRecord): SetAsideDocument {
  return {
    _id: setAsideDocumentId(record.position),
    position: { partition: record.position.partition, offset: record.position.offset },
    tenant: record.tenant,
    eventId: record.eventId,
    reason: record.reason,
    error: record.error,
    record: record.record,
    attempts: record.attempts,
    setAsideAt: record.setAsideAt,
  };
}

export function toSetAsideRecord(doc: SetAsideDocument): SetAsideRecord {
  return {
    position: { partition: doc.position.partition, offset: doc.position.offset },
    tenant: doc.tenant,
    eventId: doc.eventId,
    reason: doc.reason,
    error: doc.error,
    record: doc.record,
    attempts: doc.attempts,
    setAsideAt: doc.setAsideAt,
  };
}

export function setAsideFilter(scope: { tenant: string } | 'ALL', after: SetAsidePageKey | null | undefined): Filter<SetAsideDocument> {
  const filter: Filter<SetAsideDocument> = scope === 'ALL' ? {} : { tenant: { $eq: scope.tenant } };
  if (after) {
    filter.setAsideAt = { $lte: after.setAsideAt };
    filter.$or = [
      { setAsideAt: { $lt: after.setAsideAt } },
      { setAsideAt: { $eq: after.setAsideAt }, 'position.partition': { $lt: after.partition } },
      { setAsideAt: { $eq: after.setAsideAt }, 'position.partition': { $eq: after.partition }, 'position.offset': { $lt: after.offset } },
    ];
  }
  return filter;
}

export async function ensureSetAsideIndexes(
  records: Collection<SetAsideDocument>,
  warn: (message: string, detail?: unknown) => void,
): Promise<void> {
  // Both listings (an operator's over every tenant, a tenant's own) read in index order.
  for (const [name, key] of [
    ['set_aside_newest_first', { setAsideAt: -1, 'position.partition': -1, 'position.offset': -1 }],
    ['set_aside_of_tenant_newest_first', { tenant: 1, setAsideAt: -1, 'position.partition': -1, 'position.offset': -1 }],
  ] as const) {
    try {
      await records.createIndex(key, { name });
    } catch (error) {
      if (!(error instanceof MongoServerError)) throw error;
      warn(`MongoDB refused the index ${name}; listing set-aside records will scan more`, error);
    }
  }
}

/**
 * Opaque cursors. Clients must treat them as strings; inside, they are base64url JSON tagged
 * with their kind, so a cursor of one kind is refused where another is expected.
 */
import type { EventPageKey, QuarantinePageKey } from '../ports/event-store.ts';
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { badInput, StreamlensError } from '../errors.ts';

function encode(parts: unknown[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decode(cursor: string, kind: string): unknown[] {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts[0] === kind) return parts;
  } catch {
    // fall through to the error below
  }
  throw badInput('the cursor is not one this field returned');
}

/** Ids in cursors are stored ids: a forged one with a lone surrogate could only collide with another. */
function isWellFormedText(value: unknown): value is string {
  return typeof value === 'string' && value.isWellFormed();
}

export function encodeEventCursor(key: EventPageKey): string {
  return encode(['e', key.timestamp, key.id]);
}

export function decodeEventCursor(cursor: string): EventPageKey {
  const [, timestamp, id] = decode(cursor, 'e');
  if (!Number.isSafeInteger(timestamp) || !isWellFormedText(id)) throw badInput('the cursor is not one this field returned');
  return { timestamp: timestamp as number, id };
}

/**
 * Sealed cursors: what an access token with a slice is given in place of a cursor that would tell
 * it something outside its slice. A stream cursor names log offsets, which grow with every event
 * of the partition, other customers' included, so two cursors an end user receives would say how
 * many events others sent between them; a short page's scan position names an event the page did
 * not match. Sealed with AES-256-GCM, the cursor says nothing and cannot be forged.
 *
 * The secret follows from the access-token signing secrets (cursorSealSecrets), which every
 * instance shares: a sealed cursor opens on any instance, and after a restart. The newest secret
 * seals; every secret still accepted for tokens opens, so a key rotation does not strand cursors.
 */
export interface CursorSeal {
  seal(cursor: string): string;
  /** The cursor inside a sealed one; any other cursor as it is. BAD_USER_INPUT for a sealed one this service did not seal. */
  open(cursor: string): string;
}

export interface CursorSealSecrets {
  sealing: Buffer;
  opening: readonly Buffer[];
}

/** Bytes of AES-GCM's nonce (the size it is defined for) and tag. */
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Separates the cursor key from the token-signing key it is derived from (HKDF's `info`). */
const SEAL_KEY_INFO = 'streamlens cursor seal v1';

/** The cursor-sealing secrets that follow from the token signing secrets (the first one signs). */
export function cursorSealSecrets(signingSecrets: readonly string[]): CursorSealSecrets {
  const derive = (secret: string) => Buffer.from(hkdfSync('sha256', secret, '', SEAL_KEY_INFO, 32));
  const opening = signingSecrets.map(derive);
  return { sealing: opening[0]!, opening };
}

export function createCursorSeal(secrets: CursorSealSecrets = randomSealSecrets()): CursorSeal {
  const refused = () => badInput('the cursor is not one this field returned');
  return {
    seal(cursor) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', secrets.sealing, nonce);
      const sealed = Buffer.concat([cipher.update(cursor, 'utf8'), cipher.final()]);
      return encode(['sealed', Buffer.concat([nonce, cipher.getAuthTag(), sealed]).toString('base64url')]);
    },
    open(cursor) {
      let parts: unknown;
      try {
        parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      } catch {
        return cursor;
      }
      if (!Array.isArray(parts) || parts[0] !== 'sealed') return cursor;
      if (typeof parts[1] !== 'string') throw refused();
      const bytes = Buffer.from(parts[1], 'base64url');
      if (bytes.length <= NONCE_BYTES + TAG_BYTES) throw refused();
      for (const secret of secrets.opening) {
        try {
          const decipher = createDecipheriv('aes-256-gcm', secret, bytes.subarray(0, NONCE_BYTES));
          decipher.setAuthTag(bytes.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
          return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
        } catch {
          // another secret's, or tampered with: the next secret, then refused below
        }
      }
      throw refused();
    },
  };
}

/** For a service built without the token secrets (unit tests): sealed cursors open in this process only. */
function randomSealSecrets(): CursorSealSecrets {
  const secret = randomBytes(32);
  return { sealing: secret, opening: [secret] };
}

export function encodeQuarantineCursor(key: QuarantinePageKey): string {
  return encode(['q', key.receivedAt, key.id]);
}

export function decodeQuarantineCursor(cursor: string): QuarantinePageKey {
  const [, receivedAt, id] = decode(cursor, 'q');
  if (!Number.isSafeInteger(receivedAt) || !isWellFormedText(id)) throw badInput('the cursor is not one this field returned');
  return { receivedAt: receivedAt as number, id };
}

/**
 * A stream position: for each log partition, the offset of the last record seen. One number
 * per partition, because offsets only order records within a partition.
 */
export type StreamPosition = ReadonlyMap<number, number>;

/**
 * The most log partitions a stream cursor may name: as many as a topic may have (KAFKA_PARTITIONS
 * is capped to match), and few enough that a replay's query stays small in every event store
 * (SQLite refuses an expression past 1,000 terms deep). A forged cursor naming more is refused
 * before any work.
 */
export const MAX_STREAM_CURSOR_PARTITIONS = 512;
/**
 * The longest stream cursor text: MAX_STREAM_CURSOR_PARTITIONS pairs of the largest offsets
 * (about 40 characters each as base64url JSON), with room to spare. Checked before decoding.
 */
const MAX_STREAM_CURSOR_CHARS = 32_768;

/**
 * A stream cursor also carries its age: `issuedAt` (ms), a time before which none of the events
 * after the position was received, so that a resume can tell whether EVENT_RETENTION may have
 * removed some of them. For an event's edge it is that event's receive time (later records of
 * its partition were received after it); for a query's streamCursor, the time of the query.
 */
export function encodeStreamCursor(position: StreamPosition, issuedAt: number): string {
  return encode(['s', [...position].sort(([a], [b]) => a - b), issuedAt]);
}

export interface DecodedStreamCursor {
  position: Map<number, number>;
  /** Null for a cursor issued before cursors carried their age: it is accepted as it is. */
  issuedAt: number | null;
}

/** The position and the age of a stream cursor; refuses anything this API did not issue. */
export function decodeStreamCursorWithAge(cursor: string): DecodedStreamCursor {
  const position = decodeStreamCursor(cursor);
  const issuedAt = decode(cursor, 's')[2];
  if (issuedAt === undefined) return { position, issuedAt: null };
  if (!Number.isSafeInteger(issuedAt)) throw badInput('the cursor is not one this field returned');
  return { position, issuedAt: issuedAt as number };
}

/**
 * Refuses a resume from a cursor older than the retention of raw events (CURSOR_EXPIRED): some
 * events after it may already be deleted, and a replay would skip them without a word.
 */
export function checkCursorAge(cursor: DecodedStreamCursor, retentionMs: number | null, now: number): void {
  if (retentionMs === null || cursor.issuedAt === null) return;
  if (now - cursor.issuedAt > retentionMs) {
    throw new StreamlensError(
      'CURSOR_EXPIRED',
      'the cursor is older than the event retention (EVENT_RETENTION), so events after it may be gone: ' +
        'subscribe without `after` (or from a new streamCursor of the events query) and re-read what you need',
    );
  }
}

export function decodeStreamCursor(cursor: string): Map<number, number> {
  if (cursor.length > MAX_STREAM_CURSOR_CHARS) {
    throw badInput(`the cursor is too long to be one this field returned (at most ${MAX_STREAM_CURSOR_CHARS} characters)`);
  }
  const [, pairs] = decode(cursor, 's');
  if (Array.isArray(pairs) && pairs.length > MAX_STREAM_CURSOR_PARTITIONS) {
    throw badInput(`the cursor names ${pairs.length} partitions; a stream cursor names at most ${MAX_STREAM_CURSOR_PARTITIONS} partitions`);
  }
  const valid =
    Array.isArray(pairs) &&
    pairs.every((pair) => Array.isArray(pair) && pair.length === 2 && Number.isSafeInteger(pair[0]) && Number.isSafeInteger(pair[1]));
  if (!valid) throw badInput('the cursor is not one this field returned');
  return new Map(pairs as [number, number][]);
}

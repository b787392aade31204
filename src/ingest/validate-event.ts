/**
 * Validation and normalisation of one ingested event. Pure: the receive time, the batch's
 * `sentAt` and the id generator come from the caller, so the rules are testable in isolation.
 */
import type { AcceptedEvent, DimensionValue } from '../domain/event.ts';
import { findIllFormedString, illFormedMessage, printableKey } from '../domain/well-formed.ts';
import {
  EARLIEST_TIMESTAMP,
  MAP_KEY_PATTERN,
  MAX_DIMENSION_TEXT_LENGTH,
  MAX_DIMENSIONS,
  MAX_DISTINCT_KEYS,
  MAX_DISTINCT_VALUE_LENGTH,
  MAX_FUTURE_MS,
  MAX_ID_LENGTH,
  MAX_PROPERTIES_DEPTH,
  MAX_SOURCE_LENGTH,
  MAX_TYPE_LENGTH,
  MAX_VALUES,
  TYPE_PATTERN,
} from '../domain/event-rules.ts';

/** An event as the GraphQL input delivers it (scalars already parsed). */
export interface EventInput {
  id?: string | null;
  type: string;
  timestamp?: Date | null;
  source?: string | null;
  dimensions?: Record<string, unknown> | null;
  values?: Record<string, unknown> | null;
  distinct?: Record<string, unknown> | null;
  properties?: Record<string, unknown> | null;
}

export interface IngestLimits {
  /** Largest `properties` object, in bytes of its JSON. */
  maxPropertiesBytes: number;
}

export type IngestErrorCode =
  | 'INVALID_ID'
  | 'INVALID_TYPE'
  | 'INVALID_TIMESTAMP'
  | 'INVALID_SOURCE'
  | 'INVALID_DIMENSIONS'
  | 'INVALID_VALUES'
  | 'INVALID_DISTINCT'
  | 'INVALID_PROPERTIES'
  /** A valid event that an access token may not write: outside its slice (src/auth/tenant-access.ts). */
  | 'OUTSIDE_TOKEN_SLICE';

export interface IngestError {
  code: IngestErrorCode;
  message: string;
  /** Where in the event the problem is, for example `dimensions.country`. */
  path: string;
}

export type ValidationResult = { ok: true; event: AcceptedEvent } | { ok: false; error: IngestError };

export interface ValidationContext {
  tenant: string;
  receivedAt: number;
  /** The batch's `sentAt` (client clock), when given. */
  sentAt: number | null;
  limits: IngestLimits;
  newId: () => string;
}

// Control characters (C0, DEL, C1) have no place in ids or names and break logs and terminals.
// biome-ignore lint: the control characters are the point of this pattern.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

function fail(code: IngestErrorCode, path: string, message: string): ValidationResult {
  return { ok: false, error: { code, path, message } };
}

/** Where a map key is, for an error: built only then, as most events have no error and it costs more than the checks. */
function keyPath(field: 'dimensions' | 'values' | 'distinct', key: string): string {
  return `${field}.${printableKey(key)}`;
}

/** JSON has no negative zero: -0 would come back from the log as 0, so it is 0 from the start. */
function withoutNegativeZero(value: number): number {
  return value === 0 ? 0 : value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * How deep a JSON value nests, counted no further than one level past `limit`: the recursion
 * stops there, so a hostile value nested a million levels deep cannot overflow the stack.
 */
function depthOf(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (limit < 0) return 1;
  let deepest = 0;
  for (const child of Object.values(value)) {
    const depth = depthOf(child, limit - 1);
    if (depth > deepest) deepest = depth;
    if (deepest > limit) break;
  }
  return deepest + 1;
}

/**
 * Why `id` cannot be an event id (nor an ingest call's idempotency key, which names ids), or
 * null when it can. `name` is the field named in the message.
 */
export function whyIdIsInvalid(id: unknown, name: string): string | null {
  if (typeof id !== 'string' || id.length < 1 || id.length > MAX_ID_LENGTH) return `${name} must be 1 to ${MAX_ID_LENGTH} characters`;
  if (CONTROL_CHARACTERS.test(id)) return `${name} must not contain control characters`;
  // Stored as UTF-8, a lone surrogate becomes U+FFFD: two different ids would be one.
  if (!id.isWellFormed()) return illFormedMessage(name, id);
  return null;
}

/**
 * Whether JSON text may hold a lone surrogate once parsed: JSON.stringify escapes one as
 * `\udXXX` (D800 to DFFF). A false alarm (an escaped pair, a literal backslash before "ud8")
 * only costs the walk that finds the exact place.
 */
function mayHoldLoneSurrogate(json: string): boolean {
  return /\\u[dD][89a-fA-F]/.test(json);
}

/** Validates one event; never throws for bad input. */
export function validateEvent(input: EventInput, context: ValidationContext): ValidationResult {
  let id: string;
  if (input.id == null) {
    id = context.newId();
  } else {
    const invalid = whyIdIsInvalid(input.id, 'id');
    if (invalid) return fail('INVALID_ID', 'id', invalid);
    id = input.id as string;
  }

  if (typeof input.type !== 'string' || !TYPE_PATTERN.test(input.type)) {
    return fail('INVALID_TYPE', 'type', `type must be 1 to ${MAX_TYPE_LENGTH} characters of A-Z, a-z, 0-9, _ . : -`);
  }

  let timestamp = context.receivedAt;
  let clockCorrectionMs = 0;
  if (input.timestamp != null) {
    const clientTime = input.timestamp.getTime();
    if (Number.isNaN(clientTime)) return fail('INVALID_TIMESTAMP', 'timestamp', 'timestamp is not a valid date');
    if (context.sentAt !== null) clockCorrectionMs = context.receivedAt - context.sentAt;
    timestamp = clientTime + clockCorrectionMs;
    if (timestamp < EARLIEST_TIMESTAMP) {
      return fail('INVALID_TIMESTAMP', 'timestamp', 'timestamp is before 1970-01-01T00:00:00.000Z');
    }
    if (timestamp > context.receivedAt + MAX_FUTURE_MS) {
      return fail('INVALID_TIMESTAMP', 'timestamp', 'timestamp is more than a year ahead of the server clock');
    }
  }

  let source: string | null = null;
  if (input.source != null) {
    if (input.source.length < 1 || input.source.length > MAX_SOURCE_LENGTH || CONTROL_CHARACTERS.test(input.source)) {
      return fail('INVALID_SOURCE', 'source', `source must be 1 to ${MAX_SOURCE_LENGTH} printable characters`);
    }
    if (!input.source.isWellFormed()) return fail('INVALID_SOURCE', 'source', illFormedMessage('source', input.source));
    source = input.source;
  }

  const dimensions: Record<string, DimensionValue> = {};
  if (input.dimensions != null) {
    if (!isPlainObject(input.dimensions)) return fail('INVALID_DIMENSIONS', 'dimensions', 'dimensions must be an object');
    const entries = Object.entries(input.dimensions);
    if (entries.length > MAX_DIMENSIONS) {
      return fail('INVALID_DIMENSIONS', 'dimensions', `at most ${MAX_DIMENSIONS} dimensions per event`);
    }
    for (const [key, value] of entries) {
      if (!MAP_KEY_PATTERN.test(key)) {
        return fail(
          'INVALID_DIMENSIONS',
          keyPath('dimensions', key),
          'dimension keys must be 1 to 64 characters of A-Z, a-z, 0-9, _ : -, not start with - or :, and not be __proto__',
        );
      }
      if (typeof value === 'string') {
        if (value.length > MAX_DIMENSION_TEXT_LENGTH) {
          return fail(
            'INVALID_DIMENSIONS',
            keyPath('dimensions', key),
            `dimension values are at most ${MAX_DIMENSION_TEXT_LENGTH} characters`,
          );
        }
        if (!value.isWellFormed()) {
          const path = keyPath('dimensions', key);
          return fail('INVALID_DIMENSIONS', path, illFormedMessage(path, value));
        }
        dimensions[key] = value;
      } else if (typeof value === 'number') {
        if (!Number.isFinite(value))
          return fail('INVALID_DIMENSIONS', keyPath('dimensions', key), 'numeric dimension values must be finite');
        dimensions[key] = withoutNegativeZero(value);
      } else if (typeof value === 'boolean') {
        dimensions[key] = value;
      } else {
        return fail(
          'INVALID_DIMENSIONS',
          keyPath('dimensions', key),
          'dimension values must be a string, number or boolean (dimensions are flat)',
        );
      }
    }
  }

  const values: Record<string, number> = {};
  if (input.values != null) {
    if (!isPlainObject(input.values)) return fail('INVALID_VALUES', 'values', 'values must be an object');
    const entries = Object.entries(input.values);
    if (entries.length > MAX_VALUES) return fail('INVALID_VALUES', 'values', `at most ${MAX_VALUES} values per event`);
    for (const [key, value] of entries) {
      if (!MAP_KEY_PATTERN.test(key)) {
        return fail(
          'INVALID_VALUES',
          keyPath('values', key),
          'value keys must be 1 to 64 characters of A-Z, a-z, 0-9, _ : -, not start with - or :, and not be __proto__',
        );
      }
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return fail('INVALID_VALUES', keyPath('values', key), 'values must be finite numbers');
      }
      values[key] = withoutNegativeZero(value);
    }
  }

  const distinct = validateDistinct(input.distinct);
  if (!distinct.ok) return distinct;

  let properties: Record<string, unknown> | null = null;
  if (input.properties != null) {
    if (!isPlainObject(input.properties)) return fail('INVALID_PROPERTIES', 'properties', 'properties must be an object');
    if (depthOf(input.properties, MAX_PROPERTIES_DEPTH) > MAX_PROPERTIES_DEPTH) {
      return fail('INVALID_PROPERTIES', 'properties', `properties nest at most ${MAX_PROPERTIES_DEPTH} levels deep`);
    }
    const json = JSON.stringify(input.properties);
    // JSON.stringify writes a lone surrogate (in a key or a string) as a \udXXX escape: text
    // without one has none, and the walk that finds where it is can be skipped.
    const illFormed = mayHoldLoneSurrogate(json) ? findIllFormedString(input.properties, 'properties', MAX_PROPERTIES_DEPTH) : null;
    if (illFormed) return fail('INVALID_PROPERTIES', illFormed.path, illFormedMessage(illFormed.path, illFormed.text ?? ''));
    const bytes = Buffer.byteLength(json);
    if (bytes > context.limits.maxPropertiesBytes) {
      return fail(
        'INVALID_PROPERTIES',
        'properties',
        `properties are ${bytes} bytes of JSON; the limit is ${context.limits.maxPropertiesBytes}`,
      );
    }
    properties = input.properties;
  }

  return {
    ok: true,
    event: {
      tenant: context.tenant,
      id,
      type: input.type,
      timestamp,
      receivedAt: context.receivedAt,
      clockCorrectionMs,
      source,
      dimensions,
      values,
      ...(distinct.values ? { distinct: distinct.values } : {}),
      properties,
    },
  };
}

/**
 * `distinct`: at most MAX_DISTINCT_KEYS keys under the dimension key rule, each a string id.
 * `values` is undefined when the event carries none (an empty object included), so events
 * without distinct values look exactly as they did before the field existed.
 */
function validateDistinct(
  input: Record<string, unknown> | null | undefined,
): { ok: true; values: Record<string, string> | undefined } | { ok: false; error: IngestError } {
  const failure = (path: string, message: string) => ({ ok: false as const, error: { code: 'INVALID_DISTINCT' as const, path, message } });
  if (input == null) return { ok: true, values: undefined };
  if (!isPlainObject(input)) return failure('distinct', 'distinct must be an object');
  const entries = Object.entries(input);
  if (entries.length > MAX_DISTINCT_KEYS) return failure('distinct', `at most ${MAX_DISTINCT_KEYS} distinct keys per event`);
  if (entries.length === 0) return { ok: true, values: undefined };
  const values: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (!MAP_KEY_PATTERN.test(key)) {
      return failure(
        keyPath('distinct', key),
        'distinct keys must be 1 to 64 characters of A-Z, a-z, 0-9, _ : -, not start with - or :, and not be __proto__',
      );
    }
    if (typeof value !== 'string')
      return failure(keyPath('distinct', key), 'distinct values must be strings (a user, session or device id)');
    if (value.length > MAX_DISTINCT_VALUE_LENGTH) {
      return failure(keyPath('distinct', key), `distinct values are at most ${MAX_DISTINCT_VALUE_LENGTH} characters`);
    }
    // Two different ids with lone surrogates would hash alike once stored as UTF-8 (U+FFFD).
    if (!value.isWellFormed()) {
      const path = keyPath('distinct', key);
      return failure(path, illFormedMessage(path, value));
    }
    values[key] = value;
  }
  return { ok: true, values };
}

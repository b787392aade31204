/**
 * What an accepted event may hold: the patterns of its type and map keys and the bounds of its
 * fields. Ingest validates against them, the log-record decoder refuses what breaks them, and
 * queries and stores check names against the same patterns, so one rule holds in every layer.
 */

export const MAX_ID_LENGTH = 128;
export const MAX_TYPE_LENGTH = 128;
export const TYPE_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
export const MAX_SOURCE_LENGTH = 256;
/**
 * Keys of dimensions and values: no `.` or leading `$`, so they are safe field names in any store;
 * and not `__proto__`, which a plain object drops on assignment (the key would vanish silently).
 */
export const MAP_KEY_PATTERN = /^(?!__proto__$)[A-Za-z0-9_][A-Za-z0-9_:-]{0,63}$/;
/** Each dimension combination is a rollup row; more keys than this is a modelling mistake. */
export const MAX_DIMENSIONS = 32;
export const MAX_DIMENSION_TEXT_LENGTH = 256;
export const MAX_VALUES = 32;
/**
 * Keys of `distinct` (users, sessions, devices): each is a sketch in every rollup row the event
 * updates, up to 12 KB once it holds a couple of thousand values, so a handful is the limit.
 */
export const MAX_DISTINCT_KEYS = 4;
/** The same bound as a dimension value: ids, not documents. */
export const MAX_DISTINCT_VALUE_LENGTH = 256;
/** Event times before the epoch are not analytics data; anything past a year ahead is a bug. */
export const EARLIEST_TIMESTAMP = 0;
export const MAX_FUTURE_MS = 366 * 86_400_000;
/** Properties are free-form, but a pathological nesting depth is refused before it is stored. */
export const MAX_PROPERTIES_DEPTH = 32;

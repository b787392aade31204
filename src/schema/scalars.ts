/** The contract's scalars. Each refuses what it cannot represent exactly, with a clear message. */
import { Kind, valueFromASTUntyped, type ValueNode } from 'graphql';
import { scalarRefusal } from '../server/errors.ts';
import { builder } from './builder.ts';

/** ISO-8601 with an explicit offset: a time without a zone is ambiguous, so it is refused. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

/**
 * Whether the date part names a real day: Date rolls 2026-02-30 over to March 2 instead of
 * refusing it, which would store the event on a day the client never sent.
 */
function isCalendarDate(text: string): boolean {
  const year = Number(text.slice(0, 4));
  const month = Number(text.slice(5, 7));
  const day = Number(text.slice(8, 10));
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return daysInMonth !== undefined && day >= 1 && day <= daysInMonth;
}

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_DATE_TIME.test(value)) {
    throw scalarRefusal('DateTime must be an ISO-8601 string with a time zone, for example 2026-11-27T12:00:00.000Z');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime()) || !isCalendarDate(value)) throw scalarRefusal(`DateTime "${value}" is not a valid date`);
  return date;
}

/**
 * The ISO text of recently serialised epoch milliseconds. A grouped series answer repeats every
 * bucket start once per group (14,400 points of 1,440 starts for 10 groups), and formatting a
 * date costs several times a map lookup. Bounded: cleared when full, a series spans at most
 * 10,000 buckets.
 */
const formattedInstants = new Map<number, string>();
const MAX_FORMATTED_INSTANTS = 20_000;

function serializeDateTime(value: unknown): string {
  if (typeof value === 'number') {
    const known = formattedInstants.get(value);
    if (known !== undefined) return known;
  }
  const date = value instanceof Date ? value : new Date(value as number);
  if (Number.isNaN(date.getTime())) throw scalarRefusal('DateTime cannot represent an invalid date');
  const text = date.toISOString();
  if (typeof value === 'number') {
    if (formattedInstants.size >= MAX_FORMATTED_INSTANTS) formattedInstants.clear();
    formattedInstants.set(value, text);
  }
  return text;
}

builder.scalarType('DateTime', {
  description: 'An instant, ISO-8601 in UTC with millisecond precision, for example 2026-11-27T12:00:00.000Z.',
  serialize: serializeDateTime,
  parseValue: parseDateTime,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw scalarRefusal('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});

function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw scalarRefusal('JSONObject must be a JSON object');
  }
  return value as Record<string, unknown>;
}

builder.scalarType('JSONObject', {
  description: 'A JSON object.',
  serialize: (value) => asObject(value),
  parseValue: (value) => asObject(value),
  parseLiteral: (ast: ValueNode, variables) => {
    if (ast.kind !== Kind.OBJECT) throw scalarRefusal('JSONObject must be an object');
    return asObject(valueFromASTUntyped(ast, variables ?? undefined));
  },
});

function asSafeInt(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw scalarRefusal('SafeInt must be an integer from -(2^53-1) to 2^53-1');
  }
  return value;
}

builder.scalarType('SafeInt', {
  description: 'An integer up to 2^53-1: counts can exceed 32 bits.',
  serialize: (value) => asSafeInt(value),
  parseValue: (value) => asSafeInt(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.INT) throw scalarRefusal('SafeInt must be an integer');
    return asSafeInt(Number(ast.value));
  },
});

/** What a dimension may hold (the ingest rule): a value of another kind could match nothing. */
function asDimensionValue(value: unknown): string | number | boolean {
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw scalarRefusal('DimensionValue must be a string, a finite number or a boolean');
}

builder.scalarType('DimensionValue', {
  description: 'A string, a finite number or a boolean: the values EventInput.dimensions may hold.',
  serialize: (value) => asDimensionValue(value),
  parseValue: (value) => asDimensionValue(value),
  parseLiteral: (ast) => {
    switch (ast.kind) {
      case Kind.STRING:
        return ast.value;
      case Kind.BOOLEAN:
        return ast.value;
      // A literal such as 1e400 reads as Infinity, which no dimension holds: refused by the check.
      case Kind.INT:
      case Kind.FLOAT:
        return asDimensionValue(Number(ast.value));
      default:
        throw scalarRefusal('DimensionValue must be a string, a finite number or a boolean');
    }
  },
});

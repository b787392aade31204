/**
 * The error vocabulary: every code a client can see in `extensions.code` (or, for a refused
 * connection, at the start of its reason), in one list. docs/api.md's error table documents the
 * same codes, and test/unit/error-codes.test.ts keeps the two equal.
 *
 * Expected failures are StreamlensErrors with one of these codes; only src/server/errors.ts
 * turns them into GraphQL errors. Anything that is not one is a bug or an outage: the server
 * masks it as INTERNAL_SERVER_ERROR and logs it.
 */
export const ERROR_CODES = [
  // The request itself
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'OPERATION_RESOLUTION_FAILURE',
  'PAYLOAD_TOO_LARGE',
  'QUERY_TOO_COMPLEX',
  'QUERY_TOO_LARGE',
  // Who is asking
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  // Access tokens
  'TOKEN_EXPIRED',
  'OUTSIDE_TOKEN_SLICE',
  // Persisted operations (PERSISTED_OPERATIONS_FILE)
  'CANNOT_SEND_PQ_ID_AND_BODY',
  'PERSISTED_QUERY_ID_REQUIRED',
  'PERSISTED_QUERY_NOT_IN_LIST',
  // Browsers
  'HOST_NOT_ALLOWED',
  'ORIGIN_NOT_ALLOWED',
  'UNSUPPORTED_MEDIA_TYPE',
  // Usage limits
  'RATE_LIMITED',
  'KEY_LIMIT',
  'SUBSCRIPTION_LIMIT',
  'TOO_MANY_CONNECTIONS',
  'SUBSCRIBER_TOO_SLOW',
  // Resumable streams
  'CURSOR_EXPIRED',
  // The server's side
  'UNAVAILABLE',
  'INTERNAL_SERVER_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Server faults: the client did nothing wrong. Every other code is the client's to fix (or wait out). */
export const SERVER_FAULT_CODES: readonly ErrorCode[] = ['UNAVAILABLE', 'INTERNAL_SERVER_ERROR'];

/** The `extensions` an error carries beside its code; docs/api.md says which code carries which. */
export interface ErrorDetails {
  /** The value of the limit the request went past. */
  limit?: number;
  /** Which limit: `depth`, `fields`, `complexity`… (QUERY_TOO_COMPLEX), `points`, `rows`… (QUERY_TOO_LARGE). */
  measure?: string;
  /** How far the request went, when it is known (QUERY_TOO_LARGE). */
  actual?: number;
  /** Seconds to wait before sending the same request again (RATE_LIMITED). */
  retryAfter?: number;
  /** The scope the key lacks (FORBIDDEN). */
  requiredScope?: string;
}

export class StreamlensError extends Error {
  readonly code: ErrorCode;
  /** Whether the same request may succeed if the client sends it again later. */
  readonly retryable: boolean;
  /** Further `extensions` clients receive with the code, in this order. */
  readonly details: Readonly<ErrorDetails>;

  constructor(code: ErrorCode, message: string, options: { retryable?: boolean; cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StreamlensError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

export function badInput(message: string): StreamlensError {
  return new StreamlensError('BAD_USER_INPUT', message);
}

/** A dependency (log or store) cannot be reached: the client should retry with backoff. */
export function unavailable(message: string, cause?: unknown): StreamlensError {
  return new StreamlensError('UNAVAILABLE', message, { retryable: true, cause });
}

/** No key, or one that is not (or no longer) valid. */
export function unauthenticated(message: string): StreamlensError {
  return new StreamlensError('UNAUTHENTICATED', message);
}

/** A valid key that may not do this; `requiredScope` when a scope would allow it. */
export function forbidden(message: string, requiredScope?: string): StreamlensError {
  return new StreamlensError('FORBIDDEN', message, requiredScope === undefined ? {} : { details: { requiredScope } });
}

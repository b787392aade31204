/**
 * Expected failures, each with the GraphQL error code clients see in `extensions.code`.
 * Anything that is not one of these is a bug or an outage: the server masks it and logs it.
 */
export type ErrorCode = 'BAD_USER_INPUT' | 'UNAVAILABLE' | 'NOT_FOUND' | 'QUERY_TOO_LARGE';

export class StreamlensError extends Error {
  readonly code: ErrorCode;
  /** Whether the same request may succeed if the client sends it again later. */
  readonly retryable: boolean;
  /** Further `extensions` clients receive with the code, e.g. which limit and its value. */
  readonly details: Readonly<Record<string, string | number>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable?: boolean; cause?: unknown; details?: Record<string, string | number> } = {},
  ) {
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

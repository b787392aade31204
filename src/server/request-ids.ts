/**
 * Request ids: every HTTP request (a WebSocket upgrade included) gets one, returned in the
 * `x-request-id` response header, so a client, a proxy log and our log lines can be matched.
 * A caller's own `x-request-id` is kept when it is a sane token (a proxy or client that already
 * traces the request); anything else (too long, odd characters, several values) is replaced, as
 * the id ends up in log lines and headers.
 *
 * The id of the request being handled is carried by AsyncLocalStorage, so code deep in a
 * request (error masking, logging) reads it without each layer passing it along.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

/** UUIDs, ULIDs, trace ids, base64 ids: letters, digits and a few separators, at most 128. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._~:+=/-]{1,128}$/;

const requestScope = new AsyncLocalStorage<string>();
const idsOfRequests = new WeakMap<IncomingMessage, string>();

/** The caller's id if it is a sane token, else a new one. */
export function acceptOrCreateRequestId(incoming: string | string[] | null | undefined): string {
  return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : flat(randomUUID());
}

/**
 * The same text as one flat string. `randomUUID` builds its text from 14 pieces, which V8 keeps
 * as a tree of 14 concatenated strings (about 480 bytes): a WebSocket connection holds its id for
 * as long as it lives (benchmark P6).
 */
function flat(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}

/** The id of an HTTP request, assigned on first ask and then stable for that request. */
export function requestIdOf(request: IncomingMessage): string {
  let id = idsOfRequests.get(request);
  if (!id) idsOfRequests.set(request, (id = acceptOrCreateRequestId(request.headers[REQUEST_ID_HEADER])));
  return id;
}

/** The id of the request whose handling is running now, if any. */
export function currentRequestId(): string | undefined {
  return requestScope.getStore();
}

/** Runs `work` as part of the request with this id (for work that starts outside its handler). */
export function runWithRequestId<T>(requestId: string | undefined, work: () => T): T {
  return requestId === undefined ? work() : requestScope.run(requestId, work);
}

/**
 * The HTTP handler with request ids: the response header is set before the handler writes
 * anything (writeHead merges it with the handler's own headers), and the handler runs in the
 * request's scope.
 */
export function withRequestIds(handler: RequestListener): RequestListener {
  return (request, response) => {
    const requestId = requestIdOf(request);
    response.setHeader(REQUEST_ID_HEADER, requestId);
    requestScope.run(requestId, () => handler(request, response));
  };
}

export interface RequestLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
  debug?(object: object, message: string): void;
}

/** A logger whose lines carry the id of the request they were written for, when there is one. */
export function withRequestIdInLogs(logger: RequestLogger): RequestLogger {
  const tagged = (object: object): object => {
    const requestId = currentRequestId();
    return requestId === undefined ? object : { requestId, ...object };
  };
  return {
    info: (object, message) => logger.info(tagged(object), message),
    warn: (object, message) => logger.warn(tagged(object), message),
    error: (object, message) => logger.error(tagged(object), message),
    debug: (object, message) => logger.debug?.(tagged(object), message),
  };
}

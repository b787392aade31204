/**
 * Who may hold a graphql-ws connection, and how many. A connection costs memory for as long as
 * it lives (about 50 KB each, bench P6), so:
 *
 * - a connection_init without a valid key, when keys are on, is closed at once with 4403 (the
 *   close code graphql-ws gives a refused connection), its reason naming the problem; it also
 *   takes a token of its remote address's bucket for calls without a key, and past that rate it
 *   is closed with 4429 and a RATE_LIMITED reason (http-server.ts);
 * - a connection that sends no connection_init is closed after CONNECTION_INIT_TIMEOUT_MS with
 *   4408 (graphql-ws's own timeout);
 * - one key (in open mode: everyone, as tenant `default`) holds at most `maxPerKey`
 *   acknowledged connections on this instance, and one access token at most `maxPerToken` (a token
 *   counts on its own, not toward its minting key); one more is closed with 4429. Per key rather
 *   than per remote address: behind a proxy every client has the proxy's address, and keys
 *   are what a tenant is given. Unauthenticated sockets live at most until the init timeout,
 *   and the per-instance cap (checked at the upgrade, in http-server.ts) bounds them all.
 */
import type { Authentication, Principal } from '../auth/authenticator.ts';
import { bucketOf } from '../limits/usage-limits.ts';
import { refusalReason } from './errors.ts';

/** graphql-ws's close codes: a refused connection_init, too many (our use of 4429). */
export const CLOSE_FORBIDDEN = 4403;
export const CLOSE_TOO_MANY_CONNECTIONS = 4429;
/** How long a socket may stay open without connection_init: graphql-ws's default, stated. */
export const CONNECTION_INIT_TIMEOUT_MS = 3_000;

/** A WebSocket close reason is at most 123 bytes (RFC 6455: a control frame's 125, less the code). */
export const MAX_CLOSE_REASON_CHARACTERS = 123;

/** Close reasons are at most 123 bytes: short forms of the UNAUTHENTICATED messages. */
const REFUSED_REASONS: Record<Extract<Authentication, { ok: false }>['reason'], string> = {
  missing: refusalReason('UNAUTHENTICATED', 'an API key is required in connectionParams.authorization'),
  malformed: refusalReason('UNAUTHENTICATED', 'the authorization is not "Bearer <key>" with a Streamlens key'),
  unknown: refusalReason('UNAUTHENTICATED', 'the API key is not valid'),
  revoked: refusalReason('UNAUTHENTICATED', 'the API key has been revoked'),
  expired: refusalReason('TOKEN_EXPIRED', 'the access token has expired'),
};

/** The close reason of a connection_init (or a refreshing ping) whose credential is refused. */
export function closeReasonOfRefusal(reason: Extract<Authentication, { ok: false }>['reason']): string {
  return REFUSED_REASONS[reason];
}

export type ConnectionVerdict = { accept: true; release: () => void } | { accept: false; closeCode: number; reason: string };

export interface ConnectionCounter {
  /** Counts an authenticated connection in, or says why it must close. */
  admit(auth: Authentication): ConnectionVerdict;
}

/** How many connections one holder may keep here: per API key, and per access token on its own. */
export interface ConnectionCaps {
  maxPerKey: number;
  maxPerToken: number;
}

/**
 * An access token counts on its own, not toward its minting key: the key stands for a partner
 * and all its end users, and a token for one end user, who must not be able to take every
 * connection of the partner's key (a browser tab needs one).
 */
function connectionBucketOf(principal: Principal): { bucket: string; cap: 'maxPerKey' | 'maxPerToken' } {
  return principal.token
    ? { bucket: `token:${principal.token.id}`, cap: 'maxPerToken' }
    : { bucket: bucketOf(principal), cap: 'maxPerKey' };
}

export function createConnectionCounter(caps: ConnectionCaps): ConnectionCounter {
  const openByKey = new Map<string, number>();
  return {
    admit(auth) {
      if (!auth.ok) return { accept: false, closeCode: CLOSE_FORBIDDEN, reason: REFUSED_REASONS[auth.reason] };
      const { bucket, cap } = connectionBucketOf(auth.principal as Principal);
      const limit = caps[cap];
      const open = openByKey.get(bucket) ?? 0;
      if (open >= limit) {
        const holder = cap === 'maxPerToken' ? 'access token' : 'key';
        return {
          accept: false,
          closeCode: CLOSE_TOO_MANY_CONNECTIONS,
          reason: refusalReason(
            'TOO_MANY_CONNECTIONS',
            `this ${holder} already holds ${limit} WebSocket connections here, the most it may`,
          ),
        };
      }
      openByKey.set(bucket, open + 1);
      let released = false;
      return {
        accept: true,
        release() {
          if (released) return;
          released = true;
          const left = (openByKey.get(bucket) ?? 1) - 1;
          if (left > 0) openByKey.set(bucket, left);
          else openByKey.delete(bucket);
        },
      };
    },
  };
}

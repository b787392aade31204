/**
 * What the page signs in with: an API key, or an access token that a partner's backend minted for
 * one of its end users (docs/api.md, "Embedding analytics for your users").
 *
 * - A token arrives in the URL's fragment (`/dashboard#token=slt_…`): browsers never send a
 *   fragment to a server, so it stays out of access logs and Referer headers. The page takes it
 *   out of the address bar at once and keeps it for this tab only (sessionStorage): it is
 *   short-lived, and two tabs may show two different customers.
 * - A key, or a token, can also be pasted into the page's field. A key is kept in localStorage as
 *   before; a pasted token, like one from the fragment, for this tab.
 *
 * The page reads a token's payload only to say whose view it shows and until when: it is the
 * server that checks the signature and enforces the slice, whatever the page believes.
 */

/** How a token starts (an API key is `sl_<id>_<secret>`), see src/auth/access-tokens.ts. */
export const ACCESS_TOKEN_PREFIX = 'slt_';
const FRAGMENT_PARAMETER = 'token';
const API_KEY_STORAGE = 'streamlens.dashboard.apiKey';
const TOKEN_STORAGE = 'streamlens.dashboard.accessToken';

export function isAccessToken(credential: string): boolean {
  return credential.startsWith(ACCESS_TOKEN_PREFIX);
}

/** The token a link's fragment carries (`#token=…`, other fragment parameters allowed), or null. */
export function tokenFromFragment(hash: string): string | null {
  const token = new URLSearchParams(hash.replace(/^#/, '')).get(FRAGMENT_PARAMETER)?.trim();
  return token ? token : null;
}

/** The fragment without its token: what the address bar keeps ('' when nothing else was in it). */
export function fragmentWithoutToken(hash: string): string {
  const parameters = new URLSearchParams(hash.replace(/^#/, ''));
  parameters.delete(FRAGMENT_PARAMETER);
  const rest = parameters.toString();
  return rest ? `#${rest}` : '';
}

/** What a token's payload says about the view it opens. */
export interface TokenView {
  tenant: string;
  /** The event types it may read; null: all of the tenant's. */
  types: string[] | null;
  /** Its conditions, in words ("customer is acme"). */
  conditions: string[];
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

const OPERATOR_WORDS: Record<string, string> = {
  eq: 'is',
  neq: 'is not',
  in: 'is one of',
  notIn: 'is none of',
};

function describeCondition(condition: unknown): string | null {
  if (!Array.isArray(condition) || condition.length !== 3) return null;
  const [key, operator, operand] = condition as [unknown, unknown, unknown];
  if (typeof key !== 'string' || typeof operator !== 'string') return null;
  if (operator === 'exists') return typeof operand === 'boolean' ? `${key} ${operand ? 'is present' : 'is absent'}` : null;
  // Own members only: an operator named "constructor" must not find Object's.
  if (!Object.hasOwn(OPERATOR_WORDS, operator)) return null;
  const words = OPERATOR_WORDS[operator]!;
  if (typeof operand === 'string') return `${key} ${words} ${operand}`;
  if (Array.isArray(operand) && operand.every((value) => typeof value === 'string')) return `${key} ${words} ${operand.join(', ')}`;
  return null;
}

function decodeBase64Url(text: string): string | null {
  try {
    const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (character) => character.charCodeAt(0)));
  } catch {
    return null;
  }
}

/**
 * The view a token opens, read from its payload (`slt_<base64url JSON>.<signature>`), or null
 * when it cannot be read: the page then just says "access token". Display only, never trusted.
 */
export function readTokenView(token: string): TokenView | null {
  if (!isAccessToken(token)) return null;
  const payload = token.slice(ACCESS_TOKEN_PREFIX.length).split('.')[0] ?? '';
  const json = decodeBase64Url(payload);
  if (json === null) return null;
  let claims: unknown;
  try {
    claims = JSON.parse(json);
  } catch {
    return null;
  }
  if (typeof claims !== 'object' || claims === null) return null;
  const { ten, typ, whr, exp } = claims as Record<string, unknown>;
  if (typeof ten !== 'string' || typeof exp !== 'number' || !Array.isArray(whr)) return null;
  if (typ !== null && !(Array.isArray(typ) && typ.every((type) => typeof type === 'string'))) return null;
  const conditions = whr.map(describeCondition);
  if (conditions.some((condition) => condition === null)) return null;
  return { tenant: ten, types: typ as string[] | null, conditions: conditions as string[], expiresAt: exp };
}

/** Whose view a token opens, in words: "customer is acme" (its conditions), else its tenant's. */
export function describeTokenView(view: TokenView): string {
  const slice = view.conditions.length > 0 ? view.conditions.join(' and ') : `all of ${view.tenant}`;
  return view.types === null ? slice : `${slice} (${view.types.join(', ')})`;
}

/** "in 59 min", "in 40 s", "now": how long until a time, rounded down, for the header. */
export function timeUntil(time: number, now: number): string {
  const seconds = Math.floor((time - now) / 1000);
  if (seconds <= 0) return 'now';
  if (seconds < 60) return `in ${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `in ${minutes} min`;
  return `in ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// ---- storage -------------------------------------------------------------------------------
// Storage can be disabled (private windows, strict settings): the credential then lasts for the page.

function read(storage: () => Storage, name: string): string | null {
  try {
    return storage().getItem(name) || null;
  } catch {
    return null;
  }
}

function write(storage: () => Storage, name: string, value: string | null): void {
  try {
    if (value) storage().setItem(name, value);
    else storage().removeItem(name);
  } catch {
    // See above.
  }
}

/** This tab's token, else the key kept for every tab, else none. */
export function loadCredential(): string | null {
  return read(() => sessionStorage, TOKEN_STORAGE) ?? read(() => localStorage, API_KEY_STORAGE);
}

/** Keeps a pasted or linked credential: a token for this tab, a key for every tab; null forgets both. */
export function saveCredential(credential: string | null): void {
  if (credential && isAccessToken(credential)) {
    write(() => sessionStorage, TOKEN_STORAGE, credential);
    return;
  }
  write(() => sessionStorage, TOKEN_STORAGE, null);
  write(() => localStorage, API_KEY_STORAGE, credential);
}

/**
 * Access tokens: what one says, how it is written, signed and checked. Pure (no I/O, no clock:
 * callers pass `now`).
 *
 * A token is `slt_<payload>.<signature>`:
 * - `slt_` tells it apart at a glance from an API key (`sl_<id>_<secret>`) and from ADMIN_KEY
 *   (config.ts refuses an ADMIN_KEY that starts with it);
 * - `<payload>`: base64url of a JSON object with exactly the fields of TokenClaims;
 * - `<signature>`: base64url of HMAC-SHA256(secret of `kid`, `slt_<payload>`).
 *
 * HMAC-SHA256 because only Streamlens signs and only Streamlens verifies: a shared secret is
 * enough, a check costs microseconds, and a signature is 43 characters. Asymmetric signatures
 * (Ed25519, RS256) would matter only if third parties had to verify tokens without being able to
 * mint them. There is no `alg` field: the algorithm is fixed, so it cannot be argued with.
 *
 * Verification trusts nothing before it has to: the length is bounded first, then the exact
 * shape of the text, then the payload is decoded (canonical base64url only) and parsed as JSON of
 * exactly the expected fields, then the signature is compared in constant time, and only then is
 * the expiry looked at.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { conditionJson, type ConditionJson, type DimensionCondition } from '../domain/dimension-conditions.ts';
import { MAP_KEY_PATTERN, TYPE_PATTERN } from '../domain/event-rules.ts';
import type { ApiScope } from '../ports/api-key-store.ts';

export const TOKEN_PREFIX = 'slt_';
/** The payload's format version: a later format gets a new number, and this code refuses it. */
const TOKEN_VERSION = 1;
/**
 * The longest token accepted or minted. Browsers and proxies commonly cap a header line at
 * 8 KB; a token is sent in one, so a longer one would fail somewhere on the way anyway. It also
 * bounds the work an unauthenticated caller can make verification do.
 */
export const MAX_TOKEN_CHARACTERS = 8_192;
/** The longest a token may live: short-lived by design, refreshed by the partner's backend. */
export const MAX_TOKEN_LIFETIME_MS = 24 * 3_600_000;
/** HMAC-SHA256 gives 32 bytes: 43 characters of base64url without padding. */
const SIGNATURE_CHARACTERS = 43;
/** 128 random bits name a token: ids never collide, so each has its own rate-limit buckets. */
const TOKEN_ID_BYTES = 16;
const TOKEN_SHAPE = new RegExp(`^${TOKEN_PREFIX}([A-Za-z0-9_-]+)\\.([A-Za-z0-9_-]{${SIGNATURE_CHARACTERS}})$`);
/** A signing key id: short, printable, safe in a log line. */
export const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const TOKEN_ID_PATTERN = /^[A-Za-z0-9_-]{22}$/;
/** Key ids as api-keys.ts makes them, and tenants as TENANT_PATTERN allows them. */
const KEY_ID_PATTERN = /^[A-Za-z0-9]{16}$/;
const TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const TOKEN_SCOPES: readonly ApiScope[] = ['READ', 'INGEST'];

/** What a token says: who minted it, for which tenant, what it may do, until when. */
export interface TokenClaims {
  /** The token's own id (rate-limit buckets, log lines). */
  id: string;
  tenant: string;
  /** The API key that minted it: revoking that key revokes the token. */
  keyId: string;
  /** READ and/or INGEST, sorted. */
  scopes: ApiScope[];
  /** Minted at, expires at: milliseconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
  /** Allowed event types, sorted and unique; null: every type. */
  types: string[] | null;
  /** The slice's conditions (ANDed); empty: none. */
  where: DimensionCondition[];
  /** Its own limits; null: the minting key's. */
  queriesPerSecond: number | null;
  eventsPerSecond: number | null;
}

/** A secret that signs or verifies, named by its kid. */
export interface SigningKey {
  kid: string;
  secret: string;
}

/** The first key signs new tokens; every key verifies (rotation: add the new key first, then retire the old one). */
export interface SigningKeys {
  signing: SigningKey;
  verifying: ReadonlyMap<string, string>;
}

export function signingKeys(keys: readonly SigningKey[]): SigningKeys {
  if (keys.length === 0) throw new Error('at least one token signing key is needed');
  return { signing: keys[0]!, verifying: new Map(keys.map((key) => [key.kid, key.secret])) };
}

export type TokenVerification = { ok: true; claims: TokenClaims } | { ok: false; reason: 'malformed' | 'unknown' | 'expired' };

/** A new random token id. */
export function newTokenId(): string {
  return randomBytes(TOKEN_ID_BYTES).toString('base64url');
}

/** Whether a bearer credential is meant as an access token (rather than an API key or ADMIN_KEY). */
export function looksLikeAccessToken(credential: string): boolean {
  return credential.startsWith(TOKEN_PREFIX);
}

/** The payload as it is written: short field names keep the token small. Order is fixed. */
type WrittenCondition = ConditionJson;
interface WrittenClaims {
  v: number;
  kid: string;
  jti: string;
  ten: string;
  key: string;
  scp: string[];
  iat: number;
  exp: number;
  typ: string[] | null;
  whr: WrittenCondition[];
  qps: number | null;
  eps: number | null;
}
const WRITTEN_FIELDS = ['v', 'kid', 'jti', 'ten', 'key', 'scp', 'iat', 'exp', 'typ', 'whr', 'qps', 'eps'] as const;

/** A condition as the payload writes it: the same JSON as a cache key's (dimension-conditions.ts). */
const writeCondition = (condition: DimensionCondition): WrittenCondition => conditionJson(condition);

function sign(secret: string, signed: string): Buffer {
  return createHmac('sha256', secret).update(signed).digest();
}

/** The token text for these claims, signed with the signing key. */
export function encodeToken(claims: TokenClaims, keys: SigningKeys): string {
  const written: WrittenClaims = {
    v: TOKEN_VERSION,
    kid: keys.signing.kid,
    jti: claims.id,
    ten: claims.tenant,
    key: claims.keyId,
    scp: claims.scopes,
    iat: claims.issuedAt,
    exp: claims.expiresAt,
    typ: claims.types,
    whr: claims.where.map(writeCondition),
    qps: claims.queriesPerSecond,
    eps: claims.eventsPerSecond,
  };
  const signed = TOKEN_PREFIX + Buffer.from(JSON.stringify(written), 'utf8').toString('base64url');
  return `${signed}.${sign(keys.signing.secret, signed).toString('base64url')}`;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isLimit = (value: unknown): value is number | null =>
  value === null || (typeof value === 'number' && Number.isSafeInteger(value) && value > 0);
const isText = (value: unknown): value is string => typeof value === 'string' && value.isWellFormed();

/** Sorted, without repeats, every element passing `valid`. */
function isSortedUniqueList(value: unknown, valid: (element: unknown) => boolean): value is string[] {
  if (!Array.isArray(value)) return false;
  return value.every((element, i) => valid(element) && (i === 0 || (value[i - 1] as string) < (element as string)));
}

function readCondition(value: unknown): DimensionCondition | null {
  if (!Array.isArray(value) || value.length !== 3) return null;
  const [key, operator, operand] = value as unknown[];
  if (typeof key !== 'string' || !MAP_KEY_PATTERN.test(key)) return null;
  switch (operator) {
    case 'eq':
    case 'neq':
      return isText(operand) ? { key, operator, value: operand } : null;
    case 'in':
    case 'notIn':
      return isSortedUniqueList(operand, isText) ? { key, operator, values: new Set(operand) } : null;
    case 'exists':
      return typeof operand === 'boolean' ? { key, operator, exists: operand } : null;
    default:
      return null;
  }
}

/** The claims of a decoded payload, or null unless it holds exactly the expected fields, each well-formed. */
function readClaims(written: unknown): (TokenClaims & { kid: string }) | null {
  if (!isPlainObject(written)) return null;
  const fields = Object.keys(written);
  if (fields.length !== WRITTEN_FIELDS.length || !WRITTEN_FIELDS.every((field) => Object.hasOwn(written, field))) return null;
  const { v, kid, jti, ten, key, scp, iat, exp, typ, whr, qps, eps } = written as unknown as WrittenClaims;
  if (v !== TOKEN_VERSION) return null;
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) return null;
  if (typeof jti !== 'string' || !TOKEN_ID_PATTERN.test(jti)) return null;
  if (typeof ten !== 'string' || !TENANT_PATTERN.test(ten)) return null;
  if (typeof key !== 'string' || !KEY_ID_PATTERN.test(key)) return null;
  if (!isSortedUniqueList(scp, (scope) => TOKEN_SCOPES.includes(scope as ApiScope)) || scp.length === 0) return null;
  if (!isTime(iat) || !isTime(exp) || exp <= iat || exp - iat > MAX_TOKEN_LIFETIME_MS) return null;
  if (typ !== null && !isSortedUniqueList(typ, (type) => typeof type === 'string' && TYPE_PATTERN.test(type))) return null;
  if (!Array.isArray(whr)) return null;
  const where: DimensionCondition[] = [];
  for (const written of whr) {
    const condition = readCondition(written);
    if (!condition) return null;
    where.push(condition);
  }
  if (!isLimit(qps) || !isLimit(eps)) return null;
  return {
    kid,
    id: jti,
    tenant: ten,
    keyId: key,
    scopes: scp as ApiScope[],
    issuedAt: iat,
    expiresAt: exp,
    types: typ,
    where,
    queriesPerSecond: qps,
    eventsPerSecond: eps,
  };
}

/** The JSON of a base64url payload, or undefined unless it is canonical base64url of well-formed JSON. */
function decodePayload(encoded: string): unknown {
  const bytes = Buffer.from(encoded, 'base64url');
  // Node decodes leniently (it ignores stray bits and characters); only the one spelling we write is accepted.
  if (bytes.toString('base64url') !== encoded) return undefined;
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  try {
    return JSON.parse(text.decode(bytes));
  } catch {
    return undefined;
  }
}

/**
 * Checks a token: its shape, its signature by a known key, its expiry. `malformed`: not a token
 * of this format; `unknown`: well-formed but not signed by a current key (forged, tampered with,
 * or signed by a retired key); `expired`: genuine, but past its expiry.
 */
export function verifyToken(token: string, keys: SigningKeys, now: number): TokenVerification {
  if (token.length > MAX_TOKEN_CHARACTERS) return { ok: false, reason: 'malformed' };
  const match = TOKEN_SHAPE.exec(token);
  if (!match) return { ok: false, reason: 'malformed' };
  const [, payload, signature] = match as unknown as [string, string, string];
  const claims = readClaims(decodePayload(payload));
  if (!claims) return { ok: false, reason: 'malformed' };
  const secret = keys.verifying.get(claims.kid);
  if (secret === undefined) return { ok: false, reason: 'unknown' };
  const given = Buffer.from(signature, 'base64url');
  const expected = sign(secret, TOKEN_PREFIX + payload);
  if (given.toString('base64url') !== signature || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: 'unknown' };
  }
  if (claims.expiresAt <= now) return { ok: false, reason: 'expired' };
  const { kid: _kid, ...verified } = claims;
  return { ok: true, claims: verified };
}

/**
 * The token's `where` as AccessToken.where shows it: an object keyed by dimension key, each
 * holding its operators, `{ customer: { eq: "acme" }, plan: { neq: "free" } }`; null without
 * conditions. Lossless because minting refuses two conditions with the same key and operator.
 * Built with defineProperty-like semantics (Object.fromEntries), so a key named `constructor`
 * is a plain own property, never a prototype's member.
 */
export function whereAsJson(where: readonly DimensionCondition[]): Record<string, Record<string, unknown>> | null {
  if (where.length === 0) return null;
  const byKey = new Map<string, [string, unknown][]>();
  for (const condition of where) {
    const [, , operand] = writeCondition(condition);
    const operators = byKey.get(condition.key) ?? [];
    operators.push([condition.operator, operand]);
    byKey.set(condition.key, operators);
  }
  return Object.fromEntries([...byKey].map(([key, operators]) => [key, Object.fromEntries(operators)]));
}

/** Parses TOKEN_SIGNING_KEYS, "kid:secret,kid2:secret2": the keys, or the problems with the text. */
export const MIN_SECRET_CHARACTERS = 43;
export function parseSigningKeys(text: string): { ok: true; keys: SigningKey[] } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const keys: SigningKey[] = [];
  for (const [index, entry] of text.split(',').entries()) {
    const trimmed = entry.trim();
    const colon = trimmed.indexOf(':');
    const kid = colon < 0 ? '' : trimmed.slice(0, colon);
    const secret = colon < 0 ? '' : trimmed.slice(colon + 1);
    if (!KID_PATTERN.test(kid)) {
      problems.push(`entry ${index + 1} is not "kid:secret" with a kid of 1 to 32 characters of A-Z, a-z, 0-9, _ and -`);
    } else if (secret.length < MIN_SECRET_CHARACTERS || /\s/.test(secret)) {
      problems.push(
        `the secret of "${kid}" must be at least ${MIN_SECRET_CHARACTERS} characters without spaces (256 random bits); generate one with: openssl rand -base64 32`,
      );
    } else if (keys.some((key) => key.kid === kid)) {
      problems.push(`kid "${kid}" appears twice`);
    } else {
      keys.push({ kid, secret });
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, keys };
}

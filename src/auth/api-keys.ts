/**
 * API key format and hashing. A key is `sl_<id>_<secret>`: the id finds the record, the secret
 * proves possession. Secrets are 256 random bits, so a plain SHA-256 is enough to store them
 * (slow password hashes guard low-entropy secrets; these are not).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiScope } from '../ports/api-key-store.ts';

const KEY_PATTERN = /^sl_([A-Za-z0-9]{16})_([A-Za-z0-9_-]{43})$/;
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Tenants name storage keys, log keys and bus topics: a narrow alphabet keeps them unambiguous. */
export const TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export interface GeneratedKey {
  id: string;
  secret: string;
  /** What the client sends: shown once. */
  key: string;
}

export function generateKey(): GeneratedKey {
  const bytes = randomBytes(16);
  const id = [...bytes].map((b) => ID_ALPHABET[b % ID_ALPHABET.length]).join('');
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, key: `sl_${id}_${secret}` };
}

export function parseKey(key: string): { id: string; secret: string } | null {
  const match = KEY_PATTERN.exec(key);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Compares in constant time, so response timing reveals nothing about a stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const given = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}

/** Equal strings in constant time (for the bootstrap ADMIN_KEY, which has no id part). */
export function constantTimeEquals(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}

/** The bearer token of an `Authorization` header value, or null when it is not one. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

export const ALL_SCOPES: readonly ApiScope[] = ['INGEST', 'READ', 'ADMIN'];

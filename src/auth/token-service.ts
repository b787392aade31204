/**
 * Minting access tokens (createAccessToken): an API key mints a token for one of its tenant's end
 * users, with at most the key's rights. Every input is checked here; the token module
 * (access-tokens.ts) writes and signs what passed.
 */
import { parseDuration } from '../config.ts';
import type { DimensionCondition } from '../domain/dimension-conditions.ts';
import { badInput, forbidden } from '../errors.ts';
import type { ApiScope } from '../ports/api-key-store.ts';
import { validateTypeName, validateWhere, type DimensionConditionInput } from '../query/event-filter.ts';
import {
  encodeToken,
  MAX_TOKEN_CHARACTERS,
  MAX_TOKEN_LIFETIME_MS,
  newTokenId,
  whereAsJson,
  type SigningKeys,
  type TokenClaims,
} from './access-tokens.ts';
import type { Principal } from './authenticator.ts';

export interface AccessTokenInput {
  scopes: readonly ApiScope[];
  expiresIn: string;
  types?: readonly string[] | null;
  where?: readonly DimensionConditionInput[] | null;
  queriesPerSecond?: number | null;
  eventsPerSecond?: number | null;
}

/** What createAccessToken answers. */
export interface MintedAccessToken {
  token: string;
  expiresAt: Date;
  scopes: ApiScope[];
  types: string[] | null;
  where: Record<string, Record<string, unknown>> | null;
}

export interface AccessTokenService {
  mint(principal: Principal, input: AccessTokenInput): MintedAccessToken;
}

/** The minting key's own limits: a token's may only be lower. */
export interface KeyLimits {
  operationsPerSecond: number;
  ingestEventsPerSecond: number;
}

const TOKEN_SCOPES: readonly ApiScope[] = ['INGEST', 'READ'];

/** The lifetime `expiresIn` asks for, in milliseconds, or BAD_USER_INPUT saying what is wrong. */
export function parseExpiresIn(expiresIn: string): number {
  const shown = JSON.stringify(expiresIn.slice(0, 32).toWellFormed());
  const ms = parseDuration(expiresIn);
  if (ms === null) throw badInput(`input.expiresIn: ${shown} is not a duration such as 90s, 15m, 1h or 24h`);
  if (ms <= 0) throw badInput(`input.expiresIn: ${shown} must be longer than 0`);
  if (ms > MAX_TOKEN_LIFETIME_MS) throw badInput(`input.expiresIn: ${shown} is longer than 24h, the most a token may live`);
  return ms;
}

function checkScopes(principal: Principal, scopes: readonly ApiScope[]): ApiScope[] {
  if (scopes.length === 0) throw badInput('input.scopes: a token needs at least one scope, READ or INGEST');
  for (const scope of scopes) {
    if (!TOKEN_SCOPES.includes(scope)) throw badInput(`input.scopes: an access token may hold READ and INGEST only, not ${scope}`);
    if (!principal.scopes.has(scope)) throw forbidden(`this API key lacks the ${scope} scope, so its tokens cannot have it`, scope);
  }
  return [...new Set(scopes)].sort();
}

function checkTypes(types: readonly string[] | null | undefined): string[] | null {
  if (types == null) return null;
  if (types.length === 0) throw badInput('input.types: name at least one event type, or leave types out for every type');
  types.forEach((type, index) => validateTypeName(type, `input.types[${index}]`));
  return [...new Set(types)].sort();
}

/**
 * The slice's conditions. Two with the same key and operator are refused: AccessToken.where
 * shows conditions as an object keyed by dimension key, then operator, which could not hold both.
 */
function checkWhere(where: readonly DimensionConditionInput[] | null | undefined): DimensionCondition[] {
  const conditions = validateWhere(where, 'input.where') ?? [];
  const seen = new Set<string>();
  conditions.forEach((condition, index) => {
    const pair = JSON.stringify([condition.key, condition.operator]);
    if (seen.has(pair)) {
      throw badInput(
        `input.where[${index}] (key "${condition.key}"): a second ${condition.operator} condition on the same key; merge them into one (in: [...] lists several values)`,
      );
    }
    seen.add(pair);
  });
  return conditions;
}

function checkLimit(value: number | null | undefined, field: string, keyLimit: number, unit: string): number | null {
  if (value == null) return null;
  if (!Number.isSafeInteger(value) || value < 1) throw badInput(`input.${field} must be a whole number of at least 1`);
  if (value > keyLimit) {
    throw badInput(`input.${field} is ${value}, above the minting key's limit of ${keyLimit} ${unit} per second`);
  }
  return value;
}

export function createAccessTokenService(options: {
  signingKeys: SigningKeys;
  keyLimits: KeyLimits;
  now?: () => number;
}): AccessTokenService {
  const now = options.now ?? Date.now;
  return {
    mint(principal, input) {
      // Only an API key mints: a token cannot mint another (it could outlive itself), and the
      // bootstrap admin and open mode have no key whose revocation would end the token.
      if (principal.token) throw forbidden('an access token cannot mint access tokens; mint them with an API key');
      if (principal.keyId === null || principal.tenant === null) {
        throw forbidden("only a tenant's API key mints access tokens (not the bootstrap admin key, nor open mode)");
      }
      const scopes = checkScopes(principal, input.scopes);
      const lifetimeMs = parseExpiresIn(input.expiresIn);
      const types = checkTypes(input.types);
      const where = checkWhere(input.where);
      const queriesPerSecond = checkLimit(input.queriesPerSecond, 'queriesPerSecond', options.keyLimits.operationsPerSecond, 'operations');
      const eventsPerSecond = checkLimit(input.eventsPerSecond, 'eventsPerSecond', options.keyLimits.ingestEventsPerSecond, 'events');
      const issuedAt = now();
      const claims: TokenClaims = {
        id: newTokenId(),
        tenant: principal.tenant,
        keyId: principal.keyId,
        scopes,
        issuedAt,
        expiresAt: issuedAt + lifetimeMs,
        types,
        where,
        queriesPerSecond,
        eventsPerSecond,
      };
      const token = encodeToken(claims, options.signingKeys);
      if (token.length > MAX_TOKEN_CHARACTERS) {
        throw badInput(
          `the token would be ${token.length} characters, above the ${MAX_TOKEN_CHARACTERS} a header can safely carry; name fewer types or condition values`,
        );
      }
      return { token, expiresAt: new Date(claims.expiresAt), scopes, types, where: whereAsJson(where) };
    },
  };
}

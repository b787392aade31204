/** Access tokens for end users: AccessTokenInput, AccessToken and createAccessToken (contract-2.md). */
import type { MintedAccessToken } from '../auth/token-service.ts';
import { requirePrincipal } from '../resolvers/context.ts';
import { ApiScope } from './api-keys.ts';
import { builder } from './builder.ts';
import { DimensionCondition } from './dimension-condition.ts';

const AccessTokenInput = builder.inputType('AccessTokenInput', {
  description: "What a token may do: never more than the API key that mints it. The key's ADMIN scope cannot be passed on.",
  fields: (t) => ({
    scopes: t.field({ type: [ApiScope], required: true, description: 'READ and/or INGEST, each one the minting key has.' }),
    expiresIn: t.string({ required: true, description: 'How long the token lives: a duration such as 90s, 15m or 1h; at most 24h.' }),
    types: t.stringList({ description: 'The event types the token sees; null: every type.' }),
    where: t.field({
      type: [DimensionCondition],
      description:
        "The slice of the tenant's data the token sees: conditions every event meets (ANDed). At most one condition per key and operator.",
    }),
    queriesPerSecond: t.int({ description: "Operations the token may start per second; at most, and by default, the minting key's." }),
    eventsPerSecond: t.int({ description: "Events the token may ingest per second; at most, and by default, the minting key's." }),
  }),
});

const AccessToken = builder.objectRef<MintedAccessToken>('AccessToken').implement({
  description: 'A signed, short-lived token for an end user (a browser, a mobile app): send it as Authorization: Bearer <token>.',
  fields: (t) => ({
    token: t.exposeString('token'),
    expiresAt: t.field({ type: 'DateTime', resolve: (minted) => minted.expiresAt }),
    scopes: t.field({ type: [ApiScope], resolve: (minted) => minted.scopes }),
    types: t.stringList({ nullable: true, resolve: (minted) => minted.types }),
    where: t.field({
      type: 'JSONObject',
      nullable: true,
      description: 'The slice\'s conditions keyed by dimension key, then operator: { customer: { eq: "acme" } }; null without conditions.',
      resolve: (minted) => minted.where,
    }),
  }),
});

builder.mutationField('createAccessToken', (t) =>
  t.field({
    type: AccessToken,
    description: "Needs an API key (not a token): mints a token with at most the key's rights. Revoking the key revokes its tokens.",
    args: { input: t.arg({ type: AccessTokenInput, required: true }) },
    resolve: (_root, args, context) => context.services.tokens.mint(requirePrincipal(context), args.input),
  }),
);

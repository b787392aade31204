/** API keys: ApiScope, ApiKey, createApiKey, revokeApiKey and apiKeys. */
import { API_SCOPES, type ApiKeyRecord } from '../ports/api-key-store.ts';
import { requirePrincipal } from '../resolvers/context.ts';
import { builder } from './builder.ts';

export const ApiScope = builder.enumType('ApiScope', {
  values: API_SCOPES,
  description: 'INGEST: the ingest mutation. READ: queries and subscriptions. ADMIN: managing API keys.',
});

const ApiKey = builder.objectRef<ApiKeyRecord>('ApiKey').implement({
  description: 'An API key, without its secret.',
  fields: (t) => ({
    id: t.exposeID('id'),
    tenant: t.exposeString('tenant'),
    name: t.exposeString('name', { nullable: true }),
    scopes: t.field({ type: [ApiScope], resolve: (key) => key.scopes }),
    createdAt: t.field({ type: 'DateTime', resolve: (key) => key.createdAt }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (key) => key.revokedAt }),
  }),
});

const CreatedApiKey = builder.objectRef<{ key: string; apiKey: ApiKeyRecord }>('CreatedApiKey').implement({
  fields: (t) => ({
    key: t.exposeString('key', { description: 'The secret key, shown only here: send it as Authorization: Bearer <key>.' }),
    apiKey: t.field({ type: ApiKey, resolve: (created) => created.apiKey }),
  }),
});

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: CreatedApiKey,
    description: "Needs ADMIN: the bootstrap admin key for any tenant, a tenant's ADMIN key for its own.",
    args: {
      tenant: t.arg.string({ required: true }),
      scopes: t.arg({ type: [ApiScope], required: true }),
      name: t.arg.string(),
    },
    resolve: (_root, args, context) => context.services.keys.create(requirePrincipal(context), args.tenant, args.scopes, args.name ?? null),
  }),
);

builder.mutationField('revokeApiKey', (t) =>
  t.field({
    type: ApiKey,
    description: 'Needs ADMIN. Takes effect at once, open subscriptions included.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, context) => context.services.keys.revoke(requirePrincipal(context), String(args.id)),
  }),
);

builder.queryField('apiKeys', (t) =>
  t.field({
    type: [ApiKey],
    description: "Needs ADMIN: every key for the bootstrap admin, a tenant's own keys for its ADMIN keys.",
    resolve: (_root, _args, context) => context.services.keys.list(requirePrincipal(context)),
  }),
);

/**
 * Production exposure: an allow-list of persisted operations, and introspection switched off.
 *
 * With PERSISTED_OPERATIONS_FILE set, clients send `{ "documentId": "<id>", "variables": … }`
 * (or the Apollo-style `extensions.persistedQuery.sha256Hash`) and only the listed operations
 * run, on every transport (HTTP GET and POST, SSE, graphql-ws); arbitrary query text is refused.
 * The file is a JSON object of id → document, which is what GraphQL Code Generator's client
 * preset writes as persisted-documents.json.
 */
import { readFileSync } from 'node:fs';
import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import { codedGraphQLError, withoutSuggestions } from './errors.ts';
import type { Plugin } from 'graphql-yoga';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';

export type PersistedOperations = ReadonlyMap<string, string>;

export function loadPersistedOperations(path: string): PersistedOperations {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`PERSISTED_OPERATIONS_FILE ${path} is not readable JSON: ${(error as Error).message}`);
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    !Object.values(parsed).every((v) => typeof v === 'string')
  ) {
    throw new Error(`PERSISTED_OPERATIONS_FILE ${path} must be a JSON object of operation id to GraphQL document`);
  }
  return new Map(Object.entries(parsed as Record<string, string>));
}

/** Both the GraphQL-over-HTTP `documentId` and Apollo's persisted query hash name an operation. */
function persistedOperationIdOf(params: { documentId?: unknown; extensions?: Record<string, unknown> | null }): string | null {
  if (typeof params.documentId === 'string') return params.documentId;
  const hash = (params.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined)?.sha256Hash;
  return typeof hash === 'string' ? hash : null;
}

/** HTTP, GET and POST, and SSE: yoga's plugin, on the request's parameters. */
export function useAllowList(operations: PersistedOperations): Plugin {
  return usePersistedOperations({
    getPersistedOperation: (id) => operations.get(id) ?? null,
    allowArbitraryOperations: false,
    extractPersistedOperationId: (params) => persistedOperationIdOf(params as Parameters<typeof persistedOperationIdOf>[0]),
  });
}

/**
 * graphql-ws: the listed document a subscribe message names, or the error yoga's plugin gives
 * over HTTP (same message and code). The protocol requires `query` to be a string: a client
 * sends `""` with `documentId` (or `extensions.persistedQuery`).
 */
export function resolvePersistedOperation(
  operations: PersistedOperations,
  payload: { query?: unknown; documentId?: unknown; extensions?: Record<string, unknown> | null },
): string | GraphQLError {
  if (payload.query) return codedGraphQLError('CANNOT_SEND_PQ_ID_AND_BODY', 'PersistedQueryOnly');
  const id = persistedOperationIdOf(payload);
  if (id === null) return codedGraphQLError('PERSISTED_QUERY_ID_REQUIRED', 'PersistedQueryKeyNotFound');
  return operations.get(id) ?? codedGraphQLError('PERSISTED_QUERY_NOT_IN_LIST', 'PersistedQueryNotFound');
}

/**
 * graphql-js's own rule: __schema and __type are refused at validation; and no validation error
 * suggests names. Runs in yoga's envelop pipeline, so it holds over HTTP, SSE and graphql-ws
 * (the suggestions of variable errors, found while executing, are removed by the error masker).
 */
export function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error) => (error instanceof GraphQLError ? withoutSuggestions(error) : error)));
      };
    },
  };
}

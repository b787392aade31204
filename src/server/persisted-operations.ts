/**
 * Production exposure: an allow-list of persisted operations, and introspection switched off.
 *
 * With PERSISTED_OPERATIONS_FILE set, clients send `{ "documentId": "<id>", "variables": … }`
 * (or the Apollo-style `extensions.persistedQuery.sha256Hash`) and only the listed operations
 * run; arbitrary query text is refused. The file is a JSON object of id → document, which is
 * what GraphQL Code Generator's client preset writes as persisted-documents.json.
 */
import { readFileSync } from 'node:fs';
import { NoSchemaIntrospectionCustomRule } from 'graphql';
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
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string')) {
    throw new Error(`PERSISTED_OPERATIONS_FILE ${path} must be a JSON object of operation id to GraphQL document`);
  }
  return new Map(Object.entries(parsed as Record<string, string>));
}

export function useAllowList(operations: PersistedOperations): Plugin {
  return usePersistedOperations({
    getPersistedOperation: (id) => operations.get(id) ?? null,
    allowArbitraryOperations: false,
    // Both the GraphQL-over-HTTP `documentId` and Apollo's persisted query hash name an operation.
    extractPersistedOperationId: (params) => {
      const fromBody = (params as { documentId?: unknown }).documentId;
      if (typeof fromBody === 'string') return fromBody;
      const hash = (params.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined)?.sha256Hash;
      return typeof hash === 'string' ? hash : null;
    },
  });
}

/** graphql-js's own rule: __schema and __type are refused at validation. */
export function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

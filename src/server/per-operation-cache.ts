import { getOperationAST, type DocumentNode, type OperationDefinitionNode } from 'graphql';

/**
 * What `decide` says of an operation, worked out once per parsed document and operation name:
 * Yoga's parse cache hands out the same document for the same text, so a request that repeats a
 * document (every `ingest` of a client) costs one lookup. null when the document has no such
 * operation.
 */
export function perOperation<T>(
  decide: (operation: OperationDefinitionNode, document: DocumentNode) => T | null,
): (document: DocumentNode, operationName: string | null | undefined) => T | null {
  const byDocument = new WeakMap<DocumentNode, Map<string, T | null>>();
  return (document, operationName) => {
    let byOperation = byDocument.get(document);
    if (!byOperation) byDocument.set(document, (byOperation = new Map()));
    const key = operationName ?? '';
    let decided = byOperation.get(key);
    if (decided === undefined) {
      const operation = getOperationAST(document, operationName);
      decided = operation ? decide(operation, document) : null;
      byOperation.set(key, decided);
    }
    return decided;
  };
}

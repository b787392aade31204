/**
 * An envelop plugin (yoga runs it for HTTP, SSE and graphql-ws alike) that times GraphQL
 * operations and counts the subscriptions being served.
 *
 * Operation names come from clients, so they are an unbounded label unless capped: the first
 * MAX_OPERATION_NAMES distinct names keep their own series, later ones share "other". Only a
 * caller with a valid key (everyone, in open mode) may claim one of those slots: operations
 * without one share the label "unauthenticated", so junk names sent without a key cannot use up
 * the slots before the real clients' names. The dashboard and the tests send a handful of fixed
 * names.
 */
import { getOperationAST, Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { StreamlensMetrics } from './metrics.ts';

/** What the plugin needs of the GraphQL context: whether the caller has a valid key. */
interface MaybeAuthenticated {
  auth?: { ok: boolean };
}

const MAX_OPERATION_NAMES = 50;
const MAX_OPERATION_NAME_LENGTH = 64;

function operationOf(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | null {
  return getOperationAST(document, operationName ?? undefined) ?? null;
}

/** The name of a subscription's single root field (validation guarantees there is one). */
function subscriptionKind(operation: OperationDefinitionNode | null): string {
  const root = operation?.selectionSet.selections[0];
  return root?.kind === Kind.FIELD ? root.name.value : 'unknown';
}

export function useGraphQLMetrics(metrics: Pick<StreamlensMetrics, 'graphqlOperationDuration' | 'activeSubscriptions'>): Plugin {
  const knownNames = new Set<string>();
  const nameLabel = (operation: OperationDefinitionNode | null, authenticated: boolean): string => {
    if (!authenticated) return 'unauthenticated';
    const name = operation?.name?.value;
    if (!name) return 'anonymous';
    if (knownNames.has(name)) return name;
    if (knownNames.size >= MAX_OPERATION_NAMES || name.length > MAX_OPERATION_NAME_LENGTH) return 'other';
    knownNames.add(name);
    return name;
  };
  const observe = (operation: OperationDefinitionNode | null, context: MaybeAuthenticated, started: number) =>
    metrics.graphqlOperationDuration.observe(
      { operation_type: operation?.operation ?? 'unknown', operation_name: nameLabel(operation, context.auth?.ok === true) },
      (performance.now() - started) / 1000,
    );

  return {
    onExecute({ args }) {
      const started = performance.now();
      const operation = operationOf(args.document, args.operationName);
      return {
        onExecuteDone() {
          observe(operation, args.contextValue as MaybeAuthenticated, started);
        },
      };
    },
    onSubscribe({ args }) {
      const started = performance.now();
      const operation = operationOf(args.document, args.operationName);
      return {
        onSubscribeResult({ result, setResult }) {
          observe(operation, args.contextValue as MaybeAuthenticated, started);
          // A subscription that failed to start answers a plain result: nothing to count.
          if (!(Symbol.asyncIterator in result)) return;
          const kind = subscriptionKind(operation);
          metrics.activeSubscriptions.inc({ kind });
          setResult(untilEnded(result, () => metrics.activeSubscriptions.dec({ kind })));
        },
        onSubscribeError() {
          observe(operation, args.contextValue as MaybeAuthenticated, started);
        },
      };
    },
  };
}

/**
 * The same stream, calling `onEnded` exactly once however it ends: completed, returned by the
 * client going away, or failed (envelop's own onEnd misses a failing next(), and the gauge
 * would then count a dead subscription forever).
 */
function untilEnded<T>(source: AsyncIterable<T>, onEnded: () => void): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnded();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      try {
        const result = await iterator.next();
        if (result.done) end();
        return result;
      } catch (error) {
        end();
        throw error;
      }
    },
    async return(value?: unknown) {
      end();
      return (await iterator.return?.(value)) ?? { done: true, value: undefined };
    },
    async throw(error?: unknown) {
      end();
      if (iterator.throw) return iterator.throw(error);
      throw error;
    },
  };
}

/**
 * The per-key operation rate: every query and subscription a caller starts takes one token.
 * Mutations are left to their own limits (ingest counts events). Runs inside yoga's envelop
 * pipeline, so graphql-ws operations count too.
 */
import { getOperationAST, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from '../resolvers/context.ts';

async function refusal(context: GraphQLContext, document: Parameters<typeof getOperationAST>[0], operationName?: string | null) {
  const operation = getOperationAST(document, operationName ?? undefined)?.operation;
  if (operation === 'mutation' || !context.auth?.ok) return null;
  try {
    await context.services.limits.takeOperation(context.auth.principal);
    return null;
  } catch (error) {
    if (error instanceof GraphQLError) return { errors: [error] };
    throw error;
  }
}

export function useOperationRateLimit(): Plugin<GraphQLContext> {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const refused = await refusal(args.contextValue, args.document, args.operationName);
      if (refused) setResultAndStopExecution(refused);
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const refused = await refusal(args.contextValue, args.document, args.operationName);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}

/**
 * What every operation pays before it runs (queries, mutations and subscriptions alike). Runs
 * inside yoga's envelop pipeline, so graphql-ws and SSE operations count too:
 *
 * 1. a caller without a valid key (missing, malformed, unknown, revoked: a key guesser too)
 *    takes one token from its remote address's bucket, so failures cannot be sent without bound
 *    and a guesser gets RATE_LIMITED, which says nothing about its guess;
 * 2. the request's ingest fields together hold at most INGEST_MAX_BATCH_EVENTS events, checked
 *    before any token is taken, so an oversized request costs nothing and stores nothing;
 * 3. an authenticated caller takes one operation from its key's and its tenant's buckets, except
 *    for a mutation made only of `ingest` fields by a key that may ingest: that is paid for in
 *    events, by the ingest resolver.
 */
import { getOperationAST, getVariableValues, type DocumentNode, type GraphQLError, type GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from '../resolvers/context.ts';
import { checkRequestBatch, onlyIngests } from './request-batch-limit.ts';
import { asGraphQLError } from './errors.ts';
import { StreamlensError } from '../errors.ts';

async function refusal(
  schema: GraphQLSchema,
  context: GraphQLContext,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Readonly<Record<string, unknown>> | null | undefined,
): Promise<{ errors: GraphQLError[] } | null> {
  const operation = getOperationAST(document, operationName ?? undefined);
  // No such operation: graphql-js answers that itself, and nothing runs.
  if (!operation) return null;
  const limits = context.services.limits;
  try {
    if (!context.auth.ok) await limits.takeUnauthenticated(context.remoteAddress);
    const oversized = checkRequestBatch(document, operation, variables ?? {}, limits.config.maxBatchEvents);
    // Variables that do not coerce to their types are the clearer error (graphql-js reports
    // them when execution starts, before any resolver runs): checked only for oversized requests.
    // One error is enough to know (without a cap, 300,000 bad items would build 300,000 errors).
    if (oversized && !('errors' in getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}, { maxErrors: 1 }))) {
      return { errors: [oversized] };
    }
    if (!context.auth.ok) return null;
    const principal = context.auth.principal;
    const paidInEvents = principal.tenant !== null && principal.scopes.has('INGEST') && onlyIngests(document, operation);
    if (!paidInEvents) await limits.takeOperation(principal);
    return null;
  } catch (error) {
    // A refusal is the operation's answer; anything else (the rate-limit store down) fails the
    // request as any thrown error does.
    if (error instanceof StreamlensError && error.code === 'RATE_LIMITED') return { errors: [asGraphQLError(error)] };
    throw error;
  }
}

export function useOperationRateLimit(): Plugin<GraphQLContext> {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const refused = await refusal(args.schema, args.contextValue, args.document, args.operationName, args.variableValues);
      if (refused) setResultAndStopExecution(refused);
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const refused = await refusal(args.schema, args.contextValue, args.document, args.operationName, args.variableValues);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}

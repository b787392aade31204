/**
 * The `quarantine` query explains why each event was not counted, and only for events that were
 * quarantined: an event that reaches it without a reason is a fault of the store (the port lists
 * quarantined events only), reported as an internal error, never given a made-up reason.
 * Executed on the schema, with a query service that returns the given page.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { ExecutionResult } from 'graphql';
import { schema } from '../../src/schema/index.ts';
import { createErrorMasker } from '../../src/server/errors.ts';
import { StreamlensError } from '../../src/errors.ts';
import type { StoredEvent } from '../../src/domain/event.ts';
import type { GraphQLContext } from '../../src/resolvers/context.ts';

/**
 * graphql as Pothos loads it, its CommonJS build: vitest would give this file the ES module build,
 * a second copy that graphql refuses to execute the schema with.
 */
const { graphql } = createRequire(import.meta.url)('graphql') as typeof import('graphql');

const T0 = Date.UTC(2026, 10, 27, 12);

function stored(id: string, quarantine: StoredEvent['quarantine']): StoredEvent {
  return {
    tenant: 'acme',
    id,
    type: 'click',
    timestamp: T0,
    receivedAt: T0,
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: {},
    properties: null,
    position: { partition: 0, offset: 1 },
    quarantine,
  };
}

/** The answer to `quarantine` when the query service lists these events. */
function quarantineAnswer(events: StoredEvent[]): Promise<ExecutionResult> {
  const page = { edges: events.map((node) => ({ cursor: node.id, node })), pageInfo: { hasNextPage: false, endCursor: null } };
  const contextValue = {
    services: { queries: { quarantine: async () => page } },
    auth: { ok: true, principal: { tenant: 'acme', keyId: 'key1', scopes: new Set(['READ']), isRootAdmin: false } },
  } as unknown as GraphQLContext;
  return graphql({ schema, source: '{ quarantine { edges { node { id reason } } } }', contextValue }) as Promise<ExecutionResult>;
}

describe('quarantine reasons', () => {
  it('explains each reason of a quarantined event', async () => {
    const answer = await quarantineAnswer([stored('late', 'TOO_LATE'), stored('ahead', 'FUTURE')]);
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toEqual({
      quarantine: {
        edges: [
          { node: { id: 'late', reason: 'TOO_LATE: later than the watermark minus the allowed lateness: its buckets are final' } },
          { node: { id: 'ahead', reason: 'FUTURE: further ahead of its receive time than the future tolerance' } },
        ],
      },
    });
  });

  it('gives no reason to an event that is not quarantined: the answer is an internal error, masked and logged', async () => {
    const answer = await quarantineAnswer([stored('counted', null)]);
    expect(answer.data).toBeNull();
    expect(answer.errors?.map((error) => error.path)).toEqual([['quarantine', 'edges', 0, 'node', 'reason']]);
    // A plain Error, not an expected one: a bug or a broken store, for the server's log.
    const cause = answer.errors![0]!.originalError;
    expect(cause).toBeInstanceOf(Error);
    expect(cause).not.toBeInstanceOf(StreamlensError);
    expect(cause?.message).toBe('event counted of tenant acme is listed in the quarantine without a reason');

    const logged: string[] = [];
    const shown = createErrorMasker({ error: (_object, message) => void logged.push(message) })(answer.errors![0], 'Unexpected error.');
    expect(shown).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(logged).toEqual(['unexpected error while executing an operation']);
  });
});

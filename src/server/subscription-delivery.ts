/**
 * How subscription events reach subscribers: each event is executed and serialised once for
 * every subscriber of the same operation, and over graphql-ws written straight to the socket.
 *
 * Why: identical series subscriptions share one feed (live/live-series.ts), so N
 * dashboards watching one series receive the very same update object. Left to graphql-js and
 * graphql-ws, that update would be executed against the selection set, wrapped by a chain of
 * async iterators and serialised once per subscriber: with thousands of subscribers, that
 * per-subscriber work, not the update, was the cost (benchmark P5, see bench/analysis.md).
 *
 * What stays per subscriber: its resolver (limits, its bounded queue with conflation, key
 * revocation), and its back-pressure: a socket that does not take its frames stops this
 * subscriber's reading, so its own queue conflates and, past its limit, fails with
 * SUBSCRIBER_TOO_SLOW, exactly as before.
 *
 * A result carrying errors is never shared as text: it takes the ordinary path, through
 * envelop's per-result hooks (error masking) and graphql-ws's own `next`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  GraphQLError,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { WebSocket } from 'ws';
import { forOneSubscriptionEvent, type GraphQLContext } from '../resolvers/context.ts';
import { sliceKey, WHOLE_TENANT } from '../auth/data-slice.ts';

/** Writes a subscription's `next` frames without graphql-ws's per-message work. */
export interface DirectDelivery {
  /** False once the connection is closing: then results take the ordinary path (and go nowhere). */
  isOpen(): boolean;
  /** Sends one `next` message whose payload is the given serialised ExecutionResult. */
  send(payloadJson: string): void;
  /** True when the socket holds more unsent bytes than it should: stop reading until `whenRoom`. */
  congested(): boolean;
  whenRoom(): Promise<void>;
}

/** Unsent bytes above which a subscriber stops taking updates (its queue then conflates or fails). */
export const HIGH_WATER_BYTES = 64 * 1024;
/** ...and below which it takes them again. */
export const LOW_WATER_BYTES = 16 * 1024;
/** How often a congested socket is looked at: ws offers no per-socket 'drain' event. */
export const CONGESTION_POLL_MS = 5;

/**
 * The `next` frames of subscription `id` on a graphql-ws socket (protocol graphql-transport-ws).
 * graphql-ws itself still sends everything else (ack, errors, complete), through the same socket,
 * so frames stay in order.
 */
export function webSocketDelivery(socket: WebSocket, id: string): DirectDelivery {
  const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  const isOpen = () => socket.readyState === WebSocket.OPEN;
  return {
    isOpen,
    send(payloadJson) {
      socket.send(`${prefix}${payloadJson}}`);
    },
    congested: () => socket.bufferedAmount > HIGH_WATER_BYTES,
    async whenRoom() {
      while (isOpen() && socket.bufferedAmount > LOW_WATER_BYTES) await delay(CONGESTION_POLL_MS);
    },
  };
}

/** The context a transport registered a direct delivery for (graphql-ws does, per subscription). */
const directDeliveries = new WeakMap<object, DirectDelivery>();

export function deliverDirectly(contextValue: object, delivery: DirectDelivery): void {
  directDeliveries.set(contextValue, delivery);
}

export interface SharedResult {
  result: ExecutionResult;
  /** The serialised result, or null when it has errors (those take the ordinary path). */
  json: string | null;
}

export type MaybePromise<T> = T | Promise<T>;

/**
 * One operation (document, variables, caller) as every subscriber of it shares it: the lean path
 * keeps this per operation, not per subscriber (lean-subscriptions.ts).
 */
export interface SharedOperation {
  /** The result of one event for every subscriber of the operation, executed and serialised once. */
  resultOf(event: unknown): MaybePromise<SharedResult>;
  /** A failure of the subscription's source, shaped as graphql-js shapes it, so masking treats it the same. */
  sourceError(error: unknown): GraphQLError;
  /** The subscriber that acquired it has ended: the last one to leave forgets the operation. */
  release(): void;
}

/**
 * A subscriber the transport drives itself instead of reading a stream of results: its
 * subscription's source starts here, and the subscribe call answers LEAN_STARTED.
 */
export interface LeanSubscriber {
  start(source: AsyncIterator<unknown>, operation: SharedOperation): void;
}

/** What subscribe answers once a lean subscriber has started: not a stream, so envelop wraps nothing around it. */
export const LEAN_STARTED: ExecutionResult = Object.freeze({});

const leanSubscribers = new WeakMap<object, LeanSubscriber>();

/** The operation with this context, once its subscription starts, is read by `subscriber` (graphql-ws's lean path). */
export function subscribeLeanly(contextValue: object, subscriber: LeanSubscriber): void {
  leanSubscribers.set(contextValue, subscriber);
}

/**
 * The yoga plugin: subscriptions execute each event through a cache shared by every subscriber
 * of the same operation, and deliver directly where the transport allows it.
 */
export function useSharedSubscriptionResults(): Plugin {
  /** Per event object: its result for each operation key. An event lives as long as some queue holds it. */
  const resultsByEvent = new WeakMap<object, Map<string, MaybePromise<SharedResult>>>();
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 0;
  /** The operations lean subscribers read, by operation key, with how many read each. */
  const sharedOperations = new Map<string, { operation: SharedOperation; users: number }>();

  /**
   * Which subscribers get identical results for an identical event: the same parsed document
   * (yoga caches parsing, so the same text is the same object), operation, variables and key.
   */
  function operationKeyOf(args: ExecutionArgs): string {
    let documentId = documentIds.get(args.document);
    if (documentId === undefined) documentIds.set(args.document, (documentId = nextDocumentId++));
    const auth = (args.contextValue as GraphQLContext).auth;
    // An access token shares its minting key's id: its slice tells its results apart (an event's
    // typeInfo counts the slice's events only).
    const principal = auth.ok ? [auth.principal.tenant, auth.principal.keyId, sliceKey(auth.principal.token?.slice ?? WHOLE_TENANT)] : null;
    return JSON.stringify([documentId, args.operationName ?? null, args.variableValues ?? null, principal]);
  }

  function shareable(result: ExecutionResult): SharedResult {
    return { result, json: result.errors ? null : JSON.stringify(result) };
  }

  function resultOf(args: ExecutionArgs, operationKey: string, event: unknown): MaybePromise<SharedResult> {
    const executeEvent = (): MaybePromise<SharedResult> => {
      // Fresh loaders for each event: the subscription's own would keep what they read first.
      const executed = execute({ ...args, rootValue: event, contextValue: forOneSubscriptionEvent(args.contextValue as GraphQLContext) });
      return executed instanceof Promise ? executed.then(shareable) : shareable(executed);
    };
    if (typeof event !== 'object' || event === null) return executeEvent();
    let byOperation = resultsByEvent.get(event);
    if (!byOperation) resultsByEvent.set(event, (byOperation = new Map()));
    let shared = byOperation.get(operationKey);
    if (!shared) byOperation.set(operationKey, (shared = executeEvent()));
    return shared;
  }

  function sourceErrorOf(args: ExecutionArgs): (error: unknown) => GraphQLError {
    const operation = getOperationAST(args.document, args.operationName);
    // The same shape graphql-js gives a failing source, so error masking treats it the same.
    return (error) =>
      new GraphQLError((error as Error).message, { originalError: error as Error, ...(operation ? { nodes: [operation] } : {}) });
  }

  /**
   * The operation of `args`, shared with every lean subscriber of the same key: the first one's
   * arguments (and context: same caller, see operationKeyOf) execute every event for all of them.
   */
  function acquireOperation(args: ExecutionArgs, operationKey: string): SharedOperation {
    const known = sharedOperations.get(operationKey);
    if (known) {
      known.users += 1;
      return known.operation;
    }
    const entry = {
      users: 1,
      operation: {
        resultOf: (event: unknown) => resultOf(args, operationKey, event),
        sourceError: sourceErrorOf(args),
        release() {
          entry.users -= 1;
          if (entry.users === 0 && sharedOperations.get(operationKey) === entry) sharedOperations.delete(operationKey);
        },
      },
    };
    sharedOperations.set(operationKey, entry);
    return entry.operation;
  }

  async function subscribe(args: ExecutionArgs) {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source;
    const operationKey = operationKeyOf(args);
    const lean = leanSubscribers.get(args.contextValue as object);
    if (lean) {
      leanSubscribers.delete(args.contextValue as object);
      lean.start(source[Symbol.asyncIterator](), acquireOperation(args, operationKey));
      return LEAN_STARTED;
    }
    return deliveryStream(
      source[Symbol.asyncIterator](),
      (event) => resultOf(args, operationKey, event),
      directDeliveries.get(args.contextValue as object) ?? null,
      sourceErrorOf(args),
    );
  }

  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(subscribe as Parameters<typeof setSubscribeFn>[0]);
    },
  };
}

/**
 * The subscriber's stream of results. With a direct delivery, results without errors are
 * written to the socket here and never yielded: the consumer's `next()` stays pending until a
 * result must take the ordinary path, or the stream ends.
 */
export function deliveryStream(
  source: AsyncIterator<unknown>,
  resultOf: (event: unknown) => MaybePromise<SharedResult>,
  direct: DirectDelivery | null,
  wrapSourceError: (error: unknown) => Error,
): AsyncGenerator<ExecutionResult, undefined> {
  let finished = false;
  const stream: AsyncGenerator<ExecutionResult, undefined> = {
    async next() {
      // Once the source has failed or ended, so has this stream: a consumer that asks again
      // (yoga's SSE answers a thrown error with a result, then pulls the next) gets the end.
      if (finished) return { value: undefined, done: true };
      for (;;) {
        let step: IteratorResult<unknown>;
        try {
          step = await source.next();
        } catch (error) {
          finished = true;
          throw wrapSourceError(error);
        }
        if (step.done || finished) return { value: undefined, done: true };
        const pending = resultOf(step.value);
        const shared = pending instanceof Promise ? await pending : pending;
        if (direct && shared.json !== null && !finished && direct.isOpen()) {
          direct.send(shared.json);
          if (direct.congested()) await direct.whenRoom();
          continue;
        }
        return { value: shared.result, done: false };
      }
    },
    async return() {
      finished = true;
      await source.return?.();
      return { value: undefined, done: true };
    },
    async throw(error) {
      finished = true;
      await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
    async [Symbol.asyncDispose]() {
      await stream.return(undefined);
    },
  };
  return stream;
}

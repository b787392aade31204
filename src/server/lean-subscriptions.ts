/**
 * The lean path of graphql-ws subscriptions: what one subscriber keeps for as long as it lives.
 *
 * Why: left to graphql-ws and envelop, every subscriber kept graphql-ws's message handler
 * suspended on its stream (with the message, its arguments and emitters), envelop's context and
 * a chain of stream wrappers (error masking, metrics, ours), about 20 KB of heap per idle
 * subscriber against 2.5 KB for its socket (benchmark P6, docs/performance.md).
 *
 * A subscribe message of a subscription operation is still checked exactly as before, through
 * yoga's envelop pipeline once (allow-list, parse, limits, validation, context and
 * authentication, the operation rate limit, the subscribe resolver with its subscription limit
 * and token checks); only what runs afterwards differs. Its subscriber keeps its socket, the
 * subscription's own source (the live service's bounded queue), the operation it shares with
 * every identical subscriber (subscription-delivery.ts: each event is executed and serialised
 * once for all of them) and this small object, which reads the source and writes graphql-ws
 * frames (protocol graphql-transport-ws, as graphql-ws writes them) straight to the socket.
 * graphql-ws itself still owns the connection: acknowledgement, pings, `complete` from the
 * client and the socket's close, which end this subscription through `return()`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { MessageType, stringifyMessage } from 'graphql-ws';
import { WebSocket } from 'ws';
import { runWithRequestId } from './request-ids.ts';
import {
  CONGESTION_POLL_MS,
  HIGH_WATER_BYTES,
  LOW_WATER_BYTES,
  type LeanSubscriber,
  type SharedOperation,
  type SharedResult,
} from './subscription-delivery.ts';

/** Runs its work in the async context of this module's loading: no request's. */
const outsideAnyRequest = AsyncLocalStorage.snapshot();

/** What every lean subscriber of a server shares: how errors are masked and subscriptions counted. */
export interface LeanEnvironment {
  /** Yoga's error masking, as envelop applies it to the results and failures of other transports. */
  maskError(error: unknown): Error;
  /** A subscription of this kind (its root field) started (+1) or ended (-1). */
  countActive?(kind: string, change: 1 | -1): void;
}

/** The part of graphql-ws's connection state a subscription needs: which of its ids are open. */
export interface ProtocolState {
  subscriptions: Record<string, unknown>;
}

/**
 * One subscription on the lean path. graphql-ws holds it among the connection's subscriptions and
 * calls `return()` when the client completes it or the socket closes (it treats anything with an
 * async iterator and a `return` as a stream it may end).
 */
export class LeanSubscription implements LeanSubscriber {
  private source: AsyncIterator<unknown> | null = null;
  private operation: SharedOperation | null = null;
  /** The client completed it, or the socket closed: nothing more is sent. */
  private stopped = false;
  private ended = false;
  /** `{"id":…,"type":"next","payload":` of this subscription, written before each shared result. */
  private readonly nextPrefix: string;

  private readonly environment: LeanEnvironment;
  private readonly socket: WebSocket;
  private readonly protocol: ProtocolState;
  private readonly id: string;
  /** Its root field, the label of the active-subscriptions metric. */
  private readonly kind: string;
  /** The connection's request id, which masked errors are logged with. */
  private readonly requestId: string | undefined;

  constructor(environment: LeanEnvironment, socket: WebSocket, protocol: ProtocolState, id: string, kind: string, requestId?: string) {
    this.requestId = requestId;
    this.environment = environment;
    this.socket = socket;
    this.protocol = protocol;
    this.id = id;
    this.kind = kind;
    this.nextPrefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  }

  start(source: AsyncIterator<unknown>, operation: SharedOperation): void {
    this.source = source;
    this.operation = operation;
    this.environment.countActive?.(this.kind, 1);
    // Outside the request's async context: its promises would each hold a context of their own
    // (about 180 bytes per subscriber); errors are masked in the request's context below.
    outsideAnyRequest(() => this.read());
  }

  /** True while graphql-ws still counts this id as open on the connection. */
  private isOpen(): boolean {
    return this.id in this.protocol.subscriptions;
  }

  /**
   * Reads the source until it ends, fails or is stopped, writing each result to the socket.
   * Callbacks rather than an async loop: an idle subscriber then waits with one pending promise
   * and two small callbacks, not a suspended async function and its frame (P6).
   */
  private read(): void {
    this.source!.next().then(
      (step) => this.take(step),
      (error: unknown) => this.failWith(this.operation!.sourceError(error)),
    );
  }

  private take(step: IteratorResult<unknown>): void {
    if (step.done || this.stopped) return this.finish();
    const pending = this.operation!.resultOf(step.value);
    if (pending instanceof Promise) {
      pending.then(
        (shared) => this.write(shared),
        (error: unknown) => this.failWith(error),
      );
    } else {
      this.write(pending);
    }
  }

  private write(shared: SharedResult): void {
    if (!this.stopped && this.socket.readyState === WebSocket.OPEN) {
      if (shared.json !== null) {
        this.socket.send(`${this.nextPrefix}${shared.json}}`);
        if (this.socket.bufferedAmount > HIGH_WATER_BYTES) {
          void this.whenRoom().then(() => this.read());
          return;
        }
      } else {
        this.sendNext(shared.result);
      }
    }
    this.read();
  }

  /** The source ended by itself: graphql-ws says so with `complete` (unless the client ended it). */
  private finish(): void {
    if (this.isOpen()) {
      delete this.protocol.subscriptions[this.id];
      this.send(stringifyMessage({ id: this.id, type: MessageType.Complete }));
    }
    this.end();
  }

  /** The source (or the execution of an event) failed: the subscription ends with that error. */
  private failWith(error: unknown): void {
    this.fail(error);
    // A source that failed has closed itself; one whose event failed to execute is closed here.
    void this.source!.return?.();
    this.end();
  }

  /** A socket that holds too many unsent bytes is not written to until it has taken most of them. */
  private async whenRoom(): Promise<void> {
    // ws offers no per-socket 'drain' event: the socket is looked at every CONGESTION_POLL_MS.
    while (!this.stopped && this.socket.readyState === WebSocket.OPEN && this.socket.bufferedAmount > LOW_WATER_BYTES) {
      await delay(CONGESTION_POLL_MS);
    }
  }

  /** A result with errors: masked error by error, as envelop masks a stream's results. */
  private sendNext(result: ExecutionResult): void {
    const { errors, ...withoutErrors } = result;
    const payload = errors
      ? { ...withoutErrors, errors: errors.map((error) => (this.mask(error) as GraphQLError).toJSON()) }
      : withoutErrors;
    this.send(stringifyMessage({ id: this.id, type: MessageType.Next, payload }));
  }

  /** The source failed: one `error` message, as graphql-ws sends it for a stream that throws, and no `complete`. */
  private fail(error: unknown): void {
    const masked = this.mask(error);
    const stillOpen = !this.stopped && this.isOpen();
    delete this.protocol.subscriptions[this.id];
    if (!stillOpen) return;
    const shown = new GraphQLError(masked.message, { originalError: masked });
    this.send(stringifyMessage({ id: this.id, type: MessageType.Error, payload: [shown.toJSON()] }));
  }

  private mask(error: unknown): Error {
    return runWithRequestId(this.requestId, () => this.environment.maskError(error));
  }

  private send(text: string): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(text);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.operation?.release();
    this.environment.countActive?.(this.kind, -1);
  }

  /** graphql-ws: the client completed this id, or the socket closed. */
  async return(): Promise<IteratorResult<unknown>> {
    this.stopped = true;
    await this.source?.return?.();
    return { value: undefined, done: true };
  }

  /** Never read as a stream: graphql-ws only ends it. */
  async next(): Promise<IteratorResult<unknown>> {
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

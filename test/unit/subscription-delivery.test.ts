import { GraphQLError, type ExecutionResult } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createLiveQueue } from '../../src/live/live-queue.ts';
import { deliveryStream, type DirectDelivery } from '../../src/server/subscription-delivery.ts';

/** A socket stand-in: records frames, and is congested while `congested` is set. */
function fakeDelivery() {
  const frames: string[] = [];
  let congested = false;
  let room: (() => void) | null = null;
  const delivery: DirectDelivery = {
    isOpen: () => true,
    send: (json) => void frames.push(json),
    congested: () => congested,
    whenRoom: () => new Promise<void>((resolve) => (room = resolve)),
  };
  return {
    delivery,
    frames,
    congest: () => void (congested = true),
    drain: () => {
      congested = false;
      room?.();
    },
  };
}

const data = (value: number): ExecutionResult => ({ data: { value } });
const shared = (result: ExecutionResult) => ({ result, json: result.errors ? null : JSON.stringify(result) });
const sourceOf = () =>
  createLiveQueue<number>({
    limit: 2,
    overflowError: () => new GraphQLError('too slow', { extensions: { code: 'SUBSCRIBER_TOO_SLOW' } }),
    onClose: () => {},
  });
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('subscription delivery', () => {
  it('writes results straight to the socket, serialised once, and yields nothing meanwhile', async () => {
    const source = sourceOf();
    const socket = fakeDelivery();
    let executions = 0;
    const stream = deliveryStream(
      source,
      (n) => (executions++, shared(data(n as number))),
      socket.delivery,
      (e) => e as Error,
    );
    let yielded = false;
    const next = stream.next().then(() => (yielded = true));
    source.push(1);
    source.push(2);
    await settle();
    expect(socket.frames).toEqual(['{"data":{"value":1}}', '{"data":{"value":2}}']);
    expect(executions).toBe(2);
    expect(yielded).toBe(false);
    await stream.return(undefined);
    await next;
  });

  it('sends a result with errors the ordinary way, so error masking sees it', async () => {
    const source = sourceOf();
    const socket = fakeDelivery();
    const failed: ExecutionResult = { data: null, errors: [new GraphQLError('boom')] };
    const stream = deliveryStream(
      source,
      (n) => shared(n === 2 ? failed : data(n as number)),
      socket.delivery,
      (e) => e as Error,
    );
    const next = stream.next();
    source.push(1);
    source.push(2);
    expect(await next).toEqual({ value: failed, done: false });
    expect(socket.frames).toEqual(['{"data":{"value":1}}']);
    await stream.return(undefined);
  });

  it('stops reading while the socket is congested, so the subscriber’s own queue fills and fails', async () => {
    const source = sourceOf();
    const socket = fakeDelivery();
    const stream = deliveryStream(
      source,
      (n) => shared(data(n as number)),
      socket.delivery,
      (e) => e as Error,
    );
    const next = stream.next();
    socket.congest();
    source.push(1);
    await settle();
    expect(socket.frames).toHaveLength(1);
    // Not read while congested: the queue holds two, and a third overflows it.
    expect(source.push(2)).toBe(true);
    expect(source.push(3)).toBe(true);
    expect(source.push(4)).toBe(false);
    socket.drain();
    await expect(next).rejects.toMatchObject({ extensions: { code: 'SUBSCRIBER_TOO_SLOW' } });
    expect(socket.frames).toEqual(['{"data":{"value":1}}']);
  });

  it('yields every result when the transport cannot be written to directly (SSE)', async () => {
    const source = sourceOf();
    const stream = deliveryStream(
      source,
      (n) => shared(data(n as number)),
      null,
      (e) => e as Error,
    );
    source.push(7);
    expect(await stream.next()).toEqual({ value: data(7), done: false });
  });

  it('ends a pending read when the subscriber leaves', async () => {
    const source = sourceOf();
    const stream = deliveryStream(
      source,
      (n) => shared(data(n as number)),
      fakeDelivery().delivery,
      (e) => e as Error,
    );
    const next = stream.next();
    await stream.return(undefined);
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('throws a failure once, then is done: a reader that asks again (yoga over SSE) gets the end', async () => {
    const source = sourceOf();
    let reads = 0;
    const counting: AsyncIterator<unknown> = { next: () => (reads++, source.next()), return: () => source.return!() };
    const stream = deliveryStream(
      counting,
      (n) => shared(data(n as number)),
      null,
      (e) => e as Error,
    );
    source.fail(new GraphQLError('revoked', { extensions: { code: 'UNAUTHENTICATED' } }));
    await expect(stream.next()).rejects.toThrow('revoked');
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect(reads).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { createLiveQueue } from '../../src/live/live-queue.ts';

function queue(limit: number) {
  let closed = 0;
  const q = createLiveQueue<string>({ limit, overflowError: () => new Error('too slow'), onClose: () => void (closed += 1) });
  return { q, closed: () => closed };
}

describe('live queue', () => {
  it('delivers in order, to a waiting reader too', async () => {
    const { q } = queue(10);
    const first = q.next();
    q.push('a');
    q.push('b');
    expect(await first).toEqual({ value: 'a', done: false });
    expect(await q.next()).toEqual({ value: 'b', done: false });
  });

  it('conflates items with the same key to the latest, keeping their place', async () => {
    const { q } = queue(10);
    q.push('bucket 1 v1', 'b1');
    q.push('bucket 2 v1', 'b2');
    q.push('bucket 1 v2', 'b1');
    expect((await q.next()).value).toBe('bucket 1 v2');
    expect((await q.next()).value).toBe('bucket 2 v1');
  });

  it('fails instead of growing past its limit, and closes once', async () => {
    const { q, closed } = queue(2);
    expect(q.push('a')).toBe(true);
    expect(q.push('b')).toBe(true);
    expect(q.push('c')).toBe(false);
    await expect(q.next()).rejects.toThrow('too slow');
    expect(closed()).toBe(1);
    expect(q.push('d')).toBe(false);
  });

  it('throws its failure once, then is done, whether the reader was waiting or not', async () => {
    const idle = queue(2);
    idle.q.fail(new Error('revoked'));
    await expect(idle.q.next()).rejects.toThrow('revoked');
    expect(await idle.q.next()).toEqual({ value: undefined, done: true });
    const waiting = queue(2);
    const pending = waiting.q.next();
    waiting.q.fail(new Error('revoked'));
    await expect(pending).rejects.toThrow('revoked');
    expect(await waiting.q.next()).toEqual({ value: undefined, done: true });
    expect([idle.closed(), waiting.closed()]).toEqual([1, 1]);
  });

  it('ends a waiting reader and closes on return', async () => {
    const { q, closed } = queue(2);
    const pending = q.next();
    await q.return!();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(closed()).toBe(1);
  });
});

describe('live queue drain', () => {
  it('resolves drained() only once the reader has taken everything and asked for more', async () => {
    const { q } = queue(10);
    q.push('a');
    q.push('b');
    let drained = false;
    const waiting = q.drained().then(() => (drained = true));
    await q.next();
    await new Promise((resolve) => setImmediate(resolve));
    expect(drained).toBe(false);
    await q.next();
    void q.next();
    await waiting;
    expect(drained).toBe(true);
  });

  it('resolves drained() when the queue closes with items left', async () => {
    const { q } = queue(10);
    q.push('a');
    const waiting = q.drained();
    await q.return!();
    await expect(waiting).resolves.toBeUndefined();
  });
});

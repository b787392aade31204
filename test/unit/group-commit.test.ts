import { describe, expect, it } from 'vitest';
import { createGroupCommit } from '../../src/adapters/group-commit.ts';

/** A flush whose every call is recorded and held until the test lets it finish (or fail). */
function heldFlush() {
  const groups: string[][] = [];
  const releases: { finish: () => void; fail: (error: unknown) => void }[] = [];
  let running = 0;
  let mostAtOnce = 0;
  let announce: (() => void) | null = null;
  const flush = (items: string[]) => {
    groups.push(items);
    running += 1;
    mostAtOnce = Math.max(mostAtOnce, running);
    announce?.();
    return new Promise<void>((resolve, reject) => {
      const done = () => (running -= 1);
      releases.push({ finish: () => (done(), resolve()), fail: (error) => (done(), reject(error)) });
    });
  };
  return {
    flush,
    groups,
    mostAtOnce: () => mostAtOnce,
    /** Resolves when the flush of the given number (1-based) has been called. */
    started(count: number): Promise<void> {
      if (groups.length >= count) return Promise.resolve();
      return new Promise((resolve) => {
        announce = () => {
          if (groups.length >= count) resolve();
        };
      });
    },
    release(index: number) {
      releases[index]!.finish();
    },
    failFlush(index: number, error: unknown) {
      releases[index]!.fail(error);
    },
  };
}

/** How each call ended, in the order they ended. */
function outcomes() {
  const ended: string[] = [];
  return {
    ended,
    track(name: string, call: Promise<void>) {
      return call.then(
        () => void ended.push(`${name} ok`),
        (error: unknown) => void ended.push(`${name} failed: ${(error as Error).message}`),
      );
    },
  };
}

describe('group commit', () => {
  it('flushes the calls of one tick together, in call order', async () => {
    const groups: string[][] = [];
    const commit = createGroupCommit<string>((items) => void groups.push(items));
    await Promise.all([commit.add('a'), commit.add('b'), commit.add('c')]);
    expect(groups).toEqual([['a', 'b', 'c']]);
  });

  it('puts a call made during a flush into the next flush, after that one ends', async () => {
    const held = heldFlush();
    const commit = createGroupCommit(held.flush);
    const { ended, track } = outcomes();
    const first = track('a', commit.add('a'));
    await held.started(1);
    const later = [track('b', commit.add('b')), track('c', commit.add('c'))];
    await new Promise((resolve) => setImmediate(resolve));
    expect(held.groups).toEqual([['a']]);

    held.release(0);
    await first;
    await held.started(2);
    expect(held.groups).toEqual([['a'], ['b', 'c']]);
    held.release(1);
    await Promise.all(later);
    expect(ended).toEqual(['a ok', 'b ok', 'c ok']);
    expect(held.mostAtOnce()).toBe(1);
  });

  it('fails exactly the callers of a failed flush, with its error, and flushes the next group', async () => {
    const held = heldFlush();
    const commit = createGroupCommit(held.flush);
    const { ended, track } = outcomes();
    const failing = [track('a', commit.add('a')), track('b', commit.add('b'))];
    await held.started(1);
    const next = track('c', commit.add('c'));

    held.failFlush(0, new Error('disk full'));
    await Promise.all(failing);
    await held.started(2);
    held.release(1);
    await next;
    expect(held.groups).toEqual([['a', 'b'], ['c']]);
    expect(ended).toEqual(['a failed: disk full', 'b failed: disk full', 'c ok']);
  });

  it('says when every call made so far is flushed, failed ones included, without rejecting', async () => {
    let calls = 0;
    const commit = createGroupCommit<string>(() => {
      calls += 1;
      if (calls === 1) throw new Error('refused');
    });
    const { ended, track } = outcomes();
    const made = [track('a', commit.add('a'))];
    await commit.flushed();
    expect(ended).toEqual(['a failed: refused']);
    made.push(track('b', commit.add('b')));
    await commit.flushed();
    expect(ended).toEqual(['a failed: refused', 'b ok']);
    await Promise.all(made);
  });
});

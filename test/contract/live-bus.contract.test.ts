import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { liveTopics, type LiveBus } from '../../src/ports/live-bus.ts';
import { liveBusAdapters, type AdapterHarness } from './adapters.ts';

async function until(check: () => boolean, what: string) {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(liveBusAdapters)('LiveBus contract: $name', (factory) => {
  let harness: AdapterHarness<LiveBus>;
  let publisher: LiveBus;
  let subscriber: LiveBus;

  beforeEach(async () => {
    harness = factory.harness();
    publisher = await harness.open();
    // A second instance of the adapter, as another process would hold it. The in-process bus
    // is shared only within one process, so there the publisher's instance is the subscriber's.
    subscriber = factory.sharedAcrossInstances ? await harness.open() : publisher;
  });
  afterEach(async () => {
    await publisher.close();
    if (subscriber !== publisher) await subscriber.close();
    await harness.cleanup();
  });

  it('delivers every message published after subscribe resolves, in order', async () => {
    const received: string[] = [];
    await subscriber.subscribe(liveTopics.events('acme'), (m) => received.push(m));
    for (let i = 0; i < 100; i++) await publisher.publish(liveTopics.events('acme'), `m${i}`);
    await until(() => received.length === 100, '100 messages');
    expect(received).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
  });

  it('keeps topics, and so tenants, apart', async () => {
    const a: string[] = [];
    const b: string[] = [];
    await subscriber.subscribe(liveTopics.events('a'), (m) => a.push(m));
    await subscriber.subscribe(liveTopics.series('b', 'MINUTE', 'purchase'), (m) => b.push(m));
    await publisher.publish(liveTopics.events('b'), 'for b events');
    await publisher.publish(liveTopics.series('b', 'MINUTE', 'purchase'), 'for b series');
    await publisher.publish(liveTopics.events('a'), 'for a');
    await until(() => a.length === 1 && b.length === 1, 'one message each');
    expect(a).toEqual(['for a']);
    expect(b).toEqual(['for b series']);
  });

  it('fans out to every subscriber and stops after unsubscribe', async () => {
    const first: string[] = [];
    const second: string[] = [];
    const stopFirst = await subscriber.subscribe('topic', (m) => first.push(m));
    await subscriber.subscribe('topic', (m) => second.push(m));
    await publisher.publish('topic', 'both');
    await until(() => first.length === 1 && second.length === 1, 'both subscribers');
    await stopFirst();
    await publisher.publish('topic', 'second only');
    await until(() => second.length === 2, 'the second message');
    expect(first).toEqual(['both']);
    expect(second).toEqual(['both', 'second only']);
  });
});

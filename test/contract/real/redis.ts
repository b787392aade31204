/** The real-server adapter of the LiveBus port, for its contract suite: Redis pub/sub (ioredis). */
import type { LiveBus } from '../../../src/ports/live-bus.ts';
import { createRedisLiveBus } from '../../../src/adapters/redis/redis-live-bus.ts';
import { requireServerEnv } from '../../support/real-servers.ts';
import type { AdapterFactory } from '../adapters.ts';

export const realLiveBusAdapters: AdapterFactory<LiveBus>[] = [
  {
    name: 'Redis (ioredis)',
    sharedAcrossInstances: true,
    // Each open() is a separate pair of connections: the suite publishes on one instance and
    // subscribes on another, as two service processes would.
    harness: () => ({ open: () => createRedisLiveBus({ url: requireServerEnv('REDIS_URL') }), cleanup: async () => {} }),
  },
];

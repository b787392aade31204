/**
 * The fault tests: SIGKILLs of the service and restarts of the shared real servers. They would
 * break any suite running next to them, so the main run excludes them (vitest.config.ts) and
 * `npm test` runs them with this configuration as its last stage, one file at a time, against
 * the same servers:
 *
 *   npx vitest run --config test/faults/vitest.config.ts   (with the server variables npm test sets)
 */
import { join } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: join(import.meta.dirname, '..', '..'),
    include: ['test/faults/**/*.test.ts'],
    exclude: configDefaults.exclude,
    // A restarted broker is down for every file: never two at once.
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 240_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});

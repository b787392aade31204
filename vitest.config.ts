import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault tests restart the shared servers under everyone's feet: npm test runs them alone,
    // after this run, with test/faults/vitest.config.ts.
    exclude: [...configDefaults.exclude, 'test/faults/**'],
    // End-to-end files start real server processes; on two cores, two files at a time is the limit.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});

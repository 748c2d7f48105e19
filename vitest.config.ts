import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files start real servers and child processes; running them one file at a time
    // keeps the two cores of a CI machine from starving timing-sensitive delivery tests.
    fileParallelism: false,
    reporters: ['default'],
  },
});

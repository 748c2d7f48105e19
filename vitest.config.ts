import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CommonJS (main) and ESM (module) builds. Node loads the CommonJS one for
    // the server's dependencies; without this, tests would get the ESM one and graphql-js
    // would refuse to mix objects from the two ("Cannot use GraphQLSchema from another module").
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // dist/ (the compiled server) and the browser chat (web/dist) are built once before the tests.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files start real servers and child processes; running them one file at a time
    // keeps the two cores of a CI machine from starving timing-sensitive delivery tests.
    fileParallelism: false,
    reporters: ['default'],
  },
});

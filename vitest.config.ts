import { defineConfig } from 'vitest/config';

// isolated-vm needs --no-node-snapshot in every process that loads it.
const execArgv = ['--no-node-snapshot'];

export default defineConfig({
  test: {
    pool: 'forks',
    execArgv,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['sdk/test/**/*.test.ts', 'host/test/**/*.test.ts', 'plugins/*/test/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          // one file at a time: each starts servers and measures time-bound behaviour, and this
          // machine has two cores
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});

import { defineConfig } from 'vitest/config';

/**
 * Files that start party services, TLS listeners or a browser and wait on sockets with
 * deadlines. They run in their own project, one file at a time and after the CPU-bound
 * suites (CKKS, PSI, benchmarks) have finished, so their timeouts measure the code and not
 * what else this 2-core machine is doing (issue 16, "Timing").
 */
const NETWORK = ['test/e2e/**/*.test.ts', 'test/bench/load.test.ts', 'test/service/**/*.test.ts', 'test/transport/tls*.test.ts', 'test/console/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 240_000,
    hookTimeout: 240_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'compute',
          include: ['test/**/*.test.ts'],
          exclude: NETWORK,
          // Two cores: the CKKS and PSI suites use worker pools of their own.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'network',
          include: NETWORK,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // Two cores: the CKKS and PSI suites use worker pools of their own.
    maxWorkers: 2,
  },
});

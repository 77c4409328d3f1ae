import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // DuckDB files and subprocess CLIs are heavy on a 2-core machine; keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

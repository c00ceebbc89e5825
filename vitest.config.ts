import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // GDAL and DuckDB are native and CPU-bound; two forks match the 2-core CI machine.
    pool: 'forks',
    maxWorkers: 2,
    env: { TZ: 'UTC', LC_ALL: 'C' },
  },
});

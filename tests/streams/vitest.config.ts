import { defineConfig } from 'vitest/config'

// These tests start real processes (cfp-runtime, cfp-worker) against the machine's PostgreSQL: one file at a time,
// generous timeouts, no retries.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 90_000,
    retry: 0,
  },
})

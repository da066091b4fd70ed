import { defineConfig } from 'vitest/config'

// End-to-end tests start real processes (PostgreSQL databases, cfp-runtime, workers) and wait on them: one
// file at a time (the machine has two cores), generous timeouts, no retries (a flaky test is a finding).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./src/global-setup.ts'],
    fileParallelism: false,
    maxWorkers: 1,
    isolate: true,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    retry: 0,
    reporters: ['default'],
  },
})

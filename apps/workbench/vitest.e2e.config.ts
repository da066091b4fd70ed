import { defineConfig } from 'vitest/config'

/** Browser tests: each file starts a real `cfp dev` and drives Debian's Chromium through playwright-core. */
export default defineConfig({
  test: {
    include: ['e2e/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // a page fetches before it renders; under CI load 1 s (vitest's default) is too short for a poll
    expect: { poll: { timeout: 10_000 } },
  },
})

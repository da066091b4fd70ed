import { defineConfig } from 'vitest/config'

/** Unit tests: the pure modules under src/ (graph, layout, filters, formatting, API client). */
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
})

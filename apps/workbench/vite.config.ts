/**
 * Vite config of the workbench SPA. It is served by the runtime under `/__cfp/` (hence `base`); `npm run dev`
 * proxies the runtime API and the project's API routes to `CFP_URL` (default http://127.0.0.1:3000).
 */
import { defineConfig } from 'vite'

const runtime = process.env.CFP_URL ?? 'http://127.0.0.1:3000'

// the runtime API, and every path outside /__cfp/ (the project's API steps, called from the Endpoints page)
const proxy = {
  '/__cfp/api': { target: runtime },
  '/__cfp/health': { target: runtime },
  '^/(?!__cfp/).*': { target: runtime },
}

export default defineConfig({
  base: '/__cfp/',
  // JSX through esbuild's automatic runtime: no React plugin needed (and none that fits every Vite major)
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 800,
    rollupOptions: {
      onwarn(warning, warn) {
        // React Router and React Flow mark their modules "use client" (for server components): meaningless here
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE' || warning.code === 'SOURCEMAP_ERROR') return
        warn(warning)
      },
    },
  },
  server: { proxy },
  preview: { proxy },
})

// The WebXR test page (xrtest/): web_ar/classroom/ar.js under the npm `iwer` WebXR runtime
// with `@iwer/sem` and a room capture. Test-only: built into tests/web/xrtest_build
// (git-ignored), never into the Python package. `npm run build` runs it (build:xrtest).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./xrtest'),
  base: './',
  publicDir: false,
  logLevel: 'warn',
  resolve: {
    // @iwer/sem asks for three ^0.184 and would bundle a second copy: use ours.
    dedupe: ['three'],
  },
  build: {
    target: 'es2022',
    outDir: here('../tests/web/xrtest_build'),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 4000,
    assetsInlineLimit: 0, // the room capture stays a file the page fetches
  },
});

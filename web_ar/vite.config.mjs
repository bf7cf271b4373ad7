// Builds the hologram preview page (preview/) into the Python package, where
// arkit_py/preview.py serves it. Relative base: the page works from any path, offline.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./preview'),
  base: './',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: here('../arkit_py/web/static/preview'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // three.js is one chunk of ~700 kB; that is expected for a 3D page.
    chunkSizeWarningLimit: 1500,
    assetsInlineLimit: 0,
  },
});

// The WebXR test page (xrtest/): web_ar/classroom/ar.js under the npm `iwer` WebXR runtime
// with `@iwer/sem` and a room capture. Test-only: built into tests/web/xrtest_build
// (git-ignored), never into the Python package. `npm run build` runs it (build:xrtest).
// After the page, the same build writes xrtest/inject.js as one classic script
// (tests/web/xrtest_build/inject.js): iwer installed into a real page before its own
// scripts, by Playwright's add_init_script (tests/web/test_join_ar.py).
import { fileURLToPath } from 'node:url';
import { build, defineConfig } from 'vite';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const outDir = here('../tests/web/xrtest_build');

/** Builds xrtest/inject.js as an IIFE next to the page, once the page is written. */
function injector() {
  let done = false;
  return {
    name: 'xrtest-injector',
    apply: 'build',
    async closeBundle() {
      if (done) return;
      done = true;
      await build({
        configFile: false,
        logLevel: 'warn',
        publicDir: false,
        resolve: { dedupe: ['three'] },
        build: {
          target: 'es2022',
          outDir,
          emptyOutDir: false,
          sourcemap: false,
          chunkSizeWarningLimit: 4000,
          lib: { entry: here('./xrtest/inject.js'), name: 'arkitXRTest', formats: ['iife'], fileName: () => 'inject.js' },
        },
      });
    },
  };
}

export default defineConfig({
  root: here('./xrtest'),
  base: './',
  publicDir: false,
  logLevel: 'warn',
  plugins: [injector()],
  resolve: {
    // @iwer/sem asks for three ^0.184 and would bundle a second copy: use ours.
    dedupe: ['three'],
  },
  build: {
    target: 'es2022',
    outDir,
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 4000,
    assetsInlineLimit: 0, // the room capture stays a file the page fetches
  },
});

// Two builds into the Python package (npm run build runs both):
//
// - default mode: the hologram preview page (preview/) into arkit_py/web/static/preview,
//   where arkit_py/preview.py serves it. Relative base: the page works from any path, offline.
// - `--mode classroom`: the classroom pages (classroom/) into arkit_py/web/static/classroom,
//   served by the Flask server at /static/classroom/. The pages are Jinja shells
//   (arkit_py/server/templates) that load one fixed-name entry each (join.js,
//   projection.js, lecturer.js, self_paced.js, library.js) and classroom.css; shared code
//   (three.js, socket.io-client, the features) goes to hashed chunks. Sources:
//   classroom/pages/<page>.js (one entry a page), classroom/features/ (what the pages are
//   made of: viewer, AR, in-scene UI, timeline, quiz, live sync, events...) and
//   classroom/core/ (DOM and REST helpers, the stylesheet).
//
// Code shared by both lives in lib/.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

const common = {
  publicDir: false,
  logLevel: 'warn',
};

const build = {
  target: 'es2022',
  sourcemap: false,
  // three.js is one chunk of ~700 kB; that is expected for a 3D page.
  chunkSizeWarningLimit: 1500,
  assetsInlineLimit: 0,
};

const PAGES = ['join', 'projection', 'lecturer', 'self_paced', 'library', 'studio', 'studio_edit'];

export default defineConfig(({ mode }) => {
  if (mode === 'classroom') {
    return {
      ...common,
      root: here('./classroom'),
      base: '/static/classroom/',
      build: {
        ...build,
        outDir: here('../arkit_py/web/static/classroom'),
        emptyOutDir: true,
        cssCodeSplit: false,
        modulePreload: false,
        rolldownOptions: {
          input: Object.fromEntries(PAGES.map((name) => [name, here(`./classroom/pages/${name}.js`)])),
          output: {
            entryFileNames: '[name].js',
            chunkFileNames: 'chunks/[name]-[hash].js',
            assetFileNames: (info) => ((info.names || []).some((n) => n.endsWith('.css'))
              ? 'classroom.css' : 'assets/[name]-[hash][extname]'),
          },
        },
      },
    };
  }
  return {
    ...common,
    root: here('./preview'),
    base: './',
    build: {
      ...build,
      outDir: here('../arkit_py/web/static/preview'),
      emptyOutDir: true,
    },
  };
});

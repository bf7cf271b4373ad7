// Test page for arkit's GLBs in <model-viewer>, loaded from model-viewer's own prebuilt
// bundle (npm @google/model-viewer dist/model-viewer.min.js, copied unchanged next to this
// file by `npm run build:modelviewer`; never rebuilt by our Vite).
//
//   index.html?src=/glb/x.glb
//
// window.__mv = {src, loaded, error, animations, duration, currentTime}: `loaded` /
// `error` are set by model-viewer's `load` / `error` events, `animations` is
// availableAnimations; `duration` and `currentTime` read the element live (duration is 0
// until an animation has been played). The element is document.getElementById('mv').
//
// EXT_meshopt_compression: model-viewer only gives its GLTFLoader a meshopt decoder once
// ModelViewerElement.meshoptDecoderLocation is set. It then loads that URL as a classic
// <script> and, once loaded, uses the MeshoptDecoder bundled inside model-viewer (three's
// examples/jsm/libs/meshopt_decoder.module.js) — so the file must be a classic script
// (meshoptimizer's meshopt_decoder.cjs, copied as meshopt_decoder.js), served from here,
// never from the default CDN.
//
// model-viewer creates its WebGLRenderer with three's `debug.checkShaderErrors` off, so a
// shader that fails to compile only shows as WebGL warnings and an object that is not
// drawn. Its debug mode (a global `ModelViewerElement.debugMode`, read when the renderer
// is first made, i.e. when the first element is created below) turns the check on, and
// three then logs the compile error with console.error, where the test sees it.
import { ModelViewerElement } from './model-viewer.min.js';

self.ModelViewerElement = Object.assign(self.ModelViewerElement || {}, { debugMode: true });

let viewer = null;
const state = {
  src: null,
  loaded: false,
  error: null,
  animations: [],
  get duration() { return viewer ? viewer.duration : 0; },
  get currentTime() { return viewer ? viewer.currentTime : 0; },
};
window.__mv = state;

function describe(detail) {
  if (!detail) return 'error';
  const cause = detail.sourceError;
  const message = cause && (cause.message || String(cause));
  return message ? `${detail.type || 'error'}: ${message}` : String(detail.type || detail);
}

try {
  ModelViewerElement.meshoptDecoderLocation = new URL('./meshopt_decoder.js', import.meta.url).href;
  const src = new URLSearchParams(window.location.search).get('src');
  if (!src) throw new Error('no GLB given: add ?src=/path/to/file.glb to the URL');
  state.src = src;
  viewer = document.createElement('model-viewer');
  viewer.id = 'mv';
  viewer.alt = 'arkit hologram under test';
  viewer.setAttribute('interaction-prompt', 'none');
  viewer.addEventListener('load', () => {
    state.animations = [...viewer.availableAnimations];
    state.loaded = true;
  });
  viewer.addEventListener('error', (event) => {
    state.error = describe(event.detail);
  });
  viewer.src = src;
  document.body.append(viewer);
} catch (error) {
  state.error = String(error && error.message ? error.message : error);
}

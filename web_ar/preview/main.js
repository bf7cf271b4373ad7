// arkit hologram preview: shows one GLB (?src=URL, default hologram.glb beside the page)
// with its structures grouped by system, picking, per-system visibility, body opacity and
// animation playback. Everything is bundled: no network beyond the page's own server.
//
// For tests the page keeps `window.__arkit` = {loaded, structures, error, selected,
// systems, animations, select(name), screenPosition(name) -> {x, y} client pixels of the
// centre of a structure's bounding box}.

import * as THREE from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import {
  BACKGROUND, VIEWS, addOverlays, collectStructures, createLoader, fitBox, formatRealTime, highlightMaterials,
  interpolate, legendOf, loadErrorText, paletteGradient, patchColourOnlyMorphs, pickStructure, removeOverlays,
  sortSystems, structureBox, swatchColour,
} from '../lib/hologram.js';

const KEY_ROTATE = Math.PI / 18; // 10 degrees per arrow press
const KEY_ZOOM = 1.15;

const state = {
  loaded: false,
  structures: [],
  error: null,
  selected: null,
  systems: [],
  animations: 0,
  legend: null,
  select: (name) => select(name),
  screenPosition: (name) => screenPosition(name),
};
window.__arkit = state;

const $ = (id) => document.getElementById(id);
const viewport = $('viewport');
const statusEl = $('status');

// ---------------------------------------------------------------------------- messages

function showStatus(text) {
  statusEl.hidden = false;
  statusEl.classList.remove('error');
  statusEl.textContent = text;
}

function showError(text, detail) {
  state.error = text;
  statusEl.hidden = false;
  statusEl.classList.add('error');
  statusEl.textContent = text;
  if (detail) {
    const small = document.createElement('small');
    small.textContent = ` (${detail})`;
    statusEl.append(document.createElement('br'), small);
  }
  console.error(`arkit preview: ${text}${detail ? ` (${detail})` : ''}`);
}

// ---------------------------------------------------------------------------- 3D setup

let renderer;
try {
  renderer = new THREE.WebGLRenderer({ antialias: true, powerPreference: 'high-performance' });
} catch (err) {
  showError(
    'This browser cannot show 3D graphics (WebGL 2 is not available). ' +
      'Try a current Chrome, Edge, Firefox or Safari, or turn on hardware acceleration in the browser settings.',
    err && err.message,
  );
}

const scene = new THREE.Scene();
scene.background = new THREE.Color(BACKGROUND);
const camera = new THREE.PerspectiveCamera(40, 1, 0.01, 100);
scene.add(camera);
scene.add(new THREE.HemisphereLight(0xf0f4ff, 0x3a3f48, 1.6));
const headlight = new THREE.DirectionalLight(0xffffff, 2.0);
headlight.position.set(0.5, 1, 1); // above and right of the eye, follows the camera
headlight.target.position.set(0, 0, -1);
camera.add(headlight, headlight.target);

let controls = null;
let needsRender = true;
const requestRender = () => {
  needsRender = true;
};

if (renderer) {
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  const canvas = renderer.domElement;
  canvas.tabIndex = 0;
  canvas.setAttribute('aria-label', 'Hologram: drag to turn, scroll to zoom; arrow keys turn, + and − zoom');
  viewport.prepend(canvas);

  controls = new OrbitControls(camera, canvas);
  controls.enableDamping = true;
  controls.dampingFactor = 0.12;
  controls.addEventListener('change', requestRender);

  const resize = () => {
    const w = Math.max(1, viewport.clientWidth);
    const h = Math.max(1, viewport.clientHeight);
    renderer.setSize(w, h, false);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    requestRender();
  };
  new ResizeObserver(resize).observe(viewport);
  resize();
}

// ---------------------------------------------------------------------------- framing

let home = null; // {position, target}

function frame(object) {
  const box = new THREE.Box3().setFromObject(object, true);
  if (box.isEmpty()) return false;
  const fit = fitBox(camera, box, new THREE.Vector3(...VIEWS.front).normalize());
  camera.near = fit.near;
  camera.far = fit.far;
  camera.updateProjectionMatrix();
  controls.minDistance = fit.radius * 0.05;
  controls.maxDistance = fit.distance * 8;
  home = { position: fit.position, target: fit.target };
  resetView();
  return true;
}

function resetView() {
  if (!home) return;
  camera.position.copy(home.position);
  controls.target.copy(home.target);
  camera.lookAt(home.target);
  controls.update();
  requestRender();
}

$('reset-view').addEventListener('click', resetView);

// Keyboard: arrows turn around the target, + / - zoom, 0 or Home resets.
window.addEventListener('keydown', (event) => {
  if (!controls || !home || event.ctrlKey || event.metaKey || event.altKey) return;
  const t = event.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement ||
      (t instanceof HTMLElement && t.isContentEditable)) return;
  const offset = camera.position.clone().sub(controls.target);
  const spherical = new THREE.Spherical().setFromVector3(offset);
  let handled = true;
  switch (event.key) {
    case 'ArrowLeft': spherical.theta -= KEY_ROTATE; break;
    case 'ArrowRight': spherical.theta += KEY_ROTATE; break;
    case 'ArrowUp': spherical.phi -= KEY_ROTATE; break;
    case 'ArrowDown': spherical.phi += KEY_ROTATE; break;
    case '+': case '=': spherical.radius /= KEY_ZOOM; break;
    case '-': case '_': spherical.radius *= KEY_ZOOM; break;
    case '0': case 'Home': resetView(); event.preventDefault(); return;
    default: handled = false;
  }
  if (!handled) return;
  event.preventDefault();
  spherical.phi = THREE.MathUtils.clamp(spherical.phi, Math.max(0.01, controls.minPolarAngle),
    Math.min(Math.PI - 0.01, controls.maxPolarAngle));
  spherical.radius = THREE.MathUtils.clamp(spherical.radius, controls.minDistance, controls.maxDistance);
  camera.position.copy(controls.target).add(new THREE.Vector3().setFromSpherical(spherical));
  camera.lookAt(controls.target);
  controls.update();
  requestRender();
});

// ---------------------------------------------------------------------------- structures

/** name -> {name, display, system, extras, object, meshes, button, overlays} */
const structures = new Map();
let legend = null; // scene extras arkit.legend, if any

function buildStructureList(root) {
  for (const s of collectStructures(root).values()) {
    structures.set(s.name, { ...s, button: null, overlays: [] });
  }

  const bySystem = new Map();
  for (const s of structures.values()) {
    if (!bySystem.has(s.system)) bySystem.set(s.system, []);
    bySystem.get(s.system).push(s);
  }
  const systems = sortSystems(bySystem.keys());

  const container = $('structures');
  container.replaceChildren();
  if (systems.length === 0) {
    const p = document.createElement('p');
    p.className = 'muted';
    p.textContent = 'This file has no labelled structures; the whole model is shown.';
    container.append(p);
  }
  for (const system of systems) {
    const group = document.createElement('div');
    group.className = 'system';
    group.dataset.system = system;
    const header = document.createElement('label');
    header.className = 'system-header';
    const checkbox = document.createElement('input');
    checkbox.type = 'checkbox';
    checkbox.checked = true;
    checkbox.dataset.system = system;
    checkbox.addEventListener('change', () => setSystemVisible(system, checkbox.checked, group));
    const title = document.createElement('span');
    const members = bySystem.get(system);
    title.textContent = `${system} (${members.length})`;
    header.append(checkbox, title);
    const list = document.createElement('ul');
    for (const s of members) {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'structure';
      button.dataset.name = s.name;
      button.setAttribute('aria-pressed', 'false');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = swatchColour(s).getStyle();
      const text = document.createElement('span');
      text.textContent = s.display;
      button.append(swatch, text);
      button.addEventListener('click', () => select(state.selected === s.name ? null : s.name));
      s.button = button;
      li.append(button);
      list.append(li);
    }
    group.append(header, list);
    container.append(group);
  }
  state.systems = systems;
  state.structures = [...structures.keys()];
}

function setSystemVisible(system, visible, group) {
  for (const s of structures.values()) {
    if (s.system === system) s.object.visible = visible;
  }
  group.classList.toggle('hidden', !visible);
  requestRender();
}

// ---------------------------------------------------------------------------- selection

const overlayMaterials = highlightMaterials();

function select(name) {
  const next = name == null ? null : structures.get(name) || null;
  const previous = state.selected ? structures.get(state.selected) : null;
  if (previous) {
    removeOverlays(previous.overlays);
    previous.overlays = [];
    previous.button.setAttribute('aria-pressed', 'false');
  }
  state.selected = next ? next.name : null;
  if (next) {
    next.overlays = addOverlays(next, overlayMaterials);
    next.button.setAttribute('aria-pressed', 'true');
    next.button.scrollIntoView({ block: 'nearest' });
  }
  showSelection();
  requestRender();
  return state.selected;
}

const number = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
const precise = new Intl.NumberFormat('en', { maximumSignificantDigits: 3 });

function showSelection() {
  const box = $('selection');
  box.replaceChildren();
  const s = state.selected ? structures.get(state.selected) : null;
  if (!s) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = 'Tap a structure in the view or in the list.';
    box.append(p);
    return;
  }
  const title = document.createElement('p');
  title.className = 'name';
  title.textContent = s.display;
  const dl = document.createElement('dl');
  const row = (term, value) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
    return dd;
  };
  row('System', s.system.charAt(0).toUpperCase() + s.system.slice(1));
  if (typeof s.extras.volume_ml === 'number') row('Volume', `${number.format(s.extras.volume_ml)} mL`);
  const value = currentValue(s);
  if (value) row(value.term, value.text).dataset.role = 'value';
  box.append(title, dl);
}

// ---------------------------------------------------------------------------- picking

const raycaster = new THREE.Raycaster();
let down = null;

function pick(clientX, clientY) {
  const rect = renderer.domElement.getBoundingClientRect();
  const pointer = new THREE.Vector2(
    ((clientX - rect.left) / rect.width) * 2 - 1,
    -((clientY - rect.top) / rect.height) * 2 + 1,
  );
  raycaster.setFromCamera(pointer, camera);
  return pickStructure(raycaster, scene, structures);
}

function screenPosition(name) {
  const s = structures.get(name);
  if (!s || !renderer) return null;
  const centre = structureBox(s).getCenter(new THREE.Vector3());
  const ndc = centre.project(camera);
  const rect = renderer.domElement.getBoundingClientRect();
  return { x: rect.left + ((ndc.x + 1) / 2) * rect.width, y: rect.top + ((1 - ndc.y) / 2) * rect.height };
}

if (renderer) {
  const canvas = renderer.domElement;
  canvas.addEventListener('pointerdown', (e) => {
    down = { x: e.clientX, y: e.clientY, t: performance.now(), id: e.pointerId };
  });
  canvas.addEventListener('pointerup', (e) => {
    if (!down || down.id !== e.pointerId || !state.loaded) return;
    const moved = Math.hypot(e.clientX - down.x, e.clientY - down.y);
    const quick = performance.now() - down.t < 600;
    down = null;
    if (moved > 6 || !quick) return; // a drag turns the view, not a tap
    select(pick(e.clientX, e.clientY));
  });
}

// ---------------------------------------------------------------------------- body opacity

function setupBodyOpacity() {
  const materials = new Set();
  for (const s of structures.values()) {
    if (s.system !== 'body') continue;
    for (const mesh of s.meshes) {
      for (const m of Array.isArray(mesh.material) ? mesh.material : [mesh.material]) materials.add(m);
    }
  }
  if (materials.size === 0) return;
  const slider = $('body-opacity');
  const out = $('body-opacity-value');
  const first = [...materials][0];
  // The file's own opacity is the starting point (the writer makes the body translucent).
  slider.value = String(first.transparent ? first.opacity : 1);
  const apply = () => {
    const v = Number(slider.value);
    out.textContent = `${Math.round(v * 100)} %`;
    for (const m of materials) {
      const transparent = v < 1;
      if (m.transparent !== transparent) m.needsUpdate = true;
      m.transparent = transparent;
      m.opacity = v;
      m.depthWrite = !transparent;
      m.visible = v > 0;
    }
    requestRender();
  };
  out.textContent = `${Math.round(Number(slider.value) * 100)} %`;
  slider.addEventListener('input', apply);
  $('body-opacity-section').hidden = false;
}

// ---------------------------------------------------------------------------- animation

let mixer = null;
let duration = 0;
let time = 0;
let playing = false;

function realTime() {
  if (!legend || !(legend.clip_s > 0) || !(legend.real_s > 0)) return null;
  return (time / legend.clip_s) * legend.real_s;
}

function currentValue(s) {
  const t = realTime();
  if (t === null) return null;
  const v = interpolate(s.extras.times_s, s.extras.values, t);
  if (v === null || !Number.isFinite(v)) return null;
  const quantity = legend.quantity ? String(legend.quantity).replace(/_/g, ' ') : 'Value';
  const unit = s.extras.unit || legend.unit || '';
  return { term: quantity.charAt(0).toUpperCase() + quantity.slice(1), text: `${precise.format(v)} ${unit}`.trim() };
}

function showTime() {
  $('time').value = String(time);
  const real = realTime();
  $('time-label').textContent =
    `${number.format(time)} s of ${number.format(duration)} s` +
    (real === null ? '' : ` · ${formatRealTime(real)} after injection`);
  const value = document.querySelector('#selection [data-role="value"]');
  if (value) {
    const s = structures.get(state.selected);
    const v = s && currentValue(s);
    if (v) value.textContent = v.text;
  }
}

function setPlaying(value) {
  playing = value;
  const button = $('play');
  button.textContent = playing ? 'Pause' : 'Play';
  button.setAttribute('aria-pressed', String(playing));
}

function setupAnimation(root, clips) {
  state.animations = clips.length;
  if (clips.length === 0) return;
  mixer = new THREE.AnimationMixer(root);
  for (const clip of clips) {
    mixer.clipAction(clip).play();
    duration = Math.max(duration, clip.duration);
  }
  const slider = $('time');
  slider.max = String(duration);
  slider.step = String(Math.max(duration / 1000, 0.001));
  slider.addEventListener('input', () => {
    time = Number(slider.value);
    mixer.setTime(time);
    showTime();
    requestRender();
  });
  $('play').addEventListener('click', () => setPlaying(!playing));
  $('timeline').hidden = false;
  mixer.setTime(0);
  setPlaying(true);
  showTime();
}

// ---------------------------------------------------------------------------- loop

const timer = new THREE.Timer();
let lastLabel = 0;

function tick(timestamp) {
  timer.update(timestamp);
  const dt = Math.min(timer.getDelta(), 0.1);
  if (mixer && playing && duration > 0) {
    time = (time + dt) % duration;
    mixer.setTime(time);
    needsRender = true;
    if (performance.now() - lastLabel > 100) {
      lastLabel = performance.now();
      showTime();
    }
  }
  if (controls && controls.update()) needsRender = true;
  if (needsRender) {
    needsRender = false;
    renderer.render(scene, camera);
  }
}

// ---------------------------------------------------------------------------- load

function sourceURL() {
  const src = new URLSearchParams(window.location.search).get('src') || 'hologram.glb';
  return new URL(src, document.baseURI).href;
}

function load() {
  const src = sourceURL();
  const loader = createLoader();
  showStatus('Loading the hologram…');
  loader.load(
    src,
    (gltf) => {
      try {
        onLoad(gltf);
      } catch (err) {
        showError('The hologram loaded but could not be shown.', err && err.message);
      }
    },
    (event) => {
      if (event.lengthComputable && event.total > 0) {
        showStatus(`Loading the hologram… ${Math.round((100 * event.loaded) / event.total)} %`);
      }
    },
    (err) => showError(loadErrorText(err, src), err && err.message),
  );
}

// ---------------------------------------------------------------------------- legend

function setupLegend() {
  const gradient = paletteGradient(legend);
  if (!gradient) return;
  const bar = $('legend-bar');
  bar.style.background = gradient;
  const quantity = legend.quantity === 'suv' ? 'SUV' : 'Activity concentration';
  const unit = legend.unit || '';
  $('legend-title').textContent = `${quantity} (${unit})`;
  $('legend-min').textContent = `${precise.format(legend.min)}`;
  $('legend-max').textContent = `≥ ${precise.format(legend.max)}`;
  bar.setAttribute('aria-label', `${quantity} from ${legend.min} to ${legend.max} ${unit}; higher is brighter`);
  $('legend-note').textContent = legend.decay_corrected ? 'Decay-corrected to injection.' : 'Physical (not decay-corrected).';
  state.legend = { quantity: legend.quantity, unit, min: legend.min, max: legend.max };
  $('legend').hidden = false;
}

function onLoad(gltf) {
  const root = gltf.scene;
  patchColourOnlyMorphs(root);
  scene.add(root);
  legend = legendOf(root);
  root.updateMatrixWorld(true);
  if (!frame(root)) {
    showError('The file loaded but holds nothing to show (no geometry).');
    return;
  }
  buildStructureList(root);
  setupBodyOpacity();
  setupAnimation(root, gltf.animations || []);
  setupLegend();
  showSelection();
  renderer.render(scene, camera);
  needsRender = false;
  renderer.setAnimationLoop(tick);
  statusEl.hidden = true;
  $('hint').hidden = false;
  state.loaded = true;
  document.documentElement.dataset.loaded = 'true';
}

if (renderer) load();

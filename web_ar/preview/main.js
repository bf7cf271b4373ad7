// arkit hologram preview: shows one GLB (?src=URL, default hologram.glb beside the page)
// with its structures grouped by system, picking, per-system visibility, body opacity and
// animation playback. Everything is bundled: no network beyond the page's own server.
//
// For tests the page keeps `window.__arkit` = {loaded, structures, error, selected,
// systems, animations, select(name), screenPosition(name) -> {x, y} client pixels of the
// centre of a structure's bounding box}.

import * as THREE from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { MeshoptDecoder } from 'three/examples/jsm/libs/meshopt_decoder.module.js';

const BACKGROUND = 0x1f2733; // style.css --bg
const HIGHLIGHT = 0xffd54a; // style.css --accent
const SYSTEM_ORDER = ['body', 'skeletal', 'respiratory', 'cardiovascular', 'digestive', 'urinary',
  'nervous', 'endocrine', 'reproductive', 'lymphatic', 'other'];
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

function loadErrorText(err, src) {
  const status = err && err.response && err.response.status;
  if (status === 404) return `The hologram file was not found at “${src}”.`;
  if (status) return `The server answered “${status}” when asked for the hologram “${src}”.`;
  const message = String((err && err.message) || err || '');
  if (err instanceof TypeError && /fetch|network/i.test(message)) {
    return 'The hologram could not be downloaded: the server did not answer. Is the preview still running?';
  }
  return 'This file could not be shown as a hologram: it is not a glTF/GLB file this page can read.';
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
  const size = box.getSize(new THREE.Vector3());
  const centre = box.getCenter(new THREE.Vector3());
  const radius = Math.max(size.length() / 2, 1e-3);
  // Fit the front view of the box (the patient faces the viewer from +Z, +Y is up).
  const tanV = Math.tan(THREE.MathUtils.degToRad(camera.fov) / 2);
  const tanH = tanV * camera.aspect;
  const distance = 1.1 * Math.max(size.y / 2 / tanV, size.x / 2 / tanH, 1e-3) + size.z / 2;
  const direction = new THREE.Vector3(0, 0.12, 1).normalize();
  camera.near = distance / 100;
  camera.far = (distance + radius) * 100;
  camera.updateProjectionMatrix();
  controls.minDistance = radius * 0.05;
  controls.maxDistance = distance * 8;
  home = {
    position: centre.clone().addScaledVector(direction, distance),
    target: centre.clone(),
  };
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

function prettify(name) {
  const text = name.replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

const isStructureNode = (o) => !!o.userData && o.userData.label != null;
const isMergedNode = (o) => !!o.userData && Array.isArray(o.userData.merged);

function meshesOf(root) {
  // The structure's meshes: on the node or its descendants, not inside another structure.
  const out = [];
  const visit = (o) => {
    if (o !== root && (isStructureNode(o) || isMergedNode(o))) return;
    if (o.isMesh) out.push(o);
    for (const child of o.children) visit(child);
  };
  visit(root);
  return out;
}

// Merged meshes (a profile's draw-call budget merged small structures of one system) keep
// each vertex's structure in a _LABEL attribute (three.js: geometry.attributes._label).
function vertexLabels(mesh) {
  return mesh.geometry.attributes._label || null;
}

function labelledVertices(mesh, label) {
  const labels = vertexLabels(mesh);
  const out = [];
  if (!labels) return out;
  for (let i = 0; i < labels.count; i++) if (Math.round(labels.getX(i)) === label) out.push(i);
  return out;
}

function swatchColour(s) {
  const colour = new THREE.Color(0.6, 0.6, 0.6);
  const mesh = s.meshes[0];
  if (!mesh) return colour;
  const material = Array.isArray(mesh.material) ? mesh.material[0] : mesh.material;
  if (material && material.color) colour.copy(material.color);
  const attr = mesh.geometry.attributes.color;
  if (attr && material && material.vertexColors) {
    // Mean vertex colour, with the initial morph weights (palette morph) applied.
    const sum = [0, 0, 0];
    const indices = s.label == null ? null : labelledVertices(mesh, s.label);
    const count = indices ? indices.length : attr.count;
    if (count === 0) return colour;
    const step = Math.max(1, Math.floor(count / 64));
    let n = 0;
    const targets = mesh.geometry.morphAttributes.color || [];
    const weights = mesh.morphTargetInfluences || [];
    const relative = mesh.geometry.morphTargetsRelative;
    for (let j = 0; j < count; j += step, n++) {
      const i = indices ? indices[j] : j;
      for (let c = 0; c < 3; c++) {
        let v = attr.getComponent(i, c);
        targets.forEach((target, k) => {
          const w = weights[k] || 0;
          v = relative ? v + w * target.getComponent(i, c) : v + w * (target.getComponent(i, c) - attr.getComponent(i, c));
        });
        sum[c] += v;
      }
    }
    colour.multiply(new THREE.Color(sum[0] / n, sum[1] / n, sum[2] / n));
  }
  return colour;
}

function systemOf(extras) {
  return typeof extras.system === 'string' && extras.system ? extras.system : 'other';
}

function displayOf(extras, name) {
  return typeof extras.display === 'string' && extras.display ? extras.display : prettify(name);
}

function buildStructureList(root) {
  root.traverse((o) => {
    if (isStructureNode(o)) {
      structures.set(o.name, {
        name: o.name,
        display: displayOf(o.userData, o.userData.name || o.name),
        system: systemOf(o.userData),
        extras: o.userData,
        object: o,
        meshes: meshesOf(o),
        label: null, // the whole node
        button: null,
        overlays: [],
      });
    } else if (isMergedNode(o)) {
      const meshes = meshesOf(o);
      for (const member of o.userData.merged) {
        if (!member || typeof member.name !== 'string' || typeof member.label !== 'number') continue;
        structures.set(member.name, {
          name: member.name,
          display: displayOf(member, member.name),
          system: systemOf(o.userData),
          extras: { system: systemOf(o.userData), ...member },
          object: o,
          meshes,
          label: member.label, // only the vertices with this _LABEL
          button: null,
          overlays: [],
        });
      }
    }
  });

  const bySystem = new Map();
  for (const s of structures.values()) {
    if (!bySystem.has(s.system)) bySystem.set(s.system, []);
    bySystem.get(s.system).push(s);
  }
  const rank = (sys) => (SYSTEM_ORDER.includes(sys) ? SYSTEM_ORDER.indexOf(sys) : SYSTEM_ORDER.length);
  const systems = [...bySystem.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

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

const overlayMaterials = {
  // Drawn where the structure is visible...
  front: new THREE.MeshBasicMaterial({
    color: HIGHLIGHT, transparent: true, opacity: 0.6, depthWrite: false,
    polygonOffset: true, polygonOffsetFactor: -1, polygonOffsetUnits: -4,
  }),
  // ...and faintly through whatever hides it (the body, other organs).
  xray: new THREE.MeshBasicMaterial({
    color: HIGHLIGHT, transparent: true, opacity: 0.25, depthWrite: false, depthTest: false,
  }),
};

function overlayFor(mesh, material, label) {
  // Shares the mesh's buffers, without morph attributes (the overlay is one flat colour);
  // for a structure merged into a bigger mesh, only the triangles carrying its label.
  const source = mesh.geometry;
  const geometry = new THREE.BufferGeometry();
  const labels = label == null ? null : vertexLabels(mesh);
  if (labels) {
    const triangles = [];
    const index = source.index;
    const n = index ? index.count : source.attributes.position.count;
    for (let i = 0; i + 2 < n; i += 3) {
      const a = index ? index.getX(i) : i;
      if (Math.round(labels.getX(a)) === label) {
        triangles.push(a, index ? index.getX(i + 1) : i + 1, index ? index.getX(i + 2) : i + 2);
      }
    }
    geometry.setIndex(triangles);
  } else {
    geometry.setIndex(source.index);
  }
  geometry.setAttribute('position', source.attributes.position);
  geometry.boundingBox = source.boundingBox;
  geometry.boundingSphere = source.boundingSphere;
  const overlay = new THREE.Mesh(geometry, material);
  overlay.raycast = () => {};
  overlay.renderOrder = 10;
  return overlay;
}

function select(name) {
  const next = name == null ? null : structures.get(name) || null;
  const previous = state.selected ? structures.get(state.selected) : null;
  if (previous) {
    for (const o of previous.overlays) {
      o.removeFromParent();
      o.geometry.dispose();
    }
    previous.overlays = [];
    previous.button.setAttribute('aria-pressed', 'false');
  }
  state.selected = next ? next.name : null;
  if (next) {
    for (const mesh of next.meshes) {
      for (const material of [overlayMaterials.front, overlayMaterials.xray]) {
        const overlay = overlayFor(mesh, material, next.label);
        mesh.add(overlay);
        next.overlays.push(overlay);
      }
    }
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

function shown(object) {
  for (let o = object; o; o = o.parent) if (!o.visible) return false;
  const material = Array.isArray(object.material) ? object.material[0] : object.material;
  return !material || material.visible !== false;
}

function structureOf(hit) {
  for (let o = hit.object; o; o = o.parent) {
    if (isStructureNode(o)) return structures.get(o.name) || null;
    if (isMergedNode(o)) {
      const labels = vertexLabels(hit.object);
      if (!labels || !hit.face) return null;
      const label = Math.round(labels.getX(hit.face.a));
      const member = o.userData.merged.find((m) => m && m.label === label);
      return member ? structures.get(member.name) || null : null;
    }
  }
  return null;
}

function pick(clientX, clientY) {
  const rect = renderer.domElement.getBoundingClientRect();
  const pointer = new THREE.Vector2(
    ((clientX - rect.left) / rect.width) * 2 - 1,
    -((clientY - rect.top) / rect.height) * 2 + 1,
  );
  raycaster.setFromCamera(pointer, camera);
  const hits = raycaster.intersectObject(scene, true).filter((h) => h.object.isMesh && shown(h.object));
  // The body envelops everything: a structure seen through it wins over the body.
  let body = null;
  for (const hit of hits) {
    const s = structureOf(hit);
    if (!s) continue;
    if (s.system !== 'body') return s.name;
    body = body || s.name;
  }
  return body;
}

function structureBox(s) {
  if (s.label == null) return new THREE.Box3().setFromObject(s.object, true);
  const box = new THREE.Box3();
  const v = new THREE.Vector3();
  for (const mesh of s.meshes) {
    mesh.updateWorldMatrix(true, false);
    const position = mesh.geometry.attributes.position;
    for (const i of labelledVertices(mesh, s.label)) {
      box.expandByPoint(v.fromBufferAttribute(position, i).applyMatrix4(mesh.matrixWorld));
    }
  }
  return box;
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

function formatRealTime(seconds) {
  const minutes = seconds / 60;
  if (minutes < 120) return `${number.format(minutes)} min`;
  if (minutes < 48 * 60) return `${number.format(minutes / 60)} h`;
  return `${number.format(minutes / 1440)} days`;
}

function realTime() {
  if (!legend || !(legend.clip_s > 0) || !(legend.real_s > 0)) return null;
  return (time / legend.clip_s) * legend.real_s;
}

function interpolate(xs, ys, x) {
  if (!Array.isArray(xs) || !Array.isArray(ys) || xs.length === 0 || xs.length !== ys.length) return null;
  if (x <= xs[0]) return ys[0];
  for (let i = 1; i < xs.length; i++) {
    if (x <= xs[i]) {
      const f = (x - xs[i - 1]) / (xs[i] - xs[i - 1] || 1);
      return ys[i - 1] + f * (ys[i] - ys[i - 1]);
    }
  }
  return ys[ys.length - 1];
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
  const loader = new GLTFLoader();
  loader.setMeshoptDecoder(MeshoptDecoder);
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

// three.js r187 compiles no shader for a mesh whose morph targets morph only COLOR_0 (the
// palette morph): its morph uniforms are declared only with position morphs. Zero position
// deltas (relative targets: no-ops) make it compile. Shared geometries are patched once.
function patchColourOnlyMorphs(root) {
  const patched = new Set();
  root.traverse((o) => {
    const g = o.geometry;
    if (!g || patched.has(g)) return;
    const colours = g.morphAttributes.color;
    if (colours && colours.length > 0 && !g.morphAttributes.position) {
      const base = g.attributes.position;
      // Relative targets (what GLTFLoader makes) add deltas: zeros. Absolute ones replace
      // the base: copies of it.
      g.morphAttributes.position = colours.map(() => (g.morphTargetsRelative
        ? new THREE.BufferAttribute(new Float32Array(base.count * 3), 3)
        : base.clone()));
      patched.add(g);
    }
  });
}

// ---------------------------------------------------------------------------- legend

function linearToSrgb(c) {
  const v = Math.min(Math.max(c, 0), 1);
  return v <= 0.0031308 ? 12.92 * v : 1.055 * Math.pow(v, 1 / 2.4) - 0.055;
}

function setupLegend() {
  if (!legend || !Array.isArray(legend.palette) || legend.palette.length < 2) return;
  const stops = legend.palette.map((rgb, i) => {
    const [r, g, b] = rgb.map((c) => Math.round(linearToSrgb(c) * 255));
    return `rgb(${r}, ${g}, ${b}) ${((i / (legend.palette.length - 1)) * 100).toFixed(1)}%`;
  });
  const bar = $('legend-bar');
  bar.style.background = `linear-gradient(to right, ${stops.join(', ')})`;
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
  const arkit = root.userData && root.userData.arkit;
  legend = arkit && arkit.legend && typeof arkit.legend === 'object' ? arkit.legend : null;
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

// Test page for web_ar/classroom/features/ar.js: a minimal three.js hologram view (as the classroom
// viewer sets it up) entering WebXR on the npm `iwer` runtime (an emulated Meta Quest 3)
// with `@iwer/sem` and a room capture fetched from this page's own server (no network).
//
// URL parameters: src (the GLB), device = quest3 (default) | hololens (an immersive-vr-only
// headset with an additive display and no hit-test, the HoloLens 2 fallback), room =
// office_small (default) | none (an empty capture: hit-test finds nothing), fallback_ms
// (ar.js's options.fallbackDelayMs).
//
// window.__xrtest drives the emulated device the way a person would (poses, trigger,
// squeeze) through iwer's device API; it never calls into ar.js beyond its public API.

import * as THREE from 'three';
import { XRDevice, metaQuest3 } from 'iwer';
import { SyntheticEnvironmentModule } from '@iwer/sem';
import officeSmallUrl from '@iwer/sem/captures/office_small.json?url';

import { createLoader, isStructureNode, patchColourOnlyMorphs, shown } from '../lib/hologram.js';
import { createAR } from '../classroom/features/ar.js';
import { directionsTowards, pressAndRelease, setPose } from './aim.js';

const params = new URLSearchParams(location.search);
const src = params.get('src');
const deviceName = params.get('device') || 'quest3';
const room = params.get('room') || 'office_small';
const fallbackMs = params.has('fallback_ms') ? Number(params.get('fallback_ms')) : undefined;
const statusEl = document.getElementById('status');
const enterButton = document.getElementById('enter');

const hooks = {
  ready: false,
  error: null,
  device: deviceName,
  room,
  frames: 0, // frames drawn in an XR session
  selections: [],
};
window.__xrtest = hooks;

function fail(message) {
  hooks.error = message;
  statusEl.textContent = message;
  console.error(`xrtest: ${message}`);
}

// ---------------------------------------------------------------------------- the device

// HoloLens 2 as Edge offers it: immersive-vr only (its AR), additive display, no hit-test.
const hololensLike = {
  ...metaQuest3,
  name: 'HoloLens-like (test)',
  supportedSessionModes: ['inline', 'immersive-vr'],
  supportedFeatures: metaQuest3.supportedFeatures.filter((f) => !['hit-test', 'plane-detection', 'mesh-detection', 'depth-sensing'].includes(f)),
  environmentBlendModes: { 'immersive-vr': 'additive' },
};
const device = new XRDevice(deviceName === 'hololens' ? hololensLike : metaQuest3, { stereoEnabled: false });
// Desktop Chromium has a navigator.xr of its own (with no device behind it): replace it.
device.installRuntime({ forceInstall: true });
if (deviceName !== 'hololens') device.installSEM(SyntheticEnvironmentModule);
hooks.xrDevice = device;

async function loadRoom() {
  if (!device.sem) return null;
  if (room === 'none') {
    device.sem.loadEnvironment({ type: 'scene', version: 1, spatialEntities: [] });
    return 0;
  }
  if (room !== 'office_small') throw new Error(`unknown room ${room}`);
  const response = await fetch(officeSmallUrl);
  if (!response.ok) throw new Error(`room capture: HTTP ${response.status}`);
  const capture = await response.json();
  device.sem.loadEnvironment(capture);
  return capture.spatialEntities.length;
}

// ---------------------------------------------------------------------------- three.js

const container = document.getElementById('view');
const renderer = new THREE.WebGLRenderer({ antialias: false });
renderer.setPixelRatio(1);
container.append(renderer.domElement);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x1f2733);
const camera = new THREE.PerspectiveCamera(40, 1, 0.01, 100);
camera.position.set(0, 1, 3);
scene.add(camera);
scene.add(new THREE.HemisphereLight(0xf0f4ff, 0x3a3f48, 1.6));
const headlight = new THREE.DirectionalLight(0xffffff, 2.0);
headlight.position.set(0.5, 1, 1);
headlight.target.position.set(0, 0, -1);
camera.add(headlight, headlight.target);

function resize() {
  const w = Math.max(1, container.clientWidth);
  const h = Math.max(1, container.clientHeight);
  if (!renderer.xr.isPresenting) renderer.setSize(w, h, false);
  camera.aspect = w / h;
  camera.updateProjectionMatrix();
}
window.addEventListener('resize', resize);
resize();

const ar = createAR({
  renderer,
  scene,
  camera,
  root: null, // set when the GLB is loaded
  onSelect: (name, display) => hooks.selections.push({ name, display }),
  options: fallbackMs !== undefined ? { fallbackDelayMs: fallbackMs } : {},
});
hooks.ar = ar;
hooks.scene = scene;

let frameWaiters = [];
renderer.setAnimationLoop((time, frame) => {
  ar.update(time, frame);
  renderer.render(scene, camera);
  if (frame) {
    hooks.frames += 1;
    const due = frameWaiters.filter((w) => hooks.frames >= w.until);
    frameWaiters = frameWaiters.filter((w) => hooks.frames < w.until);
    due.forEach((w) => w.resolve(hooks.frames));
  }
});

// ---------------------------------------------------------------------------- hooks

hooks.waitFrames = (n = 1) => new Promise((resolve) => frameWaiters.push({ until: hooks.frames + n, resolve }));

hooks.enter = async () => {
  await ar.enter();
  return { ...ar.state };
};
hooks.exit = () => ar.exit();

/** Puts the headset at ``from`` looking at ``to`` (metres, the XR space). */
hooks.setHeadset = (from, to) => setPose(device, from, to);

/** Puts a controller (``right``/``left``) at ``from`` aiming its ray at ``to``. */
hooks.aim = (hand, from, to) => setPose(device.controllers[hand], from, to);

/** Presses and releases a controller button (``trigger`` = select, ``squeeze``). */
hooks.press = (hand = 'right', button = 'trigger') => pressAndRelease(device.controllers[hand], button, hooks.waitFrames);
hooks.hold = (hand, button, value) => device.controllers[hand].updateButtonValue(button, value);

function hologramRoot() {
  return hooks.root || null;
}

/** The hologram's world box (its shown meshes), or null. */
hooks.hologramBox = () => {
  const root = hologramRoot();
  if (!root) return null;
  root.updateMatrixWorld(true);
  const box = new THREE.Box3();
  root.traverse((o) => {
    if (o.isMesh && shown(o) && o.renderOrder < 10) box.expandByObject(o, true);
  });
  return box.isEmpty() ? null : { min: box.min.toArray(), max: box.max.toArray() };
};

function structureNode(name) {
  let found = null;
  hologramRoot().traverse((o) => {
    if (!found && isStructureNode(o) && o.name === name) found = o;
  });
  return found;
}

function structureOf(object) {
  for (let o = object; o; o = o.parent) if (isStructureNode(o)) return o.name;
  return null;
}

/**
 * Aims controller ``hand`` at structure ``name`` of the placed hologram from ``distance``
 * metres, from the first direction (front first) along which that structure is the first
 * thing hit other than the body: {from, to}, or null.
 */
hooks.aimAtStructure = (name, hand = 'right', distance = 0.35) => {
  const node = structureNode(name);
  if (!node) return null;
  hologramRoot().updateMatrixWorld(true);
  const centre = new THREE.Box3().setFromObject(node, true).getCenter(new THREE.Vector3());
  const directions = directionsTowards(new THREE.Vector3(...device.position.vec3), centre);
  const raycaster = new THREE.Raycaster();
  for (const d of directions) {
    if (d.y < -0.2) continue; // not from under the table
    const from = centre.clone().addScaledVector(d, distance);
    raycaster.set(from, d.clone().negate());
    const hits = raycaster.intersectObject(hologramRoot(), true).filter((h) => h.object.isMesh && shown(h.object));
    const first = hits.map((h) => structureOf(h.object)).find((s) => s && s !== 'body');
    if (first === name) {
      setPose(device.controllers[hand], from.toArray(), centre.toArray());
      return { from: from.toArray(), to: centre.toArray() };
    }
  }
  return null;
};

// ---------------------------------------------------------------------------- start

async function main() {
  if (!src) throw new Error('no ?src= given');
  const [gltf, entities] = await Promise.all([createLoader().loadAsync(src), loadRoom(), ar.ready]);
  const root = gltf.scene;
  patchColourOnlyMorphs(root);
  scene.add(root);
  hooks.root = root;
  ar.setHologram(root);
  hooks.roomEntities = entities;
  enterButton.disabled = !ar.state.supported;
  enterButton.textContent = ar.state.mode === 'immersive-vr' ? 'Enter VR' : 'Enter AR';
  enterButton.addEventListener('click', () => ar.enter().catch((err) => fail(String(err))));
  statusEl.textContent = ar.state.supported ? `${device.name}: ${ar.state.mode}` : 'No immersive session here';
  hooks.ready = true;
}

main().catch((err) => fail(err && err.message ? err.message : String(err)));

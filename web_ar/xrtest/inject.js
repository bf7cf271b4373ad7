// An init script for a real page (Playwright's context.add_init_script), test-only: runs
// before the page's own scripts and makes navigator.xr the npm `iwer` runtime (an emulated
// Meta Quest 3) with `@iwer/sem` and the `office_small` room capture (inlined: no
// request). window.__xrtest drives the device the way a person would (headset and
// controller poses, trigger) through iwer's device API. The page's three.js scenes are
// observed through three's own __THREE_DEVTOOLS__ hook (read only), so a controller can be
// aimed at a named structure of the placed hologram. Built by vite.xrtest.config.mjs as an
// IIFE into tests/web/xrtest_build/inject.js; never shipped.

import * as THREE from 'three';
import { XRDevice, metaQuest3 } from 'iwer';
import { SyntheticEnvironmentModule } from '@iwer/sem';
import officeSmall from '@iwer/sem/captures/office_small.json';
import { directionsTowards, pressAndRelease, setPose } from './aim.js';

const hooks = { ready: false, error: null, frames: 0, scenes: [] };
window.__xrtest = hooks;

// three.js announces each Scene and WebGLRenderer it makes to a devtools hook, if present.
if (typeof window.__THREE_DEVTOOLS__ === 'undefined') {
  const devtools = new EventTarget();
  devtools.addEventListener('observe', (e) => {
    if (e.detail && e.detail.isScene) hooks.scenes.push(e.detail);
  });
  window.__THREE_DEVTOOLS__ = devtools;
}

// Options set by an earlier init script: window.__xrtestOptions = {blendMode: 'additive'}
// makes the headset a see-through display (as HoloLens 2: black shows as transparent).
const options = window.__xrtestOptions || {};
const config = options.blendMode
  ? { ...metaQuest3, environmentBlendModes: { ...metaQuest3.environmentBlendModes, 'immersive-ar': options.blendMode } }
  : metaQuest3;
const device = new XRDevice(config, { stereoEnabled: false });
device.installRuntime({ forceInstall: true }); // Chromium's own navigator.xr has no device
device.installSEM(SyntheticEnvironmentModule);
device.sem.loadEnvironment(officeSmall);
hooks.xrDevice = device;
hooks.roomEntities = officeSmall.spatialEntities.length;

// Frames of the XR session (counted on iwer's session loop).
const origRAF = XRSession.prototype.requestAnimationFrame;
let frameWaiters = [];
function tick() {
  hooks.frames += 1;
  const due = frameWaiters.filter((w) => hooks.frames >= w.until);
  frameWaiters = frameWaiters.filter((w) => hooks.frames < w.until);
  due.forEach((w) => w.resolve(hooks.frames));
}
if (origRAF) {
  XRSession.prototype.requestAnimationFrame = function (cb) {
    return origRAF.call(this, (t, frame) => {
      tick();
      cb(t, frame);
    });
  };
}
// Resolves after n session frames, or when the session ends (no frames will come).
hooks.waitFrames = (n = 1) => new Promise((resolve) => frameWaiters.push({ until: hooks.frames + n, resolve }));
const origEnd = XRSession.prototype.end;
if (origEnd) {
  XRSession.prototype.end = function (...args) {
    const ended = origEnd.apply(this, args);
    const waiting = frameWaiters;
    frameWaiters = [];
    waiting.forEach((w) => w.resolve(hooks.frames));
    return ended;
  };
}

/** Ends the session from the device, as a headset's system menu does (in a session the
 * page is covered by the emulated display, as on a headset). */
hooks.endSession = () => (device.activeSession ? device.activeSession.end() : null);
hooks.setHeadset = (from, to) => setPose(device, from, to);
hooks.aim = (hand, from, to) => setPose(device.controllers[hand], from, to);
hooks.press = (hand = 'right', button = 'trigger') => pressAndRelease(device.controllers[hand], button, hooks.waitFrames);
/** Holds (1) or lets go of (0) ``button``, then waits three session frames (a drag in between). */
hooks.hold = async (hand = 'right', button = 'trigger', value = 1) => {
  device.controllers[hand].updateButtonValue(button, value);
  await hooks.waitFrames(3);
};
/** Moves controller ``hand`` by ``delta`` ([x, y, z] m, world), keeping its orientation. */
hooks.move = (hand, delta) => {
  const p = device.controllers[hand].position;
  p.set(p.x + delta[0], p.y + delta[1], p.z + delta[2]);
};

// The page's objects, duck-typed (the page bundles its own three.js).
const isStructure = (o) => !!o.userData && o.userData.label != null;
function shown(object) {
  for (let o = object; o; o = o.parent) if (!o.visible) return false;
  const material = Array.isArray(object.material) ? object.material[0] : object.material;
  return !material || material.visible !== false;
}
function structureOf(object) {
  for (let o = object; o; o = o.parent) if (isStructure(o)) return o.name;
  return null;
}
/** The structure node ``name`` in a scene being presented (its world box non-empty). */
function findStructure(name) {
  for (const scene of hooks.scenes) {
    let found = null;
    scene.traverse((o) => {
      if (!found && isStructure(o) && o.name === name) found = o;
    });
    if (found) return { scene, node: found };
  }
  return null;
}
function worldBox(node) {
  node.updateWorldMatrix(true, true);
  const box = new THREE.Box3();
  node.traverse((o) => {
    if (!o.isMesh || !o.geometry) return;
    if (!o.geometry.boundingBox) o.geometry.computeBoundingBox();
    const b = new THREE.Box3().copy(o.geometry.boundingBox).applyMatrix4(o.matrixWorld);
    box.union(b);
  });
  return box;
}

/** Aims controller ``hand`` at structure ``name`` from ``distance`` metres, from the first
 * direction (the viewer's side first) along which it is the first structure hit other than
 * the body: {from, to}, or null. */
hooks.aimAtStructure = (name, hand = 'right', distance = 0.35) => {
  const hit = findStructure(name);
  if (!hit) return null;
  const { scene, node } = hit;
  const centre = worldBox(node).getCenter(new THREE.Vector3());
  const directions = directionsTowards(new THREE.Vector3(...device.position.vec3), centre);
  const raycaster = new THREE.Raycaster();
  for (const d of directions) {
    if (d.y < -0.2) continue; // not from under the table
    const from = centre.clone().addScaledVector(d, distance);
    raycaster.set(from, d.clone().negate());
    const hits = raycaster.intersectObject(scene, true).filter((h) => h.object.isMesh && shown(h.object));
    // The first thing hit that takes a select: an in-scene button, or a structure but the body.
    const first = hits.map((h) => (h.object.userData.arkitButton ? 'button' : structureOf(h.object)))
      .find((s) => s && s !== 'body');
    if (first === name) {
      setPose(device.controllers[hand], from.toArray(), centre.toArray());
      return { from: from.toArray(), to: centre.toArray() };
    }
  }
  return null;
};

/** The first object called ``name`` in the page's scenes, or null. */
function findObject(name) {
  for (const scene of hooks.scenes) {
    const o = scene.getObjectByName(name);
    if (o) return o;
  }
  return null;
}

/** Where object ``name`` is: {position, scale (world), visible, box: {min, max}} or null. */
hooks.objectInfo = (name) => {
  const o = findObject(name);
  if (!o) return null;
  o.updateWorldMatrix(true, false);
  const position = new THREE.Vector3();
  const quaternion = new THREE.Quaternion();
  const scale = new THREE.Vector3();
  o.matrixWorld.decompose(position, quaternion, scale);
  const box = worldBox(o);
  return {
    position: position.toArray(), scale: scale.toArray(), visible: shown(o),
    box: box.isEmpty() ? null : { min: box.min.toArray(), max: box.max.toArray() },
  };
};

/** The world box of structure ``name`` of the placed hologram: {min, max} or null. */
hooks.structureBox = (name) => {
  const hit = findStructure(name);
  if (!hit) return null;
  const box = worldBox(hit.node);
  return { min: box.min.toArray(), max: box.max.toArray() };
};

/** Aims controller ``hand`` at the middle of object ``name`` (an in-scene button) from
 * ``distance`` metres on the headset's side: {from, to} or null. */
hooks.aimAtObject = (name, hand = 'right', distance = 0.3) => {
  const o = findObject(name);
  if (!o) return null;
  o.updateWorldMatrix(true, false);
  const to = new THREE.Vector3().setFromMatrixPosition(o.matrixWorld);
  const head = new THREE.Vector3(...device.position.vec3);
  const from = to.clone().add(head.clone().sub(to).setLength(distance));
  setPose(device.controllers[hand], from.toArray(), to.toArray());
  return { from: from.toArray(), to: to.toArray() };
};

hooks.headset = () => device.position.vec3;

hooks.ready = true;

// Hologram helpers shared by the preview page (web_ar/preview) and the classroom pages
// (web_ar/classroom): loading a GLB (meshopt, bundled decoder), finding its structures
// (structure nodes and merged meshes with a per-vertex _LABEL), highlight overlays,
// framing, picking, the palette-morph fix and the colour legend. No DOM here beyond what
// three.js needs: each page builds its own panel.

import * as THREE from 'three';
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js';
import { MeshoptDecoder } from 'three/examples/jsm/libs/meshopt_decoder.module.js';

export const BACKGROUND = 0x1f2733; // style.css --bg (preview and classroom)
export const HIGHLIGHT = 0xffd54a; // style.css --accent
export const SYSTEM_ORDER = ['body', 'skeletal', 'respiratory', 'cardiovascular', 'digestive', 'urinary',
  'nervous', 'endocrine', 'reproductive', 'lymphatic', 'other'];

/** A GLTFLoader that reads EXT_meshopt_compression with the bundled decoder (no network). */
export function createLoader() {
  const loader = new GLTFLoader();
  loader.setMeshoptDecoder(MeshoptDecoder);
  return loader;
}

/** A plain-words sentence for a failed GLB load of ``src``. */
export function loadErrorText(err, src) {
  const status = err && err.response && err.response.status;
  if (status === 404) return `The hologram file was not found at “${src}”.`;
  if (status) return `The server answered “${status}” when asked for the hologram “${src}”.`;
  const message = String((err && err.message) || err || '');
  if (err instanceof TypeError && /fetch|network/i.test(message)) {
    return 'The hologram could not be downloaded: the server did not answer. Is it still running?';
  }
  return 'This file could not be shown as a hologram: it is not a glTF/GLB file this page can read.';
}

// ---------------------------------------------------------------------------- structures

export function prettify(name) {
  const text = String(name).replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export const isStructureNode = (o) => !!o.userData && o.userData.label != null;
export const isMergedNode = (o) => !!o.userData && Array.isArray(o.userData.merged);

/** The structure's meshes: on the node or its descendants, not inside another structure. */
export function meshesOf(root) {
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
export function vertexLabels(mesh) {
  return mesh.geometry.attributes._label || null;
}

export function labelledVertices(mesh, label) {
  const labels = vertexLabels(mesh);
  const out = [];
  if (!labels) return out;
  for (let i = 0; i < labels.count; i++) if (Math.round(labels.getX(i)) === label) out.push(i);
  return out;
}

export function systemOf(extras) {
  return typeof extras.system === 'string' && extras.system ? extras.system : 'other';
}

export function displayOf(extras, name) {
  return typeof extras.display === 'string' && extras.display ? extras.display : prettify(name);
}

/**
 * Every structure under ``root``: name -> {name, display, system, extras, object, meshes,
 * label} where ``label`` is null for a structure node (the whole node) and the _LABEL value
 * for a member of a merged mesh (only its vertices).
 */
export function collectStructures(root) {
  const structures = new Map();
  root.traverse((o) => {
    if (isStructureNode(o)) {
      structures.set(o.name, {
        name: o.name,
        display: displayOf(o.userData, o.userData.name || o.name),
        system: systemOf(o.userData),
        extras: o.userData,
        object: o,
        meshes: meshesOf(o),
        label: null,
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
          label: member.label,
        });
      }
    }
  });
  return structures;
}

/** Systems in teaching order (SYSTEM_ORDER, then the rest alphabetically). */
export function sortSystems(systems) {
  const rank = (sys) => (SYSTEM_ORDER.includes(sys) ? SYSTEM_ORDER.indexOf(sys) : SYSTEM_ORDER.length);
  return [...systems].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The mean colour a structure shows (vertex colours with the current morph weights). */
export function swatchColour(s) {
  const colour = new THREE.Color(0.6, 0.6, 0.6);
  const mesh = s.meshes[0];
  if (!mesh) return colour;
  const material = Array.isArray(mesh.material) ? mesh.material[0] : mesh.material;
  if (material && material.color) colour.copy(material.color);
  const attr = mesh.geometry.attributes.color;
  if (attr && material && material.vertexColors) {
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

/** World-space bounding box of one structure (only its labelled vertices when merged). */
export function structureBox(s) {
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

// ---------------------------------------------------------------------------- highlight

/** The two overlay materials of a highlight: where the structure is visible, and faintly
 * through whatever hides it (the body, other organs). */
export function highlightMaterials(colour = HIGHLIGHT, { front = 0.6, xray = 0.25 } = {}) {
  return {
    front: new THREE.MeshBasicMaterial({
      color: colour, transparent: true, opacity: front, depthWrite: false,
      polygonOffset: true, polygonOffsetFactor: -1, polygonOffsetUnits: -4,
    }),
    xray: new THREE.MeshBasicMaterial({
      color: colour, transparent: true, opacity: xray, depthWrite: false, depthTest: false,
    }),
  };
}

/** An overlay mesh sharing ``mesh``'s buffers, without morph attributes (one flat colour);
 * for a structure merged into a bigger mesh, only the triangles carrying its label. */
export function overlayFor(mesh, material, label) {
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

/** Adds highlight overlays to structure ``s``; returns them (remove with removeOverlays). */
export function addOverlays(s, materials) {
  const out = [];
  for (const mesh of s.meshes) {
    for (const material of [materials.front, materials.xray]) {
      const overlay = overlayFor(mesh, material, s.label);
      mesh.add(overlay);
      out.push(overlay);
    }
  }
  return out;
}

export function removeOverlays(overlays) {
  for (const o of overlays) {
    o.removeFromParent();
    o.geometry.dispose();
  }
}

// ---------------------------------------------------------------------------- framing

/** Views of the patient (glTF frame: +Y superior, +Z anterior, +X the patient's left). */
export const VIEWS = {
  front: [0, 0.12, 1],
  back: [0, 0.12, -1],
  left: [1, 0.12, 0],
  right: [-1, 0.12, 0],
  top: [0, 1, 0.02],
  bottom: [0, -1, 0.02],
};

/**
 * Where to put ``camera`` to fit ``box`` seen from ``direction`` (a unit vector from the
 * target towards the eye), divided by ``zoom``: {position, target, near, far, radius,
 * distance}. Does not move the camera.
 */
export function fitBox(camera, box, direction = new THREE.Vector3(...VIEWS.front).normalize(), zoom = 1) {
  const size = box.getSize(new THREE.Vector3());
  const centre = box.getCenter(new THREE.Vector3());
  const radius = Math.max(size.length() / 2, 1e-3);
  const tanV = Math.tan(THREE.MathUtils.degToRad(camera.fov) / 2);
  const tanH = tanV * camera.aspect;
  // The box seen along the view's main axis: the other two axes are the screen's (the
  // vertical one is Y unless looking from above or below).
  const axes = ['x', 'y', 'z'];
  const main = axes.reduce((a, b) => (Math.abs(direction[b]) > Math.abs(direction[a]) ? b : a));
  const vertical = main === 'y' ? 'z' : 'y';
  const horizontal = axes.find((a) => a !== main && a !== vertical);
  const distance = (1.1 * Math.max(size[vertical] / 2 / tanV, size[horizontal] / 2 / tanH, 1e-3) + size[main] / 2) /
    Math.max(zoom, 1e-3);
  return {
    position: centre.clone().addScaledVector(direction, distance),
    target: centre,
    near: Math.max(distance / 100, 1e-4),
    far: (distance + radius) * 100,
    radius,
    distance,
  };
}

// ---------------------------------------------------------------------------- picking

/** The structure a raycast hit belongs to, or null. */
export function structureOfHit(hit, structures) {
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

export function shown(object) {
  for (let o = object; o; o = o.parent) if (!o.visible) return false;
  const material = Array.isArray(object.material) ? object.material[0] : object.material;
  return !material || material.visible !== false;
}

/** The structure under the ray: one seen through the body wins over the body. ``keep(hit)``,
 * when given, drops hits it refuses (the part a slice plane clips away). */
export function pickStructure(raycaster, scene, structures, keep = null) {
  const hits = raycaster.intersectObject(scene, true)
    .filter((h) => h.object.isMesh && shown(h.object) && !h.object.userData.arkitSlice && (!keep || keep(h)));
  let body = null;
  for (const hit of hits) {
    const s = structureOfHit(hit, structures);
    if (!s) continue;
    if (s.system !== 'body') return s.name;
    body = body || s.name;
  }
  return body;
}

// ---------------------------------------------------------------------------- palette morph

// three.js r187 compiles no shader for a mesh whose morph targets morph only COLOR_0 (the
// palette morph): its morph uniforms are declared only with position morphs. Zero position
// deltas (relative targets: no-ops) make it compile. Shared geometries are patched once.
export function patchColourOnlyMorphs(root) {
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

/** ``scene.extras.arkit.tracer`` of a loaded root ({tracer, nuclide, half_life_s,
 * activity_bq}; half_life_s from ICRP-107 at build time), or null. */
export function tracerOf(root) {
  const arkit = root && root.userData && root.userData.arkit;
  return arkit && arkit.tracer && typeof arkit.tracer === 'object' ? arkit.tracer : null;
}

/** ``scene.extras.arkit.legend`` of a loaded root, or null. With a
 * ``scene.extras.arkit.tracer``, a shallow copy that also carries its ``nuclide`` and
 * ``half_life_s`` (the legend's own keys win, the file's object is left as it is), so
 * whoever holds the legend can decay-correct the physical activity (classroom/features/tracer.js). */
export function legendOf(root) {
  const arkit = root && root.userData && root.userData.arkit;
  const legend = arkit && arkit.legend && typeof arkit.legend === 'object' ? arkit.legend : null;
  const tracer = tracerOf(root);
  if (!legend || !tracer) return legend;
  const extra = {};
  if (typeof tracer.nuclide === 'string') extra.nuclide = tracer.nuclide;
  if (Number.isFinite(tracer.half_life_s) && tracer.half_life_s > 0) extra.half_life_s = tracer.half_life_s;
  return { ...extra, ...legend };
}

/** Animation clip seconds for ``realSeconds`` after administration (legend: real time maps
 * linearly onto the clip), clamped to the clip; null without a usable legend. */
export function clipTime(legend, realSeconds) {
  if (!legend || !(legend.clip_s > 0) || !(legend.real_s > 0) || !Number.isFinite(realSeconds)) return null;
  return Math.min(Math.max((realSeconds / legend.real_s) * legend.clip_s, 0), legend.clip_s);
}

export function linearToSrgb(c) {
  const v = Math.min(Math.max(c, 0), 1);
  return v <= 0.0031308 ? 12.92 * v : 1.055 * Math.pow(v, 1 / 2.4) - 0.055;
}

/** A CSS linear-gradient of the legend's palette (sRGB), or null. */
export function paletteGradient(legend) {
  if (!legend || !Array.isArray(legend.palette) || legend.palette.length < 2) return null;
  const stops = legend.palette.map((rgb, i) => {
    const [r, g, b] = rgb.map((c) => Math.round(linearToSrgb(c) * 255));
    return `rgb(${r}, ${g}, ${b}) ${((i / (legend.palette.length - 1)) * 100).toFixed(1)}%`;
  });
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

export function interpolate(xs, ys, x) {
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

const number = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

/** Seconds after administration in minutes, hours or days. */
export function formatRealTime(seconds) {
  const minutes = seconds / 60;
  if (minutes < 120) return `${number.format(minutes)} min`;
  if (minutes < 48 * 60) return `${number.format(minutes / 60)} h`;
  return `${number.format(minutes / 1440)} days`;
}

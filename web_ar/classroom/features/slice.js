// The fused PET/CT slice: a plane through the hologram that clips it on one side and shows
// the hologram's CT and PET on it (docs/client.md#the-fused-slice).
//
// The volumes are the bundle's NRRD assets (lesson.json holograms[].volumes, packed by
// arkit_py/scene/volumes.py): grids in the hologram's own frame (glTF metres, i along +X,
// j along +Y, k along +Z), unsigned 16-bit with value = raw * scale + offset. Each is one
// 3D texture of two 8-bit channels (high and low byte): 8-bit textures filter linearly on
// every WebGL 2 device (float ones do not on iOS), and since filtering is linear, the two
// filtered bytes recombine to the filtered 16-bit value.
//
// On the plane: the CT in grey through a window (level, width: soft tissue, lung, bone), the
// PET in the hologram's palette and window (the legend's quantity: SUV or kBq/mL, so the
// plane and the organs read alike), mixed linearly from CT only (blend 0) to PET only
// (blend 1). A dynamic PET's frames are interpolated linearly at the timeline's time. What
// lies on the positive side of the plane's normal (RAS: right of a sagittal plane, in front
// of a coronal one, above an axial one) is clipped away, so the plane faces whoever looks
// from that side.

import * as THREE from 'three';
import { NRRDLoader } from 'three/examples/jsm/loaders/NRRDLoader.js';

/** CT window presets: [level, width] in HU (arkit_py/lesson/slicing.py CT_WINDOWS). */
export const CT_WINDOWS = Object.freeze({ soft_tissue: [40, 400], lung: [-600, 1500], bone: [400, 1800] });
/** The RAS axis each standard plane is normal to. */
export const AXES = Object.freeze({ sagittal: 0, coronal: 1, axial: 2 });
const CLIP_GAP_M = 0.0005;
const SLIDE_SIDEWAYS = THREE.MathUtils.degToRad(30); // a plane seen more face-on than this is pushed, not slid

const VERTEX = /* glsl */ `
uniform mat4 planeToHolo;
out vec3 vHolo;
void main() {
  vHolo = (planeToHolo * vec4(position, 1.0)).xyz;
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
}`;

const FRAGMENT = /* glsl */ `
precision highp float;
precision highp sampler3D;
uniform sampler3D ctTex;
uniform sampler3D petTex0;
uniform sampler3D petTex1;
uniform bool hasCt;
uniform bool hasPet;
uniform vec3 ctMin;
uniform vec3 ctSize;
uniform vec3 petMin;
uniform vec3 petSize;
uniform float ctScale;
uniform float ctOffset;
uniform vec2 ctWindow;   // level, width (HU)
uniform vec2 petScale;   // raw -> display quantity, frames 0 and 1
uniform float petMix;    // 0: frame 0, 1: frame 1
uniform vec2 petWindow;  // min, max (display quantity)
uniform float blend;     // 0: CT only, 1: PET only
uniform vec3 palette[8]; // linear RGB stops
in vec3 vHolo;
layout(location = 0) out highp vec4 fragColor;

float raw16(sampler3D t, vec3 uvw) {
  vec2 rg = texture(t, uvw).rg;
  return rg.r * 65280.0 + rg.g * 255.0;
}
bool inside(vec3 uvw) {
  return all(greaterThanEqual(uvw, vec3(0.0))) && all(lessThanEqual(uvw, vec3(1.0)));
}
vec3 srgbToLinear(vec3 c) {
  return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(vec3(0.04045), c));
}
vec3 paletteAt(float u) {
  float x = clamp(u, 0.0, 1.0) * 7.0;
  int i = int(min(floor(x), 6.0));
  return mix(palette[i], palette[i + 1], x - float(i));
}
void main() {
  vec3 cu = (vHolo - ctMin) / ctSize;
  vec3 pu = (vHolo - petMin) / petSize;
  bool inCt = hasCt && inside(cu);
  bool inPet = hasPet && inside(pu);
  if (!inCt && !inPet) discard;
  vec3 grey = vec3(0.0);
  if (inCt) {
    float hu = raw16(ctTex, cu) * ctScale + ctOffset;
    float g = clamp((hu - (ctWindow.x - 0.5 * ctWindow.y)) / ctWindow.y, 0.0, 1.0);
    grey = srgbToLinear(vec3(g)); // the window is a display grey: its midpoint shows as sRGB 50 %
  }
  vec3 pet = palette[0];
  if (inPet) {
    float v = mix(raw16(petTex0, pu) * petScale.x, raw16(petTex1, pu) * petScale.y, petMix);
    pet = paletteAt((v - petWindow.x) / (petWindow.y - petWindow.x));
  }
  float b = hasCt ? (hasPet ? blend : 0.0) : 1.0;
  fragColor = linearToOutputTexel(vec4(mix(grey, pet, b), 1.0)); // sRGB out, as the organs
}`;

/** An NRRD asset's voxels (Uint16Array, i fastest), checked against the lesson's shape. */
async function loadVolume(asset, shape) {
  const response = await fetch(`/${asset.path}`);
  if (!response.ok) throw new Error(`${asset.path}: HTTP ${response.status}`);
  const volume = new NRRDLoader().parse(await response.arrayBuffer());
  const n = shape[0] * shape[1] * shape[2];
  if (!(volume.data instanceof Uint16Array) || volume.data.length !== n) {
    throw new Error(`${asset.path}: not ${shape.join(' × ')} unsigned 16-bit voxels`);
  }
  return volume.data;
}

/** A 3D texture of two 8-bit channels (high byte, low byte) from 16-bit voxels. */
function texture16(data, shape) {
  const bytes = new Uint8Array(data.length * 2);
  for (let i = 0; i < data.length; i++) {
    bytes[2 * i] = data[i] >> 8;
    bytes[2 * i + 1] = data[i] & 255;
  }
  const t = new THREE.Data3DTexture(bytes, shape[0], shape[1], shape[2]);
  t.format = THREE.RGFormat;
  t.type = THREE.UnsignedByteType;
  t.minFilter = THREE.LinearFilter;
  t.magFilter = THREE.LinearFilter;
  t.wrapS = t.wrapT = t.wrapR = THREE.ClampToEdgeWrapping;
  t.unpackAlignment = 1;
  t.needsUpdate = true;
  return t;
}

/** Trilinear value of 16-bit voxels ``data`` (i fastest) at texture coordinates ``uvw``, or null outside. */
export function sample16(data, shape, uvw) {
  if (uvw.some((u) => !(u >= 0 && u <= 1))) return null;
  const p = uvw.map((u, a) => Math.min(Math.max(u * shape[a] - 0.5, 0), shape[a] - 1));
  const i0 = p.map(Math.floor);
  const f = p.map((v, a) => v - i0[a]);
  const i1 = i0.map((v, a) => Math.min(v + 1, shape[a] - 1));
  const at = (i, j, k) => data[i + shape[0] * (j + shape[1] * k)];
  let out = 0;
  for (let c = 0; c < 8; c++) {
    const ii = c & 1 ? i1[0] : i0[0];
    const jj = c & 2 ? i1[1] : i0[1];
    const kk = c & 4 ? i1[2] : i0[2];
    const w = (c & 1 ? f[0] : 1 - f[0]) * (c & 2 ? f[1] : 1 - f[1]) * (c & 4 ? f[2] : 1 - f[2]);
    out += w * at(ii, jj, kk);
  }
  return out;
}

/** The frame pair and weight of a PET at ``t`` seconds (frames' time_s increasing; null: static). */
export function framePair(frames, t) {
  const n = frames.length;
  if (n === 1 || !Number.isFinite(t) || frames[0].time_s === null) return [0, 0, 0];
  if (t <= frames[0].time_s) return [0, 0, 0];
  for (let i = 1; i < n; i++) {
    if (t <= frames[i].time_s) return [i - 1, i, (t - frames[i - 1].time_s) / (frames[i].time_s - frames[i - 1].time_s)];
  }
  return [n - 1, n - 1, 0];
}

/**
 * The plane of a slice ({axis, at_mm} or {normal, point}, RAS mm) in the hologram's frame:
 * {normal: Vector3 (unit), point: Vector3} in glTF metres. ``toRas``: the 4×4 glTF -> RAS
 * matrix (scene.extras.arkit.gltf_to_ras_mm), ``centreRas``: where a standard plane is
 * centred across its axis.
 */
export function planeInHologram(slice, toRas, centreRas) {
  const m = new THREE.Matrix4().set(...toRas.flat());
  const inv = m.clone().invert();
  let nRas;
  let pRas;
  if (slice.axis in AXES) {
    nRas = [0, 0, 0];
    nRas[AXES[slice.axis]] = 1;
    pRas = [...centreRas];
    pRas[AXES[slice.axis]] = slice.at_mm;
  } else {
    nRas = slice.normal;
    pRas = slice.point;
  }
  const normal = new THREE.Vector3(...nRas).transformDirection(inv); // the linear part, normalised
  const point = new THREE.Vector3(...pRas).applyMatrix4(inv);
  return { normal, point };
}

export class SliceView {
  /** ``view``: the HologramView whose hologram is sliced. */
  constructor(view) {
    this.view = view;
    this.slice = null; // the slice asked for (canonical form), or null
    this.volumes = null; // lesson.json volumes of the hologram shown
    this.loaded = null; // {key, ct: {data, texture, meta}, pet: {frames: [{data, texture}], meta}}
    this.loading = null;
    this.localPlane = new THREE.Plane(); // hologram frame: the kept side is where distance >= 0
    this.worldPlane = new THREE.Plane(); // what the materials clip by (world frame)
    this.mesh = null;
    this.error = null;
    this.time = null;
    this.clipped = new Set(); // materials clipped by the plane
    this.info = { shown: false, loaded: false, error: null, slice: null, frame: null, volumes: null };
  }

  /** The hologram's volumes (lesson.json holograms[].volumes) as a new hologram is shown. */
  setVolumes(volumes) {
    if (volumes === this.volumes) return;
    this.volumes = volumes || null;
    this.dispose();
    this.apply();
  }

  /** The slice to show ({axis, at_mm, blend, ct_window} or {normal, point, ...}), or null. */
  set(slice) {
    this.slice = slice && typeof slice === 'object' ? slice : null;
    this.apply();
  }

  /** The timeline's tracer time (seconds after administration): a dynamic PET's frame. */
  setTime(t) {
    if (t === this.time) return;
    this.time = t;
    if (this.mesh && this.mesh.visible) this.updateFrames();
  }

  dispose() {
    if (this.mesh) {
      if (this.mesh.parent) this.mesh.parent.remove(this.mesh);
      this.mesh.geometry.dispose();
      this.mesh.material.dispose();
      this.mesh = null;
    }
    if (this.loaded) {
      if (this.loaded.ct) this.loaded.ct.texture.dispose();
      if (this.loaded.pet) for (const f of this.loaded.pet.frames) f.texture.dispose();
    }
    this.loaded = null;
    this.loading = null;
    this.error = null;
    this.unclip();
    Object.assign(this.info, { shown: false, loaded: false, error: null, frame: null, volumes: null });
  }

  async load() {
    const v = this.volumes;
    const key = v;
    const ct = v.ct ? { meta: v.ct, data: await loadVolume(v.ct.frames[0].asset, v.ct.shape) } : null;
    const pet = v.pet ? {
      meta: v.pet,
      frames: await Promise.all(v.pet.frames.map(async (f) => ({ ...f, data: await loadVolume(f.asset, v.pet.shape) }))),
    } : null;
    if (this.volumes !== key) return; // another hologram since
    if (ct) ct.texture = texture16(ct.data, v.ct.shape);
    if (pet) for (const f of pet.frames) f.texture = texture16(f.data, v.pet.shape);
    this.loaded = { key, ct, pet };
    this.info.loaded = true;
    this.info.volumes = {
      ct: ct ? { shape: v.ct.shape } : null, pet: pet ? { shape: v.pet.shape, frames: pet.frames.length } : null,
    };
    this.apply();
  }

  apply() {
    const cur = this.view.current;
    this.info.slice = this.slice;
    if (!this.slice || !this.volumes || !cur) {
      this.hide();
      return;
    }
    if (!this.loaded) {
      if (!this.loading && !this.error) {
        this.loading = this.load().catch((err) => {
          this.error = err.message;
          this.info.error = err.message;
          this.loading = null;
          this.view.onStatus(`The slice’s CT and PET could not be loaded (${err.message}).`, true);
        });
      }
      this.hide();
      return;
    }
    if (!this.mesh) this.build();
    if (this.mesh.parent !== cur.root) cur.root.add(this.mesh);
    this.place();
    const u = this.mesh.material.uniforms;
    const [level, width] = CT_WINDOWS[this.slice.ct_window] || CT_WINDOWS.soft_tissue;
    u.ctWindow.value.set(level, width);
    u.blend.value = Number.isFinite(this.slice.blend) ? this.slice.blend : 0.5;
    this.updateFrames();
    this.mesh.visible = true;
    this.clip(cur.root);
    this.info.shown = true;
    this.view.needsRender = true;
  }

  hide() {
    if (this.mesh) this.mesh.visible = false;
    this.unclip();
    this.info.shown = false;
    this.view.needsRender = true;
  }

  /** The slice mesh and its shader (once per hologram's volumes). */
  build() {
    const { ct, pet } = this.loaded;
    const box = (meta) => [new THREE.Vector3(...meta.box_min),
      new THREE.Vector3(...meta.box_max).sub(new THREE.Vector3(...meta.box_min))];
    const empty = texture16(new Uint16Array(1), [1, 1, 1]);
    const [ctMin, ctSize] = ct ? box(ct.meta) : [new THREE.Vector3(), new THREE.Vector3(1, 1, 1)];
    const [petMin, petSize] = pet ? box(pet.meta) : [new THREE.Vector3(), new THREE.Vector3(1, 1, 1)];
    const display = (pet && pet.meta.display) || { min: 0, max: 1, palette: [[0, 0, 0], [1, 1, 1]] };
    const stops = paletteStops(display.palette);
    const material = new THREE.ShaderMaterial({
      glslVersion: THREE.GLSL3,
      vertexShader: VERTEX,
      fragmentShader: FRAGMENT,
      side: THREE.DoubleSide,
      // the clipped organs end on the plane: drawn a little nearer, it never fights them for depth
      polygonOffset: true,
      polygonOffsetFactor: -2,
      polygonOffsetUnits: -4,
      uniforms: {
        planeToHolo: { value: new THREE.Matrix4() },
        ctTex: { value: ct ? ct.texture : empty },
        petTex0: { value: pet ? pet.frames[0].texture : empty },
        petTex1: { value: pet ? pet.frames[0].texture : empty },
        hasCt: { value: Boolean(ct) },
        hasPet: { value: Boolean(pet) },
        ctMin: { value: ctMin },
        ctSize: { value: ctSize },
        petMin: { value: petMin },
        petSize: { value: petSize },
        ctScale: { value: ct ? ct.meta.scale : 1 },
        ctOffset: { value: ct ? ct.meta.offset : 0 },
        ctWindow: { value: new THREE.Vector2(40, 400) },
        petScale: { value: new THREE.Vector2(1, 1) },
        petMix: { value: 0 },
        petWindow: { value: new THREE.Vector2(display.min, display.max) },
        blend: { value: 0.5 },
        palette: { value: stops },
      },
    });
    // a square big enough to cross the whole volume box whatever the plane's tilt
    const all = new THREE.Box3();
    for (const m of [ct, pet]) if (m) all.union(new THREE.Box3(new THREE.Vector3(...m.meta.box_min), new THREE.Vector3(...m.meta.box_max)));
    this.box = all;
    const side = all.getSize(new THREE.Vector3()).length() * 1.02;
    this.mesh = new THREE.Mesh(new THREE.PlaneGeometry(side, side), material);
    this.mesh.name = 'arkit_slice';
    this.mesh.userData.arkitSlice = true;
    this.mesh.renderOrder = 1;
  }

  /** The plane where the slice says, in the hologram's frame. */
  place() {
    const cur = this.view.current;
    const toRas = cur.root.userData.arkit && cur.root.userData.arkit.gltf_to_ras_mm;
    if (!Array.isArray(toRas)) return;
    const centre = this.box.getCenter(new THREE.Vector3());
    const m = new THREE.Matrix4().set(...toRas.flat());
    const centreRas = centre.clone().applyMatrix4(m).toArray();
    const { normal, point } = planeInHologram(this.slice, toRas, centreRas);
    // the square's centre: the box centre projected onto the plane
    const onPlane = centre.clone().sub(normal.clone().multiplyScalar(centre.clone().sub(point).dot(normal)));
    this.mesh.position.copy(onPlane);
    this.mesh.quaternion.setFromUnitVectors(new THREE.Vector3(0, 0, 1), normal);
    this.mesh.updateMatrix();
    this.mesh.material.uniforms.planeToHolo.value.copy(this.mesh.matrix);
    this.localPlane.setFromNormalAndCoplanarPoint(normal.clone().negate(), point);
    this.localPlane.constant -= CLIP_GAP_M; // cut a hair behind the plane: no sliver of a cut face shows through
    this.normal = normal;
    this.point = point;
    this.updateWorldPlane();
  }

  updateFrames() {
    if (!this.mesh || !this.loaded || !this.loaded.pet) return;
    const pet = this.loaded.pet;
    const [a, b, w] = framePair(pet.frames, this.time);
    const u = this.mesh.material.uniforms;
    u.petTex0.value = pet.frames[a].texture;
    u.petTex1.value = pet.frames[b].texture;
    const factor = (f) => pet.meta.scale * (f.to_display || 1);
    u.petScale.value.set(factor(pet.frames[a]), factor(pet.frames[b]));
    u.petMix.value = w;
    this.info.frame = { a, b, w: Math.round(w * 1000) / 1000 };
    this.view.needsRender = true;
  }

  /** The world plane from the hologram's (its root may move: AR placement). Every frame. */
  updateWorldPlane() {
    const cur = this.view.current;
    if (!cur || !this.mesh || !this.mesh.visible) return;
    cur.root.updateWorldMatrix(true, false);
    this.worldPlane.copy(this.localPlane).applyMatrix4(cur.root.matrixWorld);
  }

  clip(root) {
    const planes = [this.worldPlane];
    const add = (m) => {
      if (!m || this.clipped.has(m)) return;
      m.clippingPlanes = planes;
      m.needsUpdate = true;
      this.clipped.add(m);
    };
    root.traverse((o) => {
      if (!o.isMesh || o === this.mesh) return;
      for (const m of Array.isArray(o.material) ? o.material : [o.material]) add(m);
    });
    for (const group of [this.view.materials, this.view.liveMaterials, this.view.selectionMaterials]) {
      for (const m of Object.values(group || {})) if (m && m.isMaterial) add(m);
    }
  }

  unclip() {
    for (const m of this.clipped) {
      m.clippingPlanes = null;
      m.needsUpdate = true;
    }
    this.clipped.clear();
  }

  /**
   * A grab of the plane by a hand at ``origin`` (world): {move(ray), end()}; each move
   * shifts the plane along its normal by the hand's motion along it (hologram metres, so
   * any AR scale) and hands the new slice to ``onMove``.
   */
  grab(origin, onMove) {
    const cur = this.view.current;
    const start = origin.clone();
    const normalLocal = this.normal.clone();
    return this.mover(onMove, (ray) => {
      cur.root.updateWorldMatrix(true, false);
      const toLocal = cur.root.matrixWorld.clone().invert();
      const a = start.clone().applyMatrix4(toLocal);
      const b = new THREE.Vector3(...ray.origin.toArray()).applyMatrix4(toLocal);
      return b.sub(a).dot(normalLocal);
    });
  }

  /**
   * A drag of the plane from ``point`` (hologram frame, on the plane) by a pointer in the
   * inline view: {move(ray), end()} with ``ray`` a world THREE.Ray from the camera through the
   * pointer, ``ray0`` the one the drag began with and ``up`` the camera's up (world). Seen at
   * an angle (the normal at least SLIDE_SIDEWAYS from the line of sight), the grabbed point
   * slides along the normal to where that line passes nearest the pointer's ray, so the plane
   * stays under the pointer; seen face-on, where the normal cannot be followed on the screen,
   * dragging up pushes the plane away from the viewer and down pulls it closer, a pointer's
   * metre (at the plane) a metre.
   */
  slide(point, ray0, up, onMove) {
    const cur = this.view.current;
    const p0 = point.clone();
    const n = this.normal.clone();
    cur.root.updateWorldMatrix(true, false);
    const toLocal = cur.root.matrixWorld.clone().invert();
    const local = (ray) => ray.clone().applyMatrix4(toLocal);
    const d0 = local(ray0).direction.normalize();
    const upLocal = up.clone().transformDirection(toLocal);
    const facing = new THREE.Vector3().crossVectors(n, d0).length() < Math.sin(SLIDE_SIDEWAYS);
    const screenPlane = new THREE.Plane().setFromNormalAndCoplanarPoint(d0, p0);
    const away = Math.sign(n.dot(d0)) || 1;
    return this.mover(onMove, (ray) => {
      const r = local(ray);
      if (facing) {
        const q = r.intersectPlane(screenPlane, new THREE.Vector3());
        return q ? q.sub(p0).dot(upLocal) * away : null;
      }
      const d = r.direction;
      const w = p0.clone().sub(r.origin);
      const b = n.dot(d);
      const c = d.dot(d);
      return (b * d.dot(w) - c * n.dot(w)) / (c - b * b);
    });
  }

  /** {move(input), end()} turning each input into a shift along the normal (hologram metres, or null). */
  mover(onMove, shiftOf) {
    const base = { ...this.slice };
    const nRas = base.axis in AXES ? [0, 1, 2].map((a) => (a === AXES[base.axis] ? 1 : 0)) : base.normal;
    const grabbed = { active: true };
    this.info.grabbed = true;
    return {
      move: (input) => {
        if (!grabbed.active) return;
        const shift = shiftOf(input);
        if (shift === null || !Number.isFinite(shift)) return;
        const mm = Math.round(shift * 1000); // hologram metres -> RAS mm (the frame's scale)
        const moved = base.axis in AXES ? { ...base, at_mm: this.clampAt(base.axis, base.at_mm + mm) }
          : { ...base, point: base.point.map((v, i) => Math.round((v + mm * nRas[i]) * 10) / 10) };
        if (JSON.stringify(moved) !== JSON.stringify(this.slice)) {
          grabbed.moved = true;
          onMove(moved);
        }
      },
      moved: () => Boolean(grabbed.moved),
      end: () => {
        grabbed.active = false;
        this.info.grabbed = false;
      },
    };
  }

  /** ``at_mm`` kept within the volumes' RAS extent along the plane's axis (the plane stays on the scan). */
  clampAt(axis, atMm) {
    const a = AXES[axis];
    const vols = Object.values(this.volumes || {});
    if (!vols.length) return atMm;
    const lo = Math.min(...vols.map((v) => v.ras_min[a]));
    const hi = Math.max(...vols.map((v) => v.ras_max[a]));
    return Math.min(Math.max(atMm, Math.ceil(lo)), Math.floor(hi));
  }

  /** Whether ``point`` (hologram frame) lies on the kept side of the plane. */
  kept(point) {
    return !this.info.shown || this.localPlane.distanceToPoint(point) >= -1e-6;
  }

  /** A RAS point (mm) in the hologram's frame (metres), or null before a hologram is shown. */
  fromRas(ras) {
    const cur = this.view.current;
    const toRas = cur && cur.root.userData.arkit && cur.root.userData.arkit.gltf_to_ras_mm;
    if (!Array.isArray(toRas)) return null;
    return new THREE.Vector3(...ras).applyMatrix4(new THREE.Matrix4().set(...toRas.flat()).invert());
  }

  /**
   * What the slice shows at ``point`` (hologram frame, on the plane): {hu, value, unit, suv,
   * ras_mm}; a value is null outside its volume.
   */
  probe(point) {
    const { ct, pet } = this.loaded || {};
    const uvw = (meta) => [0, 1, 2].map((a) => (point.getComponent(a) - meta.box_min[a]) / (meta.box_max[a] - meta.box_min[a]));
    let hu = null;
    if (ct) {
      const raw = sample16(ct.data, ct.meta.shape, uvw(ct.meta));
      hu = raw === null ? null : Math.round(raw * ct.meta.scale + ct.meta.offset);
    }
    let value = null;
    let suv = null;
    if (pet) {
      const [a, b, w] = framePair(pet.frames, this.time);
      const at = (f) => sample16(f.data, pet.meta.shape, uvw(pet.meta));
      const ra = at(pet.frames[a]);
      const rb = at(pet.frames[b]);
      if (ra !== null) {
        const bq = (1 - w) * ra * pet.meta.scale + w * rb * pet.meta.scale; // Bq/mL, between the frames
        const mixed = (key) => (pet.frames[a][key] == null ? null
          : (1 - w) * ra * pet.meta.scale * pet.frames[a][key] + w * rb * pet.meta.scale * pet.frames[b][key]);
        value = mixed('to_display');
        suv = mixed('suv_per_bq_ml');
        if (value === null) value = bq / 1000;
      }
    }
    const cur = this.view.current;
    const toRas = cur && cur.root.userData.arkit && cur.root.userData.arkit.gltf_to_ras_mm;
    const ras = Array.isArray(toRas) ? point.clone().applyMatrix4(new THREE.Matrix4().set(...toRas.flat())).toArray()
      .map((c) => Math.round(c * 10) / 10) : null;
    const display = pet && pet.meta.display;
    return { hu, value, unit: display ? display.unit : null, quantity: display ? display.quantity : null, suv, ras_mm: ras };
  }

  /** The ray's hit on the shown plane inside a volume (hologram frame), or null. */
  hit(raycaster) {
    if (!this.mesh || !this.mesh.visible) return null;
    const hits = raycaster.intersectObject(this.mesh, false);
    for (const h of hits) {
      const local = this.view.current.root.worldToLocal(h.point.clone());
      const r = this.probe(local);
      if (r.hu !== null || r.value !== null) return { distance: h.distance, point: local, probe: r };
    }
    return null;
  }
}

/** Eight linear RGB stops from a legend's palette (any length ≥ 2), for the shader. */
function paletteStops(palette) {
  const p = Array.isArray(palette) && palette.length >= 2 ? palette : [[0, 0, 0], [1, 1, 1]];
  const out = [];
  for (let i = 0; i < 8; i++) {
    const x = (i / 7) * (p.length - 1);
    const j = Math.min(Math.floor(x), p.length - 2);
    const f = x - j;
    out.push(new THREE.Vector3(...[0, 1, 2].map((c) => p[j][c] * (1 - f) + p[j + 1][c] * f)));
  }
  return out;
}

/** A probe as one line people read: "CT 58 HU · SUV 2.1" (or the PET's own unit). */
export function probeText(r) {
  const parts = [];
  if (r.hu !== null) parts.push(`CT ${r.hu} HU`);
  if (r.suv !== null && r.suv !== undefined) parts.push(`SUV ${r.suv.toFixed(2)}`);
  if (r.value !== null && r.quantity === 'concentration') parts.push(`${r.value.toFixed(2)} ${r.unit}`);
  return parts.length ? parts.join(' · ') : 'Outside the scan';
}

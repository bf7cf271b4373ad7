// The hologram as a lesson step shows it (projection and self-paced pages): the step's
// hologram, visible / translucent / highlighted structures, labels, framing, the
// lecturer's highlight and pointer, and tracer time through the palette-morph animation
// (real seconds after administration mapped onto the clip by the legend).
//
// Built on the helpers shared with the preview page (../lib/hologram.js).

import * as THREE from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';

import {
  BACKGROUND, VIEWS, addOverlays, clipTime, collectStructures, createLoader, fitBox, highlightMaterials,
  legendOf, loadErrorText, patchColourOnlyMorphs, pickStructure, removeOverlays, structureBox,
} from '../lib/hologram.js';
import { h, stepHologram } from './common.js';

const LIVE_HIGHLIGHT = 0x4ad8ff; // the lecturer's pointer colour (style.css --live)
const TRANSLUCENT_OPACITY = 0.25;
// A framed structure's box is widened around its centre: twice its size, and at least
// 35 cm (holograms are life-size metres), so a small organ is seen with its neighbours.
const CONTEXT = 2;
const CONTEXT_MIN_M = 0.35;

export class HologramView {
  /**
   * ``container``: an element with a size (the canvas fills it). Options: ``interactive``
   * (orbit controls and tap to pick), ``onPick(name | null)``, ``onStatus(text, isError)``,
   * ``time()`` -> seconds after administration to show now, or null (called every frame).
   */
  constructor(container, { interactive = true, onPick = null, onStatus = null, time = null } = {}) {
    this.container = container;
    this.onPick = onPick;
    this.onStatus = onStatus || (() => {});
    this.timeSource = time;
    this.info = { loaded: false, url: null, error: null, structures: 0, visible: [], highlighted: [], clip_time: null, frames: 0 };
    this.cache = new Map(); // url -> Promise<gltf>
    this.current = null; // {url, root, structures, mixer, legend, duration}
    this.request = 0;
    this.stepOverlays = [];
    this.liveOverlays = [];
    this.liveName = null;
    this.labels = [];
    this.needsRender = true;
    this.lastClip = null;
    // Light enough that the uptake colour under a highlighted structure stays readable.
    this.materials = highlightMaterials(undefined, { front: 0.3, xray: 0.15 });
    this.liveMaterials = highlightMaterials(LIVE_HIGHLIGHT);

    try {
      this.renderer = new THREE.WebGLRenderer({ antialias: true, powerPreference: 'high-performance' });
    } catch (err) {
      this.renderer = null;
      this.fail('This browser cannot show 3D graphics (WebGL 2 is not available). Try a current Chrome, Edge, ' +
        'Firefox or Safari, or turn on hardware acceleration in the browser settings.', err);
      return;
    }
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(BACKGROUND);
    this.camera = new THREE.PerspectiveCamera(40, 1, 0.01, 100);
    this.scene.add(this.camera);
    this.scene.add(new THREE.HemisphereLight(0xf0f4ff, 0x3a3f48, 1.6));
    const headlight = new THREE.DirectionalLight(0xffffff, 2.0);
    headlight.position.set(0.5, 1, 1);
    headlight.target.position.set(0, 0, -1);
    this.camera.add(headlight, headlight.target);
    this.pointer = new THREE.Mesh(new THREE.SphereGeometry(1, 16, 12),
      new THREE.MeshBasicMaterial({ color: LIVE_HIGHLIGHT, depthTest: false, transparent: true, opacity: 0.9 }));
    this.pointer.renderOrder = 20;
    this.pointer.visible = false;
    this.scene.add(this.pointer);

    const r = this.renderer;
    r.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    const canvas = r.domElement;
    canvas.setAttribute('aria-label', 'The lesson’s hologram');
    container.prepend(canvas);
    this.labelLayer = h('div', { class: 'labels', 'aria-hidden': 'true' });
    container.append(this.labelLayer);

    this.controls = null;
    if (interactive) {
      canvas.tabIndex = 0;
      this.controls = new OrbitControls(this.camera, canvas);
      this.controls.enableDamping = true;
      this.controls.dampingFactor = 0.12;
      this.controls.addEventListener('change', () => {
        this.needsRender = true;
      });
      this.setupPicking(canvas);
    }

    const resize = () => {
      const w = Math.max(1, container.clientWidth);
      const hgt = Math.max(1, container.clientHeight);
      r.setSize(w, hgt, false);
      this.camera.aspect = w / hgt;
      this.camera.updateProjectionMatrix();
      this.needsRender = true;
    };
    new ResizeObserver(resize).observe(container);
    resize();
    r.setAnimationLoop(() => this.tick());
  }

  fail(text, err) {
    this.info.error = text;
    this.onStatus(text, true);
    console.error(`arkit viewer: ${text}${err && err.message ? ` (${err.message})` : ''}`);
  }

  // -------------------------------------------------------------------------- loading

  load(url) {
    if (!this.cache.has(url)) {
      const loader = createLoader();
      this.cache.set(url, new Promise((resolve, reject) => {
        loader.load(url, resolve, undefined, (err) => {
          this.cache.delete(url);
          reject(err);
        });
      }));
    }
    return this.cache.get(url);
  }

  /** Shows step ``index`` of ``lesson`` (a lesson.json with holograms[].assets.glb.path). */
  async showStep(lesson, index) {
    if (!this.renderer) return;
    const step = lesson.steps[index];
    const id = stepHologram(lesson, step);
    const holo = id && lesson.holograms[id];
    const glb = holo && holo.assets && holo.assets.glb;
    const ticket = ++this.request;
    if (!glb) {
      this.clear();
      this.onStatus(id ? 'This step’s hologram has no file on the server.' : '', Boolean(id));
      return;
    }
    const url = `/${glb.path}`;
    if (!this.current || this.current.url !== url) {
      this.onStatus('Loading the hologram…', false);
      let gltf;
      try {
        gltf = await this.load(url);
      } catch (err) {
        if (ticket === this.request) this.fail(loadErrorText(err, url), err);
        return;
      }
      if (ticket !== this.request) return; // a later step asked for another hologram
      this.use(url, gltf);
    }
    this.applyStep(step);
    this.onStatus('', false);
  }

  use(url, gltf) {
    this.clear();
    const root = gltf.scene;
    if (!root.userData.arkitPrepared) {
      patchColourOnlyMorphs(root);
      // Every mesh gets its own material, so translucency is per structure.
      root.traverse((o) => {
        if (!o.isMesh) return;
        const own = (m) => {
          const copy = m.clone();
          copy.userData.original = { transparent: m.transparent, opacity: m.opacity, depthWrite: m.depthWrite };
          return copy;
        };
        o.material = Array.isArray(o.material) ? o.material.map(own) : own(o.material);
      });
      root.userData.arkitPrepared = true;
    }
    this.scene.add(root);
    root.updateMatrixWorld(true);
    const structures = collectStructures(root);
    let mixer = null;
    let duration = 0;
    const clips = gltf.animations || [];
    if (clips.length) {
      mixer = new THREE.AnimationMixer(root);
      for (const clip of clips) {
        mixer.clipAction(clip).play();
        duration = Math.max(duration, clip.duration);
      }
    }
    this.current = { url, root, structures, mixer, duration, legend: legendOf(root) };
    this.lastClip = null;
    Object.assign(this.info, { loaded: true, url, error: null, structures: structures.size, animations: clips.length });
    this.needsRender = true;
  }

  clear() {
    removeOverlays(this.stepOverlays);
    removeOverlays(this.liveOverlays);
    this.stepOverlays = [];
    this.liveOverlays = [];
    this.setLabels([]);
    if (this.current) {
      if (this.current.mixer) this.current.mixer.stopAllAction();
      this.scene.remove(this.current.root);
    }
    this.current = null;
    this.info.loaded = false;
    this.needsRender = true;
  }

  // -------------------------------------------------------------------------- a step

  applyStep(step) {
    const cur = this.current;
    if (!cur) return;
    const names = [...cur.structures.keys()];
    const visible = Array.isArray(step.visible) ? new Set(step.visible) : new Set(names);
    const translucent = Array.isArray(step.translucent) ? new Set(step.translucent) : null;

    // Visibility per node (a merged mesh shows while any of its members is visible).
    const shownNodes = new Map();
    for (const s of cur.structures.values()) {
      shownNodes.set(s.object, (shownNodes.get(s.object) || false) || visible.has(s.name));
    }
    for (const [object, show] of shownNodes) object.visible = show;

    // Translucency: the step's list on top of the file's own (the body is translucent there).
    for (const s of cur.structures.values()) {
      const clear = translucent !== null && translucent.has(s.name);
      for (const mesh of s.meshes) {
        for (const m of Array.isArray(mesh.material) ? mesh.material : [mesh.material]) {
          const o = m.userData.original || { transparent: m.transparent, opacity: m.opacity, depthWrite: m.depthWrite };
          const transparent = clear || o.transparent;
          if (m.transparent !== transparent) m.needsUpdate = true;
          m.transparent = transparent;
          m.opacity = clear ? Math.min(o.opacity, TRANSLUCENT_OPACITY) : o.opacity;
          m.depthWrite = clear ? false : o.depthWrite;
        }
      }
    }

    removeOverlays(this.stepOverlays);
    this.stepOverlays = [];
    const highlighted = (step.highlighted || []).filter((n) => cur.structures.has(n));
    for (const name of highlighted) this.stepOverlays.push(...addOverlays(cur.structures.get(name), this.materials));

    this.setLabels((step.labels || []).filter((l) => l && cur.structures.has(l.structure)));
    this.frame(step.framing || {}, visible);
    this.info.visible = names.filter((n) => visible.has(n));
    this.info.highlighted = highlighted;
    this.setHighlight(this.liveName);
    this.needsRender = true;
  }

  frame(framing, visible) {
    const cur = this.current;
    let box = new THREE.Box3();
    const target = framing.target && framing.target !== 'whole' ? cur.structures.get(framing.target) : null;
    if (target) {
      // A structure with its surroundings: the view shows where it sits, not only itself.
      const b = structureBox(target);
      const size = b.getSize(new THREE.Vector3()).multiplyScalar(CONTEXT).max(new THREE.Vector3(CONTEXT_MIN_M, CONTEXT_MIN_M, CONTEXT_MIN_M));
      box.setFromCenterAndSize(b.getCenter(new THREE.Vector3()), size);
    } else {
      for (const s of cur.structures.values()) if (visible.has(s.name)) box.union(structureBox(s));
    }
    if (box.isEmpty()) box = new THREE.Box3().setFromObject(cur.root, true);
    if (box.isEmpty()) return;
    const direction = new THREE.Vector3(...(VIEWS[framing.view] || VIEWS.front)).normalize();
    const zoom = Number.isFinite(framing.zoom) && framing.zoom > 0 ? framing.zoom : 1;
    const fit = fitBox(this.camera, box, direction, zoom);
    const whole = new THREE.Box3().setFromObject(cur.root, true);
    const radius = Math.max(whole.getSize(new THREE.Vector3()).length() / 2, fit.radius);
    this.camera.near = Math.max(fit.distance / 100, 1e-4);
    this.camera.far = (fit.distance + radius) * 100;
    this.camera.position.copy(fit.position);
    this.camera.lookAt(fit.target);
    this.camera.updateProjectionMatrix();
    if (this.controls) {
      this.controls.target.copy(fit.target);
      this.controls.minDistance = fit.radius * 0.05;
      this.controls.maxDistance = (fit.distance + radius) * 8;
      this.controls.update();
    }
    this.pointer.scale.setScalar(Math.max(radius * 0.015, 1e-3));
    this.needsRender = true;
  }

  // -------------------------------------------------------------------------- live

  /** The lecturer's highlight (a second colour over the step's own), or null. */
  setHighlight(name) {
    this.liveName = name || null;
    removeOverlays(this.liveOverlays);
    this.liveOverlays = [];
    const s = this.current && this.liveName ? this.current.structures.get(this.liveName) : null;
    if (s) this.liveOverlays = addOverlays(s, this.liveMaterials);
    this.info.live_highlight = s ? s.name : null;
    this.needsRender = true;
  }

  /** The lecturer's pointer: a dot at ``position`` (glTF metres, hologram frame), or hidden. */
  setPointer(position) {
    if (!this.renderer) return;
    const ok = Array.isArray(position) && position.length === 3 && position.every(Number.isFinite);
    this.pointer.visible = ok && Boolean(this.current);
    if (ok) this.pointer.position.set(...position);
    this.needsRender = true;
  }

  setLabels(labels) {
    for (const l of this.labels) l.el.remove();
    this.labels = labels.map((l) => {
      const s = this.current.structures.get(l.structure);
      const el = h('span', { class: 'label', text: l.text || s.display });
      this.labelLayer.append(el);
      return { el, centre: structureBox(s).getCenter(new THREE.Vector3()) };
    });
  }

  placeLabels() {
    if (!this.labels.length) return;
    const w = this.container.clientWidth;
    const hgt = this.container.clientHeight;
    const v = new THREE.Vector3();
    for (const l of this.labels) {
      v.copy(l.centre).project(this.camera);
      const hidden = v.z > 1 || v.z < -1;
      l.el.hidden = hidden;
      if (!hidden) l.el.style.transform = `translate(${((v.x + 1) / 2) * w}px, ${((1 - v.y) / 2) * hgt}px)`;
    }
  }

  // -------------------------------------------------------------------------- picking

  setupPicking(canvas) {
    const raycaster = new THREE.Raycaster();
    let down = null;
    canvas.addEventListener('pointerdown', (e) => {
      down = { x: e.clientX, y: e.clientY, t: performance.now(), id: e.pointerId };
    });
    canvas.addEventListener('pointerup', (e) => {
      if (!down || down.id !== e.pointerId || !this.current) return;
      const moved = Math.hypot(e.clientX - down.x, e.clientY - down.y);
      const quick = performance.now() - down.t < 600;
      down = null;
      if (moved > 6 || !quick) return; // a drag turns the view, not a tap
      const rect = canvas.getBoundingClientRect();
      raycaster.setFromCamera(new THREE.Vector2(((e.clientX - rect.left) / rect.width) * 2 - 1,
        -((e.clientY - rect.top) / rect.height) * 2 + 1), this.camera);
      const name = pickStructure(raycaster, this.scene, this.current.structures);
      if (this.onPick) this.onPick(name, name ? this.current.structures.get(name).display : null);
    });
  }

  /** A structure's display name from the hologram file (extras.display), if loaded. */
  displayName(name) {
    const s = this.current && this.current.structures.get(name);
    return s ? s.display : null;
  }

  // -------------------------------------------------------------------------- loop

  tick() {
    const cur = this.current;
    if (cur && cur.mixer && cur.duration > 0 && this.timeSource) {
      const real = this.timeSource();
      let clip = clipTime(cur.legend, real);
      if (clip !== null) {
        clip = Math.min(clip, cur.duration - 1e-4); // setTime(duration) would wrap to 0
        if (this.lastClip === null || Math.abs(clip - this.lastClip) > 1e-4) {
          cur.mixer.setTime(clip);
          this.lastClip = clip;
          this.info.clip_time = clip;
          this.info.real_time = real;
          this.needsRender = true;
        }
      }
    }
    if (this.controls && this.controls.update()) this.needsRender = true;
    if (this.needsRender) {
      this.needsRender = false;
      this.renderer.render(this.scene, this.camera);
      this.placeLabels();
      this.info.frames += 1;
    }
  }

  /** Draw on the next frame (after changing what the time source returns). */
  invalidate() {
    this.needsRender = true;
  }
}

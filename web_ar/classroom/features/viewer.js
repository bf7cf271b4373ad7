// The hologram as a lesson step shows it (student, projection and self-paced pages): the
// step's hologram, visible / translucent / highlighted structures, labels with leader
// lines, framing, the lecturer's highlight and pointer, the student's own selection, and
// tracer time through the palette-morph animation (real seconds after administration
// mapped onto the clip by the legend).
//
// Interactive views turn with mouse, touch and keyboard: drag / one finger to orbit, wheel /
// pinch to zoom, right drag / two fingers to pan; on the focused canvas the arrow keys turn,
// Shift + arrows pan, + and - zoom, 0 or Home frames the step again, Enter or Space selects
// the structure under the centre mark. A progress bar shows while a GLB downloads.
// ``prefers-reduced-motion`` turns off the inertia and the animated framing.
//
// Each step shown with its hologram is announced as an ``arkit:loaded`` event
// (features/events.js). Built on the helpers shared with the preview page (lib/hologram.js).

import * as THREE from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';

import {
  BACKGROUND, VIEWS, addOverlays, clipTime, collectStructures, createLoader, fitBox, highlightMaterials,
  legendOf, loadErrorText, patchColourOnlyMorphs, pickStructure, removeOverlays, shown, structureBox,
} from '../../lib/hologram.js';
import { applyLookTo, lookState } from '../../lib/look.js';
import { h, stepHologram } from '../core/common.js';
import { emit } from './events.js';
import { LabelLayer, surfaceAnchor } from './labels.js';
import { SliceView, probeText } from './slice.js';

const LIVE_HIGHLIGHT = 0x4ad8ff; // the lecturer's pointer colour (style.css --live)
const SELECTION = 0xffffff; // the student's own selection (style.css --selection)
const KEY_TURN = THREE.MathUtils.degToRad(10); // per arrow key press
const KEY_PAN = 0.06; // of the distance to the target, per Shift + arrow
const KEY_ZOOM = 0.85; // distance factor per + press
const SLIDE_HOLD_MS = 350; // a press held this long on the slice plane moves it
const FRAME_MS = 450; // animated framing (none with reduced motion)
const TIME_FRAME_MS = 33; // tracer time alone redraws at most ~30 times a second (battery)
let viewCount = 0;

/** A raycaster along an AR input's ray ({origin, direction}, world; any vector type). */
function raycasterOf(ray) {
  return new THREE.Raycaster(new THREE.Vector3(...ray.origin.toArray()), new THREE.Vector3(...ray.direction.toArray()).normalize());
}

/** Whether the person asked for less motion (prefers-reduced-motion: reduce). */
export function reducedMotion() {
  return typeof window.matchMedia === 'function' && window.matchMedia('(prefers-reduced-motion: reduce)').matches;
}
const TRANSLUCENT_OPACITY = 0.25;
// A framed structure's box is widened around its centre: twice its size, and at least
// 35 cm (holograms are life-size metres), so a small organ is seen with its neighbours.
const CONTEXT = 2;
const CONTEXT_MIN_M = 0.35;

export class HologramView {
  /**
   * ``container``: an element with a size (the canvas fills it). Options: ``interactive``
   * (orbit controls, keyboard, tap to pick), ``onPick(name | null, display, how)`` with how
   * 'tap' | 'keyboard', ``onStatus(text, isError)`` and / or ``statusElement`` (shows it), ``time()`` -> seconds after
   * administration to show now, or null (called every frame), ``onLoaded(view)`` after a
   * hologram file is in the scene, ``onLabels(labels)`` when the step's labels change,
   * ``label``: what the canvas is called for screen readers, ``onProbe(result)`` when a tap
   * lands on the slice plane ({hu, value, unit, quantity, suv, ras_mm}: features/slice.js).
   */
  constructor(container, {
    interactive = true, onPick = null, onStatus = null, statusElement = null, time = null, onLoaded = null, onLabels = null,
    onProbe = null, onSliceMove = null, label = 'The lesson’s hologram',
  } = {}) {
    this.container = container;
    this.onLabels = onLabels;
    this.labelSpecs = [];
    this.onPick = onPick;
    this.onStatus = onStatus || (() => {});
    if (statusElement) {
      // Status lines (loading problems, no WebGL) shown in the page's element for them.
      const show = this.onStatus;
      this.onStatus = (text, isError) => {
        statusElement.textContent = text;
        statusElement.hidden = !text;
        statusElement.classList.toggle('error', Boolean(isError));
        show(text, isError);
      };
    }
    this.onLoaded = onLoaded;
    this.onProbe = onProbe;
    this.onSliceMove = onSliceMove;
    this.timeSource = time;
    this.id = ++viewCount;
    this.info = {
      loaded: false, url: null, error: null, structures: 0, visible: [], highlighted: [], clip_time: null, frames: 0,
      selected: null, progress: null, reduced_motion: reducedMotion(), labels: [],
    };
    this.cache = new Map(); // url -> Promise<gltf>
    this.current = null; // {url, root, structures, mixer, legend, duration}
    this.request = 0;
    this.stepOverlays = [];
    this.liveOverlays = [];
    this.selectionOverlays = [];
    this.liveName = null;
    this.selectedName = null;
    this.step = null;
    this.needsRender = true;
    this.lastClip = null;
    this.tween = null;
    this.framed = false;
    // Light enough that the uptake colour under a highlighted structure stays readable.
    this.materials = highlightMaterials(undefined, { front: 0.3, xray: 0.15 });
    this.liveMaterials = highlightMaterials(LIVE_HIGHLIGHT);
    this.selectionMaterials = highlightMaterials(SELECTION, { front: 0.25, xray: 0.18 });

    this.progress = h('div', {
      class: 'load-progress', role: 'progressbar', 'aria-label': 'Loading the hologram', 'aria-valuemin': '0',
      'aria-valuemax': '100', hidden: true,
    }, h('span', { class: 'track' }, h('span', { class: 'fill' })), h('span', { class: 'text' }));
    container.append(this.progress);
    this.readout = h('p', { class: 'slice-readout', role: 'status', 'aria-live': 'polite', hidden: true });
    container.append(this.readout);

    try {
      if (!window.WebGL2RenderingContext) throw new Error('no WebGL2RenderingContext');
      this.renderer = new THREE.WebGLRenderer({ antialias: true, powerPreference: 'high-performance' });
    } catch (err) {
      this.renderer = null;
      container.classList.add('no-webgl');
      this.fail('This browser cannot show 3D graphics (WebGL 2 is not available). Try a current Chrome, Edge, ' +
        'Firefox or Safari, or turn on hardware acceleration in the browser settings. The steps, captions and ' +
        'quizzes still work below.', err);
      return;
    }
    this.renderer.localClippingEnabled = true; // the slice plane clips the hologram
    this.slice = new SliceView(this);
    this.info.slice = this.slice.info;
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
    this.pointer.userData.arkitPointer = true; // not part of the hologram's extent
    this.pointer.visible = false;
    this.scene.add(this.pointer);

    const r = this.renderer;
    r.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    const canvas = r.domElement;
    canvas.setAttribute('aria-label', label);
    if (!interactive) canvas.setAttribute('role', 'img'); // a picture to screen readers
    container.prepend(canvas);
    this.labels = new LabelLayer(container);
    canvas.addEventListener('webglcontextlost', (event) => {
      event.preventDefault();
      this.fail('The 3D view stopped: the device took its graphics memory back. Reload the page to see the hologram again.');
    });

    this.controls = null;
    this.reduced = reducedMotion();
    if (interactive) {
      canvas.tabIndex = 0;
      canvas.setAttribute('role', 'application');
      canvas.setAttribute('aria-roledescription', '3D view');
      const help = h('p', {
        class: 'visually-hidden', id: `view-help-${this.id}`,
        text: 'Drag or use the arrow keys to turn the hologram; Shift and arrow keys move it; pinch, scroll, or ' +
          'the plus and minus keys zoom; 0 frames the step again; Enter selects the structure under the centre ' +
          'mark. The structures are also listed beside the view.',
      });
      container.append(help, h('span', { class: 'crosshair', 'aria-hidden': 'true' }));
      canvas.setAttribute('aria-describedby', help.id);
      this.controls = new OrbitControls(this.camera, canvas);
      this.controls.enableDamping = !this.reduced;
      this.controls.dampingFactor = 0.12;
      this.controls.addEventListener('change', () => {
        this.needsRender = true;
      });
      this.controls.addEventListener('start', () => {
        this.tween = null; // a hand on the view stops an animated framing
      });
      this.setupPicking(canvas);
      canvas.addEventListener('keydown', (event) => this.onKey(event));
    }
    if (typeof window.matchMedia === 'function') {
      window.matchMedia('(prefers-reduced-motion: reduce)').addEventListener('change', (event) => {
        this.reduced = event.matches;
        this.info.reduced_motion = event.matches;
        if (this.controls) this.controls.enableDamping = !event.matches;
      });
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
    this.frameCallbacks = new Set();
    r.setAnimationLoop((t, frame) => this.tick(t, frame));
  }

  /**
   * ``fn(time, xrFrame)`` before every frame's render (an immersive session's update, e.g.
   * features/ar.js); returns a function that removes it. While an XR session presents,
   * every frame is drawn (the headset needs one per display frame).
   */
  addFrameCallback(fn) {
    this.frameCallbacks.add(fn);
    return () => this.frameCallbacks.delete(fn);
  }

  fail(text, err) {
    this.info.error = text;
    this.showProgress(null);
    this.onStatus(text, true);
    console.error(`arkit viewer: ${text}${err && err.message ? ` (${err.message})` : ''}`);
  }

  // -------------------------------------------------------------------------- loading

  /** ``fraction`` in [0, 1], true while the size is unknown, or null to hide the bar. */
  showProgress(fraction) {
    const bar = this.progress;
    this.info.progress = fraction === null ? null : fraction === true ? -1 : fraction;
    bar.hidden = fraction === null;
    if (fraction === null) return;
    const known = typeof fraction === 'number';
    bar.classList.toggle('indeterminate', !known);
    const percent = known ? Math.round(100 * Math.min(Math.max(fraction, 0), 1)) : null;
    if (known) bar.setAttribute('aria-valuenow', String(percent));
    else bar.removeAttribute('aria-valuenow');
    bar.querySelector('.fill').style.width = known ? `${percent}%` : '';
    bar.querySelector('.text').textContent = known ? `Loading the hologram… ${percent} %` : 'Loading the hologram…';
  }

  load(url, onProgress) {
    if (!this.cache.has(url)) {
      const loader = createLoader();
      this.cache.set(url, new Promise((resolve, reject) => {
        loader.load(url, resolve, (event) => {
          if (onProgress) onProgress(event && event.lengthComputable && event.total > 0 ? event.loaded / event.total : true);
        }, (err) => {
          this.cache.delete(url);
          reject(err);
        });
      }));
    }
    return this.cache.get(url);
  }

  /** Shows step ``index`` of ``lesson`` (a lesson.json with holograms[].assets.glb.path).
   * ``keepView``: leave the camera where it is (the studio, after an edit). */
  async showStep(lesson, index, { keepView = false } = {}) {
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
    const cached = Boolean(this.current && this.current.url === url);
    if (!cached) {
      this.onStatus('', false);
      this.showProgress(true);
      let gltf;
      try {
        gltf = await this.load(url, (f) => {
          if (ticket === this.request) this.showProgress(f);
        });
      } catch (err) {
        if (ticket === this.request) this.fail(loadErrorText(err, url), err);
        return;
      }
      if (ticket !== this.request) return; // a later step asked for another hologram
      this.showProgress(null);
      this.use(url, gltf);
    }
    this.slice.setVolumes(holo.volumes || null);
    this.applyStep(step, { keepView });
    this.onStatus('', false);
    emit('arkit:loaded', {
      step: index, url, structures: this.current.structures.size, visible: this.info.visible.length, cached,
    });
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
      root.userData.arkitLook = applyLookTo(root); // translucent shell, shaded and glowing organs
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
    this.current = { url, root, structures, mixer, duration, legend: legendOf(root), anchors: new Map() };
    this.lastClip = null;
    this.framed = false;
    this.lastFraming = null; // a new file is framed by its step, whatever keepView says
    Object.assign(this.info, {
      loaded: true, url, error: null, structures: structures.size, animations: clips.length,
      look: { ...root.userData.arkitLook, ...lookState() },
    });
    this.needsRender = true;
    if (this.onLoaded) this.onLoaded(this);
  }

  clear() {
    if (this.slice) this.slice.setVolumes(null);
    removeOverlays(this.stepOverlays);
    removeOverlays(this.liveOverlays);
    removeOverlays(this.selectionOverlays);
    this.stepOverlays = [];
    this.liveOverlays = [];
    this.selectionOverlays = [];
    if (this.labels) this.labels.set([]);
    this.labelSpecs = [];
    if (this.onLabels) this.onLabels([]);
    if (this.current) {
      if (this.current.mixer) this.current.mixer.stopAllAction();
      this.scene.remove(this.current.root);
    }
    this.current = null;
    this.info.loaded = false;
    this.needsRender = true;
  }

  // -------------------------------------------------------------------------- a step

  applyStep(step, { keepView = false } = {}) {
    const cur = this.current;
    if (!cur) return;
    this.step = step;
    const names = [...cur.structures.keys()];
    // A step names structures, or whole systems as "system:<system>" (lesson.yaml).
    const expand = (list) => new Set(list.flatMap((entry) => (String(entry).startsWith('system:')
      ? names.filter((n) => cur.structures.get(n).system === String(entry).slice(7)) : [entry])));
    const visible = Array.isArray(step.visible) ? expand(step.visible) : new Set(names);
    const translucent = Array.isArray(step.translucent) ? expand(step.translucent) : null;

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
    const highlighted = [...expand(step.highlighted || [])].filter((n) => cur.structures.has(n));
    for (const name of highlighted) this.stepOverlays.push(...addOverlays(cur.structures.get(name), this.materials));

    this.setLabels((step.labels || []).filter((l) => l && cur.structures.has(l.structure)));
    if (keepView && this.lastFraming) this.lastFraming = { framing: step.framing || {}, visible };
    else this.frame(step.framing || {}, visible);
    this.info.visible = names.filter((n) => visible.has(n));
    this.info.highlighted = highlighted;
    this.setHighlight(this.liveName);
    if (this.selectedName && !visible.has(this.selectedName)) this.setSelection(null);
    else this.setSelection(this.selectedName);
    this.needsRender = true;
  }

  /** The names of the structures the current step shows. */
  visibleStructures() {
    return [...this.info.visible];
  }

  /** The box a framing fits: its target structure with its surroundings, or the visible ones. */
  framingBox(framing, visible) {
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
    return box;
  }

  /**
   * The step framing that gives (nearly) what the camera shows now, for the studio's "use
   * this view": {target, view, zoom} with ``view`` the named view nearest the camera's
   * direction and ``zoom`` against that view's fit of ``target`` ('whole' or a structure).
   */
  framingNow(target = 'whole') {
    if (!this.current || !this.controls || !this.lastFraming) return null;
    const dir = this.camera.position.clone().sub(this.controls.target).normalize();
    let view = 'front';
    let best = -Infinity;
    for (const [name, v] of Object.entries(VIEWS)) {
      const dot = new THREE.Vector3(...v).normalize().dot(dir);
      if (dot > best) {
        best = dot;
        view = name;
      }
    }
    const box = this.framingBox({ target }, this.lastFraming.visible);
    const fit = fitBox(this.camera, box, new THREE.Vector3(...VIEWS[view]).normalize(), 1);
    const distance = this.camera.position.distanceTo(this.controls.target);
    const zoom = Math.min(20, Math.max(0.1, fit.distance / Math.max(distance, 1e-6)));
    return { target, view, zoom: Math.round(zoom * 100) / 100 };
  }

  frame(framing, visible) {
    const cur = this.current;
    const box = this.framingBox(framing, visible);
    if (box.isEmpty()) return;
    const direction = new THREE.Vector3(...(VIEWS[framing.view] || VIEWS.front)).normalize();
    const zoom = Number.isFinite(framing.zoom) && framing.zoom > 0 ? framing.zoom : 1;
    const fit = fitBox(this.camera, box, direction, zoom);
    const whole = new THREE.Box3().setFromObject(cur.root, true);
    const radius = Math.max(whole.getSize(new THREE.Vector3()).length() / 2, fit.radius);
    this.camera.near = Math.max(fit.distance / 100, 1e-4);
    this.camera.far = (fit.distance + radius) * 100;
    this.camera.updateProjectionMatrix();
    this.lastFraming = { framing, visible };
    const animate = this.framed && !this.reduced && this.controls;
    this.framed = true;
    if (animate) {
      // From where the student looks now to the step's view, eased (no jump cut).
      this.tween = {
        start: performance.now(),
        fromPosition: this.camera.position.clone(), fromTarget: this.controls.target.clone(),
        toPosition: fit.position.clone(), toTarget: fit.target.clone(),
      };
    } else {
      this.tween = null;
      this.camera.position.copy(fit.position);
      this.camera.lookAt(fit.target);
      if (this.controls) this.controls.target.copy(fit.target);
    }
    if (this.controls) {
      this.controls.minDistance = fit.radius * 0.05;
      this.controls.maxDistance = (fit.distance + radius) * 8;
      if (!animate) this.controls.update();
    }
    this.pointer.scale.setScalar(Math.max(radius * 0.015, 1e-3));
    this.needsRender = true;
  }

  /** Frames the current step again (the keyboard's 0 / Home, a "reset view" button). */
  resetView() {
    if (!this.current || !this.lastFraming) return;
    this.frame(this.lastFraming.framing, this.lastFraming.visible);
  }

  stepTween(now) {
    const t = this.tween;
    if (!t) return;
    const f = Math.min((now - t.start) / FRAME_MS, 1);
    const e = f < 0.5 ? 2 * f * f : 1 - ((-2 * f + 2) ** 2) / 2; // ease in-out
    this.camera.position.lerpVectors(t.fromPosition, t.toPosition, e);
    const target = new THREE.Vector3().lerpVectors(t.fromTarget, t.toTarget, e);
    this.controls.target.copy(target);
    this.camera.lookAt(target);
    if (f >= 1) this.tween = null;
    this.needsRender = true;
  }

  // -------------------------------------------------------------------------- keyboard

  onKey(event) {
    if (!this.controls || event.altKey || event.ctrlKey || event.metaKey) return;
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    let handled = true;
    if (event.key in arrows) {
      const [dx, dy] = arrows[event.key];
      if (event.shiftKey) this.pan(dx, -dy);
      else this.orbit(-dx * KEY_TURN, dy * KEY_TURN);
    } else if (event.key === '+' || event.key === '=' || event.key === 'PageUp') {
      this.zoom(KEY_ZOOM);
    } else if (event.key === '-' || event.key === '_' || event.key === 'PageDown') {
      this.zoom(1 / KEY_ZOOM);
    } else if (event.key === '0' || event.key === 'Home') {
      this.resetView();
    } else if (event.key === 'Enter' || event.key === ' ') {
      this.pickAt(0, 0, 'keyboard');
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  }

  /** Turns the camera around the target: ``dTheta`` about the vertical, ``dPhi`` up / down (radians). */
  orbit(dTheta, dPhi) {
    const c = this.controls;
    this.tween = null;
    const offset = this.camera.position.clone().sub(c.target);
    const sph = new THREE.Spherical().setFromVector3(offset);
    sph.theta += dTheta;
    sph.phi = Math.min(Math.max(sph.phi + dPhi, 0.05), Math.PI - 0.05);
    offset.setFromSpherical(sph);
    this.camera.position.copy(c.target).add(offset);
    this.camera.lookAt(c.target);
    c.update();
    this.needsRender = true;
  }

  /** Moves the view sideways (``dx``) and up (``dy``) by KEY_PAN of the distance. */
  pan(dx, dy) {
    const c = this.controls;
    this.tween = null;
    const distance = this.camera.position.distanceTo(c.target);
    const right = new THREE.Vector3().setFromMatrixColumn(this.camera.matrix, 0);
    const up = new THREE.Vector3().setFromMatrixColumn(this.camera.matrix, 1);
    const move = right.multiplyScalar(dx * KEY_PAN * distance).addScaledVector(up, dy * KEY_PAN * distance);
    this.camera.position.add(move);
    c.target.add(move);
    c.update();
    this.needsRender = true;
  }

  zoom(factor) {
    const c = this.controls;
    this.tween = null;
    const offset = this.camera.position.clone().sub(c.target);
    const length = Math.min(Math.max(offset.length() * factor, c.minDistance), c.maxDistance);
    offset.setLength(length);
    this.camera.position.copy(c.target).add(offset);
    c.update();
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

  /** The viewer's own selection (a pale overlay), or null. */
  setSelection(name) {
    this.selectedName = name || null;
    removeOverlays(this.selectionOverlays);
    this.selectionOverlays = [];
    const s = this.current && this.selectedName ? this.current.structures.get(this.selectedName) : null;
    if (s) this.selectionOverlays = addOverlays(s, this.selectionMaterials);
    this.info.selected = s ? s.name : null;
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

  /**
   * A point on the structure's surface for labels and leader lines (cached per file), in
   * the hologram's own frame as this view shows it (its root under the scene): also right
   * while an AR session has borrowed the root, where it is that group's local frame.
   */
  anchor(name) {
    const cur = this.current;
    if (!cur.anchors.has(name)) {
      const s = cur.structures.get(name);
      cur.root.updateWorldMatrix(true, false);
      const toRoot = cur.root.matrixWorld.clone().invert();
      cur.anchors.set(name, surfaceAnchor(s, structureBox(s)).applyMatrix4(toRoot).applyMatrix4(cur.root.matrix));
    }
    return cur.anchors.get(name);
  }

  setLabels(labels) {
    const cur = this.current;
    /** The step's labels: [{structure, text, display, anchor}] (also for the in-scene labels of AR). */
    this.labelSpecs = labels.map((l) => {
      const s = cur.structures.get(l.structure);
      return { structure: l.structure, text: l.text || s.display, display: s.display, anchor: this.anchor(l.structure) };
    });
    this.labels.set(this.labelSpecs);
    if (this.onLabels) this.onLabels(this.labelSpecs);
  }

  // -------------------------------------------------------------------------- picking

  setupPicking(canvas) {
    let down = null;
    let press = null; // a press held still on the slice plane: {timer, id, point, drag}
    const ndc = (e) => {
      const rect = canvas.getBoundingClientRect();
      return [((e.clientX - rect.left) / rect.width) * 2 - 1, -((e.clientY - rect.top) / rect.height) * 2 + 1];
    };
    const release = () => {
      if (!press) return;
      clearTimeout(press.timer);
      if (press.drag) {
        press.drag.end();
        this.controls.enabled = true;
        canvas.style.cursor = '';
      }
      press = null;
    };
    canvas.addEventListener('pointerdown', (e) => {
      down = { x: e.clientX, y: e.clientY, t: performance.now(), id: e.pointerId };
      release();
      if (!e.isPrimary || e.button > 0) return;
      const onPlane = this.sliceAt(...ndc(e));
      if (!onPlane) return;
      // held still for SLIDE_HOLD_MS, the press takes the plane along its normal (a drag at once turns the view)
      press = { id: e.pointerId, point: onPlane.point, at: ndc(e), drag: null };
      press.timer = setTimeout(() => {
        if (!press || !down || down.id !== press.id) return;
        this.controls.enabled = false; // OrbitControls ignores the moves; its pointerup still ends the gesture
        canvas.style.cursor = 'grabbing';
        const raycaster = new THREE.Raycaster();
        this.camera.updateMatrixWorld();
        raycaster.setFromCamera(new THREE.Vector2(...press.at), this.camera);
        const up = new THREE.Vector3().setFromMatrixColumn(this.camera.matrixWorld, 1);
        press.drag = this.slice.slide(press.point, raycaster.ray, up, (slice) => this.sliceMoved(slice));
      }, SLIDE_HOLD_MS);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!press || press.id !== e.pointerId) return;
      if (!press.drag) {
        if (down && Math.hypot(e.clientX - down.x, e.clientY - down.y) > 6) release(); // moved first: it turns the view
        return;
      }
      const raycaster = new THREE.Raycaster();
      raycaster.setFromCamera(new THREE.Vector2(...ndc(e)), this.camera);
      press.drag.move(raycaster.ray);
    });
    canvas.addEventListener('pointercancel', release);
    canvas.addEventListener('pointerup', (e) => {
      if (press && press.id === e.pointerId) {
        const slid = Boolean(press.drag);
        release();
        if (slid) {
          down = null;
          return;
        }
      }
      if (!down || down.id !== e.pointerId || !this.current) return;
      const moved = Math.hypot(e.clientX - down.x, e.clientY - down.y);
      const quick = performance.now() - down.t < 600;
      down = null;
      if (moved > 6 || !quick) return; // a drag turns the view, not a tap
      this.pickAt(...ndc(e), 'tap');
    });
  }

  /** The structure under normalised device coordinates (x, y), or null (not on the part a slice clips away). */
  structureAt(x, y) {
    if (!this.current) return null;
    const raycaster = new THREE.Raycaster();
    raycaster.setFromCamera(new THREE.Vector2(x, y), this.camera);
    return pickStructure(raycaster, this.scene, this.current.structures, this.keptHit());
  }

  /** A filter of raycast hits: those on the side of the slice plane that is drawn (null: no slice). */
  keptHit() {
    if (!this.slice.info.shown) return null;
    const root = this.current.root;
    return (hit) => this.slice.kept(root.worldToLocal(hit.point.clone()));
  }

  /**
   * The slice plane under (x, y) when nothing opaque lies in front of it: {distance, point
   * (hologram frame), probe}; or null.
   */
  sliceAt(x, y) {
    if (!this.current || !this.slice.info.shown) return null;
    const raycaster = new THREE.Raycaster();
    raycaster.setFromCamera(new THREE.Vector2(x, y), this.camera);
    return this.sliceHit(raycaster);
  }

  /**
   * A select's ray (AR: {origin, direction}, world) on the slice plane: shows what it reads
   * there and returns true; false when the ray misses the plane or something opaque is in front.
   */
  probeRay(ray) {
    if (!this.current || !this.slice.info.shown) return false;
    const hit = this.sliceHit(raycasterOf(ray));
    if (hit) this.showProbe(hit.probe);
    return Boolean(hit);
  }

  sliceHit(raycaster) {
    const hit = this.slice.hit(raycaster);
    if (!hit) return null;
    const keep = this.keptHit();
    const nearer = raycaster.intersectObject(this.current.root, true).some((o) => o.object.isMesh
      && !o.object.userData.arkitSlice && o.distance < hit.distance - 1e-4 && shown(o.object) && keep(o)
      && !(o.object.material && o.object.material.transparent));
    return nearer ? null : hit;
  }

  /** Shows (and hands to onProbe) what the slice reads at a hit: the CT number and the SUV. */
  showProbe(result) {
    this.info.probe = result;
    this.readout.textContent = result ? probeText(result) : '';
    this.readout.hidden = !result;
    if (result && this.onProbe) this.onProbe(result);
  }

  pickAt(x, y, how) {
    if (!this.current) return;
    const onSlice = this.sliceAt(x, y);
    if (onSlice) {
      this.showProbe(onSlice.probe);
      return;
    }
    const name = this.structureAt(x, y);
    if (this.onPick) this.onPick(name, name ? this.current.structures.get(name).display : null, how);
  }

  /** Page coordinates {x, y} of a RAS point (mm) of the hologram as the camera shows it, or null. */
  screenOfRas(ras) {
    const local = this.current && this.slice.fromRas(ras);
    if (!local) return null;
    this.current.root.updateWorldMatrix(true, false);
    this.camera.updateMatrixWorld();
    const p = this.current.root.localToWorld(local).project(this.camera);
    const rect = this.renderer.domElement.getBoundingClientRect();
    return { x: rect.left + ((p.x + 1) / 2) * rect.width, y: rect.top + ((1 - p.y) / 2) * rect.height };
  }

  /**
   * A held select (AR controller or hand) on the slice plane: {move(ray), end()} moving the
   * plane along its normal as the hand moves, or null when the ray misses it. The view's
   * ``onSliceMove(slice)`` hears each new position (the page keeps it; it is the viewer's own).
   */
  grabSlice(ray) {
    if (!this.current || !this.slice.info.shown) return null;
    if (!this.slice.hit(raycasterOf(ray))) return null;
    return this.slice.grab(ray.origin, (slice) => this.sliceMoved(slice));
  }

  /** The plane moved by hand (a held press or select): shown, and told to ``onSliceMove``. */
  sliceMoved(slice) {
    this.slice.set(slice);
    if (this.onSliceMove) this.onSliceMove(slice);
  }

  /** The slice to show (a lesson step's ``slice``, the live state's), or null to take it away. */
  setSlice(slice) {
    if (!this.renderer) return;
    if (!slice) this.showProbe(null);
    this.slice.set(slice);
  }

  /** A structure's display name from the hologram file (extras.display), if loaded. */
  displayName(name) {
    const s = this.current && this.current.structures.get(name);
    return s ? s.display : null;
  }

  /** The structure entry (collectStructures) of ``name``, or null. */
  structure(name) {
    return (this.current && this.current.structures.get(name)) || null;
  }

  /** ``scene.extras.arkit.legend`` of the file shown, or null. */
  get legend() {
    return this.current ? this.current.legend : null;
  }

  /**
   * Where to tap structure ``name`` (tests, and a future "show me" hint): page coordinates
   * {x, y} of a point where a tap picks it and so do points ``margin`` px around it (inside
   * the organ, away from its edge), nearest the middle of its outline on screen; or null.
   */
  screenPoint(name, margin = 4) {
    const s = this.structure(name);
    if (!s || !this.info.visible.includes(name)) return null;
    this.camera.updateMatrixWorld();
    const rect = this.renderer.domElement.getBoundingClientRect();
    const box = structureBox(s);
    const corners = [];
    for (const x of [box.min.x, box.max.x]) {
      for (const y of [box.min.y, box.max.y]) {
        for (const z of [box.min.z, box.max.z]) corners.push(new THREE.Vector3(x, y, z).project(this.camera));
      }
    }
    const clamp = (v) => Math.min(Math.max(v, -1), 1);
    const x0 = clamp(Math.min(...corners.map((c) => c.x)));
    const x1 = clamp(Math.max(...corners.map((c) => c.x)));
    const y0 = clamp(Math.min(...corners.map((c) => c.y)));
    const y1 = clamp(Math.max(...corners.map((c) => c.y)));
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    const px = 2 / rect.width;
    const py = 2 / rect.height;
    const candidates = [];
    const n = 14;
    for (let i = 0; i <= n; i++) {
      for (let j = 0; j <= n; j++) {
        const x = x0 + ((x1 - x0) * i) / n;
        const y = y0 + ((y1 - y0) * j) / n;
        candidates.push([x, y, (x - cx) ** 2 + (y - cy) ** 2]);
      }
    }
    candidates.sort((a, b) => a[2] - b[2]);
    for (const [x, y] of candidates) {
      if (this.structureAt(x, y) !== name) continue;
      const around = [[margin, 0], [-margin, 0], [0, margin], [0, -margin]];
      if (!around.every(([dx, dy]) => this.structureAt(x + dx * px, y + dy * py) === name)) continue;
      return { x: rect.left + ((x + 1) / 2) * rect.width, y: rect.top + ((1 - y) / 2) * rect.height };
    }
    return null;
  }

  // -------------------------------------------------------------------------- loop

  tick(t, frame) {
    const cur = this.current;
    const now = performance.now();
    for (const fn of this.frameCallbacks) fn(t, frame);
    if (this.renderer.xr && this.renderer.xr.isPresenting) this.needsRender = true;
    if (cur && cur.mixer && cur.duration > 0 && this.timeSource && (this.needsRender || now - (this.timeAt || 0) >= TIME_FRAME_MS)) {
      this.timeAt = now;
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
    if (this.slice.info.shown) {
      if (this.timeSource) this.slice.setTime(this.timeSource());
      this.slice.updateWorldPlane(); // the hologram may have moved (AR placement)
    }
    if (this.tween) this.stepTween(now);
    if (this.controls && this.controls.update()) this.needsRender = true;
    if (this.needsRender) {
      this.needsRender = false;
      this.renderer.render(this.scene, this.camera);
      this.labels.place(this.camera, this.container.clientWidth, this.container.clientHeight);
      this.info.labels = this.labels.layout();
      this.info.frames += 1;
    }
  }

  /** Draw on the next frame (after changing what the time source returns). */
  invalidate() {
    this.needsRender = true;
  }
}

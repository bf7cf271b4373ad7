// The hologram in the room: WebXR immersive-ar (immersive-vr where AR is missing, the
// HoloLens 2 case) for a three.js WebGLRenderer.
//
//   const ar = createAR({ renderer, scene, camera, root, onSelect, onState, options });
//   await ar.ready;                  // feature detection done: ar.state.supported, .mode
//   button.onclick = () => ar.enter();   // from a user gesture
//   renderer.setAnimationLoop((t, frame) => { ar.update(t, frame); renderer.render(scene, camera); });
//
// - ``update()`` must run every frame before rendering, and a session needs a render every
//   frame (an XR framebuffer is not kept between frames).
// - ``root``: the hologram (an Object3D, e.g. a loaded glTF scene). While a session runs it
//   is borrowed: moved under the placement groups (hidden until placed) and given back to
//   its parent, with its transform, when the session ends. ``setHologram()`` swaps it (a
//   step change; in a session the previous one is left detached, the page owns it).
//   A DOM element passed as ``root`` (or ``options.overlay``) is the dom-overlay root
//   instead (handheld AR only; headsets have no DOM overlay).
// - The scene's world frame is the XR reference space (local-floor where granted, else
//   local): the camera must sit directly under ``scene`` (three.js applies the camera's
//   parent transform to the XR views). In a session the scene has no background unless the
//   display is opaque, and the camera's near/far are 0.01/100 m (restored at the end).
// - Placement: a hit-test reticle (horizontal surfaces only); select/tap places the
//   hologram there, facing the viewer, tabletop size (the body's superior-inferior extent
//   ``options.tabletopHeight``, 0.40 m) unless ``setLifeSize(true)``; upright or supine
//   (``setPose``). With no surface found within ``options.fallbackDelayMs`` (2 s; at once
//   without hit-test) it is placed about 1 m in front of the viewer at a comfortable
//   height; a select that finds no surface does the same. An XRAnchor is created at the
//   placement where the session has anchors, and the hologram follows it.
// - Gestures once placed: one finger dragging (screen) or one controller/hand squeezing or
//   dragging with select held turns it; two fingers, or two controllers/hands squeezing,
//   pinch-scale and twist it.
// - A select held on what ``options.grab(ray)`` claims (the slice plane) moves it with the
//   input instead: ``move(ray)`` every frame, ``end()`` on release (no turn; a press that
//   stayed put is a tap, which ``options.probe(ray)`` reads on the plane).
// - A select (tap, trigger, pinch) on the placed hologram raycasts from that input's target
//   ray (after ``options.intercept(ray)``, which may claim it for an in-scene button) and
//   reports the structure under it: ``onSelect(name, display)`` with the structure
//   node's name (``extras.label``) or a merged mesh member's (``_LABEL``), as the inline
//   viewer picks; a select that hits no hologram but a surface moves the hologram there.
//
// State (``ar.state``, also ``window.__arkitAR``; ``onState(copy)`` on each change):
// {supported, mode, inSession, placed, placedBy: 'hit-test'|'fallback'|null,
// fallbackReason: 'timeout'|'select'|'no-hit-test'|null, anchored, lastSelected,
// lastSelectedDisplay, scale (world metres per glTF metre), turn_deg (the user's turn
// about the vertical), height_m (the body's displayed superior-inferior extent),
// standing_m (how far it rises above its surface), lifeSize, pose, position, hitTest,
// anchors, blendMode, referenceSpace, error}.

import * as THREE from 'three';

import { collectStructures, pickStructure, shown } from '../../lib/hologram.js';

const MODES = ['immersive-ar', 'immersive-vr'];
const DEFAULTS = {
  overlay: null, // dom-overlay root element
  tabletopHeight: 0.4, // metres: the body's superior-inferior extent at tabletop size
  fallbackDelayMs: 2000, // no surface within this long -> placed in front of the viewer
  fallbackDistance: 1.0, // metres in front of the viewer (life size: 1.5)
  comfortableDrop: 0.3, // the tabletop hologram's centre this far below the eyes
  eyeHeight: 1.6, // assumed eye height above the floor in a 'local' space
  lifeSize: false,
  pose: 'upright',
  modes: MODES,
  minScale: 0.2, // limits of the user's pinch factor
  maxScale: 5,
  exposeGlobal: true, // window.__arkitAR
  intercept: null, // (ray) => true when a select was for something else (in-scene buttons)
  grab: null, // (ray) => {move(ray), end()} when a held select takes an object along (the slice plane), else null
  probe: null, // (ray) => true when a select reads a point (on the slice plane) instead of picking
  kept: null, // () => a filter of raycast hits (those a slice plane keeps), or null
};
const INPUT_EVENTS = ['selectstart', 'select', 'selectend', 'squeezestart', 'squeezeend'];
const HORIZONTAL = Math.cos(THREE.MathUtils.degToRad(25)); // hit normal vs up
const GRAB_TAP_M = 0.005; // a select held on the plane that moved the hand less than this is a tap
const DRAG_ANGLE = THREE.MathUtils.degToRad(4); // a held select turns into a drag past this
const DRAG_SCREEN = 0.03; // tangent units on a touch screen
const DRAG_MOVE_M = 0.03;
const UP = new THREE.Vector3(0, 1, 0);
const FORWARD = new THREE.Vector3(0, 0, -1);
// Supine: anterior (+Z in glTF) up, the head to the viewer's left.
const SUPINE = new THREE.Quaternion().setFromEuler(new THREE.Euler(-Math.PI / 2, Math.PI / 2, 0, 'YXZ'));

const wrapAngle = (a) => Math.atan2(Math.sin(a), Math.cos(a));
const vec = (p) => new THREE.Vector3(p.x, p.y, p.z);
const quat = (q) => new THREE.Quaternion(q.x, q.y, q.z, q.w);

/** Which immersive mode this browser offers: {supported, mode} (immersive-ar first). */
export async function detectXR(modes = MODES) {
  const xr = typeof navigator !== 'undefined' ? navigator.xr : null;
  if (!xr || typeof xr.isSessionSupported !== 'function') return { supported: false, mode: null };
  for (const mode of modes) {
    try {
      if (await xr.isSessionSupported(mode)) return { supported: true, mode };
    } catch {
      // a SecurityError (insecure context, permissions policy) means no
    }
  }
  return { supported: false, mode: null };
}

export function createAR({ renderer, scene, camera, root = null, onSelect = null, onState = null, options = {} } = {}) {
  const opts = { ...DEFAULTS, ...options };
  const isElement = (v) => typeof Element !== 'undefined' && v instanceof Element;
  let overlay = opts.overlay;
  let hologram = null;
  if (isElement(root)) overlay = root;
  else hologram = root;

  const state = {
    supported: false, mode: null, inSession: false, placed: false, placedBy: null, fallbackReason: null,
    anchored: false, lastSelected: null, lastSelectedDisplay: null, scale: 1, turn_deg: 0, height_m: null, standing_m: null,
    lifeSize: Boolean(opts.lifeSize), pose: opts.pose === 'supine' ? 'supine' : 'upright', position: null,
    hitTest: false, anchors: false, blendMode: null, referenceSpace: null, error: null,
  };
  if (opts.exposeGlobal && typeof window !== 'undefined') window.__arkitAR = state;
  const emit = () => {
    if (onState) onState({ ...state });
  };

  // ------------------------------------------------------------------ scene graph
  // placeGroup: the placement (anchor pose: position + yaw facing the viewer)
  //  -> userGroup: the user's turn (yaw) and scale (base x pinch)
  //   -> centreGroup: puts the posed hologram's bottom centre at the origin
  //    -> poseGroup: upright or supine
  //     -> the hologram
  const arGroup = new THREE.Group();
  arGroup.name = 'arkit-ar';
  const placeGroup = new THREE.Group();
  const userGroup = new THREE.Group();
  const centreGroup = new THREE.Group();
  const poseGroup = new THREE.Group();
  placeGroup.add(userGroup);
  userGroup.add(centreGroup);
  centreGroup.add(poseGroup);
  arGroup.add(placeGroup);
  placeGroup.visible = false;

  const reticle = new THREE.Group();
  reticle.name = 'arkit-reticle';
  const ringMaterial = new THREE.MeshBasicMaterial({ color: 0xffffff, transparent: true, opacity: 0.9, depthWrite: false });
  reticle.add(new THREE.Mesh(new THREE.RingGeometry(0.05, 0.065, 40).rotateX(-Math.PI / 2), ringMaterial));
  reticle.add(new THREE.Mesh(new THREE.CircleGeometry(0.008, 16).rotateX(-Math.PI / 2), ringMaterial));
  reticle.children.forEach((m) => {
    m.renderOrder = 30;
    m.raycast = () => {};
  });
  reticle.visible = false;
  arGroup.add(reticle);

  const rayMaterial = new THREE.LineBasicMaterial({ color: 0x4ad8ff, transparent: true, opacity: 0.8 });
  const rayGeometry = new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(0, 0, 0), new THREE.Vector3(0, 0, -1)]);

  // ------------------------------------------------------------------ session state
  let session = null;
  let viewerSpace = null;
  let viewerHitSource = null;
  let transientHitSource = null;
  const inputs = new Map(); // XRInputSource -> record
  let viewer = null; // {position, quaternion} in the reference space, last frame
  let viewerHit = null;
  let transientHits = new Map();
  let searchStart = null;
  let surfaceSeen = false;
  let placement = null; // {kind, position, yaw, eyeY, surfaceY?}
  let anchor = null;
  let anchorTicket = 0;
  let pendingAnchor = false;
  const taps = [];
  let gesture = null;
  let userYaw = 0;
  let userScale = 1;
  let localBox = null; // the hologram's box in poseGroup's frame (its own transform)
  let structures = new Map();
  let borrowed = null; // {object, parent, position, quaternion, scale, visible}
  let saved = null; // scene/camera settings restored at the end
  let xrWasEnabled = false;
  const raycaster = new THREE.Raycaster();

  const ready = detectXR(opts.modes).then((r) => {
    state.supported = r.supported;
    state.mode = r.mode;
    emit();
    return { ...state };
  });

  // ------------------------------------------------------------------ hologram

  function borrow(object) {
    if (!object) return;
    borrowed = {
      object,
      parent: object.parent,
      position: object.position.clone(),
      quaternion: object.quaternion.clone(),
      scale: object.scale.clone(),
      visible: object.visible,
    };
    object.removeFromParent();
    object.updateMatrixWorld(true);
    localBox = new THREE.Box3().setFromObject(object, true);
    if (localBox.isEmpty()) localBox = new THREE.Box3(new THREE.Vector3(-0.1, 0, -0.1), new THREE.Vector3(0.1, 0.2, 0.1));
    structures = collectStructures(object);
    poseGroup.add(object);
    object.visible = true;
    layout();
  }

  /** Returns the borrowed hologram its transform; ``reattach``: to its old parent too (at
   * the session's end; a hologram swapped out by setHologram is left detached). */
  function giveBack(reattach) {
    if (!borrowed) return;
    const b = borrowed;
    borrowed = null;
    b.object.removeFromParent();
    b.object.position.copy(b.position);
    b.object.quaternion.copy(b.quaternion);
    b.object.scale.copy(b.scale);
    b.object.visible = b.visible;
    if (reattach && b.parent) b.parent.add(b.object);
    b.object.updateMatrixWorld(true);
  }

  /** The scale, pose rotation and centring from the current settings. */
  function layout() {
    poseGroup.quaternion.copy(state.pose === 'supine' ? SUPINE : new THREE.Quaternion());
    const box = (localBox || new THREE.Box3(new THREE.Vector3(), new THREE.Vector3(0, 1, 0))).clone();
    const height = Math.max(box.max.y - box.min.y, 1e-3); // superior-inferior (glTF +Y)
    box.applyMatrix4(new THREE.Matrix4().makeRotationFromQuaternion(poseGroup.quaternion));
    const centre = box.getCenter(new THREE.Vector3());
    centreGroup.position.set(-centre.x, -box.min.y, -centre.z);
    const base = state.lifeSize ? 1 : opts.tabletopHeight / height;
    const s = base * userScale;
    userGroup.scale.setScalar(s);
    userGroup.quaternion.setFromAxisAngle(UP, userYaw);
    state.scale = s;
    state.turn_deg = THREE.MathUtils.radToDeg(userYaw);
    state.height_m = height * s;
    state.standing_m = (box.max.y - box.min.y) * s; // how far it rises above the surface
  }

  // ------------------------------------------------------------------ enter / exit

  let entering = null;

  /** Starts the session (call from a user gesture); resolves with it. */
  function enter() {
    if (session) return Promise.resolve(session);
    if (!entering) entering = requestAndStart().finally(() => { entering = null; });
    return entering;
  }

  async function requestAndStart() {
    await ready;
    if (!state.supported) throw new Error('This browser offers no immersive AR or VR session.');
    const optionalFeatures = ['local-floor', 'hit-test', 'anchors'];
    const init = { requiredFeatures: [], optionalFeatures };
    if (overlay) {
      optionalFeatures.push('dom-overlay');
      init.domOverlay = { root: overlay };
    }
    let s;
    try {
      s = await navigator.xr.requestSession(state.mode, init);
    } catch (err) {
      state.error = `The ${state.mode === 'immersive-ar' ? 'AR' : 'VR'} session could not start: ${err && err.message ? err.message : err}`;
      emit();
      throw err;
    }
    await start(s);
    return s;
  }

  async function start(s) {
    session = s;
    state.error = null;
    let refType = 'local';
    try {
      await s.requestReferenceSpace('local-floor');
      refType = 'local-floor';
    } catch {
      // no floor-level space (some headsets, all inline): the head's start is the origin
    }
    state.referenceSpace = refType;
    xrWasEnabled = renderer.xr.enabled;
    renderer.xr.enabled = true;
    renderer.xr.setReferenceSpaceType(refType);
    s.addEventListener('end', onEnd);
    for (const type of INPUT_EVENTS) s.addEventListener(type, onInputEvent);
    s.addEventListener('inputsourceschange', onInputSourcesChange);
    try {
      await renderer.xr.setSession(s);
    } catch (err) {
      state.error = `The immersive session could not start drawing: ${err && err.message ? err.message : err}`;
      s.end().catch(() => {});
      throw err;
    }

    state.blendMode = s.environmentBlendMode || (state.mode === 'immersive-ar' ? 'alpha-blend' : 'opaque');
    saved = { background: scene.background, near: camera.near, far: camera.far };
    if (state.blendMode !== 'opaque') scene.background = null; // the room shows through
    camera.near = 0.01;
    camera.far = 100;
    camera.updateProjectionMatrix();
    scene.add(arGroup);
    borrow(hologram);

    viewerSpace = await s.requestReferenceSpace('viewer');
    state.hitTest = false;
    if (typeof s.requestHitTestSource === 'function') {
      try {
        viewerHitSource = await s.requestHitTestSource({ space: viewerSpace });
        state.hitTest = true;
      } catch {
        viewerHitSource = null;
      }
      if (state.hitTest && typeof s.requestHitTestSourceForTransientInput === 'function') {
        try {
          transientHitSource = await s.requestHitTestSourceForTransientInput({ profile: 'generic-touchscreen' });
        } catch {
          transientHitSource = null;
        }
      }
    }
    for (const source of s.inputSources || []) addInput(source);
    state.anchors = false; // known after the first anchor attempt
    state.inSession = true;
    resetPlacement();
    emit();
  }

  function exit() {
    return session ? session.end() : Promise.resolve();
  }

  function onEnd() {
    const s = session;
    session = null;
    if (s) {
      s.removeEventListener('end', onEnd);
      for (const type of INPUT_EVENTS) s.removeEventListener(type, onInputEvent);
      s.removeEventListener('inputsourceschange', onInputSourcesChange);
    }
    for (const source of [...inputs.keys()]) removeInput(source);
    for (const src of [viewerHitSource, transientHitSource]) {
      try {
        if (src) src.cancel();
      } catch {
        // the session is gone already
      }
    }
    viewerHitSource = null;
    transientHitSource = null;
    viewerSpace = null;
    dropAnchor();
    giveBack(true);
    arGroup.removeFromParent();
    renderer.xr.enabled = xrWasEnabled;
    if (saved) {
      scene.background = saved.background;
      camera.near = saved.near;
      camera.far = saved.far;
      camera.updateProjectionMatrix();
      saved = null;
    }
    placement = null;
    placeGroup.visible = false;
    reticle.visible = false;
    Object.assign(state, { inSession: false, placed: false, placedBy: null, fallbackReason: null, anchored: false, position: null });
    emit();
  }

  // ------------------------------------------------------------------ inputs

  function addInput(source) {
    if (inputs.has(source)) return;
    const rec = {
      source, selecting: false, clicked: false, squeezing: false, dragging: false, start: null, handle: null, ray: null, hit: null,
      hitSource: null, line: null,
    };
    inputs.set(source, rec);
    if (source.targetRayMode === 'tracked-pointer') {
      rec.line = new THREE.Line(rayGeometry, rayMaterial);
      rec.line.raycast = () => {};
      rec.line.visible = false;
      arGroup.add(rec.line);
      if (state.hitTest && session && typeof session.requestHitTestSource === 'function') {
        const s = session;
        s.requestHitTestSource({ space: source.targetRaySpace }).then((src) => {
          if (inputs.get(source) === rec && session === s) rec.hitSource = src;
          else src.cancel();
        }).catch(() => {});
      }
    }
  }

  function removeInput(source) {
    const rec = inputs.get(source);
    if (!rec) return;
    inputs.delete(source);
    if (rec.line) rec.line.removeFromParent();
    try {
      if (rec.hitSource) rec.hitSource.cancel();
    } catch {
      // already gone with the session
    }
  }

  function onInputSourcesChange(event) {
    for (const source of event.removed || []) removeInput(source);
    for (const source of event.added || []) addInput(source);
  }

  function rayFrom(pose) {
    const t = pose.transform;
    const origin = vec(t.position);
    const direction = FORWARD.clone().applyQuaternion(quat(t.orientation)).normalize();
    return { origin, direction };
  }

  function onInputEvent(event) {
    const source = event.inputSource;
    if (!inputs.has(source)) addInput(source); // transient touches arrive with their select
    const rec = inputs.get(source);
    const ref = renderer.xr.getReferenceSpace();
    let pose = null;
    try {
      pose = event.frame && ref ? event.frame.getPose(source.targetRaySpace, ref) : null;
    } catch {
      pose = null; // the frame is no longer active in some browsers
    }
    if (pose) rec.ray = rayFrom(pose);
    switch (event.type) {
      case 'selectstart':
        rec.selecting = true;
        rec.dragging = false;
        // a select held on something that moves by hand (the slice plane) takes it along
        rec.grab = state.placed && opts.grab && rec.ray ? opts.grab({ origin: rec.ray.origin.clone(),
          direction: rec.ray.direction.clone() }) : null;
        rec.start = rec.ray ? { direction: rec.ray.direction.clone(), origin: rec.ray.origin.clone(), handle: null } : null;
        break;
      case 'select':
        // A completed press (a cancelled one ends without it). Chrome fires it just before
        // selectend, iwer with selectstart: the tap is taken at selectend either way.
        rec.clicked = true;
        break;
      case 'selectend':
        if (rec.grab) {
          // a grab that took the plane anywhere is not a tap; a press that stayed put is one
          const still = rec.start && rec.ray && rec.ray.origin.distanceTo(rec.start.origin) < GRAB_TAP_M;
          if (!still || (rec.grab.moved && rec.grab.moved())) rec.clicked = false;
          rec.grab.end();
          rec.grab = null;
        }
        if (rec.clicked && !rec.dragging && rec.ray) {
          taps.push({ source, ray: { origin: rec.ray.origin.clone(), direction: rec.ray.direction.clone() }, hit: currentHitFor(rec) });
        }
        rec.selecting = false;
        rec.clicked = false;
        rec.dragging = false;
        break;
      case 'squeezestart':
        rec.squeezing = true;
        break;
      case 'squeezeend':
        rec.squeezing = false;
        break;
      default:
    }
  }

  /** The surface a select of this input would place on: its own hit-test for controllers
   * and hands, the touch's (or the screen centre's) for screens, the view's for gaze. */
  function currentHitFor(rec) {
    if (rec.source.targetRayMode === 'tracked-pointer') return rec.hitSource ? rec.hit : viewerHit;
    return transientHits.get(rec.source) || viewerHit;
  }

  // ------------------------------------------------------------------ per frame

  function readHit(results, ref) {
    if (!results || !results.length) return null;
    const pose = results[0].getPose(ref); // the nearest: never look through a wall
    if (!pose) return null;
    const m = new THREE.Matrix4().fromArray(pose.transform.matrix);
    const position = new THREE.Vector3().setFromMatrixPosition(m);
    const normal = new THREE.Vector3().setFromMatrixColumn(m, 1).normalize(); // the hit's +Y
    return { position, normal, horizontal: normal.dot(UP) >= HORIZONTAL };
  }

  function safeHits(frame, source) {
    try {
      return frame.getHitTestResults(source);
    } catch {
      return null; // no results for this source in this frame yet
    }
  }

  /** Call once per frame from the animation loop, before rendering. */
  function update(time, xrFrame) {
    const frame = xrFrame || (renderer.xr.getFrame ? renderer.xr.getFrame() : null);
    if (!session || !frame) return;
    const ref = renderer.xr.getReferenceSpace();
    if (!ref) return;
    const now = performance.now();
    const vp = frame.getViewerPose(ref);
    if (vp) viewer = { position: vec(vp.transform.position), quaternion: quat(vp.transform.orientation) };
    if (searchStart === null && viewer) searchStart = now;

    // Hit tests.
    viewerHit = viewerHitSource ? readHit(safeHits(frame, viewerHitSource), ref) : null;
    transientHits = new Map();
    if (transientHitSource && typeof frame.getHitTestResultsForTransientInput === 'function') {
      try {
        for (const r of frame.getHitTestResultsForTransientInput(transientHitSource)) {
          const hit = readHit(r.results, ref);
          if (hit) transientHits.set(r.inputSource, hit);
        }
      } catch {
        // none this frame
      }
    }
    let reticleHit = null;
    for (const rec of inputs.values()) {
      let pose = null;
      try {
        pose = frame.getPose(rec.source.targetRaySpace, ref);
      } catch {
        pose = null;
      }
      rec.ray = pose ? rayFrom(pose) : null;
      rec.hit = rec.hitSource ? readHit(safeHits(frame, rec.hitSource), ref) : null;
      if (rec.line) {
        rec.line.visible = Boolean(rec.ray);
        if (rec.ray) {
          rec.line.position.copy(rec.ray.origin);
          rec.line.quaternion.setFromUnitVectors(FORWARD, rec.ray.direction);
          rec.line.scale.set(1, 1, rec.hit ? Math.max(rec.hit.position.distanceTo(rec.ray.origin), 0.05) : 2);
        }
      }
      if (rec.hit && rec.hit.horizontal && (!reticleHit || rec.source.handedness === 'right')) reticleHit = rec.hit;
    }
    if (!reticleHit) {
      for (const hit of transientHits.values()) if (hit.horizontal) reticleHit = hit;
    }
    if (!reticleHit && viewerHit && viewerHit.horizontal) reticleHit = viewerHit;
    if (reticleHit) surfaceSeen = true;
    reticle.visible = Boolean(reticleHit);
    if (reticleHit) {
      reticle.position.copy(reticleHit.position);
      reticle.quaternion.setFromUnitVectors(UP, reticleHit.normal);
      ringMaterial.opacity = state.placed ? 0.45 : 0.9;
    }

    // Selects (queued by the input events; handled here, where the frame is active).
    while (taps.length) tap(taps.shift(), frame, ref);

    // Nothing to stand on for a while: in front of the viewer.
    if (!state.placed && viewer && searchStart !== null && !surfaceSeen) {
      const delay = state.hitTest ? opts.fallbackDelayMs : 0;
      if (now - searchStart >= delay) placeInFront(state.hitTest ? 'timeout' : 'no-hit-test');
    }
    if (pendingAnchor) {
      pendingAnchor = false;
      makeAnchor(frame, ref);
    }
    followAnchor(frame, ref);
    gestures(frame);
  }

  // ------------------------------------------------------------------ placement

  function resetPlacement() {
    placement = null;
    dropAnchor();
    placeGroup.visible = false;
    searchStart = null;
    surfaceSeen = false;
    gesture = null;
    userYaw = 0;
    userScale = 1;
    layout();
    Object.assign(state, { placed: false, placedBy: null, fallbackReason: null, position: null });
  }

  function facingYaw(position) {
    if (!viewer) return 0;
    const dx = viewer.position.x - position.x;
    const dz = viewer.position.z - position.z;
    return Math.hypot(dx, dz) < 1e-6 ? 0 : Math.atan2(dx, dz); // +Z (anterior) to the viewer
  }

  function placeAt(hit) {
    setPlacement({ kind: 'hit-test', position: hit.position.clone(), yaw: facingYaw(hit.position) }, null);
  }

  function fallbackY(eyeY) {
    if (state.lifeSize) {
      // On the floor: y = 0 in local-floor; about eyeHeight below the eyes in local.
      return state.referenceSpace === 'local-floor' ? 0 : eyeY - opts.eyeHeight;
    }
    return eyeY - opts.comfortableDrop - state.standing_m / 2; // its middle a little below the eyes
  }

  function placeInFront(reason) {
    if (!viewer) return;
    const forward = FORWARD.clone().applyQuaternion(viewer.quaternion);
    forward.y = 0;
    if (forward.lengthSq() < 1e-6) forward.set(0, 0, -1); // looking straight up or down
    forward.normalize();
    const distance = state.lifeSize ? Math.max(opts.fallbackDistance, 1.5) : opts.fallbackDistance;
    const position = viewer.position.clone().addScaledVector(forward, distance);
    const eyeY = viewer.position.y;
    position.y = fallbackY(eyeY);
    setPlacement({ kind: 'fallback', position, yaw: facingYaw(position), eyeY }, reason);
  }

  function setPlacement(p, reason) {
    dropAnchor();
    placement = p;
    placeGroup.position.copy(p.position);
    placeGroup.quaternion.setFromAxisAngle(UP, p.yaw);
    placeGroup.visible = true;
    placeGroup.updateMatrixWorld(true);
    Object.assign(state, {
      placed: true, placedBy: p.kind, fallbackReason: p.kind === 'fallback' ? reason : null,
      position: p.position.toArray(),
    });
    pendingAnchor = true; // created in update(), with an active frame
    emit();
  }

  function makeAnchor(frame, ref) {
    if (!placement || typeof frame.createAnchor !== 'function' || typeof XRRigidTransform === 'undefined') return;
    const ticket = ++anchorTicket;
    const q = new THREE.Quaternion().setFromAxisAngle(UP, placement.yaw);
    const p = placement.position;
    let promise;
    try {
      promise = frame.createAnchor(new XRRigidTransform({ x: p.x, y: p.y, z: p.z }, { x: q.x, y: q.y, z: q.z, w: q.w }), ref);
    } catch {
      return; // no anchors in this session
    }
    if (!promise || typeof promise.then !== 'function') return;
    promise.then((a) => {
      if (ticket !== anchorTicket || !session) {
        a.delete();
        return;
      }
      anchor = a;
      state.anchors = true;
      state.anchored = true;
      emit();
    }).catch(() => {
      // the device could not anchor here: the placement stays in the reference space
    });
  }

  function dropAnchor() {
    anchorTicket += 1;
    if (anchor) {
      try {
        anchor.delete();
      } catch {
        // gone with the session
      }
    }
    anchor = null;
    if (state.anchored) {
      state.anchored = false;
    }
  }

  function followAnchor(frame, ref) {
    if (!anchor) return;
    let tracked = true;
    try {
      tracked = !frame.trackedAnchors || frame.trackedAnchors.has(anchor);
    } catch {
      tracked = true;
    }
    if (!tracked) return; // keep the last pose while tracking is lost
    const pose = frame.getPose(anchor.anchorSpace, ref);
    if (!pose) return;
    placeGroup.position.copy(vec(pose.transform.position));
    placeGroup.quaternion.copy(quat(pose.transform.orientation));
    if (placement) placement.position.copy(placeGroup.position);
    state.position = placeGroup.position.toArray();
  }

  // ------------------------------------------------------------------ select

  function tap(t, frame, ref) {
    if (!state.placed) {
      if (t.hit && t.hit.horizontal) placeAt(t.hit);
      else placeInFront('select');
      return;
    }
    if (opts.intercept && t.ray && opts.intercept(t.ray)) return; // an in-scene button
    if (opts.probe && t.ray && opts.probe(t.ray)) return; // a point read on the slice plane
    const target = borrowed && borrowed.object;
    if (target) {
      arGroup.updateMatrixWorld(true);
      raycaster.set(t.ray.origin, t.ray.direction);
      raycaster.near = 0;
      raycaster.far = Infinity;
      raycaster.camera = renderer.xr.getCamera();
      const keep = opts.kept ? opts.kept() : null; // not what a slice plane clips away
      const onHologram = raycaster.intersectObject(target, true).some((h) => h.object.isMesh && shown(h.object)
        && (!keep || keep(h)));
      if (onHologram) {
        const name = pickStructure(raycaster, target, structures, keep);
        state.lastSelected = name;
        state.lastSelectedDisplay = name && structures.has(name) ? structures.get(name).display : null;
        emit();
        if (onSelect) onSelect(name, state.lastSelectedDisplay);
        return;
      }
    }
    if (t.hit && t.hit.horizontal) {
      placeAt(t.hit); // a tap on another surface moves it there
      return;
    }
    state.lastSelected = null;
    state.lastSelectedDisplay = null;
    emit();
    if (onSelect) onSelect(null, null);
  }

  // ------------------------------------------------------------------ gestures

  /** A 2D handle per grabbing input: tangent-plane coordinates of a touch (in the viewer's
   * frame), else the target ray's origin on the floor plane and its azimuth. */
  function handleOf(rec, frame) {
    const screen = rec.source.targetRayMode === 'screen';
    if (screen) {
      if (!viewerSpace) return null;
      let pose = null;
      try {
        pose = frame.getPose(rec.source.targetRaySpace, viewerSpace);
      } catch {
        pose = null;
      }
      if (!pose) return null;
      const d = rayFrom(pose).direction;
      if (-d.z < 0.05) return null;
      return { screen: true, p: new THREE.Vector2(d.x / -d.z, d.y / -d.z) };
    }
    if (!rec.ray) return null;
    const d = rec.ray.direction;
    return { screen: false, p: new THREE.Vector2(rec.ray.origin.x, rec.ray.origin.z), az: Math.atan2(d.x, -d.z), origin: rec.ray.origin.clone(), direction: d.clone() };
  }

  function gestures(frame) {
    if (!state.placed) {
      gesture = null;
      return;
    }
    // A held select becomes a drag once it moves (then its release is not a tap); two
    // touches at once are always a gesture.
    for (const rec of inputs.values()) if (rec.grab && rec.ray) rec.grab.move(rec.ray); // a grabbed plane follows
    const selectingScreens = [...inputs.values()].filter((r) => r.selecting && !r.grab && r.source.targetRayMode === 'screen');
    for (const rec of inputs.values()) {
      if (!rec.selecting || rec.dragging || rec.grab) continue;
      const h = handleOf(rec, frame);
      if (!h) continue;
      if (!rec.start) rec.start = {};
      if (!rec.start.handle) rec.start.handle = h;
      const s = rec.start.handle;
      if (h.screen) {
        if (selectingScreens.length > 1 || h.p.distanceTo(s.p) > DRAG_SCREEN) rec.dragging = true;
      } else if (h.direction.angleTo(s.direction) > DRAG_ANGLE || h.origin.distanceTo(s.origin) > DRAG_MOVE_M) {
        rec.dragging = true;
      }
    }
    const grabbers = [...inputs.values()].filter((r) => !r.grab && (r.squeezing || (r.selecting && r.dragging))).slice(0, 2);
    const handles = grabbers.map((r) => handleOf(r, frame));
    if (!grabbers.length || handles.some((h) => !h)) {
      if (gesture) {
        gesture = null;
        emit(); // the gesture's end: report the new scale
      }
      return;
    }
    const key = grabbers.map((r) => r.source);
    if (!gesture || gesture.key.length !== key.length || gesture.key.some((s, i) => s !== key[i])) {
      gesture = { key, yaw: userYaw, scale: userScale, handles };
      return;
    }
    const g = gesture;
    if (handles.length === 2) {
      const a0 = g.handles[1].p.clone().sub(g.handles[0].p);
      const a1 = handles[1].p.clone().sub(handles[0].p);
      const d0 = a0.length();
      if (d0 > 1e-3) userScale = THREE.MathUtils.clamp(g.scale * (a1.length() / d0), opts.minScale, opts.maxScale);
      const twist = wrapAngle(Math.atan2(a1.y, a1.x) - Math.atan2(a0.y, a0.x));
      // Screen coordinates turn counter-clockwise with y up; the floor plane (x, z) the other way.
      userYaw = g.yaw + (handles[0].screen ? twist : -twist);
    } else {
      const h = handles[0];
      const h0 = g.handles[0];
      userYaw = h.screen ? g.yaw + 2.0 * (h.p.x - h0.p.x) : g.yaw + 1.5 * wrapAngle(h.az - h0.az);
    }
    layout();
  }

  // ------------------------------------------------------------------ settings

  function setLifeSize(on) {
    state.lifeSize = Boolean(on);
    userScale = 1;
    layout();
    refitFallback();
    emit();
  }

  function setPose(pose) {
    state.pose = pose === 'supine' ? 'supine' : 'upright';
    layout();
    refitFallback();
    emit();
  }

  /** A placement in mid-air keeps its comfortable height when the size or pose changes. */
  function refitFallback() {
    if (!placement || placement.kind !== 'fallback') return;
    const p = placement.position.clone();
    p.y = fallbackY(placement.eyeY);
    setPlacement({ ...placement, position: p }, state.fallbackReason);
  }

  /** Swap the hologram (a step change) without losing the placement. In a session the new
   * one is taken from wherever the page put it and the previous one is left detached. */
  function setHologram(object) {
    const inSession = Boolean(session);
    if (inSession) giveBack(false);
    hologram = object || null;
    if (inSession) borrow(hologram);
    else {
      structures = hologram ? collectStructures(hologram) : new Map();
    }
  }

  function dispose() {
    if (session) session.end().catch(() => {});
    rayGeometry.dispose();
    rayMaterial.dispose();
    ringMaterial.dispose();
    reticle.children.forEach((m) => m.geometry.dispose());
    if (opts.exposeGlobal && typeof window !== 'undefined' && window.__arkitAR === state) delete window.__arkitAR;
  }

  return {
    ready,
    state,
    enter,
    exit,
    update,
    setHologram,
    setLifeSize,
    setPose,
    /** Take the hologram off its place: the reticle and the fallback timer start again. */
    reset() {
      resetPlacement();
      emit();
    },
    dispose,
    /** The target rays of the session's inputs this frame: [{origin, direction}] (world). */
    rays() {
      return [...inputs.values()].filter((r) => r.ray).map((r) => r.ray);
    },
    /** The group holding the placed hologram (e.g. to parent a pointer dot to it). */
    get hologramGroup() {
      return poseGroup;
    },
    get session() {
      return session;
    },
  };
}

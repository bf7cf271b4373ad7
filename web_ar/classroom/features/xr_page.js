// AR on a lesson page (the student's join page and the self-paced page): WebXR where the
// device has it (immersive-ar; immersive-vr on HoloLens) with the page's controls drawn
// into the scene (xr_ui.js), and a Quick Look link with the hologram's USDZ on iOS (no steps
// or sync there). The page's markup: #enter-ar, #ar-size, #ar-pose, #quick-look, #ar-note.
// What AR does is announced as ``arkit:ar-status`` events (features/events.js): available /
// unsupported, started, placed, ended, error.

import { setAdditive } from '../../lib/look.js';
import { createAR } from './ar.js';
import { emit } from './events.js';
import { probeText } from './slice.js';
import { $, showStatus } from '../core/common.js';

/**
 * Wires AR for ``viewer`` (a HologramView) and ``xrui`` (an XRUI): ``onSelect(name)`` for a
 * select on the hologram, ``onFrame()`` every frame of a session (before the UI is laid
 * out). Returns the AR controller (createAR), or null without WebGL or WebXR.
 */
export function setupXR(viewer, xrui, { onSelect = () => {}, onFrame = () => {} } = {}) {
  if (!viewer.renderer || !navigator.xr) {
    emit('arkit:ar-status', { status: 'unsupported', mode: null });
    return null;
  }
  let inSession = false;
  let placed = false;
  let error = null;
  const ar = createAR({
    renderer: viewer.renderer, scene: viewer.scene, camera: viewer.camera,
    root: viewer.current ? viewer.current.root : null,
    onSelect: (name) => onSelect(name),
    onState: (s) => {
      $('enter-ar').textContent = s.inSession ? 'Leave AR' : (s.mode === 'immersive-vr' ? 'View in 3D headset' : 'View in AR');
      $('ar-size').hidden = $('ar-pose').hidden = !s.inSession;
      $('ar-size').setAttribute('aria-pressed', String(s.lifeSize));
      $('ar-pose').setAttribute('aria-pressed', String(s.pose === 'supine'));
      if (s.error) showStatus(`AR could not start: ${s.error}`, 'error');
      // A see-through display shows black as transparent: lift the colours there.
      setAdditive(s.inSession && s.blendMode === 'additive');
      xrui.setControls({ lifeSize: s.lifeSize, pose: s.pose });
      if (s.inSession !== inSession) {
        inSession = s.inSession;
        // The lecturer's pointer is in the hologram's frame: it goes where the hologram goes.
        (inSession ? ar.hologramGroup : viewer.scene).add(viewer.pointer);
        viewer.invalidate();
        emit('arkit:ar-status', { status: inSession ? 'started' : 'ended', mode: s.mode });
      }
      if (s.placed && !placed) emit('arkit:ar-status', { status: 'placed', mode: s.mode, placedBy: s.placedBy });
      placed = s.placed;
      if (s.error && s.error !== error) emit('arkit:ar-status', { status: 'error', mode: s.mode, error: s.error });
      error = s.error;
    },
    options: {
      intercept: (ray) => xrui.intercept(ray),
      grab: (ray) => viewer.grabSlice(ray),
      probe: (ray) => viewer.probeRay(ray),
      kept: () => (viewer.current ? viewer.keptHit() : null),
    },
  });
  // a point read on the slice plane shows in the dock, as a structure's details do
  const probed = viewer.onProbe;
  viewer.onProbe = (r) => {
    if (probed) probed(r);
    if (!ar.state.inSession) return;
    xrui.setInfo({ title: 'The slice', lines: [probeText(r), r.ras_mm ? `at ${rasText(r.ras_mm)}` : ''].filter(Boolean) });
  };
  // Each hologram the view loads (a step with another file) is the one placed in AR.
  const loaded = viewer.onLoaded;
  viewer.onLoaded = (view) => {
    if (loaded) loaded(view);
    if (view.current) ar.setHologram(view.current.root);
  };
  xrui.attach(ar);
  viewer.scene.add(xrui.root);
  viewer.addFrameCallback((t, frame) => {
    ar.update(t, frame);
    if (ar.state.inSession) onFrame();
    xrui.update(viewer.renderer.xr.getCamera()); // hides itself outside a session
  });
  ar.ready.then(() => {
    emit('arkit:ar-status', { status: ar.state.supported ? 'available' : 'unsupported', mode: ar.state.mode });
    if (!ar.state.supported) return;
    $('enter-ar').hidden = false;
    $('enter-ar').addEventListener('click', () => (ar.state.inSession ? ar.exit() : ar.enter()));
    $('ar-size').addEventListener('click', () => ar.setLifeSize(!ar.state.lifeSize));
    $('ar-pose').addEventListener('click', () => ar.setPose(ar.state.pose === 'supine' ? 'upright' : 'supine'));
  });
  return ar;
}

/** A RAS point (mm) as a radiologist says it: "R 12 · P 40 · S 105 mm". */
function rasText(ras) {
  const part = (v, pos, neg) => `${v >= 0 ? pos : neg} ${Math.round(Math.abs(v))}`;
  return `${part(ras[0], 'R', 'L')} · ${part(ras[1], 'A', 'P')} · ${part(ras[2], 'S', 'I')} mm`;
}

/** The in-scene buttons every page shares (size, pose, leave); true when ``id`` was one. */
export function sharedXRAction(ar, id) {
  if (!ar) return false;
  if (id === 'size') ar.setLifeSize(!ar.state.lifeSize);
  else if (id === 'pose') ar.setPose(ar.state.pose === 'supine' ? 'upright' : 'supine');
  else if (id === 'leave') ar.exit();
  else return false;
  return true;
}

/** The Quick Look link for the hologram ``holo`` of lesson.json (iOS: AR Quick Look). */
export function updateQuickLook(holo, note) {
  const link = $('quick-look');
  const usdz = holo && holo.assets && holo.assets.usdz;
  const supported = document.createElement('a').relList.supports('ar');
  link.hidden = !(supported && usdz);
  $('ar-note').hidden = link.hidden;
  if (!link.hidden) {
    link.href = `/${usdz.path}`;
    $('ar-note').textContent = note;
  }
}

/** A step's narration (sanitised HTML from the server) as plain text, a paragraph a line. */
export function narrationText(html) {
  const box = document.createElement('div');
  box.innerHTML = html || '';
  const plain = (el) => el.textContent.replace(/\s+/g, ' ').trim(); // source line breaks are not breaks
  const blocks = [...box.children].map(plain).filter(Boolean);
  return blocks.length ? blocks.join('\n') : plain(box);
}

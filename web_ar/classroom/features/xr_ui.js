// Labels and controls inside the 3D scene for an immersive session: headsets have no DOM
// overlay, so everything a student needs in AR is drawn into the scene (canvas text on
// planes) and answers a select (trigger, pinch, tap) along the input's ray.
//
//   const ui = new XRUI({ onAction });        // onAction(id) for a pressed button
//   ar = createAR({ ..., options: { intercept: (ray) => ui.intercept(ray) } });
//   ui.attach(ar); scene.add(ui.root);
//   every frame: ui.update(camera)            // after ar.update()
//
// - Labels: each step label as text beside the hologram, in a column on the side of its
//   structure, joined by a leader line to a dot on the structure's surface; the text keeps
//   LABEL_EM_DEG of visual angle whatever the distance (legible at arm's length and
//   across a room), drawn over the hologram.
// - The dock, beside the hologram and turned to the viewer: the narration as captions (paged),
//   the time readout with play / pause and "Follow the lecturer", the selected structure's
//   details ("Liver: 4.2 MBq, 2.3 kBq/mL at 60 min", decay-corrected on request), the quiz
//   (rows of buttons laid out by scene_quiz.js: options, an order built by pressing or
//   selecting, a keypad with units; identify by selecting on the hologram), and size /
//   pose / leave. Its body text keeps about DOCK_EM_DEG of visual angle at the viewer's
//   distance.
// - Light text on a dark, slightly transparent card: on an additive display (HoloLens)
//   the dark card is see-through and the text stays.
//
// ``ui.state`` (also window.__arkitXRUI) says what is drawn, for tests: labels with their
// text, world positions and angular size, the dock's texts, the buttons.

import * as THREE from 'three';

const PX_PER_M = 3200; // canvas pixels per metre at scale 1
const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif';
const BODY_PX = 34;
const TITLE_PX = 38;
const LABEL_PX = 40;
const LINE = 1.3; // line height, em
const PAD = 18; // px inside a card
const GAP = 10; // px between cards / buttons
const DOCK_PX = 660; // the dock's width
const CAPTION_LINES = 6; // per page
const DOCK_EASE_S = 0.12; // time constant of the dock's following
export const LABEL_EM_DEG = 1.2; // a label's font size as seen by the viewer
export const DOCK_EM_DEG = 1.0; // the dock's body text, at the viewer's distance
const COLOURS = {
  card: 'rgba(14, 20, 28, 0.86)', text: '#ffffff', muted: '#c4d0de', accent: '#4ad8ff',
  button: 'rgba(38, 52, 70, 0.95)', hover: 'rgba(40, 110, 140, 0.98)', pressed: '#ffd54a', pressedText: '#14181f',
  line: 0xffffff,
};
const UP = new THREE.Vector3(0, 1, 0);

/** ``text`` broken into lines of at most ``width`` px in ``ctx``'s font. */
export function wrapText(ctx, text, width) {
  const lines = [];
  for (const paragraph of String(text || '').split(/\n/)) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      const next = line ? `${line} ${word}` : word;
      if (ctx.measureText(next).width <= width || !line) line = next;
      else {
        lines.push(line);
        line = word;
      }
    }
    lines.push(line);
  }
  return lines;
}

function roundRect(ctx, x, y, w, h, r, fill) {
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, r);
  ctx.fillStyle = fill;
  ctx.fill();
}

/** A plane showing a canvas drawing; redrawn only when its content key changes. */
class Card {
  constructor(name, order = 50) {
    this.canvas = document.createElement('canvas');
    this.ctx = this.canvas.getContext('2d');
    this.texture = null;
    this.material = new THREE.MeshBasicMaterial({ transparent: true, depthTest: false, depthWrite: false, toneMapped: false });
    this.mesh = new THREE.Mesh(new THREE.PlaneGeometry(1, 1), this.material);
    this.mesh.name = name;
    this.mesh.renderOrder = order;
    this.key = null;
    this.w = 0;
    this.h = 0;
  }

  /** Draws ``paint(ctx, w, h)`` on a ``w`` x ``h`` px canvas unless ``key`` is unchanged. */
  draw(key, w, h, paint) {
    if (key === this.key) return false;
    this.key = key;
    const resized = w !== this.w || h !== this.h || !this.texture;
    this.w = w;
    this.h = h;
    if (resized) {
      // A new texture for a new size (WebGL 2 textures are allocated once per size).
      this.canvas.width = w;
      this.canvas.height = h;
      if (this.texture) this.texture.dispose();
      this.texture = new THREE.CanvasTexture(this.canvas);
      this.texture.colorSpace = THREE.SRGBColorSpace;
      this.texture.anisotropy = 4;
      this.material.map = this.texture;
      this.material.needsUpdate = true;
    }
    this.ctx.clearRect(0, 0, w, h);
    paint(this.ctx, w, h);
    this.texture.needsUpdate = true;
    this.mesh.scale.set(w / PX_PER_M, h / PX_PER_M, 1);
    return true;
  }

  dispose() {
    this.mesh.geometry.dispose();
    this.material.dispose();
    if (this.texture) this.texture.dispose();
  }
}

/** A pressable card: ``id`` goes to onAction; shows hover and pressed (toggle) states. */
class Button extends Card {
  constructor(id) {
    super(`arkit-ui:${id}`, 52);
    this.id = id;
    this.text = '';
    this.pressed = false;
    this.hovered = false;
    this.width = 0;
    this.mesh.userData.arkitButton = id;
  }

  set(text, { pressed = false, width = 190 } = {}) {
    this.text = text;
    this.pressed = pressed;
    this.width = width;
    this.redraw();
  }

  redraw() {
    const { text, pressed, hovered, width } = this;
    // A long option wraps (a choice can be a sentence); a short one is a single line.
    this.ctx.font = `600 ${BODY_PX}px ${FONT}`;
    const lines = wrapText(this.ctx, text, width - PAD);
    const height = Math.round(Math.max(BODY_PX * 2.1, lines.length * BODY_PX * LINE + BODY_PX));
    this.draw(`${text}|${pressed}|${hovered}|${width}`, width, height, (ctx, w, h) => {
      roundRect(ctx, 2, 2, w - 4, h - 4, 16, pressed ? COLOURS.pressed : hovered ? COLOURS.hover : COLOURS.button);
      if (hovered) {
        ctx.lineWidth = 4;
        ctx.strokeStyle = COLOURS.accent;
        ctx.stroke();
      }
      ctx.fillStyle = pressed ? COLOURS.pressedText : COLOURS.text;
      ctx.font = `600 ${BODY_PX}px ${FONT}`;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      const top = h / 2 - ((lines.length - 1) * BODY_PX * LINE) / 2;
      lines.forEach((line, i) => ctx.fillText(line, w / 2, top + i * BODY_PX * LINE, w - PAD));
    });
  }
}

/** A card of text: an optional title, then wrapped lines. */
class TextCard extends Card {
  set(title, lines, { width = DOCK_PX, accent = false } = {}) {
    const measure = this.ctx;
    measure.font = `${BODY_PX}px ${FONT}`;
    const body = [];
    for (const line of lines) body.push(...wrapText(measure, line, width - 2 * PAD));
    measure.font = `700 ${TITLE_PX}px ${FONT}`;
    const heads = title ? wrapText(measure, title, width - 2 * PAD) : [];
    const height = Math.ceil(2 * PAD + heads.length * TITLE_PX * LINE + body.length * BODY_PX * LINE);
    this.text = [title, ...lines].filter(Boolean).join('\n');
    this.draw(`${width}|${accent}|${heads.join('\n')}|${body.join('\n')}`, width, height, (ctx, w, h) => {
      roundRect(ctx, 0, 0, w, h, 18, COLOURS.card);
      if (accent) {
        ctx.fillStyle = COLOURS.accent;
        ctx.fillRect(0, 14, 6, h - 28);
      }
      ctx.textBaseline = 'top';
      ctx.textAlign = 'left';
      let y = PAD;
      ctx.font = `700 ${TITLE_PX}px ${FONT}`;
      ctx.fillStyle = COLOURS.text;
      for (const line of heads) {
        ctx.fillText(line, PAD, y + (TITLE_PX * (LINE - 1)) / 2);
        y += TITLE_PX * LINE;
      }
      ctx.font = `${BODY_PX}px ${FONT}`;
      ctx.fillStyle = heads.length ? COLOURS.muted : COLOURS.text;
      for (const line of body) {
        ctx.fillText(line, PAD, y + (BODY_PX * (LINE - 1)) / 2);
        y += BODY_PX * LINE;
      }
    });
  }
}

/** A label: text card, leader line and a dot on the structure. */
class Label {
  constructor(structure, text, anchor) {
    this.structure = structure;
    this.text = text;
    this.anchor = anchor.clone(); // the hologram's frame (inline world)
    this.card = new Card(`arkit-label:${structure}`, 46);
    const ctx = this.card.ctx;
    ctx.font = `600 ${LABEL_PX}px ${FONT}`;
    const w = Math.ceil(ctx.measureText(text).width + 2 * PAD);
    const h = Math.ceil(LABEL_PX * 1.6);
    this.card.draw(text, w, h, (c, cw, ch) => {
      roundRect(c, 0, 0, cw, ch, ch / 2, COLOURS.card);
      c.font = `600 ${LABEL_PX}px ${FONT}`;
      c.fillStyle = COLOURS.text;
      c.textAlign = 'center';
      c.textBaseline = 'middle';
      c.fillText(text, cw / 2, ch / 2);
    });
    const material = new THREE.LineBasicMaterial({ color: COLOURS.line, transparent: true, opacity: 0.9, depthTest: false });
    this.line = new THREE.Line(new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(), new THREE.Vector3()]), material);
    this.line.renderOrder = 45;
    this.line.frustumCulled = false;
    this.dot = new THREE.Mesh(new THREE.SphereGeometry(1, 12, 8),
      new THREE.MeshBasicMaterial({ color: COLOURS.line, depthTest: false, transparent: true }));
    this.dot.renderOrder = 45;
    this.group = new THREE.Group();
    this.group.add(this.card.mesh, this.line, this.dot);
    for (const o of [this.card.mesh, this.line, this.dot]) o.raycast = () => {};
    this.world = new THREE.Vector3();
    this.position = new THREE.Vector3();
    this.scale = 1;
  }

  dispose() {
    this.card.dispose();
    this.line.geometry.dispose();
    this.line.material.dispose();
    this.dot.geometry.dispose();
    this.dot.material.dispose();
  }
}

export class XRUI {
  /** ``onAction(id)``: a button was pressed (ids: play, follow, size, pose, leave,
   * captions-prev, captions-next, info-close, and those given in setInfo / setQuiz rows). */
  constructor({ onAction = () => {}, exposeGlobal = true } = {}) {
    this.onAction = onAction;
    this.root = new THREE.Group();
    this.root.name = 'arkit-xr-ui';
    this.root.visible = false;
    this.labelGroup = new THREE.Group();
    this.dock = new THREE.Group();
    this.dock.name = 'arkit-xr-dock';
    this.root.add(this.labelGroup, this.dock);
    this.labels = [];
    this.buttons = new Map();
    this.cards = {
      captions: new TextCard('arkit-ui-card:captions'),
      time: new TextCard('arkit-ui-card:time'),
      info: new TextCard('arkit-ui-card:info'),
      quiz: new TextCard('arkit-ui-card:quiz'),
      status: new TextCard('arkit-ui-card:quiz-status'),
    };
    for (const c of Object.values(this.cards)) c.mesh.raycast = () => {};
    this.content = {
      captions: null, page: 0, time: null, info: null, quiz: null, nav: null, controls: { lifeSize: false, pose: 'upright' },
    };
    this.ar = null;
    this.hovered = null;
    this.raycaster = new THREE.Raycaster();
    this.boxKey = null;
    this.localBox = new THREE.Box3();
    this.box = new THREE.Box3();
    this.dockTarget = null;
    this.dirty = true;
    this.state = { visible: false, labels: [], dock: {}, buttons: [], scale: 1, pressed: [] };
    if (exposeGlobal && typeof window !== 'undefined') window.__arkitXRUI = this.state;
  }

  attach(ar) {
    this.ar = ar;
  }

  // ------------------------------------------------------------------ content

  /** ``labels``: [{structure, text, anchor: Vector3 in the hologram's (inline) frame}]. */
  setLabels(labels) {
    for (const l of this.labels) {
      this.labelGroup.remove(l.group);
      l.dispose();
    }
    this.labels = labels.map((l) => new Label(l.structure, l.text, l.anchor));
    for (const l of this.labels) this.labelGroup.add(l.group);
  }

  /** The step's title and narration (plain text), or null for none. */
  setCaptions(title, text) {
    const key = `${title}\n${text}`;
    if (this.content.captions && this.content.captions.key === key) return;
    this.content.captions = text || title ? { key, title, text } : null;
    this.content.page = 0;
    this.dirty = true;
  }

  /** The time row: ``readout`` ("45 min p.i.") or null, ``playing``, ``following`` (null:
   * no lecturer to follow, no Follow button). */
  setTime(readout, playing, following) {
    const t = this.content.time;
    if (t && t.readout === readout && t.playing === playing && t.following === following) return;
    this.content.time = readout === null ? null : { readout, playing, following };
    this.dirty = true;
  }

  /** The selected structure: {title, lines, rows?} or null (rows: as in setQuiz; a
   * "Close details" button is added). */
  setInfo(info) {
    const key = info ? JSON.stringify(info) : null;
    if ((this.content.info && this.content.info.key) === key) return;
    this.content.info = info ? { ...info, key } : null;
    this.dirty = true;
  }

  /** The quiz: {title, lines, rows?: [[{id, text, pressed}]], status?: [lines below the
   * rows], withCaptions?} or null; each row's buttons share the dock's width (options one
   * a row, a keypad three or four a row). It takes the captions' place unless ``withCaptions``. */
  setQuiz(quiz) {
    const key = quiz ? JSON.stringify(quiz) : null;
    if ((this.content.quiz && this.content.quiz.key) === key) return;
    this.content.quiz = quiz ? { ...quiz, key } : null;
    this.dirty = true;
  }

  /** Step buttons for a page that moves through the lesson itself (self-paced):
   * {position: '2/9'} or null. Ids step-prev, step-next (at either end they do nothing). */
  setNav(nav) {
    const key = nav ? JSON.stringify(nav) : null;
    if ((this.content.nav && this.content.nav.key) === key) return;
    this.content.nav = nav ? { ...nav, key } : null;
    this.dirty = true;
  }

  setControls(controls) {
    const c = this.content.controls;
    if (c.lifeSize === controls.lifeSize && c.pose === controls.pose) return;
    this.content.controls = { ...controls };
    this.dirty = true;
  }

  button(id) {
    if (!this.buttons.has(id)) this.buttons.set(id, new Button(id));
    return this.buttons.get(id);
  }

  /** Lays the dock's cards and buttons out, top down (the dock's frame: x right, y up, in px / PX_PER_M). */
  build() {
    this.dirty = false;
    this.dock.clear();
    let y = 0;
    const used = new Set();
    const put = (object, x, h) => {
      object.position.set(x / PX_PER_M, -(y + h / 2) / PX_PER_M, 0);
      this.dock.add(object);
    };
    const row = (items) => {
      // items: [[id, text, pressed, width]] side by side
      let x = 0;
      for (const [id] of items) if (used.has(id)) throw new Error(`two in-scene buttons called ${id}`);
      let h = 0;
      for (const [id, text, pressed, width] of items) {
        const b = this.button(id);
        b.set(text, { pressed, width });
        put(b.mesh, x + b.w / 2, b.h);
        used.add(id);
        x += b.w + GAP;
        h = Math.max(h, b.h);
      }
      y += h + GAP;
    };
    const card = (c, title, lines, opts) => {
      c.set(title, lines, opts);
      put(c.mesh, c.w / 2, c.h);
      y += c.h + GAP;
    };
    const rows = (list) => {
      for (const r of list || []) {
        const w = Math.floor((DOCK_PX - (r.length - 1) * GAP) / r.length);
        row(r.map((b) => [b.id, b.text, Boolean(b.pressed), w]));
      }
    };
    const { captions, page, time, info, quiz, nav, controls } = this.content;
    const dock = { captions: null, time: null, info: null, quiz: null, pages: 0, page: 0, nav: null };
    // Top down, what never changes size first: a button must not move under a pointing
    // ray because a text above it (the details' time, a quiz's feedback) rewrapped.
    if (nav) {
      const half = Math.floor((DOCK_PX - GAP) / 2);
      row([['step-prev', '◀ Previous', false, half], ['step-next', `Next ▶ (${nav.position})`, false, half]]);
      dock.nav = nav.position;
    }
    const third = Math.floor((DOCK_PX - 2 * GAP) / 3);
    row([
      ['size', controls.lifeSize ? 'Life size' : 'Tabletop', controls.lifeSize, third],
      ['pose', controls.pose === 'supine' ? 'Supine' : 'Upright', controls.pose === 'supine', third],
      ['leave', 'Leave AR', false, third],
    ]);
    if (time) {
      const readout = Math.floor(DOCK_PX * 0.38); // "118.5 min p.i." on one line
      const follow = time.following !== null;
      const third = follow ? Math.floor((DOCK_PX - readout - 2 * GAP) / 2) : DOCK_PX - readout - GAP;
      this.cards.time.set(null, [time.readout], { width: readout });
      put(this.cards.time.mesh, readout / 2, this.cards.time.h);
      const b1 = this.button('play');
      b1.set(time.playing ? 'Pause' : 'Play', { pressed: false, width: third });
      put(b1.mesh, readout + GAP + third / 2, b1.h);
      used.add('play');
      if (follow) {
        const b2 = this.button('follow');
        b2.set(time.following ? 'Following' : 'Follow', { pressed: time.following, width: third });
        put(b2.mesh, readout + GAP + third + GAP + third / 2, b2.h);
        used.add('follow');
      }
      y += Math.max(this.cards.time.h, b1.h) + GAP;
      dock.time = time.readout;
    }
    if (quiz) {
      card(this.cards.quiz, quiz.title, quiz.lines || [], { accent: true });
      rows(quiz.rows);
      // What changes as the student answers goes below the buttons, which so stay put.
      if (quiz.status && quiz.status.length) card(this.cards.status, null, quiz.status);
      dock.quiz = [this.cards.quiz.text, ...(quiz.status || [])].join('\n');
    }
    if (captions && (!quiz || quiz.withCaptions)) {
      const ctx = this.cards.captions.ctx;
      ctx.font = `${BODY_PX}px ${FONT}`;
      const lines = wrapText(ctx, captions.text, DOCK_PX - 2 * PAD);
      const pages = Math.max(1, Math.ceil(lines.length / CAPTION_LINES));
      const p = Math.min(page, pages - 1);
      card(this.cards.captions, captions.title, lines.slice(p * CAPTION_LINES, (p + 1) * CAPTION_LINES));
      dock.captions = this.cards.captions.text;
      dock.pages = pages;
      dock.page = p;
      if (pages > 1) {
        const half = (DOCK_PX - GAP) / 2;
        row([['captions-prev', '◀ Back', false, half], ['captions-next', `More ▶ ${p + 1}/${pages}`, false, half]]);
      }
    }
    if (info) {
      rows([...(info.rows || []), [{ id: 'info-close', text: 'Close details' }]]);
      card(this.cards.info, info.title, info.lines || []);
      dock.info = this.cards.info.text;
    }
    for (const [id, b] of this.buttons) {
      if (!used.has(id)) {
        b.dispose();
        this.buttons.delete(id);
      }
    }
    this.heightPx = y;
    this.state.dock = dock;
    this.state.buttons = [...this.buttons.values()].map((b) => ({ id: b.id, text: b.text, pressed: b.pressed }));
  }

  // ------------------------------------------------------------------ select

  /** Whether ``ray`` ({origin, direction}, world) presses a button; presses it if so. */
  intercept(ray) {
    const id = this.buttonAt(ray);
    if (!id) return false;
    this.state.pressed.push(id);
    if (id === 'captions-prev' || id === 'captions-next') {
      this.content.page = Math.max(0, this.content.page + (id === 'captions-next' ? 1 : -1));
      if (this.state.dock.pages && this.content.page >= this.state.dock.pages) this.content.page = 0;
      this.dirty = true;
    }
    this.onAction(id);
    return true;
  }

  buttonAt(ray) {
    if (!this.root.visible || !ray) return null;
    this.root.updateMatrixWorld(true);
    this.raycaster.set(ray.origin, ray.direction);
    const meshes = [...this.buttons.values()].map((b) => b.mesh).filter((m) => m.parent);
    const hit = this.raycaster.intersectObjects(meshes, false)[0];
    return hit ? hit.object.userData.arkitButton : null;
  }

  // ------------------------------------------------------------------ per frame

  /** Places labels and the dock for the viewer (``camera``: the XR camera's pose). */
  update(camera) {
    const ar = this.ar;
    const on = Boolean(ar && ar.state.inSession && ar.state.placed && ar.hologramGroup);
    this.root.visible = on;
    this.state.visible = on;
    if (!on) {
      this.dockTarget = null;
      this.lastUpdate = null;
      return;
    }
    if (this.dirty) this.build();
    const group = ar.hologramGroup;
    group.updateMatrixWorld(true);
    // The hologram's box in its own frame, once per hologram; in the world every frame (a
    // pinch or the life-size switch scales it, an anchor moves it).
    const holo = group.children.filter((o) => !o.userData.arkitPointer);
    const key = holo.map((o) => o.uuid).join();
    if (key !== this.boxKey) {
      this.boxKey = key;
      this.localBox = new THREE.Box3();
      const toGroup = group.matrixWorld.clone().invert();
      const m = new THREE.Matrix4();
      for (const o of holo) {
        o.traverse((mesh) => {
          if (!mesh.isMesh || mesh.userData.arkitPointer || !mesh.geometry) return;
          if (!mesh.geometry.boundingBox) mesh.geometry.computeBoundingBox();
          m.multiplyMatrices(toGroup, mesh.matrixWorld);
          this.localBox.union(mesh.geometry.boundingBox.clone().applyMatrix4(m));
        });
      }
    }
    this.box.copy(this.localBox).applyMatrix4(group.matrixWorld);
    if (this.box.isEmpty()) return;
    const eye = new THREE.Vector3().setFromMatrixPosition(camera.matrixWorld);
    const centre = this.box.getCenter(new THREE.Vector3());
    const forward = centre.clone().sub(eye).setY(0);
    if (forward.lengthSq() < 1e-8) forward.set(0, 0, -1);
    forward.normalize();
    const right = forward.clone().cross(UP).normalize();
    const size = this.box.getSize(new THREE.Vector3());
    const radius = Math.max(size.x, size.z) / 2;
    const facing = new THREE.Quaternion();
    facing.setFromUnitVectors(new THREE.Vector3(0, 0, 1), forward.clone().negate());

    // The dock: right of the hologram, its top at the hologram's top (not above the eyes).
    const distance = Math.max(eye.distanceTo(centre), 0.2);
    const scale = THREE.MathUtils.clamp(
      (distance * Math.tan(THREE.MathUtils.degToRad(DOCK_EM_DEG))) / (BODY_PX / PX_PER_M), 0.5, 4,
    );
    const top = Math.min(this.box.max.y, eye.y + 0.05);
    const target = centre.clone().addScaledVector(right, radius + 0.03 * scale).setY(top);
    // Eased towards where it belongs (the head moves; the dock follows without jitter),
    // by time, not frames: settled within about half a second at any frame rate.
    const now = performance.now();
    const dt = this.lastUpdate ? Math.min((now - this.lastUpdate) / 1000, 1) : 1;
    this.lastUpdate = now;
    if (!this.dockTarget || this.dockTarget.distanceTo(target) > 0.25 * scale) this.dockTarget = target.clone();
    else this.dockTarget.lerp(target, 1 - Math.exp(-dt / DOCK_EASE_S));
    this.state.settled = this.dockTarget.distanceTo(target) < 0.002;
    this.dock.position.copy(this.dockTarget);
    this.dock.quaternion.copy(facing);
    this.dock.scale.setScalar(scale);
    this.state.scale = scale;
    this.state.dockPosition = this.dock.position.toArray();

    // Labels: a column on each side of the hologram, pushed apart, text at LABEL_EM_DEG.
    const sides = { '-1': [], 1: [] };
    for (const l of this.labels) {
      l.world.copy(l.anchor).applyMatrix4(group.matrixWorld);
      const side = l.world.clone().sub(centre).dot(right) >= 0 ? 1 : -1;
      l.side = side;
      // The size for the distance of where the label ends up (twice: it moves with its size).
      let d = Math.max(eye.distanceTo(l.world), 0.2);
      for (let pass = 0; pass < 2; pass++) {
        l.scale = (d * Math.tan(THREE.MathUtils.degToRad(LABEL_EM_DEG))) / (LABEL_PX / PX_PER_M);
        l.size = [(l.card.w / PX_PER_M) * l.scale, (l.card.h / PX_PER_M) * l.scale];
        l.position.copy(centre).addScaledVector(right, side * (radius + 0.02 * l.scale + l.size[0] / 2)).setY(l.world.y);
        d = Math.max(eye.distanceTo(l.position), 0.2);
      }
      sides[side].push(l);
    }
    for (const column of Object.values(sides)) {
      column.sort((a, b) => b.position.y - a.position.y);
      for (let i = 1; i < column.length; i++) {
        const above = column[i - 1];
        const gap = (above.size[1] + column[i].size[1]) / 2 + 0.005 * column[i].scale;
        if (above.position.y - column[i].position.y < gap) column[i].position.y = above.position.y - gap;
      }
    }
    const labelState = [];
    for (const l of this.labels) {
      l.card.mesh.position.copy(l.position);
      l.card.mesh.quaternion.copy(facing);
      l.card.mesh.scale.set((l.card.w / PX_PER_M) * l.scale, (l.card.h / PX_PER_M) * l.scale, 1);
      const end = l.position.clone().addScaledVector(right, -l.side * (l.size[0] / 2));
      l.line.geometry.attributes.position.setXYZ(0, l.world.x, l.world.y, l.world.z);
      l.line.geometry.attributes.position.setXYZ(1, end.x, end.y, end.z);
      l.line.geometry.attributes.position.needsUpdate = true;
      l.dot.position.copy(l.world);
      l.dot.scale.setScalar(0.004 * l.scale);
      const d = eye.distanceTo(l.position);
      labelState.push({
        structure: l.structure, text: l.text, anchor: l.world.toArray(), position: l.position.toArray(),
        line_end: end.toArray(), side: l.side, distance_m: d,
        em_deg: THREE.MathUtils.radToDeg(2 * Math.atan(((LABEL_PX / PX_PER_M) * l.scale) / 2 / d)),
      });
    }
    this.state.labels = labelState;
    this.state.dock_em_deg = THREE.MathUtils.radToDeg(
      2 * Math.atan(((BODY_PX / PX_PER_M) * scale) / 2 / Math.max(eye.distanceTo(this.dock.position), 1e-3)),
    );

    // Hover: the button any input's ray points at.
    let hovered = null;
    for (const ray of ar.rays ? ar.rays() : []) {
      hovered = this.buttonAt(ray) || hovered;
    }
    if (hovered !== this.hovered) {
      for (const [id, b] of this.buttons) {
        b.hovered = id === hovered;
        b.redraw();
      }
      this.hovered = hovered;
      this.state.hovered = hovered;
    }
  }

  dispose() {
    this.setLabels([]);
    for (const b of this.buttons.values()) b.dispose();
    for (const c of Object.values(this.cards)) c.dispose();
    this.root.removeFromParent();
  }
}

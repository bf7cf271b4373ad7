// Labels pinned to structures for the inline 3D view: a DOM overlay over the canvas, each
// label a text box joined to its structure by a leader line (SVG) ending in a dot on the
// structure's surface. Boxes sit outward from the view's centre (left-hand structures get
// labels on the left) and are pushed apart when they would overlap.
//
// The overlay is for the inline view only: an immersive WebXR session has no DOM (headsets
// offer no dom-overlay), so in AR the same anchors would carry text meshes and lines in
// the scene itself.

import * as THREE from 'three';

import { labelledVertices } from '../../lib/hologram.js';
import { h } from '../core/common.js';

const SVG = 'http://www.w3.org/2000/svg';
const OFFSET_X = 36; // px from the anchor to the box, sideways
const OFFSET_Y = 28; // px upwards
const GAP = 4; // px between boxes pushed apart
const MARGIN = 6; // px from the view's edges

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * A point on structure ``s``'s surface near the middle of its box (world space): the
 * vertex nearest the box centre, so the line ends on the organ, not in the air beside a
 * curved one.
 */
export function surfaceAnchor(s, box) {
  const centre = box.getCenter(new THREE.Vector3());
  const best = new THREE.Vector3();
  let bestD = Infinity;
  const v = new THREE.Vector3();
  for (const mesh of s.meshes) {
    mesh.updateWorldMatrix(true, false);
    const position = mesh.geometry.attributes.position;
    if (!position) continue;
    const indices = s.label == null ? null : labelledVertices(mesh, s.label);
    const count = indices ? indices.length : position.count;
    const step = Math.max(1, Math.floor(count / 4000));
    for (let j = 0; j < count; j += step) {
      v.fromBufferAttribute(position, indices ? indices[j] : j).applyMatrix4(mesh.matrixWorld);
      const d = v.distanceToSquared(centre);
      if (d < bestD) {
        bestD = d;
        best.copy(v);
      }
    }
  }
  return bestD < Infinity ? best : centre;
}

export class LabelLayer {
  /** ``container``: the view's element (positioned); the layer covers it. */
  constructor(container) {
    this.container = container;
    this.lines = svg('svg', { class: 'leaders', 'aria-hidden': 'true' });
    this.boxes = h('div', { class: 'labels', 'aria-hidden': 'true' });
    // What the boxes say, for screen readers (the boxes themselves move every frame).
    this.spoken = h('ul', { class: 'visually-hidden', 'aria-label': 'Labels in the view' });
    container.append(this.lines, this.boxes, this.spoken);
    this.items = [];
  }

  /** ``labels``: [{text, structure, display, anchor: Vector3 (world)}]. */
  set(labels) {
    for (const item of this.items) {
      item.el.remove();
      item.line.remove();
      item.dot.remove();
    }
    this.spoken.replaceChildren(...labels.map((l) => h('li', {
      text: l.display && l.display !== l.text ? `${l.text} (${l.display})` : l.text,
    })));
    this.items = labels.map((l) => {
      const el = h('span', { class: 'label', text: l.text, dataset: { structure: l.structure } });
      const line = svg('line', { class: 'leader' });
      const dot = svg('circle', { class: 'anchor', r: 3.5 });
      this.boxes.append(el);
      this.lines.append(line, dot);
      return { ...l, el, line, dot, w: 0, h: 0, x: 0, y: 0, ax: 0, ay: 0, shown: false };
    });
  }

  get count() {
    return this.items.length;
  }

  /** Places every label for ``camera`` in a view of ``width`` x ``height`` CSS px. */
  place(camera, width, height) {
    if (!this.items.length) return;
    this.lines.setAttribute('viewBox', `0 0 ${width} ${height}`);
    this.lines.setAttribute('width', String(width));
    this.lines.setAttribute('height', String(height));
    const v = new THREE.Vector3();
    const shown = [];
    for (const item of this.items) {
      v.copy(item.anchor).project(camera);
      item.shown = v.z > -1 && v.z < 1;
      if (!item.shown) continue;
      if (!item.w) {
        item.w = item.el.offsetWidth;
        item.h = item.el.offsetHeight;
      }
      item.ax = ((v.x + 1) / 2) * width;
      item.ay = ((1 - v.y) / 2) * height;
      const left = item.ax < width / 2;
      item.left = left;
      item.x = left ? item.ax - OFFSET_X - item.w : item.ax + OFFSET_X;
      item.y = item.ay - OFFSET_Y - item.h / 2;
      shown.push(item);
    }
    // Push overlapping boxes apart, top to bottom, then keep them inside the view.
    shown.sort((a, b) => a.y - b.y);
    for (let i = 0; i < shown.length; i++) {
      const a = shown[i];
      for (let j = 0; j < i; j++) {
        const b = shown[j];
        const overlapX = a.x < b.x + b.w + GAP && b.x < a.x + a.w + GAP;
        if (overlapX && a.y < b.y + b.h + GAP) a.y = b.y + b.h + GAP;
      }
    }
    for (const item of shown) {
      item.x = Math.min(Math.max(item.x, MARGIN), Math.max(MARGIN, width - item.w - MARGIN));
      item.y = Math.min(Math.max(item.y, MARGIN), Math.max(MARGIN, height - item.h - MARGIN));
    }
    for (const item of this.items) {
      item.el.hidden = !item.shown;
      item.line.setAttribute('visibility', item.shown ? 'visible' : 'hidden');
      item.dot.setAttribute('visibility', item.shown ? 'visible' : 'hidden');
      if (!item.shown) continue;
      item.el.style.transform = `translate(${Math.round(item.x)}px, ${Math.round(item.y)}px)`;
      // The line leaves the box at the side facing the anchor, half-way down.
      const ex = item.left ? item.x + item.w : item.x;
      const ey = item.y + item.h / 2;
      item.line.setAttribute('x1', item.ax.toFixed(1));
      item.line.setAttribute('y1', item.ay.toFixed(1));
      item.line.setAttribute('x2', ex.toFixed(1));
      item.line.setAttribute('y2', ey.toFixed(1));
      item.dot.setAttribute('cx', item.ax.toFixed(1));
      item.dot.setAttribute('cy', item.ay.toFixed(1));
    }
  }

  /** Where each label is drawn (tests): [{structure, text, anchor: [x, y], box: [x, y, w, h]}]. */
  layout() {
    return this.items.filter((i) => i.shown).map((i) => ({
      structure: i.structure, text: i.text, anchor: [i.ax, i.ay], box: [i.x, i.y, i.w, i.h],
    }));
  }
}

// The slice's controls (lecturer console, self-paced page, studio): the plane (off, axial,
// coronal, sagittal; free when the slice is free), where along its normal (RAS mm), the
// blend from CT to PET and the CT window. ``onChange(slice | null)`` gets the slice in its
// canonical form (arkit_py/lesson/slicing.py), at most every THROTTLE_MS while a slider
// moves and always with its last value.

import { h } from '../core/common.js';
import { AXES, CT_WINDOWS } from './slice.js';

const THROTTLE_MS = 120;
const ECHO_MS = 600; // a state this soon after a local change is its echo (or older)
const WINDOW_NAMES = { soft_tissue: 'Soft tissue', lung: 'Lung', bone: 'Bone' };
const PLANE_NAMES = { axial: 'Axial', coronal: 'Coronal', sagittal: 'Sagittal' };
const AXIS_WORDS = { sagittal: 'right', coronal: 'anterior', axial: 'superior' };

/** The RAS extent [min, max] (mm) of a hologram's volumes, per axis. */
export function rasExtent(volumes) {
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (const v of Object.values(volumes || {})) {
    for (let a = 0; a < 3; a++) {
      lo[a] = Math.min(lo[a], v.ras_min[a]);
      hi[a] = Math.max(hi[a], v.ras_max[a]);
    }
  }
  return [lo, hi];
}

export class SliceControls {
  /** ``container``: where the controls go (hidden while the hologram has no volumes). */
  constructor(container, { onChange, idPrefix = 'slice' }) {
    this.container = container;
    this.onChange = onChange;
    this.slice = null;
    this.freeBase = null;
    this.volumes = null;
    this.timer = null;
    this.last = -Infinity;
    const id = (s) => `${idPrefix}-${s}`;
    this.plane = h('select', { id: id('plane') },
      h('option', { value: '', text: 'Off' }),
      ...Object.keys(AXES).reverse().map((a) => h('option', { value: a, text: PLANE_NAMES[a] })),
      h('option', { value: 'free', text: 'Free (tilted)', hidden: true }));
    this.at = h('input', { id: id('at'), type: 'range', min: '-500', max: '500', step: '1', value: '0' });
    this.atLabel = h('span', { class: 'muted', id: id('at-label') });
    this.blend = h('input', { id: id('blend'), type: 'range', min: '0', max: '100', step: '5', value: '50' });
    this.blendLabel = h('span', { class: 'muted', id: id('blend-label') });
    this.window = h('select', { id: id('window') },
      ...Object.keys(CT_WINDOWS).map((w) => h('option', { value: w, text: WINDOW_NAMES[w] })));
    const row = (label, control, extra) => h('div', { class: 'row slice-row' },
      h('label', { for: control.id, text: label }), control, extra || null);
    container.replaceChildren(
      row('Plane', this.plane),
      row('Position', this.at, this.atLabel),
      row('CT ↔ PET', this.blend, this.blendLabel),
      row('CT window', this.window));
    this.plane.addEventListener('change', () => this.changed(true));
    this.window.addEventListener('change', () => this.changed(true));
    this.at.addEventListener('input', () => this.changed(false));
    this.blend.addEventListener('input', () => this.changed(false));
    this.setVolumes(null);
  }

  /** The hologram's volumes (lesson.json) for the step shown, or null (no slice possible). */
  setVolumes(volumes) {
    this.volumes = volumes && (volumes.ct || volumes.pet) ? volumes : null;
    (this.container.closest('.card') || this.container).hidden = !this.volumes;
    this.refresh();
  }

  /** Shows ``slice`` (the live state's, the step's), unless the person is moving a control. */
  setSlice(slice) {
    if (this.timer || performance.now() - this.last < ECHO_MS) return; // their own change is on its way back
    this.slice = slice || null;
    this.freeBase = this.slice && this.slice.normal ? this.slice.point : null;
    this.refresh();
  }

  refresh() {
    const s = this.slice;
    const free = Boolean(s && s.normal);
    this.plane.querySelector('option[value="free"]').hidden = !free;
    this.plane.value = !s ? '' : free ? 'free' : s.axis;
    for (const el of [this.at, this.blend, this.window]) el.disabled = !s;
    if (!this.volumes) return;
    const [lo, hi] = rasExtent(this.volumes);
    if (s && s.axis in AXES) {
      const a = AXES[s.axis];
      this.at.min = String(Math.floor(lo[a]));
      this.at.max = String(Math.ceil(hi[a]));
      this.at.value = String(s.at_mm);
      this.atLabel.textContent = `${Math.round(s.at_mm)} mm ${'RAS'[a]} (higher: more ${AXIS_WORDS[s.axis]})`;
    } else if (free) {
      // a free plane moves along its own normal from where it was set
      const reach = Math.ceil(Math.max(...hi.map((v, i) => v - lo[i])));
      const base = this.freeBase || s.point;
      const d = s.point.reduce((sum, v, i) => sum + (v - base[i]) * s.normal[i], 0);
      this.at.min = String(-reach);
      this.at.max = String(reach);
      this.at.value = String(Math.round(d));
      this.atLabel.textContent = `through ${s.point.map((v) => Math.round(v)).join(', ')} mm (RAS)`;
    } else {
      this.atLabel.textContent = '';
    }
    const blend = s ? s.blend : 0.5;
    this.blend.value = String(Math.round(blend * 100));
    this.blendLabel.textContent = blend <= 0 ? 'CT only' : blend >= 1 ? 'PET only' : `${Math.round(blend * 100)} % PET`;
    this.window.value = s ? s.ct_window : 'soft_tissue';
  }

  /** The slice the controls now say. */
  read(planeChanged) {
    const plane = this.plane.value;
    if (!plane || !this.volumes) return null;
    const blend = Number(this.blend.value) / 100;
    const ct_window = this.window.value;
    if (plane === 'free' && this.slice && this.slice.normal) {
      const d = Number(this.at.value);
      const n = this.slice.normal;
      const base = this.freeBase || this.slice.point;
      return { normal: n, point: base.map((v, i) => Math.round((v + d * n[i]) * 10) / 10), blend, ct_window };
    }
    let at = Number(this.at.value);
    if (planeChanged || !this.slice || this.slice.axis !== plane) {
      const [lo, hi] = rasExtent(this.volumes); // a new plane starts in the middle
      at = Math.round((lo[AXES[plane]] + hi[AXES[plane]]) / 2);
    }
    return { axis: plane, at_mm: at, blend, ct_window };
  }

  changed(planeChanged) {
    this.slice = this.read(planeChanged);
    this.refresh();
    this.last = performance.now();
    if (this.timer) return; // the slice at the time it fires goes out
    this.timer = setTimeout(() => {
      this.timer = null;
      this.last = performance.now();
      this.onChange(this.slice);
    }, THROTTLE_MS);
  }
}

// What a structure holds at a tracer time, in words (student page, projection, self-paced):
// "Liver: 4.2 MBq, 2.3 kBq/mL at 60 min".
//
// From the hologram's node extras (docs/hologram-format.md, "Animated structures"):
// ``times_s`` (seconds after administration), ``activity_bq`` (physical activity in the
// structure, never decay-corrected), ``volume_ml``, and ``values`` (the coloured quantity,
// in the legend's unit). Values between samples are interpolated linearly, as the colours are.
//
// Decay correction: arkit types no half-life into its code. The tracer package reads it
// from ICRP-107 at build time and writes it into the GLB as
// ``scene.extras.arkit.tracer.half_life_s`` (beside ``nuclide``); lib/hologram.js
// ``legendOf`` copies both onto the legend it returns (``tracerOf`` gives the whole object),
// so a page holding the legend can decay-correct the physical activity to injection,
// A(t) * exp(ln 2 * t / T½), without further plumbing. A file without a half-life (built
// before it was written) still shows decay-corrected what it holds decay-corrected: the
// coloured ``values`` when ``legend.decay_corrected`` is true (SUV always is); for a
// physical legend without a half-life the toggle is off and says why.

import { interpolate } from '../../lib/hologram.js';
import { formatTime } from '../core/common.js';

const one = new Intl.NumberFormat('en', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const two = new Intl.NumberFormat('en', { maximumSignificantDigits: 2 });
const whole = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });

/** A number as people read it on a phone: 0 decimals from 100, 1 from 1, 2 significant below. */
export function shortNumber(v) {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 100) return whole.format(v);
  if (a >= 1) return one.format(v);
  if (a === 0) return '0';
  return two.format(v);
}

/** Becquerels in the unit that keeps the number readable (MBq by default; docs/frames-and-units.md). */
export function formatActivity(bq) {
  if (!Number.isFinite(bq)) return '–';
  const a = Math.abs(bq);
  if (a >= 1e9) return `${shortNumber(bq / 1e9)} GBq`;
  if (a >= 1e5 || a === 0) return `${shortNumber(bq / 1e6)} MBq`;
  if (a >= 1e2) return `${shortNumber(bq / 1e3)} kBq`;
  return `${shortNumber(bq)} Bq`;
}

/** Bq/mL as kBq/mL (MBq/mL from 10 000 kBq/mL, Bq/mL below 0.1 kBq/mL). */
export function formatConcentration(bqPerMl) {
  if (!Number.isFinite(bqPerMl)) return '–';
  const a = Math.abs(bqPerMl);
  if (a >= 1e7) return `${shortNumber(bqPerMl / 1e6)} MBq/mL`;
  if (a >= 100 || a === 0) return `${shortNumber(bqPerMl / 1e3)} kBq/mL`;
  return `${shortNumber(bqPerMl)} Bq/mL`;
}

/** The legend's quantity in words: "SUV", "Activity concentration". */
export function quantityName(legend) {
  const q = legend && legend.quantity;
  if (q === 'suv') return 'SUV';
  if (q === 'sul') return 'SUL';
  if (q === 'concentration') return 'Activity concentration';
  return q ? String(q).replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase()) : 'Value';
}

/** The coloured quantity as text: "SUV 2.0", "2.5 kBq/mL". */
export function formatColoured(legend, value, unit) {
  if (!Number.isFinite(value)) return '–';
  if (legend && (legend.quantity === 'suv' || legend.quantity === 'sul')) {
    return `${legend.quantity.toUpperCase()} ${shortNumber(value)}`;
  }
  return `${shortNumber(value)} ${unit || (legend && legend.unit) || ''}`.trim();
}

/** The half-life in seconds from ``tracer`` (scene.extras.arkit.tracer), else from the
 * legend (legendOf copies it there); null when neither has a finite positive one. */
function halfLife(legend, tracer) {
  for (const source of [tracer, legend]) {
    const t = source && source.half_life_s;
    if (typeof t === 'number' && Number.isFinite(t) && t > 0) return t;
  }
  return null;
}

/** The nuclide's name from ``tracer`` or the legend, or ''. */
function nuclideName(legend, tracer) {
  const n = (tracer && tracer.nuclide) || (legend && legend.nuclide);
  return typeof n === 'string' ? n : '';
}

/** Whether the decay-corrected figures can be shown: the legend's values are
 * decay-corrected, or a half-life (``tracer.half_life_s``, else ``legend.half_life_s``)
 * lets the physical activity be corrected. */
export function canDecayCorrect(legend, tracer) {
  return Boolean(legend && legend.decay_corrected) || halfLife(legend, tracer) !== null;
}

const hasCurve = (xs, ys) => Array.isArray(xs) && Array.isArray(ys) && xs.length > 0 && xs.length === ys.length;

/**
 * The facts of structure ``s`` (collectStructures entry) at ``t`` seconds after
 * administration: {name, display, system, time_s, activity_bq, concentration_bq_ml,
 * value, unit, hasTracer}. Numbers are null where the file has none.
 */
export function structureFacts(s, legend, t) {
  const e = (s && s.extras) || {};
  const facts = {
    name: s ? s.name : null,
    display: s ? s.display : '',
    system: s ? s.system : 'other',
    time_s: Number.isFinite(t) ? t : null,
    activity_bq: null,
    concentration_bq_ml: null,
    value: null,
    unit: typeof e.unit === 'string' ? e.unit : (legend && legend.unit) || '',
    hasTracer: false,
  };
  if (!Number.isFinite(t)) return facts;
  if (hasCurve(e.times_s, e.activity_bq)) {
    facts.activity_bq = interpolate(e.times_s, e.activity_bq, t);
    facts.hasTracer = true;
    if (Number.isFinite(e.volume_ml) && e.volume_ml > 0) facts.concentration_bq_ml = facts.activity_bq / e.volume_ml;
  }
  if (hasCurve(e.times_s, e.values)) {
    facts.value = interpolate(e.times_s, e.values, t);
    facts.hasTracer = true;
  }
  return facts;
}

/**
 * The facts in words: {headline, coloured, note}. ``headline`` is the line the issue asks
 * for ("Liver: 4.2 MBq, 2.3 kBq/mL at 60 min"). With ``decayCorrected`` and a half-life
 * (``tracer.half_life_s``, else ``legend.half_life_s``) the activity and concentration are
 * decay-corrected to injection, A * exp(ln 2 * t / T½) ("Liver: 8.4 MBq, 4.6 kBq/mL at
 * 110 min, decay-corrected to injection"), the physical figures in ``coloured``; without a
 * half-life but with a decay-corrected legend it gives the file's coloured quantity.
 */
export function describeFacts(facts, legend, { decayCorrected = false, tracer = null } = {}) {
  const at = facts.time_s === null ? '' : ` at ${formatTime(facts.time_s)}`;
  if (!facts.hasTracer) {
    return {
      headline: `${facts.display}: no tracer values for this structure`,
      coloured: '',
      note: legend ? 'It takes no part in this tracer’s model and keeps its plain colour.' : '',
    };
  }
  const coloured = facts.value === null ? '' :
    `Colour: ${formatColoured(legend, facts.value, facts.unit)}${legend && legend.decay_corrected ? ' (decay-corrected)' : ' (physical)'}`;
  const physical = [];
  if (facts.activity_bq !== null) physical.push(formatActivity(facts.activity_bq));
  if (facts.concentration_bq_ml !== null) physical.push(formatConcentration(facts.concentration_bq_ml));
  const halfLifeS = halfLife(legend, tracer);
  if (decayCorrected && halfLifeS !== null && facts.activity_bq !== null && facts.time_s !== null) {
    const factor = Math.exp((Math.LN2 * facts.time_s) / halfLifeS);
    const corrected = [formatActivity(facts.activity_bq * factor)];
    if (facts.concentration_bq_ml !== null) corrected.push(formatConcentration(facts.concentration_bq_ml * factor));
    const nuclide = nuclideName(legend, tracer);
    return {
      headline: `${facts.display}: ${corrected.join(', ')}${at}, decay-corrected to injection`,
      coloured: `Physical: ${physical.join(', ')}`,
      note: `Half-life${nuclide ? ` of ${nuclide}` : ''}: ${formatTime(halfLifeS)}.${coloured ? ` ${coloured}.` : ''}`,
    };
  }
  if (decayCorrected && canDecayCorrect(legend) && facts.value !== null) {
    return {
      headline: `${facts.display}: ${formatColoured(legend, facts.value, facts.unit)} decay-corrected to injection${at}`,
      coloured: physical.length ? `Physical: ${physical.join(', ')}` : '',
      note: 'The activity in MBq stays physical: this hologram carries no half-life to correct it with.',
    };
  }
  return {
    headline: physical.length ? `${facts.display}: ${physical.join(', ')}${at}` : `${facts.display}: ${coloured}${at}`,
    coloured: physical.length ? coloured : '',
    note: '',
  };
}

/** "Digestive system", "Body". */
export function systemText(system) {
  if (!system || system === 'other') return 'Other structure';
  if (system === 'body') return 'Body outline';
  return `${system.charAt(0).toUpperCase()}${system.slice(1)} system`;
}

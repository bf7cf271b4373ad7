// What a structure holds at a tracer time, in words (student page, projection, self-paced):
// "Liver: 4.2 MBq, 2.3 kBq/mL at 60 min".
//
// From the hologram's node extras (DESIGN.md "Holograms"): ``times_s`` (seconds after
// administration), ``activity_bq`` (physical activity in the structure, never
// decay-corrected), ``volume_ml``, and ``values`` (the coloured quantity, in the legend's
// unit). Values between samples are interpolated linearly, as the colours are.
//
// Decay correction: arkit types no half-life into its code (the tracer package reads them
// from ICRP-107 at build time) and lesson.json carries none, so the client cannot
// decay-correct the physical activity itself. What it can show decay-corrected is what the
// file already holds decay-corrected: the coloured ``values`` when ``legend.decay_corrected``
// is true (SUV always is). For a physical legend the toggle is off and says why.

import { interpolate } from '../lib/hologram.js';
import { formatTime } from './common.js';

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

/** Becquerels in the unit that keeps the number readable (MBq by default, DESIGN.md). */
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

/** Whether the decay-corrected figures can be shown for this legend. */
export function canDecayCorrect(legend) {
  return Boolean(legend && legend.decay_corrected);
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
 * for ("Liver: 4.2 MBq, 2.3 kBq/mL at 60 min"); with ``decayCorrected`` (and a legend that
 * allows it) it gives the file's decay-corrected quantity instead.
 */
export function describeFacts(facts, legend, { decayCorrected = false } = {}) {
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
  if (decayCorrected && canDecayCorrect(legend) && facts.value !== null) {
    return {
      headline: `${facts.display}: ${formatColoured(legend, facts.value, facts.unit)} decay-corrected to injection${at}`,
      coloured: facts.activity_bq === null ? '' :
        `Physical: ${formatActivity(facts.activity_bq)}${facts.concentration_bq_ml === null ? '' : `, ${formatConcentration(facts.concentration_bq_ml)}`}`,
      note: 'The activity in MBq stays physical: the lesson carries no half-life to correct it with.',
    };
  }
  const parts = [];
  if (facts.activity_bq !== null) parts.push(formatActivity(facts.activity_bq));
  if (facts.concentration_bq_ml !== null) parts.push(formatConcentration(facts.concentration_bq_ml));
  return {
    headline: parts.length ? `${facts.display}: ${parts.join(', ')}${at}` : `${facts.display}: ${coloured}${at}`,
    coloured: parts.length ? coloured : '',
    note: '',
  };
}

/** "Digestive system", "Body". */
export function systemText(system) {
  if (!system || system === 'other') return 'Other structure';
  if (system === 'body') return 'Body outline';
  return `${system.charAt(0).toUpperCase()}${system.slice(1)} system`;
}

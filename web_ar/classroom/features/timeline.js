// The tracer timeline: one feature for the student, lecturer and self-paced pages. Play /
// pause, a scrubber, the time readout ("45 min p.i."), the colour legend with its units, and
// on the student page a "Follow the lecturer" switch; the same time drives the in-scene
// time row in AR (``sceneTime()``).
//
// Time is never streamed. A playback is {time_s, playing, rate, at_ms} and the time shown is
// extrapolated from it (common.playbackTime), looping over the step's window. Three modes:
//
// - 'follow' (student): while following, the lecturer's last ``state.playback`` with the
//   server clock; turning following off (or touching play / the scrubber, which turns it
//   off) gives the student a playback of their own on the local clock, taken over from where
//   the lecturer is (no jump). Turning it on again, and every new step, snaps back.
// - 'local' (self-paced): the page's own playback only.
// - 'control' (lecturer): shows the session's playback (server clock); play, pause, a
//   scrub (when let go) and the speed go out as lecturer actions through ``onControl``, and
//   the time changes when the new state comes back.
//
// The controls are built into ``section`` (the student page's empty #timeline), or the
// page's own markup is used (``controls``: the lecturer and self-paced templates' #play,
// #time, #time-label, #rate); the legend is added to the section either way.

import { paletteGradient } from '../../lib/hologram.js';
import {
  formatTime, h, parseDuration, playbackTime, stepHologram, stepWindow,
} from '../core/common.js';
import { quantityName, shortNumber } from './tracer.js';

export const DEFAULT_MAX_S = 3600;
const MODES = new Set(['follow', 'local', 'control']);

/** "45 min p.i." (post injection) for ``seconds`` after administration. */
export function readout(seconds) {
  return Number.isFinite(seconds) ? `${formatTime(seconds)} p.i.` : '–';
}

/**
 * The time facts of step ``index`` of ``lesson`` (lesson.json) for ``Timeline.setStep``:
 * {window, max, legend, rate, start, play, shown}. ``max``: the scrubber's end (the step's
 * end, the hologram's ``until`` or its legend's length, whichever is last); ``rate``: the
 * hologram's own speed (real seconds per clip second); ``shown``: whether the step has a
 * time to show (a tracer hologram or a time window).
 */
export function stepTime(lesson, index) {
  const step = (lesson && lesson.steps[index]) || {};
  const holo = (lesson && lesson.holograms[stepHologram(lesson, step)]) || {};
  const legend = holo.legend || null;
  const time = step.time || {};
  const max = Math.max(Number(time.end_s) || 0, parseDuration(holo.until) || 0, (legend && legend.real_s) || 0,
    Number(time.start_s) || 0);
  return {
    window: stepWindow(step),
    max: max > 0 ? max : DEFAULT_MAX_S,
    legend,
    rate: legend && legend.real_s > 0 && legend.clip_s > 0 ? legend.real_s / legend.clip_s : 60,
    start: Number(time.start_s) || 0,
    play: Boolean(time.play),
    shown: Boolean(legend || holo.tracer || step.time),
  };
}

export class Timeline {
  /**
   * ``section``: the element the timeline lives in (hidden for a step without time).
   * Options:
   * - ``mode``: 'follow' | 'local' | 'control' (above).
   * - ``serverNow()``: the server clock in ms (the session's playback is in that clock).
   * - ``onChange()``: the time shown or its source changed (redraw the hologram).
   * - ``onFollow(following, why)``: following was switched (why: 'user' | 'scrub' | 'step').
   * - ``onControl(action, fields)``: control mode: 'play' {rate}, 'pause', 'time' {time_s}.
   * - ``controls``: {play, slider, readout, rate?} elements already in the page; else built
   *   (ids timeline-play, timeline-time, timeline-readout, timeline-follow).
   * - ``describe(t, playing, rate)``: the readout's text (default ``readout(t)``).
   */
  constructor(section, {
    mode = 'follow', serverNow = () => Date.now(), onChange = () => {}, onFollow = () => {}, onControl = () => {},
    controls = null, describe = null,
  } = {}) {
    if (!MODES.has(mode)) throw new Error(`unknown timeline mode ${mode}`);
    this.section = section;
    this.mode = mode;
    this.serverNow = serverNow;
    this.onChange = onChange;
    this.onFollow = onFollow;
    this.onControl = onControl;
    this.describe = describe || ((t) => readout(t));
    this.following = mode === 'follow';
    this.remote = null; // the session's state.playback
    this.own = { time_s: 0, playing: false, rate: 60, at_ms: Date.now() };
    this.window = null;
    this.max = DEFAULT_MAX_S;
    this.rate = 60;
    this.legend = null;
    this.dragging = false;
    if (controls) this.adopt(controls);
    else this.build();
    this.buildLegend();
    this.timer = setInterval(() => this.update(), 250);
  }

  // ------------------------------------------------------------------ the controls

  build() {
    const id = (name) => `timeline-${name}`;
    this.play = h('button', { type: 'button', id: id('play'), class: 'play', 'aria-pressed': 'false', text: 'Play' });
    this.slider = h('input', {
      type: 'range', id: id('time'), min: '0', max: String(this.max), step: '1', value: '0',
      'aria-label': 'Time after injection',
    });
    this.readoutEl = h('output', { id: id('readout'), class: 'readout', for: id('time'), 'aria-live': 'off' });
    this.rateEl = null;
    const rows = [h('div', { class: 'timeline-row' }, this.play, this.slider, this.readoutEl)];
    if (this.mode === 'follow') {
      this.followBox = h('input', {
        type: 'checkbox', id: id('follow'), checked: true,
        on: { change: () => this.follow(this.followBox.checked, 'user') },
      });
      this.followNote = h('span', { class: 'follow-note muted', 'aria-live': 'polite' });
      rows.push(h('div', { class: 'timeline-row' },
        h('label', { class: 'follow', for: id('follow') }, this.followBox, h('span', { text: 'Follow the lecturer' })),
        this.followNote));
    }
    this.section.replaceChildren(...rows);
    this.wire();
  }

  /** The page's own markup: {play, slider, readout, rate?}. */
  adopt({ play, slider, readout: readoutEl, rate = null }) {
    this.play = play;
    this.slider = slider;
    this.readoutEl = readoutEl;
    this.rateEl = rate;
    this.wire();
    if (rate) {
      rate.addEventListener('change', () => this.setRate(Number(rate.value)));
      this.own.rate = Number(rate.value) || this.own.rate;
    }
  }

  wire() {
    this.play.addEventListener('click', () => this.togglePlay());
    const slider = this.slider;
    slider.addEventListener('pointerdown', () => {
      this.dragging = true;
    });
    slider.addEventListener('input', () => {
      if (this.mode !== 'control') this.scrub(Number(slider.value));
    });
    slider.addEventListener('change', () => {
      this.dragging = false;
      if (this.mode === 'control') this.scrub(Number(slider.value));
    });
    slider.addEventListener('blur', () => {
      this.dragging = false;
    });
  }

  buildLegend() {
    this.legendBar = h('div', { class: 'legend-bar', role: 'img' });
    this.legendTitle = h('span', { class: 'legend-title' });
    this.legendMin = h('span', { class: 'legend-min' });
    this.legendMid = h('span', { class: 'legend-mid' });
    this.legendMax = h('span', { class: 'legend-max' });
    this.legendNote = h('span', { class: 'legend-note muted' });
    this.legendEl = h('figure', { class: 'legend', hidden: true },
      h('figcaption', {}, this.legendTitle, ' ', this.legendNote),
      this.legendBar,
      h('div', { class: 'legend-ticks', 'aria-hidden': 'true' }, this.legendMin, this.legendMid, this.legendMax));
    this.section.append(this.legendEl);
  }

  // ------------------------------------------------------------------ what is shown

  /**
   * A new step (or hologram), as ``stepTime()`` gives it: ``window`` [start_s, end_s] or
   * null, ``max`` the scrubber's end in seconds, ``legend`` or null, ``rate`` the hologram's
   * own speed (the local playback's, unless the page has a speed control), ``start`` and
   * ``play`` the step's own start, ``shown`` whether the timeline shows at all. In follow
   * mode a new step snaps back to following the lecturer.
   */
  setStep({ window = null, max = DEFAULT_MAX_S, legend = null, rate = 60, start = 0, play = false, shown = true } = {}) {
    this.window = window;
    this.max = max > 0 ? max : DEFAULT_MAX_S;
    this.rate = rate > 0 ? rate : 60;
    this.stretch();
    const ownRate = this.rateEl ? Number(this.rateEl.value) || this.rate : this.rate;
    this.own = { time_s: start, playing: play, rate: ownRate, at_ms: Date.now() };
    this.section.hidden = !shown;
    this.setLegend(legend);
    if (this.mode === 'follow' && !this.following) this.follow(true, 'step');
    this.onChange();
    this.update();
  }

  /** The scrubber's range: the step's, or further when the session's time is past it. */
  stretch() {
    const beyond = this.remote && Number(this.remote.time_s) > this.max ? Number(this.remote.time_s) : this.max;
    this.slider.max = String(beyond);
    this.slider.step = String(Math.max(beyond / 1000, 1));
  }

  setLegend(legend) {
    this.legend = legend;
    const gradient = paletteGradient(legend);
    this.legendEl.hidden = !gradient;
    if (!gradient) return;
    this.legendBar.style.background = gradient;
    const unit = legend.unit || '';
    const quantity = quantityName(legend);
    this.legendTitle.textContent = `${quantity}${unit ? ` (${unit})` : ''}`;
    this.legendNote.textContent = legend.decay_corrected ? 'decay-corrected' : 'physical';
    this.legendMin.textContent = shortNumber(legend.min);
    this.legendMid.textContent = shortNumber((legend.min + legend.max) / 2);
    this.legendMax.textContent = `≥ ${shortNumber(legend.max)}`;
    this.legendBar.setAttribute('aria-label',
      `Colour scale: ${quantity} from ${shortNumber(legend.min)} (dark blue) to ${shortNumber(legend.max)} ${unit} ` +
      `or more (pale yellow); ${legend.decay_corrected ? 'decay-corrected to injection' : 'physical, not decay-corrected'}`);
  }

  /** The session's playback from a new ``state`` (follow and control modes). */
  setRemote(playback) {
    this.remote = playback || null;
    this.stretch();
    if (this.mode === 'control' || this.following) this.onChange();
    this.update();
  }

  /** Whether the time shown is the session's (the lecturer's). */
  showsRemote() {
    return Boolean(this.remote) && (this.mode === 'control' || (this.mode === 'follow' && this.following));
  }

  /** Seconds after administration shown now. */
  now() {
    if (this.showsRemote()) return playbackTime(this.remote, this.serverNow(), this.window);
    if (this.mode === 'control') return 0;
    return playbackTime(this.own, Date.now(), this.window);
  }

  playing() {
    if (this.showsRemote()) return Boolean(this.remote.playing);
    return this.mode === 'control' ? false : Boolean(this.own.playing);
  }

  /** The speed the time runs at now (real seconds per second). */
  currentRate() {
    return this.showsRemote() ? Number(this.remote.rate) || 1 : this.own.rate;
  }

  /** The time row of the in-scene dock (XRUI.setTime's arguments): [readout | null, playing,
   * following | null (no lecturer to follow)]. */
  sceneTime() {
    return [this.section.hidden ? null : readout(this.now()), this.playing(), this.mode === 'follow' ? this.following : null];
  }

  // ------------------------------------------------------------------ what the person does

  follow(on, why = 'user') {
    if (this.mode !== 'follow') return;
    if (!on && this.following) {
      // Take over from where the lecturer is now (no jump).
      this.own = { time_s: this.now(), playing: this.playing(), rate: (this.remote && this.remote.rate) || this.rate, at_ms: Date.now() };
    }
    const changed = this.following !== on;
    this.following = on;
    this.followBox.checked = on;
    this.followNote.textContent = on ? '' : 'You control the time. Tick “Follow the lecturer” to go back.';
    if (changed) this.onFollow(on, why);
    this.onChange();
    this.update();
  }

  togglePlay() {
    if (this.mode === 'control') {
      if (this.playing()) this.onControl('pause', {});
      else this.onControl('play', { rate: this.rateEl ? Number(this.rateEl.value) || 1 : this.rate });
      return;
    }
    if (this.following) this.follow(false, 'scrub');
    this.own = { ...this.own, time_s: this.now(), playing: !this.own.playing, at_ms: Date.now() };
    this.onChange();
    this.update();
  }

  scrub(seconds) {
    const t = Math.min(Math.max(seconds, 0), Number(this.slider.max) || this.max);
    if (this.mode === 'control') {
      this.onControl('time', { time_s: t });
      return;
    }
    if (this.following) this.follow(false, 'scrub');
    this.own = { ...this.own, time_s: t, at_ms: Date.now() };
    this.onChange();
    this.update();
  }

  /** A new speed (the page's speed control). */
  setRate(rate) {
    const r = rate > 0 ? rate : 1;
    if (this.mode === 'control') {
      if (this.playing()) this.onControl('play', { rate: r });
      return;
    }
    this.own = { ...this.own, time_s: playbackTime(this.own, Date.now(), this.window), rate: r, at_ms: Date.now() };
    this.update();
  }

  update() {
    const t = this.now();
    const playing = this.playing();
    this.play.textContent = playing ? 'Pause' : 'Play';
    this.play.setAttribute('aria-pressed', String(playing));
    this.play.setAttribute('aria-label', playing ? 'Pause the tracer time' : 'Play the tracer time');
    this.readoutEl.textContent = this.describe(t, playing, this.currentRate());
    this.slider.setAttribute('aria-valuetext', `${formatTime(t)} after injection`);
    if (!this.dragging && document.activeElement !== this.slider) this.slider.value = String(t);
    else if (!this.dragging && Math.abs(Number(this.slider.value) - t) > Number(this.slider.step)) this.slider.value = String(t);
  }

  /** What tests read: {mode, time_s, following, playing, rate, max}. */
  snapshot() {
    return {
      mode: this.mode, time_s: this.now(), following: this.following, playing: this.playing(), rate: this.currentRate(),
      max: this.max,
    };
  }
}

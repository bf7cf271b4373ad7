// The tracer timeline of the student page: play / pause, a scrubber, the time readout
// ("45 min p.i."), a "Follow the lecturer" switch and the colour legend with its units.
//
// Time is never streamed: while following, the time shown is extrapolated from the
// lecturer's last ``state.playback`` = {time_s, playing, rate, at_ms} with the server
// clock (common.playbackTime), looping over the step's window as the projection does.
// Turning following off (or touching play / the scrubber, which turns it off) gives the
// student a playback of their own, extrapolated the same way from the local clock. Turning
// it on again snaps back to the lecturer's time, and so does every new lecturer state
// while it is on.

import { paletteGradient } from '../lib/hologram.js';
import { formatTime, h, playbackTime } from './common.js';
import { quantityName, shortNumber } from './tracer.js';

const DEFAULT_MAX_S = 3600;

/** "45 min p.i." (post injection) for ``seconds`` after administration. */
export function readout(seconds) {
  return Number.isFinite(seconds) ? `${formatTime(seconds)} p.i.` : '–';
}

export class Timeline {
  /**
   * ``section``: an empty element to fill. ``serverNow()``: the server clock in ms (the
   * lecturer's playback is in that clock). ``onChange()``: the time or following changed.
   * ``onFollow(following, why)``: following was switched (why: 'user' | 'scrub' | 'step').
   */
  constructor(section, { serverNow, onChange = () => {}, onFollow = () => {} }) {
    this.section = section;
    this.serverNow = serverNow;
    this.onChange = onChange;
    this.onFollow = onFollow;
    this.following = true;
    this.lecturer = null; // state.playback
    this.own = { time_s: 0, playing: false, rate: 60, at_ms: Date.now() };
    this.window = null;
    this.max = DEFAULT_MAX_S;
    this.rate = 60;
    this.legend = null;
    this.dragging = false;
    this.build();
    this.timer = setInterval(() => this.update(), 250);
  }

  build() {
    const id = (name) => `timeline-${name}`;
    this.play = h('button', {
      type: 'button', id: id('play'), class: 'play', 'aria-pressed': 'false', text: 'Play',
      on: { click: () => this.togglePlay() },
    });
    this.slider = h('input', {
      type: 'range', id: id('time'), min: '0', max: String(this.max), step: '1', value: '0',
      'aria-label': 'Time after injection',
      on: {
        pointerdown: () => {
          this.dragging = true;
        },
        input: () => this.scrub(Number(this.slider.value)),
        change: () => {
          this.dragging = false;
        },
        blur: () => {
          this.dragging = false;
        },
      },
    });
    this.readoutEl = h('output', { id: id('readout'), class: 'readout', for: id('time'), 'aria-live': 'off' });
    this.followBox = h('input', {
      type: 'checkbox', id: id('follow'), checked: true,
      on: { change: () => this.follow(this.followBox.checked, 'user') },
    });
    this.followNote = h('span', { class: 'follow-note muted', 'aria-live': 'polite' });
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
    this.section.replaceChildren(
      h('div', { class: 'timeline-row' }, this.play, this.slider, this.readoutEl),
      h('div', { class: 'timeline-row' },
        h('label', { class: 'follow', for: id('follow') }, this.followBox, h('span', { text: 'Follow the lecturer' })),
        this.followNote),
      this.legendEl,
    );
  }

  /**
   * A new step (or hologram): ``window`` [start_s, end_s] or null, ``max`` the scrubber's
   * end in seconds, ``legend`` (scene.extras.arkit.legend) or null, ``rate`` the
   * hologram's own speed (real seconds per second) for the student's playback.
   */
  setStep({ window = null, max = DEFAULT_MAX_S, legend = null, rate = 60, start = 0, play = false } = {}) {
    this.window = window;
    this.max = max > 0 ? max : DEFAULT_MAX_S;
    this.rate = rate > 0 ? rate : 60;
    this.slider.max = String(this.max);
    this.slider.step = String(Math.max(this.max / 1000, 1));
    this.own = { time_s: start, playing: play, rate: this.rate, at_ms: Date.now() };
    this.setLegend(legend);
    this.update();
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

  /** The lecturer's playback from a new ``state`` (snaps back while following). */
  setLecturer(playback) {
    this.lecturer = playback || null;
    if (this.following) this.onChange();
    this.update();
  }

  /** Seconds after administration shown now. */
  now() {
    if (this.following && this.lecturer) return playbackTime(this.lecturer, this.serverNow(), this.window);
    return playbackTime(this.own, Date.now(), this.window);
  }

  playing() {
    return this.following && this.lecturer ? Boolean(this.lecturer.playing) : Boolean(this.own.playing);
  }

  follow(on, why = 'user') {
    if (!on && this.following) {
      // Take over from where the lecturer is now (no jump).
      this.own = { time_s: this.now(), playing: this.playing(), rate: (this.lecturer && this.lecturer.rate) || this.rate, at_ms: Date.now() };
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
    if (this.following) this.follow(false, 'scrub');
    const t = this.now();
    this.own = { ...this.own, time_s: t, playing: !this.own.playing, at_ms: Date.now() };
    this.onChange();
    this.update();
  }

  scrub(seconds) {
    if (this.following) this.follow(false, 'scrub');
    this.own = { ...this.own, time_s: Math.min(Math.max(seconds, 0), this.max), at_ms: Date.now() };
    this.onChange();
    this.update();
  }

  update() {
    const t = this.now();
    const playing = this.playing();
    this.play.textContent = playing ? 'Pause' : 'Play';
    this.play.setAttribute('aria-pressed', String(playing));
    this.play.setAttribute('aria-label', playing ? 'Pause the tracer time' : 'Play the tracer time');
    this.readoutEl.textContent = readout(t);
    this.slider.setAttribute('aria-valuetext', `${formatTime(t)} after injection`);
    if (!this.dragging && document.activeElement !== this.slider) this.slider.value = String(t);
    else if (!this.dragging && Math.abs(Number(this.slider.value) - t) > Number(this.slider.step)) this.slider.value = String(t);
  }

  /** What tests read: {time_s, following, playing, max}. */
  snapshot() {
    return { time_s: this.now(), following: this.following, playing: this.playing(), max: this.max };
  }
}

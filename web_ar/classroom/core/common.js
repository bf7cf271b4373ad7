// Shared by every classroom page: DOM helpers, the REST client with plain-language errors,
// the server clock and playback extrapolation, step rendering, and the test hooks
// (window.__arkitClass).

import './style.css';

export const $ = (id) => document.getElementById(id);

/**
 * A DOM element: h('button', {class: 'x', type: 'button', on: {click}}, 'text', child).
 * ``text`` sets textContent; ``dataset`` and ``on`` take objects; other keys are attributes
 * (false / null / undefined leave them out). Never takes HTML.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'on') for (const [name, fn] of Object.entries(value)) el.addEventListener(name, fn);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces ``el``'s children with ``children``, leaving out null / false / undefined. */
export function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

// ---------------------------------------------------------------------------- test hooks

/** window.__arkitClass: what tests wait on. Pages add their own fields. */
export const hooks = {
  role: null,
  code: null,
  rev: 0,
  step: null,
  connected: false,
  joined: false,
  lastState: null,
  problem: null,
  participantId: null,
  participants: null,
  hologram: null,
};
window.__arkitClass = hooks;

// ---------------------------------------------------------------------------- messages

/** Plain words for the server's error codes (socket ``error`` events and API errors). */
export const PROBLEMS = {
  unknown_code: 'There is no session with this code. Check the code on the big screen.',
  expired: 'This session has expired. Ask your lecturer for a new one.',
  full: 'This session is full: no more students can join. Tell your lecturer.',
  rate_limited: 'Too many people joined from this network in the last minute. Trying again shortly…',
  ended: 'This session has ended. Thank you for taking part.',
  unauthorised: 'This page needs the session’s control link (the one with # and a long code at the end).',
  forbidden: 'This control link does not belong to this session. Open the link you got when you started it.',
  not_current: 'This quiz is no longer the current one.',
  closed: 'The quiz is closed: your answer was not counted.',
  not_joined: 'You are not connected to the session yet. Wait a moment and try again.',
  unknown_lesson: 'This lesson is not in the library (any more).',
  network: 'The classroom server does not answer. Check the Wi-Fi; the page keeps trying.',
};

export function problemText(code, message) {
  if (PROBLEMS[code]) return PROBLEMS[code];
  if (message) return `${message.charAt(0).toUpperCase()}${message.slice(1)}.`.replace(/\.\.$/, '.');
  return 'Something went wrong. Reload the page to try again.';
}

/** Shows ``text`` in the page's #status line; kind: '' | 'error' | 'ok'. */
export function showStatus(text, kind = '') {
  const el = $('status');
  if (!el) return;
  el.textContent = text || '';
  el.hidden = !text;
  el.className = kind ? `status ${kind}` : 'status';
}

// ---------------------------------------------------------------------------- REST

export class ApiProblem extends Error {
  constructor(status, code, message) {
    super(problemText(code, message));
    this.status = status;
    this.code = code;
  }
}

/** JSON from the server's API; throws ApiProblem with plain words (and ``errors``, the
 * located problems of a lesson, when the server lists them). The token, if any, goes in the
 * Authorization header, never in the URL. ``body`` is sent as JSON, ``form`` (FormData) as
 * multipart; ``headers`` are added. */
export async function api(path, {
  method = 'GET', token = null, body = undefined, form = undefined, headers = {}, raw = false,
} = {}) {
  const sent = { Accept: 'application/json', ...headers };
  if (token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method, headers: sent, body: body === undefined ? form : JSON.stringify(body), cache: 'no-store',
    });
  } catch {
    throw new ApiProblem(0, 'network', '');
  }
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      // not JSON: an HTML error page
    }
    const problem = new ApiProblem(response.status, (data && data.error) || `http_${response.status}`,
      (data && data.message) || `the server answered ${response.status}`);
    problem.errors = (data && data.errors) || null;
    throw problem;
  }
  if (raw) return response;
  return response.json();
}

// ---------------------------------------------------------------------------- clock

/** The server's clock, estimated from the ``server_ms`` of the states received (the
 * largest offset seen: the one least delayed by the network). */
export class ServerClock {
  constructor() {
    this.offset = null;
  }

  sample(serverMs) {
    if (!Number.isFinite(serverMs)) return;
    const offset = serverMs - Date.now();
    this.offset = this.offset === null ? offset : Math.max(this.offset, offset);
  }

  now() {
    return Date.now() + (this.offset || 0);
  }
}

/** Seconds after administration now, extrapolated from ``playback`` = {time_s, playing,
 * rate, at_ms}; inside ``window`` = [start, end] (seconds) playing loops over the window. */
export function playbackTime(playback, nowMs, window = null) {
  if (!playback) return null;
  let t = Number(playback.time_s) || 0;
  if (playback.playing) t += (Math.max(0, nowMs - playback.at_ms) / 1000) * (Number(playback.rate) || 1);
  if (playback.playing && window && window[1] > window[0] && t > window[1]) {
    t = window[0] + ((t - window[0]) % (window[1] - window[0]));
  }
  return Math.max(0, t);
}

/** [start_s, end_s] of a step's time window, or null (no time, or no end). */
export function stepWindow(step) {
  const time = step && step.time;
  if (!time || !Number.isFinite(time.end_s)) return null;
  return [Number(time.start_s) || 0, time.end_s];
}

const minutes = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

/** Seconds after administration as people say it (min, h, days). */
export function formatTime(seconds) {
  if (!Number.isFinite(seconds)) return '';
  const m = seconds / 60;
  if (m < 120) return `${minutes.format(m)} min`;
  if (m < 48 * 60) return `${minutes.format(m / 60)} h`;
  return `${minutes.format(m / 1440)} days`;
}

/** "120 min", "2 h", "3 d", "90 s" as seconds (a hologram's ``until``); null otherwise. */
export function parseDuration(text) {
  const m = /^\s*([0-9.]+)\s*(s|sec|min|h|hr|d|day|days)?\s*$/i.exec(String(text || ''));
  if (!m) return null;
  const scale = { s: 1, sec: 1, min: 60, h: 3600, hr: 3600, d: 86400, day: 86400, days: 86400 }[(m[2] || 's').toLowerCase()];
  return Number(m[1]) * scale;
}

// ---------------------------------------------------------------------------- lessons

/** The hologram id a step shows (the lesson's first hologram when the step names none). */
export function stepHologram(lesson, step) {
  const ids = Object.keys((lesson && lesson.holograms) || {});
  if (step && step.hologram && ids.includes(step.hologram)) return step.hologram;
  return ids[0] || null;
}

/** The structure names of a step's hologram. */
export function stepStructures(lesson, step) {
  const id = stepHologram(lesson, step);
  const holo = id && lesson.holograms[id];
  return (holo && Array.isArray(holo.structures)) ? holo.structures : [];
}

/** A structure's name for people: "kidney_left" -> "Kidney left". */
export function structureName(name) {
  const text = String(name).replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Fills ``container`` with the step's number, title and narration (narration_html comes
 * sanitised from the server and is inserted as HTML). */
export function renderStep(container, lesson, index) {
  const steps = (lesson && lesson.steps) || [];
  const step = steps[index];
  container.replaceChildren();
  if (!step) return;
  const narration = h('div', { class: 'narration' });
  narration.innerHTML = step.narration_html || '';
  container.append(
    h('p', { class: 'step-number', text: `Step ${index + 1} of ${steps.length}` }),
    h('h2', { class: 'step-title', id: 'step-title', text: step.title }),
    narration,
  );
  container.dataset.step = String(index);
}

/** Whether a key press belongs to a text field (then page shortcuts stay away). */
export function isTyping(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
    target instanceof HTMLSelectElement || (target instanceof HTMLElement && target.isContentEditable);
}

/** localStorage that survives private modes refusing it. */
export const store = {
  get(key) {
    try {
      return window.localStorage.getItem(key);
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch {
      // private mode: the id lives as long as the page
    }
  },
};

// Self-paced page (/lessons/<id>): the lesson alone, step by step, with the hologram and
// its tracer time played locally. Quizzes are answered here only: this page has no
// answers to grade against (the server never sends them), so an answer is "submitted".
// In AR (xr_page.js) the scene carries the captions, the time with Play, Previous / Next,
// size, pose and leave; an identify quiz is answered by selecting the structure there.

import {
  $, api, formatTime, h, hooks, isTyping, parseDuration, playbackTime, renderStep, showStatus, stepHologram,
  stepStructures, stepWindow, store,
} from './common.js';
import { answerText, quizForm } from './quiz.js';
import { readout } from './timeline.js';
import { HologramView } from './viewer.js';
import { narrationText, setupXR, sharedXRAction, updateQuickLook } from './xr_page.js';
import { XRUI } from './xr_ui.js';

const lessonId = document.body.dataset.lesson;
const answersKey = `arkit:self:${lessonId}`;
Object.assign(hooks, { role: 'self-paced', code: null, lesson: lessonId, step: null, answered: {} });

let lesson = null;
let index = 0;
// Local playback in seconds after administration, extrapolated like the server's.
let playback = { time_s: 0, playing: false, rate: 60, at_ms: Date.now() };

const xrui = new XRUI({ onAction: (id) => xrAction(id) });
const viewStatus = $('viewer-status');
const viewer = new HologramView($('viewport'), {
  interactive: true,
  label: `The hologram of “${document.title.replace(/ · arkit$/, '')}”`,
  statusElement: viewStatus,
  onPick: (name, display) => picked(name, display, false),
  onLabels: (labels) => xrui.setLabels(labels),
  time: () => now(),
});
hooks.hologram = viewer.info;
const ar = setupXR(viewer, xrui, {
  onSelect: (name) => picked(name, name ? viewer.displayName(name) : null, true),
  onFrame: () => xrui.setTime($('playback').hidden ? null : readout(now()), playback.playing, null),
});

/** Seconds after administration shown now. */
function now() {
  return playbackTime(playback, Date.now(), stepWindow(lesson && lesson.steps[index]));
}

/** A structure tapped in 3D or selected in AR: shown, and an identify quiz's choice (in AR,
 * where the list is out of reach, it is submitted at once). */
function picked(name, display, inAR) {
  $('picked').textContent = name ? `Selected: ${display}` : '';
  viewer.setHighlight(name);
  const radio = name && document.querySelector(`#quiz input[type="radio"][value="${CSS.escape(name)}"]`);
  if (radio) {
    radio.checked = true;
    if (inAR) radio.form.requestSubmit();
  }
}

/** A button pressed in the scene. */
function xrAction(id) {
  if (sharedXRAction(ar, id)) return;
  if (id === 'play') $('play').click();
  else if (id === 'step-prev') show(index - 1);
  else if (id === 'step-next') show(index + 1);
}

/** The step's quiz as the scene shows it. */
function updateXRQuiz(step) {
  const quiz = step.quiz;
  if (!quiz) {
    xrui.setQuiz(null);
    return;
  }
  const mine = answers()[quiz.id];
  const lines = quiz.kind === 'identify' ? ['Select the structure on the hologram.']
    : ['Answer this one on the page: press Leave AR.'];
  if (mine !== undefined) lines.push(`Submitted: ${answerText(quiz, mine)}`);
  xrui.setQuiz({ title: quiz.prompt, lines, withCaptions: true }); // no lecturer to open it: both
}

function answers() {
  try {
    return JSON.parse(store.get(answersKey) || '{}') || {};
  } catch {
    return {};
  }
}

function show(i) {
  if (!lesson) return;
  index = Math.max(0, Math.min(lesson.steps.length - 1, i));
  const step = lesson.steps[index];
  hooks.step = index;
  renderStep($('step'), lesson, index);
  $('position').textContent = `Step ${index + 1} of ${lesson.steps.length}`;
  $('prev').disabled = index === 0;
  $('next').disabled = index === lesson.steps.length - 1;
  $('picked').textContent = '';
  viewer.setHighlight(null);
  const time = step.time || {};
  playback = { time_s: Number(time.start_s) || 0, playing: Boolean(time.play), rate: playback.rate, at_ms: Date.now() };
  renderPlayback();
  renderQuiz(step);
  viewer.showStep(lesson, index);
  xrui.setCaptions(step.title || '', narrationText(step.narration_html));
  xrui.setNav({ position: `${index + 1}/${lesson.steps.length}` });
  updateXRQuiz(step);
  updateQuickLook(lesson.holograms[stepHologram(lesson, step)], 'Quick Look shows the hologram and its uptake on ' +
    'your desk; the steps stay on this page.');
}

// ---------------------------------------------------------------------------- time

function timeRange() {
  const step = lesson.steps[index];
  const holo = lesson.holograms[stepHologram(lesson, step)] || {};
  const until = parseDuration(holo.until);
  const t = step.time || {};
  const max = Math.max(Number(t.end_s) || 0, until || 0, Number(t.start_s) || 0);
  return { max: max > 0 ? max : 3600, shown: Boolean(holo.tracer || step.time) };
}

function renderPlayback() {
  const range = timeRange();
  $('playback').hidden = !range.shown;
  $('time').max = String(range.max);
  $('time').step = String(Math.max(range.max / 1000, 1));
  $('play').textContent = playback.playing ? 'Pause' : 'Play';
  $('play').setAttribute('aria-pressed', String(playback.playing));
  updateClock();
}

let dragging = false;
function updateClock() {
  if ($('playback').hidden) return;
  const t = playbackTime(playback, Date.now(), stepWindow(lesson.steps[index]));
  $('time-label').textContent = `${formatTime(t)} after injection`;
  if (!dragging) $('time').value = String(t);
}
setInterval(updateClock, 250);

function wirePlayback() {
  const now = () => playbackTime(playback, Date.now(), stepWindow(lesson.steps[index]));
  $('play').addEventListener('click', () => {
    playback = { ...playback, time_s: now(), playing: !playback.playing, at_ms: Date.now() };
    renderPlayback();
    viewer.invalidate();
  });
  $('rate').addEventListener('change', () => {
    playback = { ...playback, time_s: now(), rate: Number($('rate').value) || 60, at_ms: Date.now() };
  });
  const slider = $('time');
  slider.addEventListener('pointerdown', () => {
    dragging = true;
  });
  slider.addEventListener('input', () => {
    playback = { ...playback, time_s: Number(slider.value), at_ms: Date.now() };
    viewer.invalidate();
  });
  slider.addEventListener('change', () => {
    dragging = false;
  });
  playback.rate = Number($('rate').value) || 60;
}

// ---------------------------------------------------------------------------- quiz

function renderQuiz(step) {
  const section = $('quiz');
  const quiz = step.quiz;
  if (!quiz) {
    section.hidden = true;
    section.replaceChildren();
    return;
  }
  section.hidden = false;
  section.dataset.quiz = quiz.id;
  const mine = answers()[quiz.id];
  const form = quizForm(quiz, {
    structures: stepStructures(lesson, step),
    previous: mine === undefined ? null : mine,
    submitLabel: 'Submit',
    onSubmit: async (value) => {
      const all = answers();
      all[quiz.id] = value;
      store.set(answersKey, JSON.stringify(all));
      hooks.answered = all;
      updateXRQuiz(step);
      return { ok: true, message: `Submitted: ${answerText(quiz, value)}. This page cannot check answers; ask your lecturer or compare in class.` };
    },
  });
  section.replaceChildren(h('h2', { class: 'prompt', text: quiz.prompt }), form);
  if (mine !== undefined) {
    const feedback = form.querySelector('.feedback');
    feedback.className = 'feedback ok';
    feedback.textContent = `Submitted: ${answerText(quiz, mine)}.`;
  }
}

// ---------------------------------------------------------------------------- start

window.addEventListener('keydown', (event) => {
  if (!lesson || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
  if (event.target instanceof HTMLCanvasElement) return; // the view's own keys
  const keys = { PageDown: 1, PageUp: -1, ArrowRight: 1, ArrowLeft: -1 };
  if (!(event.key in keys)) return;
  event.preventDefault();
  show(index + keys[event.key]);
});

async function start() {
  try {
    lesson = await api(`/api/lessons/${encodeURIComponent(lessonId)}`);
  } catch (err) {
    showStatus(err.message, 'error');
    return;
  }
  hooks.answered = answers();
  $('prev').addEventListener('click', () => show(index - 1));
  $('next').addEventListener('click', () => show(index + 1));
  wirePlayback();
  show(0);
  hooks.ready = true;
}

start();

// Self-paced page (/lessons/<id>): the lesson alone, step by step, with the hologram and
// its tracer time played locally (features/timeline.js in 'local' mode, on the template's
// #playback controls).
//
// Quizzes are answered on the page or, in AR, in the scene (features/scene_quiz.js: every
// kind, as on the student page). An answer is recorded in localStorage and graded by the
// server (POST /api/lessons/<id>/check: the lesson it gives students carries no answers, and
// numeric answers need its units); offline, it is checked against the lesson's answer when
// the lesson carries one, else left "submitted".
// In AR (features/xr_page.js) the scene carries the captions, the time with Play,
// Previous / Next, the quiz, size, pose and leave.

import {
  $, api, formatTime, h, hooks, isTyping, renderStep, showStatus, stepHologram, stepStructures, store, structureName,
} from '../core/common.js';
import { emit, setPage } from '../features/events.js';
import { answerText, matches, quizForm } from '../features/quiz.js';
import { SceneQuiz } from '../features/scene_quiz.js';
import { SliceControls } from '../features/slice_controls.js';
import { Timeline, stepTime } from '../features/timeline.js';
import { HologramView } from '../features/viewer.js';
import { narrationText, setupXR, sharedXRAction, updateQuickLook } from '../features/xr_page.js';
import { XRUI } from '../features/xr_ui.js';

const lessonId = document.body.dataset.lesson;
const answersKey = `arkit:self:${lessonId}`;
Object.assign(hooks, { role: 'self-paced', code: null, lesson: lessonId, step: null, answered: {}, graded: {} });
setPage('self-paced');

let lesson = null;
let index = 0;

const xrui = new XRUI({ onAction: (id) => xrAction(id) });
const viewStatus = $('viewer-status');
const viewer = new HologramView($('viewport'), {
  interactive: true,
  label: `The hologram of “${document.title.replace(/ · arkit$/, '')}”`,
  statusElement: viewStatus,
  onPick: (name, display) => picked(name, display),
  onLabels: (labels) => xrui.setLabels(labels),
  time: () => timeline.now(),
});
hooks.hologram = viewer.info;
// where a test looks on the plane; redraw: a render on the next frame (the frame-rate benchmark)
hooks.slice = { screenOfRas: (ras) => viewer.screenOfRas(ras), redraw: () => viewer.invalidate() };

const timeline = new Timeline($('playback'), {
  mode: 'local',
  controls: { play: $('play'), slider: $('time'), readout: $('time-label'), rate: $('rate') },
  describe: (t) => `${formatTime(t)} after injection`,
  onChange: () => viewer.invalidate(),
});
Object.defineProperty(hooks, 'timeline', { get: () => timeline.snapshot(), enumerable: true });

const name = (n) => viewer.displayName(n) || structureName(n);
const sceneQuiz = new SceneQuiz(xrui, {
  name,
  send: (quiz, value) => submitAnswer(quiz, value, 'scene'),
  sentWord: 'Submitted',
  withCaptions: true, // no lecturer opens the quiz: the step's captions stay beside it
});

const ar = setupXR(viewer, xrui, {
  onSelect: (n) => {
    picked(n, n ? viewer.displayName(n) : null);
    if (n) sceneQuiz.pick(n); // an identify answer, an order's next item
  },
  onFrame: () => xrui.setTime(...timeline.sceneTime()),
});

/** A structure tapped in 3D or selected in AR: shown, and an identify quiz's choice in the
 * page's list (in AR the scene's quiz sends it). */
function picked(structure, display) {
  $('picked').textContent = structure ? `Selected: ${display}` : '';
  viewer.setHighlight(structure);
  const radio = structure && document.querySelector(`#quiz input[type="radio"][value="${CSS.escape(structure)}"]`);
  if (radio) radio.checked = true;
}

/** A button pressed in the scene. */
function xrAction(id) {
  if (sharedXRAction(ar, id)) return;
  if (id === 'play') timeline.togglePlay();
  else if (id === 'step-prev') show(index - 1);
  else if (id === 'step-next') show(index + 1);
  else sceneQuiz.action(id);
}

function answers() {
  try {
    return JSON.parse(store.get(answersKey) || '{}') || {};
  } catch {
    return {};
  }
}

/** {correct, answer, explanation} from the server; offline, from the lesson's own answer
 * when it carries one ({correct: null} when nothing can tell). */
async function check(quiz, value) {
  try {
    const out = await api(`/api/lessons/${encodeURIComponent(lessonId)}/check`,
      { method: 'POST', body: { quiz: quiz.id, value } });
    return { correct: out.correct, answer: out.answer, explanation: out.explanation || '' };
  } catch {
    return { correct: matches(quiz, value, quiz.answer), answer: quiz.answer, explanation: quiz.explanation || '' };
  }
}

/**
 * An answer from the page's form or the scene: recorded here and graded locally (true /
 * false when the lesson carries the answer, null when it cannot be checked on this page);
 * the page's form and the scene both show it. Returns {ok, message}.
 */
async function submitAnswer(quiz, value, from) {
  const all = answers();
  all[quiz.id] = value;
  store.set(answersKey, JSON.stringify(all));
  hooks.answered = all;
  const { correct, answer, explanation } = await check(quiz, value);
  hooks.graded = { ...hooks.graded, [quiz.id]: correct };
  emit('arkit:answer', { quiz: quiz.id, kind: quiz.kind, value, ok: true, correct, from });
  const text = `Submitted: ${sceneQuiz.text(quiz, value)}.`;
  const why = explanation ? ` ${explanation}` : '';
  const message = correct === null
    ? `${text} This page cannot check answers now; ask your lecturer or compare in class.`
    : `${text} ${correct ? 'Correct.' : `Not right: the answer is ${answerText(quiz, answer)}.`}${why}`;
  const step = lesson.steps[index];
  if (step && step.quiz && step.quiz.id === quiz.id) {
    if (from === 'scene') renderQuiz(step); // the page's form shows the answer too
    updateXRQuiz(step);
  }
  return { ok: true, message };
}

const sliceControls = new SliceControls($('slice-controls'), { onChange: (slice) => viewer.setSlice(slice) });
viewer.onSliceMove = (slice) => sliceControls.setSlice(slice); // moved by hand in AR: the controls follow

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
  timeline.setStep(stepTime(lesson, index));
  renderQuiz(step);
  viewer.showStep(lesson, index);
  // the step's slice, which the student may move on their own
  sliceControls.setVolumes((lesson.holograms[stepHologram(lesson, step)] || {}).volumes || null);
  sliceControls.setSlice(step.slice || null);
  viewer.setSlice(step.slice || null);
  xrui.setCaptions(step.title || '', narrationText(step.narration_html));
  xrui.setNav({ position: `${index + 1}/${lesson.steps.length}` });
  updateXRQuiz(step);
  updateQuickLook(lesson.holograms[stepHologram(lesson, step)], 'Quick Look shows the hologram and its uptake on ' +
    'your desk; the steps stay on this page.');
  const quiz = step.quiz;
  emit('arkit:state', {
    live: false, rev: 0, step: index, quiz: quiz ? { id: quiz.id, open: true, revealed: false } : null,
    playback: { time_s: timeline.now(), playing: timeline.playing(), rate: timeline.currentRate() }, highlight: null,
    ended: false,
  });
}

// ---------------------------------------------------------------------------- quiz

/** The step's quiz in the scene: always open (no lecturer), with the answer given. */
function updateXRQuiz(step) {
  const quiz = step.quiz;
  sceneQuiz.show(quiz ? { quiz, phase: 'open', mine: answers()[quiz.id] } : null);
}

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
    onSubmit: (value) => submitAnswer(quiz, value, 'page'),
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
  show(0);
  hooks.ready = true;
}

start();

// Student page (/j/<code>): the step's hologram in an inline 3D view (orbit, zoom, pan by
// touch, mouse and keyboard; framed as the step says), following the lecturer (step, tracer
// time, highlight, pointer) with a follow switch; the narration as captions; labels with
// leader lines; tap a structure (or pick it from the list) for its name, system, activity
// and concentration at the time shown; the tracer timeline with its colour legend;
// quizzes answered in place (identify by tapping in 3D, the list kept as the accessible
// way), results after the reveal.
//
// The participant id stays in localStorage (one per session), so a reload or a reconnect
// is the same student; answers given are remembered there too.
//
// Assembled from features/: viewer (the 3D view), timeline (Timeline in 'follow' mode), quiz
// (the page's answer forms), scene_quiz (the quiz in AR), xr_page + xr_ui (AR and its
// in-scene controls), tracer (a structure's values in words), live (the session's socket)
// and events (arkit:* events for whoever waits on the page).

import {
  $, api, fill, h, hooks, problemText, renderStep, showStatus, stepHologram, stepStructures, store, structureName,
} from '../core/common.js';
import { emit, setPage } from '../features/events.js';
import { connectLive } from '../features/live.js';
import { answerText, distributionView, matches, quizForm } from '../features/quiz.js';
import { SceneQuiz } from '../features/scene_quiz.js';
import { Timeline, stepTime } from '../features/timeline.js';
import { canDecayCorrect, describeFacts, structureFacts, systemText } from '../features/tracer.js';
import { HologramView } from '../features/viewer.js';
import { XRUI } from '../features/xr_ui.js';
import { narrationText, setupXR, sharedXRAction, updateQuickLook } from '../features/xr_page.js';
import { lookState, setAdditive } from '../../lib/look.js';

const code = document.body.dataset.code;
const idKey = `arkit:participant:${code}`;
const answersKey = `arkit:answers:${code}`;
Object.assign(hooks, { role: 'student', code, participantId: store.get(idKey), answered: {} });
setPage('student');

let lesson = null;
let state = null;
let shownStep = null;
let shownQuiz = ''; // what the quiz section shows: `${id}:${phase}`
let fetchingLesson = null;
const refetched = new Set(); // quizzes for which the lesson was fetched again
let live = null;
let finished = false;
let selected = null; // the structure the student tapped or chose in the list
let decayCorrected = store.get('arkit:decay-corrected') === '1';
let captionsOn = store.get('arkit:captions') !== '0';

// ---------------------------------------------------------------------------- 3D view

const viewStatus = $('viewer-status');
const viewer = new HologramView($('viewport'), {
  interactive: true,
  label: `The hologram of “${document.title.replace(/ · arkit$/, '')}”`,
  statusElement: viewStatus,
  onPick: (name, _display, how) => pick(name, how),
  time: () => timeline.now(),
  onLabels: (labels) => xrui.setLabels(labels),
});
hooks.hologram = viewer.info;
// where a test looks on the plane; redraw: a render on the next frame (the frame-rate benchmark)
hooks.slice = { screenOfRas: (ras) => viewer.screenOfRas(ras), redraw: () => viewer.invalidate() };

// ---------------------------------------------------------------------------- AR
// WebXR where the device has it (immersive-ar; immersive-vr on HoloLens), a Quick Look link
// with the hologram's USDZ on iOS (no steps or sync there). A select in AR picks like a tap.
// In a session the page's controls are drawn into the scene (xr_ui.js): labels, captions,
// the time with play and follow, the selection's details, the quiz, size, pose and leave.
let ar = null;
const xrui = new XRUI({ onAction: (id) => xrAction(id) });

function updateXRTime() {
  xrui.setTime(...timeline.sceneTime());
}

// The quiz in the scene (every kind: buttons, a keypad, an order, a select on the hologram).
const sceneQuiz = new SceneQuiz(xrui, {
  name: (n) => viewer.displayName(n) || structureName(n),
  send: (quiz, value) => submitAnswer(quiz, value, 'scene'),
});

/** A button pressed in the scene. */
function xrAction(id) {
  hooks.xrActions = [...(hooks.xrActions || []), id];
  if (sharedXRAction(ar, id)) return; // size, pose, leave
  if (id === 'play') timeline.togglePlay();
  else if (id === 'follow') timeline.follow(!timeline.following);
  else if (id === 'info-close') select(null);
  else if (id === 'decay') setDecayCorrected(!decayCorrected);
  else sceneQuiz.action(id);
}

/** The quiz as the scene shows it (SceneQuiz), from the live state. */
function updateXRQuiz() {
  const q = state && state.quiz;
  const step = (lesson && state && lesson.steps[state.step]) || {};
  const quiz = q && step.quiz && step.quiz.id === q.id ? step.quiz : null;
  if (!quiz) {
    sceneQuiz.show(null);
    return;
  }
  sceneQuiz.show({
    quiz, phase: q.revealed ? 'revealed' : q.open ? 'open' : 'waiting', mine: answers()[quiz.id], answer: q.answer,
  });
}

/** An answer from the page's form or the scene, sent to the session; {ok, message}. */
async function submitAnswer(quiz, value, from) {
  const ack = await live.emit('answer', { quiz: quiz.id, value });
  hooks.lastAck = ack;
  emit('arkit:answer', {
    quiz: quiz.id, kind: quiz.kind, value, ok: Boolean(ack.ok), correct: null, from, error: ack.ok ? null : ack.error || null,
  });
  if (!ack.ok) return { ok: false, message: problemText(ack.error, ack.message) };
  remember(quiz.id, value);
  if (from === 'scene') shownQuiz = ''; // the page's form shows the answer too
  renderQuiz();
  return { ok: true, message: 'Answer received. You can change it until the quiz closes.' };
}

ar = setupXR(viewer, xrui, { onSelect: (name) => pick(name, 'scene'), onFrame: updateXRTime });

const timeline = new Timeline($('timeline'), {
  mode: 'follow',
  serverNow: () => (live ? live.clock.now() : Date.now()),
  onChange: () => {
    viewer.invalidate();
    renderInfo(false);
  },
  onFollow: (following, why) => {
    hooks.following = following;
    if (following) {
      applyLive();
      if (why === 'step') showStatus('A new step: following the lecturer again.', 'ok');
    } else {
      viewer.setHighlight(null);
      viewer.setPointer(null);
    }
  },
});
hooks.following = true;
Object.defineProperty(hooks, 'timeline', { get: () => timeline.snapshot(), enumerable: true });
hooks.look = () => lookState();
hooks.probe = {
  screenPoint: (name) => viewer.screenPoint(name),
  anchor: (name) => (viewer.structure(name) ? viewer.anchor(name).toArray() : null),
  /** The additive-display lift on the inline view too (tests compare the pixels). */
  additive: (on) => {
    setAdditive(on);
    viewer.invalidate();
    return lookState();
  },
};
setInterval(() => renderInfo(false), 250);

/** The lecturer's highlight while following (the pointer arrives on its own events). */
function applyLive() {
  if (!state || !timeline.following) return;
  viewer.setHighlight(state.highlight);
}

function answers() {
  try {
    return JSON.parse(store.get(answersKey) || '{}') || {};
  } catch {
    return {};
  }
}

function remember(quizId, value) {
  const all = answers();
  all[quizId] = value;
  store.set(answersKey, JSON.stringify(all));
  hooks.answered = all;
}

async function loadLesson() {
  // Without a token: no answers, except for quizzes already revealed.
  fetchingLesson = fetchingLesson || api(`/api/sessions/${encodeURIComponent(code)}/lesson`).then((data) => {
    lesson = data;
    return data;
  }).finally(() => {
    fetchingLesson = null;
  });
  return fetchingLesson;
}

function finish(text) {
  finished = true;
  showStatus(text, 'error');
  document.body.dataset.problem = hooks.problem || 'ended';
  $('quiz').replaceChildren();
  if (live) live.close();
}

// ---------------------------------------------------------------------------- render

function render() {
  if (!state || !lesson) return;
  if (state.ended) {
    finish(problemText('ended'));
    return;
  }
  if (shownStep !== state.step) {
    renderStep($('step'), lesson, state.step);
    shownStep = state.step;
    hooks.shownStep = state.step;
    hooks.stepShownAt = Date.now();
    showStepView();
  }
  timeline.setRemote(state.playback);
  applyLive();
  viewer.setSlice(state.slice || null); // the lecturer's plane (the step's until moved)
  renderQuiz();
}

/** The step's hologram, captions, timeline and structure list. */
function showStepView() {
  const index = state.step;
  const step = lesson.steps[index] || {};
  const holo = lesson.holograms[stepHologram(lesson, step)] || {};
  updateQuickLook(holo, 'Quick Look shows the hologram and its uptake on your desk; the lesson steps and the ' +
    'lecturer sync stay on this page.');
  renderCaptions(step);
  timeline.setStep(stepTime(lesson, index)); // and follows the lecturer again
  renderStructures(step, holo, false);
  viewer.showStep(lesson, index).then(() => {
    if (state.step !== index) return;
    if (!viewer.info.loaded) return; // no WebGL or no file: the list from lesson.json stays
    if (selected && !viewer.visibleStructures().includes(selected)) select(null);
    renderStructures(step, holo, true);
    hooks.viewReady = index;
  });
}

function renderCaptions(step) {
  const box = $('captions');
  box.innerHTML = step.narration_html || ''; // sanitised by the server, as in renderStep
  box.hidden = !captionsOn || !box.textContent.trim();
  updateXRCaptions(step);
}

/** The narration as the captions drawn in AR. */
function updateXRCaptions(step) {
  xrui.setCaptions(step.title || '', captionsOn ? narrationText(step.narration_html) : '');
}

function wireCaptions() {
  const button = $('captions-toggle');
  const draw = () => {
    button.setAttribute('aria-pressed', String(captionsOn));
    button.textContent = captionsOn ? 'Captions on' : 'Captions off';
    const box = $('captions');
    box.hidden = !captionsOn || !box.textContent.trim();
  };
  button.addEventListener('click', () => {
    captionsOn = !captionsOn;
    store.set('arkit:captions', captionsOn ? '1' : '0');
    draw();
    if (lesson && state) updateXRCaptions(lesson.steps[state.step] || {});
  });
  $('reset-view').addEventListener('click', () => viewer.resetView());
  draw();
}

// ---------------------------------------------------------------------------- structures

/** The list of the step's structures: the keyboard and screen-reader way to pick one. */
function renderStructures(step, holo, loaded) {
  const list = $('structure-list');
  const names = (loaded ? viewer.visibleStructures() : (Array.isArray(step.visible) ? step.visible : holo.structures || []))
    .filter((n) => (holo.structures || []).includes(n));
  const display = (n) => (holo.display && holo.display[n]) || viewer.displayName(n) || structureName(n);
  names.sort((a, b) => display(a).localeCompare(display(b)));
  list.replaceChildren(...names.map((name) => {
    const s = loaded ? viewer.structure(name) : null;
    return h('li', {}, h('button', {
      type: 'button', class: 'structure', dataset: { structure: name }, 'aria-pressed': String(selected === name),
      on: { click: () => pick(name, 'list') },
    }, h('span', { class: 'name', text: display(name) }), s ? h('span', { class: 'system', text: systemText(s.system) }) : null));
  }));
  $('structures-count').textContent = String(names.length);
}

/** A tap in 3D, Enter on the view, or a click in the list. */
function pick(name, how) {
  select(name);
  if (!name) return;
  if (how === 'scene' && sceneQuiz.pick(name)) return; // a select in AR: an identify answer, an order's next item
  // An open identify quiz: the tap is the answer (it can be changed until the quiz closes).
  const form = $('quiz').querySelector('form.kind-identify');
  if (form && state && state.quiz && state.quiz.open && (how === 'tap' || how === 'keyboard')) {
    const radio = form.querySelector(`input[type="radio"][value="${CSS.escape(name)}"]`);
    if (radio) {
      radio.checked = true;
      toast(`Your answer: ${viewer.displayName(name) || structureName(name)}. Sending…`);
      form.requestSubmit();
    }
  }
}

function select(name) {
  selected = name || null;
  hooks.selected = selected;
  viewer.setSelection(selected);
  for (const button of $('structure-list').querySelectorAll('button[data-structure]')) {
    button.setAttribute('aria-pressed', String(button.dataset.structure === selected));
  }
  renderInfo(true);
}

/** The "Decay-corrected" choice (the page's checkbox and the button in AR), remembered. */
function setDecayCorrected(on) {
  decayCorrected = Boolean(on);
  store.set('arkit:decay-corrected', decayCorrected ? '1' : '0');
  const box = document.getElementById('decay-toggle');
  if (box) box.checked = decayCorrected;
  renderInfo(true);
}

let infoBuiltFor = null; // the structure (and legend) the panel's elements were made for
let infoParts = null;
/** The selected structure's name, system and tracer values at the time shown. The panel is
 * built once per selection and its text updated in place (focus stays where it is). */
function renderInfo(announce) {
  const box = $('structure-info');
  const s = selected ? viewer.structure(selected) : null;
  if (!s) {
    if (!box.hidden) box.replaceChildren();
    box.hidden = true;
    infoBuiltFor = null;
    hooks.info = null;
    xrui.setInfo(null);
    if (announce) $('announce').textContent = '';
    return;
  }
  const legend = viewer.legend;
  const facts = structureFacts(s, legend, legend ? timeline.now() : NaN);
  const text = describeFacts(facts, legend, { decayCorrected });
  const canCorrect = canDecayCorrect(legend);
  if (infoBuiltFor !== s || !infoParts || infoParts.legend !== legend) {
    infoParts = {
      legend,
      values: h('p', { class: 'info-values', dataset: { role: 'values' } }),
      coloured: h('p', { class: 'info-coloured' }),
      note: h('p', { class: 'info-note' }),
    };
    const toggle = legend && facts.hasTracer ? h('label', { class: 'decay' },
      h('input', {
        type: 'checkbox', id: 'decay-toggle', checked: decayCorrected && canCorrect, disabled: !canCorrect,
        on: {
          change: (event) => setDecayCorrected(event.target.checked),
        },
      }), h('span', { text: 'Decay-corrected' })) : null;
    fill(box,
      h('p', { class: 'info-name' }, h('strong', { text: s.display }), ' ', h('span', { class: 'system', text: systemText(s.system) })),
      legend ? infoParts.values : null,
      infoParts.coloured,
      toggle,
      !canCorrect && legend && facts.hasTracer ? h('p', { class: 'info-note', text:
        'Physical values (what a counter measures at that time). Decay correction needs the nuclide’s half-life, ' +
        'which this lesson does not carry.' }) : null,
      infoParts.note,
      h('button', { type: 'button', class: 'icon close', 'aria-label': 'Close the structure details', text: '×',
        on: { click: () => select(null) } }),
    );
    infoBuiltFor = s;
  }
  box.hidden = false;
  infoParts.values.textContent = text.headline;
  infoParts.coloured.textContent = text.coloured;
  infoParts.coloured.hidden = !text.coloured;
  infoParts.note.textContent = text.note;
  infoParts.note.hidden = !text.note;
  hooks.info = { structure: s.name, ...text, facts };
  xrui.setInfo({
    title: s.display,
    lines: [systemText(s.system), legend ? text.headline : '', text.coloured].filter(Boolean),
    rows: legend && facts.hasTracer && canCorrect
      ? [[{ id: 'decay', text: decayCorrected ? 'Decay-corrected' : 'Physical values', pressed: decayCorrected }]] : [],
  });
  if (announce) $('announce').textContent = legend ? text.headline : `${s.display}, ${systemText(s.system)}`;
}

let toastTimer = null;
function toast(text, kind = '') {
  const el = $('view-toast');
  el.textContent = text;
  el.className = kind ? `view-toast ${kind}` : 'view-toast';
  el.hidden = !text;
  clearTimeout(toastTimer);
  if (text) toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

function renderQuiz() {
  updateXRQuiz();
  const section = $('quiz');
  const q = state.quiz;
  if (!q) {
    section.replaceChildren();
    section.hidden = true;
    shownQuiz = '';
    return;
  }
  const step = lesson.steps[state.step] || {};
  const quiz = step.quiz && step.quiz.id === q.id ? step.quiz : null;
  if (!quiz) {
    refresh(q.id);
    return;
  }
  const phase = q.revealed ? 'revealed' : q.open ? 'open' : 'waiting';
  const mine = answers()[q.id];
  const key = `${q.id}:${phase}`;
  section.hidden = false;
  section.dataset.quiz = q.id;
  section.dataset.phase = phase;
  if (phase === 'revealed') {
    // Counts change while revealed only by late reloads: draw again each time.
    if (quiz.answer === undefined) refresh(q.id); // the explanation comes with the revealed lesson
    fill(section,
      h('h2', { class: 'prompt', text: quiz.prompt }),
      resultLine(quiz, mine, q.answer),
      distributionView(quiz, q.counts, q.answer, { mine }),
      quiz.explanation ? h('p', { class: 'explanation', text: quiz.explanation }) : null,
    );
    shownQuiz = key;
    return;
  }
  if (shownQuiz === key) return; // keep what the student is typing
  shownQuiz = key;
  if (phase === 'waiting') {
    section.replaceChildren(
      h('h2', { class: 'prompt', text: quiz.prompt }),
      h('p', { class: 'muted', text: mine !== undefined
        ? `Your answer (${answerText(quiz, mine)}) was sent. The results come when your lecturer shows them.`
        : 'The quiz opens when your lecturer starts it.' }),
    );
    return;
  }
  const form = quizForm(quiz, {
    structures: stepStructures(lesson, step),
    previous: mine === undefined ? null : mine,
    onSubmit: async (value) => {
      const result = await submitAnswer(quiz, value, 'page');
      if (quiz.kind === 'identify') {
        toast(result.ok ? `Answer received: ${viewer.displayName(value) || structureName(value)}.` : result.message,
          result.ok ? 'ok' : 'error');
      }
      return result;
    },
  });
  if (quiz.kind === 'identify') {
    // The hologram's own display names ("Left kidney"), and the 3D way to answer.
    const holo = lesson.holograms[stepHologram(lesson, step)] || {};
    const labels = [...form.querySelectorAll('.choice[data-value]')];
    for (const label of labels) {
      const name = holo.display && holo.display[label.dataset.value];
      if (name) label.querySelector('span').textContent = name;
    }
    if (labels.length) {
      labels.sort((a, b) => a.textContent.localeCompare(b.textContent));
      labels[0].parentElement.append(...labels);
    }
    const hint = form.querySelector('.hint');
    if (hint) hint.textContent = 'Tap the structure in the 3D view (or select it with Enter there), or choose it in the list.';
  }
  section.replaceChildren(h('h2', { class: 'prompt', text: quiz.prompt }), form);
  if (mine !== undefined) {
    const feedback = form.querySelector('.feedback');
    feedback.className = 'feedback ok';
    feedback.textContent = 'Your answer was sent. You can change it until the quiz closes.';
  }
}

function refresh(quizId) {
  if (refetched.has(quizId)) return;
  refetched.add(quizId);
  loadLesson().then(render, () => {});
}

function resultLine(quiz, mine, answer) {
  if (mine === undefined) return h('p', { class: 'muted', text: 'You did not answer this one.' });
  const right = matches(quiz, mine, answer);
  const text = `Your answer: ${answerText(quiz, mine)}`;
  if (right === null) return h('p', { class: 'mine', text });
  return h('p', { class: right ? 'mine correct' : 'mine wrong', text: `${text} (${right ? 'correct' : 'not right'})` });
}

// ---------------------------------------------------------------------------- start

async function start() {
  hooks.answered = answers();
  wireCaptions();
  try {
    await loadLesson();
  } catch (err) {
    hooks.problem = err.code;
    showStatus(err.message, 'error');
    document.body.dataset.problem = err.code;
    viewStatus.textContent = `The lesson could not be loaded, so there is no hologram to show. ${err.message}`;
    viewStatus.hidden = false;
    viewStatus.classList.add('error');
    return;
  }
  live = connectLive({ code, role: 'student', participant: () => store.get(idKey) || undefined }, {
    onJoined: (ack) => {
      if (ack.participant_id) {
        store.set(idKey, ack.participant_id);
        hooks.participantId = ack.participant_id;
      }
      showStatus('');
    },
    onState: (s) => {
      state = s;
      render();
    },
    onPointer: (p) => {
      if (!timeline.following) return;
      viewer.setPointer(p.position);
      if (p.structure !== undefined && state) viewer.setHighlight(p.structure || state.highlight);
    },
    onConnection: (connected, reason) => {
      if (finished) return;
      if (connected) showStatus('Joining…');
      else showStatus(reason === 'connect_error' ? problemText('network') : 'Connection lost. Reconnecting…', 'error');
    },
    onProblem: (code_, message) => {
      if (code_ === 'rate_limited') {
        showStatus(problemText(code_, message), 'error');
        return;
      }
      finish(problemText(code_, message));
      document.body.dataset.problem = code_;
    },
  });
}

start();

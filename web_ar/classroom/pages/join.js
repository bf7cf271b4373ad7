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

import {
  $, api, fill, h, hooks, parseDuration, problemText, renderStep, showStatus, stepHologram, stepStructures,
  stepWindow, store, structureName,
} from './common.js';
import { connectLive } from './live.js';
import { answerText, distributionView, matches, quizForm } from './quiz.js';
import { Timeline, readout } from './timeline.js';
import { canDecayCorrect, describeFacts, structureFacts, systemText } from './tracer.js';
import { HologramView } from './viewer.js';
import { XRUI } from './xr_ui.js';
import { narrationText, setupXR, sharedXRAction, updateQuickLook } from './xr_page.js';
import { lookState, setAdditive } from '../lib/look.js';

const code = document.body.dataset.code;
const idKey = `arkit:participant:${code}`;
const answersKey = `arkit:answers:${code}`;
Object.assign(hooks, { role: 'student', code, participantId: store.get(idKey), answered: {} });

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

// ---------------------------------------------------------------------------- AR
// WebXR where the device has it (immersive-ar; immersive-vr on HoloLens), a Quick Look link
// with the hologram's USDZ on iOS (no steps or sync there). A select in AR picks like a tap.
// In a session the page's controls are drawn into the scene (xr_ui.js): labels, captions,
// the time with play and follow, the selection's details, the quiz, size, pose and leave.
let ar = null;
const xrui = new XRUI({ onAction: (id) => xrAction(id) });

function updateXRTime() {
  const shown = !$('timeline').hidden;
  xrui.setTime(shown ? readout(timeline.now()) : null, timeline.playing(), timeline.following);
}

/** A button pressed in the scene. */
function xrAction(id) {
  hooks.xrActions = [...(hooks.xrActions || []), id];
  if (sharedXRAction(ar, id)) return; // size, pose, leave
  if (id === 'play') timeline.togglePlay();
  else if (id === 'follow') timeline.follow(!timeline.following);
  else if (id === 'info-close') select(null);
  else if (id === 'decay') setDecayCorrected(!decayCorrected);
  else if (xrAnswer && id === 'send') sendXRAnswer();
  else if (xrAnswer) editXRAnswer(id);
}

// An answer being made in AR: {quiz, chosen: Set (choice), order: [names], text (numeric)}.
let xrAnswer = null;
let xrFeedback = '';
// The keypad's units: what nuclear-medicine questions are asked in (the server converts).
const XR_UNITS = ['MBq', 'GBq', 'mCi', 'kBq/mL', 'min', 'h', 'd', 'mSv', 'mGy', '%'];

function editXRAnswer(id) {
  const a = xrAnswer;
  const quiz = a.quiz;
  if (id.startsWith('option:') && quiz.kind === 'choice') {
    const i = Number(id.slice(7));
    if (a.chosen.has(i)) a.chosen.delete(i);
    else a.chosen.add(i);
  } else if (id.startsWith('option:') && quiz.kind === 'order') {
    const name = (quiz.items || [])[Number(id.slice(7))];
    if (name && !a.order.includes(name)) a.order.push(name);
  } else if (id === 'order-reset') {
    a.order = [];
  } else if (id.startsWith('key:')) {
    const key = id.slice(4);
    const [number, unit] = splitNumeric(a.text);
    if (key === 'back') a.text = unit ? number : number.slice(0, -1);
    else if (key === 'clear') a.text = '';
    else if (key.startsWith('unit:')) a.text = number ? `${number} ${key.slice(5)}` : '';
    else if (/^[0-9.]$/.test(key) && !(key === '.' && number.includes('.')) && number.length < 12) {
      a.text = `${number}${key}${unit ? ` ${unit}` : ''}`;
    }
  } else {
    return;
  }
  xrFeedback = '';
  updateXRQuiz();
}

/** "370 MBq" -> ['370', 'MBq']; "37" -> ['37', '']. */
function splitNumeric(text) {
  const m = /^([0-9.]*)\s*(.*)$/.exec(text || '');
  return [m[1], m[2]];
}

/** The answer being made, as the server takes it, or null while incomplete. */
function xrValue() {
  const { quiz, chosen, order, text } = xrAnswer;
  if (quiz.kind === 'choice') return chosen.size ? [...chosen].sort((a, b) => a - b) : null;
  if (quiz.kind === 'order') return order.length === (quiz.items || []).length ? [...order] : null;
  if (quiz.kind === 'numeric') return /[0-9]/.test(text) ? text.trim() : null;
  return null;
}

async function sendXRAnswer() {
  const quiz = xrAnswer.quiz;
  const value = xrValue();
  if (value === null) {
    xrFeedback = quiz.kind === 'order' ? 'Put every item in order first.' : quiz.kind === 'numeric'
      ? 'Type a number (and its unit) first.' : 'Choose an answer first.';
    updateXRQuiz();
    return;
  }
  xrFeedback = 'Sending…';
  updateXRQuiz();
  const ack = await live.emit('answer', { quiz: quiz.id, value });
  hooks.lastAck = ack;
  if (ack.ok) {
    remember(quiz.id, value);
    xrFeedback = 'Answer received. You can change it until the quiz closes.';
    shownQuiz = ''; // the page's form shows the answer too
    renderQuiz();
  } else {
    xrFeedback = problemText(ack.error, ack.message);
  }
  updateXRQuiz();
}

/** Structure ``name`` selected on the hologram while an order quiz is open in AR: next in line. */
function xrOrderPick(name) {
  if (!xrAnswer || xrAnswer.quiz.kind !== 'order' || !ar || !ar.state.inSession) return false;
  const i = (xrAnswer.quiz.items || []).indexOf(name);
  if (i < 0) return false;
  editXRAnswer(`option:${i}`);
  return true;
}

/** The quiz as the scene shows it (null: none). */
function updateXRQuiz() {
  const q = state && state.quiz;
  const step = (lesson && state && lesson.steps[state.step]) || {};
  const quiz = q && step.quiz && step.quiz.id === q.id ? step.quiz : null;
  const mine = quiz ? answers()[quiz.id] : undefined;
  if (!quiz || (!q.open && !q.revealed && mine === undefined)) {
    // Before the quiz opens the captions keep the space.
    xrAnswer = null;
    xrui.setQuiz(null);
    return;
  }
  const lines = [];
  const rows = [];
  const name = (n) => viewer.displayName(n) || structureName(n);
  if (q.revealed || !q.open) {
    xrAnswer = null;
    if (q.revealed) {
      const right = mine === undefined ? null : matches(quiz, mine, q.answer);
      lines.push(mine === undefined ? 'You did not answer this one.'
        : `Your answer: ${answerText(quiz, mine)}${right === null ? '' : right ? ' (correct)' : ' (not right)'}`);
      if (q.answer !== undefined && q.answer !== null) lines.push(`Answer: ${answerText(quiz, q.answer)}`);
      if (quiz.explanation) lines.push(quiz.explanation);
    } else {
      lines.push(`Your answer (${answerText(quiz, mine)}) was sent. The results come when your lecturer shows them.`);
    }
    xrui.setQuiz({ title: quiz.prompt, lines });
    return;
  }
  if (quiz.kind === 'identify') {
    xrAnswer = null;
    lines.push('Select the structure on the hologram.');
    if (mine !== undefined) lines.push(`Your answer: ${name(mine)} (sent)`);
    xrui.setQuiz({ title: quiz.prompt, lines });
    return;
  }
  if (!xrAnswer || xrAnswer.quiz !== quiz) {
    xrAnswer = {
      quiz, chosen: new Set(quiz.kind === 'choice' && Array.isArray(mine) ? mine : []),
      order: quiz.kind === 'order' && Array.isArray(mine) ? [...mine] : [],
      text: quiz.kind === 'numeric' && typeof mine === 'string' ? mine : '',
    };
  }
  const a = xrAnswer;
  const status = [];
  if (quiz.kind === 'choice') {
    lines.push('Choose one or more, then Send answer.');
    rows.push(...(quiz.options || []).map((text, i) => [{ id: `option:${i}`, text, pressed: a.chosen.has(i) }]));
  } else if (quiz.kind === 'order') {
    lines.push('Press the items (or select them on the hologram) in order, then Send answer.');
    status.push(a.order.length ? `Your order: ${a.order.map(name).join(' → ')}` : 'Your order: none yet');
    rows.push(...(quiz.items || []).map((n, i) => {
      const at = a.order.indexOf(n);
      return [{ id: `option:${i}`, text: at < 0 ? name(n) : `${at + 1}. ${name(n)}`, pressed: at >= 0 }];
    }));
    rows.push([{ id: 'order-reset', text: 'Start over' }]);
  } else if (quiz.kind === 'numeric') {
    lines.push('Type the number, then its unit.');
    status.push(`Your answer: ${a.text || '…'}`);
    const key = (k, text = k) => ({ id: `key:${k}`, text });
    rows.push([key('7'), key('8'), key('9'), key('back', '⌫')], [key('4'), key('5'), key('6'), key('clear', 'Clear')],
      [key('1'), key('2'), key('3'), key('0')], [key('.'),
        ...XR_UNITS.slice(0, 3).map((u) => ({ ...key(`unit:${u}`, u), pressed: splitNumeric(a.text)[1] === u }))]);
    for (let i = 3; i < XR_UNITS.length; i += 4) {
      rows.push(XR_UNITS.slice(i, i + 4).map((u) => ({ ...key(`unit:${u}`, u), pressed: splitNumeric(a.text)[1] === u })));
    }
  }
  if (xrFeedback) status.push(xrFeedback);
  else if (mine !== undefined) status.push(`Sent: ${answerText(quiz, mine)}`);
  rows.push([{ id: 'send', text: 'Send answer' }]);
  xrui.setQuiz({ title: quiz.prompt, lines, rows, status });
}

ar = setupXR(viewer, xrui, { onSelect: (name) => pick(name, 'tap'), onFrame: updateXRTime });

const timeline = new Timeline($('timeline'), {
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
  timeline.setLecturer(state.playback);
  applyLive();
  renderQuiz();
}

/** The step's hologram, captions, timeline and structure list. */
function showStepView() {
  const index = state.step;
  const step = lesson.steps[index] || {};
  const holo = lesson.holograms[stepHologram(lesson, step)] || {};
  const legend = holo.legend || null;
  updateQuickLook(holo, 'Quick Look shows the hologram and its uptake on your desk; the lesson steps and the ' +
    'lecturer sync stay on this page.');
  renderCaptions(step);
  const time = step.time || {};
  const until = parseDuration(holo.until);
  const window = stepWindow(step);
  timeline.setStep({
    window,
    max: Math.max(Number(time.end_s) || 0, until || 0, (legend && legend.real_s) || 0, Number(time.start_s) || 0),
    legend,
    rate: legend && legend.real_s > 0 && legend.clip_s > 0 ? legend.real_s / legend.clip_s : 60,
    start: Number(time.start_s) || 0,
    play: Boolean(time.play),
  });
  $('timeline').hidden = !(legend || step.time);
  if (!timeline.following) timeline.follow(true, 'step');
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
  if (how === 'tap' && xrOrderPick(name)) return; // an order being built in AR
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
      const ack = await live.emit('answer', { quiz: quiz.id, value });
      hooks.lastAck = ack;
      if (ack.ok) {
        remember(quiz.id, value);
        updateXRQuiz();
        if (quiz.kind === 'identify') toast(`Answer received: ${viewer.displayName(value) || structureName(value)}.`, 'ok');
        return { ok: true, message: 'Answer received. You can change it until the quiz closes.' };
      }
      if (quiz.kind === 'identify') toast(problemText(ack.error, ack.message), 'error');
      return { ok: false, message: problemText(ack.error, ack.message) };
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

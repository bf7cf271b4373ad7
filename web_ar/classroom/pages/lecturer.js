// Lecturer console (/l/<code>#<control_token>): steps (next / previous with the arrow
// keys, PageUp / PageDown and space, as presenter clickers send them; space on a focused
// button presses that button), tracer playback, the live highlight, the quiz (open, close,
// reveal), participants, the results table and the end of the session.
//
// The control token comes only from location.hash: it is kept in sessionStorage, taken out
// of the address bar at once, and sent only in Authorization headers and the socket's
// join message, never in a URL.

import {
  $, api, fill, formatTime, h, hooks, isTyping, problemText, renderStep, showStatus, stepHologram, stepStructures, structureName,
} from '../core/common.js';
import { setPage } from '../features/events.js';
import { connectLive } from '../features/live.js';
import { answerText, distributionView } from '../features/quiz.js';
import { SliceControls } from '../features/slice_controls.js';
import { Timeline, stepTime } from '../features/timeline.js';

const code = document.body.dataset.code;
const tokenKey = `arkit:control:${code}`;
Object.assign(hooks, { role: 'lecturer', code, actions: 0 });
setPage('lecturer');

let token = null;
let lesson = null;
let state = null;
let live = null;
let presence = null;
let shownStep = null;
let queue = Promise.resolve();
let pendingStep = null;

// ---------------------------------------------------------------------------- token

function takeToken() {
  const fromHash = decodeURIComponent(window.location.hash.replace(/^#/, '')).trim();
  if (fromHash) {
    try {
      window.sessionStorage.setItem(tokenKey, fromHash);
    } catch {
      // private mode: the token lives as long as the page
    }
    // Out of the address bar (and so out of history, screenshots and a projected screen).
    window.history.replaceState(null, '', window.location.pathname + window.location.search);
    return fromHash;
  }
  try {
    return window.sessionStorage.getItem(tokenKey);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------- actions

/** Sends one lecturer action; actions go out one after the other, in order. */
function control(action, fields = {}) {
  const run = async () => {
    try {
      const next = await api(`/api/sessions/${encodeURIComponent(code)}/control`, {
        method: 'POST', token, body: { action, ...fields },
      });
      hooks.actions += 1;
      live.offer(next);
      return next;
    } catch (err) {
      showStatus(err.message, 'error');
      return null;
    }
  };
  queue = queue.then(run, run);
  return queue;
}

function goTo(step) {
  if (!lesson || !state) return;
  const target = Math.max(0, Math.min(lesson.steps.length - 1, step));
  const from = pendingStep !== null ? pendingStep : state.step;
  if (target === from) return;
  pendingStep = target;
  control('step', { step: target }).then(() => {
    if (pendingStep === target) pendingStep = null;
  });
}

const current = () => (pendingStep !== null ? pendingStep : state ? state.step : 0);

/** Whether Space presses the focused element (a button and the like): then Space is not a
 * clicker's "next", so keyboard users can press buttons with Space as everywhere else. */
const pressable = (target) => target instanceof Element &&
  Boolean(target.closest('button, summary, [role="button"], [role="checkbox"], [role="switch"], [role="tab"]'));

window.addEventListener('keydown', (event) => {
  if (!state || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
  if (event.key === ' ' && pressable(event.target)) return;
  const last = lesson ? lesson.steps.length - 1 : 0;
  const keys = {
    ArrowRight: () => goTo(current() + 1),
    PageDown: () => goTo(current() + 1),
    ' ': () => goTo(current() + (event.shiftKey ? -1 : 1)),
    ArrowLeft: () => goTo(current() - 1),
    PageUp: () => goTo(current() - 1),
    Home: () => goTo(0),
    End: () => goTo(last),
  };
  const fn = keys[event.key];
  if (!fn) return;
  event.preventDefault();
  fn();
});


// ---------------------------------------------------------------------------- render

function renderSteps() {
  const list = $('step-list');
  list.replaceChildren(...lesson.steps.map((step, i) => h('li', {},
    h('button', {
      type: 'button', class: 'step-link', dataset: { step: String(i) }, text: step.title,
      on: { click: () => goTo(i) },
    }, step.quiz ? h('span', { class: 'tag', text: 'quiz' }) : null, step.time ? h('span', { class: 'tag', text: 'time' }) : null))));
}

function render() {
  if (!state || !lesson) return;
  document.body.dataset.ended = String(Boolean(state.ended));
  for (const button of document.querySelectorAll('.step-link')) {
    const on = Number(button.dataset.step) === state.step;
    button.classList.toggle('current', on);
    if (on) button.setAttribute('aria-current', 'step');
    else button.removeAttribute('aria-current');
  }
  $('position').textContent = `Step ${state.step + 1} of ${lesson.steps.length}`;
  $('prev').disabled = state.step === 0 || state.ended;
  $('next').disabled = state.step >= lesson.steps.length - 1 || state.ended;
  if (shownStep !== state.step) {
    shownStep = state.step;
    renderStep($('step'), lesson, state.step);
    renderHighlightChoices();
    const step = lesson.steps[state.step];
    sliceControls.setVolumes((lesson.holograms[stepHologram(lesson, step)] || {}).volumes || null);
    timeline.setStep(stepTime(lesson, state.step));
  }
  $('highlight').value = state.highlight || '';
  sliceControls.setSlice(state.slice || null);
  timeline.setRemote(state.playback);
  renderQuiz();
  renderPeople();
  scheduleResults();
  if (state.ended) {
    showStatus('This session has ended. The results stay here until the retention period is over.', 'ok');
    for (const el of document.querySelectorAll('#app button:not(.keep), #app select, #app input')) el.disabled = true;
  }
}

function renderHighlightChoices() {
  const select = $('highlight');
  const names = [...stepStructures(lesson, lesson.steps[state.step])]
    .sort((a, b) => structureName(a).localeCompare(structureName(b)));
  select.replaceChildren(h('option', { value: '', text: 'Nothing' }),
    ...names.map((n) => h('option', { value: n, text: structureName(n) })));
}

// -- playback: the session's tracer time (features/timeline.js in 'control' mode: play,
// pause, the scrubber and the speed go out as actions; the time shown is the session's)

// the slice plane for every screen: the control action slice (null takes it away)
const sliceControls = new SliceControls($('slice-controls'), { onChange: (slice) => control('slice', { slice }) });

const timeline = new Timeline($('playback'), {
  mode: 'control',
  controls: { play: $('play'), slider: $('time'), readout: $('time-label'), rate: $('rate') },
  serverNow: () => (live ? live.clock.now() : Date.now()),
  onControl: (action, fields) => control(action, fields),
  describe: (t, playing, rate) => `${formatTime(t)} after injection${playing ? ` · playing ×${rate}` : ''}`,
});
Object.defineProperty(hooks, 'timeline', { get: () => timeline.snapshot(), enumerable: true });

// -- quiz

function renderQuiz() {
  const section = $('quiz');
  const q = state.quiz;
  const quiz = q && lesson.steps[state.step].quiz;
  if (!q || !quiz) {
    section.hidden = true;
    section.replaceChildren();
    return;
  }
  section.hidden = false;
  const counts = q.counts || {};
  const phase = q.revealed ? 'revealed' : q.open ? 'open' : 'closed';
  section.dataset.phase = phase;
  const button = (id, text, action, disabled) => h('button', {
    type: 'button', id, text, disabled, on: { click: () => control(action) },
  });
  const answer = quiz.answer !== undefined ? answerText(quiz, quiz.answer) : '';
  fill(section,
    h('h2', { text: `Quiz (${quiz.kind})` }),
    h('p', { class: 'prompt', text: quiz.prompt }),
    answer ? h('p', { class: 'muted' }, 'Answer (only you see this until you reveal it): ', h('strong', { text: answer })) : null,
    h('p', { class: 'count-line' }, h('strong', { class: 'answered', text: String(counts.answered || 0) }),
      ` of ${counts.participants || 0} answered · `, h('span', { class: 'phase', text: phase })),
    h('div', { class: 'row' },
      button('open-quiz', 'Open', 'open_quiz', q.open || q.revealed),
      button('close-quiz', 'Close', 'close_quiz', !q.open),
      button('reveal', 'Reveal the answer', 'reveal', q.revealed)),
    q.revealed ? distributionView(quiz, counts, q.answer) : null,
  );
}

// -- people

function renderPeople() {
  const joined = state.participants;
  const connected = presence;
  $('participants').textContent = `${joined} ${joined === 1 ? 'student' : 'students'} joined` +
    (connected === null ? '' : ` · ${connected} connected now`);
  $('participants').dataset.count = String(joined);
}

// -- results

let resultsTimer = null;
let resultsAt = 0;
function scheduleResults() {
  if (resultsTimer) return;
  const wait = Math.max(0, 2000 - (Date.now() - resultsAt));
  resultsTimer = setTimeout(() => {
    resultsTimer = null;
    resultsAt = Date.now();
    loadResults();
  }, wait);
}

async function loadResults() {
  let data;
  try {
    data = await api(`/api/sessions/${encodeURIComponent(code)}/results?format=json`, { token });
  } catch (err) {
    $('results-table').replaceChildren(h('p', { class: 'error', text: err.message }));
    return;
  }
  hooks.results = data;
  if (!data.quizzes.length) {
    $('results-table').replaceChildren(h('p', { class: 'muted', text: 'This lesson has no quizzes.' }));
    return;
  }
  const pct = (a, b) => (b ? `${Math.round((100 * a) / b)} %` : '–');
  $('results-table').replaceChildren(h('table', {},
    h('thead', {}, h('tr', {}, ...['Step', 'Question', 'Kind', 'Answers', 'Correct'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, ...data.quizzes.map((q) => h('tr', { dataset: { quiz: q.quiz } },
      h('td', { text: String(q.step + 1) }),
      h('td', { text: q.prompt }),
      h('td', { text: q.kind }),
      h('td', { class: 'num', text: `${q.answers} of ${data.participants}` }),
      h('td', { class: 'num', text: q.answers ? `${q.correct} (${pct(q.correct, q.answers)})` : '–' }))))));
}

async function download(format) {
  try {
    const response = await api(`/api/sessions/${encodeURIComponent(code)}/results?format=${format}`, { token, raw: true });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `arkit-${code}.${format === 'csv' ? 'csv' : 'xapi.json'}` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showStatus(err.message, 'error');
  }
}

// ---------------------------------------------------------------------------- wiring

function wire() {
  $('prev').addEventListener('click', () => goTo(current() - 1));
  $('next').addEventListener('click', () => goTo(current() + 1));
  $('highlight').addEventListener('change', () => control('highlight', { structure: $('highlight').value || null }));
  $('refresh-results').addEventListener('click', () => loadResults());
  $('download-csv').addEventListener('click', () => download('csv'));
  $('download-xapi').addEventListener('click', () => download('xapi'));
  $('end').addEventListener('click', () => {
    $('end-confirm').hidden = false;
    $('end').hidden = true;
    $('end-yes').focus();
  });
  $('end-no').addEventListener('click', () => {
    $('end-confirm').hidden = true;
    $('end').hidden = false;
  });
  $('end-yes').addEventListener('click', () => {
    $('end-confirm').hidden = true;
    control('end');
  });
}

async function start() {
  token = takeToken();
  if (!token) {
    hooks.problem = 'unauthorised';
    showStatus(problemText('unauthorised'), 'error');
    return;
  }
  try {
    lesson = await api(`/api/sessions/${encodeURIComponent(code)}/lesson`, { token });
  } catch (err) {
    hooks.problem = err.code;
    showStatus(err.message, 'error');
    return;
  }
  renderSteps();
  wire();
  live = connectLive({ code, role: 'lecturer', token }, {
    onState: (s) => {
      state = s;
      render();
    },
    onPresence: (n) => {
      presence = n;
      if (state) renderPeople();
    },
    onJoined: () => showStatus(''),
    onConnection: (connected, reason) => {
      if (!connected) showStatus(reason === 'connect_error' ? problemText('network') : 'Connection lost. Reconnecting…', 'error');
    },
    onProblem: (c, message) => showStatus(problemText(c, message), 'error'),
  });
}

start();

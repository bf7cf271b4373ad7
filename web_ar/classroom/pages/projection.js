// Projection page (/p/<code>): the join QR and code, how many students are connected, the
// hologram following the lecturer (step, highlight, pointer, tracer time extrapolated from
// the playback), the answer count while a quiz runs and the distribution once revealed.

import {
  $, api, h, hooks, playbackTime, problemText, showStatus, stepWindow,
} from '../core/common.js';
import { setPage } from '../features/events.js';
import { connectLive } from '../features/live.js';
import { distributionView } from '../features/quiz.js';
import { HologramView } from '../features/viewer.js';

const code = document.body.dataset.code;
Object.assign(hooks, { role: 'projection', code });
setPage('projection');

let lesson = null;
let state = null;
let shownStep = null;
let live = null;
let presence = null;

const viewStatus = $('viewer-status');
const viewer = new HologramView($('viewport'), {
  interactive: false,
  label: 'The lesson’s hologram, following the lecturer',
  statusElement: viewStatus,
  time: () => {
    if (!state || !live) return null;
    return playbackTime(state.playback, live.clock.now(), stepWindow(lesson && lesson.steps[state.step]));
  },
});
hooks.hologram = viewer.info;
// where a test looks on the plane; redraw: a render on the next frame (the frame-rate benchmark)
hooks.slice = { screenOfRas: (ras) => viewer.screenOfRas(ras), redraw: () => viewer.invalidate() };
// Not operable here (the lecturer drives it): an image with its name for screen readers.

function renderParticipants() {
  const n = presence !== null ? presence : state ? state.participants : null;
  const el = $('participants');
  if (n === null) return;
  el.textContent = `${n} ${n === 1 ? 'student' : 'students'} connected`;
  el.dataset.count = String(n);
}

function renderStepTitle() {
  const step = lesson.steps[state.step];
  $('step').replaceChildren(
    h('p', { class: 'step-number', text: `Step ${state.step + 1} of ${lesson.steps.length}` }),
    h('h2', { class: 'step-title', id: 'step-title', text: step ? step.title : '' }),
  );
}

function renderAnswers() {
  const box = $('answers');
  const q = state.quiz;
  const quiz = q && lesson.steps[state.step] && lesson.steps[state.step].quiz;
  if (!q || !quiz) {
    box.replaceChildren();
    box.hidden = true;
    document.body.dataset.quiz = 'none';
    return;
  }
  box.hidden = false;
  const counts = q.counts || {};
  const phase = q.revealed ? 'revealed' : q.open ? 'open' : 'waiting';
  box.dataset.phase = phase;
  document.body.dataset.quiz = phase; // the join box shrinks to make room (style.css)
  box.dataset.answered = String(counts.answered || 0);
  const prompt = h('h2', { class: 'prompt', text: quiz.prompt });
  if (phase === 'revealed') {
    box.replaceChildren(prompt, distributionView(quiz, counts, q.answer));
    return;
  }
  box.replaceChildren(
    prompt,
    h('p', { class: 'count-line' },
      h('strong', { class: 'answered', text: String(counts.answered || 0) }),
      ` of ${counts.participants || 0} answered`),
    h('p', { class: 'muted', text: phase === 'open' ? 'Answer on your phone now.' : 'The quiz is closed.' }),
  );
}

async function render() {
  if (!state || !lesson) return;
  document.body.dataset.ended = String(Boolean(state.ended));
  if (state.ended) showStatus(problemText('ended'), 'error');
  renderParticipants();
  renderAnswers();
  if (shownStep !== state.step) {
    shownStep = state.step;
    renderStepTitle();
    await viewer.showStep(lesson, state.step);
  }
  viewer.setHighlight(state.highlight);
  viewer.setSlice(state.slice || null);
  viewer.invalidate();
}

async function start() {
  try {
    lesson = await api(`/api/sessions/${encodeURIComponent(code)}/lesson`);
  } catch (err) {
    showStatus(err.message, 'error');
    return;
  }
  live = connectLive({ code, role: 'projection' }, {
    onState: (s) => {
      state = s;
      render();
    },
    onPresence: (n) => {
      presence = n;
      renderParticipants();
    },
    onPointer: (p) => {
      viewer.setPointer(p.position);
      if (p.structure !== undefined && state) viewer.setHighlight(p.structure || state.highlight);
    },
    onJoined: () => showStatus(''),
    onConnection: (connected, reason) => {
      if (!connected) showStatus(reason === 'connect_error' ? problemText('network') : 'Connection lost. Reconnecting…', 'error');
    },
    onProblem: (c, message) => showStatus(problemText(c, message), 'error'),
  });
}

start();

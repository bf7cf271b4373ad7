// Student page (/j/<code>): follows the lecturer (step title and narration), answers the
// quizzes, sees the results after the reveal. Minimal until the WebXR client: the
// identify quiz is a list of the hologram's structures.
//
// The participant id stays in localStorage (one per session), so a reload or a reconnect
// is the same student; answers given are remembered there too.

import {
  $, api, fill, h, hooks, problemText, renderStep, showStatus, stepStructures, store,
} from './common.js';
import { connectLive } from './live.js';
import { answerText, distributionView, matches, quizForm } from './quiz.js';

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
  }
  renderQuiz();
}

function renderQuiz() {
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
      if (ack.ok) {
        remember(quiz.id, value);
        return { ok: true, message: 'Answer received. You can change it until the quiz closes.' };
      }
      return { ok: false, message: problemText(ack.error, ack.message) };
    },
  });
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
  try {
    await loadLesson();
  } catch (err) {
    hooks.problem = err.code;
    showStatus(err.message, 'error');
    document.body.dataset.problem = err.code;
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

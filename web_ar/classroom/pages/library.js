// Library page (/): the lessons on this server (GET /api/lessons), each opening its
// self-paced page, and a box to join a session by its code.

import { $, api, h, hooks, showStatus } from '../core/common.js';
import { setPage } from '../features/events.js';

Object.assign(hooks, { role: 'library', lessons: null });
setPage('library');

const CODE = /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$/;

function wireJoin() {
  const form = $('join-form');
  const input = $('join-code');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const code = input.value.replace(/[\s-]/g, '').toUpperCase();
    if (!CODE.test(code)) {
      showStatus('A session code has six letters and digits, as shown on the big screen.', 'error');
      input.focus();
      return;
    }
    window.location.assign(`/j/${code}`);
  });
}

async function start() {
  wireJoin();
  const list = $('lessons');
  let lessons;
  try {
    lessons = await api('/api/lessons');
  } catch (err) {
    showStatus(err.message, 'error');
    return;
  }
  hooks.lessons = lessons.map((l) => l.id);
  if (!lessons.length) {
    list.replaceChildren(h('li', { class: 'muted', text: 'No lessons yet. A lecturer adds them with arkit lesson build and the upload API, or a lessons folder.' }));
    return;
  }
  list.replaceChildren(...lessons.map((l) => h('li', { class: 'lesson', dataset: { lesson: l.id } },
    l.thumbnail ? h('img', { src: l.thumbnail, alt: '', width: '96', height: '96', loading: 'lazy' }) : h('span', { class: 'thumb' }),
    h('div', {},
      h('h2', {}, h('a', { href: `/lessons/${encodeURIComponent(l.id)}`, text: l.title })),
      l.summary ? h('p', { text: l.summary }) : null,
      h('p', { class: 'muted', text: [
        `${l.steps} ${l.steps === 1 ? 'step' : 'steps'}`,
        l.minutes ? `about ${l.minutes} min` : null,
        l.review_status && l.review_status !== 'reviewed' ? `content ${l.review_status}` : null,
        l.signed_by ? 'signed' : null,
      ].filter(Boolean).join(' · ') })))));
}

start();

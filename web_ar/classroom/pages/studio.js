// The studio's library (/studio): every lesson the studio can open (GET /api/studio/lessons)
// with its thumbnail; New (a body and a tracer, or the anatomy template), Import (lesson.yaml,
// a lesson folder zip, a bundle), and per lesson Edit, Duplicate, Export and Delete.

import { $, h, hooks, showStatus } from '../core/common.js';
import { studioApi } from '../core/studio_api.js';
import { setPage } from '../features/events.js';

Object.assign(hooks, { role: 'studio', lessons: null, ready: false });
setPage('studio');

const ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** A modal question: resolves true for OK. ``extra``: an element shown under the text. */
function ask(text, { ok = 'OK', extra = null, danger = false } = {}) {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  $('confirm-extra').replaceChildren(...(extra ? [extra] : []));
  $('confirm-ok').textContent = ok;
  $('confirm-ok').className = danger ? 'danger' : 'primary';
  dialog.returnValue = '';
  dialog.showModal();
  const first = extra && extra.querySelector('input');
  (first || $('confirm-cancel')).focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

async function loadOptions() {
  const options = await studioApi('/api/studio/options');
  $('new-body').replaceChildren(...options.bodies.map((b) => h('option', {
    value: b.source, disabled: !b.available, text: b.available ? b.name : `${b.name} (not imported)`,
  })));
  $('new-tracer').append(...options.tracers.map((t) => h('option', { value: t.id, text: `${t.name} (${t.id})` })));
  const fdg = options.tracers.find((t) => t.id === 'fdg');
  if (fdg) $('new-tracer').value = 'fdg';
}

function wireNew() {
  const radios = [...document.querySelectorAll('input[name="start"]')];
  const sync = () => { $('body-fields').hidden = radios.find((r) => r.checked).value !== 'body'; };
  radios.forEach((r) => r.addEventListener('change', sync));
  $('new-title-input').addEventListener('input', () => {
    const id = $('new-id');
    if (id.dataset.touched) return;
    id.value = $('new-title-input').value.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '').slice(0, 64);
  });
  $('new-id').addEventListener('input', () => { $('new-id').dataset.touched = '1'; });
  $('new-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = $('new-id').value.trim();
    if (!ID.test(id)) {
      showStatus('An id is lower-case letters and digits, with single hyphens between them (fdg-basics).', 'error');
      $('new-id').focus();
      return;
    }
    const start = radios.find((r) => r.checked).value;
    const body = start === 'anatomy' ? { id, title: $('new-title-input').value, template: 'anatomy' }
      : { id, title: $('new-title-input').value, body: $('new-body').value, tracer: $('new-tracer').value || null };
    try {
      await studioApi('/api/studio/lessons', { method: 'POST', json: body });
    } catch (err) {
      showStatus(err.errors ? `${err.message} (${err.errors.map((e) => e.field).join(', ')})` : err.message, 'error');
      return;
    }
    window.location.assign(`/studio/${id}`);
  });
}

/** Signing out on a shared computer leaves no unsaved lesson text in this browser. */
function wireSignOut() {
  const form = $('sign-out') && $('sign-out').form;
  if (!form) return;
  form.addEventListener('submit', () => {
    try {
      for (const key of Object.keys(window.localStorage)) {
        if (key.startsWith('arkit:studio:')) window.localStorage.removeItem(key);
      }
    } catch {
      // storage refused (private mode): nothing was kept
    }
  });
}

function wireImport() {
  $('import-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const file = $('import-file').files[0];
    if (!file) return;
    const form = new FormData();
    form.append('file', file);
    try {
      const out = await studioApi('/api/studio/import', { method: 'POST', form });
      showStatus(`Imported ${out.id}.`, 'ok');
      await refresh();
    } catch (err) {
      const where = err.errors ? ` (line ${err.errors[0].line}: ${err.errors[0].field})` : '';
      showStatus(`${err.message}${where}`, 'error');
    }
  });
}

async function duplicate(lesson) {
  const input = h('input', { type: 'text', id: 'duplicate-id', value: `${lesson.id}-copy`, maxlength: '64' });
  const extra = h('p', {}, h('label', { for: 'duplicate-id', text: 'New id ' }), input);
  if (!(await ask(`Duplicate “${lesson.title}”?`, { ok: 'Duplicate', extra }))) return;
  try {
    const out = await studioApi(`/api/lessons/${lesson.id}/duplicate`, {
      method: 'POST', json: { id: input.value.trim(), title: `${lesson.title.slice(0, 193)} (copy)` },
    });
    showStatus(`Made ${out.id}.`, 'ok');
    await refresh();
  } catch (err) {
    showStatus(err.message, 'error');
  }
}

async function remove(lesson) {
  const text = `Delete “${lesson.title}”? Its source, history and files go, and it leaves the library ` +
    '(sessions running now keep their version).';
  if (!(await ask(text, { ok: 'Delete', danger: true }))) return;
  try {
    await studioApi(`/api/lessons/${lesson.id}`, { method: 'DELETE' });
    showStatus(`Deleted ${lesson.id}.`, 'ok');
    await refresh();
  } catch (err) {
    showStatus(err.message, 'error');
  }
}

function row(lesson) {
  const facts = [
    lesson.built ? (lesson.stale ? 'in the library (changed since its build)' : 'in the library') : 'not built yet',
    lesson.steps ? `${lesson.steps} ${lesson.steps === 1 ? 'step' : 'steps'}` : null,
    lesson.versions ? `${lesson.versions} saved ${lesson.versions === 1 ? 'version' : 'versions'}` : 'never saved here',
  ].filter(Boolean).join(' · ');
  const exportLinks = h('span', { class: 'row' },
    h('a', { href: `/api/lessons/${lesson.id}/source.yaml`, download: `${lesson.id}.yaml`, text: 'lesson.yaml' }),
    h('a', { href: `/api/lessons/${lesson.id}/source.zip`, download: `${lesson.id}-source.zip`, text: 'folder (.zip)' }),
    lesson.built ? h('a', { href: `/api/lessons/${lesson.id}/bundle`, download: `${lesson.id}.arlesson`, text: 'bundle' })
      : null);
  return h('li', { class: 'lesson', dataset: { lesson: lesson.id } },
    lesson.thumbnail ? h('img', { src: lesson.thumbnail, alt: '', width: '96', height: '96', loading: 'lazy' })
      : h('span', { class: 'thumb' }),
    h('div', {},
      h('h3', {}, h('a', { href: `/studio/${lesson.id}`, text: lesson.title })),
      h('p', { class: 'muted', text: `${lesson.id} · ${facts}` }),
      h('div', { class: 'row' },
        h('a', { class: 'button', href: `/studio/${lesson.id}`, text: 'Edit', 'aria-label': `Edit ${lesson.title}` }),
        h('button', { type: 'button', text: 'Duplicate', 'aria-label': `Duplicate ${lesson.title}`,
          on: { click: () => duplicate(lesson) } }),
        h('button', { type: 'button', class: 'danger', text: 'Delete', 'aria-label': `Delete ${lesson.title}`,
          on: { click: () => remove(lesson) } }),
        h('span', { class: 'muted', text: 'Export:' }), exportLinks)));
}

async function refresh() {
  const list = $('studio-lessons');
  const lessons = await studioApi('/api/studio/lessons');
  hooks.lessons = lessons.map((l) => l.id);
  if (!lessons.length) {
    list.replaceChildren(h('li', { class: 'muted', text: 'No lessons yet: make one above, or import one.' }));
    return;
  }
  list.replaceChildren(...lessons.map(row));
}

async function start() {
  wireNew();
  wireImport();
  wireSignOut();
  try {
    await Promise.all([loadOptions(), refresh()]);
  } catch (err) {
    showStatus(err.message, 'error');
  }
  hooks.ready = true;
}

start();

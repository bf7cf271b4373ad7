// The studio's REST client: the sign-in cookie goes by itself (same origin), every write
// carries the page's CSRF token (<meta name="arkit-csrf">) as X-CSRF-Token. Errors are
// ApiProblem (core/common.js) with the server's code, status and, for a lesson with problems,
// its located ``errors``.

import { api } from './common.js';

const meta = document.querySelector('meta[name="arkit-csrf"]');
export const CSRF = meta ? meta.content : '';

/**
 * ``studioApi(path, {method, json, form, headers, raw})``: ``api()`` with the page's CSRF token
 * on every write; ``json`` is sent as JSON, ``form`` (FormData) as multipart. Returns the
 * decoded JSON (or the Response with raw, or null for 204). A 401 (the sign-in expired) sends
 * the page to the sign-in form.
 */
export async function studioApi(path, { method = 'GET', json = undefined, form = undefined, headers = {}, raw = false } = {}) {
  const sent = { ...headers };
  if (method !== 'GET' && method !== 'HEAD') sent['X-CSRF-Token'] = CSRF;
  let response;
  try {
    response = await api(path, { method, body: json, form, headers: sent, raw: true });
  } catch (err) {
    if (err.status === 401) window.location.assign('/studio/login');
    throw err;
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

/** Polls job ``id`` every ``ms`` until done or failed, calling ``onProgress(job)``; gives
 * up after ``limitMs`` (a build the server lost: it says so at its next start). */
export async function waitForJob(id, onProgress = () => {}, ms = 400, limitMs = 45 * 60 * 1000) {
  const until = Date.now() + limitMs;
  for (;;) {
    if (Date.now() > until) throw new Error('the build did not finish in 45 minutes: build again');
    const job = await studioApi(`/api/jobs/${id}`);
    onProgress(job);
    if (job.state === 'done' || job.state === 'failed') return job;
    await new Promise((resolve) => { setTimeout(resolve, ms); });
  }
}

/** Shows a job's progress in a .load-progress element (role=progressbar); null hides it. */
export function showJobProgress(el, job) {
  if (!el) return;
  if (!job || job.state === 'done') {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  const pct = Math.round((job.progress || 0) * 100);
  el.setAttribute('aria-valuenow', String(pct));
  el.setAttribute('aria-valuetext', `${pct} %: ${job.step || job.state}`);
  el.querySelector('.fill').style.width = `${pct}%`;
  el.querySelector('.text').textContent = job.state === 'failed' ? 'failed' : `${pct} % · ${job.step || job.state}`;
}

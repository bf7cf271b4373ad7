// The studio's editor (/studio/<id>): a lesson.yaml edited through its steps, with the step's
// hologram as the editing surface.
//
// The text is the model: a YAML Document (npm ``yaml``), so comments and the lecturer's own
// layout survive an edit; every control reads and writes it. Changes are checked as they
// are made (POST /api/lessons/<id>/validate: the same located errors as `arkit lesson
// validate`, shown beside their field), saved with the etag they were opened with (PUT
// .../source, If-Match: a conflict is shown, never overwritten), built into the library
// (POST .../build, a job with progress). The 3D view is the hologram as the server builds it
// (POST .../preview, a job; the GLB from /api/previews/); tapping a structure puts it in or
// out of the set the tap mode names (visible, highlighted, translucent, labelled, the quiz
// answer), and the list under the view does the same from the keyboard.

import { isMap, isSeq, parseDocument, stringify } from 'yaml';

import {
  $, formatTime, h, hooks, isTyping, parseDuration, showStatus, store, structureName,
} from '../core/common.js';
import { showJobProgress, studioApi, waitForJob } from '../core/studio_api.js';
import { setPage } from '../features/events.js';
import { SliceControls } from '../features/slice_controls.js';
import { Timeline, stepTime } from '../features/timeline.js';
import { HologramView } from '../features/viewer.js';

const lessonId = document.body.dataset.lesson;
const draftKey = `arkit:studio:draft:${lessonId}`;
const studio = {
  ready: false, dirty: false, etag: null, version: null, step: 0, errors: [], saving: false, previewKey: null,
  previewState: null, built: null, lastPick: null, validations: 0,
};
Object.assign(hooks, { role: 'studio-edit', lesson: lessonId, studio });
setPage('studio-edit');

let doc = null; // the YAML Document
let options = { bodies: [], tracers: [], profiles: [], quantities: [] };
let files = [];
let hologramInfo = null; // {hid, key, glb, structures, display, legend, tracer_facts}
let narrations = [];
let tapMode = 'visible';

const viewer = new HologramView($('viewport'), {
  interactive: true,
  label: 'The step’s hologram: tap a structure to put it in or out of the chosen set',
  statusElement: $('viewer-status'),
  onPick: (name) => picked(name),
  time: () => timeline.now(),
});
studio.hologram = viewer.info;
studio.screenPoint = (name) => viewer.screenPoint(name); // where a test taps a structure
const timeline = new Timeline($('playback'), {
  mode: 'local',
  controls: { play: $('play'), slider: $('time'), readout: $('time-label'), rate: $('rate') },
  describe: (t) => `${formatTime(t)} after injection`,
  onChange: () => viewer.invalidate(),
});

// ---------------------------------------------------------------------------- the document

const data = () => doc.toJS() || {};
const steps = () => (Array.isArray(data().steps) ? data().steps : []);
const currentStep = () => steps()[studio.step] || {};
const hologramIds = () => Object.keys(data().holograms || {});
const stepHologramId = (step = currentStep()) => (step.hologram && hologramIds().includes(step.hologram)
  ? step.hologram : hologramIds()[0]);

/** Sets ``path`` to ``value`` (removed when undefined, null, '' or an empty list); lists of
 * names are written in flow style ([liver, spleen]) as people write them. */
function put(path, value, { keepEmpty = false } = {}) {
  const empty = value === undefined || value === null || value === '' ||
    (Array.isArray(value) && !value.length && !keepEmpty);
  if (empty) {
    if (doc.hasIn(path)) doc.deleteIn(path);
  } else {
    const node = doc.createNode(value);
    if (Array.isArray(value) && value.every((v) => typeof v !== 'object')) node.flow = true;
    doc.setIn(path, node);
  }
}

const stepPath = (...rest) => ['steps', studio.step, ...rest];

/** After an edit: the draft kept, the page (all of it, or with ``render`` false only the
 * step list: a text field being typed in stays as it is), the view, the hologram, a check. */
function changed({ view = true, hologram = true, render = true } = {}) {
  studio.dirty = true;
  store.set(draftKey, JSON.stringify({ yaml: doc.toString(), etag: studio.etag, at: Date.now() }));
  if (render) {
    const focused = document.activeElement && document.activeElement.id;
    renderAll();
    const again = focused && document.getElementById(focused);
    if (again && again !== document.activeElement) again.focus(); // the control re-made: focus stays on it
  } else {
    renderSteps();
    setSaveState('Unsaved changes.');
  }
  if (view) showView();
  if (hologram) schedulePreview();
  scheduleValidate();
}

// ---------------------------------------------------------------------------- validation

let validateTimer = null;
function scheduleValidate() {
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validate, 350);
}

async function validate() {
  const text = doc.toString();
  let out;
  try {
    out = await studioApi(`/api/lessons/${lessonId}/validate`, { method: 'POST', json: { yaml: text } });
  } catch (err) {
    showStatus(err.message, 'error');
    return;
  }
  if (text !== doc.toString()) return; // typed on since: the next check shows
  studio.errors = out.errors;
  studio.validations += 1;
  narrations = out.narration_html || [];
  showErrors();
  renderNarration();
}

/** Where a located error is shown: the control of its field (this step's, this hologram's). */
function fieldElement(field) {
  let local = field;
  const stepMatch = /^steps\[(\d+)\](.*)$/.exec(field);
  if (stepMatch) {
    if (Number(stepMatch[1]) !== studio.step) return null;
    local = `steps[]${stepMatch[2]}`;
  }
  const holoMatch = /^holograms\.([a-z0-9-]+)(.*)$/.exec(field);
  if (holoMatch) {
    if (holoMatch[1] !== stepHologramId()) return null;
    local = `holograms${holoMatch[2]}`;
  }
  for (let f = local; f; f = f.replace(/(\[\d+\]|\.[^.[]+)$/, '')) {
    const el = document.querySelector(`[data-field="${CSS.escape(f)}"]`);
    if (el) return el;
    if (!/(\[\d+\]|\.[^.[]+)$/.test(f)) break;
  }
  return null;
}

function showErrors() {
  document.querySelectorAll('.field-error').forEach((el) => el.remove());
  document.querySelectorAll('[aria-invalid="true"]').forEach((el) => {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-describedby');
  });
  const list = $('problems');
  const byStep = new Map();
  list.replaceChildren(...(studio.errors.length ? studio.errors.map((e, i) => {
    const m = /^steps\[(\d+)\]/.exec(e.field);
    if (m) byStep.set(Number(m[1]), (byStep.get(Number(m[1])) || 0) + 1);
    const el = fieldElement(e.field);
    if (el) {
      const id = `field-error-${i}`;
      el.setAttribute('aria-invalid', 'true');
      el.setAttribute('aria-describedby', id);
      el.insertAdjacentElement('afterend', h('p', { class: 'field-error', id, role: 'alert', text: e.message }));
    }
    return h('li', { dataset: { field: e.field } },
      h('button', {
        type: 'button', class: 'link', text: `line ${e.line}, ${e.field}: ${e.message}`,
        on: { click: () => { if (m) selectStep(Number(m[1])); const f = fieldElement(e.field); if (f) f.focus(); } },
      }));
  }) : [h('li', { class: 'ok', text: 'No problems: the lesson builds.' })]));
  document.querySelectorAll('#steps li').forEach((li, i) => li.classList.toggle('has-error', byStep.has(i)));
}

// ---------------------------------------------------------------------------- steps list

function moveStep(from, to) {
  const seq = doc.get('steps');
  if (!isSeq(seq) || to < 0 || to >= seq.items.length || from === to) return;
  const [item] = seq.items.splice(from, 1);
  seq.items.splice(to, 0, item);
  studio.step = to;
  changed({ hologram: false });
  focusStep(to);
}

let undo = null;
function deleteStep(i) {
  const seq = doc.get('steps');
  if (!isSeq(seq) || seq.items.length <= 1) {
    showStatus('A lesson keeps at least one step.', 'error');
    return;
  }
  const [item] = seq.items.splice(i, 1);
  undo = { item, index: i };
  studio.step = Math.min(i, seq.items.length - 1);
  changed({ hologram: false });
  showStatus(`Step ${i + 1} deleted.`, 'ok');
  const status = $('status');
  status.append(' ', h('button', {
    type: 'button', id: 'undo-delete', text: 'Undo',
    on: { click: () => { if (!undo) return; doc.get('steps').items.splice(undo.index, 0, undo.item); studio.step = undo.index; undo = null; showStatus(''); changed({ hologram: false }); } },
  }));
  focusStep(studio.step);
}

function addStep() {
  const holo = stepHologramId();
  const step = { title: `Step ${steps().length + 1}`, narration: 'What the students see and do here.' };
  const first = hologramIds()[0];
  if (holo && holo !== first) step.hologram = holo;
  doc.addIn(['steps'], doc.createNode(step));
  studio.step = steps().length - 1;
  changed({ hologram: false });
  $('step-title').focus();
  $('step-title').select();
}

function focusStep(i) {
  requestAnimationFrame(() => {
    const button = document.querySelector(`#steps li[data-index="${i}"] .step-select`);
    if (button) button.focus();
  });
}

function selectStep(i) {
  studio.step = Math.max(0, Math.min(steps().length - 1, i));
  renderAll();
  showView({ reframe: true });
  if (!hologramInfo || hologramInfo.hid !== stepHologramId()) schedulePreview(true); // another hologram
}

function renderSteps() {
  const list = $('steps');
  let dragging = null;
  list.replaceChildren(...steps().map((step, i) => {
    const li = h('li', { draggable: 'true', dataset: { index: String(i) }, class: i === studio.step ? 'current' : '' },
      h('span', { class: 'grip', 'aria-hidden': 'true', text: '⋮⋮' }),
      h('button', {
        type: 'button', class: 'step-select', 'aria-current': i === studio.step ? 'step' : false,
        'aria-keyshortcuts': 'Alt+ArrowUp Alt+ArrowDown Delete',
        text: `${i + 1}. ${step.title || '(no title)'}${step.quiz ? ' · quiz' : ''}`,
        on: {
          click: () => selectStep(i),
          keydown: (event) => {
            if (event.altKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
              event.preventDefault();
              moveStep(i, i + (event.key === 'ArrowUp' ? -1 : 1));
            } else if (event.key === 'Delete') {
              event.preventDefault();
              deleteStep(i);
            }
          },
        },
      }),
      h('button', {
        type: 'button', class: 'icon', 'aria-label': `Delete step ${i + 1}`, text: '✕',
        disabled: steps().length <= 1, on: { click: () => deleteStep(i) },
      }));
    li.addEventListener('dragstart', (event) => {
      dragging = i;
      event.dataTransfer.effectAllowed = 'move';
      event.dataTransfer.setData('text/plain', String(i));
    });
    li.addEventListener('dragend', () => { dragging = null; });
    li.addEventListener('dragover', (event) => {
      if (dragging === null) return; // a file or text from elsewhere: not a step
      event.preventDefault();
      li.classList.add('drop');
    });
    li.addEventListener('dragleave', () => li.classList.remove('drop'));
    li.addEventListener('drop', (event) => {
      li.classList.remove('drop');
      if (dragging === null) return;
      event.preventDefault();
      const from = dragging;
      dragging = null;
      moveStep(from, i);
    });
    return li;
  }));
}

// ---------------------------------------------------------------------------- the step

function renderStepFields() {
  const step = currentStep();
  $('step-number').textContent = `${studio.step + 1} of ${steps().length}`;
  setValue($('step-title'), step.title || '');
  setValue($('step-narration'), step.narration || '');
  setValue($('lesson-title'), data().title || '');
  const sets = $('step-sets');
  const chips = (key, label) => {
    const list = key === 'labels' ? (step.labels || []).map((l) => l.structure) : step[key];
    if (!Array.isArray(list)) return h('p', { class: 'muted', text: `${label}: ${key === 'visible' ? 'everything' : 'none'}` });
    return h('p', { dataset: { field: `steps[].${key}` } }, `${label}: `, ...list.map((name) => h('button', {
      type: 'button', class: 'chip', 'aria-label': `Remove ${display(name)} from ${label.toLowerCase()}`,
      text: `${display(name)} ✕`, on: { click: () => toggle(name, key) },
    })), list.length ? null : '(none)');
  };
  sets.replaceChildren(chips('visible', 'Visible'), chips('highlighted', 'Highlighted'),
    chips('translucent', 'Translucent'), chips('labels', 'Labelled'));
  const framing = step.framing;
  $('framing-text').textContent = framing ? `Framing: ${framing.target || 'whole'}, ${framing.view || 'front'}` +
    `${framing.zoom ? `, zoom ${framing.zoom}` : ''}` : 'Framing: the whole of what is visible, from the front';
  const time = step.time || {};
  $('time-window').textContent = step.time ? `Time window: ${time.start || '0 min'} to ${time.end || 'the end'}` +
    `${time.play ? ', playing' : ''}` : 'No time window: the tracer shows from 0.';
  $('time-play').checked = Boolean(time.play);
}

function renderNarration() {
  const box = $('narration-preview');
  const html = narrations[studio.step];
  box.innerHTML = typeof html === 'string' ? html : ''; // rendered and sanitised by the server
}

function setValue(el, value) {
  if (document.activeElement !== el && el.value !== String(value)) el.value = String(value);
}

function display(name) {
  if (String(name).startsWith('system:')) return `all ${name.slice(7)}`;
  return (hologramInfo && hologramInfo.display && hologramInfo.display[name]) || viewer.displayName(name) ||
    structureName(name);
}

function wireStepFields() {
  const typed = { view: false, hologram: false, render: false };
  $('lesson-title').addEventListener('input', () => { put(['title'], $('lesson-title').value); changed(typed); });
  $('step-title').addEventListener('input', () => { put(stepPath('title'), $('step-title').value); changed(typed); });
  $('step-narration').addEventListener('input', () => {
    put(stepPath('narration'), $('step-narration').value);
    changed(typed);
  });
}

// ---------------------------------------------------------------------------- tapping

function allNames() {
  return (hologramInfo && hologramInfo.structures) || [];
}

/** A step's list with system:<x> entries replaced by their structures. */
function expanded(list) {
  const out = [];
  for (const entry of list) {
    if (String(entry).startsWith('system:')) {
      const system = entry.slice(7);
      for (const name of allNames()) {
        const s = viewer.structure(name);
        if (s && s.system === system && !out.includes(name)) out.push(name);
      }
    } else if (!out.includes(entry)) out.push(entry);
  }
  return out;
}

/** Puts ``name`` in or out of the set ``mode`` names, on the current step. */
function toggle(name, mode = tapMode) {
  const step = currentStep();
  if (mode === 'answer') {
    const quiz = step.quiz;
    if (!quiz || (quiz.kind !== 'identify' && quiz.kind !== 'order')) {
      showStatus('Tapping gives the answer of an identify or order quiz: choose the quiz kind first.', 'error');
      return;
    }
    const answer = Array.isArray(quiz.answer) ? [...quiz.answer] : [];
    const at = answer.indexOf(name);
    if (at >= 0) answer.splice(at, 1);
    else answer.push(name);
    put(stepPath('quiz', 'answer'), answer, { keepEmpty: true });
    changed({ hologram: false });
    return;
  }
  if (mode === 'labels') {
    const labels = (step.labels || []).filter((l) => l.structure !== name);
    if (labels.length === (step.labels || []).length) labels.push({ structure: name, text: display(name) });
    put(stepPath('labels'), labels);
    changed({ hologram: false });
    return;
  }
  let list;
  if (mode === 'visible') {
    list = expanded(Array.isArray(step.visible) ? step.visible : allNames());
  } else {
    list = expanded(Array.isArray(step[mode]) ? step[mode] : []);
  }
  const at = list.indexOf(name);
  if (at >= 0) list.splice(at, 1);
  else list.push(name);
  if (mode === 'visible' && allNames().length && allNames().every((n) => list.includes(n))) list = null;
  put(stepPath(mode), list, { keepEmpty: mode === 'visible' });
  changed({ hologram: false });
}

function picked(name) {
  $('picked').textContent = name ? `Tapped: ${display(name)}` : '';
  if (!name) return;
  studio.lastPick = name;
  viewer.setSelection(name);
  toggle(name);
}

function wireTapMode() {
  document.querySelectorAll('input[name="tap"]').forEach((radio) => radio.addEventListener('change', () => {
    tapMode = radio.value;
    studio.tapMode = tapMode;
    renderStructureList();
  }));
}

function inSet(name, mode) {
  const step = currentStep();
  if (mode === 'answer') return step.quiz && Array.isArray(step.quiz.answer) ? step.quiz.answer.indexOf(name) : -1;
  if (mode === 'labels') return (step.labels || []).some((l) => l.structure === name) ? 0 : -1;
  if (mode === 'visible' && !Array.isArray(step.visible)) return 0;
  return expanded(Array.isArray(step[mode]) ? step[mode] : []).includes(name) ? 0 : -1;
}

function renderStructureList() {
  const names = [...allNames()].sort((a, b) => display(a).localeCompare(display(b)));
  const word = { visible: 'visible', highlighted: 'highlighted', translucent: 'translucent', labels: 'labelled',
    answer: 'in the answer' }[tapMode];
  $('structure-list').replaceChildren(...names.map((name) => {
    const at = inSet(name, tapMode);
    const id = `structure-${name}`;
    return h('li', {},
      h('input', { type: 'checkbox', id, checked: at >= 0, dataset: { structure: name }, on: { change: () => toggle(name) } }),
      h('label', { for: id, text: `${display(name)}${tapMode === 'answer' && at >= 0 && currentStep().quiz &&
        currentStep().quiz.kind === 'order' ? ` (${at + 1})` : ''}` }),
      h('span', { class: 'visually-hidden', text: ` ${word}` }));
  }));
}

// ---------------------------------------------------------------------------- view and time

/** "45 min", "2.5 h", "3 d" for seconds (what lesson.yaml takes). */
function quantityText(seconds) {
  const m = seconds / 60;
  const round = (x) => Math.round(x * 10) / 10;
  if (m < 180) return `${round(m)} min`;
  if (m < 72 * 60) return `${round(m / 60)} h`;
  return `${round(m / 1440)} d`;
}

function viewLesson() {
  const step = currentStep();
  const time = step.time ? {
    start_s: parseDuration(step.time.start) || 0,
    ...(step.time.end ? { end_s: parseDuration(step.time.end) } : {}),
    play: Boolean(step.time.play),
  } : null;
  const hid = stepHologramId(step);
  const spec = (data().holograms || {})[hid] || {};
  const holo = hologramInfo && hologramInfo.hid === hid ? {
    assets: { glb: { path: hologramInfo.glb.replace(/^\//, '') } }, structures: hologramInfo.structures,
    legend: hologramInfo.legend || null, display: hologramInfo.display || {}, tracer: spec.tracer, until: spec.until,
    volumes: hologramInfo.volumes || null,
  } : { tracer: spec.tracer };
  return {
    holograms: { [hid]: holo },
    steps: [{ ...step, hologram: hid, ...(time ? { time } : { time: undefined }) }],
  };
}

// the step's slice plane: written into the step as the controls move (null: no slice)
const writeSlice = (slice, { view }) => {
  put(stepPath('slice'), slice);
  changed({ view, hologram: false, render: false });
};
const sliceControls = new SliceControls($('slice-controls'), { onChange: (slice) => writeSlice(slice, { view: true }) });
viewer.onSliceMove = (slice) => { // the plane dragged in the view (which shows it already): the controls follow
  sliceControls.setSlice(slice);
  writeSlice(slice, { view: false });
};

let shownStep = null;
function showView({ reframe = false } = {}) {
  const lesson = viewLesson();
  if (!lesson.holograms[Object.keys(lesson.holograms)[0]].assets) return;
  const keepView = !reframe && shownStep === studio.step;
  shownStep = studio.step;
  viewer.showStep(lesson, 0, { keepView });
  const holo = lesson.holograms[Object.keys(lesson.holograms)[0]];
  sliceControls.setVolumes(holo.volumes);
  sliceControls.setSlice(lesson.steps[0].slice || null);
  viewer.setSlice(holo.volumes ? lesson.steps[0].slice || null : null);
  timeline.setStep(stepTime(lesson, 0));
  renderStructureList();
}

function wireViewTools() {
  $('use-view').addEventListener('click', () => {
    const target = $('frame-selected').checked && studio.lastPick ? studio.lastPick : 'whole';
    const framing = viewer.framingNow(target);
    if (!framing) return;
    put(stepPath('framing'), framing.target === 'whole' ? { view: framing.view, zoom: framing.zoom } : framing);
    changed({ hologram: false, view: false });
    showStatus(`The step opens on this view (${framing.view}, zoom ${framing.zoom}).`, 'ok');
  });
  $('reset-view').addEventListener('click', () => viewer.resetView());
  $('time-start').addEventListener('click', () => {
    const time = { ...(currentStep().time || {}), start: quantityText(timeline.now()) };
    if (time.end && parseDuration(time.end) <= parseDuration(time.start)) delete time.end;
    put(stepPath('time'), time);
    changed({ hologram: false });
  });
  $('time-end').addEventListener('click', () => {
    const time = { ...(currentStep().time || {}), end: quantityText(timeline.now()) };
    put(stepPath('time'), time);
    changed({ hologram: false });
  });
  $('time-play').addEventListener('change', () => {
    const time = { ...(currentStep().time || {}) };
    if ($('time-play').checked) time.play = true;
    else delete time.play;
    put(stepPath('time'), Object.keys(time).length ? time : null);
    changed({ hologram: false, view: false });
  });
  $('time-clear').addEventListener('click', () => { put(stepPath('time'), null); changed({ hologram: false }); });
}

// ---------------------------------------------------------------------------- the hologram preview

let previewTimer = null;
let previewTicket = 0;
function schedulePreview(now = false) {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(preview, now ? 0 : 700);
}

/** The lesson cut to what one hologram needs: its metadata, that hologram, one step. */
function previewText(hid) {
  const d = data();
  return stringify({ ...d, holograms: { [hid]: d.holograms[hid] }, steps: [{ title: 'Preview', narration: 'Preview' }] });
}

async function preview() {
  const hid = stepHologramId();
  if (!hid) return;
  const spec = JSON.stringify((data().holograms || {})[hid]);
  const key = `${hid}:${spec}`;
  if (key === studio.previewKey) return;
  const ticket = ++previewTicket;
  const bar = $('hologram-progress');
  studio.previewState = 'running';
  try {
    const { job } = await studioApi(`/api/lessons/${lessonId}/preview`, {
      method: 'POST', json: { yaml: previewText(hid), hologram: hid },
    });
    const done = await waitForJob(job, (j) => { if (ticket === previewTicket) showJobProgress(bar, j); });
    if (ticket !== previewTicket) return;
    if (done.state === 'failed') throw new Error(done.error);
    showJobProgress(bar, null);
    hologramInfo = { hid, ...done.hologram };
    studio.previewKey = key;
    studio.previewState = 'done';
    studio.structures = hologramInfo.structures;
    showView({ reframe: true });
    renderStepFields();
  } catch (err) {
    if (ticket !== previewTicket) return;
    studio.previewState = 'failed';
    showJobProgress(bar, null);
    const where = err.errors ? ` (${err.errors[0].field})` : '';
    $('viewer-status').hidden = false;
    $('viewer-status').textContent = `The hologram cannot be built yet: ${err.message}${where}`;
  }
}

// ---------------------------------------------------------------------------- quiz

function slug(text) {
  return String(text || 'quiz').toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')
    .slice(0, 48) || 'quiz';
}

function freeQuizId(base) {
  const used = new Set(steps().map((s, i) => (i !== studio.step && s.quiz ? s.quiz.id : null)));
  let id = base;
  for (let n = 2; used.has(id); n += 1) id = `${base}-${n}`;
  return id;
}

function setQuizKind(kind) {
  const old = currentStep().quiz;
  if (!kind) {
    put(stepPath('quiz'), null);
  } else {
    const quiz = {
      id: (old && old.id) || freeQuizId(slug(currentStep().title)), kind,
      prompt: (old && old.prompt) || { identify: 'Tap the …', choice: 'Which …?', numeric: 'How much …?', order: 'Tap them in order: …' }[kind],
      ...(old && old.explanation ? { explanation: old.explanation } : {}),
    };
    if (kind === 'identify' || kind === 'order') quiz.answer = old && old.kind === kind ? old.answer : [];
    if (kind === 'choice') Object.assign(quiz, { options: ['First option', 'Second option'], answer: [0] });
    if (kind === 'numeric') Object.assign(quiz, { answer: '370 MBq', tolerance: '5 %' });
    doc.setIn(stepPath('quiz'), doc.createNode(quiz));
    for (const key of ['answer', 'options']) {
      const node = doc.getIn(stepPath('quiz', key), true);
      if (isSeq(node)) node.flow = true;
    }
    if (kind === 'identify' || kind === 'order') {
      tapMode = 'answer';
      document.querySelector('input[name="tap"][value="answer"]').checked = true;
    }
  }
  changed({ hologram: false });
}

function field(label, id, fieldName, value, onInput, { multiline = false, hint = '', onCommit = null } = {}) {
  const input = multiline ? h('textarea', { id, rows: '3', dataset: { field: fieldName } })
    : h('input', { type: 'text', id, dataset: { field: fieldName } });
  input.value = value || '';
  input.addEventListener('input', () => onInput(input.value));
  if (onCommit) input.addEventListener('change', () => onCommit(input.value));
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), input,
    hint ? h('span', { class: 'muted', text: hint }) : null);
}

function renderQuiz() {
  const quiz = currentStep().quiz;
  setValue($('quiz-kind'), quiz ? quiz.kind : '');
  const box = $('quiz-fields');
  if (!quiz) {
    box.replaceChildren();
    return;
  }
  const set = (key) => (value) => { put(stepPath('quiz', key), value); changed({ view: false, hologram: false, render: false }); };
  const parts = [
    field('Question', 'quiz-prompt', 'steps[].quiz.prompt', quiz.prompt, set('prompt')),
    field('Id (for results)', 'quiz-id', 'steps[].quiz.id', quiz.id, set('id')),
  ];
  if (quiz.kind === 'identify' || quiz.kind === 'order') {
    const answer = Array.isArray(quiz.answer) ? quiz.answer : [];
    parts.push(h('p', { dataset: { field: 'steps[].quiz.answer' }, id: 'quiz-answer' },
      `Answer${quiz.kind === 'order' ? ' (in order)' : ''}: `,
      ...answer.map((name, i) => h('button', {
        type: 'button', class: 'chip', text: `${quiz.kind === 'order' ? `${i + 1}. ` : ''}${display(name)} ✕`,
        'aria-label': `Remove ${display(name)} from the answer`, on: { click: () => toggle(name, 'answer') },
      })),
      answer.length ? null : h('span', { class: 'muted', text: 'none yet: choose “the quiz answer” above the view and tap.' })));
  } else if (quiz.kind === 'choice') {
    const optionsList = Array.isArray(quiz.options) ? quiz.options : [];
    const answer = Array.isArray(quiz.answer) ? quiz.answer : [];
    parts.push(field('Options, one a line', 'quiz-options', 'steps[].quiz.options', optionsList.join('\n'), (text) => {
      put(stepPath('quiz', 'options'), text.split('\n').map((l) => l.trim()).filter(Boolean), { keepEmpty: true });
      changed({ view: false, hologram: false, render: false });
    }, { multiline: true, onCommit: () => { renderQuiz(); showErrors(); } }));
    parts.push(h('fieldset', { dataset: { field: 'steps[].quiz.answer' } }, h('legend', { text: 'Right answers' }),
      ...optionsList.map((option, i) => h('label', {}, h('input', {
        type: 'checkbox', checked: answer.includes(i), on: {
          change: (event) => {
            const next = answer.filter((a) => a !== i);
            if (event.target.checked) next.push(i);
            put(stepPath('quiz', 'answer'), next.sort((a, b) => a - b), { keepEmpty: true });
            changed({ view: false, hologram: false });
          },
        },
      }), ` ${option}`))));
  } else if (quiz.kind === 'numeric') {
    parts.push(field('Answer with its unit', 'quiz-answer-text', 'steps[].quiz.answer', quiz.answer, set('answer'),
      { hint: 'e.g. 370 MBq, 6 h, 2.5 mSv' }));
    parts.push(field('Tolerance', 'quiz-tolerance', 'steps[].quiz.tolerance', quiz.tolerance, set('tolerance'),
      { hint: 'e.g. 5 % or 10 MBq' }));
  }
  parts.push(field('Explanation (shown with the answer)', 'quiz-explanation', 'steps[].quiz.explanation',
    quiz.explanation, set('explanation'), { multiline: true }));
  box.replaceChildren(...parts);
}

// ---------------------------------------------------------------------------- hologram settings

function select(label, id, fieldName, choices, value, onChange) {
  const el = h('select', { id, dataset: { field: fieldName } },
    ...choices.map(([v, text, disabled]) => h('option', { value: v, text, disabled: Boolean(disabled) })));
  el.value = value === undefined || value === null ? '' : String(value);
  if (el.value !== String(value ?? '') && value) el.append(h('option', { value, text: `${value} (as written)`, selected: true }));
  el.addEventListener('change', () => onChange(el.value));
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), el);
}

function renderHologram() {
  const hid = stepHologramId();
  const spec = (data().holograms || {})[hid] || {};
  const set = (key) => (value) => { put(['holograms', hid, key], value); changed(); };
  const setText = (key) => (value) => { put(['holograms', hid, key], value); changed({ render: false }); };
  const uploaded = (kinds) => files.filter((f) => kinds.includes(f.kind)).map((f) => [f.name, `uploaded: ${f.name}`]);
  const parts = [
    hologramIds().length > 1 ? select('This step shows', 'step-hologram', 'steps[].hologram',
      hologramIds().map((id) => [id, `hologram “${id}”`]), hid, (value) => {
        put(stepPath('hologram'), value === hologramIds()[0] ? null : value);
        changed();
      }) : null,
    select('Body', 'holo-source', 'holograms.source', [
      ...options.bodies.map((b) => [b.source, b.available ? b.name : `${b.name} (not imported)`, !b.available]),
      ...uploaded(['volume', 'dicom', 'folder']),
    ], spec.source, set('source')),
  ];
  const study = Boolean(spec.source && !/^(phantom|sample):/.test(spec.source)); // a patient's own files
  if (study) {
    parts.push(select('Label table', 'holo-labels', 'holograms.labels',
      [['', 'in the file (or numbers only)'], ['totalsegmentator', 'TotalSegmentator'], ...uploaded(['table'])],
      spec.labels, set('labels')));
  }
  // the fused slice's CT: made from the body, or (a study) the patient's own, which also gives the body outline
  parts.push(select(study ? 'CT (body outline and slice)' : 'CT for the slice', 'holo-ct', 'holograms.ct',
    [['', 'none'], ['synthetic', 'made from the structures (synthetic)'], ...(study ? uploaded(['volume', 'dicom', 'folder']) : [])],
    spec.ct, set('ct')));
  parts.push(select('Tracer', 'holo-tracer', 'holograms.tracer', [
    ['', 'none (anatomy only)'], ...options.tracers.map((t) => [t.id, `${t.name} (${t.id})`]),
    ...uploaded(['table', 'dicom', 'volume']),
  ], spec.tracer, set('tracer')));
  if (spec.tracer) {
    parts.push(field('Injected activity', 'holo-activity', 'holograms.activity', spec.activity, setText('activity'),
      { hint: 'e.g. 370 MBq (default: the tracer’s)' }));
    if (/\.csv$/i.test(spec.tracer)) {
      parts.push(field('Nuclide', 'holo-nuclide', 'holograms.nuclide', spec.nuclide, setText('nuclide'), { hint: 'e.g. F-18' }));
    }
    parts.push(select('Colour by', 'holo-quantity', 'holograms.quantity',
      [['', 'the default'], ...options.quantities.map((q) => [q, q === 'suv' ? 'SUV' : 'activity concentration'])],
      spec.quantity, set('quantity')));
    const win = Array.isArray(spec.window) ? spec.window : [];
    const lo = h('input', { type: 'number', id: 'holo-window-lo', step: 'any', value: win[0] ?? '', dataset: { field: 'holograms.window' } });
    const hi = h('input', { type: 'number', id: 'holo-window-hi', step: 'any', value: win[1] ?? '' });
    const setWindow = () => {
      const a = lo.value === '' ? null : Number(lo.value);
      const b = hi.value === '' ? null : Number(hi.value);
      put(['holograms', hid, 'window'], a === null && b === null ? null : [a ?? 0, b ?? 0]);
      changed();
    };
    lo.addEventListener('change', setWindow);
    hi.addEventListener('change', setWindow);
    parts.push(h('div', { class: 'field' }, h('span', { text: 'Colour window (empty: automatic) ' }),
      h('label', { for: 'holo-window-lo', text: 'from' }), lo, h('label', { for: 'holo-window-hi', text: 'to' }), hi));
  }
  if (spec.tracer || spec.pet) {
    parts.push(select('PET for the slice', 'holo-pet', 'holograms.pet',
      [['', 'none'], ...(spec.tracer ? [['synthetic', 'from the tracer model (synthetic)']] : []),
        ...(study ? uploaded(['volume', 'dicom', 'folder']) : [])], spec.pet, set('pet')));
  }
  parts.push(select('Device profile', 'holo-profile', 'holograms.profile',
    options.profiles.map((p) => [p, { phone: 'phone (and Quest)', hololens: 'HoloLens 2', desktop: 'desktop' }[p] || p]),
    spec.profile || 'phone', set('profile')));
  $('hologram-fields').replaceChildren(...parts.filter(Boolean));
}

// ---------------------------------------------------------------------------- files

async function loadFiles() {
  files = await studioApi(`/api/lessons/${lessonId}/files`);
  $('files').replaceChildren(...(files.length ? files.map((f) => h('li', {},
    h('code', { text: f.name }), ` ${f.kind}, ${(f.size / 1e6).toFixed(2)} MB `,
    h('button', {
      type: 'button', class: 'icon', 'aria-label': `Delete ${f.name}`, text: '✕',
      on: { click: () => deleteFile(f.name) },
    }))) : [h('li', { class: 'muted', text: 'No files: the lesson uses built-in bodies and tracers.' })]));
}

async function deleteFile(name) {
  try {
    await studioApi(`/api/lessons/${lessonId}/files/${encodeURIComponent(name)}`, { method: 'DELETE' });
    await loadFiles();
    renderHologram();
    scheduleValidate();
  } catch (err) {
    showStatus(err.message, 'error');
  }
}

function wireUploads() {
  $('upload-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('upload-input');
    if (!input.files.length) return;
    const form = new FormData();
    for (const f of input.files) form.append('file', f);
    showStatus('Uploading and checking…');
    try {
      const out = await studioApi(`/api/lessons/${lessonId}/files`, { method: 'POST', form });
      showStatus(`Stored ${out.files.map((f) => `${f.name} (${f.about})`).join(', ')}: choose it in the hologram's ` +
        'settings.', 'ok');
      input.value = '';
      await loadFiles();
      renderHologram();
      scheduleValidate(); // a file a problem named may be here now
    } catch (err) {
      showStatus(`Not stored: ${err.message}`, 'error');
    }
  });
}

// ---------------------------------------------------------------------------- save, build, session

function setSaveState(text) {
  $('save-state').textContent = text;
}

async function save({ overwrite = false, note = '' } = {}) {
  if (studio.saving) return false;
  studio.saving = true;
  const text = doc.toString();
  try {
    let etag = studio.etag;
    if (overwrite) etag = (await studioApi(`/api/lessons/${lessonId}/source`)).etag;
    const out = await studioApi(`/api/lessons/${lessonId}/source`, {
      method: 'PUT', json: { yaml: text, note }, headers: etag ? { 'If-Match': `"${etag}"` } : {},
    });
    studio.etag = out.etag;
    studio.version = out.version;
    $('conflict').hidden = true;
    if (text === doc.toString()) {
      studio.dirty = false;
      store.set(draftKey, '');
    } else { // typed on while it saved: the draft now builds on the new version
      store.set(draftKey, JSON.stringify({ yaml: doc.toString(), etag: studio.etag, at: Date.now() }));
    }
    setSaveState(`Saved (version ${out.version}).`);
    return true;
  } catch (err) {
    if (err.status === 409) {
      $('conflict-text').textContent = 'This lesson was saved in another tab or by another lecturer since you opened ' +
        'it. Nothing was overwritten.';
      $('conflict').hidden = false;
      studio.conflict = true;
      setSaveState('Not saved: conflict.');
    } else if (err.status === 422 && err.errors) {
      studio.errors = err.errors;
      showErrors();
      setSaveState(`Not saved: ${err.errors.length} ${err.errors.length === 1 ? 'problem' : 'problems'} to fix first.`);
    } else {
      setSaveState(`Not saved: ${err.message}`);
    }
    return false;
  } finally {
    studio.saving = false;
  }
}

async function build() {
  if ((studio.dirty || studio.version === 0) && !(await save())) return;
  const bar = $('build-progress');
  $('build').disabled = true;
  try {
    const { job } = await studioApi(`/api/lessons/${lessonId}/build`, {
      method: 'POST', headers: { 'If-Match': `"${studio.etag}"` },
    });
    studio.buildState = 'running';
    const done = await waitForJob(job, (j) => showJobProgress(bar, j));
    showJobProgress(bar, null);
    if (done.state === 'failed') throw new Error(done.error);
    studio.built = done.sha256;
    studio.buildState = 'done';
    showStatus('Built: the lesson is in the library. Preview it as a student, or start a session.', 'ok');
    updateLinks();
  } catch (err) {
    studio.buildState = 'failed';
    showStatus(`The build failed: ${err.message}`, 'error');
  } finally {
    $('build').disabled = false;
  }
}

function updateLinks() {
  const link = $('preview-student');
  link.setAttribute('aria-disabled', studio.built ? 'false' : 'true');
  link.title = studio.built ? 'Opens the built lesson in a new tab' : 'Build the lesson first';
  $('start-session').disabled = !studio.built;
}

async function startSession() {
  try {
    const out = await studioApi('/api/sessions', { method: 'POST', json: { lesson: lessonId } });
    // the console on this very server as the studio reached it (the public URL is the students')
    const url = `/l/${out.code}#${out.control_token}`;
    studio.session = { code: out.code, join_url: out.join_url };
    const opened = window.open(url, '_blank', 'noopener');
    showStatus('', '');
    const status = $('status');
    status.hidden = false;
    status.className = 'status ok';
    status.replaceChildren(`Session ${out.code} started. `,
      h('a', { href: url, target: '_blank', rel: 'noopener', text: opened ? 'Open the console again' : 'Open the lecturer console' }),
      ` · students join at ${out.join_url}`);
  } catch (err) {
    showStatus(err.message, 'error');
  }
}

// ---------------------------------------------------------------------------- history and source

async function openHistory() {
  const list = $('history-list');
  list.replaceChildren(h('li', { class: 'muted', text: 'Loading…' }));
  $('history').showModal();
  let versions;
  try {
    versions = await studioApi(`/api/lessons/${lessonId}/history`);
  } catch (err) {
    list.replaceChildren(h('li', { class: 'error', text: err.message }));
    return;
  }
  list.replaceChildren(...(versions.length ? versions.map((v) => h('li', { dataset: { version: String(v.version) } },
    h('span', { text: `Version ${v.version} · ${new Date(v.saved_at).toLocaleString()}${v.note ? ` · ${v.note}` : ''}` +
      `${v.title ? ` · “${v.title}”` : ''}` }),
    v.version === studio.version ? h('span', { class: 'muted', text: ' (open now)' }) : h('button', {
      type: 'button', text: 'Revert to this', 'aria-label': `Revert to version ${v.version}`,
      on: { click: () => revert(v.version) },
    }))) : [h('li', { class: 'muted', text: 'Not saved here yet.' })]));
}

async function revert(version) {
  try {
    const old = await studioApi(`/api/lessons/${lessonId}/history/${version}`);
    const problem = useText(old.yaml);
    if (problem) throw new Error(`version ${version} cannot be read: ${problem.message.split('\n')[0]}`);
    $('history').close();
    if (await save({ note: `revert to version ${version}` })) showStatus(`Reverted to version ${version}.`, 'ok');
  } catch (err) {
    showStatus(err.message, 'error');
  }
}

function useText(text) {
  const next = parseDocument(text);
  if (next.errors.length) return next.errors[0];
  doc = next;
  studio.step = Math.min(studio.step, Math.max(0, steps().length - 1));
  changed();
  return null;
}

function wireSource() {
  $('source-open').addEventListener('click', () => {
    $('source-text').value = doc.toString();
    $('source-problem').hidden = true;
    $('source').showModal();
  });
  $('source-close').addEventListener('click', () => $('source').close());
  $('source-apply').addEventListener('click', () => {
    const problem = useText($('source-text').value);
    if (problem) {
      const pos = problem.linePos && problem.linePos[0];
      $('source-problem').textContent = `${pos ? `Line ${pos.line}, column ${pos.col}: ` : ''}${problem.message.split('\n')[0]}`;
      $('source-problem').hidden = false;
      return;
    }
    $('source').close();
  });
}

// ---------------------------------------------------------------------------- start

function renderAll() {
  renderSteps();
  renderStepFields();
  renderQuiz();
  renderHologram();
  renderNarration();
  renderStructureList();
  showErrors();
  setSaveState(studio.dirty ? 'Unsaved changes.' : (studio.version ? `Saved (version ${studio.version}).` : ''));
}

async function load() {
  const source = await studioApi(`/api/lessons/${lessonId}/source`);
  studio.etag = source.etag;
  studio.version = source.version;
  studio.built = source.built;
  files = source.files;
  let text = source.yaml;
  try {
    const draft = JSON.parse(store.get(draftKey) || 'null');
    if (draft && draft.yaml && draft.yaml !== text && draft.etag === source.etag) {
      text = draft.yaml;
      studio.dirty = true;
      showStatus('Your unsaved changes from before are back. Save them, or revert in History.', 'ok');
    }
  } catch {
    // no draft
  }
  doc = parseDocument(text);
  if (source.recovered) {
    showStatus('This lesson came as a bundle: its lesson.yaml was recovered from it. Check it, then save.', 'ok');
  }
}

async function start() {
  $('add-step').addEventListener('click', addStep);
  $('save').addEventListener('click', () => save());
  $('build').addEventListener('click', build);
  $('start-session').addEventListener('click', startSession);
  $('history-open').addEventListener('click', openHistory);
  $('conflict-load').addEventListener('click', async () => {
    const source = await studioApi(`/api/lessons/${lessonId}/source`);
    const problem = useText(source.yaml);
    if (problem) {
      showStatus(`Their version cannot be read here: ${problem.message.split('\n')[0]}`, 'error');
      return;
    }
    studio.etag = source.etag;
    studio.version = source.version;
    studio.dirty = false;
    store.set(draftKey, '');
    $('conflict').hidden = true;
    setSaveState(`Loaded version ${source.version}.`);
  });
  $('conflict-keep').addEventListener('click', () => save({ overwrite: true, note: 'saved over a conflict' }));
  $('preview-student').addEventListener('click', (event) => {
    if (!studio.built) {
      event.preventDefault();
      showStatus('Build the lesson first: the student page shows the library’s version.', 'error');
    }
  });
  $('quiz-kind').addEventListener('change', () => setQuizKind($('quiz-kind').value));
  wireStepFields();
  wireTapMode();
  wireViewTools();
  wireUploads();
  wireSource();
  window.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 's') {
      event.preventDefault();
      if ($('source').open) { // the text being edited there is what is saved, or nothing
        $('source-apply').click();
        if ($('source').open) return;
      }
      save();
    } else if (!isTyping(event.target) && !event.ctrlKey && !event.metaKey && !event.altKey &&
        !(event.target instanceof HTMLCanvasElement) && (event.key === 'PageDown' || event.key === 'PageUp')) {
      event.preventDefault();
      selectStep(studio.step + (event.key === 'PageDown' ? 1 : -1));
    }
  });
  window.addEventListener('beforeunload', (event) => {
    if (studio.dirty) event.preventDefault();
  });
  try {
    [options] = await Promise.all([studioApi('/api/studio/options'), load()]);
  } catch (err) {
    showStatus(err.message, 'error');
    return;
  }
  if (!isMap(doc.contents)) {
    showStatus('This lesson.yaml is not a mapping: fix it in the lesson.yaml view.', 'error');
  }
  renderAll();
  updateLinks();
  schedulePreview(true);
  await validate();
  studio.ready = true;
}

start();

// Quizzes: the answer forms for the four kinds (identify, choice, numeric, order), the
// text of an answer, whether it matches a revealed answer, and the answer distribution.
//
// Answer values (what the server stores): identify = a structure name, choice = [option
// indices], numeric = the typed text with its unit ("370 MBq"), order = [structure names].

import { h, structureName } from '../core/common.js';

const KIND_HINT = {
  identify: 'Tap the structure in the list.',
  choice: 'Tick every answer you think is right.',
  numeric: 'Type a number with its unit, for example 370 MBq or 2.5 h.',
  order: 'Put the items in order with the arrow buttons: first at the top.',
};

/** The text people read for an answer ``value`` to ``quiz``. */
export function answerText(quiz, value) {
  if (value === null || value === undefined) return '';
  switch (quiz && quiz.kind) {
    case 'identify':
      return Array.isArray(value) ? value.map(structureName).join(' or ') : structureName(value);
    case 'choice': {
      const options = (quiz && quiz.options) || [];
      const list = Array.isArray(value) ? value : [value];
      return list.map((i) => (options[i] !== undefined ? options[i] : `option ${Number(i) + 1}`)).join(' + ');
    }
    case 'order':
      return Array.isArray(value) ? value.map(structureName).join(' → ') : String(value);
    default:
      return String(value);
  }
}

/** true / false when ``value`` can be compared with the revealed ``answer``; null for
 * numeric answers (graded by the server with units and tolerance). */
export function matches(quiz, value, answer) {
  if (answer === null || answer === undefined || value === null || value === undefined) return null;
  switch (quiz && quiz.kind) {
    case 'identify':
      return Array.isArray(answer) ? answer.includes(value) : answer === value;
    case 'choice': {
      const a = [...(Array.isArray(value) ? value : [value])].sort((x, y) => x - y);
      const b = [...answer].sort((x, y) => x - y);
      return a.length === b.length && a.every((v, i) => v === b[i]);
    }
    case 'order':
      return Array.isArray(value) && Array.isArray(answer) && value.length === answer.length &&
        value.every((v, i) => v === answer[i]);
    default:
      return null;
  }
}

/**
 * An answer form for ``quiz`` (from the lesson: prompt, kind, options / items).
 * ``structures``: the hologram's structure names (identify). ``previous``: an answer given
 * before (pre-filled). ``onSubmit(value)`` returns a Promise of {ok, message?}.
 * Returns the <form>.
 */
export function quizForm(quiz, { structures = [], previous = null, onSubmit, submitLabel = 'Send answer' }) {
  const form = h('form', { class: `quiz-form kind-${quiz.kind}`, dataset: { quiz: quiz.id, kind: quiz.kind } });
  form.noValidate = true;
  const hint = h('p', { class: 'hint', text: KIND_HINT[quiz.kind] || '' });
  const feedback = h('p', { class: 'feedback', role: 'status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'primary', text: submitLabel });
  let read = () => null;

  if (quiz.kind === 'identify') {
    const list = h('div', { class: 'choices structures', role: 'radiogroup', 'aria-label': 'Structures' });
    const sorted = [...structures].sort((a, b) => structureName(a).localeCompare(structureName(b)));
    for (const name of sorted) {
      const input = h('input', { type: 'radio', name: `q-${quiz.id}`, value: name, checked: previous === name });
      list.append(h('label', { class: 'choice', dataset: { value: name } }, input, h('span', { text: structureName(name) })));
    }
    read = () => {
      const checked = list.querySelector('input:checked');
      return checked ? checked.value : null;
    };
    form.append(hint, list);
  } else if (quiz.kind === 'choice') {
    const list = h('div', { class: 'choices' });
    const chosen = new Set(Array.isArray(previous) ? previous : []);
    (quiz.options || []).forEach((text, i) => {
      const input = h('input', { type: 'checkbox', name: `q-${quiz.id}`, value: String(i), checked: chosen.has(i) });
      list.append(h('label', { class: 'choice', dataset: { value: String(i) } }, input, h('span', { text })));
    });
    read = () => {
      const values = [...list.querySelectorAll('input:checked')].map((el) => Number(el.value));
      return values.length ? values : null;
    };
    form.append(hint, list);
  } else if (quiz.kind === 'numeric') {
    const id = `q-${quiz.id}-value`;
    const input = h('input', {
      type: 'text', id, name: 'value', inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false',
      maxlength: '64', placeholder: 'e.g. 370 MBq', value: typeof previous === 'string' ? previous : '',
    });
    read = () => (input.value.trim() ? input.value.trim() : null);
    form.append(hint, h('label', { for: id, class: 'numeric' }, h('span', { text: 'Your answer' }), input));
  } else if (quiz.kind === 'order') {
    const items = Array.isArray(previous) && previous.length ? [...previous] : [...(quiz.items || [])];
    const list = h('ol', { class: 'order' });
    const draw = () => {
      list.replaceChildren();
      items.forEach((name, i) => {
        const up = h('button', {
          type: 'button', class: 'icon', text: '↑', 'aria-label': `Move ${structureName(name)} up`, disabled: i === 0,
          on: { click: () => move(i, -1) },
        });
        const down = h('button', {
          type: 'button', class: 'icon', text: '↓', 'aria-label': `Move ${structureName(name)} down`,
          disabled: i === items.length - 1, on: { click: () => move(i, 1) },
        });
        list.append(h('li', { dataset: { value: name } }, h('span', { class: 'item', text: structureName(name) }), up, down));
      });
    };
    const move = (i, delta) => {
      const j = i + delta;
      if (j < 0 || j >= items.length) return;
      [items[i], items[j]] = [items[j], items[i]];
      draw();
      const button = list.children[j] && list.children[j].querySelectorAll('button')[delta < 0 ? 0 : 1];
      if (button && !button.disabled) button.focus();
    };
    draw();
    read = () => [...items];
    form.append(hint, list);
  } else {
    form.append(h('p', { text: 'This kind of question cannot be answered on this page.' }));
    submit.disabled = true;
  }

  form.append(h('div', { class: 'actions' }, submit), feedback);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = read();
    if (value === null) {
      feedback.className = 'feedback error';
      feedback.textContent = quiz.kind === 'numeric' ? 'Type your answer first.' : 'Choose an answer first.';
      return;
    }
    submit.disabled = true;
    feedback.className = 'feedback';
    feedback.textContent = 'Sending…';
    try {
      const result = await onSubmit(value);
      feedback.className = result && result.ok ? 'feedback ok' : 'feedback error';
      feedback.textContent = (result && result.message) || (result && result.ok ? 'Answer received.' : 'Not sent.');
      form.dataset.submitted = result && result.ok ? 'true' : 'false';
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/**
 * The answer distribution after a reveal: one bar per answer given, the correct ones
 * marked. ``counts`` = state.quiz.counts ({participants, answered, distribution, correct}).
 */
export function distributionView(quiz, counts, answer, { mine = undefined } = {}) {
  const rows = [...((counts && counts.distribution) || [])].sort((a, b) => b.count - a.count);
  const answered = (counts && counts.answered) || 0;
  const box = h('div', { class: 'distribution', dataset: { answered: String(answered) } });
  if (answer !== undefined && answer !== null) {
    box.append(h('p', { class: 'answer' }, h('span', { class: 'label', text: 'Answer: ' }),
      h('strong', { text: answerText(quiz, answer) })));
  }
  if (rows.length === 0) {
    box.append(h('p', { class: 'muted', text: 'Nobody answered.' }));
    return box;
  }
  const list = h('ul', { class: 'bars' });
  const max = Math.max(...rows.map((r) => r.count), 1);
  for (const row of rows) {
    const right = matches(quiz, row.value, answer);
    const bar = h('span', { class: 'bar' });
    bar.style.width = `${Math.max(2, (100 * row.count) / max)}%`;
    const isMine = mine !== undefined && JSON.stringify(mine) === JSON.stringify(row.value);
    list.append(h('li', { class: right === true ? 'correct' : right === false ? 'wrong' : '', dataset: { count: String(row.count) } },
      h('span', { class: 'value', text: `${answerText(quiz, row.value)}${right === true ? ' ✓' : ''}${isMine ? ' (you)' : ''}` }),
      h('span', { class: 'track' }, bar),
      h('span', { class: 'count', text: String(row.count) })));
  }
  box.append(list);
  if (counts && Number.isFinite(counts.correct)) {
    box.append(h('p', { class: 'muted', text: `${counts.correct} of ${answered} correct` }));
  }
  return box;
}

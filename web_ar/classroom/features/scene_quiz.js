// The quiz inside the AR scene, one feature for the student and self-paced pages: a headset
// has no page to type into, so every quiz kind is answered with in-scene buttons (xr_ui.js
// rows) and selects on the hologram.
//
// - choice: one button per option (toggles; several may be right), then "Send answer";
// - numeric: a keypad (digits, point, back, clear) and the units nuclear-medicine questions
//   are asked in; the number with its unit is shown as it is typed ("370 MBq") and the
//   chosen unit's key stays pressed; the server converts units when it grades;
// - order: press the items, or select the structures on the hologram, in order; "Undo"
//   takes the last one back, "Start over" all of them;
// - identify: select the structure on the hologram (that is the answer, sent at once).
//
// The page says what to show (``show(view)``) and how an answer is taken (``send``: the
// session's socket on the student page, the local record on the self-paced page); the
// feature keeps the answer being made, draws it, and routes the scene's buttons
// (``action(id)``) and selects (``pick(name)``) to it.

import { answerText, matches } from './quiz.js';

/** The keypad's units: what nuclear-medicine questions are asked in (the server converts). */
export const SCENE_UNITS = ['MBq', 'GBq', 'mCi', 'kBq/mL', 'min', 'h', 'd', 'mSv', 'mGy', '%'];

/** "370 MBq" -> ['370', 'MBq']; "37" -> ['37', '']. */
export function splitNumeric(text) {
  const m = /^([0-9.]*)\s*(.*)$/.exec(text || '');
  return [m[1], m[2]];
}

export class SceneQuiz {
  /**
   * ``xrui``: the page's XRUI. Options: ``name(structure)`` the display name;
   * ``send(quiz, value)`` -> Promise<{ok, message}> takes an answer (the page also shows it
   * in its own form); ``sentWord``: how a taken answer is called ('Sent', 'Submitted');
   * ``withCaptions``: keep the captions beside the quiz (no lecturer opens or closes it).
   */
  constructor(xrui, { name = (n) => n, send, sentWord = 'Sent', withCaptions = false }) {
    this.xrui = xrui;
    this.name = name;
    this.send = send;
    this.sentWord = sentWord;
    this.withCaptions = withCaptions;
    this.view = null;
    this.draft = null; // {quizId, chosen: Set (choice), order: [names], text (numeric)}
    this.feedback = '';
    this.sending = false;
  }

  /**
   * What the scene shows: null (no quiz), or {quiz (the lesson's), phase: 'open' |
   * 'waiting' (not open yet, or closed) | 'revealed', mine (the answer taken, or
   * undefined), answer (revealed)}.
   */
  show(view) {
    const next = view && view.quiz ? view : null;
    const same = Boolean(next && this.view && this.view.quiz.id === next.quiz.id);
    if (!same) this.feedback = '';
    if (!next || next.phase !== 'open' || (this.draft && this.draft.quizId !== next.quiz.id)) this.draft = null;
    this.view = next;
    this.draw();
  }

  /** Text for an answer, with the hologram's display names for structures. */
  text(quiz, value) {
    if (quiz.kind === 'identify' && typeof value === 'string') return this.name(value);
    if (quiz.kind === 'order' && Array.isArray(value)) return value.map((n) => this.name(n)).join(' → ');
    return answerText(quiz, value);
  }

  /** A button pressed in the scene; true when it was the quiz's. */
  action(id) {
    const v = this.view;
    if (!v || v.phase !== 'open' || v.quiz.kind === 'identify') return false;
    if (id === 'send') {
      this.submit();
      return true;
    }
    const a = this.ensureDraft();
    const quiz = v.quiz;
    if (id.startsWith('option:') && quiz.kind === 'choice') {
      const i = Number(id.slice(7));
      if (a.chosen.has(i)) a.chosen.delete(i);
      else a.chosen.add(i);
    } else if (id.startsWith('option:') && quiz.kind === 'order') {
      const item = (quiz.items || [])[Number(id.slice(7))];
      if (item && !a.order.includes(item)) a.order.push(item);
    } else if (id === 'order-undo' && quiz.kind === 'order') {
      a.order.pop();
    } else if (id === 'order-reset' && quiz.kind === 'order') {
      a.order = [];
    } else if (id.startsWith('key:') && quiz.kind === 'numeric') {
      const key = id.slice(4);
      const [number, unit] = splitNumeric(a.text);
      if (key === 'back') a.text = unit ? number : number.slice(0, -1);
      else if (key === 'clear') a.text = '';
      else if (key.startsWith('unit:')) a.text = number ? `${number} ${key.slice(5)}` : '';
      else if (/^[0-9.]$/.test(key) && !(key === '.' && number.includes('.')) && number.length < 12) {
        a.text = `${number}${key}${unit ? ` ${unit}` : ''}`;
      }
    } else {
      return false;
    }
    this.feedback = '';
    this.draw();
    return true;
  }

  /** A structure selected on the hologram while a quiz is open: the next item of an order,
   * or an identify quiz's answer. True when the quiz took it. */
  pick(structure) {
    const v = this.view;
    if (!structure || !v || v.phase !== 'open') return false;
    const quiz = v.quiz;
    if (quiz.kind === 'identify') {
      this.submit(structure);
      return true;
    }
    if (quiz.kind === 'order') {
      const i = (quiz.items || []).indexOf(structure);
      if (i < 0) return false;
      return this.action(`option:${i}`);
    }
    return false;
  }

  ensureDraft() {
    const { quiz, mine } = this.view;
    if (!this.draft || this.draft.quizId !== quiz.id) {
      this.draft = {
        quizId: quiz.id,
        chosen: new Set(quiz.kind === 'choice' && Array.isArray(mine) ? mine : []),
        order: quiz.kind === 'order' && Array.isArray(mine) ? [...mine] : [],
        text: quiz.kind === 'numeric' && typeof mine === 'string' ? mine : '',
      };
    }
    return this.draft;
  }

  /** The answer being made, as the server takes it, or null while incomplete. */
  value() {
    const quiz = this.view.quiz;
    const { chosen, order, text } = this.ensureDraft();
    if (quiz.kind === 'choice') return chosen.size ? [...chosen].sort((a, b) => a - b) : null;
    if (quiz.kind === 'order') return order.length === (quiz.items || []).length ? [...order] : null;
    if (quiz.kind === 'numeric') return /[0-9]/.test(text) ? text.trim() : null;
    return null;
  }

  async submit(picked = undefined) {
    const quiz = this.view.quiz;
    const value = picked !== undefined ? picked : this.value();
    if (value === null) {
      this.feedback = quiz.kind === 'order' ? 'Put every item in order first.' : quiz.kind === 'numeric'
        ? 'Type a number (and its unit) first.' : 'Choose an answer first.';
      this.draw();
      return;
    }
    this.feedback = 'Sending…';
    this.draw();
    let result;
    try {
      result = await this.send(quiz, value);
    } catch (err) {
      result = { ok: false, message: (err && err.message) || 'The answer could not be taken.' };
    }
    if (this.view && this.view.quiz.id === quiz.id) {
      this.feedback = (result && result.message) || (result && result.ok ? `${this.sentWord}.` : 'Not sent.');
      this.draw();
    }
  }

  draw() {
    const v = this.view;
    const xrui = this.xrui;
    if (!v) {
      xrui.setQuiz(null);
      return;
    }
    const { quiz, phase, mine } = v;
    const lines = [];
    const withCaptions = this.withCaptions;
    if (phase === 'revealed') {
      const right = mine === undefined ? null : matches(quiz, mine, v.answer);
      lines.push(mine === undefined ? 'You did not answer this one.'
        : `Your answer: ${answerText(quiz, mine)}${right === null ? '' : right ? ' (correct)' : ' (not right)'}`);
      if (v.answer !== undefined && v.answer !== null) lines.push(`Answer: ${answerText(quiz, v.answer)}`);
      if (quiz.explanation) lines.push(quiz.explanation);
      xrui.setQuiz({ title: quiz.prompt, lines, withCaptions });
      return;
    }
    if (phase !== 'open') {
      if (mine === undefined) {
        xrui.setQuiz(null); // before the quiz opens the captions keep the space
        return;
      }
      lines.push(`Your answer (${answerText(quiz, mine)}) was sent. The results come when your lecturer shows them.`);
      xrui.setQuiz({ title: quiz.prompt, lines, withCaptions });
      return;
    }
    const status = [];
    const sent = mine !== undefined ? `${this.sentWord}: ${this.text(quiz, mine)}` : '';
    if (quiz.kind === 'identify') {
      lines.push('Select the structure on the hologram.');
      if (this.feedback) status.push(this.feedback);
      else if (sent) status.push(sent);
      xrui.setQuiz({ title: quiz.prompt, lines, status, withCaptions });
      return;
    }
    const a = this.ensureDraft();
    const rows = [];
    if (quiz.kind === 'choice') {
      lines.push('Choose one or more, then Send answer.');
      rows.push(...(quiz.options || []).map((text, i) => [{ id: `option:${i}`, text, pressed: a.chosen.has(i) }]));
    } else if (quiz.kind === 'order') {
      lines.push('Press the items (or select them on the hologram) in order, then Send answer.');
      status.push(a.order.length ? `Your order: ${a.order.map((n) => this.name(n)).join(' → ')}` : 'Your order: none yet');
      rows.push(...(quiz.items || []).map((n, i) => {
        const at = a.order.indexOf(n);
        return [{ id: `option:${i}`, text: at < 0 ? this.name(n) : `${at + 1}. ${this.name(n)}`, pressed: at >= 0 }];
      }));
      rows.push([{ id: 'order-undo', text: 'Undo' }, { id: 'order-reset', text: 'Start over' }]);
    } else if (quiz.kind === 'numeric') {
      const [, unit] = splitNumeric(a.text);
      lines.push('Type the number, then its unit.');
      status.push(`Your answer: ${a.text || '…'}${a.text && !unit ? ' (no unit yet)' : ''}`);
      const key = (k, text = k) => ({ id: `key:${k}`, text });
      const unitKey = (u) => ({ ...key(`unit:${u}`, u), pressed: unit === u });
      rows.push([key('7'), key('8'), key('9'), key('back', '⌫')], [key('4'), key('5'), key('6'), key('clear', 'Clear')],
        [key('1'), key('2'), key('3'), key('0')], [key('.'), ...SCENE_UNITS.slice(0, 3).map(unitKey)]);
      for (let i = 3; i < SCENE_UNITS.length; i += 4) rows.push(SCENE_UNITS.slice(i, i + 4).map(unitKey));
    } else {
      lines.push('This kind of question cannot be answered here.');
      xrui.setQuiz({ title: quiz.prompt, lines, withCaptions });
      return;
    }
    if (this.feedback) status.push(this.feedback);
    else if (sent) status.push(sent);
    rows.push([{ id: 'send', text: 'Send answer' }]);
    xrui.setQuiz({ title: quiz.prompt, lines, rows, status, withCaptions });
  }
}

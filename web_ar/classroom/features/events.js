// The events the classroom pages dispatch on ``window``, typed: what a page has done, for
// whoever waits on it (tests, an embedding page, a future plugin) instead of polling or
// sleeping. Every event is a CustomEvent whose ``detail`` is a plain, JSON-able object.
//
//   import { emit } from '../features/events.js';
//   emit('arkit:loaded', { page: 'student', step: 2, url, structures: 42, visible: 9 });
//
//   window.addEventListener('arkit:state', (e) => console.log(e.detail.step));
//
// Events that fired before a listener was added are not lost: each one is also recorded, in
// order, in ``window.__arkitEvents`` ([{name, detail, at_ms}], at_ms from performance.now()),
// so a waiter first looks there, then listens (tests/web/events.py does both). A reload
// starts an empty record.

/**
 * The page that dispatched an event.
 * @typedef {'student' | 'projection' | 'lecturer' | 'self-paced' | 'library' | null} ArkitPage
 */

/**
 * ``arkit:loaded``: the step's hologram is in the view (downloaded, or already there from
 * an earlier step) and the step's visibility, labels and framing are applied.
 * @typedef {Object} ArkitLoadedDetail
 * @property {ArkitPage} page
 * @property {number} step        index of the step shown
 * @property {string} url         the GLB's address
 * @property {number} structures  how many structures the file holds
 * @property {number} visible     how many of them the step shows
 * @property {boolean} cached     true when the file was already in the view (no download)
 */

/**
 * ``arkit:state``: a lesson state was applied to the page: a live state from the session
 * (student, projection, lecturer; ``live`` true), or the self-paced page's own step change
 * (``live`` false, ``rev`` 0).
 * @typedef {Object} ArkitStateDetail
 * @property {ArkitPage} page
 * @property {boolean} live
 * @property {number} rev         the state's revision (0 for the self-paced page)
 * @property {number} step
 * @property {{id: string, open: boolean, revealed: boolean} | null} quiz
 * @property {{time_s: number, playing: boolean, rate: number} | null} playback
 * @property {string | null} highlight
 * @property {boolean} ended
 */

/**
 * ``arkit:ar-status``: what immersive AR does on this page.
 * ``available``: the device offers a session (the "View in AR" button shows);
 * ``unsupported``: it does not (no WebXR, no WebGL, or no immersive mode);
 * ``started`` / ``ended``: a session began / ended; ``placed``: the hologram was placed in
 * the room (``placedBy`` says how); ``error``: a session could not start (``error`` says why).
 * @typedef {Object} ArkitARStatusDetail
 * @property {ArkitPage} page
 * @property {'available' | 'unsupported' | 'started' | 'ended' | 'placed' | 'error'} status
 * @property {'immersive-ar' | 'immersive-vr' | null} mode
 * @property {string | null} [placedBy]  'hit-test' | 'fallback' (status 'placed')
 * @property {string | null} [error]     (status 'error')
 */

/**
 * ``arkit:answer``: an answer to a quiz was taken: sent to the session and acknowledged
 * (``ok``), refused (``ok`` false, ``error`` the server's code), or, on the self-paced page,
 * recorded and graded locally.
 * @typedef {Object} ArkitAnswerDetail
 * @property {ArkitPage} page
 * @property {string} quiz          the quiz id
 * @property {string} kind          identify | choice | numeric | order
 * @property {*} value              the answer as the server takes it
 * @property {boolean} ok
 * @property {boolean | null} correct  null when the page cannot know (live sessions grade on the server)
 * @property {'scene' | 'page'} from   answered in the AR scene or on the page
 * @property {string | null} [error]
 */

/**
 * The event names and their details.
 * @typedef {{
 *   'arkit:loaded': ArkitLoadedDetail,
 *   'arkit:state': ArkitStateDetail,
 *   'arkit:ar-status': ArkitARStatusDetail,
 *   'arkit:answer': ArkitAnswerDetail,
 * }} ArkitEventMap
 */

/** @type {ReadonlyArray<keyof ArkitEventMap>} */
export const EVENTS = Object.freeze(['arkit:loaded', 'arkit:state', 'arkit:ar-status', 'arkit:answer']);

/** The page role the events carry (set once by the page, e.g. 'student'). */
let page = null;

/** @param {ArkitPage} role */
export function setPage(role) {
  page = role;
}

/**
 * Dispatches ``name`` on window with ``detail`` (``page`` added), and records it in
 * window.__arkitEvents.
 * @template {keyof ArkitEventMap} K
 * @param {K} name
 * @param {Omit<ArkitEventMap[K], 'page'>} detail
 */
export function emit(name, detail) {
  if (!EVENTS.includes(name)) throw new Error(`not an arkit event: ${name}`);
  if (typeof window === 'undefined') return;
  const full = { page, ...detail };
  const record = window.__arkitEvents || (window.__arkitEvents = []);
  record.push({ name, detail: full, at_ms: performance.now() });
  window.dispatchEvent(new CustomEvent(name, { detail: full }));
}

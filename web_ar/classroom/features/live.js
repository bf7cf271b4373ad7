// Session sync: Socket.IO namespace /session (arkit_py/server/live.py).
//
// Joins on every (re)connection with the same participant id, retries a lost connection
// every 2 s at most, ignores a `state` whose rev is not newer than the last one seen,
// merges `counts` (the answer counts the server sends to the lecturer and projection after
// each answer), estimates the server clock from `server_ms`, and turns the server's error
// codes into one callback. Each state applied (after the page's onState) is announced as an
// ``arkit:state`` event (features/events.js).

import { io } from 'socket.io-client';

import { ServerClock, hooks } from '../core/common.js';
import { emit } from './events.js';

const FINAL = new Set(['unknown_code', 'expired', 'full', 'ended', 'forbidden', 'unauthorised', 'bad_request']);
const RATE_LIMIT_RETRY_MS = 15000;
// A lost connection is retried after 0.5 s, 1 s, then every 2 s at most (socket.io's
// backoff doubles the delay and varies it by ±30 %, but never beyond the maximum), for as
// long as the page is open. An attempt the network leaves unanswered (no refusal, no
// reply) is given up after ``timeout`` (5 s) before the next one.
const RECONNECT_MS = 500;
const RECONNECT_MAX_MS = 2000;

/** The ``arkit:state`` event's detail for ``state`` (features/events.js ArkitStateDetail). */
export function stateDetail(state, live) {
  const q = state.quiz;
  const p = state.playback;
  return {
    live,
    rev: Number(state.rev) || 0,
    step: state.step,
    quiz: q ? { id: q.id, open: Boolean(q.open), revealed: Boolean(q.revealed) } : null,
    playback: p ? { time_s: Number(p.time_s) || 0, playing: Boolean(p.playing), rate: Number(p.rate) || 1 } : null,
    highlight: state.highlight || null,
    ended: Boolean(state.ended),
  };
}

/** ``last`` with the counts of ``fresh`` (same rev) when they are newer; else null. */
function mergeCounts(last, fresh) {
  let changed = false;
  const out = { ...last, server_ms: fresh.server_ms };
  if (Number.isFinite(fresh.participants) && fresh.participants > last.participants) {
    out.participants = fresh.participants;
    changed = true;
  }
  const a = last.quiz;
  const b = fresh.quiz;
  if (a && b && a.id === b.id && b.counts) {
    const before = (a.counts && a.counts.answered) || 0;
    if ((b.counts.answered || 0) > before || (b.counts.participants || 0) > ((a.counts && a.counts.participants) || 0)) {
      out.quiz = { ...a, counts: { ...a.counts, ...b.counts, answered: Math.max(before, b.counts.answered || 0) } };
      changed = true;
    }
  }
  return changed ? out : null;
}

/**
 * Connects and joins. ``join`` = {code, role, token?, nickname?, participant?} where
 * ``participant()`` gives the participant id to send at each (re)join.
 * Callbacks: onState(state), onPresence(count), onPointer({structure, position}),
 * onJoined(ack), onProblem(code, message) (final problems stop the connection),
 * onConnection(connected: bool, reason).
 * Returns {socket, clock, offer(state), emit(name, data) -> Promise<ack>, close()};
 * ``offer`` passes a state fetched over REST through the same rev filter.
 */
export function connectLive(join, callbacks = {}) {
  const clock = new ServerClock();
  let lastRev = 0;
  let stopped = false;
  let retryTimer = null;

  const socket = io('/session', {
    // WebSocket first (one round trip less on a phone; with the server's gevent + simple-websocket
    // an upgraded polling connection ends with a stray HTTP response the browser logs as an
    // invalid frame), long-polling when WebSocket is blocked.
    transports: ['websocket', 'polling'],
    tryAllTransports: true,
    reconnection: true,
    reconnectionAttempts: Infinity,
    reconnectionDelay: RECONNECT_MS,
    reconnectionDelayMax: RECONNECT_MAX_MS,
    randomizationFactor: 0.3,
    timeout: 5000,
  });
  // What tests read: the reconnection settings socket.io's manager actually uses.
  const manager = socket.io;
  hooks.reconnection = {
    delay: manager.reconnectionDelay(),
    delayMax: manager.reconnectionDelayMax(),
    randomizationFactor: manager.randomizationFactor(),
    attempts: manager.reconnectionAttempts(),
    timeout: manager.timeout(),
  };

  const call = (name, ...args) => {
    const fn = callbacks[name];
    if (fn) fn(...args);
  };

  const problem = (code, message) => {
    hooks.problem = code;
    call('onProblem', code, message);
    if (FINAL.has(code)) {
      stopped = true;
      socket.disconnect();
    } else if (code === 'rate_limited') {
      // The limit is per address per minute: a whole class behind one router can hit it.
      socket.disconnect();
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        if (!stopped) socket.connect();
      }, RATE_LIMIT_RETRY_MS);
    }
  };

  socket.on('connect', () => {
    hooks.connected = true;
    call('onConnection', true, 'connect');
    const payload = { ...join };
    if (typeof join.participant === 'function') payload.participant_id = join.participant();
    delete payload.participant;
    socket.emit('join', payload, (ack) => {
      if (!ack || !ack.ok) {
        problem((ack && ack.error) || 'bad_request', ack && ack.message);
        return;
      }
      hooks.joined = true;
      hooks.problem = null;
      call('onJoined', ack);
    });
  });

  socket.on('disconnect', (reason) => {
    hooks.connected = false;
    hooks.joined = false;
    if (stopped) return;
    call('onConnection', false, reason);
    // A disconnect by the server (a restart) is not retried by socket.io itself.
    if (reason === 'io server disconnect') setTimeout(() => !stopped && socket.connect(), 500);
  });

  socket.on('connect_error', () => {
    if (!stopped) call('onConnection', false, 'connect_error');
  });

  // A state with a newer rev replaces the last one; anything else is ignored.
  const receive = (state) => {
    if (!state || typeof state !== 'object') return;
    clock.sample(state.server_ms);
    if (!(state.rev > lastRev)) return;
    lastRev = state.rev;
    hooks.rev = state.rev;
    hooks.step = state.step;
    hooks.lastState = state;
    call('onState', state);
    emit('arkit:state', stateDetail(state, true));
  };
  socket.on('state', receive);

  // `counts` {rev, quiz, counts, participants}: fresher answer counts for the current quiz
  // (staff only, no new rev); merged into the last state, never anything else.
  socket.on('counts', (data) => {
    if (!data || !hooks.lastState || data.rev !== lastRev) return;
    const fresh = { server_ms: data.server_ms, participants: data.participants,
      quiz: { id: data.quiz, counts: data.counts } };
    const merged = mergeCounts(hooks.lastState, fresh);
    if (merged) {
      hooks.lastState = merged;
      call('onState', merged);
    }
  });

  socket.on('presence', (data) => {
    if (data && Number.isFinite(data.participants)) {
      hooks.participants = data.participants;
      call('onPresence', data.participants);
    }
  });

  socket.on('pointer', (data) => call('onPointer', data || {}));

  socket.on('error', (data) => {
    if (data && data.code) problem(data.code, data.message);
  });

  return {
    socket,
    clock,
    offer(state) {
      receive(state);
    },
    emit(name, data, timeoutMs = 8000) {
      return new Promise((resolve) => {
        if (!socket.connected) {
          resolve({ ok: false, error: 'not_joined' });
          return;
        }
        socket.timeout(timeoutMs).emit(name, data, (err, ack) => {
          resolve(err ? { ok: false, error: 'network' } : (ack || { ok: false, error: 'network' }));
        });
      });
    },
    close() {
      stopped = true;
      clearTimeout(retryTimer);
      socket.disconnect();
    },
  };
}

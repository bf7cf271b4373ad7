"""Live sessions on Flask-SocketIO, namespace ``/session``.

Client -> server: ``join`` {code, role: student|projection|lecturer, nickname?,
participant_id?, token? (lecturer)} acknowledged {ok, participant_id?, error?};
``answer`` {quiz, value} acknowledged {ok, error?}; ``pointer`` (lecturer only,
rate-limited, never stored). Server -> client: ``state`` on joining and after every
lecturer action; ``presence`` {participants} at most twice a second; ``pointer``
{structure?, position}; ``error`` {code, message}; and to the lecturer and projection only,
``counts`` {rev, quiz, counts, participants, server_ms} after each answer (fresher answer
counts under the same rev: ``state`` itself changes only with a lecturer action).

Limits (docs/security.md): one socket is one participant (joining another session leaves
the first); every connection has an event budget (EVENTS_PER_SECOND, bursts of three
seconds; a connection that keeps sending past it is closed); answers per participant
(ANSWERS_PER_MINUTE); student joins per address (JOINS_PER_MINUTE; behind a proxy set
PROXY_HOPS); pointer events per second (POINTER_PER_SECOND); ``counts`` at most four times a
second per session. Every handler acks a malformed event with an error, never raises.

Rooms: ``s:<code>`` (everyone in the session) and ``staff:<code>`` (lecturer and
projection). With a Redis URL, Flask-SocketIO's message queue carries every emit to every
server process, and the live counters (connected students, join rate) live in Redis.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time

from flask import Flask, current_app, request
from flask_socketio import SocketIO, disconnect, emit, join_room, leave_room

from ..errors import SessionError
from .classroom import PARTICIPANT_ID
from .db import utcnow
from .errors import ack

log = logging.getLogger("arkit.server")

NAMESPACE = "/session"
ROLES = ("student", "projection", "lecturer")
MAX_TEXT = 200  # characters of a code, token or structure name in an event
MAX_NICKNAME = 1000  # longer is refused; kept: the first 40 characters
REFUSALS_BEFORE_CLOSE = 100  # events refused for the budget in a row, then the connection is closed


class Bucket:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up."""

    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Throttle:
    """Run ``emit(key)`` at most once per ``interval`` s per key; a call inside the interval
    schedules one trailing run, so the last change always goes out."""

    def __init__(self, socketio: SocketIO, interval: float):
        self.socketio, self.interval = socketio, interval
        self.table: dict[str, tuple[float, bool]] = {}

    def __call__(self, key: str, run) -> None:
        now = time.monotonic()
        last, pending = self.table.get(key, (0.0, False))
        if pending:
            return
        if now - last >= self.interval:
            self.table[key] = (now, False)
            run()
            return
        self.table[key] = (last, True)

        def later():
            self.socketio.sleep(self.interval - (now - last))
            self.table[key] = (time.monotonic(), False)
            run()

        self.socketio.start_background_task(later)


class Counters:
    """Connected students per session and joins per address per minute: in memory, or in
    Redis when several processes share the work."""

    def __init__(self, redis_url: str | None):
        self.redis = None
        if redis_url:
            import redis

            # a bounded pool that waits for a free connection: hundreds of joins arrive at once
            pool = redis.BlockingConnectionPool.from_url(redis_url, max_connections=64, timeout=30)
            self.redis = redis.Redis(connection_pool=pool)
        self.lock = threading.Lock()
        self.connected: dict[str, set[str]] = {}
        self.joins: dict[tuple[str, str], list[float]] = {}

    def connect(self, code: str, sid: str) -> int:
        if self.redis is not None:
            self.redis.sadd(f"arkit:connected:{code}", sid)
            return int(self.redis.scard(f"arkit:connected:{code}"))
        with self.lock:
            self.connected.setdefault(code, set()).add(sid)
            return len(self.connected[code])

    def disconnect(self, code: str, sid: str) -> int:
        if self.redis is not None:
            self.redis.srem(f"arkit:connected:{code}", sid)
            return int(self.redis.scard(f"arkit:connected:{code}"))
        with self.lock:
            self.connected.get(code, set()).discard(sid)
            return len(self.connected.get(code, ()))

    def count(self, code: str) -> int:
        if self.redis is not None:
            return int(self.redis.scard(f"arkit:connected:{code}"))
        with self.lock:
            return len(self.connected.get(code, ()))

    def allow_join(self, address: str, per_minute: int) -> bool:
        return self.allow("joins", address, per_minute)

    def allow(self, kind: str, address: str, per_minute: int) -> bool:
        """Whether one more ``kind`` (joins, studio sign-ins) from ``address`` stays within
        ``per_minute`` over the last minute."""
        if self.redis is not None:
            key = f"arkit:{kind}:{address}:{int(time.time() // 60)}"
            n = self.redis.incr(key)
            self.redis.expire(key, 120)
            return n <= per_minute
        now = time.monotonic()
        with self.lock:
            recent = [t for t in self.joins.get((kind, address), []) if now - t < 60]
            recent.append(now)
            self.joins[(kind, address)] = recent
            return len(recent) <= per_minute


def init_app(app: Flask) -> SocketIO:
    kwargs = {}
    if app.config.get("REDIS_URL"):
        kwargs["message_queue"] = app.config["REDIS_URL"]
    # A ping every 10 s, 5 s to answer: a connection that dies without closing (Wi-Fi gone)
    # is noticed within 15 s on both sides (the defaults, 25 + 20 s, leave a student
    # looking at a stale step for most of a minute).
    socketio = SocketIO(app, async_mode=app.config.get("ASYNC_MODE"), cors_allowed_origins=None,
                        logger=False, engineio_logger=False, ping_interval=10, ping_timeout=5,
                        max_http_buffer_size=100_000, **kwargs)
    app.extensions["arkit_socketio"] = socketio
    app.extensions["arkit_counters"] = Counters(app.config.get("REDIS_URL"))
    app.extensions["arkit_sids"] = {}  # sid -> (code, role, participant_id)
    app.extensions["arkit_presence"] = Throttle(socketio, 0.5)
    app.extensions["arkit_counts"] = Throttle(socketio, 0.25)
    _register(socketio, app)
    return socketio


def broadcast_state(code: str, state: dict) -> None:
    socketio: SocketIO = current_app.extensions["arkit_socketio"]
    socketio.emit("state", state, to=f"s:{code}", namespace=NAMESPACE)


def _presence(app: Flask, socketio: SocketIO, code: str) -> None:
    """Emit ``presence`` at most twice a second per session (a late one follows a burst)."""
    def run():
        socketio.emit("presence", {"participants": app.extensions["arkit_counters"].count(code)},
                      to=f"s:{code}", namespace=NAMESPACE)

    app.extensions["arkit_presence"](code, run)


def _counts(app: Flask, socketio: SocketIO, code: str) -> None:
    """Fresher answer counts for the lecturer and projection, at most four times a second
    per session (one per answer would cost the whole class its state delivery in a flood)."""
    def run():
        room = app.extensions["arkit_classroom"]
        try:
            state = room.public_state(room.get(code))
        except SessionError:
            return
        if state["quiz"]:
            socketio.emit("counts", {"rev": state["rev"], "quiz": state["quiz"]["id"], "counts": state["quiz"]["counts"],
                                     "participants": state["participants"], "server_ms": state["server_ms"]},
                          to=f"staff:{code}", namespace=NAMESPACE)

    app.extensions["arkit_counts"](code, run)


def _optional_str(data: dict, key: str, limit: int = MAX_TEXT) -> str | None:
    """``data[key]`` when it is a string of at most ``limit`` characters or absent; else SessionError."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise SessionError("bad_request", f"{key} must be a string of at most {limit} characters")
    return value


def _register(socketio: SocketIO, app: Flask) -> None:
    sids = app.extensions["arkit_sids"]
    counters: Counters = app.extensions["arkit_counters"]
    pointer_times: dict[str, list[float]] = {}
    budgets: dict[str, Bucket] = {}  # sid -> events
    refusals: dict[str, int] = {}  # sid -> events refused in a row for the budget
    answer_budgets: dict[tuple[str, str], Bucket] = {}  # (code, participant) -> answers

    def fail(code: str, message: str) -> dict:
        emit("error", {"code": code, "message": message})
        return {"ok": False, "error": code, "message": message}

    def guarded(handler):
        """The event budget of the connection, then the handler; nothing it raises reaches
        the client as silence: a bug is logged and acked as an error."""
        @functools.wraps(handler)
        def run(*args):
            sid = request.sid
            rate = float(app.config["EVENTS_PER_SECOND"])
            if (sids.get(sid) or ("", ""))[1] == "lecturer":  # the pointer has its own limit on top
                rate += float(app.config["POINTER_PER_SECOND"])
            bucket = budgets.get(sid)
            if bucket is None or bucket.rate != rate:
                bucket = budgets[sid] = Bucket(rate, 3 * rate)
            if not bucket.take():
                refusals[sid] = refusals.get(sid, 0) + 1
                if refusals[sid] > REFUSALS_BEFORE_CLOSE:
                    log.warning("closed a connection that kept sending past its event budget")
                    disconnect()
                return {"ok": False, "error": "rate_limited", "message": "too many events; slow down"}
            refusals.pop(sid, None)
            try:
                return handler(*args[:1])
            except SessionError as error:
                return fail(error.code, error.message)
            except Exception:  # noqa: BLE001 (one bad event must not go unanswered)
                log.exception("socket event failed")
                return {"ok": False, "error": "internal", "message": "the server failed on this event"}
        return run

    def leave(sid: str) -> None:
        """Undo what a join did for this connection (a second join, or a disconnect)."""
        who = sids.pop(sid, None)
        if who is None:
            return
        code, role, _ = who
        leave_room(f"s:{code}")
        if role != "student":
            leave_room(f"staff:{code}")
        else:
            counters.disconnect(code, sid)
            _presence(app, socketio, code)

    @socketio.on("join", namespace=NAMESPACE)
    @guarded
    def on_join(data=None):
        room = app.extensions["arkit_classroom"]
        if not isinstance(data, dict):
            return fail("bad_request", "join needs {code, role}")
        role = data.get("role", "student")
        if role not in ROLES:
            return fail("bad_request", f"role must be one of {', '.join(ROLES)}")
        code_text = _optional_str(data, "code") or ""
        token = _optional_str(data, "token")
        wanted_id = _optional_str(data, "participant_id")
        nickname = _optional_str(data, "nickname", MAX_NICKNAME)
        row = room.get(code_text)
        before = sids.get(request.sid)
        if before is not None and before[:2] == (row.code, role) and role != "student":
            emit("state", room.public_state(row))
            return {"ok": True, "participant_id": None, "role": role, "code": row.code}
        if before is not None and before[:2] == (row.code, "student") and role == "student":
            # one socket, one participant: joining again changes nothing but the nickname
            participant_id = room.join(row, before[2], nickname)
            emit("state", room.public_state(row))
            return {"ok": True, "participant_id": participant_id, "role": role, "code": row.code}
        if role == "lecturer":
            room.authorise(row, token)
        if row.ended:
            # the lecturer and projection may still look at an ended session
            if role == "student":
                raise SessionError("ended", "this session has ended")
        elif row.expires_at < utcnow():
            raise SessionError("expired", "this session has expired")
        participant_id = None
        if role == "student":
            known = bool(wanted_id and PARTICIPANT_ID.match(wanted_id) and room.is_participant(row, wanted_id))
            # a reconnect (a known participant) is not a new join: a classroom's Wi-Fi blip
            # must not use up the address's budget
            if not known and not counters.allow_join(request.remote_addr or "?", int(app.config["JOINS_PER_MINUTE"])):
                return fail("rate_limited", "too many joins from this address; wait a minute")
            participant_id = room.join(row, wanted_id, nickname)
        leave(request.sid)  # a socket in another session (or role) leaves it first
        code = row.code
        join_room(f"s:{code}")
        if role != "student":
            join_room(f"staff:{code}")
        sids[request.sid] = (code, role, participant_id)
        if role == "student":
            counters.connect(code, request.sid)
            _presence(app, socketio, code)
        emit("state", room.public_state(row, participants_live=None))
        return {"ok": True, "participant_id": participant_id, "role": role, "code": code}

    @socketio.on("answer", namespace=NAMESPACE)
    @guarded
    def on_answer(data=None):
        room = app.extensions["arkit_classroom"]
        who = sids.get(request.sid)
        if who is None or who[1] != "student":
            return {"ok": False, "error": "not_joined", "message": "join as a student first"}
        if not isinstance(data, dict) or not isinstance(data.get("quiz"), str) or len(data["quiz"]) > MAX_TEXT:
            return {"ok": False, "error": "bad_answer", "message": "answer needs {quiz, value}"}
        per_minute = float(app.config["ANSWERS_PER_MINUTE"])
        key = (who[0], who[2])
        bucket = answer_budgets.get(key)
        if bucket is None:
            bucket = answer_budgets[key] = Bucket(per_minute / 60.0, max(1.0, per_minute / 3))
        if not bucket.take():
            return {"ok": False, "error": "rate_limited", "message": "too many answers; wait a moment"}
        try:
            answered = room.answer(who[0], who[2], data["quiz"], data.get("value"))
        except SessionError as error:
            return ack(error)
        _counts(app, socketio, who[0])
        return answered

    @socketio.on("pointer", namespace=NAMESPACE)
    @guarded
    def on_pointer(data=None):
        who = sids.get(request.sid)
        if who is None or who[1] != "lecturer" or not isinstance(data, dict):
            return {"ok": False, "error": "forbidden"}
        now = time.monotonic()
        recent = [t for t in pointer_times.get(request.sid, []) if now - t < 1.0]
        if len(recent) >= int(app.config["POINTER_PER_SECOND"]):
            return {"ok": False, "error": "rate_limited"}
        recent.append(now)
        pointer_times[request.sid] = recent
        position = data.get("position")
        if position is not None and not (isinstance(position, list) and len(position) == 3 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and abs(v) < 1e6
                for v in position)):
            return {"ok": False, "error": "bad_pointer", "message": "position is three finite numbers"}
        structure = data.get("structure")
        if structure is not None and (not isinstance(structure, str) or len(structure) > MAX_TEXT):
            return {"ok": False, "error": "bad_pointer", "message": "structure is a structure name"}
        emit("pointer", {"structure": structure, "position": position}, to=f"s:{who[0]}", include_self=False)
        return {"ok": True}

    @socketio.on("*", namespace=NAMESPACE)
    @guarded
    def on_other(event=None):
        return {"ok": False, "error": "unknown_event", "message": "unknown event"}

    @socketio.on("disconnect", namespace=NAMESPACE)
    def on_disconnect(*_args):
        sid = request.sid
        pointer_times.pop(sid, None)
        budgets.pop(sid, None)
        refusals.pop(sid, None)
        leave(sid)

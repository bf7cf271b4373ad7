"""Live sessions on Flask-SocketIO, namespace ``/session``.

Client -> server: ``join`` {code, role: student|projection|lecturer, nickname?,
participant_id?, token? (lecturer)} acknowledged {ok, participant_id?, error?};
``answer`` {quiz, value} acknowledged {ok, error?}; ``pointer`` (lecturer only,
rate-limited, never stored). Server -> client: ``state`` on joining and after every
lecturer action; ``presence`` {participants} at most twice a second; ``pointer``
{structure?, position}; ``error`` {code, message}; and to the lecturer and projection only,
``counts`` {rev, quiz, counts, participants, server_ms} after each answer (fresher answer
counts under the same rev: ``state`` itself changes only with a lecturer action).

Rooms: ``s:<code>`` (everyone in the session) and ``staff:<code>`` (lecturer and
projection). With a Redis URL, Flask-SocketIO's message queue carries every emit to every
server process, and the live counters (connected students, join rate) live in Redis.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, current_app, request
from flask_socketio import SocketIO, emit, join_room

from .classroom import ApiError
from .db import utcnow

NAMESPACE = "/session"
ROLES = ("student", "projection", "lecturer")


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
        self.joins: dict[str, list[float]] = {}

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
        if self.redis is not None:
            key = f"arkit:joins:{address}:{int(time.time() // 60)}"
            n = self.redis.incr(key)
            self.redis.expire(key, 120)
            return n <= per_minute
        now = time.monotonic()
        with self.lock:
            recent = [t for t in self.joins.get(address, []) if now - t < 60]
            recent.append(now)
            self.joins[address] = recent
            return len(recent) <= per_minute


def init_app(app: Flask) -> SocketIO:
    kwargs = {}
    if app.config.get("REDIS_URL"):
        kwargs["message_queue"] = app.config["REDIS_URL"]
    # A ping every 10 s, 5 s to answer: a connection that dies without closing (Wi-Fi gone)
    # is noticed within 15 s on both sides (the defaults, 25 + 20 s, leave a student
    # looking at a stale step for most of a minute).
    socketio = SocketIO(app, async_mode=app.config.get("ASYNC_MODE"), cors_allowed_origins=None,
                        logger=False, engineio_logger=False, ping_interval=10, ping_timeout=5, **kwargs)
    app.extensions["arkit_socketio"] = socketio
    app.extensions["arkit_counters"] = Counters(app.config.get("REDIS_URL"))
    app.extensions["arkit_sids"] = {}  # sid -> (code, role, participant_id)
    app.extensions["arkit_presence"] = {}  # code -> (last emit, pending)
    _register(socketio, app)
    return socketio


def broadcast_state(code: str, state: dict) -> None:
    socketio: SocketIO = current_app.extensions["arkit_socketio"]
    socketio.emit("state", state, to=f"s:{code}", namespace=NAMESPACE)


def _presence(app: Flask, socketio: SocketIO, code: str) -> None:
    """Emit ``presence`` at most twice a second per session (a late one follows a burst)."""
    table = app.extensions["arkit_presence"]
    now = time.monotonic()
    last, pending = table.get(code, (0.0, False))
    if pending:
        return
    if now - last >= 0.5:
        table[code] = (now, False)
        socketio.emit("presence", {"participants": app.extensions["arkit_counters"].count(code)},
                      to=f"s:{code}", namespace=NAMESPACE)
        return
    table[code] = (last, True)

    def later():
        socketio.sleep(0.5 - (now - last))
        table[code] = (time.monotonic(), False)
        socketio.emit("presence", {"participants": app.extensions["arkit_counters"].count(code)},
                      to=f"s:{code}", namespace=NAMESPACE)

    socketio.start_background_task(later)


def _register(socketio: SocketIO, app: Flask) -> None:
    sids = app.extensions["arkit_sids"]
    counters: Counters = app.extensions["arkit_counters"]
    pointer_times: dict[str, list[float]] = {}

    def fail(code: str, message: str) -> dict:
        emit("error", {"code": code, "message": message})
        return {"ok": False, "error": code, "message": message}

    @socketio.on("join", namespace=NAMESPACE)
    def on_join(data):
        room = app.extensions["arkit_classroom"]
        if not isinstance(data, dict):
            return fail("bad_request", "join needs {code, role}")
        role = data.get("role", "student")
        if role not in ROLES:
            return fail("bad_request", f"role must be one of {', '.join(ROLES)}")
        address = request.remote_addr or "?"
        if role == "student" and not counters.allow_join(address, int(app.config["JOINS_PER_MINUTE"])):
            return fail("rate_limited", "too many joins from this address; wait a minute")
        try:
            row = room.get(str(data.get("code", "")))
            if role == "lecturer":
                room.authorise(row, data.get("token"))
            if row.ended:
                # the lecturer and projection may still look at an ended session
                if role == "student":
                    raise ApiError(409, "ended", "this session has ended")
            elif row.expires_at < utcnow():
                raise ApiError(410, "expired", "this session has expired")
            participant_id = None
            if role == "student":
                participant_id = room.join(row, data.get("participant_id"), data.get("nickname"))
        except ApiError as error:
            return fail(error.code, error.message)
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
    def on_answer(data):
        room = app.extensions["arkit_classroom"]
        who = sids.get(request.sid)
        if who is None or who[1] != "student":
            return {"ok": False, "error": "not_joined", "message": "join as a student first"}
        if not isinstance(data, dict) or not isinstance(data.get("quiz"), str):
            return {"ok": False, "error": "bad_answer", "message": "answer needs {quiz, value}"}
        try:
            ack = room.answer(who[0], who[2], data["quiz"], data.get("value"))
        except ApiError as error:
            return {"ok": False, "error": error.code, "message": error.message}
        state = room.public_state(room.get(who[0]))
        if state["quiz"]:  # fresher counts for the lecturer and projection (no new rev)
            socketio.emit("counts", {"rev": state["rev"], "quiz": state["quiz"]["id"], "counts": state["quiz"]["counts"],
                                     "participants": state["participants"], "server_ms": state["server_ms"]},
                          to=f"staff:{who[0]}", namespace=NAMESPACE)
        return ack

    @socketio.on("pointer", namespace=NAMESPACE)
    def on_pointer(data):
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
        if position is not None and not (isinstance(position, list) and len(position) == 3
                                         and all(isinstance(v, (int, float)) for v in position)):
            return {"ok": False, "error": "bad_pointer"}
        structure = data.get("structure")
        if structure is not None and not isinstance(structure, str):
            return {"ok": False, "error": "bad_pointer"}
        emit("pointer", {"structure": structure, "position": position}, to=f"s:{who[0]}", include_self=False)
        return {"ok": True}

    @socketio.on("disconnect", namespace=NAMESPACE)
    def on_disconnect(*_args):
        who = sids.pop(request.sid, None)
        pointer_times.pop(request.sid, None)
        if who and who[1] == "student":
            counters.disconnect(who[0], request.sid)
            _presence(app, socketio, who[0])

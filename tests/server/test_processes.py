"""Real server processes (``arkit serve``, gevent): a SIGKILL mid-session loses nothing, and
two processes sharing Redis and PostgreSQL deliver every state change to every student."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.helpers import ServeProcess, free_port, http  # noqa: F401 (free_port: tests/server/test_demo.py)
from tests.server.conftest import KEY

CI = bool(os.environ.get("CI"))


class Server(ServeProcess):
    """``arkit serve`` with the test lecturer key, optionally on a shared database and Redis."""

    def __init__(self, data, lessons, port=None, database=None, redis=None):
        args = [*(["--database", database] if database else []), *(["--redis", redis] if redis else [])]
        super().__init__(data, lessons, key=KEY, port=port, args=args)


class StudentClient:
    """A python-socketio client that joins as a student, re-joins after every reconnect
    (reconnect delay at most 2 s) and records every state it receives."""

    def __init__(self, url, code, participant_id=None):
        import socketio

        self.states: list[dict] = []
        self.participant_id = participant_id
        self.code = code
        self.received = threading.Event()
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.5, reconnection_delay_max=2,
                                   randomization_factor=0)

        @self.sio.on("connect", namespace="/session")
        def _connect():
            self.sio.emit("join", {"code": self.code, "role": "student", "participant_id": self.participant_id},
                          namespace="/session", callback=self._joined)

        @self.sio.on("state", namespace="/session")
        def _state(state):
            self.states.append(state)
            self.received.set()

        self.sio.connect(url, namespaces=["/session"], transports=["websocket"], wait_timeout=10)

    def _joined(self, ack):
        if ack and ack.get("ok"):
            self.participant_id = ack["participant_id"]

    def answer(self, quiz, value):
        return self.sio.call("answer", {"quiz": quiz, "value": value}, namespace="/session", timeout=10)

    def close(self):
        self.sio.disconnect()


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_mid_session_loses_nothing(tmp_path, lessons_dir):
    server = Server(tmp_path / "data", lessons_dir)
    server.start()
    students = []
    try:
        _, created = http("POST", f"{server.url}/api/sessions", {"lesson": "class-demo"}, KEY)
        code, token = created["code"], created["control_token"]
        students = [StudentClient(server.url, code) for _ in range(3)]
        assert _wait(lambda: all(s.participant_id for s in students), 10)
        http("POST", f"{server.url}/api/sessions/{code}/control", {"action": "step", "step": 1}, token)
        http("POST", f"{server.url}/api/sessions/{code}/control", {"action": "open_quiz"}, token)
        assert students[0].answer("find-liver", "liver") == {"ok": True}
        assert students[1].answer("find-liver", "brain") == {"ok": True}
        _, before = http("GET", f"{server.url}/api/sessions/{code}")

        seen = [len(s.states) for s in students]  # what each had before the kill
        server.kill()
        first_accept = server.start()
        _, after = http("GET", f"{server.url}/api/sessions/{code}")
        assert (after["rev"], after["step"], after["quiz"]["open"]) == (before["rev"], 1, True)
        assert after["participants"] == 3
        # every client has the current state within 5 s of the first accepted connection (a
        # state that arrived after the kill: one may already be in while the checks above ran)
        assert _wait(lambda: all(len(s.states) > n and s.states[-1]["rev"] == before["rev"]
                                 for s, n in zip(students, seen)), 5.0)
        assert time.monotonic() - first_accept < 5.0
        # the same students (ids kept), the answers intact
        _, results = http("GET", f"{server.url}/api/sessions/{code}/results", token=token)
        quiz = next(q for q in results["quizzes"] if q["quiz"] == "find-liver")
        assert quiz["answers"] == 2 and quiz["correct"] == 1
        assert students[2].answer("find-liver", "liver") == {"ok": True}
        _, after2 = http("GET", f"{server.url}/api/sessions/{code}")
        assert after2["quiz"]["counts"]["answered"] == 3 and after2["participants"] == 3
        log = server.log.read_text(errors="replace")
        assert token not in log and KEY not in log  # secrets never reach the log
    finally:
        for s in students:
            s.close()
        server.stop()


def _services():
    redis_url, pg_url = os.environ.get("ARKIT_TEST_REDIS"), os.environ.get("ARKIT_TEST_POSTGRES")
    if not (redis_url and pg_url):
        if CI:
            pytest.fail("CI needs ARKIT_TEST_REDIS and ARKIT_TEST_POSTGRES (scripts/test.sh sets them)")
        pytest.skip("no Redis/PostgreSQL configured (run scripts/services.sh and set ARKIT_TEST_REDIS/POSTGRES)")
    return redis_url, pg_url


def test_two_processes_share_redis_and_postgresql(tmp_path, lessons_dir):
    redis_url, pg_url = _services()
    import redis
    from sqlalchemy import create_engine, text

    redis.Redis.from_url(redis_url).flushdb()
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS arkit_answers, arkit_participants, arkit_sessions, arkit_lessons, "
                          "arkit_settings CASCADE"))
    engine.dispose()
    a = Server(tmp_path / "a", lessons_dir, database=pg_url, redis=redis_url)
    b = Server(tmp_path / "b", lessons_dir, database=pg_url, redis=redis_url)
    a.start()
    b.start()
    students = []
    try:
        _, created = http("POST", f"{a.url}/api/sessions", {"lesson": "class-demo"}, KEY)
        code, token = created["code"], created["control_token"]
        students = [StudentClient(b.url, code) for _ in range(4)]
        assert _wait(lambda: all(s.states for s in students), 10)
        start_rev = students[0].states[-1]["rev"]
        for i in range(12):
            http("POST", f"{a.url}/api/sessions/{code}/control", {"action": "step", "step": (i + 1) % 5}, token)
        final = start_rev + 12
        assert _wait(lambda: all(s.states[-1]["rev"] == final for s in students), 10)
        for s in students:
            revs = [st["rev"] for st in s.states if st["rev"] > start_rev]
            assert revs == list(range(start_rev + 1, final + 1))  # every change, in order
        _, state_b = http("GET", f"{b.url}/api/sessions/{code}")
        assert state_b["rev"] == final and state_b["participants"] == 4
    finally:
        for s in students:
            s.close()
        a.stop()
        b.stop()

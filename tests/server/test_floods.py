"""Floods and timing against a real ``arkit serve`` (gevent, one process): while one
client floods, the rest of the class keeps its state delivery (lecturer action -> student
``state``) under 200 ms; a CPU-bomb answer does not stop the loop; the join limit keys on the
student's address behind a proxy and only there."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from tests.helpers import ServeProcess, http
from tests.server.conftest import KEY


@pytest.fixture
def server(tmp_path, lessons_dir):
    srv = ServeProcess(tmp_path / "data", lessons_dir, key=KEY)
    srv.start()
    yield srv
    srv.stop()


def _client(url, headers=None):
    import socketio

    sio = socketio.Client(reconnection=False)
    sio.connect(url, namespaces=["/session"], transports=["websocket"], headers=headers or {}, wait_timeout=10)
    return sio


def _session(server, step):
    _, out = http("POST", f"{server.url}/api/sessions", {"lesson": "class-demo"}, KEY)
    code, token = out["code"], out["control_token"]
    for action in ({"action": "step", "step": step}, {"action": "open_quiz"}):
        http("POST", f"{server.url}/api/sessions/{code}/control", action, token)
    return code, token


class Watcher:
    """A student that times the lecturer's actions: control POST sent -> ``state`` of that rev."""

    def __init__(self, server, code, token):
        self.server, self.code, self.token = server, code, token
        self.arrived: dict[int, float] = {}
        self.sio = _client(server.url)
        self.sio.on("state", lambda s: self.arrived.setdefault(s["rev"], time.perf_counter()), namespace="/session")
        assert self.sio.call("join", {"code": code}, namespace="/session", timeout=10)["ok"]

    def delays_ms(self, n: int) -> list[float]:
        out = []
        for i in range(n):
            sent = time.perf_counter()
            _, state = http("POST", f"{self.server.url}/api/sessions/{self.code}/control",
                            {"action": "time", "time_s": i}, self.token, timeout=30)
            deadline = time.monotonic() + 10
            while state["rev"] not in self.arrived and time.monotonic() < deadline:
                time.sleep(0.001)
            assert state["rev"] in self.arrived, "a state never arrived"
            out.append((self.arrived[state["rev"]] - sent) * 1000)
            time.sleep(0.02)
        return out


def _flood(url, code, make_event, count, done: threading.Event):
    """One socket sending ``count`` events, 200 awaiting their acks at any time (as a script
    with python-socketio's asyncio client would)."""
    import asyncio

    import socketio

    async def run():
        sio = socketio.AsyncClient(reconnection=False)
        await sio.connect(url, namespaces=["/session"], transports=["websocket"])
        await sio.call("join", {"code": code}, namespace="/session", timeout=10)
        gate = asyncio.Semaphore(200)

        async def one(i):
            async with gate:
                if not sio.connected:
                    return
                name, payload = make_event(i)
                try:
                    await sio.call(name, payload, namespace="/session", timeout=5)
                except Exception:  # noqa: BLE001 (refused, timed out or closed by the server: the point)
                    pass

        await asyncio.gather(*(one(i) for i in range(count)))
        await sio.disconnect()

    try:
        asyncio.run(run())
    finally:
        done.set()


@pytest.mark.parametrize("flood", ["answers", "unknown-events", "joins"])
def test_one_flooding_client_does_not_slow_the_class(server, flood):
    code, token = _session(server, step=2)  # the choice quiz, open
    watcher = Watcher(server, code, token)
    baseline = watcher.delays_ms(15)
    events = {
        "answers": lambda i: ("answer", {"quiz": "pick", "value": i % 3}),
        "unknown-events": lambda i: ("zzz", {"i": i}),
        "joins": lambda i: ("join", {"code": code}),
    }[flood]
    done = threading.Event()
    flooder = threading.Thread(target=_flood, args=(server.url, code, events, 3000, done), daemon=True)
    flooder.start()
    time.sleep(0.2)
    during = watcher.delays_ms(30)
    flooder.join(60)
    median, p95 = statistics.median(during), sorted(during)[int(0.95 * len(during)) - 1]
    assert median < 200 and p95 < 200, (flood, f"baseline median {statistics.median(baseline):.0f} ms", during)
    _, state = http("GET", f"{server.url}/api/sessions/{code}")
    assert state["participants"] <= 3  # one socket is one participant: the watcher and the flooder (once)
    watcher.sio.disconnect()


def test_a_cpu_bomb_answer_does_not_stop_the_class(server):
    code, token = _session(server, step=3)  # the numeric quiz, open
    watcher = Watcher(server, code, token)
    bomber = _client(server.url)
    bomber.call("join", {"code": code}, namespace="/session", timeout=10)
    for text in ("+9**9**8", "9**(9**7)", " 9**9**7 ", "(9**9**7) MBq", "99**99**2 MBq", "2**2000 MBq"):
        ack = bomber.call("answer", {"quiz": "how-much", "value": text}, namespace="/session", timeout=5)
        assert ack["ok"] is False and ack["error"] == "bad_answer", (text, ack)
    t0 = time.monotonic()
    assert http("GET", f"{server.url}/healthz", timeout=5)[0] == 200
    assert time.monotonic() - t0 < 2
    assert max(watcher.delays_ms(5)) < 200 and watcher.sio.connected
    bomber.disconnect()
    watcher.sio.disconnect()


def _joins(url, code, forwarded_for, n):
    acks = []
    for _ in range(n):
        sio = _client(url, {"X-Forwarded-For": forwarded_for})
        acks.append(sio.call("join", {"code": code}, namespace="/session", timeout=10))
        sio.disconnect()
    return [a.get("error", "ok") for a in acks]


@pytest.mark.parametrize("hops", [0, 1])
def test_the_join_limit_keys_on_the_students_address_behind_a_proxy(tmp_path, lessons_dir, hops):
    srv = ServeProcess(tmp_path / "data", lessons_dir, key=KEY, args=["--proxy-hops", str(hops)],
                       env={"ARKIT_JOINS_PER_MINUTE": "3"})
    srv.start()
    try:
        code, _ = _session(srv, step=1)
        first = _joins(srv.url, code, "10.0.0.1", 4)
        other = _joins(srv.url, code, "10.0.0.2", 1)
        if hops:  # each student's own address counts
            assert first == ["ok", "ok", "ok", "rate_limited"] and other == ["ok"]
        else:  # the header is not trusted: everyone is the proxy's (here the loopback) address
            assert first == ["ok", "ok", "ok", "rate_limited"] and other == ["rate_limited"]
    finally:
        srv.stop()

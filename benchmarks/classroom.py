"""Benchmark: a classroom on loopback: joins, state delivery latency, asset downloads.

1. One ``arkit serve`` process (gevent): N simulated students (python-socketio AsyncClients,
   websocket transport, spread over worker processes) join one session; the join time and
   failures are reported (target: 500 within 10 s, none failing).
2. The lecturer changes step 20 times through the API; every student records when each
   ``state`` arrives; the delivery latency (arrival - request sent) over all students and
   steps gives p50 and p99 (target p99 <= 150 ms on 2 cores).
3. Two server processes sharing Redis (and PostgreSQL, when ``--database`` is given) with the
   cap raised to 1000: half the students on each process, the lecturer on the first.
4. 60 clients download every asset of the ``fdg`` lesson at once: MB/s, and every download
   complete and correct (SHA-256).

Loopback only, bounded in count and time. ``python benchmarks/classroom.py [--students 500]
[--redis redis://127.0.0.1:6379/14] [--database postgresql+psycopg://...]``; writes
``benchmarks/results/classroom.json``. Needs the lesson bundles (``arkit lesson build
lessons/* -o dist/``; built into a temporary folder when missing).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # for tests.helpers

from tests.helpers import ServeProcess, http

KEY = "benchmark-lecturer-key-0123456789"


def raise_fd_limit(n: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, n), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def start_server(data: Path, lessons: Path, *, redis=None, database=None, cap=500) -> ServeProcess:
    args = [*(["--redis", redis] if redis else []), *(["--database", database] if database else [])]
    env = {"ARKIT_SESSION_CAP": str(cap), "ARKIT_JOINS_PER_MINUTE": "100000"}
    server = ServeProcess(data, lessons, key=KEY, args=args, env=env, log=data / "server.log")
    server.start(60, cwd=ROOT, preexec_fn=raise_fd_limit)
    return server


# -- students (worker processes) ---------------------------------------------------------


async def _students(urls: list[str], code: str, count: int, go: mp.Event, results: mp.Queue, stop_after: float):
    import socketio

    arrivals: dict[int, list[float]] = {}
    joined, failed, join_times = 0, 0, []
    reasons: dict[str, int] = {}

    async def one(i):
        nonlocal joined, failed
        sio = socketio.AsyncClient(reconnection=False)

        @sio.on("state", namespace="/session")
        async def on_state(state):
            arrivals.setdefault(state["rev"], []).append(time.time())

        t = time.time()
        try:
            await sio.connect(urls[i % len(urls)], namespaces=["/session"], transports=["websocket"], wait_timeout=20)
            ack = await sio.call("join", {"code": code, "role": "student"}, namespace="/session", timeout=20)
            if ack.get("ok"):
                joined += 1
                join_times.append(time.time() - t)
            else:
                failed += 1
                reasons[ack.get("error", "?")] = reasons.get(ack.get("error", "?"), 0) + 1
        except Exception as error:  # noqa: BLE001 - a failed join is counted, not raised
            failed += 1
            reasons[type(error).__name__] = reasons.get(type(error).__name__, 0) + 1
        return sio

    start = time.time()
    clients = await asyncio.gather(*[one(i) for i in range(count)])
    results.put(("joined", joined, failed, time.time() - start, join_times, reasons))
    await asyncio.sleep(stop_after)
    results.put(("arrivals", arrivals))
    await asyncio.gather(*[c.disconnect() for c in clients if c.connected], return_exceptions=True)


def _worker(urls, code, count, go, results, stop_after):
    raise_fd_limit()
    asyncio.run(_students(urls, code, count, go, results, stop_after))


def classroom(urls: list[str], code: str, token: str, students: int, steps: int = 20, workers: int = 4) -> dict:
    results: mp.Queue = mp.Queue()
    go = mp.Event()
    per = [students // workers + (1 if i < students % workers else 0) for i in range(workers)]
    stop_after = 10 + steps * 0.6 + 5
    procs = [mp.Process(target=_worker, args=(urls, code, n, go, results, stop_after)) for n in per if n]
    t0 = time.time()
    for p in procs:
        p.start()
    joined = failed = 0
    join_spans, join_times, reasons = [], [], {}
    early_arrivals = []
    for _ in procs:
        message = results.get(timeout=120)
        while message[0] != "joined":  # a slow worker's arrivals may come first
            early_arrivals.append(message)
            message = results.get(timeout=120)
        _, j, f, span, times, why = message
        joined, failed = joined + j, failed + f
        join_spans.append(span)
        join_times += times
        for k, v in why.items():
            reasons[k] = reasons.get(k, 0) + v
    join_wall = time.time() - t0
    time.sleep(1.0)
    sent: dict[int, float] = {}
    for i in range(steps):
        t = time.time()
        _, state = http("POST", f"{urls[0]}/api/sessions/{code}/control", {"action": "step", "step": (i + 1) % 5}, token,
                        timeout=30)
        sent[state["rev"]] = t
        time.sleep(0.5)
    latencies, missing = [], 0
    for i in range(len(procs)):
        _, arrivals = early_arrivals[i] if i < len(early_arrivals) else results.get(timeout=stop_after + 60)
        for rev, t_sent in sent.items():
            got = arrivals.get(rev, [])
            latencies += [(t - t_sent) * 1000 for t in got]
    for p in procs:
        p.join(30)
    expected = joined * steps
    missing = expected - len(latencies)
    lat = sorted(latencies)

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

    return {"students": students, "joined": joined, "failed": failed, "failures": reasons,
            "join_wall_s": round(join_wall, 2),
            "join_span_s": round(max(join_spans), 2),
            "join_p50_ms": round(statistics.median(join_times) * 1000, 1) if join_times else None,
            "steps": steps, "deliveries": len(lat), "missing": missing,
            "latency_p50_ms": round(pct(0.5), 1) if lat else None, "latency_p99_ms": round(pct(0.99), 1) if lat else None,
            "latency_max_ms": round(lat[-1], 1) if lat else None}


def downloads(url: str, lesson_id: str, clients: int = 60) -> dict:
    _, lesson = http("GET", f"{url}/api/lessons/{lesson_id}", timeout=30)
    assets = [a for h in lesson["holograms"].values() for a in h["assets"].values()]
    if lesson.get("thumbnail"):
        assets.append(lesson["thumbnail"])

    def fetch(_):
        ok, size = True, 0
        for a in assets:
            with urllib.request.urlopen(f"{url}/{a['path']}", timeout=120) as r:
                body = r.read()
            size += len(body)
            ok &= hashlib.sha256(body).hexdigest() == a["sha256"] and len(body) == a["size"]
        return ok, size

    t = time.time()
    with ThreadPoolExecutor(clients) as pool:
        out = list(pool.map(fetch, range(clients)))
    seconds = time.time() - t
    total = sum(s for _, s in out)
    return {"clients": clients, "assets": len(assets), "bytes": total, "seconds": round(seconds, 2),
            "mb_per_s": round(total / seconds / 1e6, 1), "all_correct": all(ok for ok, _ in out)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--redis", default=os.environ.get("ARKIT_TEST_REDIS", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--database", default=None, help="PostgreSQL URL for the two-process run (default SQLite)")
    parser.add_argument("--json", default=str(HERE / "results" / "classroom.json"))
    args = parser.parse_args(argv)
    raise_fd_limit()
    work = Path(tempfile.mkdtemp(prefix="arkit-bench-classroom-"))
    servers = []
    out: dict = {"machine": {"cpus": os.cpu_count()}}
    try:
        dist = ROOT / "dist"
        if not (dist / "fdg.arlesson").is_file():
            from arkit_py.lesson.bundle import build_lesson

            dist = work / "dist"
            for folder in sorted((ROOT / "lessons").glob("*/lesson.yaml")):
                build_lesson(folder.parent, dist)
        lessons = work / "lessons"
        shutil.copytree(dist, lessons)

        server = start_server(work / "one", lessons)
        servers.append(server)
        url = server.url
        _, created = http("POST", f"{url}/api/sessions", {"lesson": "fdg"}, KEY, timeout=30)
        one = classroom([url], created["code"], created["control_token"], args.students)
        out["one_process"] = one
        print(f"one process: {one['joined']}/{one['students']} joined in {one['join_wall_s']} s "
              f"({one['failed']} failed); delivery p50 {one['latency_p50_ms']} ms, p99 {one['latency_p99_ms']} ms "
              f"(target <= 150), missing {one['missing']}")
        out["downloads"] = downloads(url, "fdg")
        d = out["downloads"]
        print(f"downloads: {d['clients']} clients x {d['assets']} assets = {d['bytes'] / 1e6:.0f} MB in {d['seconds']} s "
              f"({d['mb_per_s']} MB/s), all correct: {d['all_correct']}")
        server.stop()
        servers.clear()

        import redis

        redis.Redis.from_url(args.redis).flushdb()
        database = args.database or f"sqlite:///{work / 'shared.db'}"
        a = start_server(work / "a", lessons, redis=args.redis, database=database, cap=1000)
        servers.append(a)
        b = start_server(work / "b", lessons, redis=args.redis, database=database, cap=1000)
        servers.append(b)
        url_a, url_b = a.url, b.url
        _, created = http("POST", f"{url_a}/api/sessions", {"lesson": "fdg"}, KEY, timeout=30)
        two = classroom([url_a, url_b], created["code"], created["control_token"], 2 * args.students)
        out["two_processes"] = {**two, "database": "postgresql" if args.database else "sqlite (shared file)"}
        print(f"two processes + Redis: {two['joined']}/{two['students']} joined in {two['join_wall_s']} s "
              f"({two['failed']} failed); delivery p50 {two['latency_p50_ms']} ms, p99 {two['latency_p99_ms']} ms, "
              f"missing {two['missing']}")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

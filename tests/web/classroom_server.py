"""Fixtures for the classroom browser tests: a small lesson bundle (the MIRD phantom at
8 mm with an FDG tracer, one quiz of each kind a page needs), a real ``arkit serve``
process on a free port, and guarded pages (every request not bound for the server
aborted and recorded; console errors recorded), one browser context each.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import unavailable

KEY = "lecturer-key-for-browser-tests-0123456789"
STATIC = Path(__file__).resolve().parents[2] / "arkit_py" / "web" / "static" / "classroom"

LESSON = """
id: class-web
title: "Classroom web demo"
summary: A lesson for the classroom browser tests.
audience: tests
minutes: 5
language: en
authors: [tests]
licence: CC-BY-4.0
references: [{id: r, citation: "A reference"}]
review_status: unreviewed
holograms:
  body: {source: "phantom:mird-adult?voxel=8", usdz: false, tracer: fdg, quantity: suv, until: 120 min, window: [0, 5]}
steps:
  - title: Welcome
    hologram: body
    narration: "Hello **class**. Look at the *whole* body first."
    visible: [body, brain, heart, liver, lung_left, lung_right, kidney_left, kidney_right, urinary_bladder]
    translucent: [body]
    framing: {target: whole, view: front}
  - title: Where FDG goes
    hologram: body
    narration: "Watch the **bladder** fill over the first hour."
    visible: [body, brain, heart, liver, urinary_bladder]
    translucent: [body]
    highlighted: [urinary_bladder]
    labels: [{structure: urinary_bladder, text: "Bladder contents"}]
    time: {start: 30 min, end: 60 min, play: true}
    quiz: {id: organ, kind: choice, prompt: "Which of these is an organ?", options: [Liver, Chair, Lamp], answer: [0]}
  - title: Find it
    hologram: body
    narration: Tap the liver.
    quiz: {id: find-liver, kind: identify, prompt: Tap the liver., answer: [liver]}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running ``arkit serve`` (``url`` = http://127.0.0.1:<port>)."""

    url: str
    proc: subprocess.Popen
    log: Path

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def api(self, method: str, path: str, body=None, token: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def create_session(self, lesson: str = "class-web") -> dict:
        return self.api("POST", "/api/sessions", {"lesson": lesson}, token=KEY)


@pytest.fixture(scope="session")
def classroom_bundle(tmp_path_factory) -> Path:
    from arkit_py.lesson.bundle import build_lesson

    root = tmp_path_factory.mktemp("classroom-lesson")
    folder = root / "class-web"
    folder.mkdir()
    (folder / "lesson.yaml").write_text(LESSON, encoding="utf-8")
    return build_lesson(folder, root / "dist", cache_dir=root / "cache", thumbnail=True).bundle


@pytest.fixture(scope="session")
def classroom_server(tmp_path_factory, classroom_bundle):
    """``python -m arkit_py.cli serve`` on a free port with the lesson in its lessons folder."""
    if not (STATIC / "join.js").is_file():
        unavailable("classroom pages not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    data = tmp_path_factory.mktemp("classroom-data")
    lessons = data / "lessons"
    lessons.mkdir()
    shutil.copy(classroom_bundle, lessons)
    port = free_port()
    log = data / "server.log"
    cmd = [sys.executable, "-m", "arkit_py.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--tls", "off", "--data", str(data), "--lessons", str(lessons)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, "ARKIT_LECTURER_KEY": KEY}, stdout=subprocess.DEVNULL,
                                stderr=out)
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{server.url}/healthz", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer /healthz: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class Guard:
    """What a guarded page saw: requests aborted (not for the server), console errors, and
    every URL requested."""

    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


def guarded_page(browser, origin: str, *, viewport=(900, 700), name: str = "page"):
    """A page in a fresh browser context (its own storage) that may only reach ``origin``;
    returns (page, guard). Close with ``page.context.close()``."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, service_workers="block")
    page = context.new_page()
    guard = Guard()

    def route(r):
        url = r.request.url
        guard.urls.append(url)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" == origin or parts.scheme in ("data", "blob"):
            r.continue_()
        else:
            guard.blocked.append(url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: guard.errors.append(f"{name}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: guard.errors.append(f"{name}: {e}"))
    return page, guard

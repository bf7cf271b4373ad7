"""Fixtures for the classroom browser tests: a small lesson bundle (the MIRD phantom at
8 mm with an FDG tracer, one quiz of each kind a page needs), a real ``arkit serve``
process on a free port, and guarded pages (every request not bound for the server
aborted and recorded; console errors recorded), one browser context each.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import ServeProcess, build_test_lesson, http, lesson_yaml
from tests.web.conftest import unavailable

KEY = "lecturer-key-for-browser-tests-0123456789"
STATIC = Path(__file__).resolve().parents[2] / "arkit_py" / "web" / "static" / "classroom"

LESSON = lesson_yaml("class-web", "Classroom web demo", "A lesson for the classroom browser tests.", """
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
""")


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
        return http(method, self.url + path, body, token)[1]

    def create_session(self, lesson: str = "class-web") -> dict:
        return self.api("POST", "/api/sessions", {"lesson": lesson}, token=KEY)


@pytest.fixture(scope="session")
def classroom_bundle(tmp_path_factory) -> Path:
    return build_test_lesson(tmp_path_factory.mktemp("classroom-lesson"), "class-web", LESSON, thumbnail=True)


@pytest.fixture(scope="session")
def classroom_server(tmp_path_factory, classroom_bundle):
    """``python -m arkit_py.cli serve`` on a free port with the lesson in its lessons folder."""
    if not (STATIC / "join.js").is_file():
        unavailable("classroom pages not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    data = tmp_path_factory.mktemp("classroom-data")
    lessons = data / "lessons"
    lessons.mkdir()
    shutil.copy(classroom_bundle, lessons)
    process = ServeProcess(data, lessons, key=KEY, log=data / "server.log")
    try:
        process.start()
        yield Server(process.url, process.proc, process.log)
    finally:
        process.stop()


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

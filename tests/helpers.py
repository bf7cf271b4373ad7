"""Helpers shared by the tests and the benchmarks: a free port, JSON over HTTP, a running
``arkit serve`` process, a small static file server for test pages, and test lessons
written from YAML.

The benchmarks import this module as ``tests.helpers``; they put the repository root on
``sys.path`` first, so ``python benchmarks/<name>.py`` works from the root.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]


# Debian's headless Chromium with WebGL (SwiftShader) and no calls home: tests and benchmarks.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, token: str | None = None, *, timeout: float = 10) -> tuple[int, Any]:
    """One JSON request: ``body`` (if any) sent as JSON, ``token`` as a bearer token;
    returns (status, the decoded JSON answer or None). HTTP errors raise."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read() or b"null")


class ServeProcess:
    """``python -m arkit_py.cli serve`` on 127.0.0.1 over plain HTTP, as its own process.

    ``args`` are further command-line options (``--redis``, ``--database``), ``env`` further
    environment variables (beside ``ARKIT_LECTURER_KEY``); stderr is appended to ``log``
    (default ``<data>/server-<port>.log``). The port is kept across restarts."""

    def __init__(self, data: Path, lessons: Path, *, key: str, port: int | None = None, args: Sequence[str] = (),
                 env: dict[str, str] | None = None, log: Path | None = None):
        self.data, self.lessons, self.key = Path(data), Path(lessons), key
        self.port = port or free_port()
        self.args, self.env = list(args), dict(env or {})
        self.log = Path(log) if log else self.data / f"server-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, **popen) -> float:
        """Start the process (``popen``: further ``subprocess.Popen`` arguments) and wait for
        /healthz; returns ``time.monotonic()`` when it first answered. If the process exits or
        does not answer within ``timeout`` s it is killed and RuntimeError raised with the
        log's tail."""
        cmd = [sys.executable, "-m", "arkit_py.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--tls", "off", "--data", str(self.data), "--lessons", str(self.lessons), *self.args]
        self.data.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, env={**os.environ, "ARKIT_LECTURER_KEY": self.key, **self.env},
                                         stdout=subprocess.DEVNULL, stderr=log, **popen)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log_tail()}")
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1).read()
                return time.monotonic()
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"the server did not answer /healthz: {self.log_tail()}") from None
                time.sleep(0.1)

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.is_file() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class _PageHandler(SimpleHTTPRequestHandler):
    """A page folder at /, the GLBs of ``glb_dir`` at /glb/<name>; records every path asked
    for in ``requested``."""

    extensions_map: ClassVar[dict[str, str]] = {
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".json": "application/json",
        ".glb": "model/gltf-binary",
        "": "application/octet-stream",
    }
    glb_dir: ClassVar[Path]
    requested: ClassVar[list[str]]

    def translate_path(self, path):
        path = urlsplit(path).path
        if path.startswith("/glb/"):
            return str(self.glb_dir / Path(path[len("/glb/"):]).name)
        return super().translate_path(path)

    def send_head(self):
        self.requested.append(urlsplit(self.path).path)
        return super().send_head()

    def log_message(self, *args):
        pass


@contextmanager
def page_server(page_dir: Path, glb_dir: Path, requested: list[str] | None = None) -> Iterator[str]:
    """A static test page (``page_dir`` at /) and GLBs (``glb_dir`` at /glb/<name>) on a free
    port of 127.0.0.1, in a thread; yields the origin. Every path asked for is appended to
    ``requested``."""
    handler = type("Handler", (_PageHandler,), {"glb_dir": Path(glb_dir),
                                                "requested": requested if requested is not None else []})

    def make(*args, **kwargs):
        return handler(*args, directory=str(page_dir), **kwargs)

    server = ThreadingHTTPServer(("127.0.0.1", 0), make)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


LESSON_HEAD = """\
id: {id}
title: "{title}"
summary: {summary}
audience: tests
minutes: 5
language: en
authors: [tests]
licence: CC-BY-4.0
references: [{{id: r, citation: "A reference"}}]
review_status: unreviewed
"""


def lesson_yaml(lesson_id: str, title: str, summary: str, body: str) -> str:
    """A test lesson's lesson.yaml: the front matter every test lesson shares (audience
    tests, 5 minutes, one reference, unreviewed) and ``body``, its holograms and steps."""
    return LESSON_HEAD.format(id=lesson_id, title=title, summary=summary) + body.lstrip("\n")


def build_test_lesson(root: Path, lesson_id: str, text: str, **options) -> Path:
    """Write ``text`` to ``root/<lesson_id>/lesson.yaml`` and build it (into ``root/dist``,
    cache ``root/cache``; ``options`` go to ``build_lesson``); returns the bundle's path."""
    from arkit_py.lesson.bundle import build_lesson

    folder = root / lesson_id
    folder.mkdir()
    (folder / "lesson.yaml").write_text(text, encoding="utf-8")
    return build_lesson(folder, root / "dist", cache_dir=root / "cache", **options).bundle


def upload_lesson(server_url: str, bundle: Path, key: str) -> None:
    """Upload a built bundle to a running server as its lecturer (``key``); 201 expected."""
    request = urllib.request.Request(f"{server_url}/api/lessons", data=bundle.read_bytes(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=30) as r:
        assert r.status == 201, r.status


def rebundle(bundle: Path, out: Path, edit=None, *, raw: bytes | None = None) -> Path:
    """A copy of ``bundle`` whose lesson.json is changed by ``edit(lesson)`` (in place) or
    replaced by ``raw`` bytes, with its manifest entry recomputed: a bundle that passes
    every zip and hash check, so only the lesson's own checks can refuse it."""
    import hashlib
    import zipfile

    with zipfile.ZipFile(bundle) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    if raw is None:
        lesson = json.loads(files["lesson.json"])
        edit(lesson)
        raw = json.dumps(lesson).encode()
    files["lesson.json"] = raw
    manifest = json.loads(files["manifest.json"])
    for entry in manifest["files"]:
        if entry["path"] == "lesson.json":
            entry.update(sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))
    files["manifest.json"] = json.dumps(manifest).encode()
    files.pop("signature.json", None)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out

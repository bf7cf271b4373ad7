"""Fixtures for the browser tests: one headless Chromium per session, a hologram GLB, and
the preview page served by arkit_py.preview.

Browser: Debian's ``chromium`` (``apt-get install chromium``) driven by the Python
``playwright`` package through ``executable_path``; Playwright's own browser download is
never used. Every request not bound for the test server is aborted, so the page is shown to
work offline. Tests here are skipped, with the reason, when the browser, the Python package
or the built preview page is missing; under CI (``CI`` set) they fail instead, so a
missing install step cannot pass unseen.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import CHROMIUM_ARGS
from tests.web.demo_hologram import DEMO_STRUCTURES, build_demo_glb

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def unavailable(reason: str):
    """Skip on a developer's machine; fail under CI, where everything must be installed."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def hologram_glb(tmp_path_factory) -> Path:
    """The GLB the browser tests show. The one place to swap in the real pipeline's output."""
    path = tmp_path_factory.mktemp("hologram") / "demo.glb"
    path.write_bytes(build_demo_glb())
    return path


@pytest.fixture(scope="session")
def merged_glb(tmp_path_factory) -> Path:
    """The demo hologram with the kidneys merged into one mesh (``_LABEL`` per vertex)."""
    path = tmp_path_factory.mktemp("hologram") / "demo-merged.glb"
    path.write_bytes(build_demo_glb(merged=True))
    return path


@pytest.fixture(scope="session")
def expected_structures() -> list[str]:
    """Structure node names in ``hologram_glb``."""
    return list(DEMO_STRUCTURES)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session."""
    try:
        from playwright import sync_api
    except ImportError:
        unavailable("the Python package playwright is not installed: pip install playwright")
    if not Path(CHROMIUM).exists():
        unavailable("Debian chromium is not installed: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _serve(glb):
    from arkit_py.preview import STATIC, serve_preview

    if not (STATIC / "index.html").is_file():  # the page is built by npm, not by pip
        unavailable("preview page not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    server, url = serve_preview(str(glb))
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def preview_server(hologram_glb):
    """The preview page and ``hologram_glb`` served by arkit_py.preview on a free port;
    yields the page's URL."""
    yield from _serve(hologram_glb)


@pytest.fixture(scope="session")
def merged_preview_server(merged_glb):
    """The preview page serving ``merged_glb``; yields its URL."""
    yield from _serve(merged_glb)


@pytest.fixture
def page(browser):
    """A fresh page whose requests may only go to the origins in ``page.allowed_origins``
    (add the test server's before navigating); the others are aborted and recorded in
    ``page.blocked_requests``; console errors and page errors are recorded in
    ``page.console_errors``."""
    from urllib.parse import urlsplit

    allowed: set[str] = set()
    context = browser.new_context(viewport={"width": 800, "height": 600}, service_workers="block")
    page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def route(r):
        url = r.request.url
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" in allowed or parts.scheme in ("data", "blob"):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.allowed_origins = allowed
    page.blocked_requests = blocked
    page.console_errors = errors
    try:
        yield page
    finally:
        context.close()

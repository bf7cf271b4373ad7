"""arkit_py.preview's HTTP server: the page, the GLB at /hologram.glb, the right MIME
types, and nothing else on disk."""

from __future__ import annotations

import http.client

import pytest

from arkit_py import preview
from arkit_py.errors import ArkitError, InputError
from tests.web.conftest import unavailable
from tests.web.demo_hologram import build_demo_glb


@pytest.fixture(scope="module")
def glb(tmp_path_factory):
    path = tmp_path_factory.mktemp("server") / "demo.glb"
    path.write_bytes(build_demo_glb())
    return path


@pytest.fixture(scope="module")
def server(glb):
    if not (preview.STATIC / "index.html").is_file():
        unavailable(preview.NOT_BUILT)
    server, url = preview.serve_preview(glb)
    try:
        yield server, url
    finally:
        server.shutdown()
        server.server_close()


def request(server, path, method="GET"):
    host, port = server[0].server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_url_points_at_the_page(server):
    srv, url = server
    assert url == f"http://127.0.0.1:{srv.server_address[1]}/"


def test_page_glb_and_assets_with_their_types(server, glb):
    status, headers, body = request(server, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert b'type="module"' in body

    status, headers, body = request(server, "/hologram.glb?cache=1")
    assert status == 200 and headers["Content-Type"] == "model/gltf-binary"
    assert body == glb.read_bytes()

    assets = sorted(p.name for p in (preview.STATIC / "assets").iterdir())
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
    for name in assets:
        suffix = name[name.rfind("."):]
        if suffix in types:
            status, headers, _ = request(server, f"/assets/{name}")
            assert status == 200 and headers["Content-Type"] == types[suffix], name


def test_mime_table_covers_module_scripts_and_wasm():
    assert preview.MIME_TYPES[".mjs"].startswith("text/javascript")
    assert preview.MIME_TYPES[".wasm"] == "application/wasm"


@pytest.mark.parametrize("path", [
    "/assets", "/assets/", "/../preview.py", "/%2e%2e/preview.py", "/assets/..%2f..%2fpreview.py",
    "/assets/../index.html", "//etc/passwd", "/%2fetc%2fpasswd", "/.hidden", "/..\\preview.py",
    "/index.html%00.js", "/nothing-here.js",
])
def test_nothing_else_is_served(server, path):
    status, _, body = request(server, path)
    assert status == 404, path
    assert body == b"not found\n"


def test_only_get_and_head(server, glb):
    status, headers, body = request(server, "/hologram.glb", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) == glb.stat().st_size
    status, headers, _ = request(server, "/", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_quiet_unless_asked(glb, capfd):
    if not (preview.STATIC / "index.html").is_file():
        unavailable(preview.NOT_BUILT)
    for log_requests in (False, True):
        srv, url = preview.serve_preview(glb, log_requests=log_requests)
        try:
            request((srv, url), "/hologram.glb")
        finally:
            srv.shutdown()
            srv.server_close()
        err = capfd.readouterr().err
        assert ("hologram.glb" in err) is log_requests


@pytest.mark.invalid_glb
def test_missing_or_wrong_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        preview.serve_preview(tmp_path / "missing.glb")
    text = tmp_path / "notes.glb"
    text.write_text("hello")
    with pytest.raises(InputError, match="not a binary glTF"):
        preview.serve_preview(text)


def test_unbuilt_page_says_how_to_build(glb, tmp_path, monkeypatch):
    monkeypatch.setattr(preview, "STATIC", tmp_path / "no-page")
    with pytest.raises(ArkitError, match=r"npm ci --prefix web_ar && npm run build --prefix web_ar"):
        preview.serve_preview(glb)

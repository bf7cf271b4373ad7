"""A local web page that shows one hologram: ``arkit preview hologram.glb``.

The page is the bundled three.js preview (``web_ar/preview``, built by Vite into
``arkit_py/web/static/preview``). A small standard-library HTTP server serves that folder
and the given GLB at ``/hologram.glb``, and nothing else: no directory listings, no path
outside the page's folder, only GET and HEAD. Request logs stay off unless asked for (they
would show paths).

    server, url = serve_preview("liver.glb")   # runs in a background thread
    ...
    server.shutdown(); server.server_close()

    run_preview("liver.glb", port=8000, open_browser=True)   # blocks until Ctrl+C
"""

from __future__ import annotations

import http.server
import ipaddress
import os
import posixpath
import socket
import sys
import threading
import webbrowser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import ArkitError, InputError

STATIC = Path(__file__).resolve().parent / "web" / "static" / "preview"
GLB_ROUTE = "/hologram.glb"
NOT_BUILT = "preview page not built: run npm ci --prefix web_ar && npm run build --prefix web_ar"

MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".bin": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".ktx2": "image/ktx2",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}

# Everything the page needs comes from this server; WebAssembly (the meshopt decoder) is
# compiled from bytes, which CSP calls 'wasm-unsafe-eval'.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data: blob:; connect-src 'self' data: blob:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'"
)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _PreviewServer
    server_version = "arkit-preview"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def _not_allowed(self) -> None:
        self._send(405, b"method not allowed\n", "text/plain; charset=utf-8", body=True,
                   extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815

    def _serve(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == GLB_ROUTE:
            try:
                data = self.server.glb_path.read_bytes()
            except OSError:
                self._send(404, b"hologram file not readable\n", "text/plain; charset=utf-8", body)
                return
            self._send(200, data, MIME_TYPES[".glb"], body)
            return
        target = self._static_file(path)
        if target is None:
            self._send(404, b"not found\n", "text/plain; charset=utf-8", body)
            return
        try:
            data = target.read_bytes()
        except OSError:
            self._send(404, b"not found\n", "text/plain; charset=utf-8", body)
            return
        self._send(200, data, MIME_TYPES.get(target.suffix.lower(), "application/octet-stream"), body)

    def _static_file(self, path: str) -> Path | None:
        """The file under the page's folder that ``path`` names, or None. Directories (but
        the root's index.html), hidden files, ``..``, backslashes and NULs give None."""
        if not path.startswith("/") or "\0" in path or "\\" in path:
            return None
        if path == "/" or path == "/index.html":
            parts = ["index.html"]
        else:
            parts = path.lstrip("/").split("/")
            if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
                return None
            if posixpath.normpath(path) != path:
                return None
        root = self.server.static_root
        target = root.joinpath(*parts).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        return target

    def _send(self, code: int, data: bytes, content_type: str, body: bool,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if self.server.log_requests:
            super().log_message(format, *args)


class _PreviewServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    glb_path: Path
    static_root: Path
    log_requests: bool = False

    def handle_error(self, request, client_address) -> None:
        # A browser closing a connection mid-response is normal; anything else is a bug.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _PreviewServer6(_PreviewServer):
    address_family = socket.AF_INET6


def _check_glb(glb_path: str | os.PathLike) -> Path:
    path = Path(glb_path)
    if not path.is_file():
        raise InputError(glb_path, "no such file")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise InputError(glb_path, f"cannot be read: {exc.strerror or exc}") from None
    if magic != b"glTF":
        raise InputError(glb_path, "not a binary glTF (.glb) file")
    return path.resolve()


def _url_host(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.is_unspecified:  # listening everywhere: this machine is reachable as localhost
        return "127.0.0.1" if ip.version == 4 else "[::1]"
    return f"[{host}]" if ip.version == 6 else host


def serve_preview(glb_path: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 0,
                  open_browser: bool = False, log_requests: bool = False):
    """Serve the preview page for ``glb_path`` in a background thread.

    Returns ``(server, url)``; ``port=0`` picks a free port. Stop with
    ``server.shutdown(); server.server_close()``. Raises ``ArkitError`` when the page is
    not built and ``InputError`` when the file is missing or not a GLB."""
    glb = _check_glb(glb_path)
    if not (STATIC / "index.html").is_file():
        raise ArkitError(NOT_BUILT)
    server_class = _PreviewServer6 if ":" in host else _PreviewServer
    try:
        server = server_class((host, port), _Handler)
    except OSError as exc:
        raise ArkitError(f"preview: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.glb_path = glb
    server.static_root = STATIC.resolve()
    server.log_requests = log_requests
    thread = threading.Thread(target=server.serve_forever, name="arkit-preview", daemon=True)
    thread.start()
    server.thread = thread
    url = f"http://{_url_host(host)}:{server.server_address[1]}/"
    if open_browser:
        webbrowser.open(url)
    return server, url


def run_preview(glb_path: str | os.PathLike, host: str = "127.0.0.1", port: int = 0,
                open_browser: bool = False, *, log_requests: bool = False) -> None:
    """Serve the preview page until Ctrl+C, telling the URL on stderr."""
    server, url = serve_preview(glb_path, host=host, port=port, open_browser=open_browser,
                                log_requests=log_requests)
    print(f"preview: showing the hologram at {url} (Ctrl+C to stop)", file=sys.stderr, flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()

"""The classroom server: ``create_app(test_config=None)``.

Blueprints: ``library`` (lessons and assets), ``sessions`` (the session API), ``pages``
(join, projection, lecturer console, self-paced, trust page), ``studio`` (its pages and
sign-in), ``sources`` (lesson.yaml, history, files) and ``jobs`` (builds); live sync on Flask-SocketIO,
namespace ``/session`` (``live.py``). Configuration: defaults, then ``test_config`` or
``ARKIT_*`` environment variables (``from_prefixed_env``). The data folder (DATA_DIR: SQLite,
lecturer key, local CA, uploads) defaults to ``ARKIT_DATA_DIR`` or the user data folder
(``datadir.py``). The API and the live protocol: docs/api.md.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from ..errors import LessonError, SessionError
from .classroom import Classroom
from .datadir import default_data_dir
from .db import Database
from .errors import STATUS, body, status_of

log = logging.getLogger("arkit.server")

CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self' ws: wss:; font-src 'self'; media-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def _lecturer_key(app: Flask) -> str:
    """``ARKIT_LECTURER_KEY``, or the key generated at first start (kept in the data folder)."""
    key = app.config.get("LECTURER_KEY")
    if key:
        return str(key)
    path = Path(app.config["DATA_DIR"]) / "lecturer.key"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key + "\n")
    app.config["LECTURER_KEY_NEW"] = True
    return key


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(
        DATA_DIR=str(default_data_dir()),  # ARKIT_DATA_DIR, else the user data folder (datadir.py)
        LESSONS_DIR=None,
        DATABASE_URL=None,  # default: sqlite:///<DATA_DIR>/arkit.db
        REDIS_URL=None,
        SESSION_CAP=500,
        SESSION_HOURS=12.0,
        RETENTION_DAYS=30.0,
        PUBLIC_URL=None,
        LECTURER_KEY=None,
        MAX_CONTENT_LENGTH=512 * 1024 * 1024,  # bundle uploads
        MAX_JSON_BYTES=64 * 1024,  # every JSON body (sessions, control)
        PROXY_HOPS=0,  # trusted proxies in front (1 behind nginx): X-Forwarded-* is believed only then
        JOINS_PER_MINUTE=60,  # student joins per address
        ANSWERS_PER_MINUTE=30,  # answers per participant (a change of mind is an answer)
        EVENTS_PER_SECOND=10,  # Socket.IO events per connection, sustained (bursts of 3 s allowed)
        POINTER_PER_SECOND=20,
        ASYNC_MODE=None,
        STUDIO_HOURS=12.0,  # a studio sign-in lasts this long
        STUDIO_LOGINS_PER_MINUTE=10,  # attempts to sign in, per address
        BUILD_JOBS=1,  # studio builds at once in this process (each in a child process)
        BUILD_TIMEOUT_S=1800.0,
        BUILD_CACHE=None,  # default: <data>/cache (holograms and meshes the studio built)
    )
    if test_config is None:
        app.config.from_prefixed_env("ARKIT")
    else:
        app.config.from_mapping(test_config)
    data = Path(app.config["DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    (data / "assets").mkdir(exist_ok=True)
    (data / "bundles").mkdir(exist_ok=True)
    url = app.config["DATABASE_URL"] or f"sqlite:///{data / 'arkit.db'}"
    db = Database(url)
    app.extensions["arkit_db"] = db
    app.extensions["arkit_classroom"] = Classroom(db, cap=int(app.config["SESSION_CAP"]),
                                                  hours=float(app.config["SESSION_HOURS"]),
                                                  retention_days=float(app.config["RETENTION_DAYS"]))
    # the secret comes from config or the database, never per process
    app.config["SECRET_KEY"] = app.config.get("SECRET_KEY") or db.setting_default("secret_key",
                                                                                   lambda: secrets.token_hex(32))
    app.config["LECTURER_KEY_VALUE"] = _lecturer_key(app)

    from . import jobs, library, live, pages, sessions, sources, studio

    app.register_blueprint(library.bp)
    app.register_blueprint(sessions.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(studio.bp)
    app.register_blueprint(sources.bp)
    app.register_blueprint(jobs.bp)
    live.init_app(app)
    hops = int(app.config["PROXY_HOPS"])
    if hops > 0:  # behind nginx (or another proxy): the client's address from X-Forwarded-For
        from werkzeug.middleware.proxy_fix import ProxyFix

        # outside the Socket.IO middleware, so joins see the student's address too
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    library.clean_temporary(app)
    library.import_folder(app)
    library.collect_garbage(app)
    jobs.init_app(app)

    @app.errorhandler(SessionError)
    def _session_error(error: SessionError):
        return jsonify(body(error)), status_of(error.code)

    @app.errorhandler(LessonError)
    def _lesson_error(error: LessonError):
        return jsonify({"error": "bad_lesson", "message": error.problem}), STATUS["bad_lesson"]

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if not request.path.startswith("/api/"):
            return error
        if error.code == STATUS["too_large"]:
            return jsonify({"error": "too_large", "message": "the request is larger than the server accepts"}), 413
        name = (error.name or "error").lower().replace(" ", "_")
        response = jsonify({"error": name, "message": error.description or error.name})
        for header, value in error.get_headers():  # Allow on a 405, WWW-Authenticate, Retry-After...
            if header.lower() != "content-type":
                response.headers[header] = value
        return response, error.code

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):  # pragma: no cover - handled above
            return error
        log.exception("unexpected error on %s %s", request.method, request.path)
        if request.path.startswith("/api/"):
            return jsonify({"error": "internal", "message": "the server failed on this request (see its log)"}), \
                STATUS["internal"]
        return InternalServerError()

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Permissions-Policy", "xr-spatial-tracking=(self), camera=(self)")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/healthz")
    def healthz():
        return jsonify({"ok": True})

    return app


__all__ = ["create_app"]

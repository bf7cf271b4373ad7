"""The lesson studio's pages and its sign-in: ``/studio`` (the library), ``/studio/<id>``
(the editor), ``POST /studio/login`` and ``POST /studio/logout``.

Signing in with the lecturer key (the form field ``key``, never a URL) stores a random token
in an httpOnly, SameSite=Strict cookie (Secure on https); the database keeps only the token's
SHA-256, with the browser's CSRF token and an expiry (STUDIO_HOURS). The pages carry the
CSRF token in a ``<meta>``; every write the studio makes sends it as ``X-CSRF-Token``, and a
write whose ``Origin`` is another site is refused whatever it carries. Signing out deletes
the row: the cookie is worthless from then on, in every copy. Attempts to sign in are
limited per address (STUDIO_LOGINS_PER_MINUTE). docs/studio.md, docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request

from ..errors import SessionError
from .db import StudioLogin, select, utcnow

bp = Blueprint("studio", __name__, template_folder="templates")
COOKIE = "arkit_studio"
NEXT = re.compile(r"^/studio(/[a-z0-9]+(-[a-z0-9]+)*)?$")  # where a sign-in may go back to


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _same_origin() -> bool:
    """A write from this site: no Origin header (non-browser clients), ``null`` (what browsers
    send for a same-origin write under the pages' Referrer-Policy: no-referrer), or one
    naming this very host. The CSRF token is the check; this refuses what names another site."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    return origin.rstrip("/") == request.host_url.rstrip("/")


def studio_login(*, write: bool = False) -> StudioLogin | None:
    """The signed-in studio browser of this request, or None. ``write``: the request changes
    something, so its CSRF token must match (SessionError ``csrf`` otherwise)."""
    if "studio_login" not in g:
        g.studio_login = None
        token = request.cookies.get(COOKIE)
        if token and len(token) < 200:
            with current_app.extensions["arkit_db"].session() as s:
                row = s.get(StudioLogin, _hash(token))
            key = _hash(current_app.config["LECTURER_KEY_VALUE"])
            if row is not None and row.expires_at > utcnow() and hmac.compare_digest(row.key_hash, key):
                g.studio_login = row
    row = g.studio_login
    if row is not None and write:
        sent = request.headers.get("X-CSRF-Token") or (request.form.get("csrf") if request.mimetype ==
                                                        "application/x-www-form-urlencoded" else None) or ""
        if not _same_origin() or not hmac.compare_digest(sent.encode(), row.csrf.encode()):
            raise SessionError("csrf", "this studio request lacks its CSRF token (reload the page)")
    return row


def _login_page(status: int = 200, problem: str | None = None, next_url: str = "/studio"):
    response = make_response(render_template("studio_login.html", problem=problem, next_url=next_url), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(template: str, **context):
    login = studio_login()
    if login is None:
        return _login_page(next_url=request.path if NEXT.fullmatch(request.path) else "/studio")
    response = make_response(render_template(template, csrf=login.csrf, **context))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/studio")
def library():
    return _page("studio.html")


@bp.get("/studio/<lesson_id>")
def editor(lesson_id: str):
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", lesson_id) or len(lesson_id) > 64:
        abort(404)
    return _page("studio_edit.html", lesson_id=lesson_id)


@bp.get("/studio/login")
def login_form():
    if request.args:  # a key in a URL would sit in history, proxies and logs: refuse the shape outright
        return _login_page(400, "Sign in with the form: the key never goes in the address.")
    if studio_login() is not None:
        return redirect("/studio", 303)
    return _login_page()


@bp.post("/studio/login")
def login():
    app = current_app
    next_url = request.form.get("next", "/studio")
    next_url = next_url if NEXT.fullmatch(next_url) else "/studio"
    if request.args or not _same_origin():
        return _login_page(400, "Sign in from this server’s own page, with the form.", next_url)
    counters = app.extensions["arkit_counters"]
    if not counters.allow("studio-logins", request.remote_addr or "?", int(app.config["STUDIO_LOGINS_PER_MINUTE"])):
        response = _login_page(429, "Too many attempts to sign in from this address. Wait a minute.", next_url)
        response.headers["Retry-After"] = "60"
        return response
    key = request.form.get("key", "")
    if not key or not hmac.compare_digest(key.encode(), app.config["LECTURER_KEY_VALUE"].encode()):
        return _login_page(401, "That is not this server’s lecturer key.", next_url)
    token = secrets.token_urlsafe(32)
    hours = float(app.config["STUDIO_HOURS"])
    db = app.extensions["arkit_db"]
    with db.session() as s:
        for old in s.execute(select(StudioLogin).where(StudioLogin.expires_at < utcnow())).scalars():
            s.delete(old)
        s.add(StudioLogin(token_hash=_hash(token), csrf=secrets.token_urlsafe(32), key_hash=_hash(key),
                          expires_at=utcnow() + dt.timedelta(hours=hours)))
        s.commit()
    response = redirect(next_url, 303)
    response.set_cookie(COOKIE, token, max_age=int(hours * 3600), path="/", httponly=True, samesite="Strict",
                        secure=request.is_secure)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/studio/logout")
def logout():
    login = studio_login(write=True)
    if login is not None:
        db = current_app.extensions["arkit_db"]
        with db.session() as s:
            row = s.get(StudioLogin, login.token_hash)
            if row is not None:
                s.delete(row)
                s.commit()
    response = redirect("/studio/login", 303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=request.is_secure)
    return response


__all__ = ["COOKIE", "bp", "studio_login"]

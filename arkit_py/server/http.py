"""What the API routes share: the classroom of the running app, the base URL students use,
the request's JSON body (bounded, parsed after auth) and its bearer token, and the lecturer
check (the key, or the studio's cookie and CSRF token). The blueprints import this module,
never ``app`` (which imports them)."""

from __future__ import annotations

from flask import Flask, request

from ..errors import SessionError
from .classroom import Classroom


def classroom(app: Flask | None = None) -> Classroom:
    from flask import current_app

    return (app or current_app).extensions["arkit_classroom"]


def public_base(app: Flask | None = None) -> str:
    """The base URL students use: PUBLIC_URL, or the request's own host."""
    from flask import current_app

    app = app or current_app
    if app.config.get("PUBLIC_URL"):
        return str(app.config["PUBLIC_URL"]).rstrip("/")
    return request.host_url.rstrip("/")


def json_body(limit: int | None = None) -> dict:
    """The request's JSON object, read only up to ``limit`` (default MAX_JSON_BYTES; 413
    beyond), refused (400) when it is not one JSON object (deep nesting, NaN, another type
    included)."""
    import json

    from flask import current_app

    limit = limit or int(current_app.config["MAX_JSON_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        raise SessionError("too_large", f"a JSON body is at most {limit:,} bytes")
    if not request.is_json:
        raise SessionError("bad_json", "the body must be a JSON object (Content-Type: application/json)")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise SessionError("too_large", f"a JSON body is at most {limit:,} bytes")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise SessionError("bad_json", "the body must be a JSON object")
    return data


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return None


def require_lecturer() -> None:
    """The lecturer's key as a bearer token, or a signed-in studio browser (its cookie, and
    on every write its CSRF token): SessionError otherwise (docs/security.md)."""
    import hmac

    from flask import current_app

    token = bearer()
    if not token:
        from .studio import studio_login

        if studio_login(write=request.method not in ("GET", "HEAD", "OPTIONS")) is not None:
            return
        raise SessionError("unauthorised", "the lecturer key is needed (Authorization: Bearer <key>)")
    if not hmac.compare_digest(token.encode(), current_app.config["LECTURER_KEY_VALUE"].encode()):
        raise SessionError("forbidden", "wrong lecturer key")


__all__ = ["bearer", "classroom", "json_body", "public_base", "require_lecturer"]

"""One exception for every refusal (``SessionError(code, message)``) and one table from its
code to the HTTP status."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import arkit_py
from arkit_py.errors import ArkitError, SessionError
from arkit_py.server.errors import STATUS, ack, body, status_of

ROOT = Path(arkit_py.__file__).parent


def _raised_codes() -> dict[str, list[str]]:
    """Every literal code given to ``SessionError(...)`` in arkit_py, with where."""
    found: dict[str, list[str]] = {}
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SessionError" and node.args:
                first = node.args[0]
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), \
                    f"{path}:{node.lineno}: a SessionError code is a literal string"
                found.setdefault(first.value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_code_raised_is_in_the_table():
    codes = _raised_codes()
    assert len(codes) > 20  # the scan sees the server
    assert sorted(set(codes) - set(STATUS)) == []


def test_the_statuses_clients_rely_on():
    assert {code: STATUS[code] for code in ("bad_json", "too_large", "unauthorised", "forbidden", "unknown_code",
                                            "ended", "expired", "full", "not_joined", "unknown_lesson",
                                            "lesson_gone", "bad_answer", "not_current", "closed", "no_quiz",
                                            "busy", "internal")} == {
        "bad_json": 400, "too_large": 413, "unauthorised": 401, "forbidden": 403, "unknown_code": 404,
        "ended": 409, "expired": 410, "full": 403, "not_joined": 403, "unknown_lesson": 404, "lesson_gone": 410,
        "bad_answer": 422, "not_current": 409, "closed": 409, "no_quiz": 409, "busy": 503, "internal": 500}
    assert status_of("no-such-code") == 400


def test_session_error_is_an_arkit_error_told_in_one_line():
    error = SessionError("ended", "this session has ended")
    assert isinstance(error, ArkitError)
    assert (error.code, error.message, str(error)) == ("ended", "this session has ended", "this session has ended")
    assert body(error) == {"error": "ended", "message": "this session has ended"}
    assert ack(error) == {"ok": False, "error": "ended", "message": "this session has ended"}
    with pytest.raises(ArkitError):
        raise error


def test_the_http_answer_comes_from_the_table(client):
    r = client.get("/api/sessions/ZZZZZZ")
    assert r.status_code == STATUS["unknown_code"] == 404
    assert r.json == {"error": "unknown_code", "message": "no session 'ZZZZZZ'"}

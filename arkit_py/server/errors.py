"""What a refused request looks like on the wire: one table from error code to HTTP status.

Everything the server refuses on purpose is a ``SessionError(code, message)``
(``arkit_py.errors``). Over HTTP it becomes ``{"error": code, "message": message}`` with the
status from ``STATUS``; over Socket.IO the ack ``{"ok": false, "error": code, "message":
message}`` (and an ``error`` event). The codes are part of the API (docs/api.md,
openapi.yaml): clients switch on them, so a code keeps its meaning and its status.
"""

from __future__ import annotations

from ..errors import SessionError

STATUS: dict[str, int] = {
    # the request itself
    "bad_json": 400,  # the body is not one JSON object
    "too_large": 413,  # a body over MAX_JSON_BYTES or MAX_CONTENT_LENGTH
    # who is asking
    "unauthorised": 401,  # no lecturer key or control token
    "forbidden": 403,  # the wrong key or token
    # sessions
    "unknown_code": 404,  # no session with this join code
    "ended": 409,  # the lecturer ended the session
    "expired": 410,  # past its SESSION_HOURS
    "full": 403,  # SESSION_CAP participants already
    "not_joined": 403,  # an answer from a socket that has not joined
    "busy": 503,  # no free join code
    # lessons and assets
    "unknown_lesson": 404,  # no lesson with this id in the library
    "lesson_gone": 410,  # the version a session started with is no longer stored
    "not_found": 404,  # no such asset
    "bad_lesson": 422,  # not a lesson id, or a lesson that fails its checks
    "bad_bundle": 422,  # an upload that is not a valid bundle
    # control actions
    "bad_action": 422,
    "bad_step": 422,
    "bad_time": 422,
    "bad_rate": 422,
    "bad_structure": 422,
    "bad_slice": 422,  # a slice that is malformed, or on a step whose hologram has no CT or PET
    "no_quiz": 409,  # a quiz action on a step without a quiz
    # quizzes
    "bad_answer": 422,  # an answer of the wrong form for its quiz kind
    "not_current": 409,  # an answer to a quiz that is not the current one
    "closed": 409,  # an answer to a quiz that is not open
    # the studio (docs/studio.md)
    "csrf": 403,  # a studio write without its CSRF token, or from another site
    "conflict": 409,  # a stale If-Match etag, or a lesson id already taken
    "precondition_required": 428,  # a write to an existing lesson without If-Match
    "bad_source": 422,  # a lesson.yaml with problems (the body lists them, located)
    "bad_upload": 422,  # an upload the studio does not take (by its content)
    # other
    "bad_format": 422,  # results in an unknown format
    "bad_request": 422,  # a malformed Socket.IO event
    "internal": 500,  # a bug in the server (logged)
}
UNLISTED = 400  # a code missing from the table (a bug: tests/server/test_errors.py looks for them)


def status_of(code: str) -> int:
    """The HTTP status of an error code."""
    return STATUS.get(code, UNLISTED)


def body(error: SessionError) -> dict:
    """The JSON body of a refused HTTP request."""
    return {"error": error.code, "message": error.message}


def ack(error: SessionError) -> dict:
    """The Socket.IO ack of a refused event."""
    return {"ok": False, "error": error.code, "message": error.message}


__all__ = ["STATUS", "SessionError", "ack", "body", "status_of"]

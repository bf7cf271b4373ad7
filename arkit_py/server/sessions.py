"""The session API: create, read, control, results (docs/api.md; OpenAPI in openapi.yaml)."""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, jsonify, request

from ..errors import SessionError
from . import results as export
from .http import bearer, classroom, json_body, public_base, require_lecturer
from .quiz import strip_answers

bp = Blueprint("sessions", __name__)
LESSON_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")  # a lesson's id is a slug (lesson.schema.json), at most 64


def _urls(code: str) -> dict:
    base = public_base()
    return {"join_url": f"{base}/j/{code}", "projection_url": f"{base}/p/{code}", "lecturer_url": f"{base}/l/{code}",
            "qr_svg": f"{base}/api/sessions/{code}/qr.svg", "qr_png": f"{base}/api/sessions/{code}/qr.png"}


@bp.post("/api/sessions")
def create_session():
    require_lecturer()
    body = json_body()
    lesson_id = body.get("lesson")
    # only a slug reaches the database ("\ud800" made SQLite fail, a NUL PostgreSQL: a 500 each)
    if not isinstance(lesson_id, str) or len(lesson_id) > 64 or not LESSON_ID.fullmatch(lesson_id):
        raise SessionError("bad_lesson", "give {\"lesson\": \"<id>\"}, a lesson id (lower-case letters, digits, "
                                           "single hyphens)")
    row, token = classroom().create(lesson_id)
    out = {"code": row.code, **_urls(row.code), "control_token": token,
           "expires_at": row.expires_at.isoformat() + "Z"}
    return jsonify(out), 201


@bp.get("/api/openapi.yaml")
def openapi():
    from pathlib import Path

    text = (Path(__file__).resolve().parent / "openapi.yaml").read_text(encoding="utf-8")
    return Response(text, mimetype="application/yaml")


@bp.get("/api/sessions/<code>")
def get_state(code: str):
    room = classroom()
    return jsonify(room.public_state(room.get(code)))


@bp.get("/api/sessions/<code>/lesson")
def session_lesson(code: str):
    """The session's lesson: without answers for students; complete with the control token."""
    from .library import render_narration

    room = classroom()
    row = room.get(code)
    lesson = room.session_lesson(row)  # the version the session started with
    token = bearer()
    if token:
        room.authorise(row, token)
        return jsonify(render_narration(json.loads(json.dumps(lesson))))
    revealed = set(json.loads(row.state_json).get("revealed", []))
    return jsonify(render_narration(strip_answers(lesson, revealed)))


@bp.post("/api/sessions/<code>/control")
def control(code: str):
    from .live import broadcast_state

    room = classroom()
    room.authorise(room.get(code), bearer())  # who it is before what it says: no body read for strangers
    row = room.control(code, bearer(), json_body())
    state = room.public_state(row)
    broadcast_state(row.code, state)
    return jsonify(state)


@bp.get("/api/sessions/<code>/results")
def results(code: str):
    room = classroom()
    data = room.results(code, bearer())
    fmt = request.args.get("format", "json")
    if fmt == "json":
        return jsonify(data)
    if fmt == "csv":
        return Response(export.to_csv(data), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=arkit-{data['code']}.csv"})
    if fmt == "xapi":
        return jsonify(export.to_xapi(data, public_base() + "/"))
    raise SessionError("bad_format", "format must be json, csv or xapi")


@bp.get("/api/sessions/<code>/qr.svg")
def qr_svg(code: str):
    from .qr import qr_svg as make

    row = classroom().get(code)
    return Response(make(f"{public_base()}/j/{row.code}"), mimetype="image/svg+xml")


@bp.get("/api/sessions/<code>/qr.png")
def qr_png(code: str):
    from .qr import qr_png as make

    row = classroom().get(code)
    return Response(make(f"{public_base()}/j/{row.code}"), mimetype="image/png")



"""The lesson library: ``GET/POST /api/lessons``, ``DELETE /api/lessons/<id>``, and the
assets at ``/assets/<sha256>.<ext>`` (immutable, ETag, HTTP Range, the right types).

Bundles are checked by ``arkit_py.lesson.bundle.read_bundle`` (paths, manifest, hashes,
sizes counted while streaming, schema version) before anything is stored; their assets go to
``<data>/assets`` under their content hash.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from flask import Blueprint, Flask, current_app, jsonify, request, send_file
from sqlalchemy import select

from ..errors import LessonError
from ..lesson.bundle import MEDIA_TYPES, read_bundle
from .app import require_lecturer
from .classroom import ApiError, strip_answers
from .db import LessonRow

bp = Blueprint("library", __name__)
log = logging.getLogger("arkit.server")


def store_bundle(app: Flask, path: Path, origin: str) -> LessonRow:
    """Check a bundle, keep its assets, and record it (replacing an older version)."""
    bundle = read_bundle(path)
    data = Path(app.config["DATA_DIR"])
    for name, content in bundle.files.items():
        if name.startswith("assets/"):
            target = data / "assets" / name[len("assets/"):]
            if not target.exists():
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
    lesson = bundle.lesson
    digest = hashlib.sha256(bundle.files["lesson.json"]).hexdigest()
    row = LessonRow(id=lesson["id"], title=lesson["title"][:200], sha256=digest,
                    bundle_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size,
                    origin=origin, lesson_json=bundle.files["lesson.json"].decode("utf-8"), signed_by=bundle.signed_by)
    db = app.extensions["arkit_db"]
    with db.session() as s:
        existing = s.get(LessonRow, row.id)
        if existing is not None:
            s.delete(existing)
            s.flush()
        s.add(row)
        s.commit()
    return row


def import_folder(app: Flask) -> list[str]:
    """Every ``.arlesson`` in LESSONS_DIR into the library; a bad bundle is logged and skipped."""
    folder = app.config.get("LESSONS_DIR")
    if not folder:
        return []
    done = []
    for path in sorted(Path(folder).glob("*.arlesson")):
        try:
            done.append(store_bundle(app, path, "folder").id)
        except LessonError as error:
            log.warning("skipped %s", error)
    return done


def _summary(row: LessonRow) -> dict:
    lesson = row.lesson
    thumb = lesson.get("thumbnail")
    return {"id": row.id, "title": row.title, "summary": lesson.get("summary", ""), "sha256": row.sha256,
            "review_status": lesson.get("review_status"), "steps": len(lesson.get("steps", [])),
            "minutes": lesson.get("minutes"), "thumbnail": f"/{thumb['path']}" if thumb else None,
            "signed_by": row.signed_by, "origin": row.origin}


@bp.get("/api/lessons")
def list_lessons():
    db = current_app.extensions["arkit_db"]
    with db.session() as s:
        rows = s.execute(select(LessonRow).order_by(LessonRow.id)).scalars().all()
    return jsonify([_summary(r) for r in rows])


@bp.get("/api/lessons/<lesson_id>")
def get_lesson(lesson_id: str):
    """The lesson for students (self-paced): no quiz answers."""
    row = current_app.extensions["arkit_classroom"].lesson_row(lesson_id)
    if row is None:
        raise ApiError(404, "unknown_lesson", f"no lesson {lesson_id!r}")
    return jsonify(render_narration(strip_answers(row.lesson)))


@bp.post("/api/lessons")
def upload_lesson():
    require_lecturer()
    upload = request.files.get("bundle")
    fd, tmp = tempfile.mkstemp(suffix=".arlesson", dir=Path(current_app.config["DATA_DIR"]) / "bundles")
    try:
        with os.fdopen(fd, "wb") as f:
            if upload is not None:
                upload.save(f)
            else:
                f.write(request.get_data(cache=False))
        try:
            row = store_bundle(current_app, Path(tmp), "upload")
        except LessonError as error:
            raise ApiError(422, "bad_bundle", error.problem) from None
        final = Path(current_app.config["DATA_DIR"]) / "bundles" / f"{row.id}.arlesson"
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return jsonify(_summary(row)), 201


@bp.delete("/api/lessons/<lesson_id>")
def delete_lesson(lesson_id: str):
    require_lecturer()
    db = current_app.extensions["arkit_db"]
    with db.session() as s:
        row = s.get(LessonRow, lesson_id)
        if row is None:
            raise ApiError(404, "unknown_lesson", f"no lesson {lesson_id!r}")
        s.delete(row)
        s.commit()
    bundle = Path(current_app.config["DATA_DIR"]) / "bundles" / f"{lesson_id}.arlesson"
    if bundle.exists():
        bundle.unlink()
    return "", 204


@bp.get("/assets/<name>")
def asset(name: str):
    stem, _, ext = name.partition(".")
    if len(stem) != 64 or any(c not in "0123456789abcdef" for c in stem) or ext not in MEDIA_TYPES:
        raise ApiError(404, "not_found", "no such asset")
    path = Path(current_app.config["DATA_DIR"]) / "assets" / name
    if not path.is_file():
        raise ApiError(404, "not_found", "no such asset")
    response = send_file(path, mimetype=MEDIA_TYPES[ext], conditional=True, etag=stem, max_age=31536000)
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    response.headers["Accept-Ranges"] = "bytes"
    return response


def render_narration(lesson: dict) -> dict:
    """Add ``narration_html`` to every step: Markdown with raw HTML off, then sanitised."""
    import bleach
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False})
    tags = ["p", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "h3", "h4", "br", "a", "sub", "sup"]
    for step in lesson.get("steps", []):
        html = md.render(step.get("narration", ""))
        step["narration_html"] = bleach.clean(html, tags=tags, attributes={"a": ["href", "title"]},
                                              protocols=["https", "http"], strip=True)
    return lesson


__all__ = ["bp", "import_folder", "store_bundle", "render_narration"]

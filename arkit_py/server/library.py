"""The lesson library: ``GET/POST /api/lessons``, ``DELETE /api/lessons/<id>``, and the
assets at ``/assets/<sha256>.<ext>`` (immutable, ETag, HTTP Range, the right types).

Bundles are checked by ``arkit_py.lesson.reading.read_bundle`` (paths, manifest, hashes,
sizes counted while streaming, schema version) before anything is stored; their assets go to
``<data>/assets`` under their content hash.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from flask import Blueprint, Flask, current_app, jsonify, request, send_file
from sqlalchemy import select

from ..errors import ArkitError, LessonError, SessionError
from ..lesson.lessonjson import asset_paths
from ..lesson.reading import read_bundle
from ..lesson.zipformat import MEDIA_TYPES
from .db import LessonRow, LessonVersion, SessionRow, utcnow
from .http import json_body, require_lecturer
from .quiz import grade, strip_answers, validate_answer

bp = Blueprint("library", __name__)
log = logging.getLogger("arkit.server")
ASSET_FILE = re.compile(r"^[0-9a-f]{64}\.(glb|usdz|png|nrrd)$")
TEMP_PREFIXES = (".upload-", ".tmp-", "tmp")  # uploads and asset writes in progress (tmp*: older servers)


@contextlib.contextmanager
def _held(path: Path, mode: str = "wb"):
    """A file opened and locked (flock) while it is written: a lock that nobody holds marks a
    temporary file whose writer is gone (``clean_temporary``)."""
    f = open(path, mode)
    try:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield f
    finally:
        f.close()


@contextlib.contextmanager
def _assets_lock(app: Flask, exclusive: bool, wait: bool = True):
    """Writers of assets share the lock; the collector takes it alone (or not at all)."""
    path = Path(app.config["DATA_DIR"]) / "assets" / ".lock"
    with open(path, "a+b") as f:
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(f, flags | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def _temp_path(folder: Path, prefix: str, suffix: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.close(fd)
    return Path(tmp)


def store_bundle(app: Flask, path: Path, origin: str, *, keep_in: Path | None = None) -> LessonRow:
    """Check a bundle, keep its assets and its exact lesson.json (as a version), and record
    it in the library (replacing an older version of the same id). ``keep_in``: a folder the
    bundle file moves to as ``<id>.arlesson`` once everything else is in place. Nothing is recorded when any step
    fails."""
    bundle = read_bundle(path)  # the whole contract: manifest, hashes, lesson.json schema and checks
    data = Path(app.config["DATA_DIR"])
    lesson = bundle.lesson
    digest = hashlib.sha256(bundle.files["lesson.json"]).hexdigest()
    db = app.extensions["arkit_db"]
    with _assets_lock(app, exclusive=False):
        for name, content in bundle.files.items():
            if name.startswith("assets/"):
                target = data / "assets" / name[len("assets/"):]
                if target.exists():
                    continue
                tmp = _temp_path(target.parent, ".tmp-", ".part")
                try:
                    with _held(tmp) as f:
                        f.write(content)
                    os.chmod(tmp, 0o644)
                    os.replace(tmp, target)
                finally:
                    tmp.unlink(missing_ok=True)
        row = LessonRow(id=lesson["id"], title=lesson["title"], sha256=digest,
                        bundle_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size,
                        origin=origin, lesson_json=bundle.files["lesson.json"].decode("utf-8"),
                        signed_by=bundle.signed_by)
        with db.session() as s:
            if s.get(LessonVersion, digest) is None:
                s.add(LessonVersion(sha256=digest, lesson_id=row.id, title=row.title, lesson_json=row.lesson_json))
            existing = s.get(LessonRow, row.id)
            if existing is not None:
                s.delete(existing)
                s.flush()
            s.add(row)
            if keep_in is not None:
                os.replace(path, keep_in / f"{row.id}.arlesson")  # the id is a slug (checked): it stays there
            s.commit()
    return row


def import_folder(app: Flask) -> list[str]:
    """Every ``.arlesson`` in LESSONS_DIR into the library; a bad bundle is logged and skipped,
    and a lesson the studio built is kept (the folder's bundle would undo the lecturer's edit)."""
    folder = app.config.get("LESSONS_DIR")
    if not folder:
        return []
    done = []
    db = app.extensions["arkit_db"]
    for path in sorted(Path(folder).glob("*.arlesson")):
        with db.session() as s:
            studio = s.execute(select(LessonRow.id).where(LessonRow.id == path.stem,
                                                          LessonRow.origin == "studio")).first()
        if studio is not None:  # a lecturer's edit in the studio is newer than the folder's bundle
            log.info("kept the studio's build of %s over the lessons folder's", path.stem)
            continue
        try:
            done.append(store_bundle(app, path, "folder").id)
        except ArkitError as error:
            log.warning("skipped %s", error)
        except Exception:  # noqa: BLE001 (one bad file must not stop the server from starting)
            log.exception("skipped %s: it could not be read", path)
    return done


def clean_temporary(app: Flask) -> int:
    """Remove what writers that died (a crash, SIGKILL mid-upload) left behind: temporary
    files in bundles/ and assets/ that no living writer holds locked, and the studio's
    temporary uploads, imports and copies older than an hour. Returns how many."""
    data = Path(app.config["DATA_DIR"])
    removed = 0
    sources = data / "sources"
    if sources.is_dir():  # the studio's uploads, imports and copies a killed request left (an hour old)
        lessons = [p for p in sources.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for path in [*sources.iterdir(), *(q for p in lessons for q in p.iterdir())]:
            stale = path.name.startswith((".upload-", ".import-", ".staging-")) and \
                time.time() - path.lstat().st_mtime > 3600
            if stale:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
    for folder in (data / "bundles", data / "assets"):
        for path in folder.iterdir():
            if not path.name.startswith(TEMP_PREFIXES) or not path.is_file():
                continue
            try:
                with open(path, "rb") as f:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    path.unlink()
                    removed += 1
            except (BlockingIOError, FileNotFoundError):
                continue  # a living writer holds it, or someone else removed it
    if removed:
        log.info("removed %d temporary files left by an interrupted upload", removed)
    return removed


def collect_garbage(app: Flask) -> int:
    """Delete assets that no library lesson and no live session uses, and lesson versions
    that neither a library lesson nor any stored session names. Returns the assets removed.
    Skipped (returns 0) while an upload is writing assets."""
    data = Path(app.config["DATA_DIR"])
    db = app.extensions["arkit_db"]
    with _assets_lock(app, exclusive=True, wait=False) as locked:
        if not locked:
            return 0
        with db.session() as s:
            library = s.execute(select(LessonRow.sha256, LessonRow.lesson_json)).all()
            sessions = s.execute(select(SessionRow.lesson_sha256, SessionRow.ended, SessionRow.expires_at)).all()
            live = {sha for sha, ended, expires in sessions if not ended and expires > utcnow()}
            named = {sha for sha, _, _ in sessions} | {sha for sha, _ in library}
            keep = set()
            for _, text in library:
                keep.update(_asset_names(text))
            for sha in live - {sha for sha, _ in library}:
                version = s.get(LessonVersion, sha)
                if version is not None:
                    keep.update(_asset_names(version.lesson_json))
            stale = [v for v in s.execute(select(LessonVersion.sha256)).scalars() if v not in named]
            for sha in stale:
                s.delete(s.get(LessonVersion, sha))
            s.commit()
        removed = 0
        for path in (data / "assets").iterdir():
            if ASSET_FILE.match(path.name) and path.name not in keep:
                path.unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("removed %d assets no lesson or live session uses", removed)
    return removed


def _asset_names(lesson_json: str) -> set[str]:
    import json

    return {p[len("assets/"):] for p in asset_paths(json.loads(lesson_json))}


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
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}")
    return jsonify(render_narration(strip_answers(row.lesson)))


@bp.post("/api/lessons/<lesson_id>/check")
def check_answer(lesson_id: str):
    """Self-paced practice: whether ``{"quiz", "value"}`` answers one of the lesson's quizzes,
    with the answer and its explanation. Nothing is stored; a live class answers through its
    session instead (the answers stay hidden there until the lecturer reveals them)."""
    row = current_app.extensions["arkit_classroom"].lesson_row(lesson_id)
    if row is None:
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}")
    body = json_body()
    quiz_id = body.get("quiz")
    if not isinstance(quiz_id, str) or "value" not in body:
        raise SessionError("bad_request", 'send {"quiz": "<quiz id>", "value": <the answer>}')
    lesson = row.lesson
    for step in lesson.get("steps", []):
        quiz = step.get("quiz")
        if quiz and quiz.get("id") == quiz_id:
            break
    else:
        raise SessionError("not_found", f"no quiz {quiz_id[:64]!r} in lesson {lesson_id!r}")
    names = set((lesson.get("holograms", {}).get(step.get("hologram")) or {}).get("structures", []))
    correct = grade(quiz, validate_answer(quiz, body["value"], names))
    out = {"quiz": quiz_id, "correct": bool(correct), "answer": quiz["answer"]}
    if "explanation" in quiz:
        out["explanation"] = quiz["explanation"]
    return jsonify(out)


@bp.post("/api/lessons")
def upload_lesson():
    """A bundle as the multipart field ``bundle`` or as the raw body (any other type)."""
    require_lecturer()
    folder = Path(current_app.config["DATA_DIR"]) / "bundles"
    tmp = _temp_path(folder, ".upload-", ".arlesson")
    try:
        with _held(tmp) as f:
            if request.mimetype == "multipart/form-data":
                upload = request.files.get("bundle")
                if upload is None:
                    raise SessionError("bad_bundle", "send the bundle as the form field 'bundle' or as the raw body")
                upload.save(f)
            else:  # the raw body, whatever the type (curl --data-binary sends form-urlencoded)
                shutil.copyfileobj(request.stream, f, 1 << 20)
            f.flush()
            if f.tell() == 0:
                raise SessionError("bad_bundle", "the request carries no bundle")
            row = install_upload(tmp, folder)
    finally:
        tmp.unlink(missing_ok=True)
    return jsonify(_summary(row)), 201


def install_upload(tmp: Path, folder: Path) -> LessonRow:
    """An uploaded bundle (a temporary file, held) into the library, kept in ``folder``; the
    assets of a replaced version go unless a live session uses them."""
    try:
        row = store_bundle(current_app, tmp, "upload", keep_in=folder)
    except LessonError as error:
        raise SessionError("bad_bundle", error.problem) from None
    collect_garbage(current_app)
    return row


@bp.delete("/api/lessons/<lesson_id>")
def delete_lesson(lesson_id: str):
    """Remove a lesson from the library, with its studio source, history and files. Its live
    sessions go on with the version they started with; its assets go once no live session
    uses them."""
    from .sourcestore import LESSON_ID, delete_source

    require_lecturer()
    if len(lesson_id) > 64 or not LESSON_ID.fullmatch(lesson_id):
        raise SessionError("unknown_lesson", f"no lesson {lesson_id[:64]!r}")
    db = current_app.extensions["arkit_db"]
    with db.session() as s:
        row = s.get(LessonRow, lesson_id)
        if row is not None:
            s.delete(row)
            s.commit()
    had_source = delete_source(current_app, lesson_id)
    if row is None and not had_source:
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}")
    bundle = Path(current_app.config["DATA_DIR"]) / "bundles" / f"{lesson_id}.arlesson"
    bundle.unlink(missing_ok=True)
    collect_garbage(current_app)
    return "", 204


@bp.get("/assets/<name>")
def asset(name: str):
    stem, _, ext = name.partition(".")
    if len(stem) != 64 or any(c not in "0123456789abcdef" for c in stem) or ext not in MEDIA_TYPES:
        raise SessionError("not_found", "no such asset")
    path = Path(current_app.config["DATA_DIR"]) / "assets" / name
    if not path.is_file():
        raise SessionError("not_found", "no such asset")
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


__all__ = ["bp", "clean_temporary", "collect_garbage", "import_folder", "store_bundle", "render_narration"]

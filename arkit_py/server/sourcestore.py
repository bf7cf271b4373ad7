"""Lesson sources kept by the server, without the routes: ids, the folder of a lesson's
files, etags, the saved or recovered lesson.yaml, saving with the etag check, deleting
(``sources.py`` has the studio's routes; ``library.py`` and ``jobs.py`` use this too).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from flask import current_app
from sqlalchemy import delete

from ..errors import LessonError, SessionError
from ..lesson.source import MAX_LESSON_BYTES, lesson_problems
from .db import LessonRow, LessonSource, SourceVersion, utcnow

LESSON_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def check_id(lesson_id: str) -> str:
    """A lesson id from a path: any text but a slug names no lesson (404)."""
    if len(lesson_id) > 64 or not LESSON_ID.fullmatch(lesson_id):
        raise SessionError("unknown_lesson", "no such lesson (an id is lower-case letters, digits and single hyphens)")
    return lesson_id


def check_new_id(lesson_id) -> str:
    """A lesson id a request body gives for a new lesson: 422 ``bad_lesson`` unless a slug."""
    if not isinstance(lesson_id, str) or len(lesson_id) > 64 or not LESSON_ID.fullmatch(lesson_id):
        raise SessionError("bad_lesson", "a lesson id is lower-case letters, digits and single hyphens (at most 64)")
    return lesson_id


def source_dir(lesson_id: str, app=None) -> Path:
    """Where a lesson's files live: ``<data>/sources/<id>``."""
    return Path((app or current_app).config["DATA_DIR"]) / "sources" / check_id(lesson_id)


def make_etag(version: int, text: str) -> str:
    return hashlib.sha256(f"{version}\n{text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _db():
    return current_app.extensions["arkit_db"]


def current_source(lesson_id: str) -> dict | None:
    """{yaml, etag, version, recovered} of a lesson: its saved source, else one recovered
    from its library bundle (version 0), else None."""
    with _db().session() as s:
        row = s.get(LessonSource, lesson_id)
        if row is not None:
            return {"yaml": row.yaml, "etag": row.etag, "version": row.version, "recovered": False,
                    "updated_at": row.updated_at}
        lib = s.get(LessonRow, lesson_id)
    if lib is None:
        return None
    from ..lesson.recover import yaml_from_lesson

    text = yaml_from_lesson(lib.lesson)
    return {"yaml": text, "etag": make_etag(0, lib.sha256), "version": 0, "recovered": True,
            "updated_at": lib.added_at}


def list_files(lesson_id: str) -> list[dict]:
    """The files of a lesson's source folder: {name, size, kind} (a folder counts as one)."""
    from .uploads import kind_of_stored

    folder = source_dir(lesson_id)
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
        out.append({"name": p.name, "size": size, "kind": kind_of_stored(p)})
    return out


def _located(error: LessonError) -> dict:
    return {"line": error.line or 1, "column": error.column or 1, "field": error.field or "(top level)",
            "message": error.problem}


def check_text(lesson_id: str, text: str) -> tuple[list[dict], object]:
    """(located errors, LessonSource or None) of ``text`` as lesson ``lesson_id``."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_LESSON_BYTES:
        return [{"line": 1, "column": 1, "field": "(top level)",
                 "message": f"larger than {MAX_LESSON_BYTES // 1000} kB"}], None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return [{"line": 1, "column": 1, "field": "(top level)", "message": "not UTF-8 text (a lone surrogate)"}], None
    errors, src = lesson_problems(source_dir(lesson_id), text)
    return [_located(e) for e in errors], src


def save_source(lesson_id: str, text: str, *, if_match: str | None, create_only: bool = False,
                note: str = "") -> dict:
    """Store ``text`` as the lesson's new version (after its checks): {etag, version}.
    SessionError ``conflict`` (409) on a stale etag, ``precondition_required`` (428) when an
    existing lesson is written without one."""
    current = current_source(lesson_id)
    if current is not None and create_only:
        raise SessionError("conflict", f"lesson {lesson_id!r} already exists")
    if current is not None and if_match is None:
        raise SessionError("precondition_required", "send If-Match with the etag you edited (GET the source first)")
    if current is None and if_match is not None:
        raise SessionError("conflict", f"lesson {lesson_id!r} no longer exists (deleted since it was opened)")
    if current is not None and if_match != "*" and if_match != current["etag"]:
        raise SessionError("conflict", "this lesson was saved elsewhere since you opened it (another tab or "
                                       "lecturer): reload it to see their version")
    db = _db()
    with db.session() as s:
        row = s.get(LessonSource, lesson_id)
        if row is not None and if_match not in (None, "*") and row.etag != if_match:
            raise SessionError("conflict", "this lesson was saved elsewhere a moment ago: reload it")
        expected = row.etag if row is not None else None
        version = (row.version if row is not None else 0) + 1
        etag = make_etag(version, text)
        now = utcnow()
        if row is None:
            s.add(LessonSource(lesson_id=lesson_id, yaml=text, version=version, etag=etag, updated_at=now))
        else:
            # the etag the writer named (or read) in the WHERE: of two writers of one version, one wins
            n = s.execute(LessonSource.__table__.update()
                          .where(LessonSource.lesson_id == lesson_id, LessonSource.etag == expected)
                          .values(yaml=text, version=version, etag=etag, updated_at=now)).rowcount
            if n != 1:
                s.rollback()
                raise SessionError("conflict", "this lesson was saved elsewhere a moment ago: reload it")
        s.add(SourceVersion(lesson_id=lesson_id, version=version, yaml=text, etag=etag, note=note[:200], saved_at=now))
        from sqlalchemy.exc import IntegrityError

        try:
            s.commit()
        except IntegrityError:  # two creators of one new lesson, or of one version
            s.rollback()
            raise SessionError("conflict", "this lesson was saved elsewhere a moment ago: reload it") from None
    source_dir(lesson_id).mkdir(parents=True, exist_ok=True)
    return {"etag": etag, "version": version}


def _title_of(text: str) -> str | None:
    from ..yamlio import YamlProblem, load_yaml

    try:
        data, _ = load_yaml(text)
    except YamlProblem:
        return None
    title = data.get("title") if isinstance(data, dict) else None
    return title if isinstance(title, str) else None


# -- the source -------------------------------------------------------------------------------


def yaml_quoted(text: str) -> str:
    """``text`` as a double-quoted YAML scalar: readable letters kept, control characters and
    surrogates escaped (a YAML reader refuses them raw)."""
    out = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in out)


def with_id(text: str, new_id: str, title: str | None = None) -> str:
    """``text`` with its top-level ``id:`` (and ``title:``) lines replaced."""
    out, n = re.subn(r"(?m)^id:[^\n]*$", f"id: {new_id}", text, count=1)
    if n == 0:
        out = f"id: {new_id}\n" + out
    if title:
        out = re.sub(r"(?m)^title:[^\n]*$", lambda _: "title: " + yaml_quoted(title), out, count=1)
    return out


def delete_source(app, lesson_id: str) -> bool:
    """Remove a lesson's source, history and files; whether there was one."""
    db = app.extensions["arkit_db"]
    with db.session() as s:
        had = s.get(LessonSource, lesson_id) is not None
        s.execute(delete(LessonSource).where(LessonSource.lesson_id == lesson_id))
        s.execute(delete(SourceVersion).where(SourceVersion.lesson_id == lesson_id))
        s.commit()
    folder = source_dir(lesson_id, app)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
        had = True
    return had


# -- the studio's library -----------------------------------------------------------------------


__all__ = ["LESSON_ID", "check_id", "check_new_id", "check_text", "current_source", "delete_source", "list_files",
           "make_etag", "save_source", "source_dir", "with_id", "yaml_quoted"]

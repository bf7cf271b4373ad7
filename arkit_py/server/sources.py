"""Lesson sources on the server, for the studio: lesson.yaml with its history, and the files
it names (docs/studio.md; OpenAPI in openapi.yaml).

- ``GET /api/lessons/<id>/source`` -> ``{yaml, etag, version, files, built, recovered}``
- ``PUT /api/lessons/<id>/source`` ``{yaml, note?}`` with ``If-Match: <etag>`` -> 200
  ``{etag, version, errors: []}``; 422 ``{errors: [{line, column, field, message}]}``; 409 on
  a stale etag; 428 without ``If-Match`` on a lesson that exists. A new id creates the
  lesson (``If-None-Match: *`` makes sure it is new).
- ``POST /api/lessons/<id>/validate`` ``{yaml}`` -> ``{errors, lesson}`` (nothing saved)
- ``GET /api/lessons/<id>/history``, ``GET /api/lessons/<id>/history/<version>``
- ``GET|POST /api/lessons/<id>/files``, ``DELETE /api/lessons/<id>/files/<name>``
- ``POST /api/lessons/<id>/duplicate`` ``{id}``; export as ``source.yaml``, ``source.zip``
- the studio's own: ``GET|POST /api/studio/lessons`` (list, new), ``POST /api/studio/import``,
  ``GET /api/studio/options``

The text and every saved version live in the database; the files in
``<data>/sources/<id>/`` (uploads: ``uploads.py``). A lesson in the library without a source
(a bundle from a folder or an upload) is edited from a lesson.yaml recovered from its
lesson.json (``lesson/recover.py``) until its first save.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import zipfile
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import func

from ..errors import SessionError
from ..lesson.source import MAX_LESSON_BYTES
from .db import LessonRow, LessonSource, SourceVersion, select
from .http import require_lecturer
from .sourcestore import (
    _db,
    _title_of,
    check_id,
    check_new_id,
    check_text,
    current_source,
    list_files,
    save_source,
    source_dir,
    with_id,
    yaml_quoted,
)

bp = Blueprint("sources", __name__)
def _yaml_body() -> dict:
    """A JSON body with ``yaml``: a lesson, so up to 4 MB of JSON (more than MAX_JSON_BYTES)."""
    from .http import json_body

    data = json_body(4 * MAX_LESSON_BYTES)
    if not isinstance(data.get("yaml"), str):
        raise SessionError("bad_json", 'send {"yaml": "<the lesson.yaml text>"}')
    if len(data["yaml"]) > MAX_LESSON_BYTES:  # refused as a lesson that fails its checks, as validate does
        raise SessionError("bad_source", f"lesson.yaml is larger than {MAX_LESSON_BYTES // 1000} kB")
    if "note" in data and (not isinstance(data["note"], str) or len(data["note"]) > 200):
        raise SessionError("bad_json", "note is a text of at most 200 characters")
    # a NUL or lone surrogate in the lesson is the YAML reader's to refuse, with its place; in
    # the note (kept as it is) it has no place: control characters and surrogates go
    data["note"] = "".join(c for c in data.get("note", "") if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)
    return data


def bad_source(errors: list[dict], message: str | None = None):
    """The 422 of a lesson with problems: the first one's words, and all of them located."""
    return jsonify({"error": "bad_source", "message": message or errors[0]["message"], "errors": errors}), 422


def if_match() -> str | None:
    """The etag ``If-Match`` names (quotes and a weak ``W/`` dropped), or None without one."""
    value = request.headers.get("If-Match")
    if value is None:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


@bp.get("/api/lessons/<lesson_id>/source")
def get_source(lesson_id: str):
    require_lecturer()
    check_id(lesson_id)
    current = current_source(lesson_id)
    if current is None:
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}")
    with _db().session() as s:
        lib = s.get(LessonRow, lesson_id)
    response = jsonify({"yaml": current["yaml"], "etag": current["etag"], "version": current["version"],
                        "recovered": current["recovered"], "files": list_files(lesson_id),
                        "built": lib.sha256 if lib is not None else None})
    response.headers["ETag"] = f'"{current["etag"]}"'
    return response


@bp.put("/api/lessons/<lesson_id>/source")
def put_source(lesson_id: str):
    require_lecturer()
    check_id(lesson_id)
    body = _yaml_body()
    errors, _ = check_text(lesson_id, body["yaml"])
    if errors:
        return bad_source(errors)
    note = body.get("note", "")
    saved = save_source(lesson_id, body["yaml"], if_match=if_match(),
                        create_only=request.headers.get("If-None-Match", "").strip() == "*", note=note)
    response = jsonify({**saved, "errors": []})
    response.headers["ETag"] = f'"{saved["etag"]}"'
    return response


@bp.post("/api/lessons/<lesson_id>/validate")
def validate_source(lesson_id: str):
    """The located errors of an unsaved text (the studio checks as the lecturer types), and
    the lesson as students would get it (narration rendered) when it is valid."""
    from .library import render_narration

    require_lecturer()
    check_id(lesson_id)
    text = _yaml_body()["yaml"]
    errors, src = check_text(lesson_id, text)
    lesson = render_narration(json.loads(json.dumps(src.normalised))) if src is not None else None
    return jsonify({"errors": errors, "lesson": lesson, "narration_html": _narrations(text, lesson)})


def _narrations(text: str, lesson: dict | None) -> list:
    """Each step's narration as students will read it, also while the lesson has problems
    elsewhere (the live preview beside the text): null for a step without narration text."""
    from ..yamlio import YamlProblem, load_yaml
    from .library import render_narration

    if lesson is not None:
        return [s["narration_html"] for s in lesson["steps"]]
    try:
        data, _ = load_yaml(text)
    except YamlProblem:
        return []
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list):
        return []
    shown = [{"narration": s["narration"]} if isinstance(s, dict) and isinstance(s.get("narration"), str) else {}
             for s in steps[:500]]
    rendered = render_narration({"steps": [s if s else {"narration": ""} for s in shown]})["steps"]
    return [r["narration_html"] if s else None for r, s in zip(rendered, shown)]


@bp.get("/api/lessons/<lesson_id>/history")
def history(lesson_id: str):
    require_lecturer()
    check_id(lesson_id)
    with _db().session() as s:
        rows = s.execute(select(SourceVersion).where(SourceVersion.lesson_id == lesson_id)
                         .order_by(SourceVersion.version.desc()).limit(500)).scalars().all()
    return jsonify([{"version": r.version, "etag": r.etag, "note": r.note, "saved_at": r.saved_at.isoformat() + "Z",
                     "size": len(r.yaml.encode()), "title": _title_of(r.yaml)} for r in rows])


@bp.get("/api/lessons/<lesson_id>/history/<int:version>")
def history_version(lesson_id: str, version: int):
    require_lecturer()
    check_id(lesson_id)
    if version > 2**31 - 1:  # past any version (and past what an SQL integer holds)
        raise SessionError("not_found", f"lesson {lesson_id!r} has no version {version}")
    with _db().session() as s:
        row = s.execute(select(SourceVersion).where(SourceVersion.lesson_id == lesson_id,
                                                    SourceVersion.version == version)).scalar_one_or_none()
    if row is None:
        raise SessionError("not_found", f"lesson {lesson_id!r} has no version {version}")
    return jsonify({"version": row.version, "yaml": row.yaml, "etag": row.etag, "note": row.note,
                    "saved_at": row.saved_at.isoformat() + "Z"})


# -- files ------------------------------------------------------------------------------------


@bp.get("/api/lessons/<lesson_id>/files")
def get_files(lesson_id: str):
    require_lecturer()
    return jsonify(list_files(check_id(lesson_id)))


@bp.post("/api/lessons/<lesson_id>/files")
def post_files(lesson_id: str):
    """Uploads (multipart, field ``file``, one or more): each checked by its content and
    stored in the lesson's folder; 201 with what was stored."""
    from .uploads import store_uploads

    require_lecturer()
    check_id(lesson_id)
    if current_source(lesson_id) is None:
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}: save it first")
    if request.mimetype != "multipart/form-data":
        raise SessionError("bad_upload", "send the files as multipart/form-data, field 'file'")
    uploads = request.files.getlist("file")
    if not uploads:
        raise SessionError("bad_upload", "send the files as multipart/form-data, field 'file'")
    if len(uploads) > 20:
        raise SessionError("bad_upload", "at most 20 files at once")
    name = request.form.get("name") if len(uploads) == 1 else None
    stored = store_uploads(source_dir(lesson_id), uploads, name=name or None)
    return jsonify({"files": stored}), 201


@bp.delete("/api/lessons/<lesson_id>/files/<name>")
def delete_file(lesson_id: str, name: str):
    require_lecturer()
    folder = source_dir(check_id(lesson_id))
    if name.startswith(".") or "/" in name or "\\" in name or not (folder / name).exists():
        raise SessionError("not_found", "no such file")
    path = folder / name
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return "", 204


# -- copies, imports, exports ------------------------------------------------------------------


@bp.post("/api/lessons/<lesson_id>/duplicate")
def duplicate(lesson_id: str):
    from .http import json_body

    require_lecturer()
    check_id(lesson_id)
    body = json_body()
    new_id = check_new_id(body.get("id"))
    current = current_source(lesson_id)
    if current is None:
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}")
    if current_source(new_id) is not None:
        raise SessionError("conflict", f"lesson {new_id!r} already exists")
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > 200):
        raise SessionError("bad_lesson", "title is a text of at most 200 characters")
    target = source_dir(new_id)
    if target.exists():  # another lesson's folder (or one being made now): never replaced
        raise SessionError("conflict", f"lesson {new_id!r} already exists")
    staging = target.parent / f".staging-{secrets.token_hex(8)}"
    try:
        if source_dir(lesson_id).is_dir():
            shutil.copytree(source_dir(lesson_id), staging, symlinks=True, ignore=shutil.ignore_patterns(".*"))
        else:
            staging.mkdir(parents=True)
        try:
            staging.rename(target)  # fails when the folder appeared meanwhile
        except OSError:
            raise SessionError("conflict", f"lesson {new_id!r} already exists") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    text = with_id(current["yaml"], new_id, title)
    errors, _ = check_text(new_id, text)
    if errors:  # a copy is saved valid, like every version (a recovered lesson may not be yet)
        shutil.rmtree(target, ignore_errors=True)
        return bad_source(errors, f"the copy would not be valid: {errors[0]['message']}")
    try:
        saved = save_source(new_id, text, if_match=None, create_only=True, note=f"copy of {lesson_id}")
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return jsonify({"id": new_id, **saved}), 201


@bp.get("/api/lessons/<lesson_id>/source.yaml")
def export_yaml(lesson_id: str):
    require_lecturer()
    current = current_source(check_id(lesson_id))
    if current is None:
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}")
    return Response(current["yaml"], mimetype="application/yaml",
                    headers={"Content-Disposition": f"attachment; filename={lesson_id}.yaml"})


@bp.get("/api/lessons/<lesson_id>/source.zip")
def export_zip(lesson_id: str):
    """The lesson folder as a zip: ``<id>/lesson.yaml`` and its files (what ``arkit lesson
    build`` takes, for lecturers who keep lessons in git)."""
    require_lecturer()
    current = current_source(check_id(lesson_id))
    if current is None:
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}")
    folder = source_dir(lesson_id)
    import tempfile

    tmp = tempfile.SpooledTemporaryFile(max_size=64 << 20)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{lesson_id}/lesson.yaml", current["yaml"])
        if folder.is_dir():
            for p in sorted(folder.rglob("*")):
                if p.is_file() and not p.is_symlink() and not any(part.startswith(".") for part in
                                                                  p.relative_to(folder).parts):
                    zf.write(p, f"{lesson_id}/{p.relative_to(folder).as_posix()}")
    tmp.seek(0)

    def chunks():
        with tmp:
            yield from iter(lambda: tmp.read(1 << 20), b"")

    return Response(chunks(), mimetype="application/zip",
                    headers={"Content-Disposition": f"attachment; filename={lesson_id}-source.zip"})


def _digest(path: Path) -> str:
    with open(path, "rb") as f:  # streamed: a bundle may be hundreds of MB
        return hashlib.file_digest(f, "sha256").hexdigest()


@bp.get("/api/lessons/<lesson_id>/bundle")
def export_bundle(lesson_id: str):
    """The library's bundle of the lesson (``<id>.arlesson``), when the server keeps it."""
    from flask import send_file

    require_lecturer()
    check_id(lesson_id)
    data = Path(current_app.config["DATA_DIR"])
    with _db().session() as s:
        row = s.get(LessonRow, lesson_id)
    candidates = [data / "bundles" / f"{lesson_id}.arlesson"]
    if current_app.config.get("LESSONS_DIR"):
        candidates.append(Path(current_app.config["LESSONS_DIR"]) / f"{lesson_id}.arlesson")
    for path in candidates:
        if row is not None and path.is_file() and \
                path.stat().st_size == row.size and _digest(path) == row.bundle_sha256:
            return send_file(path, mimetype="application/zip", as_attachment=True,
                             download_name=f"{lesson_id}.arlesson")
    raise SessionError("not_found", f"no bundle of {lesson_id!r} is kept on the server: build it")


@bp.get("/api/studio/lessons")
def studio_lessons():
    """Every lesson the studio can open: sources and library lessons, by id, with whether
    the library's bundle is older than the last save."""
    require_lecturer()
    db = _db()
    with db.session() as s:
        sources = {r.lesson_id: r for r in s.execute(select(LessonSource)).scalars()}
        library = {r.id: r for r in s.execute(select(LessonRow)).scalars()}
        counts = dict(s.execute(select(SourceVersion.lesson_id, func.count()).group_by(SourceVersion.lesson_id)).all())
    out = []
    for lesson_id in sorted(set(sources) | set(library)):
        src, lib = sources.get(lesson_id), library.get(lesson_id)
        lesson = lib.lesson if lib is not None else {}
        thumb = lesson.get("thumbnail")
        out.append({
            "id": lesson_id,
            "title": (_title_of(src.yaml) if src is not None else None) or (lib.title if lib else lesson_id),
            "summary": lesson.get("summary", ""),
            "steps": len(lesson.get("steps", [])) if lib is not None else None,
            "thumbnail": f"/{thumb['path']}" if thumb else None,
            "built": lib is not None,
            "origin": lib.origin if lib is not None else None,
            "has_source": src is not None,
            "versions": counts.get(lesson_id, 0),
            "updated_at": (src.updated_at if src is not None else lib.added_at).isoformat() + "Z",
            "stale": bool(src is not None and lib is not None and src.updated_at > lib.added_at),
        })
    return jsonify(out)


def body_options(app) -> list[dict]:
    """The bodies a lesson can be built on here: the built-in ones, ICRP 110 once imported."""
    from ..phantoms.icrp110 import stored_path

    bodies = [{"source": "phantom:mird-adult", "name": "MIRD adult phantom (analytic, built in)", "available": True},
              {"source": "phantom:mird-adult?sex=female", "name": "MIRD adult phantom, female", "available": True},
              {"source": "sample:abdomen-ct", "name": "Abdomen CT with its segmentation (built-in sample)",
               "available": True}]
    for sex in ("male", "female"):
        try:
            available = stored_path(sex).is_file()
        except Exception:  # noqa: BLE001 - an unreadable data folder: not imported
            available = False
        bodies.append({"source": f"phantom:icrp110-{sex}", "name": f"ICRP 110 adult {sex} (voxel phantom)",
                       "available": available})
    return bodies


@bp.get("/api/studio/options")
def options():
    """What the studio's menus offer: bodies, library tracers, profiles, quantities."""
    from ..tracer.tracerfile import library_ids, read_library_tracer

    require_lecturer()
    tracers = []
    for tracer_id in library_ids():
        try:
            name = read_library_tracer(tracer_id).name
        except Exception:  # noqa: BLE001 - a broken library file shows by its id
            name = tracer_id
        tracers.append({"id": tracer_id, "name": name})
    return jsonify({"bodies": body_options(current_app), "tracers": tracers,
                    "profiles": ["phone", "hololens", "desktop"], "quantities": ["concentration", "suv"]})


def new_lesson_text(lesson_id: str, title: str, body: str, tracer: str | None) -> str:
    """A lesson that builds: one step on ``body``, with ``tracer`` and its time when given."""
    from ..lesson.recover import yaml_text

    hologram = {"source": body, "profile": "phone"}
    step = {"title": "The body", "narration": "Turn the hologram around. Tap a structure to see its name."}
    if tracer:
        hologram["tracer"] = tracer
        step = {"title": "Uptake over time", "narration": "Press Play and watch where the tracer goes.",
                "time": {"start": "0 min", "end": "60 min", "play": True}}
    data = {"id": lesson_id, "title": title, "summary": "What the students will see and learn.",
            "audience": "Students", "minutes": 15, "language": "en", "authors": ["Lecturer"],
            "licence": "CC-BY-4.0", "references": [], "review_status": "unreviewed",
            "holograms": {"body": hologram}, "steps": [step]}
    return "# Made in the arkit studio. Fields: docs/lesson-format.md\n" + yaml_text(data)


@bp.post("/api/studio/lessons")
def new_lesson():
    """``{id, title, template}`` (template: "anatomy", the scaffold of ``arkit lesson new``) or
    ``{id, title, body, tracer?}`` -> 201 ``{id, etag, version}``."""
    from importlib import resources

    from .http import json_body

    require_lecturer()
    body = json_body()
    lesson_id = body.get("id")
    title = body.get("title", "")
    check_new_id(lesson_id)
    if not isinstance(title, str) or len(title) > 200:
        raise SessionError("bad_lesson", "title is a text of at most 200 characters")
    if "template" in body and body["template"] != "anatomy":
        raise SessionError("bad_lesson", 'the one template is "anatomy"')
    if "body" in body and not isinstance(body["body"], str):
        raise SessionError("bad_lesson", "body is a body's source (phantom:mird-adult...)")
    title = title.strip()[:200] or lesson_id.replace("-", " ").capitalize()
    if body.get("template") == "anatomy":
        text = (resources.files("arkit_py") / "lesson" / "template.yaml").read_text(encoding="utf-8")
        text = text.replace("{id}", lesson_id).replace('"{title}"', yaml_quoted(title))
    elif isinstance(body.get("body"), str):
        tracer = body.get("tracer") or None
        if tracer is not None and not isinstance(tracer, str):
            raise SessionError("bad_lesson", "tracer is a library tracer id")
        text = new_lesson_text(lesson_id, title, body["body"], tracer)
    else:
        raise SessionError("bad_lesson", 'give "template": "anatomy", or "body" (and "tracer")')
    errors, _ = check_text(lesson_id, text)
    if errors:
        return bad_source(errors)
    saved = save_source(lesson_id, text, if_match=None, create_only=True, note="new")
    return jsonify({"id": lesson_id, **saved}), 201


def _import_source_zip(path: Path):
    """A lesson folder zip (the studio's source export) as a new lesson with its files."""
    from .uploads import extract_source_zip

    lesson_id = request.form.get("id") or ""
    staging = Path(current_app.config["DATA_DIR"]) / "sources" / f".staging-{os.getpid()}-{id(path)}"
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = extract_source_zip(path, staging)
        lesson_id = check_new_id(lesson_id or _id_line(text))
        if current_source(lesson_id) is not None or source_dir(lesson_id).exists():
            raise SessionError("conflict", f"lesson {lesson_id!r} already exists (give another id)")
        os.replace(staging, source_dir(lesson_id))
        text = with_id(text, lesson_id)
        errors, _ = check_text(lesson_id, text)
        if errors:
            shutil.rmtree(source_dir(lesson_id), ignore_errors=True)
            return bad_source(errors)
        saved = save_source(lesson_id, text, if_match=None, create_only=True, note="imported")
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return jsonify({"id": lesson_id, "kind": "folder", **saved}), 201


def _id_line(text: str) -> str:
    match = re.search(r"(?m)^id:\s*['\"]?([a-z0-9-]{1,64})['\"]?\s*$", text)
    if not match:
        raise SessionError("bad_upload", "this lesson.yaml has no id: line (give the form field 'id')")
    return match.group(1)


@bp.post("/api/studio/import")
def import_lesson():
    """A lesson.yaml (saved as a new source, its id from the file or the form field ``id``)
    or an .arlesson bundle (into the library, its source recovered): multipart field
    ``file``. 201 ``{id}``."""
    from .library import _held, _temp_path, install_upload

    require_lecturer()
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is None:
        raise SessionError("bad_upload", "send lesson.yaml or a .arlesson as multipart/form-data, field 'file'")
    head = upload.stream.read(4)
    upload.stream.seek(0)
    if head.startswith(b"PK\x03\x04"):
        folder = Path(current_app.config["DATA_DIR"]) / "bundles"
        tmp = _temp_path(folder, ".upload-", ".arlesson")
        try:
            with _held(tmp) as f:
                upload.save(f)
                f.flush()
                with zipfile.ZipFile(tmp) if zipfile.is_zipfile(tmp) else contextlib.nullcontext() as zf:
                    is_bundle = zf is not None and "lesson.json" in zf.namelist()
                if not is_bundle:
                    return _import_source_zip(tmp)
                row = install_upload(tmp, folder)
        finally:
            tmp.unlink(missing_ok=True)
        return jsonify({"id": row.id, "kind": "bundle"}), 201
    raw = upload.stream.read(MAX_LESSON_BYTES + 1)
    if len(raw) > MAX_LESSON_BYTES:
        raise SessionError("bad_upload", f"a lesson.yaml is at most {MAX_LESSON_BYTES // 1000} kB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SessionError("bad_upload", f"not UTF-8 text (byte {error.start}): neither lesson.yaml nor .arlesson") \
            from None
    if "\0" in text:
        raise SessionError("bad_upload", "not a text file: neither lesson.yaml nor .arlesson")
    lesson_id = check_new_id(request.form.get("id") or _id_line(text))
    text = with_id(text, lesson_id)
    errors, _ = check_text(lesson_id, text)
    if errors:
        return bad_source(errors)
    saved = save_source(lesson_id, text, if_match=None, create_only=True, note="imported")
    return jsonify({"id": lesson_id, "kind": "yaml", **saved}), 201


__all__ = ["bad_source", "body_options", "bp", "if_match", "new_lesson_text"]

"""Builds off the request thread: ``POST /api/lessons/<id>/build`` (the bundle, into the
library), ``POST /api/lessons/<id>/preview`` (one hologram for the studio's 3D view) and
``GET /api/jobs/<job>`` (docs/studio.md; OpenAPI in openapi.yaml).

A job is a database row (state queued -> running -> done | failed, progress, step, error,
sha256). BUILD_JOBS builds run at once per server process (default 1: a hologram takes both
cores of a laptop for seconds); each runs ``buildjob.py`` in a child process on a copy of the
lesson folder (``<data>/work/<job>/<id>``: the lesson.yaml as saved when the build was asked
for, its files hard-linked), reading its progress lines. A bundle is installed by
``library.store_bundle`` only after the child finished, so a crash leaves the library as it
was. At start, a server marks the running jobs of dead processes on its host failed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request, send_file

from ..errors import SessionError
from .db import BuildJob, select, utcnow
from .http import require_lecturer
from .sources import _yaml_body, bad_source, if_match
from .sourcestore import check_id, check_text, current_source, source_dir

bp = Blueprint("jobs", __name__)
log = logging.getLogger("arkit.server")
MAX_QUEUED = 20
HOST = socket.gethostname()[:100]
LIVE: set[str] = set()  # the owners (Builders) alive in this process


def cache_dir(app) -> Path:
    return Path(app.config.get("BUILD_CACHE") or Path(app.config["DATA_DIR"]) / "cache")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Builder:
    """The jobs of one server process: a semaphore of BUILD_JOBS slots, a thread per job."""

    def __init__(self, app):
        self.app = app
        self.db = app.extensions["arkit_db"]
        self.slots = threading.BoundedSemaphore(max(1, int(app.config["BUILD_JOBS"])))
        self.owner = f"{HOST}:{os.getpid()}:{secrets.token_hex(4)}"
        LIVE.add(self.owner)
        self.timeout = float(app.config["BUILD_TIMEOUT_S"])

    # -- state --------------------------------------------------------------------------------

    def _update(self, job_id: str, **fields) -> None:
        with self.db.session() as s:
            s.execute(BuildJob.__table__.update().where(BuildJob.id == job_id).values(**fields))
            s.commit()

    def recover(self) -> int:
        """Mark failed the running jobs whose process on this host is gone; start the queued
        ones. Returns how many were marked failed."""
        failed = 0
        with self.db.session() as s:
            rows = s.execute(select(BuildJob).where(BuildJob.state.in_(("running", "queued")))).scalars().all()
        for row in rows:
            host, pid, _ = ((row.owner or "").split(":") + ["", "", ""])[:3]
            gone = row.owner not in LIVE and pid.isdigit() and (int(pid) == os.getpid() or not _pid_alive(int(pid)))
            age = (utcnow() - row.created_at).total_seconds()
            if row.state == "running" and age > self.timeout + 3600:  # past any build's time, wherever it ran
                self._update(row.id, state="failed", error="the build never finished: build again",
                             finished_at=utcnow())
                failed += 1
            elif row.state == "queued" and age >= 86400:
                self._update(row.id, state="failed", error="the build waited a day: build again", finished_at=utcnow())
            elif row.state == "running" and host == HOST and gone:
                self._update(row.id, state="failed", error="the server stopped during the build: build again",
                             finished_at=utcnow())
                failed += 1
            elif row.state == "queued" and (utcnow() - row.created_at).total_seconds() < 86400:
                self.start(row.id)
        return failed

    def submit(self, lesson_id: str, kind: str, text: str, hologram: str | None = None) -> str:
        with self.db.session() as s:
            waiting = s.execute(select(BuildJob.id).where(BuildJob.state == "queued")).all()
            if len(waiting) >= MAX_QUEUED:
                raise SessionError("busy", "too many builds are waiting: try again in a minute")
            same = s.execute(select(BuildJob).where(BuildJob.lesson_id == lesson_id, BuildJob.kind == kind,
                                                    BuildJob.hologram == hologram,
                                                    BuildJob.state.in_(("queued", "running")))).scalars().all()
            for row in same:
                if row.yaml == text:
                    return row.id  # the same build asked twice (two clicks, two tabs): one job
            if kind == "hologram":  # a newer view of the same hologram: the waiting one is not wanted
                for row in same:
                    if row.state == "queued":
                        s.execute(BuildJob.__table__.update().where(BuildJob.id == row.id, BuildJob.state == "queued")
                                  .values(state="failed", error="superseded by a newer preview", step="failed",
                                          finished_at=utcnow()))
            job_id = secrets.token_hex(16)
            s.add(BuildJob(id=job_id, lesson_id=lesson_id, kind=kind, hologram=hologram, yaml=text, state="queued",
                           progress=0.0, step="waiting for a free builder"))
            s.commit()
        # the lesson folder as it is now (files hard-linked): what was asked for, whatever changes later
        work = Path(self.app.config["DATA_DIR"]) / "work" / job_id
        try:
            self._folder(lesson_id, text, work)
        except OSError as error:
            self._update(job_id, state="failed", error=f"the lesson's files could not be copied ({error.strerror})",
                         step="failed", finished_at=utcnow())
            return job_id
        self.start(job_id)
        return job_id

    def start(self, job_id: str) -> None:
        threading.Thread(target=self._run, args=(job_id,), name=f"arkit-build-{job_id[:8]}", daemon=True).start()

    # -- running --------------------------------------------------------------------------------

    def _run(self, job_id: str) -> None:
        with self.slots:
            with self.db.session() as s:
                claimed = s.execute(BuildJob.__table__.update()
                                    .where(BuildJob.id == job_id, BuildJob.state == "queued")
                                    .values(state="running", owner=self.owner, step="starting")).rowcount
                s.commit()
                row = s.get(BuildJob, job_id) if claimed else None
            if row is None:
                return  # another process took it
            try:
                result = self._execute(row)
                self._update(job_id, state="done", progress=1.0, step="done", finished_at=utcnow(), **result)
            except SessionError as error:
                self._update(job_id, state="failed", error=error.message, step="failed", finished_at=utcnow())
            except Exception:  # noqa: BLE001 - a bug: the job fails, the server goes on
                log.exception("build %s failed", job_id[:8])
                self._update(job_id, state="failed", error="the build failed on the server (see its log)",
                             step="failed", finished_at=utcnow())

    def _folder(self, lesson_id: str, text: str, work: Path) -> Path:
        """``<work>/<id>``: lesson.yaml as asked for, the lesson's files hard-linked (copied
        where the file system has no hard links)."""
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        folder = work / lesson_id
        sources = source_dir(lesson_id, self.app)
        if sources.is_dir():
            def link(src, dst):
                try:
                    os.link(src, dst)
                except OSError:
                    shutil.copy2(src, dst)

            shutil.copytree(sources, folder, copy_function=link, symlinks=True,
                            ignore=shutil.ignore_patterns(".*"))
        else:
            folder.mkdir(parents=True)
        (folder / "lesson.yaml").write_text(text, encoding="utf-8")
        return folder

    def _execute(self, row: BuildJob) -> dict:
        app = self.app
        data = Path(app.config["DATA_DIR"])
        work = data / "work" / row.id
        try:
            folder = work / row.lesson_id
            if not (folder / "lesson.yaml").is_file():  # a job queued before a restart: its copy is gone
                folder = self._folder(row.lesson_id, row.yaml, work)
            cache = cache_dir(app)
            cache.mkdir(parents=True, exist_ok=True)
            if row.kind == "bundle":
                args = ["bundle", str(folder), str(work / "out"), str(cache)]
            else:
                args = ["hologram", str(folder), str(cache), row.hologram or ""]
            final = self._child(row.id, args, work)
            if not final.get("ok"):
                raise SessionError("bad_lesson", final.get("error") or "the build failed")
            if row.kind == "hologram":
                return {"result_json": json.dumps({k: final[k] for k in ("key", "structures", "display", "legend",
                                                                           "tracer_facts", "volumes") if k in final})}
            from .library import collect_garbage, store_bundle

            self._update(row.id, progress=0.97, step="adding the lesson to the library")
            self._check_still_wanted(row)
            bundles = data / "bundles"
            stored = store_bundle(app, Path(final["bundle"]), "studio", keep_in=bundles)
            collect_garbage(app)
            return {"sha256": stored.sha256}
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _check_still_wanted(self, row: BuildJob) -> None:
        """Refuse to install a bundle of a lesson deleted during its build, or one older than
        a build of the same lesson already installed (builds may finish out of order)."""
        from .db import LessonRow, LessonSource

        with self.db.session() as s:
            exists = s.get(LessonSource, row.lesson_id) is not None or s.get(LessonRow, row.lesson_id) is not None
            newer = s.execute(select(BuildJob.id).where(BuildJob.lesson_id == row.lesson_id,
                                                        BuildJob.kind == "bundle", BuildJob.state == "done",
                                                        BuildJob.created_at > row.created_at)).first()
        if not exists:
            raise SessionError("unknown_lesson", "the lesson was deleted during the build: nothing was installed")
        if newer is not None:
            raise SessionError("conflict", "a newer build of this lesson was installed first: this one was not")

    def _child(self, job_id: str, args: list[str], work: Path) -> dict:
        """Run buildjob.py; its progress into the job row; its last JSON line back."""
        proc = subprocess.Popen([sys.executable, "-m", "arkit_py.server.buildjob", *args], cwd=work,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        tail: list[str] = []

        def drain():
            for line in proc.stderr:
                tail.append(line)
                del tail[:-20]

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        killer = threading.Timer(self.timeout, proc.kill)
        killer.start()
        final: dict = {}
        last = 0.0
        try:
            for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if "ok" in msg:
                    final = msg
                elif time.monotonic() - last > 0.3 and isinstance(msg.get("progress"), (int, float)):
                    last = time.monotonic()
                    self._update(job_id, progress=float(msg["progress"]), step=str(msg.get("step", ""))[:200])
            code = proc.wait()
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=5)
        for pipe in (proc.stdout, proc.stderr):
            pipe.close()
        if not final:
            if code < 0 or code == -9:
                final = {"ok": False, "error": f"the build was stopped (over {self.timeout:.0f} s, or killed)"}
            else:
                log.warning("build %s: the builder exited with %s: %s", job_id[:8], code, "".join(tail)[-2000:])
                final = {"ok": False, "error": "the builder stopped without an answer (see the server log)"}
        return final


def builder(app=None) -> Builder:
    return (app or current_app).extensions["arkit_builder"]


def job_json(row: BuildJob) -> dict:
    out = {"job": row.id, "lesson": row.lesson_id, "kind": row.kind, "state": row.state,
           "progress": round(float(row.progress or 0.0), 3), "step": row.step,
           "created_at": row.created_at.isoformat() + "Z"}
    if row.error:
        out["error"] = row.error
    if row.sha256:
        out["sha256"] = row.sha256
    if row.kind == "hologram":
        out["hologram_id"] = row.hologram
        if row.result_json:
            result = json.loads(row.result_json)
            out["hologram"] = {**result, "glb": f"/api/previews/{result['key']}.glb"}
            for volume in (result.get("volumes") or {}).values():  # the slice's NRRD, from the same cache entry
                for frame in volume["frames"]:
                    frame["asset"]["path"] = f"api/previews/{result['key']}-{frame['asset']['sha256']}.nrrd"
    return out


def _saved_text(lesson_id: str) -> tuple[str, str]:
    current = current_source(lesson_id)
    if current is None:
        raise SessionError("unknown_lesson", f"no lesson {lesson_id!r}")
    return current["yaml"], current["etag"]


@bp.post("/api/lessons/<lesson_id>/build")
def build(lesson_id: str):
    """Build the saved source into the library: 202 ``{job}``. With ``If-Match``, only
    when the saved version is the one named (409 otherwise)."""
    require_lecturer()
    check_id(lesson_id)
    text, etag = _saved_text(lesson_id)
    wanted = if_match()
    if wanted and wanted != "*" and wanted != etag:
        raise SessionError("conflict", "the saved lesson is not the version you have open: save or reload first")
    errors, _ = check_text(lesson_id, text)  # refused here, not after a child process has started
    if errors:
        return bad_source(errors)
    job_id = builder().submit(lesson_id, "bundle", text)
    response = jsonify({"job": job_id})
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return response, 202


@bp.post("/api/lessons/<lesson_id>/preview")
def preview(lesson_id: str):
    """One hologram of ``{"yaml"?, "hologram"?}`` (default: the saved source, its first
    hologram) built into the cache for the studio's 3D view: 202 ``{job}``."""
    require_lecturer()
    check_id(lesson_id)
    if request.content_length:
        body = _yaml_body()
        text = body["yaml"]
    else:
        body, (text, _) = {}, _saved_text(lesson_id)
    hologram = body.get("hologram")
    if hologram is not None and (not isinstance(hologram, str) or len(hologram) > 64):
        raise SessionError("bad_request", "hologram is a hologram id of the lesson")
    errors, src = check_text(lesson_id, text)
    if errors:
        return bad_source(errors)
    hologram = hologram or next(iter(src.data["holograms"]))
    if hologram not in src.data["holograms"]:
        raise SessionError("bad_request", f"the lesson has no hologram {hologram!r}")
    job_id = builder().submit(lesson_id, "hologram", text, hologram=hologram)
    response = jsonify({"job": job_id})
    response.headers["Location"] = f"/api/jobs/{job_id}"
    return response, 202


@bp.get("/api/jobs/<job>")
def get_job(job: str):
    job_id = job
    require_lecturer()
    if len(job_id) != 32 or any(c not in "0123456789abcdef" for c in job_id):
        raise SessionError("not_found", "no such job")
    with current_app.extensions["arkit_db"].session() as s:
        row = s.get(BuildJob, job_id)
    if row is None:
        raise SessionError("not_found", "no such job")
    return jsonify(job_json(row))


@bp.get("/api/previews/<name>")
def preview_glb(name: str):
    """A hologram the studio previews (``<key>.glb``) or one of its slice volumes
    (``<key>-<sha256>.nrrd``), from the build cache (only for the signed-in)."""
    require_lecturer()
    stem, _, ext = name.partition(".")
    key, _, digest = stem.partition("-")
    hexes = all(len(k) == 64 and all(c in "0123456789abcdef" for c in k) for k in ((key, digest) if digest else (key,)))
    if not hexes or (ext, bool(digest)) not in (("glb", False), ("nrrd", True)):
        raise SessionError("not_found", "no such preview")
    path = cache_dir(current_app) / key / ("hologram.glb" if ext == "glb" else f"{digest}.nrrd")
    if not path.is_file():
        raise SessionError("not_found", "no such preview (build it again)")
    mimetype = "model/gltf-binary" if ext == "glb" else "application/x-nrrd"
    response = send_file(path, mimetype=mimetype, conditional=True, etag=stem, max_age=86400)
    response.headers["Cache-Control"] = "private, max-age=86400, immutable"
    return response


def init_app(app) -> Builder:
    b = Builder(app)
    app.extensions["arkit_builder"] = b
    work = Path(app.config["DATA_DIR"]) / "work"
    b.recover()
    if work.is_dir():  # folders of builds that were running in a process that is gone
        with app.extensions["arkit_db"].session() as s:
            running = {r for (r,) in s.execute(select(BuildJob.id).where(BuildJob.state.in_(("running", "queued"))))}
        for p in work.iterdir():
            if p.name not in running:
                shutil.rmtree(p, ignore_errors=True)
    return b


__all__ = ["Builder", "bp", "builder", "cache_dir", "init_app", "job_json"]

"""The studio's API on a real app (SQLite, real builds in child processes): lesson sources
with etags and history, located errors, hostile YAML and uploads refused, the sign-in cookie
and its CSRF rules, build jobs (done, failed, a restart mid-build), imports and exports."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import lesson_yaml
from tests.server.conftest import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}
DATA = Path(__file__).resolve().parents[1] / "data"
BODY = "phantom:mird-adult?voxel=8"


@pytest.fixture(scope="module")
def build_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("studio-cache")


@pytest.fixture
def app(tmp_path, lessons_dir, build_cache):
    from arkit_py.server import create_app

    app = create_app({"DATA_DIR": str(tmp_path / "data"), "LESSONS_DIR": str(lessons_dir), "LECTURER_KEY": KEY,
                      "ASYNC_MODE": "threading", "TESTING": True, "BUILD_CACHE": str(build_cache),
                      "STUDIO_LOGINS_PER_MINUTE": 5})
    yield app
    app.extensions["arkit_db"].dispose()


def lesson(lesson_id: str, steps: str, holograms: str = f'  body: {{source: "{BODY}", usdz: false}}') -> str:
    return lesson_yaml(lesson_id, "A studio lesson", "Made by the studio tests.", f"holograms:\n{holograms}\nsteps:\n{steps}")


ONE_STEP = "  - {title: One, narration: First.}\n"


def put(client, lesson_id, text, etag=None, headers=None, **kw):
    h = dict(AUTH, **(headers or {}))
    if etag:
        h["If-Match"] = f'"{etag}"'
    return client.put(f"/api/lessons/{lesson_id}/source", json={"yaml": text, **kw}, headers=h)


def wait_job(client, job, headers=AUTH, timeout=300):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        out = client.get(f"/api/jobs/{job}", headers=headers).get_json()
        if out["state"] in ("done", "failed"):
            return out
        time.sleep(0.2)
    raise AssertionError(f"job {job} still {out['state']} after {timeout} s")


# -- sources, etags, history ---------------------------------------------------------------


def test_a_new_id_creates_and_a_stale_etag_is_a_conflict(client):
    r = put(client, "anatomy-one", lesson("anatomy-one", ONE_STEP))
    assert r.status_code == 200, r.get_json()
    first = r.get_json()
    assert first["version"] == 1 and first["errors"] == [] and r.headers["ETag"] == f'"{first["etag"]}"'
    got = client.get("/api/lessons/anatomy-one/source", headers=AUTH).get_json()
    assert got["etag"] == first["etag"] and got["files"] == [] and got["built"] is None and not got["recovered"]

    # two editors open version 1; the first save wins, the second is told
    tab_a = lesson("anatomy-one", "  - {title: From tab A, narration: A.}\n")
    tab_b = lesson("anatomy-one", "  - {title: From tab B, narration: B.}\n")
    r = put(client, "anatomy-one", tab_a, first["etag"])
    assert r.status_code == 200 and r.get_json()["version"] == 2
    r = put(client, "anatomy-one", tab_b, first["etag"])
    assert r.status_code == 409 and r.get_json()["error"] == "conflict"
    assert "From tab A" in client.get("/api/lessons/anatomy-one/source", headers=AUTH).get_json()["yaml"]
    # no If-Match on a lesson that exists: 428, not a silent overwrite; If-None-Match: * never replaces
    assert put(client, "anatomy-one", tab_b).status_code == 428
    assert put(client, "anatomy-one", tab_b, headers={"If-None-Match": "*"}).status_code == 409

    history = client.get("/api/lessons/anatomy-one/history", headers=AUTH).get_json()
    assert [h["version"] for h in history] == [2, 1]
    old = client.get("/api/lessons/anatomy-one/history/1", headers=AUTH).get_json()
    etag = client.get("/api/lessons/anatomy-one/source", headers=AUTH).get_json()["etag"]
    r = put(client, "anatomy-one", old["yaml"], etag, note="revert to version 1")
    assert r.get_json()["version"] == 3
    history = client.get("/api/lessons/anatomy-one/history", headers=AUTH).get_json()
    assert history[0]["note"] == "revert to version 1" and history[0]["size"] == len(old["yaml"].encode())
    assert client.get("/api/lessons/anatomy-one/source", headers=AUTH).get_json()["yaml"] == old["yaml"]
    assert client.get("/api/lessons/anatomy-one/history/9", headers=AUTH).status_code == 404


def test_errors_are_located_like_lesson_validate(client):
    text = lesson("located", "  - title: One\n    narration: First.\n    visible: [livr, spleen]\n")
    line = text.splitlines().index("    visible: [livr, spleen]") + 1
    r = put(client, "located", text)
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "bad_source"
    assert body["errors"] == [{"line": line, "column": 15, "field": "steps[0].visible[0]",
                               "message": "unknown structure 'livr' (did you mean 'liver'?)"}]
    assert client.get("/api/lessons/located/source", headers=AUTH).status_code == 404  # nothing saved
    # every schema problem at once, each at its own place
    text = lesson("located", "  - {title: One, narration: First., colour: red}\n  - {narration: No title.}\n")
    errors = put(client, "located", text).get_json()["errors"]
    fields = {e["field"]: e for e in errors}
    assert set(fields) == {"steps[0].colour", "steps[1]"}
    assert "unknown field 'colour'" in fields["steps[0].colour"]["message"]
    assert fields["steps[1]"]["message"] == "missing field 'title'"
    assert fields["steps[0].colour"]["line"] < fields["steps[1]"]["line"]
    # validate: the same errors without saving, and the narration rendered anyway
    out = client.post("/api/lessons/located/validate", json={"yaml": text}, headers=AUTH).get_json()
    assert {e["field"] for e in out["errors"]} == set(fields) and out["lesson"] is None
    assert out["narration_html"] == ["<p>First.</p>\n", "<p>No title.</p>\n"]


@pytest.mark.parametrize("text, status, what", [
    ("a: &x [1]\nb: *x\n", 422, "anchors and aliases"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", 422, "too deep"),
    ("id: x\nid: y\n", 422, "appears twice"),
    ("!!python/object/apply:os.system ['touch /tmp/arkit-pwned']\n", 422, "not valid YAML"),
    ("title: x\x00\n", 422, "U+0000"),
    ("\ud800", 422, "UTF-8"),
    ("a" * 1_000_001, 422, "larger than"),
])
def test_hostile_yaml_is_refused_and_nothing_is_saved(client, text, status, what):
    r = client.put("/api/lessons/hostile/source", data=json.dumps({"yaml": text}),
                   headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == status
    body = r.get_json()
    assert what in json.dumps(body, ensure_ascii=False)
    assert client.get("/api/lessons/hostile/source", headers=AUTH).status_code == 404
    assert not Path("/tmp/arkit-pwned").exists()


def test_a_library_bundle_is_edited_from_a_recovered_lesson_yaml(client, app):
    """class-demo came as a bundle: its source is recovered from lesson.json, it validates,
    and it normalises back to what the bundle holds (the build's additions aside)."""
    from arkit_py.lesson.source import load_lesson_text

    got = client.get("/api/lessons/class-demo/source", headers=AUTH).get_json()
    assert got["recovered"] is True and got["version"] == 0 and got["built"]
    folder = Path(app.config["DATA_DIR"]) / "sources" / "class-demo"
    src = load_lesson_text(folder, got["yaml"])
    bundled = app.extensions["arkit_classroom"].lesson_row("class-demo").lesson
    for h in bundled["holograms"].values():
        for key in ("assets", "structures", "display", "legend", "tracer_facts"):
            h.pop(key, None)
    bundled.pop("thumbnail", None)
    assert src.normalised == bundled
    r = put(client, "class-demo", got["yaml"], got["etag"])
    assert r.status_code == 200 and r.get_json()["version"] == 1
    assert client.get("/api/lessons/class-demo/source", headers=AUTH).get_json()["recovered"] is False


# -- the studio's sign-in -------------------------------------------------------------------


def sign_in(client, key=KEY):
    return client.post("/studio/login", data={"key": key})


def csrf_of(client) -> str:
    import re

    page = client.get("/studio").get_data(as_text=True)
    return re.search(r'name="arkit-csrf" content="([^"]+)"', page).group(1)


def test_sign_in_sets_a_strict_httponly_cookie_and_writes_need_the_csrf_token(client, app):
    assert b"Lecturer key" in client.get("/studio").data  # signed out: the form
    r = sign_in(client, "wrong")
    assert r.status_code == 401 and "arkit_studio" not in r.headers.get("Set-Cookie", "")
    r = sign_in(client)
    assert r.status_code == 303 and r.headers["Location"].endswith("/studio")
    cookie = r.headers["Set-Cookie"]
    assert "arkit_studio=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    token = cookie.split("arkit_studio=", 1)[1].split(";", 1)[0]
    from arkit_py.server.db import StudioLogin, select

    with app.extensions["arkit_db"].session() as s:
        stored = [r.token_hash for r in s.execute(select(StudioLogin)).scalars()]
    assert token not in stored and len(stored) == 1  # only its hash is kept

    csrf = csrf_of(client)
    text = lesson("by-cookie", ONE_STEP)
    assert client.get("/api/studio/lessons").status_code == 200  # reads need the cookie only
    r = client.put("/api/lessons/by-cookie/source", json={"yaml": text})
    assert r.status_code == 403 and r.get_json()["error"] == "csrf"
    r = client.put("/api/lessons/by-cookie/source", json={"yaml": text}, headers={"X-CSRF-Token": "x" + csrf})
    assert r.status_code == 403
    r = client.put("/api/lessons/by-cookie/source", json={"yaml": text},
                   headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
    assert r.status_code == 403 and r.get_json()["error"] == "csrf"
    r = client.put("/api/lessons/by-cookie/source", json={"yaml": text}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    # sessions start from the studio too (cookie + CSRF)
    r = client.post("/api/sessions", json={"lesson": "class-demo"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201

    # signing out makes that cookie worthless, also in a copy of it
    stolen = client.get_cookie("arkit_studio").value
    r = client.post("/studio/logout", data={"csrf": csrf})
    assert r.status_code == 303
    other = app.test_client()
    other.set_cookie("arkit_studio", stolen)
    assert other.get("/api/studio/lessons").status_code == 401
    assert b"Lecturer key" in other.get("/studio").data


def test_the_key_never_travels_in_an_address_and_guessing_is_limited(client, caplog):
    r = client.get(f"/studio/login?key={KEY}")
    assert r.status_code == 400 and "arkit_studio" not in r.headers.get("Set-Cookie", "")
    assert KEY not in caplog.text
    statuses = [sign_in(client, f"guess-{i}").status_code for i in range(6)]
    assert statuses == [401] * 5 + [429]
    assert sign_in(client).status_code == 429  # even the right key waits out the minute


def test_an_expired_sign_in_is_refused(client, app):
    import datetime as dt

    from arkit_py.server.db import StudioLogin, select

    sign_in(client)
    with app.extensions["arkit_db"].session() as s:
        row = s.execute(select(StudioLogin)).scalar_one()
        row.expires_at = row.expires_at - dt.timedelta(hours=13)
        s.commit()
    assert client.get("/api/studio/lessons").status_code == 401


# -- uploads -------------------------------------------------------------------------------


def nifti_bytes(shape=(9, 7, 5), zooms=(3.0, 2.0, 4.0)) -> bytes:
    """A label volume with two organs of unequal sizes on anisotropic voxels."""
    import nibabel as nib

    labels = np.zeros(shape, np.uint8)
    labels[1:7, 1:5, 1:4] = 5  # liver (TotalSegmentator class 5)
    labels[6:8, 4:6, 2:4] = 1  # spleen
    img = nib.Nifti1Image(labels, np.diag([*zooms, 1.0]))
    return gzip.compress(img.to_bytes(), mtime=0)


def post_multipart(client, path, fields: dict):
    """A multipart POST encoded in memory (the test client spools bodies over 500 kB to a
    temporary file it never closes)."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    fields = {k: FileStorage(v[0], filename=v[1]) if isinstance(v, tuple) else v for k, v in fields.items()}
    boundary, body = encode_multipart(fields)
    return client.post(path, data=body, headers=AUTH, content_type=f"multipart/form-data; boundary={boundary}")


def upload(client, lesson_id, filename, content, **form):
    return post_multipart(client, f"/api/lessons/{lesson_id}/files",
                          {"file": (io.BytesIO(content), filename), **form})


def zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def test_uploads_are_checked_by_content_and_stored_under_neutral_names(client, app):
    assert put(client, "uploads", lesson("uploads", ONE_STEP)).status_code == 200
    folder = Path(app.config["DATA_DIR"]) / "sources" / "uploads"
    r = upload(client, "uploads", "DOE_JANE_1961.nii.gz", nifti_bytes())
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["files"] == [{"name": "volume-1.nii.gz", "size": len(nifti_bytes()), "kind": "volume",
                                      "about": "NIfTI volume"}]
    dicom = (DATA / "dicom" / "dcmqi_ct3slice_liver.zip").read_bytes()
    r = upload(client, "uploads", "study.zip", dicom)
    assert r.status_code == 201 and r.get_json()["files"][0]["name"] == "dicom-1.zip"
    assert "CT" in r.get_json()["files"][0]["about"] and "SEG" in r.get_json()["files"][0]["about"]
    r = upload(client, "uploads", "curves.csv", b"time_min,liver\n0,0\n60,1\n", name="fdg-curves.csv")
    assert r.get_json()["files"][0] == {"name": "fdg-curves.csv", "size": 24, "kind": "table", "about": "table"}
    names = [f["name"] for f in client.get("/api/lessons/uploads/files", headers=AUTH).get_json()]
    assert names == ["dicom-1.zip", "fdg-curves.csv", "volume-1.nii.gz"]
    assert "DOE" not in json.dumps(client.get("/api/lessons/uploads/source", headers=AUTH).get_json())
    before = sorted(p.name for p in folder.iterdir())

    hostile = {
        "a picture called .nii.gz": ("x.nii.gz", b"\x89PNG\r\n\x1a\n" + b"\0" * 400),
        "gzip that is not NIfTI": ("x.nii.gz", gzip.compress(b"hello" * 100)),
        "zip slip": ("x.zip", zip_bytes({"../../evil.dcm": b"DICM"})),
        "absolute member": ("x.zip", zip_bytes({"/etc/evil": b"x"})),
        "zip bomb": ("x.zip", zip_bytes({"bomb.dcm": b"\0" * (64 << 20)})),
        "zip without DICOM": ("x.zip", zip_bytes({"notes.txt": b"hello"})),
        "binary table": ("x.csv", b"a,b\n\0\0\0"),
        "not UTF-8": ("x.csv", "naïve".encode("latin-1")),
        "empty": ("x.csv", b""),
        "unknown text": ("x.exe", b"MZ but text"),
        "bad name": ("x.csv", b"a,b\n"),
    }
    for what, (name, content) in hostile.items():
        form = {"name": "../x.csv"} if what == "bad name" else {}
        r = upload(client, "uploads", name, content, **form)
        assert r.status_code == 422, what
        assert r.get_json()["error"] == "bad_upload", what
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing half-written, no temporary left
    assert not (folder.parent.parent / "evil.dcm").exists()
    assert upload(client, "no-such-lesson", "x.csv", b"a\n").status_code == 404
    assert client.delete("/api/lessons/uploads/files/..%2Fx", headers=AUTH).status_code == 404
    assert client.delete("/api/lessons/uploads/files/fdg-curves.csv", headers=AUTH).status_code == 204
    assert not (folder / "fdg-curves.csv").exists()


def test_an_uploaded_label_volume_builds_into_the_library(client, app):
    """The whole path for a lecturer's own study: upload, name it as the body, build."""
    assert put(client, "own-study", lesson("own-study", ONE_STEP)).status_code == 200
    name = upload(client, "own-study", "labels.nii.gz", nifti_bytes()).get_json()["files"][0]["name"]
    got = client.get("/api/lessons/own-study/source", headers=AUTH).get_json()
    text = lesson("own-study", "  - {title: One, narration: First., highlighted: [liver]}\n",
                  f"  body: {{source: {name}, labels: totalsegmentator, usdz: false}}")
    assert put(client, "own-study", text, got["etag"]).status_code == 200
    r = client.post("/api/lessons/own-study/build", headers=AUTH)
    assert r.status_code == 202 and r.headers["Location"] == f"/api/jobs/{r.get_json()['job']}"
    job = wait_job(client, r.get_json()["job"])
    assert job["state"] == "done", job
    row = app.extensions["arkit_classroom"].lesson_row("own-study")
    assert row.sha256 == job["sha256"] and row.origin == "studio"
    built = row.lesson["holograms"]["body"]
    assert built["source"] == "label map" and set(built["structures"]) == {"liver", "spleen"}  # no file name
    assert client.get("/api/lessons/own-study", headers=AUTH).status_code == 200


# -- builds -------------------------------------------------------------------------------


def test_a_failing_build_says_why_and_leaves_the_library_as_it_was(client, app):
    room = app.extensions["arkit_classroom"]
    before = room.lesson_row("class-demo").sha256
    got = client.get("/api/lessons/class-demo/source", headers=AUTH).get_json()
    # valid for the schema and the structure table, but the hologram holds no spleen
    text = got["yaml"].replace("narration: Tap the liver.", "narration: Tap the liver.\n  highlighted:\n  - spleen", 1)
    text = text.replace(f"source: {BODY}", f"source: {BODY}\n    structures: [liver, brain, heart]", 1)
    r = put(client, "class-demo", text, got["etag"])
    assert r.status_code == 200, r.get_json()
    job = wait_job(client, client.post("/api/lessons/class-demo/build", headers=AUTH).get_json()["job"])
    assert job["state"] == "failed" and "'spleen' is not in hologram 'body'" in job["error"]
    assert "/sources/" not in job["error"] and "/work/" not in job["error"]  # no server paths
    assert room.lesson_row("class-demo").sha256 == before
    assert not list((Path(app.config["DATA_DIR"]) / "work").iterdir())  # the build folder is gone


def test_a_build_asked_for_a_stale_version_is_refused(client):
    got = client.get("/api/lessons/class-demo/source", headers=AUTH).get_json()
    r = client.post("/api/lessons/class-demo/build", headers={**AUTH, "If-Match": '"not-this-one"'})
    assert r.status_code == 409
    r = client.post("/api/lessons/class-demo/build", headers={**AUTH, "If-Match": f'"{got["etag"]}"'})
    assert r.status_code == 202
    assert client.get("/api/jobs/" + "0" * 32, headers=AUTH).status_code == 404
    assert client.get("/api/jobs/not-a-job", headers=AUTH).status_code == 404
    wait_job(client, r.get_json()["job"])


def test_a_restart_marks_a_running_build_failed(app, tmp_path, lessons_dir, build_cache):
    """A build whose server process died: the next start says so, and installs nothing."""
    import subprocess
    import sys

    from arkit_py.server import create_app
    from arkit_py.server.db import BuildJob
    from arkit_py.server.jobs import HOST

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with app.extensions["arkit_db"].session() as s:
        s.add(BuildJob(id="a" * 32, lesson_id="class-demo", kind="bundle", yaml="x", state="running",
                       owner=f"{HOST}:{dead.pid}:0000", progress=0.4, step="making the surfaces"))
        s.add(BuildJob(id="b" * 32, lesson_id="class-demo", kind="bundle", yaml="x", state="running",
                       owner="another-host:1:0000", progress=0.4, step="making the surfaces"))
        s.commit()
    before = app.extensions["arkit_classroom"].lesson_row("class-demo").sha256
    again = create_app({"DATA_DIR": app.config["DATA_DIR"], "LESSONS_DIR": str(lessons_dir), "LECTURER_KEY": KEY,
                        "ASYNC_MODE": "threading", "TESTING": True, "BUILD_CACHE": str(build_cache)})
    client = again.test_client()
    job = client.get("/api/jobs/" + "a" * 32, headers=AUTH).get_json()
    assert job["state"] == "failed" and "stopped during the build" in job["error"]
    assert client.get("/api/jobs/" + "b" * 32, headers=AUTH).get_json()["state"] == "running"  # not ours to judge
    assert again.extensions["arkit_classroom"].lesson_row("class-demo").sha256 == before
    again.extensions["arkit_db"].dispose()


def test_a_hologram_preview_is_served_to_the_studio_only(client):
    text = lesson("preview-me", ONE_STEP)
    assert put(client, "preview-me", text).status_code == 200
    r = client.post("/api/lessons/preview-me/preview", json={"yaml": text, "hologram": "body"}, headers=AUTH)
    assert r.status_code == 202
    job = wait_job(client, r.get_json()["job"])
    assert job["state"] == "done" and job["kind"] == "hologram"
    glb = job["hologram"]["glb"]
    assert {"liver", "spleen", "body"} <= set(job["hologram"]["structures"])
    assert client.get(glb).status_code == 401  # not for students
    with client.get(glb, headers=AUTH) as r:
        assert r.status_code == 200 and r.mimetype == "model/gltf-binary" and r.data[:4] == b"glTF"
    r = client.post("/api/lessons/preview-me/preview", json={"yaml": text, "hologram": "nope"}, headers=AUTH)
    assert r.status_code == 422 and r.get_json()["error"] == "bad_request"


def test_a_preview_with_a_ct_and_pet_serves_its_slice_volumes(client):
    """The studio's preview of a hologram with ct: and pet: carries the volumes, each frame at
    a preview address of the same cache entry (NRRD, for the signed-in only)."""
    holograms = f'  body: {{source: "{BODY}", usdz: false, tracer: fdg, ct: synthetic, pet: synthetic}}'
    text = lesson("preview-slice", "  - {title: One, narration: First., slice: {axis: axial, at_mm: 400}}\n", holograms)
    assert put(client, "preview-slice", text).status_code == 200
    r = client.post("/api/lessons/preview-slice/preview", json={"yaml": text, "hologram": "body"}, headers=AUTH)
    job = wait_job(client, r.get_json()["job"])
    assert job["state"] == "done", job
    volumes = job["hologram"]["volumes"]
    assert set(volumes) == {"ct", "pet"} and len(volumes["pet"]["frames"]) == 4
    key = job["hologram"]["key"]
    for v in volumes.values():
        for frame in v["frames"]:
            path = "/" + frame["asset"]["path"]
            assert path == f"/api/previews/{key}-{frame['asset']['sha256']}.nrrd"
            assert client.get(path).status_code == 401  # not for students
            with client.get(path, headers=AUTH) as r:
                assert r.status_code == 200 and r.mimetype == "application/x-nrrd" and r.data.startswith(b"NRRD")
                assert hashlib.sha256(r.data).hexdigest() == frame["asset"]["sha256"]
    for bad in (f"{key}.nrrd", f"{key}-{'0' * 64}.glb", f"{key}-{'0' * 64}.nrrd", f"{key}-../x.nrrd"):
        assert client.get(f"/api/previews/{bad}", headers=AUTH).status_code == 404, bad


# -- library actions ----------------------------------------------------------------------


def test_new_duplicate_export_import_and_delete(client, app):
    r = client.post("/api/studio/lessons", json={"id": "fdg-new", "title": "FDG new", "body": BODY, "tracer": "fdg"},
                    headers=AUTH)
    assert r.status_code == 201, r.get_json()
    data = yaml.safe_load(client.get("/api/lessons/fdg-new/source", headers=AUTH).get_json()["yaml"])
    assert data["holograms"]["body"] == {"source": BODY, "profile": "phone", "tracer": "fdg"}
    assert data["steps"][0]["time"] == {"start": "0 min", "end": "60 min", "play": True}
    r = client.post("/api/studio/lessons", json={"id": "anat", "title": "Anatomy", "template": "anatomy"}, headers=AUTH)
    assert r.status_code == 201
    assert client.post("/api/studio/lessons", json={"id": "anat", "template": "anatomy"}, headers=AUTH).status_code == 409
    r = client.post("/api/studio/lessons", json={"id": "bad", "body": "phantom:nope"}, headers=AUTH)
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "holograms.body.source"

    upload(client, "fdg-new", "x.nii.gz", nifti_bytes())
    r = client.post("/api/lessons/fdg-new/duplicate", json={"id": "fdg-copy", "title": "FDG copy"}, headers=AUTH)
    assert r.status_code == 201
    copy = client.get("/api/lessons/fdg-copy/source", headers=AUTH).get_json()
    assert "id: fdg-copy" in copy["yaml"] and 'title: "FDG copy"' in copy["yaml"]
    assert [f["name"] for f in copy["files"]] == ["volume-1.nii.gz"]

    exported = client.get("/api/lessons/fdg-copy/source.zip", headers=AUTH).data
    with zipfile.ZipFile(io.BytesIO(exported)) as zf:
        assert sorted(zf.namelist()) == ["fdg-copy/lesson.yaml", "fdg-copy/volume-1.nii.gz"]
    r = post_multipart(client, "/api/studio/import", {"file": (io.BytesIO(exported), "fdg-copy-source.zip"),
                                                      "id": "fdg-back"})
    assert r.status_code == 201 and r.get_json()["kind"] == "folder"
    assert [f["name"] for f in client.get("/api/lessons/fdg-back/files", headers=AUTH).get_json()] == ["volume-1.nii.gz"]
    text = client.get("/api/lessons/anat/source.yaml", headers=AUTH).get_data(as_text=True)
    r = post_multipart(client, "/api/studio/import", {"file": (io.BytesIO(text.encode()), "lesson.yaml"), "id": "anat-2"})
    assert r.status_code == 201 and r.get_json()["kind"] == "yaml"
    bundle = next(Path(app.config["LESSONS_DIR"]).glob("*.arlesson")).read_bytes()
    r = post_multipart(client, "/api/studio/import", {"file": (io.BytesIO(bundle), "class-demo.arlesson")})
    assert r.status_code == 201 and r.get_json() == {"id": "class-demo", "kind": "bundle"}
    slip = zip_bytes({"x/lesson.yaml": text.encode(), "x/../../evil": b"x"})
    r = post_multipart(client, "/api/studio/import", {"file": (io.BytesIO(slip), "x.zip")})
    assert r.status_code == 422

    listed = {entry["id"]: entry for entry in client.get("/api/studio/lessons", headers=AUTH).get_json()}
    assert {"fdg-new", "anat", "fdg-copy", "fdg-back", "anat-2", "class-demo"} <= set(listed)
    assert listed["class-demo"]["built"] and not listed["fdg-new"]["built"]

    assert client.delete("/api/lessons/fdg-copy", headers=AUTH).status_code == 204
    assert client.get("/api/lessons/fdg-copy/source", headers=AUTH).status_code == 404
    assert client.get("/api/lessons/fdg-copy/history", headers=AUTH).get_json() == []
    assert not (Path(app.config["DATA_DIR"]) / "sources" / "fdg-copy").exists()


def test_the_studios_build_wins_over_the_lessons_folder_after_a_restart(client, app, lessons_dir, build_cache):
    from arkit_py.server import create_app

    got = client.get("/api/lessons/class-demo/source", headers=AUTH).get_json()
    text = got["yaml"].replace("title: Welcome", "title: Welcome, edited in the studio", 1)
    assert put(client, "class-demo", text, got["etag"]).status_code == 200
    job = wait_job(client, client.post("/api/lessons/class-demo/build", headers=AUTH).get_json()["job"])
    assert job["state"] == "done", job
    again = create_app({"DATA_DIR": app.config["DATA_DIR"], "LESSONS_DIR": str(lessons_dir), "LECTURER_KEY": KEY,
                        "ASYNC_MODE": "threading", "TESTING": True, "BUILD_CACHE": str(build_cache)})
    row = again.extensions["arkit_classroom"].lesson_row("class-demo")
    assert row.origin == "studio" and row.lesson["steps"][0]["title"] == "Welcome, edited in the studio"
    again.extensions["arkit_db"].dispose()


def test_a_server_killed_mid_build_restarts_with_the_build_failed_and_nothing_installed(tmp_path):
    """SIGKILL on a real ``arkit serve`` while its build runs; the next start on the same data
    folder says the build failed, and the library does not hold a half-built lesson."""
    from tests.helpers import ServeProcess, http

    lessons = tmp_path / "lessons"
    lessons.mkdir()
    server = ServeProcess(tmp_path / "data", lessons, key=KEY)
    server.start()
    try:
        # the phantom at 2 mm: long enough to be caught running
        text = lesson("killed", ONE_STEP, '  body: {source: "phantom:mird-adult?voxel=2"}')
        http("PUT", f"{server.url}/api/lessons/killed/source", {"yaml": text}, KEY)
        _, started = http("POST", f"{server.url}/api/lessons/killed/build", None, KEY)
        job = started["job"]
        t = time.monotonic()
        while http("GET", f"{server.url}/api/jobs/{job}", token=KEY)[1]["state"] != "running":
            assert time.monotonic() - t < 60, "the build never started"
            time.sleep(0.1)
        server.kill()
        server.start()
        state = http("GET", f"{server.url}/api/jobs/{job}", token=KEY)[1]
        assert state["state"] == "failed" and "stopped during the build" in state["error"]
        _, library = http("GET", f"{server.url}/api/lessons")
        assert "killed" not in [entry["id"] for entry in library]
        assert not any((tmp_path / "data" / "work").iterdir())  # the dead build's folder is gone
        assert KEY not in server.log_tail(200_000)
    finally:
        server.stop()


# -- what a review of the studio found ------------------------------------------------------


@pytest.mark.parametrize("tracer, problem", [
    ("/dev", "absolute path"),
    ("../../..", "outside the lesson folder"),
    ("fdgg", "did you mean 'fdg'"),
])
def test_a_tracer_file_is_looked_for_inside_the_lesson_folder_only(client, tracer, problem):
    """A tracer spec that is not a library id never makes the server walk the disk outside
    the lesson (``/dev`` once hung the request on a device)."""
    text = lesson("probe", ONE_STEP, f'  body: {{source: "{BODY}", tracer: "{tracer}"}}')
    r = put(client, "probe", text)
    assert r.status_code == 422 and problem in r.get_json()["errors"][0]["message"]


@pytest.mark.parametrize("source", ["a\\0b.nii", "x" * 300 + ".nii"])
def test_a_file_name_no_file_system_takes_is_a_located_error(client, source):
    r = put(client, "odd-name", lesson("odd-name", ONE_STEP, f'  body: {{source: "{source}"}}'))
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "holograms.body.source"


def test_saving_a_lesson_deleted_meanwhile_is_a_conflict_not_a_resurrection(client):
    saved = put(client, "gone", lesson("gone", ONE_STEP)).get_json()
    assert client.delete("/api/lessons/gone", headers=AUTH).status_code == 204
    r = put(client, "gone", lesson("gone", ONE_STEP), saved["etag"])
    assert r.status_code == 409 and "no longer exists" in r.get_json()["message"]
    assert client.get("/api/lessons/gone/source", headers=AUTH).status_code == 404


def test_a_duplicate_is_valid_and_never_replaces_another_lessons_folder(client, app):
    # class-demo came as a bundle of the built-in phantom: its recovered copy is valid
    assert client.post("/api/lessons/class-demo/duplicate", json={"id": "demo-copy"}, headers=AUTH).status_code == 201
    # a folder that is there (a lesson being made at this moment): refused, left as it was
    folder = Path(app.config["DATA_DIR"]) / "sources" / "busy-id"
    folder.mkdir(parents=True)
    (folder / "keep.csv").write_text("a\n")
    r = client.post("/api/lessons/class-demo/duplicate", json={"id": "busy-id"}, headers=AUTH)
    assert r.status_code == 409 and (folder / "keep.csv").is_file()


def test_a_new_lecturer_key_ends_every_studio_sign_in(app, tmp_path, lessons_dir, build_cache):
    from arkit_py.server import create_app

    client = app.test_client()
    sign_in(client)
    cookie = client.get_cookie("arkit_studio").value
    assert client.get("/api/studio/lessons").status_code == 200
    rotated = create_app({"DATA_DIR": app.config["DATA_DIR"], "LESSONS_DIR": str(lessons_dir),
                          "LECTURER_KEY": "a-new-key-after-a-leak-0123456789", "ASYNC_MODE": "threading",
                          "TESTING": True, "BUILD_CACHE": str(build_cache)})
    other = rotated.test_client()
    other.set_cookie("arkit_studio", cookie)
    assert other.get("/api/studio/lessons").status_code == 401
    rotated.extensions["arkit_db"].dispose()


def test_one_refused_file_in_a_batch_leaves_none_and_names_never_collide(client, app):
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart

    assert put(client, "batch", lesson("batch", ONE_STEP)).status_code == 200
    folder = Path(app.config["DATA_DIR"]) / "sources" / "batch"

    def send(*files):
        fields = MultiDict([("file", FileStorage(io.BytesIO(content), filename=name)) for name, content in files])
        boundary, body = encode_multipart(fields)
        return client.post("/api/lessons/batch/files", data=body, headers=AUTH,
                           content_type=f"multipart/form-data; boundary={boundary}")

    r = send(("a.nii.gz", nifti_bytes()), ("b.nii.gz", nifti_bytes()), ("c.csv", b"\0\0binary"))
    assert r.status_code == 422 and sorted(p.name for p in folder.iterdir()) == []
    r = send(("a.nii.gz", nifti_bytes()), ("b.nii.gz", nifti_bytes()))
    assert [f["name"] for f in r.get_json()["files"]] == ["volume-1.nii.gz", "volume-2.nii.gz"]


def test_a_folder_zip_is_checked_member_by_member(client):
    text = lesson("zipped", ONE_STEP)
    good = zip_bytes({"zipped/lesson.yaml": text.encode(), "zipped/volume-1.nii.gz": nifti_bytes(),
                      "__MACOSX/zipped/._lesson.yaml": b"\0\x05\x16\x07", "zipped/.DS_Store": b"\0\0\0\1Bud1"})
    r = post_multipart(client, "/api/studio/import", {"file": (io.BytesIO(good), "zipped.zip")})
    assert r.status_code == 201, r.get_json()
    assert [f["name"] for f in client.get("/api/lessons/zipped/files", headers=AUTH).get_json()] == ["volume-1.nii.gz"]
    bad = zip_bytes({"other/lesson.yaml": lesson("other", ONE_STEP).encode(), "other/scan.nii.gz": b"\x89PNG" + b"\0" * 400})
    r = post_multipart(client, "/api/studio/import", {"file": (io.BytesIO(bad), "other.zip")})
    assert r.status_code == 422 and "scan.nii.gz" in r.get_json()["message"]
    assert client.get("/api/lessons/other/source", headers=AUTH).status_code == 404


def test_a_build_is_not_installed_for_a_deleted_lesson_or_over_a_newer_one(app):
    import datetime as dt

    from arkit_py.errors import SessionError
    from arkit_py.server.db import BuildJob, utcnow

    builder = app.extensions["arkit_builder"]
    gone = BuildJob(id="c" * 32, lesson_id="never-was", kind="bundle", yaml="x", created_at=utcnow())
    with pytest.raises(SessionError, match="deleted during the build"):
        builder._check_still_wanted(gone)
    with app.extensions["arkit_db"].session() as s:
        s.add(BuildJob(id="d" * 32, lesson_id="class-demo", kind="bundle", yaml="x", state="done",
                       created_at=utcnow()))
        s.commit()
    older = BuildJob(id="e" * 32, lesson_id="class-demo", kind="bundle", yaml="x",
                     created_at=utcnow() - dt.timedelta(minutes=5))
    with pytest.raises(SessionError, match="newer build"):
        builder._check_still_wanted(older)


def test_the_lecturers_slice_reaches_every_student_and_a_step_sets_its_own(tmp_path):
    """A lesson whose steps slice a hologram with a synthetic CT and PET: the step's slice
    is in the state at that step; the lecturer's slice action changes it for everyone, and
    null takes it away; a malformed one is refused with the field."""
    from arkit_py.server import create_app
    from tests.helpers import build_test_lesson
    from tests.server.conftest import Lecturer, Student

    text = lesson_yaml("sliced", "Sliced", "Slices.", f"""
holograms:
  body: {{source: "{BODY}", usdz: false, tracer: fdg, ct: synthetic, pet: synthetic}}
  plain: {{source: "{BODY}", usdz: false}}
steps:
  - {{title: One, narration: A slice., slice: {{axis: axial, at_mm: -40, blend: 0.8}}}}
  - {{title: Two, narration: No slice.}}
  - {{title: Three, narration: No volumes., hologram: plain}}
""")
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (tmp_path / "build").mkdir()
    bundle = build_test_lesson(tmp_path / "build", "sliced", text)
    bundle.rename(lessons / bundle.name)
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "LESSONS_DIR": str(lessons), "LECTURER_KEY": KEY,
                      "ASYNC_MODE": "threading", "TESTING": True})
    try:
        lecturer = Lecturer(app.test_client())
        lecturer.create_session("sliced")
        students = [Student(app, lecturer.code) for _ in range(2)]
        state = lecturer.client.get(f"/api/sessions/{lecturer.code}").get_json()
        assert state["slice"] == {"axis": "axial", "at_mm": -40.0, "blend": 0.8, "ct_window": "soft_tissue"}
        r = lecturer.control("slice", slice={"normal": [1, 0, 1], "point": [0, 10, 20], "ct_window": "bone"})
        assert r.status_code == 200
        moved = {"normal": [round(2 ** -0.5, 9), 0.0, round(2 ** -0.5, 9)], "point": [0.0, 10.0, 20.0],
                 "blend": 0.5, "ct_window": "bone"}
        assert r.get_json()["slice"] == moved
        for student in students:
            assert student.received("state")[-1]["slice"] == moved
        r = lecturer.control("slice", slice={"axis": "axial", "at_mm": "high"})
        assert r.status_code == 422 and r.get_json()["error"] == "bad_slice" and "at_mm" in r.get_json()["message"]
        assert lecturer.control("step", step=1).get_json()["slice"] is None  # the step's own: none
        assert lecturer.control("slice", slice=None).get_json()["slice"] is None
        lecturer.control("step", step=2)
        r = lecturer.control("slice", slice={"axis": "axial", "at_mm": 0})
        assert r.status_code == 422 and "no CT or PET" in r.get_json()["message"]
    finally:
        app.extensions["arkit_db"].dispose()

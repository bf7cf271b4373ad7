"""What a hostile student, a careless lecturer or a broken file can send, in process: every
case is refused with its JSON error (or socket ack), nothing half-stored, and the class
goes on. (The flood and proxy cases, where timing matters, are in test_floods.py with a
real server process.)"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from tests.helpers import rebundle
from tests.server.conftest import KEY, Student

AUTH = {"Authorization": f"Bearer {KEY}"}


def _ids(client) -> list[str]:
    return [lesson["id"] for lesson in client.get("/api/lessons").json]


def _upload(client, path: Path):
    return client.post("/api/lessons", data=path.read_bytes(), headers=AUTH, content_type="application/octet-stream")


def _edit_quiz(kind, change):
    def edit(lesson):
        for step in lesson["steps"]:
            if (step.get("quiz") or {}).get("kind") == kind:
                change(step["quiz"])
    return edit


BAD_LESSONS = {
    "id-escapes": (lambda d: d.update(id="../../zz-escape"), "id"),
    "id-too-long": (lambda d: d.update(id="a" * 5000), "id"),
    "id-missing": (lambda d: d.pop("id"), "id"),
    "title-a-number": (lambda d: d.update(title=5), "title"),
    "no-steps": (lambda d: d.pop("steps"), "steps"),
    "empty-steps": (lambda d: d.update(steps=[]), "steps"),
    "narration-a-number": (lambda d: d["steps"][0].update(narration=12345), "narration"),
    "numeric-without-kind": (_edit_quiz("numeric", lambda q: q.pop("answer_kind")), "answer_kind"),
    "numeric-without-answer": (_edit_quiz("numeric", lambda q: q.pop("answer")), "answer"),
    "step-unknown-hologram": (lambda d: d["steps"][1].update(hologram="nope"), "hologram"),
    "answer-not-in-hologram": (_edit_quiz("identify", lambda q: q.update(answer=["stomach_wall_x"])), "answer"),
    "choice-out-of-range": (_edit_quiz("choice", lambda q: q.update(answer=[7])), "answer"),
    "duplicate-quiz-id": (lambda d: d["steps"][2]["quiz"].update(id=d["steps"][1]["quiz"]["id"]), "quiz"),
    "asset-not-in-bundle": (lambda d: d["holograms"]["body"]["assets"]["glb"].update(
        path="assets/" + "0" * 64 + ".glb", sha256="0" * 64), "assets"),
}


@pytest.mark.parametrize("case", sorted(BAD_LESSONS))
def test_a_bad_lesson_json_is_refused_and_leaves_nothing(client, app, class_bundle, tmp_path, case):
    edit, field = BAD_LESSONS[case]
    before = _ids(client)
    bad = rebundle(class_bundle, tmp_path / "bad.arlesson", edit)
    r = _upload(client, bad)
    assert r.status_code == 422, r.data
    assert r.json["error"] == "bad_bundle" and field in r.json["message"] and "\n" not in r.json["message"]
    assert _ids(client) == before
    data = Path(app.config["DATA_DIR"])
    assert sorted(p.name for p in (data / "bundles").iterdir()) == []  # no temporary file left
    assert not (tmp_path / "zz-escape.arlesson").exists() and not (data.parent / "zz-escape.arlesson").exists()


@pytest.mark.parametrize("raw,problem", [
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (b'{"schema_version": 1, "id": NaN}', "not JSON"),
    (b"\xff\xfe not text", "not JSON"),
])
def test_lesson_json_that_is_not_json_is_refused(client, class_bundle, tmp_path, raw, problem):
    bad = rebundle(class_bundle, tmp_path / "bad.arlesson", raw=raw)
    r = _upload(client, bad)
    assert r.status_code == 422 and problem in r.json["message"]


def test_bad_bundles_in_the_lessons_folder_are_logged_and_skipped(tmp_path, class_bundle, caplog):
    from arkit_py.server import create_app

    folder = tmp_path / "lessons"
    folder.mkdir()
    rebundle(class_bundle, folder / "a-no-id.arlesson", lambda d: d.pop("id"))
    rebundle(class_bundle, folder / "b-deep.arlesson", raw=b"[" * 100_000)
    rebundle(class_bundle, folder / "c-no-steps.arlesson", lambda d: d.update(steps=[]))
    (folder / "d-not-a-zip.arlesson").write_bytes(b"PK\x03\x04 broken")
    (folder / "class-demo.arlesson").write_bytes(class_bundle.read_bytes())
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "LESSONS_DIR": str(folder), "LECTURER_KEY": KEY,
                      "ASYNC_MODE": "threading", "TESTING": True})
    try:
        assert _ids(app.test_client()) == ["class-demo"]
        skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
        assert len(skipped) == 4 and all(str(folder) in m for m in skipped)
    finally:
        app.extensions["arkit_db"].dispose()


def test_inspect_refuses_a_bad_lesson_json_in_one_line(class_bundle, tmp_path, capsys):
    from arkit_py.cli import main

    for name, (edit, field) in sorted(BAD_LESSONS.items()):
        bad = rebundle(class_bundle, tmp_path / f"{name}.arlesson", edit)
        assert main(["lesson", "inspect", str(bad)]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and str(bad) in err and field in err, (name, err)


def test_a_live_session_keeps_its_lesson_when_it_is_deleted(app, client, lecturer):
    lecturer.create_session()
    lecturer.control("step", step=1)
    lecturer.control("open_quiz")
    student = Student(app, lecturer.code)
    assert student.answer("find-liver", "liver")["ok"]
    lesson = client.get(f"/api/sessions/{lecturer.code}/lesson").json
    glb = lesson["holograms"]["body"]["assets"]["glb"]["path"]
    assert client.delete("/api/lessons/class-demo", headers=AUTH).status_code == 204
    assert "class-demo" not in _ids(client)
    # the class goes on: state, lesson, answers, results and the hologram itself
    assert client.get(f"/api/sessions/{lecturer.code}").status_code == 200
    assert client.get(f"/api/sessions/{lecturer.code}/lesson").json["title"] == lesson["title"]
    with client.get(f"/{glb}") as r:
        assert r.status_code == 200
    lecturer.control("step", step=2)
    lecturer.control("open_quiz")
    assert student.answer("pick", 0)["ok"]
    results = client.get(f"/api/sessions/{lecturer.code}/results", headers={"Authorization": f"Bearer {lecturer.token}"})
    assert results.status_code == 200
    assert [q["quiz"] for q in results.json["quizzes"]] == ["find-liver", "pick", "how-much", "order-them"]
    assert [q["answers"] for q in results.json["quizzes"][:2]] == [1, 1]
    # once the session ends, nothing keeps its assets: they are collected with the next change
    lecturer.control("end")
    from arkit_py.server.library import collect_garbage

    assert collect_garbage(app) >= 1
    assert client.get(f"/{glb}").status_code == 404
    assert client.get(f"/api/sessions/{lecturer.code}/results",
                      headers={"Authorization": f"Bearer {lecturer.token}"}).status_code == 200


def test_a_live_session_keeps_its_version_when_the_lesson_is_replaced(app, client, lecturer, class_bundle, tmp_path):
    lecturer.create_session()
    lecturer.control("step", step=4)
    lecturer.control("open_quiz")
    student = Student(app, lecturer.code)
    assert student.answer("order-them", ["brain", "heart", "liver"])["ok"]
    lecturer.control("reveal")
    old_sha = client.get(f"/api/sessions/{lecturer.code}").json["lesson"]["sha256"]

    def shorter(d):
        d["steps"] = d["steps"][:2]
        d["title"] = "Class demo, short"
    assert _upload(client, rebundle(class_bundle, tmp_path / "short.arlesson", shorter)).status_code == 201
    state = client.get(f"/api/sessions/{lecturer.code}").json
    assert state["steps"] == 5 and state["step"] == 4 and state["lesson"]["sha256"] == old_sha
    assert state["quiz"]["answer"] == ["brain", "heart", "liver"]
    assert len(client.get(f"/api/sessions/{lecturer.code}/lesson").json["steps"]) == 5
    results = client.get(f"/api/sessions/{lecturer.code}/results", headers={"Authorization": f"Bearer {lecturer.token}"})
    assert [q["quiz"] for q in results.json["quizzes"]] == ["find-liver", "pick", "how-much", "order-them"]
    assert results.json["quizzes"][3]["correct"] == 1
    # a new session takes the new version
    lecturer.create_session()
    assert client.get(f"/api/sessions/{lecturer.code}").json["steps"] == 2


def test_json_bodies_are_bounded_and_auth_comes_first(client, lecturer, app):
    lecturer.create_session()
    big = b'{"action": "step", "pad": "' + b"x" * 2_000_000 + b'"}'
    url = f"/api/sessions/{lecturer.code}/control"
    r = client.post(url, data=big, content_type="application/json")
    assert r.status_code == 401 and r.json["error"] == "unauthorised"
    r = client.post(url, data=big, content_type="application/json", headers={"Authorization": f"Bearer {lecturer.token}"})
    assert r.status_code == 413 and r.json["error"] == "too_large"
    deep = b"[" * 30_000 + b"]" * 30_000  # within the size limit, past any parser's recursion
    for path, token in ((url, lecturer.token), ("/api/sessions", KEY)):
        r = client.post(path, data=deep, content_type="application/json", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 400 and r.json["error"] == "bad_json"
    r = client.post("/api/sessions", data=b'{"lesson": NaN}', content_type="application/json", headers=AUTH)
    assert r.status_code == 400


def test_every_api_error_is_the_json_error_object(app, client):
    @app.get("/api/test-boom")
    def boom():
        raise RuntimeError("a bug")

    for method, path, status in (("get", "/api/nothing-here", 404), ("put", "/api/lessons", 405),
                                 ("get", "/api/test-boom", 500)):
        r = getattr(client, method)(path)
        assert r.status_code == status and r.is_json and set(r.json) == {"error", "message"}, (path, r.data[:200])
    assert client.get("/no-such-page").status_code == 404  # pages keep their HTML errors


def test_raw_uploads_take_any_content_type(client, class_bundle):
    body = class_bundle.read_bytes()
    assert client.delete("/api/lessons/class-demo", headers=AUTH).status_code == 204
    for content_type in ("application/x-www-form-urlencoded", "application/octet-stream", "application/zip"):
        r = client.post("/api/lessons", data=body, content_type=content_type, headers=AUTH)
        assert r.status_code == 201, (content_type, r.json)
    r = client.post("/api/lessons", data=b"", content_type="application/octet-stream", headers=AUTH)
    assert r.status_code == 422 and r.json["error"] == "bad_bundle"
    r = client.post("/api/lessons", data={"other": "x"}, content_type="multipart/form-data", headers=AUTH)
    assert r.status_code == 422 and "bundle" in r.json["message"]


@pytest.mark.parametrize("payload", [
    None, "just text", {"code": 12345}, {"code": ["x"]}, {"code": "X" * 500_000}, {"role": ["student"]},
    {"token": 12345, "role": "lecturer"}, {"token": ["x"], "role": "lecturer"}, {"nickname": 123},
    {"nickname": ["a"]}, {"nickname": {"a": 1}}, {"participant_id": 123}, {"participant_id": ["x"]},
])
def test_joins_with_wrong_types_are_acked_with_an_error(app, lecturer, payload):
    lecturer.create_session()
    sio = app.extensions["arkit_socketio"].test_client(app, namespace="/session")
    if isinstance(payload, dict):
        payload = {"code": lecturer.code, **payload}
    ack = sio.emit("join", payload, namespace="/session", callback=True) if payload is not None else \
        sio.emit("join", namespace="/session", callback=True)
    assert ack["ok"] is False and ack["error"] in ("bad_request", "unknown_code", "unauthorised", "forbidden")
    ok = sio.emit("join", {"code": lecturer.code}, namespace="/session", callback=True)
    assert ok["ok"] is True  # the connection is still good


@pytest.mark.parametrize("value", [[1, "a"], [None, 1], [{"a": 1}, {"b": 2}], [1.5, "x"], "brain", None, 7])
def test_order_answers_of_mixed_types_are_refused(app, lecturer, value):
    lecturer.create_session()
    lecturer.control("step", step=4)
    lecturer.control("open_quiz")
    student = Student(app, lecturer.code)
    ack = student.answer("order-them", value)
    assert ack == {"ok": False, "error": "bad_answer", "message": "an order answer lists every item once"}
    assert student.sio.emit("answer", namespace="/session", callback=True)["ok"] is False  # no payload at all


@pytest.mark.parametrize("value,problem", [
    ("+9**9**8", "cannot read"), ("9**(9**7)", "cannot read"), ("99**99**2 MBq", "cannot read"),
    ("2**2000 MBq", "cannot read"), ("1e400 MBq", "finite"), ("1e300 MBq", "too large"), (1e300, "too large"),
    ("370", "an activity"), ("12 h", "an activity"),
])
def test_numeric_answers_are_parsed_not_evaluated(app, lecturer, value, problem):
    lecturer.create_session()
    lecturer.control("step", step=3)
    lecturer.control("open_quiz")
    student = Student(app, lecturer.code)
    ack = student.answer("how-much", value)
    assert ack["ok"] is False and ack["error"] == "bad_answer" and problem in ack["message"], ack
    assert student.answer("how-much", "10 mCi") == {"ok": True}


def test_a_unitless_quiz_says_so():
    from arkit_py.errors import SessionError
    from arkit_py.server.quiz import validate_answer

    quiz = {"kind": "numeric", "answer_kind": "dimensionless"}
    with pytest.raises(SessionError, match=r"the answer is a plain number \(no unit\)"):
        validate_answer(quiz, "12 MBq", set())
    assert validate_answer(quiz, "12 %", set()) == "12 %"


def test_one_socket_is_one_participant(app, lecturer, client):
    lecturer.create_session()
    first, first_token = lecturer.code, lecturer.token
    sio = app.extensions["arkit_socketio"].test_client(app, namespace="/session")
    ids = {sio.emit("join", {"code": first}, namespace="/session", callback=True)["participant_id"] for _ in range(20)}
    assert len(ids) == 1  # the cap is 3: twenty joins would have filled it
    assert client.get(f"/api/sessions/{first}").json["participants"] == 1
    assert Student(app, first).ack["ok"] and Student(app, first).ack["ok"]  # room for the class
    counters = app.extensions["arkit_counters"]
    assert counters.count(first) == 3
    lecturer.create_session()
    second = lecturer.code
    assert sio.emit("join", {"code": second}, namespace="/session", callback=True)["ok"]
    assert counters.count(first) == 2 and counters.count(second) == 1  # no ghost in the first
    sio.get_received("/session")
    lecturer.token, lecturer.code = first_token, first  # the first session's state must not reach it
    assert lecturer.control("step", step=1).status_code == 200
    assert [m for m in sio.get_received("/session") if m["name"] == "state"] == []
    sio.disconnect(namespace="/session")
    assert counters.count(second) == 0 and counters.count(first) == 2


def test_answers_are_rate_limited_per_participant(app, lecturer):
    lecturer.create_session()
    lecturer.control("step", step=2)
    lecturer.control("open_quiz")
    app.config["EVENTS_PER_SECOND"] = 1000  # the connection budget out of the way: this is the answer limit
    student = Student(app, lecturer.code)
    acks = [student.answer("pick", i % 3) for i in range(60)]
    accepted = sum(1 for a in acks if a["ok"])
    limited = sum(1 for a in acks if a.get("error") == "rate_limited")
    assert 5 <= accepted <= 12 and accepted + limited == 60  # a burst of ANSWERS_PER_MINUTE / 3


def test_a_connection_flooding_events_is_refused_then_closed(app, lecturer):
    lecturer.create_session()
    sio = app.extensions["arkit_socketio"].test_client(app, namespace="/session")
    sio.emit("join", {"code": lecturer.code}, namespace="/session", callback=True)
    acks = [sio.emit("no-such-event", {"x": i}, namespace="/session", callback=True) for i in range(40)]
    assert {a["error"] for a in acks} == {"unknown_event", "rate_limited"}
    for _ in range(200):
        if not sio.is_connected("/session"):
            break
        sio.emit("no-such-event", namespace="/session", callback=True)
    assert not sio.is_connected("/session")


@pytest.mark.parametrize("position,structure", [
    ([float("nan"), 0, 0], None), ([float("inf"), 0, 0], None), ([0, 0, -float("inf")], "liver"),
    ([1e300, 0, 0], None), ([True, 0, 0], None), ([0, 0], None), (None, "x" * 500_000), (None, 5),
])
def test_pointer_values_are_finite_and_bounded(app, lecturer, position, structure):
    lecturer.create_session()
    staff = app.extensions["arkit_socketio"].test_client(app, namespace="/session")
    assert staff.emit("join", {"code": lecturer.code, "role": "lecturer", "token": lecturer.token},
                      namespace="/session", callback=True)["ok"]
    student = Student(app, lecturer.code)
    student.received()
    ack = staff.emit("pointer", {"position": position, "structure": structure}, namespace="/session", callback=True)
    assert ack["ok"] is False and ack["error"] == "bad_pointer"
    assert student.received("pointer") == []
    ok = staff.emit("pointer", {"position": [0.1, 0.2, 0.3], "structure": "liver"}, namespace="/session", callback=True)
    assert ok["ok"] and student.received("pointer") == [{"structure": "liver", "position": [0.1, 0.2, 0.3]}]
    json.dumps(ok, allow_nan=False)


def test_leftovers_of_crashed_uploads_are_cleaned_at_start(tmp_path, lessons_dir):
    from arkit_py.server import create_app

    data = tmp_path / "data"
    for folder in ("bundles", "assets"):
        (data / folder).mkdir(parents=True)
    dead = [data / "bundles" / ".upload-abc.arlesson", data / "bundles" / "tmpk2j4.arlesson",
            data / "assets" / ".tmp-x1.part", data / "assets" / ("e" * 64 + ".glb")]  # the last: no lesson uses it
    for path in dead:
        path.write_bytes(b"x" * 1000)
    alive = data / "bundles" / ".upload-alive.arlesson"  # another process is still writing this one
    holder = open(alive, "wb")
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        app = create_app({"DATA_DIR": str(data), "LESSONS_DIR": str(lessons_dir), "LECTURER_KEY": KEY,
                          "ASYNC_MODE": "threading", "TESTING": True})
        app.extensions["arkit_db"].dispose()
        assert [p.name for p in dead if p.exists()] == []
        assert alive.exists()
        served = [p for p in (data / "assets").iterdir() if p.suffix in (".glb", ".png")]
        assert served, "the class lesson's own assets stay"
    finally:
        holder.close()


def test_the_database_is_readable_by_its_owner_only(app):
    path = Path(app.config["DATA_DIR"]) / "arkit.db"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for extra in ("arkit.db-wal", "arkit.db-shm"):
        p = path.with_name(extra)
        if p.exists():
            assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0


def test_a_bundle_id_can_never_name_a_path(client, class_bundle, tmp_path, app):
    for bad_id in ("../lessons/class-demo", "x/y", "..", "A", "con\x00"):
        bad = rebundle(class_bundle, tmp_path / "bad.arlesson", lambda d, i=bad_id: d.update(id=i))
        assert _upload(client, bad).status_code == 422, bad_id
    data = Path(app.config["DATA_DIR"])
    names = {p.name for p in data.rglob("*")}
    assert not any(".." in n or n.startswith("y.") for n in names)
    with zipfile.ZipFile(class_bundle) as zf:
        assert json.loads(zf.read("lesson.json"))["id"] == "class-demo"


def test_405_says_what_is_allowed_and_nul_in_a_path_is_a_404(client):
    r = client.put("/api/sessions")
    assert r.status_code == 405 and r.is_json and set(r.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}
    for path in ("/api/sessions/%00AB12", "/api/sessions/%00AB12/qr.svg", "/api/lessons/%00x", "/api/sessions/" + "A" * 500):
        r = client.get(path)
        assert r.status_code == 404 and r.is_json, path
    assert client.delete("/api/lessons/%00x", headers=AUTH).status_code == 404

"""The session API, live sync and the library, in process (Flask test client and
Flask-SocketIO's test client)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.server.conftest import KEY, Student

ALPHABET = set("23456789ABCDEFGHJKMNPQRSTUVWXYZ")


def test_create_session_and_its_urls(lecturer):
    out = lecturer.create_session()
    assert set(out) == {"code", "join_url", "projection_url", "lecturer_url", "control_token", "expires_at", "qr_svg",
                        "qr_png"}
    assert len(out["code"]) == 6 and set(out["code"]) <= ALPHABET
    assert out["join_url"].endswith(f"/j/{out['code']}")
    assert out["control_token"] not in out["join_url"] + out["qr_svg"] + out["qr_png"] + out["lecturer_url"]
    svg = lecturer.client.get(f"/api/sessions/{out['code']}/qr.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and out["control_token"].encode() not in svg.data


@pytest.mark.parametrize("headers,status", [({}, 401), ({"Authorization": "Bearer nope"}, 403)])
def test_lecturer_key_is_required(client, headers, status):
    r = client.post("/api/sessions", json={"lesson": "class-demo"}, headers=headers)
    assert r.status_code == status and r.json["error"] in ("unauthorised", "forbidden")


def test_control_tokens(lecturer, client):
    lecturer.create_session()
    first = (lecturer.code, lecturer.token)
    lecturer.create_session()  # a second session
    r = client.post(f"/api/sessions/{first[0]}/control", json={"action": "step", "step": 1})
    assert r.status_code == 401
    assert lecturer.control("step", token="wrong", step=1).status_code == 403
    r = client.post(f"/api/sessions/{first[0]}/control", json={"action": "step", "step": 1},
                    headers={"Authorization": f"Bearer {lecturer.token}"})  # the other session's token
    assert r.status_code == 403
    r = client.post(f"/api/sessions/{first[0]}/control", json={"action": "step", "step": 1},
                    headers={"Authorization": f"Bearer {first[1]}"})
    assert r.status_code == 200 and r.json["step"] == 1


def test_actions_and_rev(lecturer):
    lecturer.create_session()
    state = lecturer.client.get(f"/api/sessions/{lecturer.code}").json
    assert set(state) >= {"rev", "code", "lesson", "step", "playback", "highlight", "quiz", "participants", "ended"}
    assert state["rev"] == 1 and state["step"] == 0 and state["lesson"]["id"] == "class-demo"
    assert set(state["playback"]) == {"time_s", "playing", "rate", "at_ms"}
    revs = [state["rev"]]
    for action, fields in [("step", {"step": 3}), ("time", {"time_s": 3600}), ("play", {"rate": 2}), ("pause", {}),
                           ("highlight", {"structure": "liver"}), ("highlight", {"structure": None}),
                           ("open_quiz", {}), ("close_quiz", {}), ("reveal", {})]:
        r = lecturer.control(action, **fields)
        assert r.status_code == 200, (action, r.json)
        revs.append(r.json["rev"])
    assert revs == list(range(1, len(revs) + 1))
    assert lecturer.control("step", step=99).status_code == 422
    assert lecturer.control("step", step="1").status_code == 422
    assert lecturer.control("highlight", structure="livr").status_code == 422
    assert lecturer.control("dance").status_code == 422
    assert lecturer.control("end").status_code == 200
    assert lecturer.control("step", step=1).status_code == 409


def test_playback_is_extrapolated_not_streamed(lecturer):
    lecturer.create_session()
    lecturer.control("time", time_s=100)
    s = lecturer.control("play", rate=60).json["playback"]
    assert s["playing"] and s["rate"] == 60 and s["time_s"] == pytest.approx(100, abs=1)
    paused = lecturer.control("pause").json["playback"]
    assert not paused["playing"] and paused["time_s"] >= 100


def test_students_follow_and_answer(app, lecturer):
    lecturer.create_session()
    a = Student(app, lecturer.code, nickname="Ada")
    assert a.ack["ok"] and a.ack["participant_id"]
    first = a.received("state")
    assert first and first[-1]["step"] == 0
    lecturer.control("step", step=3)
    state = a.received("state")[-1]
    assert state["step"] == 3 and state["quiz"]["id"] == "how-much"
    assert "answer" not in state["quiz"]
    assert a.answer("how-much", "370 MBq") == {"ok": False, "error": "closed", "message": "this quiz is not open"}
    lecturer.control("open_quiz")
    assert a.answer("how-much", "10 mCi") == {"ok": True}
    assert a.answer("how-much", "999 MBq") == {"ok": True}  # changeable until the quiz closes
    assert a.answer("how-much", "12 minutes")["error"] == "bad_answer"
    assert a.answer("pick", [0])["error"] == "not_current"
    lecturer.control("close_quiz")
    assert a.answer("how-much", "370 MBq")["error"] == "closed"
    results = lecturer.client.get(f"/api/sessions/{lecturer.code}/results",
                                  headers={"Authorization": f"Bearer {lecturer.token}"}).json
    q = next(q for q in results["quizzes"] if q["quiz"] == "how-much")
    assert q["answers"] == 1 and q["correct"] == 0 and q["responses"][0]["value"] == "999 MBq"
    assert Student(app, lecturer.code, participant_id=a.ack["participant_id"]).ack["participant_id"] == \
        a.ack["participant_id"]  # a reconnect is the same student
    assert lecturer.client.get(f"/api/sessions/{lecturer.code}").json["participants"] == 1


@pytest.mark.parametrize("step,quiz,good,bad", [
    (1, "find-liver", "liver", "brain"),
    (2, "pick", [0], [1]),
    (3, "how-much", "10 mCi", "300 MBq"),
    (4, "order-them", ["brain", "heart", "liver"], ["liver", "heart", "brain"]),
])
def test_every_quiz_kind_is_graded(app, lecturer, step, quiz, good, bad):
    lecturer.create_session()
    right, wrong = Student(app, lecturer.code), Student(app, lecturer.code)
    lecturer.control("step", step=step)
    lecturer.control("open_quiz")
    assert right.answer(quiz, good)["ok"] and wrong.answer(quiz, bad)["ok"]
    counts = lecturer.control("close_quiz").json["quiz"]["counts"]
    assert counts == {"participants": 2, "answered": 2}  # counts only, until reveal
    revealed = lecturer.control("reveal").json["quiz"]
    assert revealed["counts"]["correct"] == 1 and revealed["answer"] is not None
    assert sorted(d["count"] for d in revealed["counts"]["distribution"]) == [1, 1]


def test_answers_never_reach_students_before_reveal(app, lecturer, client):
    lecturer.create_session()
    lesson = client.get(f"/api/sessions/{lecturer.code}/lesson").json
    for step in lesson["steps"]:
        if "quiz" in step:
            assert not {"answer", "answer_value", "tolerance", "tolerance_value", "tolerance_relative"} & set(step["quiz"])
    order = lesson["steps"][4]["quiz"]
    assert sorted(order["items"]) == ["brain", "heart", "liver"]
    full = client.get(f"/api/sessions/{lecturer.code}/lesson", headers={"Authorization": f"Bearer {lecturer.token}"}).json
    assert full["steps"][1]["quiz"]["answer"] == ["liver"]
    lecturer.control("step", step=1)
    lecturer.control("reveal")
    after = client.get(f"/api/sessions/{lecturer.code}/lesson").json
    assert after["steps"][1]["quiz"]["answer"] == ["liver"] and "answer" not in after["steps"][2]["quiz"]
    assert "answer" not in json.dumps(client.get("/api/lessons/class-demo").json["steps"][2]["quiz"])


def test_narration_is_sanitised(client):
    html = client.get("/api/lessons/class-demo").json["steps"][0]["narration_html"]
    assert "<strong>class</strong>" in html and "<script" not in html and "&lt;script&gt;" in html
    assert "href" not in html  # the javascript: link is not made a link


def test_join_errors(app, lecturer):
    lecturer.create_session()
    s = Student(app, "ZZZZZZ")
    assert s.ack["error"] == "unknown_code" and s.received("error")[0]["code"] == "unknown_code"
    students = [Student(app, lecturer.code) for _ in range(3)]
    assert all(x.ack["ok"] for x in students)
    full = Student(app, lecturer.code)
    assert full.ack["error"] == "full"
    assert Student(app, lecturer.code, role="projection").ack["ok"]  # projection is not a participant
    lecturer.control("end")
    assert Student(app, lecturer.code, participant_id=students[0].ack["participant_id"]).ack["error"] == "ended"


def test_joins_are_rate_limited(app, lecturer):
    app.config["JOINS_PER_MINUTE"] = 2
    lecturer.create_session()
    acks = [Student(app, lecturer.code).ack for _ in range(3)]
    assert [a.get("error") for a in acks] == [None, None, "rate_limited"]


def test_lecturer_socket_needs_its_token_and_pointer_is_lecturer_only(app, lecturer):
    lecturer.create_session()
    sio = app.extensions["arkit_socketio"].test_client(app, namespace="/session")
    bad = sio.emit("join", {"code": lecturer.code, "role": "lecturer", "token": "nope"}, namespace="/session",
                   callback=True)
    assert bad["error"] == "forbidden"
    assert sio.emit("join", {"code": lecturer.code, "role": "lecturer", "token": lecturer.token}, namespace="/session",
                    callback=True)["ok"]
    student = Student(app, lecturer.code)
    assert student.sio.emit("pointer", {"structure": "liver"}, namespace="/session", callback=True)["ok"] is False
    assert sio.emit("pointer", {"structure": "liver", "position": [0, 1, 0]}, namespace="/session", callback=True)["ok"]
    assert student.received("pointer")[-1] == {"structure": "liver", "position": [0, 1, 0]}
    results = [sio.emit("pointer", {"structure": "liver"}, namespace="/session", callback=True)["ok"] for _ in range(30)]
    assert results.count(False) > 0  # rate-limited


def test_results_formats(app, lecturer, client):
    lecturer.create_session()
    s = Student(app, lecturer.code)
    lecturer.control("step", step=1)
    lecturer.control("open_quiz")
    s.answer("find-liver", "liver")
    auth = {"Authorization": f"Bearer {lecturer.token}"}
    assert client.get(f"/api/sessions/{lecturer.code}/results").status_code == 401
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/sessions/{lecturer.code}/results?format=csv",
                                                      headers=auth).data.decode())))
    assert rows[0]["quiz"] == "find-liver" and rows[0]["correct"] == "true"
    assert rows[0]["participant"].startswith("p-") and s.ack["participant_id"] not in rows[0]["participant"]
    xapi = client.get(f"/api/sessions/{lecturer.code}/results?format=xapi", headers=auth).json
    assert xapi[0]["actor"]["account"]["homePage"].startswith("http") and xapi[0]["result"]["success"] is True
    assert "name" not in xapi[0]["actor"]  # anonymous


def test_library_upload_delete_and_assets(client, class_bundle, tmp_path):
    auth = {"Authorization": f"Bearer {KEY}"}
    assert client.post("/api/lessons", data=class_bundle.read_bytes()).status_code == 401
    r = client.post("/api/lessons", data={"bundle": (io.BytesIO(class_bundle.read_bytes()), "x.arlesson")},
                    headers=auth, content_type="multipart/form-data")
    assert r.status_code == 201 and r.json["id"] == "class-demo"
    bad = client.post("/api/lessons", data=b"PK\x03\x04 not a zip", headers=auth)
    assert bad.status_code == 422 and bad.json["error"] == "bad_bundle"
    lesson = client.get("/api/lessons/class-demo").json
    glb = lesson["holograms"]["body"]["assets"]["glb"]
    with client.get(f"/{glb['path']}") as r:
        assert r.status_code == 200 and r.mimetype == "model/gltf-binary"
        assert "immutable" in r.headers["Cache-Control"] and r.headers["ETag"].strip('"') == glb["sha256"]
        body, etag = r.data, r.headers["ETag"]
    with client.get(f"/{glb['path']}", headers={"If-None-Match": etag}) as r:
        assert r.status_code == 304
    with client.get(f"/{glb['path']}", headers={"Range": "bytes=0-11"}) as part:
        assert part.status_code == 206 and part.data == body[:12]
    assert client.get("/assets/../../etc/passwd").status_code == 404
    assert client.delete("/api/lessons/class-demo").status_code == 401
    assert client.delete("/api/lessons/class-demo", headers=auth).status_code == 204
    assert client.get("/api/lessons").json == []


def test_pages_have_a_strict_csp(app, lecturer, client):
    lecturer.create_session()
    for path in (f"/j/{lecturer.code}", f"/p/{lecturer.code}", f"/l/{lecturer.code}", "/lessons/class-demo", "/"):
        r = client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self' 'wasm-unsafe-eval'" in csp and "unsafe-inline" not in csp
        assert b"<script>" not in r.data  # no inline script
    assert client.get("/j/ZZZZZZ").status_code == 404
    lecturer.control("end")
    page = client.get(f"/j/{lecturer.code}")
    assert page.status_code == 410 and b"has ended" in page.data


def test_purge_deletes_old_sessions(app, lecturer):
    import datetime as dt

    from arkit_py.server.db import SessionRow

    lecturer.create_session()
    Student(app, lecturer.code, nickname="Old")
    room = app.extensions["arkit_classroom"]
    assert room.purge() == 0
    with app.extensions["arkit_db"].session() as s:
        row = s.get(SessionRow, lecturer.code)
        row.expires_at = row.expires_at - dt.timedelta(days=40)
        s.commit()
    assert room.purge() == 1
    assert lecturer.client.get(f"/api/sessions/{lecturer.code}").status_code == 404


def test_the_openapi_file_covers_the_routes(app, client):
    import yaml

    spec = yaml.safe_load(client.get("/api/openapi.yaml").data)
    assert spec["openapi"].startswith("3.1")
    import re

    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule.replace("<lesson_id>", "{id}"))
              for r in app.url_map.iter_rules() if r.rule.startswith("/api/") and r.rule != "/api/openapi.yaml"}
    assert routes <= set(spec["paths"]), routes - set(spec["paths"])


def test_sessions_purge_command(tmp_path, capsys):
    import datetime as dt

    from arkit_py.cli import main
    from arkit_py.server.db import Database, SessionRow

    db = Database(f"sqlite:///{tmp_path / 'arkit.db'}")
    with db.session() as s:
        s.add(SessionRow(code="OLD234", lesson_id="x", lesson_sha256="0" * 64, control_hash="0" * 64,
                         expires_at=dt.datetime(2020, 1, 1), state_json="{}"))
        s.add(SessionRow(code="NEW234", lesson_id="x", lesson_sha256="0" * 64, control_hash="0" * 64,
                         expires_at=dt.datetime(2999, 1, 1), state_json="{}"))
        s.commit()
    db.dispose()
    assert main(["sessions", "purge", "--data", str(tmp_path)]) == 0
    assert "purged 1 session " in capsys.readouterr().err
    db = Database(f"sqlite:///{tmp_path / 'arkit.db'}")
    with db.session() as s:
        assert s.get(SessionRow, "OLD234") is None and s.get(SessionRow, "NEW234") is not None
    db.dispose()


def test_staff_get_fresher_counts_without_a_new_rev(app, lecturer):
    lecturer.create_session()
    projection = app.extensions["arkit_socketio"].test_client(app, namespace="/session")
    assert projection.emit("join", {"code": lecturer.code, "role": "projection"}, namespace="/session",
                           callback=True)["ok"]
    student = Student(app, lecturer.code)
    rev = lecturer.control("step", step=1).json["rev"]
    lecturer.control("open_quiz")
    projection.get_received("/session")
    student.received()
    assert student.answer("find-liver", "liver")["ok"]
    counts = [m["args"][0] for m in projection.get_received("/session") if m["name"] == "counts"]
    assert counts and counts[-1]["rev"] == rev + 1 and counts[-1]["quiz"] == "find-liver"
    assert counts[-1]["counts"]["answered"] == 1 and "distribution" not in counts[-1]["counts"]
    assert not [m for m in student.received() if m.get("counts")]  # students get no counts


def test_lesson_json_carries_display_names_and_the_legend(client):
    lesson = client.get("/api/lessons/class-demo").json
    body = lesson["holograms"]["body"]
    assert body["display"]["kidney_left"] == "Left kidney"
    assert "legend" not in body  # no tracer here


@pytest.mark.parametrize("quiz, right, wrong", [
    ("find-liver", "liver", "spleen"),
    ("pick", [0], [1]),
    ("how-much", "10 mCi", "100 MBq"),  # 10 mCi = 370 MBq: graded with units, within 1 %
    ("order-them", ["brain", "heart", "liver"], ["heart", "brain", "liver"]),
])
def test_self_paced_answers_are_checked_by_the_server(client, quiz, right, wrong):
    """The self-paced page gets the lesson without answers, so it asks the server; nothing is
    stored (no session, no participant)."""
    url = "/api/lessons/class-demo/check"
    yes, no = client.post(url, json={"quiz": quiz, "value": right}), client.post(url, json={"quiz": quiz, "value": wrong})
    assert yes.status_code == 200 and yes.json["correct"] is True and yes.json["quiz"] == quiz
    assert no.status_code == 200 and no.json["correct"] is False
    assert yes.json["answer"] == no.json["answer"] and yes.json["answer"]


@pytest.mark.parametrize("url, body, status, code", [
    ("/api/lessons/nosuch/check", {"quiz": "pick", "value": [0]}, 404, "unknown_lesson"),
    ("/api/lessons/class-demo/check", {"quiz": "nosuch", "value": [0]}, 404, "not_found"),
    ("/api/lessons/class-demo/check", {"value": [0]}, 422, "bad_request"),
    ("/api/lessons/class-demo/check", {"quiz": "pick"}, 422, "bad_request"),
    ("/api/lessons/class-demo/check", {"quiz": "pick", "value": [7]}, 422, "bad_answer"),
    ("/api/lessons/class-demo/check", {"quiz": "find-liver", "value": "chair"}, 422, "bad_answer"),
])
def test_bad_checks_are_clear_errors(client, url, body, status, code):
    r = client.post(url, json=body)
    assert r.status_code == status and r.json["error"] == code, r.json

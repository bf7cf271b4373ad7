"""A lesson with one quiz of every kind, its bundle, and the server around it."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers import build_test_lesson, lesson_yaml

LESSON = lesson_yaml("class-demo", "Class demo", "A lesson for the server tests.", """
holograms:
  body: {source: "phantom:mird-adult?voxel=8", usdz: false}
steps:
  - title: Welcome
    narration: "Hello **class**. <script>alert(1)</script> [link](javascript:alert(1))"
  - title: Find it
    narration: Tap the liver.
    quiz: {id: find-liver, kind: identify, prompt: Tap the liver., answer: [liver]}
  - title: Choose
    narration: Pick.
    quiz: {id: pick, kind: choice, prompt: "Which is an organ?", options: [liver, chair, lamp], answer: [0]}
  - title: Number
    narration: How much?
    quiz: {id: how-much, kind: numeric, prompt: "10 mCi in MBq?", answer: 370 MBq, tolerance: 1 %}
  - title: Order
    narration: Order them.
    quiz: {id: order-them, kind: order, prompt: Top to bottom, answer: [brain, heart, liver]}
""")

KEY = "lecturer-key-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _no_real_data_folder(tmp_path_factory, monkeypatch):
    """Nothing here (nor a server process it starts) writes into the real user data folder:
    the default data folder (ARKIT_DATA_DIR, the XDG data home) is a temporary one."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("ARKIT_DATA_DIR", str(base / "default-data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "xdg-data"))


@pytest.fixture(scope="session")
def class_bundle(tmp_path_factory):
    return build_test_lesson(tmp_path_factory.mktemp("class"), "class-demo", LESSON)


@pytest.fixture
def lessons_dir(tmp_path, class_bundle):
    """A lessons folder holding the class bundle."""
    folder = tmp_path / "lessons"
    folder.mkdir()
    shutil.copy(class_bundle, folder)
    return folder


@pytest.fixture
def app(tmp_path, lessons_dir):
    from arkit_py.server import create_app

    app = create_app({"DATA_DIR": str(tmp_path / "data"), "LESSONS_DIR": str(lessons_dir), "LECTURER_KEY": KEY,
                      "ASYNC_MODE": "threading", "TESTING": True, "SESSION_CAP": 3, "JOINS_PER_MINUTE": 50})
    yield app
    app.extensions["arkit_db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Lecturer:
    """Actions a lecturer takes through the API (flaskr's AuthActions, for us)."""

    def __init__(self, client):
        self.client = client
        self.code = self.token = None

    def create_session(self, lesson="class-demo"):
        r = self.client.post("/api/sessions", json={"lesson": lesson}, headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 201, r.json
        self.code, self.token = r.json["code"], r.json["control_token"]
        return r.json

    def control(self, action, token=None, **fields):
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.client.post(f"/api/sessions/{self.code}/control", json={"action": action, **fields}, headers=headers)


class Student:
    def __init__(self, app, code, **join):
        self.app = app
        self.sio = app.extensions["arkit_socketio"].test_client(app, namespace="/session")
        self.ack = self.sio.emit("join", {"code": code, "role": "student", **join}, namespace="/session", callback=True)

    def received(self, name=None):
        out = self.sio.get_received("/session")
        return [m["args"][0] for m in out if name is None or m["name"] == name]

    def answer(self, quiz, value):
        return self.sio.emit("answer", {"quiz": quiz, "value": value}, namespace="/session", callback=True)


@pytest.fixture
def lecturer(client):
    return Lecturer(client)

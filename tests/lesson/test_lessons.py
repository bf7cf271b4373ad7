"""The lessons in lessons/: each validates, builds twice to the same bytes, and inspect
agrees with what build wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arkit_py.cli import main
from arkit_py.lesson.bundle import build_lesson, build_lessons, read_bundle
from arkit_py.lesson.source import load_lesson

LESSONS = Path(__file__).resolve().parents[2] / "lessons"
IDS = ["fdg", "bone-scan-mdp", "radioiodine-thyroid", "half-lives", "abdomen-ct"]


def test_the_five_lessons_are_there():
    assert sorted(p.name for p in LESSONS.iterdir() if (p / "lesson.yaml").is_file()) == sorted(IDS)


@pytest.fixture(scope="module")
def built(tmp_path_factory, lesson_cache):
    """Every lesson built twice: all at once with a cold cache (their holograms in parallel
    processes, as `arkit lesson build` and `arkit demo` do), then one by one from it."""
    cache = lesson_cache
    firsts = build_lessons([LESSONS / lesson_id for lesson_id in IDS], tmp_path_factory.mktemp("one"), cache_dir=cache)
    return {lesson_id: (first, build_lesson(LESSONS / lesson_id, tmp_path_factory.mktemp("two"), cache_dir=cache))
            for lesson_id, first in zip(IDS, firsts)}


@pytest.mark.parametrize("lesson_id", IDS)
def test_lesson_is_written_to_be_taught(lesson_id):
    src = load_lesson(LESSONS / lesson_id)
    d = src.data
    assert d["review_status"] == "unreviewed"
    assert 5 <= len(d["steps"]) <= 10
    quizzes = [s["quiz"] for s in d["steps"] if "quiz" in s]
    assert len(quizzes) >= 3
    assert any(q["kind"] == "identify" for q in quizzes)
    assert d["references"]
    if lesson_id == "half-lives":
        assert sum(q["kind"] == "numeric" for q in quizzes) >= 2


@pytest.mark.parametrize("lesson_id", IDS)
def test_lesson_builds_twice_to_the_same_bytes(built, lesson_id):
    first, second = built[lesson_id]
    assert first.bundle.read_bytes() == second.bundle.read_bytes()
    assert second.built == []


@pytest.mark.parametrize("lesson_id", IDS)
def test_inspect_agrees_with_build(built, capsys, lesson_id):
    first, _ = built[lesson_id]
    bundle = read_bundle(first.bundle)
    assert bundle.lesson == first.lesson and bundle.manifest == first.manifest
    assert main(["lesson", "inspect", str(first.bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["id"] == lesson_id and report["files"] == first.manifest["files"]
    assert report["steps"] == len(first.lesson["steps"])
    for h in bundle.lesson["holograms"].values():
        assert h["assets"]["glb"]["path"] in bundle.files
        assert set(h["display"]) == set(h["structures"])
        if "tracer" in h:  # the server plays a step at the hologram's own speed
            assert h["legend"]["real_s"] > 0 and h["legend"]["clip_s"] > 0
            assert h["tracer_facts"]["half_life_s"] > 0  # the client decay-corrects with it

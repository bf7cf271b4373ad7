"""A small lesson (coarse phantom, no USDZ) and its bundle, built once per session."""

from __future__ import annotations

from importlib import resources

import pytest


def template_text(lesson_id: str = "demo") -> str:
    text = (resources.files("arkit_py") / "lesson" / "template.yaml").read_text(encoding="utf-8")
    text = text.replace("{id}", lesson_id).replace("{title}", "Demo lesson")
    return text.replace("source: phantom:mird-adult\n", "source: phantom:mird-adult?voxel=8\n    usdz: false\n")


def write_lesson(folder, text: str | None = None, lesson_id: str = "demo"):
    path = folder / lesson_id
    path.mkdir(parents=True, exist_ok=True)
    (path / "lesson.yaml").write_text(text if text is not None else template_text(lesson_id), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def hologram_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("hologram-cache")


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory, hologram_cache):
    """(lesson folder, bundle path) of the template lesson on the 8 mm phantom."""
    from arkit_py.lesson.bundle import build_lesson

    root = tmp_path_factory.mktemp("lesson")
    folder = write_lesson(root)
    result = build_lesson(folder, root / "dist", cache_dir=hologram_cache)
    return folder, result.bundle

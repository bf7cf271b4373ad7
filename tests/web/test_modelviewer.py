"""Every lesson hologram in Google's <model-viewer>, from its own prebuilt bundle, offline.

The test page (web_ar/modelviewer, assembled with model-viewer's unmodified
``dist/model-viewer.min.js`` and a local meshopt decoder into tests/web/modelviewer_page by
``npm run build --prefix web_ar``) is served with the GLBs by a tiny local HTTP server;
every other request is aborted and must not happen. Each lesson in lessons/ is built (the
session's ``lesson_cache`` is shared with tests/lesson), every GLB (EXT_meshopt_compression)
is loaded: it must load without error, a tracer hologram must list exactly one animation
``uptake_0_…`` that plays and seeks, a static hologram (the phantom, as a lesson without
``tracer`` would build it) none, and the console must stay clean. One screenshot checks that
something is drawn and that the uptake animation changes the colours (morphed COLOR_0).

Found by this test: model-viewer 4.4.0 bundles three r183, whose ``morphcolor_vertex`` shader
chunk does not compile for VEC3 ``COLOR_0`` morph targets (r183 made ``vColor`` a vec4
everywhere but kept ``vColor += getMorph(...).rgb``); the meshes whose colours are morphed
were not drawn at all. arkit therefore writes the palette morph's COLOR_0 and its targets as
VEC4 (alpha 1 in the base, 0 in the deltas). The test page runs model-viewer in debug mode so
a shader compile error reaches the console, and the console must stay clean.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from arkit_py.lesson.bundle import build_lesson, read_bundle
from arkit_py.scene.gltf import read_glb
from tests.helpers import page_server
from tests.web.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
LESSONS = ROOT / "lessons"
PAGE = Path(__file__).resolve().parent / "modelviewer_page"  # npm run build:modelviewer
BACKGROUND = (0x1F, 0x27, 0x33)  # web_ar/modelviewer/style.css
LOAD_TIMEOUT_MS = 60_000  # software WebGL on two cores
UPTAKE = re.compile(r"^uptake_0_\S+$")
LESSON_IDS = sorted(p.parent.name for p in LESSONS.glob("*/lesson.yaml"))


@pytest.fixture(scope="module")
def glb_dir(tmp_path_factory) -> Path:
    """The folder the server shows at /glb/."""
    return tmp_path_factory.mktemp("mv-glb")


@pytest.fixture(scope="module")
def glbs(glb_dir, lesson_cache, phantom_hologram, tmp_path_factory):
    """Every GLB of every lesson, written to ``glb_dir``: a list of dicts
    {name, lesson, hologram, tracer, path}; last, the static phantom hologram."""
    out = glb_dir
    found = []
    for lesson_id in LESSON_IDS:
        built = build_lesson(LESSONS / lesson_id, tmp_path_factory.mktemp("mv-lesson"), cache_dir=lesson_cache)
        bundle = read_bundle(built.bundle)
        for hid, h in sorted(bundle.lesson["holograms"].items()):
            data = bundle.files[h["assets"]["glb"]["path"]]
            path = out / f"{lesson_id}--{hid}.glb"
            path.write_bytes(data)
            found.append({"name": path.name, "lesson": lesson_id, "hologram": hid, "tracer": "tracer" in h, "path": path})
    static_path, _ = phantom_hologram[True]
    path = out / "static--phantom.glb"
    path.write_bytes(static_path.read_bytes())
    found.append({"name": path.name, "lesson": None, "hologram": "phantom", "tracer": False, "path": path})
    return found


@pytest.fixture(scope="module")
def mv_server(glb_dir):
    """The test page and the GLBs on 127.0.0.1; yields (origin, requested paths)."""
    if not (PAGE / "model-viewer.min.js").is_file():
        unavailable("model-viewer test page not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    requested: list[str] = []
    with page_server(PAGE, glb_dir, requested) as origin:
        yield origin, requested


def open_glb(page, origin: str, name: str) -> dict:
    page.goto(f"{origin}/index.html?src={quote('/glb/' + name)}")
    page.wait_for_function("() => window.__mv && (window.__mv.loaded || window.__mv.error)", timeout=LOAD_TIMEOUT_MS)
    return page.evaluate("() => JSON.parse(JSON.stringify(window.__mv))")


def next_frames(page, n: int = 3) -> None:
    page.evaluate("""n => new Promise(done => {
        const step = () => (n-- <= 0 ? done() : requestAnimationFrame(step));
        requestAnimationFrame(step);
    })""", n)


def screenshot(page) -> np.ndarray:
    from PIL import Image

    next_frames(page)
    png = page.locator("#mv").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def drawn(pixels: np.ndarray, threshold: int = 24) -> np.ndarray:
    return np.abs(pixels - np.array(BACKGROUND, np.int16)).max(axis=2) > threshold


def check_one(page, origin: str, glb: dict) -> dict:
    """Load one GLB and check it; returns the page state after the checks."""
    gltf, _ = read_glb(glb["path"].read_bytes())
    assert "EXT_meshopt_compression" in gltf.get("extensionsRequired", []), glb["name"]
    state = open_glb(page, origin, glb["name"])
    assert state["error"] is None, f"{glb['name']}: {state['error']}"
    assert state["loaded"] is True, glb["name"]
    if not glb["tracer"]:
        assert state["animations"] == [], glb["name"]
        return state
    assert len(state["animations"]) == 1 and UPTAKE.match(state["animations"][0]), (glb["name"], state["animations"])
    assert state["animations"] == [a.get("name") for a in gltf["animations"]], glb["name"]
    # play(): the clip is selected and the clock runs on its own
    page.evaluate("() => document.getElementById('mv').play()")
    page.wait_for_function("() => window.__mv.currentTime > 0 && window.__mv.duration > 0", timeout=LOAD_TIMEOUT_MS)
    played = page.evaluate("() => ({duration: window.__mv.duration, t: window.__mv.currentTime})")
    # seek while paused: currentTime goes where it is told and stays there
    target = played["duration"] * 0.6
    seek = page.evaluate("""target => {
        const mv = document.getElementById('mv');
        mv.pause();
        const before = mv.currentTime;
        mv.currentTime = target;
        return {paused: mv.paused, before, after: mv.currentTime};
    }""", target)
    assert seek["paused"] is True
    assert seek["after"] == pytest.approx(target, abs=1e-6) and seek["after"] != seek["before"], (glb["name"], seek)
    clip = max(float(np.max(gltf["accessors"][s["input"]]["max"])) for a in gltf["animations"] for s in a["samplers"])
    assert played["duration"] == pytest.approx(clip, rel=1e-3), glb["name"]
    return {**state, "duration": played["duration"]}


@pytest.mark.parametrize("lesson_id", LESSON_IDS)
def test_lesson_glbs_load_and_play_in_model_viewer(page, mv_server, glbs, lesson_id):
    origin, requested = mv_server
    page.allowed_origins.add(origin)
    mine = [g for g in glbs if g["lesson"] == lesson_id]
    assert mine, f"lesson {lesson_id} has no hologram"
    for glb in mine:
        before = len(requested)
        check_one(page, origin, glb)
        assert "/meshopt_decoder.js" in requested[before:], "meshopt decoder not loaded from the test server"
        assert f"/glb/{glb['name']}" in requested[before:]
    assert page.blocked_requests == []
    assert page.console_errors == []


def test_static_hologram_has_no_animation(page, mv_server, glbs):
    origin, _ = mv_server
    page.allowed_origins.add(origin)
    (static,) = [g for g in glbs if not g["tracer"] and g["lesson"] is None]
    check_one(page, origin, static)
    assert page.blocked_requests == []
    assert page.console_errors == []  # no morph targets, so no morph-colour shader either


def test_model_viewer_draws_the_hologram_and_the_uptake_recolours_it(page, mv_server, glbs):
    origin, _ = mv_server
    page.allowed_origins.add(origin)
    glb = next(g for g in glbs if g["tracer"])
    state = check_one(page, origin, glb)
    mv = "document.getElementById('mv')"
    page.evaluate(f"() => {{ {mv}.currentTime = 0; }}")
    start = screenshot(page)
    page.evaluate(f"t => {{ {mv}.currentTime = t; }}", state["duration"] * 0.6)
    later = screenshot(page)
    share = drawn(start).mean()
    assert 0.02 < share < 0.9, f"drawn share {share:.3f}"
    assert page.blocked_requests == []
    assert page.console_errors == []
    # the organs' morphed vertex colours follow the uptake
    changed = (np.abs(start - later).max(axis=2) > 24).mean()
    assert changed > 0.002, f"only {changed:.4f} of the pixels changed between t=0 and t={state['duration'] * 0.6:.2f} s"

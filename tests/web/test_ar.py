"""The WebXR client (web_ar/classroom/features/ar.js) in headless Chromium under the npm ``iwer``
WebXR runtime, with ``@iwer/sem`` and a room capture loaded from disk.

The test page (web_ar/xrtest, built by ``npm run build --prefix web_ar`` into
tests/web/xrtest_build, never shipped) loads the phantom's hologram, installs an emulated
Meta Quest 3 (``XRDevice(metaQuest3)``, ``installRuntime``) and SEM with @iwer/sem's own
``office_small`` capture (served from the build folder: no network), and drives the device
with iwer's device API (headset and controller poses, trigger and squeeze) the way a person
would. Every request not bound for the test server is aborted and must not happen; the
console must stay clean.

Checked: immersive-ar is offered; entering starts a session; aiming the controller at the
captured table and pulling the trigger places the hologram by hit-test, standing on the
table top where the ray meets it, the body 40 cm tall, anchored; aiming at its liver and
pulling the trigger reports ``liver``; two controllers squeezing and moving apart scale it;
with nothing to hit (an empty capture) it is placed about 1 m in front of the viewer,
after 2 s on its own or at once on a select; a headset with only immersive-vr, an additive
display and no hit-test (the HoloLens 2 case) gets immersive-vr and the hologram in front.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers import page_server
from tests.web.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).resolve().parent / "xrtest_build"  # npm run build:xrtest
CAPTURE = ROOT / "web_ar" / "node_modules" / "@iwer" / "sem" / "captures" / "office_small.json"
LOAD_TIMEOUT_MS = 60_000  # software WebGL on two cores
STEP_TIMEOUT_MS = 15_000
TABLETOP_M = 0.40


@pytest.fixture(scope="module")
def phantom_glb(tmp_path_factory) -> Path:
    """The MIRD phantom's hologram at 8 mm (default options), as a .glb."""
    from arkit_py.phantoms import mird
    from arkit_py.scene.hologram import HologramOptions, build_hologram

    path = tmp_path_factory.mktemp("xr-glb") / "phantom.glb"
    path.write_bytes(build_hologram(mird.voxelize(8.0), HologramOptions()).glb)
    return path


@pytest.fixture(scope="module")
def xr_server(phantom_glb):
    """The test page and the GLB on 127.0.0.1; yields (origin, requested paths)."""
    if not (PAGE / "index.html").is_file():
        unavailable("WebXR test page not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    requested: list[str] = []
    with page_server(PAGE, phantom_glb.parent, requested) as origin:
        yield origin, requested


@pytest.fixture(scope="module")
def table_top() -> dict:
    """The captured room's table: its plane's height and extent (from the capture file)."""
    capture = json.loads(CAPTURE.read_text())
    for e in capture["spatialEntities"]:
        if e.get("semanticLabel_META") == "TABLE" and "bounded2D_META" in e:
            p = e["locatable_META"]["position"]
            ext = e["bounded2D_META"]["extent"]
            return {"y": p["y"], "x": p["x"], "z": p["z"], "width": ext["width"], "depth": ext["height"]}
    raise AssertionError("office_small has no TABLE plane")


def open_page(page, origin: str, **params) -> None:
    page.allowed_origins.add(origin)
    query = "&".join(f"{k}={quote(str(v))}" for k, v in {"src": "/glb/phantom.glb", **params}.items())
    page.goto(f"{origin}/index.html?{query}")
    page.wait_for_function("() => window.__xrtest && (window.__xrtest.ready || window.__xrtest.error)",
                           timeout=LOAD_TIMEOUT_MS)
    assert page.evaluate("window.__xrtest.error") is None


def ar_state(page) -> dict:
    return page.evaluate("() => JSON.parse(JSON.stringify(window.__arkitAR))")


def wait_state(page, condition: str, timeout: int = STEP_TIMEOUT_MS) -> dict:
    page.wait_for_function(f"() => {{ const s = window.__arkitAR; return Boolean({condition}); }}", timeout=timeout)
    return ar_state(page)


def enter(page) -> dict:
    page.evaluate("() => window.__xrtest.enter()")
    state = wait_state(page, "s.inSession")
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    return state


def box(page) -> dict:
    b = page.evaluate("() => window.__xrtest.hologramBox()")
    assert b is not None
    return {"min": b["min"], "max": b["max"], "size": [hi - lo for lo, hi in zip(b["min"], b["max"])]}


def assert_clean(page, requested: list[str]) -> None:
    assert page.blocked_requests == []
    assert page.console_errors == []
    assert "/glb/phantom.glb" in requested


def test_place_on_table_by_hit_test_and_select_the_liver(page, xr_server, table_top):
    origin, requested = xr_server
    open_page(page, origin)
    state = ar_state(page)
    assert state["supported"] is True and state["mode"] == "immersive-ar"
    assert page.evaluate("window.__xrtest.roomEntities") > 10  # the capture came from disk
    assert any(p.endswith(".json") and "office_small" in p for p in requested)

    # Standing in front of the table, looking at it.
    ty = table_top["y"]
    page.evaluate("t => window.__xrtest.setHeadset([0, 1.6, 0.35], [t.x, t.y, t.z])", table_top)
    state = enter(page)
    assert state["inSession"] and state["mode"] == "immersive-ar"
    assert state["hitTest"] is True and state["referenceSpace"] == "local-floor"
    # Past the fallback delay (2 s) by the page's own clock, with frames run after it (the
    # fallback is decided in a frame): a surface is in view, so nothing was placed.
    page.evaluate("""async (delay) => {
        const t0 = performance.now();
        while (performance.now() - t0 < delay) await window.__xrtest.waitFrames(1);
        await window.__xrtest.waitFrames(3);
    }""", 2500)
    assert ar_state(page)["placed"] is False  # a surface is in view: no fallback, waiting for a select

    # The right controller aims at a point on the table top and pulls the trigger.
    target = [table_top["x"] + 0.1, ty, table_top["z"] + 0.1]
    start = [0.2, 1.2, 0.1]
    page.evaluate("([f, t]) => window.__xrtest.aim('right', f, t)", [start, target])
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    page.evaluate("() => window.__xrtest.press('right', 'trigger')")
    state = wait_state(page, "s.placed")
    assert state["placedBy"] == "hit-test"
    x, y, z = state["position"]
    assert abs(y - ty) < 0.03  # on the captured table top
    # ... where the controller's ray meets it.
    assert math.dist([x, z], [target[0], target[2]]) < 0.05

    b = box(page)
    assert abs(b["min"][1] - ty) < 0.03  # standing on the table
    assert abs(b["size"][1] - TABLETOP_M) < 0.02  # a body about 40 cm tall
    assert abs(state["height_m"] - TABLETOP_M) < 0.01
    assert 0.15 < state["scale"] < 0.35  # ~0.4 m / ~1.75 m
    state = wait_state(page, "s.anchored")  # Quest 3 has anchors: the hologram follows one

    # Aim at the liver of the placed hologram and select it.
    aim = page.evaluate("() => window.__xrtest.aimAtStructure('liver', 'right')")
    assert aim is not None
    page.evaluate("() => window.__xrtest.waitFrames(2)")
    page.evaluate("() => window.__xrtest.press('right', 'trigger')")
    state = wait_state(page, "s.lastSelected !== null")
    assert state["lastSelected"] == "liver"
    assert page.evaluate("window.__xrtest.selections")[-1]["name"] == "liver"
    assert state["placed"] and state["placedBy"] == "hit-test"  # selecting does not move it

    # Two controllers squeezing and moving apart: twice the distance, twice the size.
    page.evaluate("""() => {
        const t = window.__xrtest;
        t.aim('left', [-0.1, 1.2, 0.0], [-0.1, 0.8, -0.6]);
        t.aim('right', [0.1, 1.2, 0.0], [0.1, 0.8, -0.6]);
    }""")
    page.evaluate("() => window.__xrtest.waitFrames(2)")
    page.evaluate("() => { window.__xrtest.hold('left', 'squeeze', 1); window.__xrtest.hold('right', 'squeeze', 1); }")
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    page.evaluate("() => window.__xrtest.aim('right', [0.3, 1.2, 0.0], [0.3, 0.8, -0.6])")
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    page.evaluate("() => { window.__xrtest.hold('left', 'squeeze', 0); window.__xrtest.hold('right', 'squeeze', 0); }")
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    scaled = ar_state(page)
    assert abs(scaled["height_m"] - 2 * TABLETOP_M) < 0.02
    assert abs(box(page)["min"][1] - ty) < 0.03  # still standing on the table

    # One controller squeezing and sweeping 20 degrees to the right turns it (1.5x).
    page.evaluate("() => window.__xrtest.hold('right', 'squeeze', 1)")
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    sweep = 0.6 * math.tan(math.radians(20))
    page.evaluate("s => window.__xrtest.aim('right', [0.3, 1.2, 0.0], [0.3 + s, 0.8, -0.6])", sweep)
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    page.evaluate("() => window.__xrtest.hold('right', 'squeeze', 0)")
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    turned = ar_state(page)
    assert turned["turn_deg"] == pytest.approx(30, abs=2)
    assert turned["height_m"] == pytest.approx(scaled["height_m"], abs=1e-6)
    assert turned["lastSelected"] == "liver"  # squeezing is no select

    # Life size and supine keep it on the table.
    page.evaluate("() => window.__xrtest.ar.setLifeSize(true)")
    life = ar_state(page)
    assert life["lifeSize"] and 1.5 < life["height_m"] < 2.0 and life["scale"] == 1
    page.evaluate("() => { window.__xrtest.ar.setLifeSize(false); window.__xrtest.ar.setPose('supine'); }")
    page.evaluate("() => window.__xrtest.waitFrames(2)")
    b = box(page)
    assert abs(b["min"][1] - ty) < 0.03
    assert b["size"][1] < 0.15 and max(b["size"][0], b["size"][2]) == pytest.approx(TABLETOP_M, abs=0.02)

    page.evaluate("() => window.__xrtest.exit()")
    state = wait_state(page, "!s.inSession")
    assert state["placed"] is False
    assert_clean(page, requested)


def test_fallback_in_front_when_nothing_is_hit(page, xr_server):
    origin, requested = xr_server
    open_page(page, origin, room="none")
    eye = [0.0, 1.6, 0.0]
    page.evaluate("e => window.__xrtest.setHeadset(e, [e[0], e[1], e[2] - 1])", eye)
    state = enter(page)
    assert state["hitTest"] is True and not state["placed"]

    # No surface within ~2 s: in front of the viewer on its own.
    t0 = page.evaluate("performance.now()")
    state = wait_state(page, "s.placed", timeout=10_000)
    waited = page.evaluate("performance.now()") - t0
    assert state["placedBy"] == "fallback" and state["fallbackReason"] == "timeout"
    assert 1000 < waited < 6000

    def check_in_front(state):
        x, _, z = state["position"]
        assert math.dist([x, z], [eye[0], eye[2] - 1.0]) < 0.05  # 1 m ahead
        b = box(page)
        centre_y = (b["min"][1] + b["max"][1]) / 2
        assert abs(centre_y - (eye[1] - 0.3)) < 0.03  # its middle a little below the eyes
        assert abs(b["size"][1] - TABLETOP_M) < 0.02

    check_in_front(state)

    # Taken off its place and a select aimed at the sky: in front again, at once.
    page.evaluate("() => window.__xrtest.ar.reset()")
    assert ar_state(page)["placed"] is False
    page.evaluate("() => window.__xrtest.aim('right', [0.2, 1.3, -0.1], [0.4, 3.0, -1.0])")
    page.evaluate("() => window.__xrtest.press('right', 'trigger')")
    state = wait_state(page, "s.placed")
    assert state["placedBy"] == "fallback" and state["fallbackReason"] == "select"
    check_in_front(state)
    assert_clean(page, requested)


def test_hololens_like_headset_gets_immersive_vr(page, xr_server):
    origin, requested = xr_server
    open_page(page, origin, device="hololens")
    state = ar_state(page)
    assert state["supported"] is True and state["mode"] == "immersive-vr"
    page.evaluate("() => window.__xrtest.setHeadset([0, 1.6, 0], [0, 1.6, -1])")
    state = enter(page)
    assert state["inSession"] and state["blendMode"] == "additive" and state["hitTest"] is False
    state = wait_state(page, "s.placed")  # no hit-test: in front of the viewer at once
    assert state["placedBy"] == "fallback" and state["fallbackReason"] == "no-hit-test"
    # An additive display shows black as see-through: no scene background in the session.
    assert page.evaluate("() => window.__xrtest.scene.background === null")
    b = box(page)
    assert abs(b["size"][1] - TABLETOP_M) < 0.02
    assert_clean(page, requested)

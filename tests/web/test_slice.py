"""The fused PET/CT slice in headless Chromium, offline, against a real ``arkit serve``: the
pixels on the plane where the liver is are its CT grey in the soft-tissue window and its
SUV's colour in the hologram's palette (DOTATATE: a hot liver beside a cold stomach) (computed here from the bundle's NRRD by its own
geometry, not by the client's), at the patient's right and not mirrored; a tap reads the CT
number and the SUV; the lecturer's slice reaches every student and the projection; in AR
(iwer) the controller moves the plane."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import numpy as np
import pytest

from tests.helpers import ServeProcess, build_test_lesson, lesson_yaml
from tests.web.classroom_server import STATIC, guarded_page
from tests.web.conftest import unavailable
from tests.web.events import wait_state
from tests.web.test_join_ar import table_top  # noqa: F401 (fixture)
from tests.web.test_preview import frames_drawn

KEY = "lecturer-key-for-slice-tests-0123456789ab"
VOXEL = 6
LOAD_MS = 60_000


def organ_centre(name: str) -> np.ndarray:
    """RAS mm of a phantom structure's voxel centroid."""
    from arkit_py.sources.load import load_segmentation

    seg = load_segmentation(f"phantom:mird-adult?voxel={VOXEL}")
    label = next(k for k, s in seg.segments.items() if s.structure.name == name)
    ijk = np.argwhere(seg.layers[seg.segments[label].layer] == label).mean(0)
    return seg.affine[:3, :3] @ ijk + seg.affine[:3, 3]


LIVER = organ_centre("liver")
A_MM = round(float(LIVER[1]), 1)
LESSON = lesson_yaml("slice-web", "The fused slice", "PET/CT on a plane.", f"""
holograms:
  body: {{source: "phantom:mird-adult?voxel={VOXEL}", usdz: false, tracer: dotatate-ga68, quantity: suv,
         until: 120 min, window: [0, 10], ct: synthetic, pet: synthetic}}
steps:
  - title: CT
    narration: The CT on a coronal plane through the liver.
    slice: {{axis: coronal, at_mm: {A_MM}, blend: 0}}
    framing: {{target: whole, view: front}}
  - title: PET
    narration: The PET at one hour.
    slice: {{axis: coronal, at_mm: {A_MM}, blend: 1}}
    time: {{start: 60 min}}
    framing: {{target: whole, view: front}}
""")


@pytest.fixture(scope="module")
def slice_server(tmp_path_factory):
    if not (STATIC / "join.js").is_file():
        unavailable("classroom pages not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    root = tmp_path_factory.mktemp("slice")
    bundle = build_test_lesson(root, "slice-web", LESSON)
    lessons = root / "lessons"
    lessons.mkdir()
    shutil.copy(bundle, lessons)
    process = ServeProcess(root / "data", lessons, key=KEY)
    process.start()
    try:
        yield process, zipfile.ZipFile(bundle)
    finally:
        process.stop()


def sample(z, volume: dict, frame: int, ras) -> float:
    """A volume's value at a RAS point through the NRRD's own space directions (trilinear)."""
    import nrrd
    from scipy.ndimage import map_coordinates

    buf = io.BytesIO(z.read(volume["frames"][frame]["asset"]["path"]))
    header = nrrd.read_header(buf)
    data = nrrd.read_data(header, buf, index_order="F").astype(np.float64)
    ijk = np.linalg.solve(np.asarray(header["space directions"]).T, np.asarray(ras, float) - header["space origin"])
    return float(map_coordinates(data, ijk.reshape(3, 1), order=1)[0]) * volume["scale"] + volume["offset"]


def srgb(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0, 1)
    return 255 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def pet_colour(z, pet: dict, t: float, ras) -> tuple[np.ndarray, float]:
    """(sRGB 0-255, SUV) the plane should show at ``ras`` at time ``t``: the frames either side
    linearly, the palette's stops linearly (the client's rule, written again here)."""
    times = [f["time_s"] for f in pet["frames"]]
    b = int(np.searchsorted(times, t))
    a = max(b - 1, 0)
    w = (t - times[a]) / (times[b] - times[a]) if b > a else 0.0
    value = (1 - w) * sample(z, pet, a, ras) * pet["frames"][a]["to_display"] \
        + w * sample(z, pet, b, ras) * pet["frames"][b]["to_display"]
    d = pet["display"]
    u = np.clip((value - d["min"]) / (d["max"] - d["min"]), 0, 1) * (len(d["palette"]) - 1)
    i = min(int(u), len(d["palette"]) - 2)
    rgb = (1 - (u - i)) * np.asarray(d["palette"][i]) + (u - i) * np.asarray(d["palette"][i + 1])
    return srgb(rgb), value


def pixel(page, point: dict) -> np.ndarray:
    """The mean sRGB colour of the 3 x 3 pixels around a page point."""
    from PIL import Image

    png = page.screenshot(clip={"x": point["x"] - 1.5, "y": point["y"] - 1.5, "width": 3, "height": 3})
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64).reshape(-1, 3).mean(0)


def open_self_paced(browser, server):
    page, guard = guarded_page(browser, server.url, name="self-paced")
    page.goto(server.url + "/lessons/slice-web")
    page.wait_for_function("() => { const h = window.__arkitClass && window.__arkitClass.hologram;"
                           " return !!h && h.loaded && h.slice.shown; }", timeout=LOAD_MS)
    frames_drawn(page, 3)
    return page, guard


def test_the_slice_shows_the_liver_in_ct_grey_and_pet_colour_at_its_place(browser, slice_server):
    server, z = slice_server
    lesson = json.loads(z.read("lesson.json"))
    volumes = lesson["holograms"]["body"]["volumes"]
    page, guard = open_self_paced(browser, server)
    try:
        mirror = LIVER * np.array([-1.0, 1.0, 1.0])  # the same place on the patient's left
        where = page.evaluate("(ras) => window.__arkitClass.slice.screenOfRas(ras)", LIVER.tolist())
        there = page.evaluate("(ras) => window.__arkitClass.slice.screenOfRas(ras)", mirror.tolist())
        assert where["x"] < there["x"], "from the front the patient's right is on the viewer's left"

        # CT only, soft-tissue window (level 40, width 400): grey = (HU + 160) / 400
        hu = sample(z, volumes["ct"], 0, LIVER)
        grey = np.clip((hu + 160) / 400, 0, 1) * 255
        assert np.abs(pixel(page, where) - grey).max() < 8, (pixel(page, where), hu)

        # PET only at 60 min: the liver's SUV in the palette, at the liver and not at its mirror
        page.click("#next")
        page.wait_for_function("() => { const s = window.__arkitClass.hologram.slice;"
                               " return s.shown && s.slice.blend === 1 && s.frame && s.frame.w > 0; }")
        frames_drawn(page, 3)
        want, suv = pet_colour(z, volumes["pet"], 3600.0, LIVER)
        other, _ = pet_colour(z, volumes["pet"], 3600.0, mirror)
        assert np.abs(want - other).max() > 20, "the test must tell the liver from its mirror image"
        assert np.abs(pixel(page, where) - want).max() < 10, (pixel(page, where), want)
        assert np.abs(pixel(page, there) - other).max() < 10, (pixel(page, there), other)

        # a tap on the plane reads the CT number and the SUV there
        page.mouse.click(where["x"], where["y"])
        page.wait_for_function("() => !!window.__arkitClass.hologram.probe")
        probe = page.evaluate("() => window.__arkitClass.hologram.probe")
        assert probe["hu"] == pytest.approx(hu, abs=3)
        assert probe["suv"] == pytest.approx(suv, rel=0.03)
        assert np.allclose(probe["ras_mm"], LIVER, atol=8)
        text = page.locator(".slice-readout").inner_text()
        assert f"CT {probe['hu']} HU" in text and "SUV" in text
        assert not guard.blocked and not guard.errors, (guard.blocked, guard.errors)
    finally:
        page.context.close()


def drag(page, start: dict, end: dict, *, hold_ms: int, steps: int = 8) -> None:
    """A mouse press at ``start``, held still ``hold_ms``, moved to ``end`` in ``steps`` and released."""
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.wait_for_timeout(hold_ms)
    for i in range(1, steps + 1):
        f = i / steps
        page.mouse.move(start["x"] + f * (end["x"] - start["x"]), start["y"] + f * (end["y"] - start["y"]))
        page.wait_for_timeout(20)
    page.mouse.up()


def settle(page, where, *, timeout_s: float = 20.0) -> dict:
    """``where()`` (a screen point) once it stays within a tenth of a pixel over three frames."""
    import time

    last, deadline = where(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        frames_drawn(page, 3)
        now = where()
        if abs(now["x"] - last["x"]) < 0.1 and abs(now["y"] - last["y"]) < 0.1:
            return now
        last = now
    raise AssertionError(f"the view kept moving: {last}")


def test_a_press_held_on_the_plane_drags_it_along_its_normal_in_the_inline_view(browser, slice_server):
    """A quick drag turns the view and leaves the plane; a press held on the plane moves it:
    face-on (a coronal plane from the front) dragging up pushes it away, posteriorly, by the
    pointer's millimetres at the plane; at an angle the grabbed point follows the pointer
    along the normal. The view does not turn while the plane moves; the controls follow."""
    server, _ = slice_server
    page, guard = open_self_paced(browser, server)
    at = lambda: page.evaluate("() => window.__arkitClass.hologram.slice.slice.at_mm")  # noqa: E731
    screen = lambda ras: page.evaluate("(r) => window.__arkitClass.slice.screenOfRas(r)", list(map(float, ras)))  # noqa: E731
    try:
        page.locator("#viewport canvas").focus()
        for _ in range(5):
            page.keyboard.press("+")  # zoom in: a pixel is about a millimetre
        where = settle(page, lambda: screen(LIVER))
        above = screen(LIVER + [0.0, 0.0, 10.0])
        px_per_mm = (where["y"] - above["y"]) / 10.0
        assert px_per_mm > 0.6, px_per_mm

        # face-on: held, then 30 px up = 30 / px_per_mm mm posterior
        drag(page, where, {"x": where["x"], "y": where["y"] - 30}, hold_ms=500)
        frames_drawn(page, 2)
        moved = at()
        assert moved - A_MM == pytest.approx(-30 / px_per_mm, rel=0.15, abs=1.5), (A_MM, moved, px_per_mm)
        assert moved < A_MM - 3
        still = screen(LIVER)
        assert abs(still["x"] - where["x"]) < 1 and abs(still["y"] - where["y"]) < 1, "the view must not turn"
        assert page.locator("#slice-at").input_value() == str(round(moved))
        assert page.evaluate("() => window.__arkitClass.hologram.slice.grabbed") is False

        # a drag at once turns the view (about 50 degrees) and leaves the plane where it is
        drag(page, where, {"x": where["x"] + 160, "y": where["y"]}, hold_ms=0, steps=16)
        settle(page, lambda: screen(LIVER))  # the inertia of the turn dies away
        assert at() == moved
        turned = screen(LIVER)
        assert abs(turned["x"] - where["x"]) > 5, "a quick drag turns the view"

        # at an angle: the grabbed point follows the pointer 40 mm along the normal (anterior)
        point = np.array([LIVER[0], moved, LIVER[2]])
        start, end = screen(point), screen(point + [0.0, 40.0, 0.0])
        assert np.hypot(end["x"] - start["x"], end["y"] - start["y"]) > 15, "the normal must show on the screen"
        drag(page, start, end, hold_ms=500)
        frames_drawn(page, 2)
        assert at() - moved == pytest.approx(40, abs=4), (moved, at())
        assert page.locator("#slice-at").input_value() == str(round(at()))
        assert not guard.blocked and not guard.errors, (guard.blocked, guard.errors)
    finally:
        page.context.close()


def test_the_lecturers_slice_reaches_every_student_and_the_projection(browser, slice_server):
    server, _ = slice_server
    from tests.helpers import http

    session = http("POST", server.url + "/api/sessions", {"lesson": "slice-web"}, KEY)[1]
    code, token = session["code"], session["control_token"]
    pages = []
    try:
        for path, name in ((f"/j/{code}", "student 1"), (f"/j/{code}", "student 2"), (f"/p/{code}", "projection")):
            page, guard = guarded_page(browser, server.url, name=name)
            page.goto(server.url + path)
            pages.append((page, guard))
        for page, _ in pages:
            wait_state(page, "d.step === 0")
            page.wait_for_function("() => window.__arkitClass.hologram.slice.shown", timeout=LOAD_MS)
        lecturer, lguard = guarded_page(browser, server.url, name="lecturer", viewport=(1100, 900))
        pages.append((lecturer, lguard))
        lecturer.goto(f"{server.url}/l/{code}#{token}")
        wait_state(lecturer, "d.step === 0")
        assert lecturer.locator("#slice-plane").input_value() == "coronal"
        # the lecturer turns the plane axial and moves it: every screen follows
        lecturer.select_option("#slice-plane", "axial")
        lecturer.locator("#slice-at").fill("400")
        lecturer.locator("#slice-blend").fill("70")
        for page, _ in pages[:3]:
            page.wait_for_function("() => { const s = window.__arkitClass.hologram.slice.slice;"
                                   " return !!s && s.axis === 'axial' && s.at_mm === 400 && s.blend === 0.7; }",
                                   timeout=10_000)
            assert page.evaluate("() => window.__arkitClass.hologram.slice.shown")
        # and takes it away
        lecturer.select_option("#slice-plane", "")
        for page, _ in pages[:3]:
            page.wait_for_function("() => !window.__arkitClass.hologram.slice.shown"
                                   " && window.__arkitClass.hologram.slice.slice === null", timeout=10_000)
        for _, guard in pages:
            assert not guard.blocked and not guard.errors, (guard.blocked, guard.errors)
    finally:
        for page, _ in pages:
            page.context.close()


def test_in_ar_the_controller_moves_the_plane_along_its_normal(browser, slice_server, table_top):  # noqa: F811
    """Under iwer (an emulated Quest 3 in a captured office): the hologram placed on the
    table, the trigger held on the slice plane and the controller moved 2 cm towards the
    viewer moves the coronal plane anteriorly by 2 cm over the hologram's scale, without
    turning the hologram; the page's controls follow; a select on the plane reads its CT
    number into the dock; a long pull stops at the scan's edge."""
    from tests.web.test_join_ar import INJECT, ar_state, wait_ar

    if not INJECT.is_file():
        unavailable("WebXR init script not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    server, z = slice_server
    page, guard = guarded_page(browser, server.url, viewport=(1000, 720), name="AR self-paced")
    try:
        page.context.add_init_script(path=str(INJECT))
        page.goto(server.url + "/lessons/slice-web")
        page.wait_for_function("() => { const h = window.__arkitClass && window.__arkitClass.hologram;"
                               " return !!h && h.loaded && h.slice.shown; }", timeout=LOAD_MS)
        page.locator("#enter-ar").wait_for(state="visible", timeout=15_000)
        page.evaluate("t => window.__xrtest.setHeadset([0, 1.6, 0.35], [t.x, t.y, t.z])", table_top)
        page.click("#enter-ar")
        wait_ar(page, "s.inSession")
        page.evaluate("() => window.__xrtest.waitFrames(3)")
        target = [table_top["x"] + 0.1, table_top["y"], table_top["z"] + 0.1]
        page.evaluate("([f, t]) => window.__xrtest.aim('right', f, t)", [[0.2, 1.2, 0.1], target])
        page.evaluate("() => window.__xrtest.waitFrames(3)")
        page.evaluate("() => window.__xrtest.press('right', 'trigger')")
        state = wait_ar(page, "s.placed")
        before = page.evaluate("() => window.__arkitClass.hologram.slice.slice.at_mm")
        plane = page.evaluate("() => window.__xrtest.objectInfo('arkit_slice')")
        assert plane and plane["visible"]
        # a select (a short press) on the plane reads the point there, shown in the dock
        page.evaluate("() => window.__xrtest.aimAtObject('arkit_slice', 'right', 0.25)")
        page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.press('right', 'trigger')")
        page.wait_for_function("() => !!window.__arkitClass.hologram.probe", timeout=10_000)
        probe = page.evaluate("() => window.__arkitClass.hologram.probe")
        assert probe["hu"] is not None and probe["ras_mm"][1] == pytest.approx(before, abs=1.5), probe
        page.wait_for_function("() => JSON.stringify(window.__arkitXRUI.dock.info || '').includes('HU')", timeout=10_000)
        assert page.evaluate("() => window.__arkitClass.hologram.slice.slice.at_mm") == before, "a tap does not move it"
        assert ar_state(page)["turn_deg"] == state["turn_deg"]
        assert page.evaluate("() => window.__xrtest.aimAtObject('arkit_slice', 'right', 0.25)")
        page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.hold('right', 'trigger', 1)")
        assert page.evaluate("() => window.__arkitClass.hologram.slice.grabbed") is True
        # 2 cm towards the viewer, in steps as a hand moves
        head = page.evaluate("() => window.__xrtest.headset()")
        toward = [head[0] - plane["position"][0], 0.0, head[2] - plane["position"][2]]
        length = (toward[0] ** 2 + toward[2] ** 2) ** 0.5
        step = [0.005 * toward[0] / length, 0.0, 0.005 * toward[2] / length]
        for _ in range(4):
            page.evaluate("d => window.__xrtest.move('right', d)", step)
            page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.hold('right', 'trigger', 0)")
        after = page.evaluate("() => window.__arkitClass.hologram.slice.slice")
        moved = ar_state(page)
        expected = 20.0 / moved["scale"]  # mm of hologram per 2 cm of room, anterior = towards the viewer
        assert after["axis"] == "coronal" and after["at_mm"] - before == pytest.approx(expected, rel=0.15), \
            (before, after, moved["scale"])
        assert moved["turn_deg"] == state["turn_deg"], "holding the trigger on the plane must not turn the hologram"
        assert page.evaluate("() => window.__arkitClass.hologram.slice.grabbed") is False
        assert page.locator("#slice-at").input_value() == str(round(after["at_mm"]))
        # a long pull (20 cm) stops at the front of the scan
        page.evaluate("() => window.__xrtest.aimAtObject('arkit_slice', 'right', 0.25)")
        page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.hold('right', 'trigger', 1)")
        for _ in range(4):
            page.evaluate("d => window.__xrtest.move('right', d)", [10 * c for c in step])
            page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.hold('right', 'trigger', 0)")
        front = max(v["ras_max"][1] for v in json.loads(z.read("lesson.json"))["holograms"]["body"]["volumes"].values())
        assert page.evaluate("() => window.__arkitClass.hologram.slice.slice.at_mm") == int(front)
        page.evaluate("() => window.__xrtest.endSession()")
        assert not guard.blocked and not guard.errors, (guard.blocked, guard.errors)
    finally:
        page.context.close()

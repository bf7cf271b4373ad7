"""The student page's 3D view (/j/<code>, web_ar/classroom/pages/join.js) in headless Chromium
against a real ``arkit serve``, offline (every request not bound for the server aborted)
and with no console errors: the hologram is drawn; the liver's rendered colour follows its
tracer curve at two times set by the lecturer, and its details give the activity and
concentration the file holds; following the lecturer can be switched off and snaps back;
tapping the liver in 3D answers an identify quiz (the projection counts it); the view is
operable with the keyboard alone; the plain-language errors without WebGL or lesson.

Pages emulate ``prefers-reduced-motion: reduce``: no inertia and no animated framing, so
pixels are compared on settled frames (and the reduced-motion path is the one tested).
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pytest

from tests.helpers import build_test_lesson, lesson_yaml, upload_lesson
from tests.web.classroom_server import (  # noqa: F401 (fixtures)
    KEY,
    classroom_bundle,
    classroom_server,
    guarded_page,
)
from tests.web.events import events, wait_ar_status, wait_event, wait_loaded, wait_state
from tests.web.test_preview import drawn_fraction

LOAD_MS = 45_000  # a GLB decoded and drawn by software WebGL on two cores
HOOK = "window.__arkitClass"

# FDG as physical activity concentration in a fixed window: the liver's concentration falls
# with the F-18 decay (its decay-corrected share is constant in the reference model), so its
# colour moves down the palette between 10 and 100 min.
TRACER_LESSON = lesson_yaml("student-tracer", "Tracer colours", "The liver's FDG concentration over two hours.", """
holograms:
  body: {source: "phantom:mird-adult?voxel=8", usdz: false, tracer: fdg, quantity: concentration, until: 120 min, window: [0, 5]}
steps:
  - title: The liver over two hours
    hologram: body
    narration: The liver takes up FDG over the first hour while the F-18 decays.
    visible: [liver, heart, brain, kidney_left, kidney_right, urinary_bladder]
    framing: {target: liver, view: front}
    time: {start: 10 min, end: 110 min}
""")


def wait_hook(page, condition: str, timeout: float = 15_000):
    page.wait_for_function(f"() => {{ const c = {HOOK}; return !!c && ({condition}); }}", timeout=timeout)


def hook(page, expression: str):
    return page.evaluate(f"() => {{ const c = {HOOK}; return {expression}; }}")


def control(server, code, token, **action):
    return server.api("POST", f"/api/sessions/{code}/control", action, token=token)


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def changed_fraction(a: bytes, b: bytes, threshold: int = 24) -> float:
    return float((np.abs(pixels(a) - pixels(b)).max(axis=2) > threshold).mean())


def colour_at(page, x: float, y: float, r: int = 2) -> np.ndarray:
    """Mean sRGB (0-255) of the (2r+1)^2 screen pixels around (x, y)."""
    png = page.screenshot(clip={"x": round(x) - r, "y": round(y) - r, "width": 2 * r + 1, "height": 2 * r + 1})
    return pixels(png).reshape(-1, 3).mean(axis=0)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def palette_position(rgb255, palette) -> tuple[float, float]:
    """(position in [0, 1] along the palette's stops, distance in linear RGB) of the point
    of the palette polyline nearest ``rgb255``."""
    c = srgb_to_linear(rgb255)
    stops = np.asarray(palette, dtype=np.float64)
    best = (0.0, np.inf)
    for i in range(len(stops) - 1):
        a, b = stops[i], stops[i + 1]
        f = float(np.clip(np.dot(c - a, b - a) / np.dot(b - a, b - a), 0, 1))
        d = float(np.linalg.norm(a + f * (b - a) - c))
        if d < best[1]:
            best = ((i + f) / (len(stops) - 1), d)
    return best


@pytest.fixture(scope="module")
def tracer_lesson(tmp_path_factory, classroom_server):  # noqa: F811
    """The tracer lesson, built and uploaded to the running server; yields its lesson.json
    and the liver's node extras read from its GLB."""
    from arkit_py.scene.gltf import read_glb

    bundle = build_test_lesson(tmp_path_factory.mktemp("student-tracer"), "student-tracer", TRACER_LESSON)
    upload_lesson(classroom_server.url, bundle, KEY)
    with zipfile.ZipFile(bundle) as z:
        lesson = json.loads(z.read("lesson.json"))
        gltf, _ = read_glb(z.read(lesson["holograms"]["body"]["assets"]["glb"]["path"]))
    liver = next(n["extras"] for n in gltf["nodes"] if n.get("name") == "liver")
    return lesson, liver


def student(browser, server, code, name="student", viewport=(1000, 720)):
    page, guard = guarded_page(browser, server.origin, viewport=viewport, name=name)
    page.emulate_media(reduced_motion="reduce")
    page.goto(f"{server.url}/j/{code}")
    return page, guard


def check_clean(*guards):
    blocked = [u for g in guards for u in g.blocked]
    errors = [e for g in guards for e in g.errors]
    assert blocked == [], f"requests left the test server: {blocked}"
    assert errors == [], f"console errors: {errors}"


def test_view_draws_and_works_by_keyboard(browser, classroom_server):  # noqa: F811
    """(a) the hologram is drawn; (d) Tab reaches the view, the arrow keys turn it, + zooms,
    0 frames the step again, Enter selects; labels with leader lines and captions."""
    server = classroom_server
    session = server.create_session()
    code, token = session["code"], session["control_token"]
    page, guard = student(browser, server, code)
    try:
        loaded = wait_loaded(page, 0, LOAD_MS)
        assert loaded["page"] == "student" and loaded["structures"] >= 9 and loaded["cached"] is False
        assert wait_state(page, "d.step === 0")["live"] is True
        canvas = page.locator("#viewport canvas")
        assert canvas.get_attribute("role") == "application"
        assert "hologram" in canvas.get_attribute("aria-label")
        help_text = page.locator(f"#{canvas.get_attribute('aria-describedby')}").inner_text()
        assert "arrow keys" in help_text and "Enter" in help_text
        assert hook(page, "c.hologram.progress") is None and page.locator(".load-progress").is_hidden()
        assert hook(page, "c.hologram.reduced_motion") is True
        before = page.locator("#viewport").screenshot()
        assert drawn_fraction(before) > 0.02, "the student's view shows only background"
        # the narration as captions over the view, and the timeline with its legend
        assert page.locator("#captions").inner_text().startswith("Hello class.")
        assert page.locator("#timeline .legend-title").inner_text() == "SUV (g/mL)"
        assert page.locator("#timeline-readout").inner_text() == "0 min p.i."

        # keyboard only: Tab to the view
        for _ in range(6):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement && document.activeElement.tagName") == "CANVAS":
                break
        assert page.evaluate("() => document.activeElement.tagName") == "CANVAS", "Tab never reached the 3D view"
        framed = page.locator("#viewport").screenshot()
        for _ in range(6):  # 60 degrees
            page.keyboard.press("ArrowRight")
        wait_hook(page, "c.hologram.frames > 0")
        turned = page.locator("#viewport").screenshot()
        assert changed_fraction(framed, turned) > 0.01, "the arrow keys did not turn the hologram"
        page.keyboard.press("+")
        zoomed = page.locator("#viewport").screenshot()
        assert changed_fraction(turned, zoomed) > 0.01, "+ did not zoom"
        page.keyboard.press("0")
        reset = page.locator("#viewport").screenshot()
        assert changed_fraction(framed, reset) < 0.002, "0 did not frame the step again"
        page.keyboard.press("Enter")  # the structure under the centre mark
        wait_hook(page, "!!c.selected")
        assert page.locator("#structure-info .info-name").inner_text()

        # a step with a label: the box, its leader line and the anchor on the bladder
        control(server, code, token, action="step", step=1)
        control(server, code, token, action="pause")
        wait_loaded(page, 1)
        wait_hook(page, "c.hologram.labels.length === 1")  # laid out on the next frame drawn
        (label,) = hook(page, "c.hologram.labels")
        assert label["structure"] == "urinary_bladder" and label["text"] == "Bladder contents"
        x, y, w, h = label["box"]
        ax, ay = label["anchor"]
        assert not (x <= ax <= x + w and y <= ay <= y + h), "the label hides its own structure"
        assert page.locator("#viewport .leaders line.leader").count() == 1
        assert page.locator("#viewport .labels .label").inner_text() == "Bladder contents"
        assert page.locator("#captions").inner_text() == "Watch the bladder fill over the first hour."
        page.click("#captions-toggle")
        assert page.locator("#captions").is_hidden()
        assert page.locator("#captions-toggle").get_attribute("aria-pressed") == "false"
    finally:
        page.context.close()
    check_clean(guard)


def test_tracer_colour_follows_the_curve(browser, classroom_server, tracer_lesson):  # noqa: F811
    """(b) at two times set by the lecturer the liver's pixels sit on the palette where its
    curve says; its details give the file's activity and concentration; following can be
    switched off (the student scrubs) and snaps back when switched on."""
    server = classroom_server
    lesson, liver = tracer_lesson
    legend = lesson["holograms"]["body"]["legend"]
    assert legend["quantity"] == "concentration" and legend["unit"] == "kBq/mL"
    session = server.create_session("student-tracer")
    code, token = session["code"], session["control_token"]
    times = np.asarray(liver["times_s"])
    values = np.asarray(liver["values"])
    page, guard = student(browser, server, code, name="tracer student")
    try:
        wait_loaded(page, 0, LOAD_MS)
        point = hook(page, "c.probe.screenPoint('liver')")
        assert point, "no point of the view picks the liver"
        seen = {}
        for minutes in (10, 100):
            t = minutes * 60.0
            control(server, code, token, action="time", time_s=t)
            wait_hook(page, f"Math.abs(c.hologram.real_time - {t}) < 1 && c.timeline.following")
            colour = colour_at(page, point["x"], point["y"])
            position, distance = palette_position(colour, legend["palette"])
            assert distance < 0.05, f"the liver's colour {colour} is not on the palette (distance {distance:.3f})"
            seen[minutes] = (position, float(np.interp(t, times, values)))
            assert page.locator("#timeline-readout").inner_text() == f"{minutes} min p.i."
        (p1, v1), (p2, v2) = seen[10], seen[100]
        span = legend["max"] - legend["min"]
        assert abs(v1 - v2) / span > 0.2, "the fixture's liver curve barely changes: the test would prove nothing"
        assert (p1 > p2) == (v1 > v2), f"colour order {p1:.2f} vs {p2:.2f} disagrees with the curve {v1:.2f} vs {v2:.2f}"
        for position, value in seen.values():
            expected = (min(max(value, legend["min"]), legend["max"]) - legend["min"]) / span
            assert abs(position - expected) < 0.06, f"colour at {position:.3f} of the palette, curve says {expected:.3f}"

        # the liver's details at 100 min, chosen from the list with the keyboard
        page.focus("#structure-list button[data-structure='liver']")
        page.keyboard.press("Enter")
        wait_hook(page, "c.info && c.info.structure === 'liver'")
        text = page.locator("#structure-info .info-values").inner_text()
        m = re.fullmatch(r"Liver: ([0-9.]+) MBq, ([0-9.]+) kBq/mL at 100 min", text)
        assert m, text
        activity = float(np.interp(6000.0, times, liver["activity_bq"]))
        assert float(m.group(1)) == pytest.approx(activity / 1e6, abs=0.051)
        assert float(m.group(2)) == pytest.approx(activity / liver["volume_ml"] / 1e3, abs=0.051)
        assert "Digestive system" in page.locator("#structure-info .info-name").inner_text()
        # a physical legend, but the file carries F-18's half-life (ICRP-107): the toggle
        # decay-corrects activity and concentration to injection, A * 2^(t / T½)
        half_life = lesson["holograms"]["body"]["tracer_facts"]["half_life_s"]
        toggle = page.locator("#decay-toggle")
        assert toggle.is_enabled() and not toggle.is_checked()
        toggle.check()
        wait_hook(page, "c.info && c.info.headline.endsWith('decay-corrected to injection')")
        text = page.locator("#structure-info .info-values").inner_text()
        m = re.fullmatch(r"Liver: ([0-9.]+) MBq, ([0-9.]+) kBq/mL at 100 min, decay-corrected to injection", text)
        assert m, text
        factor = 2 ** (6000.0 / half_life)
        assert float(m.group(1)) == pytest.approx(activity / 1e6 * factor, abs=0.051)
        assert float(m.group(2)) == pytest.approx(activity / liver["volume_ml"] / 1e3 * factor, abs=0.051)
        assert page.locator("#structure-info .info-coloured").inner_text().startswith("Physical: ")
        assert "Half-life of F-18" in page.locator("#structure-info .info-note").inner_text()
        toggle.uncheck()
        wait_hook(page, "c.info && !c.info.headline.includes('decay-corrected')")

        # not following: the student scrubs; the lecturer's changes wait until following again
        page.click("#timeline-follow")
        wait_hook(page, "!c.timeline.following")
        page.focus("#timeline-time")
        page.keyboard.press("Home")
        wait_hook(page, "c.timeline.time_s === 0 && c.hologram.real_time === 0")
        rev = hook(page, "c.rev")
        control(server, code, token, action="time", time_s=3600)
        wait_hook(page, f"c.rev > {rev}")
        assert hook(page, "c.timeline.time_s") == 0
        page.click("#timeline-follow")
        wait_hook(page, "c.timeline.following && c.timeline.time_s === 3600 && c.hologram.real_time === 3600")
        assert page.locator("#timeline-readout").inner_text() == "60 min p.i."
    finally:
        page.context.close()
    check_clean(guard)


def test_tap_in_3d_answers_identify_quiz(browser, classroom_server):  # noqa: F811
    """(c) with an identify quiz open, tapping the liver in the view sends the answer: the
    ack arrives and the projection's count rises."""
    server = classroom_server
    session = server.create_session()
    code, token = session["code"], session["control_token"]
    control(server, code, token, action="step", step=2)
    projection, projection_guard = guarded_page(browser, server.origin, viewport=(1000, 600), name="projection")
    page = None
    try:
        projection.goto(f"{server.url}/p/{code}")
        wait_state(projection, "d.step === 2")
        page, guard = student(browser, server, code, name="tapping student")
        wait_loaded(page, 2, LOAD_MS)
        control(server, code, token, action="open_quiz")
        page.locator("#quiz[data-phase='open'] form.kind-identify").wait_for()
        # the list stays the accessible way to answer, with the hologram's display names
        assert page.locator("#quiz .choice[data-value='kidney_left']").inner_text() == "Left kidney"
        projection.wait_for_function("() => document.querySelector('#answers').dataset.answered === '0'")
        point = hook(page, "c.probe.screenPoint('liver')")
        assert point, "no point of the view picks the liver"
        page.mouse.click(point["x"], point["y"])
        answer = wait_event(page, "arkit:answer", "d.quiz === 'find-liver'", 10_000)
        assert (answer["value"], answer["ok"], answer["from"]) == ("liver", True, "page")
        assert hook(page, "c.answered['find-liver']") == "liver"
        assert hook(page, "c.selected") == "liver"
        assert page.locator("#quiz input[value='liver']").is_checked()
        page.locator("#quiz .feedback.ok").wait_for()
        projection.wait_for_function("() => document.querySelector('#answers').dataset.answered === '1'", timeout=10_000)
        assert projection.locator("#answers .answered").inner_text() == "1"
    finally:
        if page is not None:
            page.context.close()
        projection.context.close()
    check_clean(guard, projection_guard)


def test_plain_language_errors(browser, classroom_server):  # noqa: F811
    """Without WebGL the page says so and the lesson still runs; a lesson that cannot be
    fetched is said in words, in the status line and in the view."""
    server = classroom_server
    code = server.create_session()["code"]
    page, guard = guarded_page(browser, server.origin, viewport=(800, 600), name="no webgl")
    try:
        page.add_init_script("delete window.WebGL2RenderingContext;")
        page.goto(f"{server.url}/j/{code}")
        assert wait_state(page, "d.step === 0")["page"] == "student"
        status = page.locator("#viewer-status")
        assert "cannot show 3D graphics" in status.inner_text() and "still work" in status.inner_text()
        assert page.locator("#step-title").inner_text() == "Welcome"
        assert page.locator("#structure-list button").count() == 9  # the list works without the view
        assert wait_ar_status(page, "unsupported")["mode"] is None  # no WebGL: no AR either
        assert events(page, "arkit:loaded") == []  # no hologram was shown
    finally:
        page.context.close()
    assert guard.blocked == []
    assert len(guard.errors) == 1 and "WebGL 2 is not available" in guard.errors[0], guard.errors

    page, guard = guarded_page(browser, server.origin, viewport=(800, 600), name="no lesson")
    try:
        page.route("**/api/sessions/*/lesson", lambda r: r.fulfill(
            status=503, content_type="application/json",
            body=json.dumps({"error": "unavailable", "message": "the lesson store is not ready"})))
        page.goto(f"{server.url}/j/{code}")
        page.wait_for_function("() => document.body.dataset.problem")
        assert "The lesson store is not ready." in page.locator("#status").inner_text()
        assert "The lesson could not be loaded" in page.locator("#viewer-status").inner_text()
    finally:
        page.context.close()
    assert guard.blocked == []
    assert all("503" in e for e in guard.errors), guard.errors


SYSTEMS_LESSON = lesson_yaml("student-systems", "Systems", "Whole systems named in a step.", """
holograms:
  body: {source: "phantom:mird-adult?voxel=8", usdz: false}
steps:
  - title: The skeleton
    hologram: body
    narration: The bones and the body outline.
    visible: ["system:skeletal", body]
    highlighted: ["system:urinary"]
    translucent: [body]
""")


def test_a_step_can_show_whole_systems(browser, tmp_path_factory, classroom_server):  # noqa: F811
    """`system:skeletal` in a step's visible list shows every bone and nothing else (the
    viewer matched names only, so the bone-scan steps showed the body alone); a system in
    `highlighted` highlights its structures."""
    bundle = build_test_lesson(tmp_path_factory.mktemp("student-systems"), "student-systems", SYSTEMS_LESSON)
    upload_lesson(classroom_server.url, bundle, KEY)
    with zipfile.ZipFile(bundle) as z:
        names = set(json.loads(z.read("lesson.json"))["holograms"]["body"]["structures"])
    page, guard = guarded_page(browser, classroom_server.origin, viewport=(800, 600), name="systems")
    try:
        page.goto(f"{classroom_server.url}/lessons/student-systems")
        wait_loaded(page, 0, LOAD_MS)
        visible = set(hook(page, "c.hologram.visible"))
        bones = {"skull", "spine", "pelvis", "rib_cage", "leg_bones_left", "arm_bones_right"}
        assert bones <= visible and "body" in visible
        assert not visible & {"liver", "heart", "kidney_left", "brain"}
        assert len(visible) < len(names) - 10
        assert set(hook(page, "c.hologram.highlighted")) == {"kidney_left", "kidney_right", "urinary_bladder"} & names
    finally:
        page.context.close()
    assert guard.blocked == []

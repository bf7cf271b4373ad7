"""The student page's in-scene labels and controls in AR (web_ar/classroom/features/xr_ui.js) and the
hologram look (web_ar/lib/look.js), in headless Chromium against a real ``arkit serve``.

Headsets have no DOM overlay, so in an immersive session the page draws what the student
needs into the scene. Under the npm ``iwer`` runtime (web_ar/xrtest/inject.js, an emulated
Quest 3 in the ``office_small`` room capture) the student places the hologram on the table
and, with the controller alone:

- sees the step's label beside the hologram, its leader line starting on the bladder's
  surface (inside its world box) and its text at least 1 degree tall from where the head is;
- reads the step's captions and the time, presses Play (following stops) and Follow
  (following again);
- answers the lecturer's multiple-choice quiz by pressing an option and "Send answer" (the
  server's ack arrives and the projection counts it), then sees the result after the reveal;
- selects the liver and reads its details ("Liver: x MBq, y kBq/mL at n min");
- types a numeric answer on the in-scene keypad with its unit, and answers an order quiz by
  pressing one item, selecting the next on the hologram and pressing the last;
- leaves AR with the in-scene button.

On the self-paced page (/lessons/<id>, no session) the same in-scene quiz
(web_ar/classroom/features/scene_quiz.js) answers every kind: identify by a select, and a
numeric, an order (with Undo) and a choice quiz graded on the page.

On a see-through display (the emulated headset set to ``additive``) every colour is lifted
so black does not vanish; on the inline view the lift is checked against its formula on
the liver's pixels: lifted = lift + (1 - lift) * colour, in linear light.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.helpers import build_test_lesson, lesson_yaml, upload_lesson
from tests.web.classroom_server import (  # noqa: F401 (fixtures)
    KEY,
    classroom_bundle,
    classroom_server,
    guarded_page,
)
from tests.web.conftest import unavailable
from tests.web.events import mark, wait_ar_status, wait_event, wait_loaded, wait_state
from tests.web.test_join_ar import (  # noqa: F401 (fixture)
    INJECT,
    LOAD_MS,
    STEP_MS,
    ar_state,
    table_top,
)
from tests.web.test_student_view import (  # noqa: F401 (fixture)
    check_clean,
    colour_at,
    control,
    hook,
    tracer_lesson,
    wait_hook,
)

UI = "window.__arkitXRUI"

# The two quiz kinds a headset cannot type into a page for: a number with its unit, and an order.
QUIZ_LESSON = lesson_yaml("xr-quizzes", "Quizzes in AR", "A number and an order, answered in the scene.", """
holograms:
  body: {source: "phantom:mird-adult?voxel=8", usdz: false}
steps:
  - title: How much
    hologram: body
    narration: Ten millicuries.
    quiz: {id: how-much, kind: numeric, prompt: "10 mCi in MBq?", answer: 370 MBq, tolerance: 1 %}
  - title: Top to bottom
    hologram: body
    narration: From the head down.
    visible: [body, brain, heart, liver]
    translucent: [body]
    quiz: {id: top-down, kind: order, prompt: Top to bottom, answer: [brain, heart, liver]}
  - title: Which organ
    hologram: body
    narration: One of these is an organ.
    quiz: {id: which-organ, kind: choice, prompt: "Which of these is an organ?", options: [Liver, Chair, Lamp], answer: [0]}
""")
LABEL_CARD_EM = 1.6  # a label card is 1.6 times its font size tall (xr_ui.js Label)


@pytest.fixture(scope="module")
def quiz_bundle(tmp_path_factory):
    return build_test_lesson(tmp_path_factory.mktemp("xr-quizzes"), "xr-quizzes", QUIZ_LESSON)


@pytest.fixture(scope="module")
def quiz_lesson(quiz_bundle, classroom_server):  # noqa: F811
    upload_lesson(classroom_server.url, quiz_bundle, KEY)
    return "xr-quizzes"


def ui(page) -> dict:
    return page.evaluate(f"() => JSON.parse(JSON.stringify({UI}))")


def wait_ui(page, condition: str, timeout: float = STEP_MS) -> dict:
    try:
        page.wait_for_function(f"() => {{ const u = {UI}; return !!u && Boolean({condition}); }}", timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(f"in-scene UI never had {condition}: {ui(page)}") from None
    return ui(page)


def press(page, name: str) -> None:
    """Aims the right controller at the in-scene object ``name`` and pulls the trigger (once
    the dock has come to rest and the page sees the ray on the button); the press must
    register as that button. Under a loaded machine (full-suite runs, frames seconds apart)
    the emulated press has now and then landed off the button (a stray select on the
    hologram): up to two more tries, aiming afresh; then it must have taken."""
    button = name.removeprefix("arkit-ui:")
    count = len(ui(page)["pressed"])
    for attempt in range(3):
        wait_ui(page, "u.settled")
        aimed = page.evaluate("n => window.__xrtest.aimAtObject(n, 'right')", name)
        assert aimed is not None, f"no {name} in the scene"
        wait_ui(page, f"u.hovered === {button!r}")  # the page sees the ray on it (and shows it)
        page.evaluate("() => window.__xrtest.press('right', 'trigger')")
        try:
            page.wait_for_function(f"() => {UI}.pressed.length > {count}", timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise AssertionError(f"{button} never took a press: {ui(page)}") from None
    assert ui(page)["pressed"][count] == button


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = c / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    return 255.0 * np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def enter_and_place(page, table: dict) -> dict:
    page.locator("#enter-ar").wait_for(state="visible", timeout=STEP_MS)
    page.evaluate("t => window.__xrtest.setHeadset([0, 1.6, 0.35], [t.x, t.y, t.z])", table)
    since = mark(page)
    page.click("#enter-ar")
    wait_ar_status(page, "started", since=since)
    page.evaluate("() => window.__xrtest.waitFrames(3)")
    target = [table["x"] + 0.1, table["y"], table["z"] + 0.1]
    page.evaluate("([f, t]) => window.__xrtest.aim('right', f, t)", [[0.2, 1.2, 0.1], target])
    # The controller's hit-test source arrives a few frames into the session: until then a
    # select places by the gaze's hit instead (elsewhere on the table).
    page.wait_for_function("() => window.__arkitXRUI && document.querySelector('#enter-ar')", timeout=STEP_MS)
    page.evaluate("() => window.__xrtest.waitFrames(12)")
    page.evaluate("() => window.__xrtest.press('right', 'trigger')")
    wait_ar_status(page, "placed", since=since)
    state = ar_state(page)
    assert math.dist(state["position"][::2], target[::2]) < 0.05, f"placed at {state['position']}, aimed at {target}"
    return state


def test_labels_and_controls_in_the_scene(browser, classroom_server, table_top):  # noqa: F811
    if not INJECT.is_file():
        unavailable("WebXR init script not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    server = classroom_server
    session = server.create_session()
    code, token = session["code"], session["control_token"]
    control(server, code, token, action="step", step=1)  # "Where FDG goes": a label, a choice quiz, a time window
    projection, projection_guard = guarded_page(browser, server.origin, viewport=(1000, 600), name="projection")
    page, guard = guarded_page(browser, server.origin, viewport=(1000, 720), name="AR student")
    try:
        projection.goto(f"{server.url}/p/{code}")
        wait_state(projection, "d.step === 1")
        page.context.add_init_script(path=str(INJECT))
        page.goto(f"{server.url}/j/{code}")
        wait_loaded(page, 1, LOAD_MS)
        assert ui(page)["visible"] is False  # nothing in the scene before a session

        state = enter_and_place(page, table_top)
        assert state["placedBy"] == "hit-test"
        u = wait_ui(page, "u.visible && u.labels.length === 1 && u.dock.captions")

        # The label: on the bladder, beside the hologram, legible from the head.
        label = u["labels"][0]
        assert (label["structure"], label["text"]) == ("urinary_bladder", "Bladder contents")
        box = page.evaluate("() => window.__xrtest.structureBox('urinary_bladder')")
        assert all(lo - 1e-3 <= a <= hi + 1e-3 for a, lo, hi in zip(label["anchor"], box["min"], box["max"])), \
            f"the leader line starts at {label['anchor']}, off the bladder {box}"
        card = page.evaluate("() => window.__xrtest.objectInfo('arkit-label:urinary_bladder')")
        assert card and card["visible"]
        head = page.evaluate("() => window.__xrtest.headset()")
        em = card["scale"][1] / LABEL_CARD_EM
        distance = math.dist(head, card["position"])
        angle = math.degrees(2 * math.atan(em / 2 / distance))
        assert angle >= 1.0, f"label text {em * 1000:.1f} mm tall at {distance:.2f} m: {angle:.2f} degrees"
        body = page.evaluate("() => window.__xrtest.structureBox('body')")
        x, _, z = card["position"]
        inside = body["min"][0] < x < body["max"][0] and body["min"][2] < z < body["max"][2]
        assert not inside, "the label sits on the hologram instead of beside it"

        # Captions and time in the dock.
        assert u["dock"]["captions"].startswith("Where FDG goes")
        assert "bladder" in u["dock"]["captions"]
        assert re.fullmatch(r"[0-9.]+ min p\.i\.", u["dock"]["time"]), u["dock"]["time"]
        assert {b["id"] for b in u["buttons"]} >= {"play", "follow", "size", "pose", "leave"}

        # Play / Pause takes the time over (following stops); Follow gives it back.
        assert hook(page, "c.timeline.following") is True
        playing = hook(page, "c.timeline.playing")
        press(page, "arkit-ui:play")
        wait_hook(page, f"!c.timeline.following && c.timeline.playing === {str(not playing).lower()}")
        assert ui(page)["pressed"] == ["play"]
        wait_ui(page, "u.buttons.some(b => b.id === 'follow' && !b.pressed)")
        press(page, "arkit-ui:follow")
        wait_hook(page, "c.timeline.following")
        assert ar_state(page)["placed"] is True  # pressing buttons does not move the hologram

        # The lecturer's multiple-choice quiz, answered in the scene.
        control(server, code, token, action="open_quiz")
        u = wait_ui(page, "u.dock.quiz && u.buttons.some(b => b.id === 'option:0')")
        assert u["dock"]["quiz"].startswith("Which of these is an organ?")
        assert [b["text"] for b in u["buttons"] if b["id"].startswith("option:")] == ["Liver", "Chair", "Lamp"]
        press(page, "arkit-ui:option:0")
        wait_ui(page, "u.buttons.some(b => b.id === 'option:0' && b.pressed)")
        press(page, "arkit-ui:send")
        answer = wait_event(page, "arkit:answer", "d.quiz === 'organ'", 10_000)
        assert (answer["value"], answer["ok"], answer["from"]) == ([0], True, "scene")
        wait_hook(page, "JSON.stringify(c.answered.organ) === '[0]'")
        projection.wait_for_function("() => document.querySelector('#answers').dataset.answered === '1'",
                                     timeout=10_000)
        wait_ui(page, "u.dock.quiz.includes('Answer received')")

        # Selecting the liver: its details in the dock, as on the page.
        assert page.evaluate("() => window.__xrtest.aimAtStructure('liver', 'right')") is not None
        page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.press('right', 'trigger')")
        u = wait_ui(page, "u.dock.info && u.dock.info.startsWith('Liver')")
        assert "Digestive system" in u["dock"]["info"]
        assert re.search(r"Liver: [0-9.]+ MBq, [0-9.]+ kBq/mL at [0-9.]+ min", u["dock"]["info"]), u["dock"]["info"]
        assert hook(page, "c.selected") == "liver"

        # The reveal: the result in the scene.
        control(server, code, token, action="reveal")
        u = wait_ui(page, "u.dock.quiz && u.dock.quiz.includes('(correct)')")
        assert "Your answer: Liver (correct)" in u["dock"]["quiz"]

        # Leaving with the in-scene button.
        press(page, "arkit-ui:leave")
        wait_ar_status(page, "ended")
        assert ui(page)["visible"] is False
        assert page.locator("#enter-ar").inner_text() == "View in AR"
    finally:
        page.context.close()
        projection.context.close()
    check_clean(guard, projection_guard)


def test_see_through_display_lifts_the_colours(browser, classroom_server, tracer_lesson, table_top):  # noqa: F811
    if not INJECT.is_file():
        unavailable("WebXR init script not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    server = classroom_server
    session = server.create_session("student-tracer")
    page, guard = guarded_page(browser, server.origin, viewport=(1000, 720), name="see-through student")
    try:
        page.emulate_media(reduced_motion="reduce")  # settled frames for the pixels
        page.context.add_init_script(script="window.__xrtestOptions = {blendMode: 'additive'}")
        page.context.add_init_script(path=str(INJECT))
        page.goto(f"{server.url}/j/{session['code']}")
        wait_loaded(page, 0, LOAD_MS)
        assert hook(page, "c.hologram.look.lift") == 0
        point = hook(page, "c.probe.screenPoint('liver')")
        assert point, "no point of the view picks the liver"
        plain = colour_at(page, point["x"], point["y"])
        lift = page.evaluate("() => window.__arkitClass.probe.additive(true).lift")
        assert 0.1 < lift < 0.5
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        lifted = colour_at(page, point["x"], point["y"])
        expected = linear_to_srgb(lift + (1 - lift) * srgb_to_linear(plain))
        assert np.abs(lifted - expected).max() < 4, f"lifted {lifted}, formula says {expected} (from {plain})"
        assert page.evaluate("() => window.__arkitClass.probe.additive(false).lift") == 0

        # In a session on the see-through headset the lift is on, and off again after it.
        state = enter_and_place(page, table_top)
        assert state["blendMode"] == "additive"
        assert hook(page, "c.look().lift") == lift
        page.evaluate("() => window.__xrtest.endSession()")
        wait_ar_status(page, "ended")
        assert hook(page, "c.look().lift") == 0
    finally:
        page.context.close()
    check_clean(guard)


def test_numeric_and_order_quizzes_in_the_scene(browser, classroom_server, quiz_lesson, table_top):  # noqa: F811
    if not INJECT.is_file():
        unavailable("WebXR init script not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    server = classroom_server
    session = server.create_session(quiz_lesson)
    code, token = session["code"], session["control_token"]
    page, guard = guarded_page(browser, server.origin, viewport=(1000, 720), name="AR quiz student")
    try:
        page.context.add_init_script(path=str(INJECT))
        page.goto(f"{server.url}/j/{code}")
        wait_loaded(page, 0, LOAD_MS)
        enter_and_place(page, table_top)
        wait_ui(page, "u.visible")

        # A number with its unit on the keypad.
        control(server, code, token, action="open_quiz")
        wait_ui(page, "u.buttons.some(b => b.id === 'key:7')")
        for key in ("3", "7", "7", "back", "0", "unit:MBq"):
            press(page, f"arkit-ui:key:{key}")
        u = wait_ui(page, "u.dock.quiz.includes('Your answer: 370 MBq')")
        assert [b["pressed"] for b in u["buttons"] if b["id"] == "key:unit:MBq"] == [True]
        press(page, "arkit-ui:send")
        answer = wait_event(page, "arkit:answer", "d.quiz === 'how-much'", 10_000)
        assert (answer["value"], answer["ok"], answer["from"]) == ("370 MBq", True, "scene")
        control(server, code, token, action="reveal")
        # (numeric answers are graded by the server, with units: the page shows both values)
        wait_ui(page, "u.dock.quiz.includes('Your answer: 370 MBq\\nAnswer: 370 MBq')")

        # An order: a button, a select on the hologram, a button.
        control(server, code, token, action="step", step=1)
        wait_loaded(page, 1)
        control(server, code, token, action="open_quiz")
        u = wait_ui(page, "u.buttons.filter(b => b.id.startsWith('option:')).length === 3")
        items = {b["text"]: b["id"] for b in u["buttons"] if b["id"].startswith("option:")}
        assert set(items) == {"Brain", "Heart", "Liver"}
        press(page, f"arkit-ui:{items['Brain']}")
        wait_ui(page, "u.dock.quiz.includes('Your order: Brain')")
        assert page.evaluate("() => window.__xrtest.aimAtStructure('heart', 'right')") is not None
        page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.press('right', 'trigger')")
        wait_ui(page, "u.dock.quiz.includes('Your order: Brain → Heart')")
        press(page, f"arkit-ui:{items['Liver']}")
        press(page, "arkit-ui:send")
        wait_hook(page, "c.lastAck && c.lastAck.ok && JSON.stringify(c.answered['top-down']) === "
                        "JSON.stringify(['brain', 'heart', 'liver'])", 10_000)
        control(server, code, token, action="reveal")
        wait_ui(page, "u.dock.quiz.includes('(correct)')")
    finally:
        page.context.close()
    check_clean(guard)


def test_self_paced_lesson_in_ar(browser, classroom_server, table_top):  # noqa: F811
    """Alone, without a session: /lessons/<id> in AR, stepping with the in-scene buttons and
    answering the identify quiz by selecting the liver."""
    if not INJECT.is_file():
        unavailable("WebXR init script not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    server = classroom_server
    page, guard = guarded_page(browser, server.origin, viewport=(1000, 720), name="self-paced AR student")
    try:
        page.context.add_init_script(path=str(INJECT))
        page.goto(f"{server.url}/lessons/class-web")
        wait_loaded(page, 0, LOAD_MS)
        enter_and_place(page, table_top)
        u = wait_ui(page, "u.visible && u.dock.nav === '1/3' && u.dock.captions")
        assert u["dock"]["captions"].startswith("Welcome")
        assert "follow" not in {b["id"] for b in u["buttons"]}  # no lecturer to follow

        press(page, "arkit-ui:step-next")
        wait_state(page, "d.step === 1")
        u = wait_ui(page, "u.dock.nav === '2/3' && u.labels.length === 1")
        assert u["dock"]["captions"].startswith("Where FDG goes")
        press(page, "arkit-ui:step-next")
        wait_loaded(page, 2)
        u = wait_ui(page, "u.dock.quiz && u.dock.quiz.startsWith('Tap the liver.')")
        assert "Select the structure on the hologram." in u["dock"]["quiz"]

        page.evaluate("() => window.__xrtest.waitFrames(5)")
        assert page.evaluate("() => window.__xrtest.aimAtStructure('liver', 'right')") is not None
        page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.press('right', 'trigger')")
        answer = wait_event(page, "arkit:answer", "d.quiz === 'find-liver'")
        assert (answer["value"], answer["from"], answer["correct"]) == ("liver", "scene", True)  # checked by the server
        wait_ui(page, "u.dock.quiz.includes('Submitted: Liver')")
        press(page, "arkit-ui:step-prev")
        wait_state(page, "d.step === 1")
    finally:
        page.context.close()
    check_clean(guard)


def test_self_paced_answers_every_quiz_kind_in_the_scene(browser, classroom_server, quiz_bundle,  # noqa: F811
                                                         quiz_lesson, table_top):  # noqa: F811
    """The self-paced page in AR answers a numeric, an order and a choice quiz with the
    in-scene quiz alone (the keypad with its units, the order by buttons, a select on the
    hologram and Undo, the options), and the server grades them: the lesson students get
    carries no answers, and a numeric answer needs the server's units."""
    if not INJECT.is_file():
        unavailable("WebXR init script not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    server = classroom_server

    page, guard = guarded_page(browser, server.origin, viewport=(1000, 720), name="self-paced AR quizzes")
    try:
        page.context.add_init_script(path=str(INJECT))
        page.goto(f"{server.url}/lessons/{quiz_lesson}")
        wait_loaded(page, 0, LOAD_MS)
        enter_and_place(page, table_top)

        # A number with its unit on the keypad (the captions stay: no lecturer opens the quiz).
        u = wait_ui(page, "u.visible && u.dock.nav === '1/3' && u.buttons.some(b => b.id === 'key:7')")
        assert u["dock"]["quiz"].startswith("10 mCi in MBq?")
        assert u["dock"]["captions"].startswith("How much")
        for key in ("3", "7", "0"):
            press(page, f"arkit-ui:key:{key}")
        wait_ui(page, "u.dock.quiz.includes('Your answer: 370 (no unit yet)')")
        press(page, "arkit-ui:key:unit:MBq")
        u = wait_ui(page, "u.dock.quiz.includes('Your answer: 370 MBq')")
        assert [b["pressed"] for b in u["buttons"] if b["id"] == "key:unit:MBq"] == [True]
        press(page, "arkit-ui:send")
        answer = wait_event(page, "arkit:answer", "d.quiz === 'how-much'")
        assert answer == {"page": "self-paced", "quiz": "how-much", "kind": "numeric", "value": "370 MBq", "ok": True,
                          "correct": True, "from": "scene"}
        wait_ui(page, "u.dock.quiz.includes('Submitted: 370 MBq. Correct.')")

        # An order: a button, a select on the hologram, a button taken back with Undo, again.
        press(page, "arkit-ui:step-next")
        wait_state(page, "d.step === 1 && d.quiz.id === 'top-down'")
        u = wait_ui(page, "u.dock.nav === '2/3' && u.buttons.filter(b => b.id.startsWith('option:')).length === 3")
        items = {b["text"]: b["id"] for b in u["buttons"] if b["id"].startswith("option:")}
        assert set(items) == {"Brain", "Heart", "Liver"}
        press(page, f"arkit-ui:{items['Brain']}")
        wait_ui(page, "u.dock.quiz.includes('Your order: Brain')")
        wait_loaded(page, 1)
        assert page.evaluate("() => window.__xrtest.aimAtStructure('heart', 'right')") is not None
        page.evaluate("() => window.__xrtest.waitFrames(2)")
        page.evaluate("() => window.__xrtest.press('right', 'trigger')")
        wait_ui(page, "u.dock.quiz.includes('Your order: Brain → Heart')")
        press(page, f"arkit-ui:{items['Liver']}")
        wait_ui(page, "u.dock.quiz.includes('Your order: Brain → Heart → Liver')")
        press(page, "arkit-ui:order-undo")
        u = wait_ui(page, "u.dock.quiz.includes('Your order: Brain → Heart') && !u.dock.quiz.includes('→ Liver')")
        press(page, f"arkit-ui:{items['Liver']}")
        press(page, "arkit-ui:send")
        answer = wait_event(page, "arkit:answer", "d.quiz === 'top-down'")
        assert (answer["value"], answer["correct"], answer["from"]) == (["brain", "heart", "liver"], True, "scene")
        wait_ui(page, "u.dock.quiz.includes('Correct.')")

        # A choice: a wrong option first (graded as such), then the right one.
        press(page, "arkit-ui:step-next")
        wait_state(page, "d.step === 2")
        u = wait_ui(page, "u.dock.nav === '3/3' && u.buttons.some(b => b.id === 'option:0')")
        assert [b["text"] for b in u["buttons"] if b["id"].startswith("option:")] == ["Liver", "Chair", "Lamp"]
        press(page, "arkit-ui:option:1")
        press(page, "arkit-ui:send")
        answer = wait_event(page, "arkit:answer", "d.quiz === 'which-organ'")
        assert (answer["value"], answer["correct"]) == ([1], False)
        wait_ui(page, "u.dock.quiz.includes('Not right: the answer is Liver.')")
        since = mark(page)
        press(page, "arkit-ui:option:1")
        press(page, "arkit-ui:option:0")
        press(page, "arkit-ui:send")
        answer = wait_event(page, "arkit:answer", "d.quiz === 'which-organ'", since=since)
        assert (answer["value"], answer["correct"]) == ([0], True)
        wait_ui(page, "u.dock.quiz.includes('Correct.')")

        # Out of AR, the page's form shows what was answered in the scene.
        press(page, "arkit-ui:leave")
        wait_ar_status(page, "ended")
        assert page.locator("#quiz input[value='0']").is_checked()
        assert not page.locator("#quiz input[value='1']").is_checked()
        assert hook(page, "c.answered") == {"how-much": "370 MBq", "top-down": ["brain", "heart", "liver"],
                                            "which-organ": [0]}
        assert hook(page, "c.graded") == {"how-much": True, "top-down": True, "which-organ": True}
    finally:
        page.context.close()
    check_clean(guard)

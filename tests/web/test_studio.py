"""The lesson studio (/studio) in headless Chromium against a real ``arkit serve``, offline:
a lecturer signs in, makes a lesson on the phantom with FDG, adds three steps by tapping
structures in the 3D view, an identify quiz by tapping the liver, saves, builds, starts a
session, and a student answers it. Beside it: two tabs on one lesson get a conflict, the
steps reorder and delete from the keyboard, and the studio's pages pass axe."""

from __future__ import annotations

import shutil

import pytest
import yaml

from tests.helpers import ServeProcess, http
from tests.web.classroom_server import STATIC, Server, guarded_page
from tests.web.conftest import unavailable
from tests.web.events import wait_state
from tests.web.test_accessibility import AXE, blocking, describe, run_axe

KEY = "lecturer-key-for-studio-tests-0123456789"
BUILD_MS = 240_000  # a hologram of the phantom built on two busy cores, then drawn by software WebGL
HOOK = "window.__arkitClass"


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory):
    if not (STATIC / "studio_edit.js").is_file():
        unavailable("classroom pages not built: run npm ci --prefix web_ar && npm run build --prefix web_ar")
    data = tmp_path_factory.mktemp("studio-data")
    lessons = data / "lessons"
    lessons.mkdir()
    process = ServeProcess(data, lessons, key=KEY, log=data / "server.log")
    process.start()
    try:
        yield Server(process.url, process.proc, process.log)
    finally:
        process.stop()
        shutil.rmtree(data / "work", ignore_errors=True)


def wait_studio(page, condition: str, timeout: float = 30_000):
    page.wait_for_function(f"() => {{ const s = {HOOK} && {HOOK}.studio; return !!s && ({condition}); }}",
                           timeout=timeout)


def studio(page, expression: str):
    return page.evaluate(f"() => {{ const s = {HOOK}.studio; return {expression}; }}")


def sign_in(page, server, key=KEY):
    page.goto(server.url + "/studio")
    page.fill("#key", key)
    page.click("form[action='/studio/login'] button[type=submit]")


def tap(page, structure: str):
    """A tap on ``structure`` where the view shows it (the viewer says where)."""
    point = studio(page, f"s.screenPoint({structure!r})")
    if not point:
        tappable = studio(page, "s.structures.filter((n) => s.screenPoint(n))")
        raise AssertionError(f"{structure} is not on screen; these are: {tappable}")
    page.mouse.click(point["x"], point["y"])


def tap_mode(page, mode: str):
    page.check(f"input[name='tap'][value='{mode}']")


def saved_source(server, lesson_id: str) -> dict:
    _, source = http("GET", f"{server.url}/api/lessons/{lesson_id}/source", token=KEY)
    return yaml.safe_load(source["yaml"])


def new_lesson(page, server, title: str, lesson_id: str):
    sign_in(page, server)
    page.wait_for_function(f"() => {HOOK} && {HOOK}.ready")
    page.fill("#new-title-input", title)
    assert page.input_value("#new-id") == lesson_id  # the id follows the title
    page.select_option("#new-body", "phantom:mird-adult")
    page.select_option("#new-tracer", "fdg")
    page.click("#create")
    page.wait_for_url(f"**/studio/{lesson_id}")
    wait_studio(page, "s.ready")


def test_a_lesson_made_by_tapping_is_built_and_answered_in_class(browser, studio_server):
    server = studio_server
    page, guard = guarded_page(browser, server.origin, viewport=(1500, 1000), name="studio")
    pages = [page]
    try:
        # a wrong key is refused on the form, and never lands in the address
        sign_in(page, server, key="not-the-key")
        assert "not this server’s lecturer key" in page.locator("#login-problem").inner_text()
        assert "key" not in page.url.split("?")[-1]
        guard.errors.clear()  # the 401 of that answer is the one console error expected
        new_lesson(page, server, "FDG made in the studio", "fdg-made-in-the-studio")
        wait_studio(page, "s.hologram.loaded && s.previewState === 'done'", BUILD_MS)
        assert {"liver", "urinary_bladder", "rib_cage", "stomach"} <= set(studio(page, "s.structures"))

        # step 1 (from the new lesson): the bladder highlighted by a tap, a time window from the timeline
        tap_mode(page, "highlighted")
        tap(page, "urinary_bladder")
        if page.get_attribute("#play", "aria-pressed") == "true":  # the step plays when it opens: pause it
            page.click("#play")
        page.locator("#time").fill("1800")
        page.click("#time-end")
        # step 2: the liver labelled, the stomach highlighted, the view kept
        page.click("#add-step")
        page.fill("#step-title", "Liver and stomach")
        page.fill("#step-narration", "The **liver** holds free FDG; the stomach wall takes up a little.")
        tap_mode(page, "labels")
        tap(page, "liver")
        tap_mode(page, "highlighted")
        tap(page, "stomach")
        page.click("#use-view")
        # step 3: the ribs hidden by a tap in 'visible' mode
        page.click("#add-step")
        page.fill("#step-title", "Behind the ribs")
        tap_mode(page, "visible")
        tap(page, "rib_cage")
        # step 4: an identify quiz answered by tapping the liver
        page.click("#add-step")
        page.fill("#step-title", "Find the liver")
        page.select_option("#quiz-kind", "identify")
        assert page.is_checked("input[name='tap'][value='answer']")  # the tap mode follows the quiz kind
        page.fill("#quiz-prompt", "Tap the liver.")
        tap(page, "liver")
        page.locator("#quiz-answer .chip").wait_for()
        assert "Liver" in page.locator("#quiz-answer").inner_text()

        page.keyboard.press("Control+s")
        wait_studio(page, "!s.dirty && s.version === 2")
        lesson = saved_source(server, "fdg-made-in-the-studio")
        steps = lesson["steps"]
        assert [s["title"] for s in steps] == ["Uptake over time", "Liver and stomach", "Behind the ribs", "Find the liver"]
        assert steps[0]["highlighted"] == ["urinary_bladder"]
        assert steps[0]["time"]["end"] == "30 min"
        assert steps[1]["labels"] == [{"structure": "liver", "text": "Liver"}]
        assert steps[1]["highlighted"] == ["stomach"]
        assert set(steps[1]["framing"]) >= {"view", "zoom"} and steps[1]["framing"]["view"] == "front"
        assert "rib_cage" not in steps[2]["visible"] and "liver" in steps[2]["visible"]
        assert steps[3]["quiz"] == {"id": "find-the-liver", "kind": "identify", "prompt": "Tap the liver.",
                                    "answer": ["liver"]}
        assert lesson["holograms"]["body"] == {"source": "phantom:mird-adult", "profile": "phone", "tracer": "fdg"}
        assert studio(page, "s.errors.length") == 0

        # build: a job with progress; done means the lesson is in the library
        page.click("#build")
        wait_studio(page, "s.buildState === 'done'", BUILD_MS)
        _, library = http("GET", f"{server.url}/api/lessons")
        assert "fdg-made-in-the-studio" in [entry["id"] for entry in library]
        assert page.get_attribute("#preview-student", "aria-disabled") == "false"

        # start a session: the lecturer console opens in a new tab
        with page.context.expect_page() as opened:
            page.click("#start-session")
        console = opened.value
        pages.append(console)
        console.wait_for_load_state()
        code = studio(page, "s.session.code")
        wait_state(console, "d.step === 0", 60_000)
        token = console.evaluate(f"() => sessionStorage.getItem('arkit:control:{code}')")
        assert token
        http("POST", f"{server.url}/api/sessions/{code}/control", {"action": "step", "step": 3}, token)
        http("POST", f"{server.url}/api/sessions/{code}/control", {"action": "open_quiz"}, token)

        # a student answers on their phone's page
        student, _ = guarded_page(browser, server.origin, name="student")
        pages.append(student)
        student.goto(f"{server.url}/j/{code}")
        wait_state(student, "d.step === 3 && d.live", 60_000)
        student.locator("#quiz input[type=radio][value='liver']").check()
        student.click("#quiz button[type=submit]")
        student.locator("#quiz .feedback.ok").wait_for()
        _, results = http("GET", f"{server.url}/api/sessions/{code}/results", token=token)
        quiz = next(q for q in results["quizzes"] if q["quiz"] == "find-the-liver")
        assert quiz["answers"] == 1 and quiz["correct"] == 1
        assert not guard.blocked, f"requests left the server: {guard.blocked}"
        assert not guard.errors, guard.errors
    finally:
        for p in pages:
            p.context.close()


def test_two_tabs_on_one_lesson_get_a_conflict_not_an_overwrite(browser, studio_server):
    server = studio_server
    a, _ = guarded_page(browser, server.origin, viewport=(1400, 900), name="tab a")
    try:
        new_lesson(a, server, "Two tabs", "two-tabs")
        b = a.context.new_page()  # the same browser, a second tab: the same sign-in
        b.goto(f"{server.url}/studio/two-tabs")
        wait_studio(b, "s.ready")
        a.fill("#step-title", "Saved first in tab A")
        a.click("#save")
        wait_studio(a, "!s.dirty && s.version === 2")
        b.fill("#step-title", "Typed in tab B")
        b.click("#save")
        b.locator("#conflict").wait_for()
        assert "another tab" in b.locator("#conflict-text").inner_text()
        assert saved_source(server, "two-tabs")["steps"][0]["title"] == "Saved first in tab A"  # nothing overwritten
        b.click("#conflict-load")
        wait_studio(b, "!s.dirty && s.version === 2")
        assert b.input_value("#step-title") == "Saved first in tab A"
        # the steps reorder and delete from the keyboard; Undo brings a step back
        b.click("#add-step")
        b.fill("#step-title", "Second")
        b.locator("#steps li[data-index='1'] .step-select").focus()
        b.keyboard.press("Alt+ArrowUp")
        wait_studio(b, "s.step === 0")
        assert b.locator("#steps li[data-index='0'] .step-select").inner_text().startswith("1. Second")
        # the moved step keeps the focus, so the next key press moves or deletes it again
        b.wait_for_function("() => { const li = document.activeElement && document.activeElement.closest('#steps li');"
                            " return !!li && li.dataset.index === '0'; }")
        b.keyboard.press("Delete")
        b.locator("#undo-delete").wait_for()
        assert b.locator("#steps li").count() == 1
        b.click("#undo-delete")
        assert b.locator("#steps li").count() == 2
        b.click("#save")
        wait_studio(b, "!s.dirty && s.version === 3")
        assert [s["title"] for s in saved_source(server, "two-tabs")["steps"]] == ["Second", "Saved first in tab A"]
        # history: reverting to version 2 saves it again as version 4
        b.click("#history-open")
        b.click("#history-list li[data-version='2'] button")
        wait_studio(b, "!s.dirty && s.version === 4")
        assert [s["title"] for s in saved_source(server, "two-tabs")["steps"]] == ["Saved first in tab A"]
    finally:
        a.context.close()


def test_the_studio_pages_pass_axe(browser, studio_server):
    if not AXE.is_file():
        unavailable("axe-core is not installed: run npm ci --prefix web_ar")
    server = studio_server
    page, _ = guarded_page(browser, server.origin, viewport=(1400, 900), name="axe")
    found = {}
    try:
        page.goto(server.url + "/studio")
        found["sign-in"] = blocking(run_axe(page, server.origin))
        sign_in(page, server)
        page.wait_for_function(f"() => {HOOK} && {HOOK}.ready")
        found["library"] = blocking(run_axe(page, server.origin))
        page.click("input[name='start'][value='anatomy']")
        page.fill("#new-title-input", "Axe check")
        page.click("#create")
        page.wait_for_url("**/studio/axe-check")
        wait_studio(page, "s.ready && s.validations > 0")
        page.select_option("#quiz-kind", "choice")
        wait_studio(page, "s.dirty")
        found["editor"] = blocking(run_axe(page, server.origin))
    finally:
        page.context.close()
    found = {k: v for k, v in found.items() if v}
    assert not found, "axe (WCAG 2.1 A/AA), serious or critical:\n" + describe(found)


def test_quizzes_of_every_kind_an_uploaded_study_and_a_drag(browser, studio_server, tmp_path):
    from tests.server.test_studio_api import nifti_bytes

    server = studio_server
    page, guard = guarded_page(browser, server.origin, viewport=(1500, 1000), name="editor")
    try:
        new_lesson(page, server, "Every quiz", "every-quiz")
        # choice: options one a line, the right ones ticked
        page.select_option("#quiz-kind", "choice")
        page.fill("#quiz-prompt", "Which organ traps FDG most?")
        page.fill("#quiz-options", "Brain\nLiver\nLung")
        page.locator("#quiz-options").blur()  # the ticks follow the options once they are left
        page.locator("#quiz-fields fieldset label").filter(has_text="Brain").locator("input").check()
        assert page.locator("#quiz-fields fieldset label").filter(has_text="First option").count() == 0
        # numeric, on a new step
        page.click("#add-step")
        page.select_option("#quiz-kind", "numeric")
        page.fill("#quiz-answer-text", "110 min")
        page.fill("#quiz-tolerance", "furlongs")  # wrong: shown beside its field
        page.locator("#quiz-tolerance + .field-error").wait_for()
        assert page.get_attribute("#quiz-tolerance", "aria-invalid") == "true"
        page.fill("#quiz-tolerance", "5 %")
        page.wait_for_function("() => !document.querySelector('#quiz-tolerance + .field-error')")
        # order, on a third step: tapped in order
        page.click("#add-step")
        page.select_option("#quiz-kind", "order")
        wait_studio(page, "s.hologram.loaded", BUILD_MS)
        tap(page, "urinary_bladder")
        tap(page, "liver")
        assert page.locator("#quiz-answer").inner_text().index("1. Urinary bladder") < \
            page.locator("#quiz-answer").inner_text().index("2. Liver")
        # the step list by drag: the order step to the top
        page.locator("#steps li[data-index='2']").drag_to(page.locator("#steps li[data-index='0']"))
        wait_studio(page, "s.step === 0")
        page.click("#save")
        wait_studio(page, "!s.dirty")
        steps = saved_source(server, "every-quiz")["steps"]
        assert [s["quiz"]["kind"] for s in steps] == ["order", "choice", "numeric"]
        assert steps[0]["quiz"]["answer"] == ["urinary_bladder", "liver"]
        assert steps[1]["quiz"]["options"] == ["Brain", "Liver", "Lung"] and 0 in steps[1]["quiz"]["answer"]
        assert steps[2]["quiz"]["answer"] == "110 min" and steps[2]["quiz"]["tolerance"] == "5 %"

        # a lecturer's own label volume: uploaded on the page, chosen as the body, built for the view
        study = tmp_path / "DOE_JANE_labels.nii.gz"
        study.write_bytes(nifti_bytes())
        page.set_input_files("#upload-input", str(study))
        page.click("#upload-form button[type=submit]")
        page.locator("#files code", has_text="volume-1.nii.gz").wait_for()
        page.select_option("#holo-source", "volume-1.nii.gz")
        page.select_option("#holo-labels", "totalsegmentator")
        page.select_option("#holo-tracer", "")
        wait_studio(page, "s.previewState === 'done' && s.structures.length === 2", BUILD_MS)
        assert sorted(studio(page, "s.structures")) == ["liver", "spleen"]
        assert "DOE" not in page.content()
        assert not guard.blocked and not guard.errors, (guard.blocked, guard.errors)
    finally:
        page.context.close()


def test_a_steps_slice_is_set_in_the_studio_and_shown_on_its_hologram(browser, studio_server):
    """The hologram panel gives the phantom a synthetic CT and PET; then the studio's view
    draws the slice the plane controls set, and the step saves it in lesson.yaml (canonical
    form)."""
    from tests.helpers import lesson_yaml

    server = studio_server
    text = lesson_yaml("slice-studio", "Slices in the studio", "A fused slice.", """
holograms:
  body: {source: "phantom:mird-adult?voxel=8", usdz: false, tracer: fdg}
steps:
  - {title: One, narration: First.}
""")
    assert http("PUT", f"{server.url}/api/lessons/slice-studio/source", {"yaml": text}, token=KEY)[0] == 200
    page, guard = guarded_page(browser, server.origin, viewport=(1400, 900), name="studio")
    try:
        sign_in(page, server)
        page.goto(f"{server.url}/studio/slice-studio")
        wait_studio(page, "s.ready && s.previewState === 'done' && s.hologram.loaded", BUILD_MS)
        assert page.locator("#slice-box").is_hidden(), "no CT or PET: nothing to slice"
        page.select_option("#holo-ct", "synthetic")
        page.select_option("#holo-pet", "synthetic")
        wait_studio(page, "s.previewState === 'done' && s.hologram.loaded", BUILD_MS)
        page.locator("#slice-box").wait_for(timeout=BUILD_MS)
        assert not studio(page, "s.hologram.slice.shown")
        page.select_option("#slice-plane", "axial")
        wait_studio(page, "s.hologram.slice.shown && s.hologram.slice.slice.axis === 'axial'", 30_000)
        page.locator("#slice-blend").fill("20")
        wait_studio(page, "s.hologram.slice.slice.blend === 0.2")
        page.select_option("#slice-window", "lung")
        wait_studio(page, "s.hologram.slice.slice.ct_window === 'lung'")
        page.click("#save")
        wait_studio(page, "!s.dirty")
        saved = saved_source(server, "slice-studio")["steps"][0]["slice"]
        assert saved["axis"] == "axial" and saved["blend"] == 0.2 and saved["ct_window"] == "lung"
        assert isinstance(saved["at_mm"], (int, float))
        body = saved_source(server, "slice-studio")["holograms"]["body"]
        assert body["ct"] == "synthetic" and body["pet"] == "synthetic"
        page.select_option("#slice-plane", "")  # off: the step loses its slice
        wait_studio(page, "!s.hologram.slice.shown")
        page.click("#save")
        wait_studio(page, "!s.dirty")
        assert "slice" not in saved_source(server, "slice-studio")["steps"][0]
        assert not guard.blocked and not guard.errors, (guard.blocked, guard.errors)
    finally:
        page.context.close()

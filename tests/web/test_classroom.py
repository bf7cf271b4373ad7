"""The classroom pages (web_ar/classroom, served by a real ``arkit serve``) in headless
Chromium, offline: a lecturer paces three students from the console with the keyboard,
the students follow within a second and answer, the projection counts the answers, shows
the distribution after the reveal and draws the hologram; plus the library and the
self-paced page."""

from __future__ import annotations

import re
import time

from tests.web.classroom_server import classroom_bundle, classroom_server, guarded_page  # noqa: F401 (fixtures)
from tests.web.events import wait_event, wait_loaded, wait_state
from tests.web.test_preview import drawn_fraction

LOAD_MS = 45_000  # a GLB decoded and drawn by software WebGL on two cores
HOOK = "window.__arkitClass"


def wait_hook(page, condition: str, timeout: float = 15_000):
    """Waits until ``condition`` (JS, with ``c`` = window.__arkitClass) holds."""
    page.wait_for_function(f"() => {{ const c = {HOOK}; return !!c && ({condition}); }}", timeout=timeout)


def hook(page, expression: str):
    return page.evaluate(f"() => {{ const c = {HOOK}; return {expression}; }}")


def test_lecturer_paces_students_and_projection(browser, classroom_server):  # noqa: F811
    server = classroom_server
    session = server.create_session()
    code, token = session["code"], session["control_token"]
    pages = []

    def open_page(path, name, viewport=(900, 700)):
        page, guard = guarded_page(browser, server.origin, viewport=viewport, name=name)
        pages.append((page, guard))
        page.goto(server.url + path)
        return page, guard

    try:
        projection, _ = open_page(f"/p/{code}", "projection", viewport=(1280, 720))
        students = [open_page(f"/j/{code}", f"student {i}")[0] for i in range(3)]
        for student in students:
            wait_state(student, "d.step === 0 && d.live")
            wait_hook(student, "!!c.participantId")
            assert student.locator("#step-title").inner_text() == "Welcome"
            assert "class" in student.locator(".narration strong").inner_text()  # narration_html as HTML
        ids = {hook(s, "c.participantId") for s in students}
        assert len(ids) == 3

        lecturer, lecturer_guard = open_page(f"/l/{code}#{token}", "lecturer", viewport=(1100, 800))
        wait_state(lecturer, "d.step === 0")
        # the token left the address bar and lives in sessionStorage only
        assert lecturer.evaluate("() => window.location.hash") == ""
        assert lecturer.evaluate(f"() => sessionStorage.getItem('arkit:control:{code}')") == token
        wait_loaded(projection, 0, LOAD_MS)
        projection.wait_for_function("() => document.querySelector('#participants').dataset.count === '3'")

        # the lecturer advances with the keyboard, as a presenter clicker does
        pressed = time.time() * 1000
        lecturer.keyboard.press("ArrowRight")
        for student in students:
            wait_state(student, "d.step === 1", 5_000)
            assert hook(student, "c.stepShownAt") - pressed < 1000, "a student saw the new step after more than 1 s"
            assert student.locator("#step-title").inner_text() == "Where FDG goes"
        wait_state(lecturer, "d.step === 1")
        assert lecturer.locator(".step-link.current").inner_text().startswith("Where FDG goes")

        # the tracer time from the console (the Timeline in control mode): play / pause and the
        # scrubber go out as actions; every student following shows the new time
        playing = wait_state(lecturer, "d.step === 1")["playback"]["playing"]
        assert hook(lecturer, "c.timeline.mode") == "control"
        lecturer.click("#play")
        flipped = f"d.playback.playing === {str(not playing).lower()}"
        wait_state(lecturer, flipped, 5_000)
        lecturer.locator("#time").fill("2400")  # the scrubber's steps are 1/1000 of its range: 7.2 s here
        wait_state(lecturer, "Math.abs(d.playback.time_s - 2400) < 8", 5_000)
        for student in students:
            wait_state(student, f"{flipped} && Math.abs(d.playback.time_s - 2400) < 8", 5_000)
            assert hook(student, "c.timeline.following") is True
            assert hook(student, "c.timeline.playing") is (not playing)

        # the lecturer opens the quiz; two students answer, one right and one wrong
        lecturer.click("#open-quiz")
        for student, option in ((students[0], 0), (students[1], 1)):
            student.locator(f"#quiz .choice[data-value='{option}']").click()
            student.click("#quiz button[type=submit]")
            student.locator("#quiz .feedback.ok").wait_for()
            assert "Answer received" in student.locator("#quiz .feedback").inner_text()
        assert hook(students[0], "c.answered.organ") == [0]
        projection.wait_for_function("() => document.querySelector('#answers').dataset.answered === '2'")
        assert projection.locator("#answers .answered").inner_text() == "2"
        assert projection.locator("#answers .bars").count() == 0  # no distribution before the reveal

        lecturer.click("#reveal")
        projection.locator("#answers[data-phase='revealed'] .bars").wait_for()
        rows = projection.locator("#answers .bars li")
        assert rows.count() == 2
        assert projection.locator("#answers .bars li.correct .value").inner_text().startswith("Liver")
        students[0].locator("#quiz[data-phase='revealed'] .mine.correct").wait_for()
        students[1].locator("#quiz[data-phase='revealed'] .mine.wrong").wait_for()
        students[2].locator("#quiz[data-phase='revealed'] .distribution").wait_for()

        # the hologram is drawn on the projection, with the tracer time moving
        loaded = wait_loaded(projection, 1, LOAD_MS)
        assert loaded["page"] == "projection" and loaded["cached"] is True  # the same file as step 1's
        wait_hook(projection, "c.hologram.visible.includes('urinary_bladder') && c.hologram.clip_time !== null")
        png = projection.locator("#viewport").screenshot()
        assert drawn_fraction(png) > 0.02, "the projection's viewer shows only background"

        # the same student after a reload (participant id from localStorage)
        before = hook(students[2], "c.participantId")
        students[2].reload()
        wait_state(students[2], "d.step === 1")  # a reload: a fresh record of events
        assert hook(students[2], "c.participantId") == before
        assert server.api("GET", f"/api/sessions/{code}")["participants"] == 3

        # results in the console; then the lecturer ends the session and the students are told
        lecturer.locator("#results-table tr[data-quiz='organ']").wait_for()
        # the console refreshes its results at most every 2 s: wait for the refresh after the answers
        lecturer.wait_for_function(
            "() => (document.querySelector(\"#results-table tr[data-quiz='organ']\") || {}).innerText?.includes('2 of 3')",
            timeout=5000)
        assert "2 of 3" in lecturer.locator("#results-table tr[data-quiz='organ']").inner_text()
        lecturer.click("#end")
        lecturer.click("#end-yes")
        for student in students:
            student.wait_for_function("() => document.body.dataset.problem === 'ended'")
            assert "ended" in student.locator("#status").inner_text()

        # the control token never travelled in a URL
        assert not any(token in url for url in lecturer_guard.urls)
    finally:
        blocked = [u for _, g in pages for u in g.blocked]
        errors = [e for _, g in pages for e in g.errors]
        for page, _ in pages:
            page.context.close()
    assert blocked == [], f"requests left the test server: {blocked}"
    assert errors == [], f"console errors: {errors}"


def test_library_and_self_paced(browser, classroom_server):  # noqa: F811
    server = classroom_server
    page, guard = guarded_page(browser, server.origin, viewport=(1000, 700), name="self-paced")
    try:
        page.goto(server.url + "/")
        page.locator(".lesson[data-lesson='class-web'] a").click()
        page.wait_for_url("**/lessons/class-web")
        wait_loaded(page, 0, LOAD_MS)
        assert page.locator("#step-title").inner_text() == "Welcome"
        page.click("#next")
        assert wait_state(page, "d.step === 1")["live"] is False
        assert not page.locator("#playback").is_hidden()  # a tracer step: play / pause / time
        # the Timeline in local mode on the page's own controls, with the hologram's legend
        assert page.locator("#playback .legend-title").inner_text() == "SUV (g/mL)"
        timeline = hook(page, "c.timeline")
        assert timeline["mode"] == "local" and timeline["playing"] is True  # the step plays from its start
        assert timeline["rate"] == 300  # the page's speed control
        page.click("#play")
        wait_hook(page, "!c.timeline.playing")
        assert page.locator("#play").inner_text() == "Play"
        page.locator("#time").fill("3000")  # the scrubber's steps are 1/1000 of its range: 7.2 s here
        wait_hook(page, "Math.abs(c.timeline.time_s - 3000) < 8")
        assert re.fullmatch(r"(49\.9|50) min after injection", page.locator("#time-label").inner_text())
        page.locator("#quiz .choice[data-value='0']").click()
        page.click("#quiz button[type=submit]")
        page.locator("#quiz .feedback.ok").wait_for()
        answer = wait_event(page, "arkit:answer", "d.quiz === 'organ'")
        # the lesson students get carries no answers: the server checks them (nothing stored)
        assert answer == {"page": "self-paced", "quiz": "organ", "kind": "choice", "value": [0], "ok": True,
                          "correct": True, "from": "page"}
        assert page.locator("#quiz .feedback").inner_text() == "Submitted: Liver. Correct."
        page.locator("#quiz .choice[data-value='0']").click()  # off
        page.locator("#quiz .choice[data-value='2']").click()
        page.click("#quiz button[type=submit]")
        answer = wait_event(page, "arkit:answer", "d.quiz === 'organ' && d.value[0] === 2")
        assert answer["correct"] is False
        page.wait_for_function("() => document.querySelector('#quiz .feedback').innerText.includes('Not right')")
        assert page.locator("#quiz .feedback").inner_text() == "Submitted: Lamp. Not right: the answer is Liver."
        page.keyboard.press("PageDown")
        wait_state(page, "d.step === 2")
        assert page.locator("#quiz .choice[data-value='liver']").count() == 1  # identify: the structures
        png = page.locator("#viewport").screenshot()
        assert drawn_fraction(png) > 0.02
    finally:
        page.context.close()
    assert guard.blocked == [], f"requests left the test server: {guard.blocked}"
    assert guard.errors == [], f"console errors: {guard.errors}"

"""Accessibility of the classroom pages (web_ar/classroom, served by a real ``arkit serve``)
in headless Chromium, offline.

- axe-core (web_ar/node_modules/axe-core, an npm devDependency; the file is handed to the
  page by the test, never fetched from a network) runs with the WCAG 2.0 / 2.1 A and AA
  rules on every page in a state where its main content shows: the student page (/j/<code>)
  with the hologram loaded, labels, captions, the timeline, a structure's details and a
  quiz open, then an identify quiz, then the revealed answers; the projection (/p/<code>)
  and the lecturer console (/l/<code>) in the same states; the self-paced page
  (/lessons/<id>) on a quiz step; the library (/) and a problem page. No violation of
  impact serious or critical may remain.
- The captions are high-contrast: text against their box at least 7:1 (WCAG AAA) whatever
  the 3D view shows behind the translucent box, from getComputedStyle.
- Keyboard alone reaches the 3D view (Tab from the page's heading), shows where the focus
  is, turns the hologram with an arrow key and frames it again with 0, and Tab leaves it
  (no keyboard trap).
- prefers-reduced-motion is respected by the page's CSS and by the viewer.
- A lost connection is said in plain words and retried at least every 2 s: socket.io's
  reconnection options, and the reconnection attempts observed while the server is cut off.

Pages emulate ``prefers-reduced-motion: reduce`` (as test_student_view.py does).
"""

from __future__ import annotations

import itertools
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.web.classroom_server import (  # noqa: F401 (fixtures)
    classroom_bundle,
    classroom_server,
    guarded_page,
)
from tests.web.conftest import unavailable
from tests.web.events import wait_loaded, wait_state
from tests.web.test_student_view import (
    LOAD_MS,
    check_clean,
    control,
    hook,
    student,
    wait_hook,
)

AXE = Path(__file__).resolve().parents[2] / "web_ar" / "node_modules" / "axe-core" / "axe.min.js"
# The pages' Content-Security-Policy allows scripts from 'self' only (no inline script), so
# axe is served from the file at a same-origin address that the page itself routes: the
# request never reaches the server and nothing leaves the machine.
AXE_PATH = "/__a11y-test__/axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")
# Rules or targets left out of the assertion, each with the reason (a file this change
# could not touch). Empty: every finding was fixed.
EXCLUDED: dict[str, str] = {}

CAPTION_MIN_CONTRAST = 7.0  # WCAG 2 AAA (1.4.6) for text of any size


# ---------------------------------------------------------------------------- axe


def run_axe(page, origin: str) -> list[dict]:
    """axe's violations on ``page`` with the WCAG 2.0 / 2.1 A + AA rules (each violation with
    its id, impact, help, helpUrl and nodes' targets)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.route(origin + AXE_PATH, lambda r: r.fulfill(path=AXE, content_type="text/javascript"))
        page.add_script_tag(url=origin + AXE_PATH)
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return result.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map((n) => ({target: n.target, impact: n.impact, summary: n.failureSummary}))}));
        }""",
        AXE_TAGS,
    )


def blocking(violations: list[dict]) -> list[dict]:
    """The violations of impact serious or critical, less the documented exclusions."""
    out = []
    for v in violations:
        if v["id"] in EXCLUDED:
            continue
        nodes = [n for n in v["nodes"] if (n["impact"] or v["impact"]) in BLOCKING
                 and " ".join(map(str, n["target"])) not in EXCLUDED]
        if nodes:
            out.append({**v, "nodes": nodes})
    return out


def describe(found: dict[str, list[dict]]) -> str:
    lines = []
    for where, violations in found.items():
        for v in violations:
            lines.append(f"{where}: {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
            for n in v["nodes"]:
                summary = " ".join((n["summary"] or "").split())
                lines.append(f"    {' '.join(map(str, n['target']))}: {summary}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def axe_available():
    if not AXE.is_file():
        unavailable("axe-core is not installed: run npm ci --prefix web_ar")
    return AXE


# ---------------------------------------------------------------------------- the classroom


@dataclass
class Room:
    """One live session with its student, projection and lecturer pages open."""

    server: object
    code: str
    token: str
    student: object
    projection: object
    lecturer: object
    guards: list = field(default_factory=list)

    def control(self, **action):
        return control(self.server, self.code, self.token, **action)

    @property
    def pages(self):
        return {"student": self.student, "projection": self.projection, "lecturer": self.lecturer}


@pytest.fixture(scope="module")
def room(browser, classroom_server):  # noqa: F811
    server = classroom_server
    session = server.create_session()
    code, token = session["code"], session["control_token"]
    control(server, code, token, action="step", step=1)
    control(server, code, token, action="pause")
    opened = []
    try:
        page, guard = student(browser, server, code, name="a11y student")
        opened.append((page, guard))
        projection, projection_guard = guarded_page(browser, server.origin, viewport=(1280, 720), name="a11y projection")
        projection.emulate_media(reduced_motion="reduce")
        projection.goto(f"{server.url}/p/{code}")
        opened.append((projection, projection_guard))
        lecturer, lecturer_guard = guarded_page(browser, server.origin, viewport=(1100, 800), name="a11y lecturer")
        lecturer.goto(f"{server.url}/l/{code}#{token}")
        opened.append((lecturer, lecturer_guard))
        wait_loaded(page, 1, LOAD_MS)
        wait_loaded(projection, 1, LOAD_MS)
        wait_state(lecturer, "d.step === 1")
        yield Room(server, code, token, page, projection, lecturer, [g for _, g in opened])
    finally:
        for page, _ in opened:
            page.context.close()
    check_clean(*(g for _, g in opened))


@pytest.fixture(scope="module")
def live_violations(room, axe_available):
    """axe on the student, projection and lecturer pages in three states of the lesson;
    {page: {state: [violations]}}."""
    found = {name: {} for name in room.pages}

    def scan(state):
        for name, page in room.pages.items():
            found[name][state] = run_axe(page, room.server.origin)

    s, p, lecturer = room.student, room.projection, room.lecturer
    # step 2 of 3: a choice quiz open, a label with its leader line, the captions, the
    # timeline with its legend, and the liver's details (chosen in the list)
    room.control(action="step", step=1)
    room.control(action="open_quiz")
    wait_loaded(s, 1)
    wait_hook(s, "c.hologram.labels.length === 1")  # laid out on the next frame drawn
    s.locator("#quiz[data-phase='open'] form.kind-choice").wait_for()
    s.locator("#structure-list button[data-structure='liver']").click()
    wait_hook(s, "c.info && c.info.structure === 'liver'")
    p.locator("#answers[data-phase='open']").wait_for()
    lecturer.locator("#quiz[data-phase='open']").wait_for()
    lecturer.locator("#results-table table").wait_for()
    scan("choice quiz open")

    # step 3: an identify quiz open (the structures as a radio group)
    room.control(action="step", step=2)
    room.control(action="open_quiz")
    wait_loaded(s, 2)
    s.locator("#quiz[data-phase='open'] form.kind-identify").wait_for()
    p.locator("#answers[data-phase='open']").wait_for()
    scan("identify quiz open")

    # the answer revealed: the distribution on every page
    s.locator("#quiz .choice[data-value='liver']").click()
    s.click("#quiz button[type=submit]")
    s.locator("#quiz .feedback.ok").wait_for()
    room.control(action="reveal")
    s.locator("#quiz[data-phase='revealed'] .distribution").wait_for()
    p.locator("#answers[data-phase='revealed'] .bars").wait_for()
    lecturer.locator("#quiz[data-phase='revealed'] .distribution").wait_for()
    scan("answer revealed")
    return found


@pytest.mark.parametrize("name", ["student", "projection", "lecturer"])
def test_live_pages_pass_axe(live_violations, name):
    found = {f"{name}, {state}": blocking(v) for state, v in live_violations[name].items()}
    found = {k: v for k, v in found.items() if v}
    assert not found, "axe (WCAG 2.1 A/AA), serious or critical:\n" + describe(found)


def test_self_paced_library_and_problem_pages_pass_axe(browser, classroom_server, axe_available):  # noqa: F811
    server = classroom_server
    page, guard = guarded_page(browser, server.origin, viewport=(1000, 700), name="a11y self-paced")
    page.emulate_media(reduced_motion="reduce")
    found = {}
    try:
        page.goto(server.url + "/")
        page.locator(".lesson[data-lesson='class-web'] a").wait_for()
        found["library"] = run_axe(page, server.origin)
        page.fill("#join-code", "x")
        page.click("#join-form button[type=submit]")  # a code that cannot be: the error in words
        page.locator("#status.error").wait_for()
        found["library, a wrong code"] = run_axe(page, server.origin)

        page.goto(server.url + "/lessons/class-web")
        wait_loaded(page, 0, LOAD_MS)
        page.click("#next")
        wait_state(page, "d.step === 1")
        page.locator("#quiz form.kind-choice").wait_for()
        found["self-paced, a quiz step"] = run_axe(page, server.origin)
        assert page.evaluate(SAMPLES, True) == 7
        low = low_contrast_overlays(page)
        page.evaluate(SAMPLES, False)

        page.goto(server.url + "/j/ZZZZZZ")  # no such session: the problem page
        page.locator(".problem").wait_for()
        found["problem page"] = run_axe(page, server.origin)
    finally:
        page.context.close()
    assert guard.blocked == [], f"requests left the test server: {guard.blocked}"
    found = {k: blocking(v) for k, v in found.items()}
    found = {k: v for k, v in found.items() if v}
    assert not found, "axe (WCAG 2.1 A/AA), serious or critical:\n" + describe(found)
    assert not low, "text over the self-paced page's 3D view below 4.5:1:\n" + "\n".join(low)


# ---------------------------------------------------------------------------- captions


def _channel(c: float) -> float:
    c /= 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 channels)."""
    r, g, b = (_channel(float(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    """WCAG 2 contrast ratio of two opaque sRGB colours."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def parse_colour(css: str) -> tuple[float, float, float, float]:
    """(r, g, b, alpha) of a computed ``rgb()`` / ``rgba()`` colour."""
    m = re.fullmatch(r"rgba?\(([^)]*)\)", css.strip())
    assert m, f"not an rgb() colour: {css}"
    parts = [float(p) for p in re.split(r"[,\s/]+", m.group(1).strip()) if p]
    return (*parts[:3], parts[3] if len(parts) > 3 else 1.0)


def worst_contrast(text, *layers) -> float:
    """The lowest contrast of opaque ``text`` on ``layers`` (r, g, b, alpha), outermost
    first, over any backdrop: a translucent box over the 3D view shows whatever the view
    draws. Blending is per channel in sRGB, so the black and white backdrops bound the
    composite's luminance; text whose luminance lies between them can meet a backdrop that
    matches it (1:1)."""
    over = []
    for backdrop in (0.0, 255.0):
        colour = [backdrop] * 3
        for *rgb, alpha in layers:
            colour = [alpha * c + (1 - alpha) * b for c, b in zip(rgb, colour)]
        over.append(colour)
    lo, hi = luminance(over[0]), luminance(over[1])
    if lo <= luminance(text) <= hi:
        return 1.0
    return min(contrast(text, over[0]), contrast(text, over[1]))


# Text over the 3D view: every element with text of its own inside the view or the
# structure details over it, with its colour and the backgrounds between it and the view
# (outermost first). axe leaves these "incomplete": it cannot see through the canvas.
OVERLAY_TEXT = """() => {
    const layers = (el) => {
        const out = [];
        for (let e = el; e && !e.classList.contains('viewport') && !e.classList.contains('stage'); e = e.parentElement) {
            const bg = getComputedStyle(e).backgroundColor;
            if (!/^rgba\\(.*,\\s*0\\)$/.test(bg)) out.unshift(bg);
        }
        return out;
    };
    const roots = [...document.querySelectorAll('.viewport, #structure-info')];
    const seen = [];
    for (const root of roots) {
        for (const el of [root, ...root.querySelectorAll('*')]) {
            const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
            const box = el.getBoundingClientRect();
            if (!own || box.width <= 1 || box.height <= 1 || !el.checkVisibility({visibilityProperty: true})) continue;
            const classes = typeof el.className === 'string' ? el.className.trim().split(/\\s+/).filter(Boolean) : [];
            const what = `#${el.closest('[id]').id} ${[el.tagName.toLowerCase(), ...classes].join('.')}`;
            seen.push({what, text: el.textContent.trim().slice(0, 40), colour: getComputedStyle(el).color, layers: layers(el)});
        }
    }
    return seen;
}"""


def low_contrast_overlays(page, minimum: float = 4.5) -> list[str]:
    """What text over the view (as it is now) falls below ``minimum`` against the worst
    backdrop; also fails when nothing is found (the check would prove nothing)."""
    found = page.evaluate(OVERLAY_TEXT)
    assert found, "no text over the 3D view to check"
    low = []
    for item in found:
        text = parse_colour(item["colour"])
        ratio = worst_contrast(text[:3], *(parse_colour(c) for c in item["layers"])) if text[3] == 1 else 1.0
        if ratio < minimum:
            low.append(f"{item['what']} ({item['text']!r}): {item['colour']} on {item['layers']}: {ratio:.2f}:1")
    return low


# One of each overlay the view can show (its status, an error, the toasts, the load progress,
# the self-paced page's pick), added to the view for the check, styled by their classes.
SAMPLES = """(on) => {
    for (const el of document.querySelectorAll('[data-a11y-sample]')) el.remove();
    if (!on) return 0;
    const view = document.querySelector('.viewport');
    const add = (html) => {
        view.insertAdjacentHTML('beforeend', html);
        view.lastElementChild.dataset.a11ySample = '';
    };
    add('<p class="viewer-status">The lesson could not be loaded, so there is no hologram to show.</p>');
    add('<p class="viewer-status error">The 3D view stopped. Reload the page to see the hologram again.</p>');
    add('<p class="view-toast">Your answer: Liver. Sending…</p>');
    add('<p class="view-toast ok">Answer received: Liver.</p>');
    add('<p class="view-toast error">The quiz is closed: your answer was not counted.</p>');
    add('<div class="load-progress"><span class="track"><span class="fill"></span></span>' +
        '<span class="text">Loading the hologram… 40 %</span></div>');
    add('<p class="picked">Selected: Liver</p>');
    return view.querySelectorAll('[data-a11y-sample]').length;
}"""


def test_contrast_arithmetic_known_answers():
    assert contrast((255, 255, 255), (0, 0, 0)) == pytest.approx(21.0)
    assert contrast((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)  # WebAIM's AA grey
    assert worst_contrast((255, 255, 255)) == pytest.approx(1.0)  # no box at all: a white view
    assert worst_contrast((255, 255, 255), (0, 0, 0, 1.0)) == pytest.approx(21.0)
    # two 50 % black layers make one of 75 %: the backdrop's white reaches 63.75 per channel
    assert worst_contrast((255, 255, 255), (0, 0, 0, 0.5), (0, 0, 0, 0.5)) == pytest.approx(
        contrast((255, 255, 255), (63.75, 63.75, 63.75)))
    # 90 % black under white text: the worst backdrop is white, the box then rgb(25.5, ...)
    assert worst_contrast((255, 255, 255), (0, 0, 0, 0.9)) == pytest.approx(17.4, abs=0.1)
    # mid grey text on a half-transparent box: some backdrop matches the text exactly
    assert worst_contrast((100, 100, 100), (0, 0, 0, 0.5)) == 1.0


def test_captions_are_high_contrast(room):
    page = room.student
    room.control(action="step", step=1)
    wait_state(page, "d.step === 1")
    box = page.locator("#captions")
    box.wait_for()
    assert box.inner_text() == "Watch the bladder fill over the first hour."
    styles = page.evaluate(
        """() => {
            const box = document.querySelector('#captions');
            const texts = [box, ...box.querySelectorAll('*')].filter((el) => el.textContent.trim());
            return {background: getComputedStyle(box).backgroundColor,
                    colours: texts.map((el) => [el.tagName, getComputedStyle(el).color]),
                    size: parseFloat(getComputedStyle(box).fontSize)};
        }"""
    )
    background = parse_colour(styles["background"])
    assert background[3] > 0, "the captions have no box of their own"
    assert len(styles["colours"]) >= 2  # the box and its <p>, <strong>
    for tag, colour in styles["colours"]:
        text = parse_colour(colour)
        assert text[3] == 1.0, f"{tag} in the captions has translucent text: {colour}"
        ratio = worst_contrast(text[:3], background)
        assert ratio >= CAPTION_MIN_CONTRAST, (
            f"{tag} in the captions: {colour} on {styles['background']} is {ratio:.1f}:1 over a white view, "
            f"below {CAPTION_MIN_CONTRAST}:1")
    assert styles["size"] >= 16, "captions smaller than the body text"


def test_text_over_the_view_is_readable(room):
    """Labels, captions, the structure's details and every status, toast and progress box the
    view can show: at least 4.5:1 (WCAG AA) on the worst backdrop the view could draw."""
    page = room.student
    room.control(action="step", step=1)
    wait_loaded(page, 1)
    wait_hook(page, "c.hologram.labels.length === 1")  # laid out on the next frame drawn
    if hook(page, "c.selected") != "liver":
        page.locator("#structure-list button[data-structure='liver']").click()
    wait_hook(page, "c.info && c.info.structure === 'liver'")
    assert page.evaluate(SAMPLES, True) == 7
    try:
        found = {item["what"] for item in page.evaluate(OVERLAY_TEXT)}
        low = low_contrast_overlays(page)
    finally:
        page.evaluate(SAMPLES, False)
    for what in ("#captions p", "#captions strong", "#viewport span.label", "#structure-info p.info-values",
                 "#viewport p.viewer-status.error", "#viewport span.text", "#viewport p.picked"):
        assert what in found, f"{what} not checked: {sorted(found)}"
    assert not low, "text over the 3D view below 4.5:1:\n" + "\n".join(low)


# ---------------------------------------------------------------------------- keyboard


def test_keyboard_reaches_and_turns_the_view(room):
    page = room.student
    room.control(action="step", step=2)
    assert wait_loaded(page, 2)["visible"] > 0
    assert "liver" in hook(page, "c.hologram.visible")
    page.keyboard.press("Escape")
    # Start where a reader starts: the page's heading (a click there only sets the point
    # sequential navigation starts from; everything after is the keyboard).
    page.click("#title")
    stops = []
    for _ in range(10):
        page.keyboard.press("Tab")
        stops.append(page.evaluate("() => { const e = document.activeElement; return e.id || e.tagName; }"))
        if stops[-1] == "CANVAS":
            break
    assert stops[-1] == "CANVAS", f"Tab never reached the 3D view: {stops}"
    canvas = page.locator("#viewport canvas")
    assert canvas.get_attribute("role") == "application"
    assert canvas.get_attribute("aria-label")
    assert page.locator(f"#{canvas.get_attribute('aria-describedby')}").inner_text()
    # the focus is visible: the accent ring and the centre mark Enter picks at
    assert "inset" in page.evaluate("() => getComputedStyle(document.activeElement).boxShadow")
    assert page.evaluate("() => getComputedStyle(document.querySelector('#viewport .crosshair')).display") == "block"

    before = hook(page, "c.probe.screenPoint('liver')")
    frames = hook(page, "c.hologram.frames")
    for _ in range(3):  # 30 degrees
        page.keyboard.press("ArrowLeft")
    wait_hook(page, f"c.hologram.frames > {frames}")
    turned = hook(page, "c.probe.screenPoint('liver')")
    assert before and turned
    moved = ((turned["x"] - before["x"]) ** 2 + (turned["y"] - before["y"]) ** 2) ** 0.5
    assert moved > 5, f"ArrowLeft did not turn the view (the liver moved {moved:.1f} px)"
    frames = hook(page, "c.hologram.frames")
    page.keyboard.press("0")  # frame the step again: no animation with reduced motion
    wait_hook(page, f"c.hologram.frames > {frames}")
    reset = hook(page, "c.probe.screenPoint('liver')")
    assert abs(reset["x"] - before["x"]) < 1.5 and abs(reset["y"] - before["y"]) < 1.5, (before, reset)

    page.keyboard.press("Tab")  # and out again: no keyboard trap
    assert page.evaluate("() => document.activeElement.tagName") != "CANVAS"


def test_reduced_motion_is_respected(room):
    page = room.student
    fill = "() => getComputedStyle(document.querySelector('#viewport .load-progress .fill')).animationName"
    indeterminate = "() => document.querySelector('#viewport .load-progress').classList.add('indeterminate')"
    page.evaluate(indeterminate)
    try:
        assert hook(page, "c.hologram.reduced_motion") is True
        assert page.evaluate(fill) == "none"
        page.emulate_media(reduced_motion="no-preference")
        wait_hook(page, "c.hologram.reduced_motion === false")
        assert page.evaluate(fill) == "progress-slide"  # the known answer without the preference
    finally:
        page.emulate_media(reduced_motion="reduce")
        page.evaluate("() => document.querySelector('#viewport .load-progress').classList.remove('indeterminate')")
    wait_hook(page, "c.hologram.reduced_motion === true")


# ---------------------------------------------------------------------------- connection


# The page's WebSocket, wrapped before its scripts run: ``__a11yNet.cutOff(url)`` closes the
# live sockets and sends every later socket.io connection to ``url`` (a closed local port,
# refused at once as by a server that is down); ``restore()`` ends that. Each attempt's time
# is kept (performance.now(), ms).
CUT_OFF = """(() => {
  const Native = window.WebSocket;
  const open = new Set();
  const net = window.__a11yNet = { cut: false, dead: null, cutAt: null, attempts: [] };
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      const cut = net.cut && String(url).includes('/socket.io/');
      if (cut) net.attempts.push(performance.now());
      super(cut ? net.dead : url, protocols);
      open.add(this);
      this.addEventListener('close', () => open.delete(this));
    }
  };
  net.cutOff = (dead) => {
    Object.assign(net, { cut: true, dead, cutAt: performance.now() });
    for (const ws of open) ws.close();
  };
  net.restore = () => { net.cut = false; };
})();"""


def test_lost_connection_is_said_and_retried_every_2_s(browser, classroom_server):  # noqa: F811
    """The student page cut off from the server (its socket closed, new connections
    refused, long-polling failing): the status says so in words, the page tries again at
    least every 2 s (socket.io's backoff, capped), and it is back by itself afterwards."""
    server = classroom_server
    code = server.create_session()["code"]
    page, guard = guarded_page(browser, server.origin, viewport=(800, 600), name="a11y reconnect")
    cut = {"on": False}

    def polling(route):
        if cut["on"]:
            route.abort()
        else:
            route.fallback()

    refusing = socket.socket()  # bound, never listening: connections to it are refused
    refusing.bind(("127.0.0.1", 0))
    try:
        page.add_init_script(CUT_OFF)
        page.route(re.compile(r"/socket\.io/\?.*transport=polling"), polling)
        page.goto(f"{server.url}/j/{code}")
        wait_state(page, "d.step === 0")
        options = hook(page, "c.reconnection")
        assert options["delayMax"] <= 2000, options
        assert options["delay"] * (1 + options["randomizationFactor"]) <= 2000, options
        assert hook(page, "c.reconnection.attempts === Infinity")

        cut["on"] = True
        page.evaluate("(dead) => window.__a11yNet.cutOff(dead)", f"ws://127.0.0.1:{refusing.getsockname()[1]}/socket.io/")
        wait_hook(page, "!c.connected")
        status = page.locator("#status")
        status.wait_for()
        assert status.inner_text() in (
            "Connection lost. Reconnecting…",
            "The classroom server does not answer. Check the Wi-Fi; the page keeps trying.",
        ), status.inner_text()
        assert "error" in status.get_attribute("class")
        # 0.5 s, 1 s, 2 s, then 2 s again where an uncapped backoff would wait 4 s
        page.wait_for_function("() => window.__a11yNet.attempts.length >= 4", timeout=12_000)
        net = page.evaluate("() => window.__a11yNet")
        times = [net["cutAt"], *net["attempts"]]
        gaps = [round((b - a) / 1000, 2) for a, b in itertools.pairwise(times)]
        assert max(gaps) <= 2.3, f"seconds between attempts to reconnect: {gaps}"
        assert status.inner_text() == "The classroom server does not answer. Check the Wi-Fi; the page keeps trying."

        cut["on"] = False
        page.evaluate("() => window.__a11yNet.restore()")
        wait_hook(page, "c.joined", 5_000)
        page.wait_for_function("() => document.querySelector('#status').hidden")
    finally:
        page.context.close()
        refusing.close()
    assert guard.blocked == [], f"requests left the test server: {guard.blocked}"


def test_lecturer_console_space_presses_buttons(room):
    """Space is a clicker's "next" only where it would press nothing: on a focused button it
    presses the button (here a step in the list, so the step says which happened)."""
    page = room.lecturer
    room.control(action="step", step=2)
    wait_state(page, "d.step === 2")
    page.focus(".step-link[data-step='0']")
    page.keyboard.press(" ")
    wait_state(page, "d.step === 0", 5_000)
    page.click("#title")  # nothing focused: Space is "next"
    page.keyboard.press(" ")
    wait_state(page, "d.step === 1", 5_000)
    page.keyboard.press("Shift+ ")
    wait_state(page, "d.step === 0", 5_000)

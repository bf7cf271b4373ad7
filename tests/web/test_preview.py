"""The hologram preview page (web_ar/preview, served by arkit_py.preview) in headless
Chromium, offline: it loads the GLB, lists the structures by system, draws them, and
picking, visibility and the body-opacity slider do what they say."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import numpy as np
import pytest

BACKGROUND = (0x1F, 0x27, 0x33)  # web_ar/preview/style.css --bg
LOAD_TIMEOUT_MS = 60_000  # software WebGL on two cores


def drawn_fraction(png: bytes, background=BACKGROUND, threshold: int = 24) -> float:
    """Share of the pixels whose colour differs from ``background`` by more than
    ``threshold`` (max over channels, 0-255)."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    diff = np.abs(pixels - np.array(background, np.int16)).max(axis=2)
    return float((diff > threshold).mean())


def frames_drawn(page, n: int = 2) -> None:
    """Returns once the page has run ``n`` more animation frames: the render a change asked
    for has been drawn (the page's loop draws on the frame after a change)."""
    page.evaluate("""(n) => new Promise((resolve) => {
        const next = (left) => (left ? requestAnimationFrame(() => next(left - 1)) : resolve());
        next(n);
    })""", n)


def open_preview(page, url: str) -> dict:
    """Navigate (allowing only ``url``'s origin), wait for the load to end, return
    window.__arkit."""
    parts = urlsplit(url)
    page.allowed_origins.add(f"{parts.scheme}://{parts.netloc}")
    page.goto(url)
    page.wait_for_function("() => window.__arkit && (window.__arkit.loaded || window.__arkit.error)",
                           timeout=LOAD_TIMEOUT_MS)
    return page.evaluate("() => JSON.parse(JSON.stringify(window.__arkit))")


def test_webgl2_context_exists(browser):
    page = browser.new_page()
    page.route("**/*", lambda route: route.abort())  # about:blank needs nothing
    try:
        info = page.evaluate("""() => {
            const gl = document.createElement('canvas').getContext('webgl2');
            if (!gl) return null;
            const ext = gl.getExtension('WEBGL_debug_renderer_info');
            return {version: gl.getParameter(gl.VERSION),
                    renderer: ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : null};
        }""")
    finally:
        page.close()
    assert info is not None, "headless Chromium gave no WebGL2 context (SwiftShader flags?)"
    assert info["version"].startswith("WebGL 2.0")


def test_preview_loads_lists_and_draws(page, preview_server, expected_structures):
    state = open_preview(page, preview_server)
    assert state["error"] is None
    assert state["loaded"] is True
    assert sorted(state["structures"]) == sorted(expected_structures)

    # The list: one button per structure, under its system's checkbox, by display name.
    names = page.eval_on_selector_all("#structures button.structure", "bs => bs.map(b => b.dataset.name)")
    assert sorted(names) == sorted(expected_structures)
    systems = page.eval_on_selector_all("#structures input[type=checkbox]", "cs => cs.map(c => c.dataset.system)")
    assert systems[0] == "body" and len(systems) == len(set(systems))
    assert "Left kidney" in page.inner_text("#structures")

    # Something is drawn: a good share of the view is not background.
    canvas = page.locator("#viewport canvas")
    fraction = drawn_fraction(canvas.screenshot())
    assert fraction > 0.05, f"only {fraction:.1%} of the view differs from the background"

    assert page.blocked_requests == [], "the page tried to reach beyond its server"
    assert page.console_errors == []


def test_select_from_list_shows_details(page, preview_server):
    open_preview(page, preview_server)
    page.click("#structures button[data-name=kidney_left]")
    assert page.evaluate("window.__arkit.selected") == "kidney_left"
    assert page.get_attribute("#structures button[data-name=kidney_left]", "aria-pressed") == "true"
    details = page.inner_text("#selection")
    assert "Left kidney" in details and "Urinary" in details and "75.4 mL" in details
    page.click("#structures button[data-name=kidney_left]")  # a second tap clears
    assert page.evaluate("window.__arkit.selected") is None


def test_tap_picks_a_structure_through_the_body_and_hidden_systems_are_skipped(page, preview_server):
    open_preview(page, preview_server)
    where = page.evaluate("window.__arkit.screenPosition('kidney_left')")
    page.mouse.click(where["x"], where["y"])
    # The kidney lies inside the translucent body: the organ wins over the body.
    assert page.evaluate("window.__arkit.selected") == "kidney_left"

    page.uncheck("#structures input[data-system=urinary]")
    page.mouse.click(where["x"], where["y"])
    assert page.evaluate("window.__arkit.selected") == "body"

    page.mouse.click(3, 3)  # empty background
    assert page.evaluate("window.__arkit.selected") is None


def test_body_opacity_slider_starts_at_the_files_opacity_and_changes_the_picture(page, preview_server):
    open_preview(page, preview_server)
    slider = page.locator("#body-opacity")
    assert slider.is_visible()
    assert float(slider.input_value()) == pytest.approx(0.25)
    canvas = page.locator("#viewport canvas")
    before = drawn_fraction(canvas.screenshot())
    # Pause the animation so only the slider changes the picture.
    page.click("#play")
    slider.fill("0")
    frames_drawn(page)
    after = drawn_fraction(canvas.screenshot())
    assert after < before  # without the body only the organs differ from the background


def test_animation_controls_appear_for_animated_files(page, preview_server):
    state = open_preview(page, preview_server)
    assert state["animations"] == 1
    assert page.locator("#timeline").is_visible()
    assert page.inner_text("#play") == "Pause"
    page.click("#play")
    assert page.inner_text("#play") == "Play"
    page.locator("#time").fill("1.5")
    assert "1.5 s of 3 s" in page.inner_text("#time-label")


def test_keyboard_turns_and_zooms_the_view(page, preview_server):
    open_preview(page, preview_server)
    page.click("#play")  # paused: only the keys change the picture
    canvas = page.locator("#viewport canvas")
    canvas.focus()
    before = drawn_fraction(canvas.screenshot())
    page.keyboard.press("+")
    page.keyboard.press("+")
    zoomed = drawn_fraction(canvas.screenshot())
    assert zoomed > before * 1.2
    page.keyboard.press("0")
    assert drawn_fraction(canvas.screenshot()) == pytest.approx(before, rel=0.02)
    page.keyboard.press("ArrowLeft")
    turned = canvas.screenshot()
    page.keyboard.press("ArrowRight")
    assert turned != canvas.screenshot()


def test_merged_structures_are_listed_picked_and_highlighted_one_by_one(page, merged_preview_server):
    """A profile short of draw calls merges small structures into one mesh per system;
    their _LABEL vertex attribute still tells them apart."""
    state = open_preview(page, merged_preview_server)
    assert state["error"] is None
    assert {"kidney_left", "kidney_right"} <= set(state["structures"])
    assert "urinary_merged" not in state["structures"]
    where = page.evaluate("window.__arkit.screenPosition('kidney_right')")
    other = page.evaluate("window.__arkit.screenPosition('kidney_left')")
    assert abs(where["x"] - other["x"]) > 20  # each member has its own place
    page.mouse.click(where["x"], where["y"])
    assert page.evaluate("window.__arkit.selected") == "kidney_right"
    assert "Right kidney" in page.inner_text("#selection")
    page.click("#structures button[data-name=kidney_left]")
    assert page.evaluate("window.__arkit.selected") == "kidney_left"
    assert page.console_errors == []


def test_palette_morph_animation_recolours_the_organ(page, preview_server):
    """The liver's COLOR_0 morph targets, driven by the weights animation, change its
    colour on screen: blue-ish base at t=0, the yellow stop at t=1, the red stop at t=2
    (demo_hologram: stops (0, 0, .3), (.9, .9, 0), (1, .1, 0), unlit, seen through the
    translucent body)."""
    from PIL import Image

    open_preview(page, preview_server)
    page.click("#play")  # pause
    where = page.evaluate("window.__arkit.screenPosition('liver')")
    colours = {}
    for t in ("0", "1", "2"):
        page.locator("#time").fill(t)
        frames_drawn(page)
        png = page.screenshot(clip={"x": where["x"] - 2, "y": where["y"] - 2, "width": 5, "height": 5})
        colours[t] = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), float).reshape(-1, 3).mean(0)
    blue, yellow, red = colours["0"], colours["1"], colours["2"]
    assert blue[2] > blue[0] and blue[2] > blue[1]
    assert yellow[0] > yellow[2] + 60 and yellow[1] > yellow[2] + 60
    assert red[0] > red[1] + 60 and red[0] > red[2] + 60
    assert page.console_errors == []


def test_no_webgl_gives_a_plain_error(page, preview_server):
    page.add_init_script("""(() => {
        const original = HTMLCanvasElement.prototype.getContext;
        HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
            return /webgl/.test(kind) ? null : original.call(this, kind, ...rest);
        };
    })()""")
    parts = urlsplit(preview_server)
    page.allowed_origins.add(f"{parts.scheme}://{parts.netloc}")
    page.goto(preview_server)
    page.wait_for_function("() => window.__arkit && window.__arkit.error", timeout=LOAD_TIMEOUT_MS)
    assert "cannot show 3D graphics" in page.inner_text("#status")
    assert page.evaluate("window.__arkit.loaded") is False


def test_missing_file_gives_a_plain_error(page, preview_server):
    parts = urlsplit(preview_server)
    page.allowed_origins.add(f"{parts.scheme}://{parts.netloc}")
    page.goto(preview_server + "?src=missing.glb")
    page.wait_for_function("() => window.__arkit && window.__arkit.error", timeout=LOAD_TIMEOUT_MS)
    state = page.evaluate("() => JSON.parse(JSON.stringify(window.__arkit))")
    assert state["loaded"] is False
    assert "not found" in state["error"]
    assert page.locator("#status").is_visible()
    assert page.blocked_requests == []


def test_the_real_phantom_hologram_draws_offline(page, phantom_hologram):
    """The pipeline's own compressed GLB (meshopt + quantization) in the preview page: every
    structure listed, the liver on the viewer's left (the patient's right, facing us)."""
    from tests.web.conftest import _serve

    path, result = phantom_hologram[True]
    server = _serve(path)
    url = next(server)
    try:
        state = open_preview(page, url)
        assert state["error"] is None and state["loaded"] is True
        assert sorted(state["structures"]) == sorted(s.name for s in result.document.structures)
        fraction = drawn_fraction(page.locator("#viewport canvas").screenshot())
        assert fraction > 0.05
        liver = page.evaluate("window.__arkit.screenPosition('liver')")
        stomach = page.evaluate("window.__arkit.screenPosition('stomach')")
        assert liver["x"] < stomach["x"]
        assert page.blocked_requests == [] and page.console_errors == []
    finally:
        server.close()

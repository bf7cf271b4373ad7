"""The animated FDG hologram in headless Chromium: the clip plays, the colour scale shows,
and the bladder's rendered colour moves up the palette as it fills."""

from __future__ import annotations

import io

import numpy as np
import pytest

from arkit_py.phantoms import mird
from arkit_py.scene.hologram import HologramOptions, build_hologram
from arkit_py.scene.uptake import UptakeOptions
from tests.web.conftest import _serve
from tests.web.test_preview import frames_drawn, open_preview


@pytest.fixture(scope="module")
def fdg_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("fdg") / "fdg.glb"
    r = build_hologram(mird.voxelize(4.0), HologramOptions(uptake=UptakeOptions("fdg", window=(0.0, 5.0))))
    path.write_bytes(r.glb)
    yield from _serve(path)


def _pixel(page, name: str) -> np.ndarray:
    """Mean RGB of a 5x5 patch at the structure's projected centre."""
    from PIL import Image

    pos = page.evaluate(f"window.__arkit.screenPosition({name!r})")
    box = page.locator("#viewport canvas").bounding_box()
    png = page.locator("#viewport canvas").screenshot()
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    x, y = int(round(pos["x"] - box["x"])), int(round(pos["y"] - box["y"]))
    return img[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).mean(0)


def _set_time(page, t: float) -> None:
    page.evaluate("""(t) => { const s = document.getElementById('time'); s.value = String(t);
                     s.dispatchEvent(new Event('input')); }""", t)
    frames_drawn(page)


def test_fdg_plays_and_the_bladder_fills(page, fdg_server):
    state = open_preview(page, fdg_server)
    assert state["error"] is None and state["animations"] == 1
    assert state["legend"] == {"quantity": "suv", "unit": "g/mL", "min": 0.0, "max": 5.0}
    assert page.is_visible("#legend") and "SUV (g/mL)" in page.inner_text("#legend-title")
    page.click("#play")  # pause: the tests set the time themselves
    # look at the bladder from the front with the body hidden, so its own colour shows
    page.uncheck("#structures input[data-system=body]")
    _set_time(page, 0.0)
    early = _pixel(page, "urinary_bladder")
    _set_time(page, 11.9)
    late = _pixel(page, "urinary_bladder")
    # t = 0: SUV 0, the palette's blue end; 2 h: saturated, its pale-yellow end
    assert early[2] > early[0] + 40, early
    assert late[0] > late[2] + 40 and late[1] > early[1] + 60, late
    assert "2 h" in page.inner_text("#time-label") or "119" in page.inner_text("#time-label")
    assert page.blocked_requests == [] and page.console_errors == []

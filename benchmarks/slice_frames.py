"""Benchmark: the inline view's frame rate with the fused PET/CT slice, beside the same view
without it.

The ``fdg`` lesson's PET/CT step on the self-paced page (``/lessons/fdg``), in headless Debian
chromium with SwiftShader, 4x CPU throttling and a phone-sized viewport (the conditions of
``client_load.py``). The view renders on demand; here every animation frame asks for a
render (the page's test hook ``__arkitClass.slice.redraw``), so frames per second measure
what a frame costs. Alternating windows of 3 s with the slice on (the step's coronal plane
through the CT and the dynamic PET, the organs clipped by it) and off (the plane taken away
with the page's own control), ``--runs`` pairs; medians of the rendered frames per second.
The target: the plane must not halve the frame rate (ratio on / off at least 0.5).

``python benchmarks/slice_frames.py [--runs 3]``; writes ``benchmarks/results/slice_frames.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.client_load import CPU_RATE, VIEWPORT, build_bundle, pct, start_server  # noqa: E402
from tests.helpers import CHROMIUM_ARGS  # noqa: E402

WINDOW_MS = 3000
STEP_TITLE = "The same body as a PET/CT scan"

FRAMES = """ms => new Promise(done => {
  const c = window.__arkitClass;
  const f0 = c.hologram.frames;
  const deltas = [];
  let last = null;
  const start = performance.now();
  const step = (t) => {
    if (last !== null) deltas.push(t - last);
    last = t;
    c.slice.redraw();
    if (t - start < ms) requestAnimationFrame(step);
    else done({deltas, rendered: c.hologram.frames - f0, elapsed: t - start, shown: c.hologram.slice.shown});
  };
  requestAnimationFrame(step);
})"""


def measure(page) -> dict:
    r = page.evaluate(FRAMES, WINDOW_MS)
    r["fps"] = r["rendered"] * 1000 / r["elapsed"]
    r["p50_ms"] = pct(r["deltas"], 0.5)
    del r["deltas"]
    return r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "slice_frames.json")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if not chromium:
        print("Debian chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    if not (ROOT / "arkit_py" / "web" / "static" / "classroom" / "self_paced.js").is_file():
        print("web pages not built: npm ci --prefix web_ar && npm run build --prefix web_ar", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="arkit-slice-bench-") as tmp:
        tmp = Path(tmp)
        lessons = tmp / "lessons"
        lessons.mkdir()
        shutil.copy(build_bundle(tmp / "dist"), lessons / "fdg.arlesson")
        data = tmp / "data"
        data.mkdir()
        server = start_server(data, lessons)
        on, off = [], []
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
                version = browser.version
                try:
                    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
                    page = context.new_page()
                    cdp = context.new_cdp_session(page)
                    page.goto(f"{server.url}/lessons/fdg")
                    page.wait_for_function("() => window.__arkitClass && window.__arkitClass.ready", timeout=120_000)
                    while page.locator("#step-title").inner_text() != STEP_TITLE:
                        page.click("#next")
                    page.wait_for_function("() => window.__arkitClass.hologram.slice.shown", timeout=120_000)
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_RATE})
                    for i in range(args.runs):  # alternating, so drifting machine load hits both
                        page.select_option("#slice-plane", "coronal")
                        page.wait_for_function("() => window.__arkitClass.hologram.slice.shown")
                        on.append(measure(page))
                        page.select_option("#slice-plane", "")
                        page.wait_for_function("() => !window.__arkitClass.hologram.slice.shown")
                        off.append(measure(page))
                        print(f"run {i + 1}: slice on {on[-1]['fps']:.1f} frames/s, off {off[-1]['fps']:.1f}",
                              flush=True)
                    context.close()
                finally:
                    browser.close()
        finally:
            server.stop()
    fps_on = statistics.median(r["fps"] for r in on)
    fps_off = statistics.median(r["fps"] for r in off)
    summary = {"fps_slice_on": fps_on, "fps_slice_off": fps_off, "ratio_on_over_off": fps_on / fps_off,
               "target_met": fps_on / fps_off >= 0.5,
               "frame_ms_p50_on": statistics.median(r["p50_ms"] for r in on),
               "frame_ms_p50_off": statistics.median(r["p50_ms"] for r in off)}
    result = {
        "benchmark": "slice_frames",
        "conditions": {"cpu_throttling_rate": CPU_RATE, "viewport": VIEWPORT, "chromium": version,
                       "chromium_args": CHROMIUM_ARGS, "runs": args.runs, "window_ms": WINDOW_MS,
                       "page": "/lessons/fdg, step 'The same body as a PET/CT scan'"},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "measured": "rendered frames per second with a render asked for on every requestAnimationFrame; "
                    "slice on = the step's coronal plane (CT + 4-frame PET, organs clipped), off = no plane",
        "summary": summary, "on": on, "off": off,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n| view | frames/s (median) | frame ms p50 |\n|---|---|---|\n"
          f"| with the slice | {fps_on:.1f} | {summary['frame_ms_p50_on']:.0f} |\n"
          f"| without | {fps_off:.1f} | {summary['frame_ms_p50_off']:.0f} |\n")
    print(f"ratio on / off: {summary['ratio_on_over_off']:.2f} (target >= 0.5: "
          f"{'met' if summary['target_met'] else 'not met'})\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

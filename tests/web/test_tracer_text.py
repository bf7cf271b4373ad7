"""The student page's tracer facts in words (web_ar/classroom/features/tracer.js) and the legend the
page holds (web_ar/lib/hologram.js ``legendOf``, ``tracerOf``), run in Node on the real
modules: decay correction of the physical activity with the half-life the GLB carries.

Known answer: at t = T½ the activity and concentration decay-corrected to injection are
exactly twice the physical ones. The half-life is F-18's from radioactivedecay (ICRP-107),
as the hologram writes it (arkit_py/tracer/decay.py), never a number typed here.
"""

from __future__ import annotations

import json
import math
import re
import subprocess

import pytest

from tests import gltf_tools

# Node cannot import the page's CSS or run its module-level ``window`` hook: a loader hook
# turns .css imports into empty modules, and ``window`` is a plain object.
CSS_STUB = ("export async function load(url, context, next) { if (url.endsWith('.css')) "
            "return { format: 'module', source: '', shortCircuit: true }; return next(url, context); }")

SCRIPT = """
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(%(stub)s));
globalThis.window = {};
const tracer = await import('./classroom/features/tracer.js');
const hologram = await import('./lib/hologram.js');
const cases = %(cases)s;
const out = {};
for (const [key, c] of Object.entries(cases)) {
  if (c.fn === 'describeFacts') out[key] = tracer.describeFacts(c.facts, c.legend, c.options);
  else if (c.fn === 'canDecayCorrect') out[key] = tracer.canDecayCorrect(c.legend, c.tracer);
  else if (c.fn === 'legendOf') {
    const before = JSON.stringify(c.root.userData.arkit.legend);
    const legend = hologram.legendOf(c.root);
    out[key] = { legend, tracer: hologram.tracerOf(c.root),
                 fileLegendUntouched: JSON.stringify(c.root.userData.arkit.legend) === before };
  }
}
console.log(JSON.stringify(out));
"""


def run_cases(cases: dict) -> dict:
    if not (gltf_tools.WEB_AR / "node_modules" / "three").exists():
        from tests.web.conftest import unavailable

        unavailable("web_ar/node_modules is missing: run npm ci --prefix web_ar")
    script = SCRIPT % {"stub": json.dumps(CSS_STUB), "cases": json.dumps(cases)}
    proc = subprocess.run([gltf_tools._node(), "--input-type=module", "-e", script], cwd=gltf_tools.WEB_AR,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def f18():
    from arkit_py.tracer.decay import nuclide

    return nuclide("F-18")


def facts(t: float, activity_bq: float, volume_ml: float, value: float | None = None) -> dict:
    return {"name": "liver", "display": "Liver", "system": "digestive", "time_s": t, "activity_bq": activity_bq,
            "concentration_bq_ml": activity_bq / volume_ml, "value": value, "unit": "kBq/mL", "hasTracer": True}


HEADLINE = re.compile(r"Liver: ([0-9.]+) MBq, ([0-9.]+) kBq/mL at ([0-9.]+) (min|h), decay-corrected to injection")


def test_decay_corrected_headline(f18):
    half = f18.half_life_s
    physical = {"quantity": "concentration", "unit": "kBq/mL", "decay_corrected": False}
    with_half_life = {**physical, "nuclide": "F-18", "half_life_s": half}
    suv = {"quantity": "suv", "unit": "g/mL", "decay_corrected": True}
    t60 = 3600.0
    out = run_cases({
        # at one half-life: 3.0 MBq and 1.5 kBq/mL physical are 6.0 MBq and 3.0 kBq/mL at injection
        "half": {"fn": "describeFacts", "facts": facts(half, 3.0e6, 2000.0, 1.5), "legend": with_half_life,
                 "options": {"decayCorrected": True}},
        # the half-life given as the tracer object instead of on the legend
        "explicit": {"fn": "describeFacts", "facts": facts(half, 3.0e6, 2000.0, 1.5), "legend": physical,
                     "options": {"decayCorrected": True, "tracer": {"nuclide": "F-18", "half_life_s": half}}},
        # three significant figures: 123 MBq, 123 kBq/mL -> 246
        "half_big": {"fn": "describeFacts", "facts": facts(half, 123e6, 1000.0), "legend": with_half_life,
                     "options": {"decayCorrected": True}},
        "t60": {"fn": "describeFacts", "facts": facts(t60, 4.2e6, 1800.0, 2.3), "legend": with_half_life,
                "options": {"decayCorrected": True}},
        "off": {"fn": "describeFacts", "facts": facts(t60, 4.2e6, 1800.0, 2.3), "legend": with_half_life,
                "options": {"decayCorrected": False}},
        # no half-life: the physical legend stays physical, the SUV legend gives its own values
        "no_half_life": {"fn": "describeFacts", "facts": facts(t60, 4.2e6, 1800.0, 2.3), "legend": physical,
                         "options": {"decayCorrected": True}},
        "suv_no_half_life": {"fn": "describeFacts", "facts": {**facts(t60, 4.2e6, 1800.0, 2.0), "unit": "g/mL"},
                             "legend": suv, "options": {"decayCorrected": True}},
        "can_physical": {"fn": "canDecayCorrect", "legend": physical},
        "can_legend_half_life": {"fn": "canDecayCorrect", "legend": with_half_life},
        "can_tracer": {"fn": "canDecayCorrect", "legend": physical, "tracer": {"half_life_s": half}},
        "can_suv": {"fn": "canDecayCorrect", "legend": suv},
        "can_zero": {"fn": "canDecayCorrect", "legend": {**physical, "half_life_s": 0}},
        "can_negative": {"fn": "canDecayCorrect", "legend": physical, "tracer": {"half_life_s": -1}},
        "can_text": {"fn": "canDecayCorrect", "legend": {**physical, "half_life_s": "6586"}},
        "can_none": {"fn": "canDecayCorrect", "legend": None},
    })

    for key in ("half", "explicit"):
        m = HEADLINE.fullmatch(out[key]["headline"])
        assert m, out[key]["headline"]
        assert (float(m.group(1)), float(m.group(2))) == (6.0, 3.0)  # exactly twice 3.0 MBq, 1.5 kBq/mL
        assert f"{m.group(3)} {m.group(4)}" == f"{half / 60:.1f} min"
        assert out[key]["coloured"] == "Physical: 3.0 MBq, 1.5 kBq/mL"
        assert out[key]["note"] == f"Half-life of F-18: {half / 60:.1f} min. Colour: 1.5 kBq/mL (physical)."

    assert out["half_big"]["headline"] == (f"Liver: 246 MBq, 246 kBq/mL at {half / 60:.1f} min, "
                                           "decay-corrected to injection")
    assert out["half_big"]["coloured"] == "Physical: 123 MBq, 123 kBq/mL"
    assert out["half_big"]["note"] == f"Half-life of F-18: {half / 60:.1f} min."

    m = HEADLINE.fullmatch(out["t60"]["headline"])
    assert m and m.group(3) == "60", out["t60"]["headline"]
    factor = math.exp(math.log(2) * t60 / half)
    assert float(m.group(1)) == pytest.approx(4.2 * factor, abs=0.051)
    assert float(m.group(2)) == pytest.approx(4.2e6 / 1800.0 / 1e3 * factor, abs=0.051)
    assert out["t60"]["coloured"] == "Physical: 4.2 MBq, 2.3 kBq/mL"

    assert out["off"] == {"headline": "Liver: 4.2 MBq, 2.3 kBq/mL at 60 min",
                          "coloured": "Colour: 2.3 kBq/mL (physical)", "note": ""}
    assert out["no_half_life"] == out["off"]
    assert out["suv_no_half_life"]["headline"] == "Liver: SUV 2.0 decay-corrected to injection at 60 min"
    assert out["suv_no_half_life"]["coloured"] == "Physical: 4.2 MBq, 2.3 kBq/mL"
    assert "half-life" in out["suv_no_half_life"]["note"]

    assert out["can_physical"] is False and out["can_none"] is False
    assert out["can_legend_half_life"] is True and out["can_tracer"] is True and out["can_suv"] is True
    assert out["can_zero"] is False and out["can_negative"] is False and out["can_text"] is False


def test_legend_carries_the_half_life(f18):
    legend = {"quantity": "concentration", "unit": "kBq/mL", "min": 0, "max": 12, "clip_s": 12, "real_s": 7200,
              "decay_corrected": False}
    tracer = {"tracer": "fdg", "nuclide": "F-18", "half_life_s": f18.half_life_s, "activity_bq": 370e6}
    out = run_cases({
        "both": {"fn": "legendOf", "root": {"userData": {"arkit": {"legend": legend, "tracer": tracer}}}},
        "old_file": {"fn": "legendOf", "root": {"userData": {"arkit": {"legend": legend,
                                                                        "tracer": {**tracer, "half_life_s": None}}}}},
        "no_tracer": {"fn": "legendOf", "root": {"userData": {"arkit": {"legend": legend}}}},
        "no_legend": {"fn": "legendOf", "root": {"userData": {"arkit": {"legend": None, "tracer": tracer}}}},
    })
    assert out["both"]["legend"] == {**legend, "nuclide": "F-18", "half_life_s": f18.half_life_s}
    assert out["both"]["tracer"] == tracer and out["both"]["fileLegendUntouched"] is True
    assert out["old_file"]["legend"] == {**legend, "nuclide": "F-18"}
    assert out["no_tracer"] == {"legend": legend, "tracer": None, "fileLegendUntouched": True}
    assert out["no_legend"]["legend"] is None and out["no_legend"]["tracer"] == tracer

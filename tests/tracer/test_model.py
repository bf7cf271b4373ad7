"""Compartment models against closed forms, and invariants of every library tracer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from arkit_py.errors import InputError
from arkit_py.tracer.decay import nuclide
from arkit_py.tracer.model import TRACER_IDS, library_ids, load_tracer
from tests.analytic import fdg_trapped, fdg_trapped_tiac_h, feng_plasma

ONE = """
id: one
nuclide: {nuclide}
sources: {{s: {{citation: test, status: derived}}}}
regions: {{organ: {{structures: [liver]}}, other: {{remainder: true}}}}
compartments:
  organ: {{region: organ, initial: {f}, half_time: {tb}, to: excreted, source: s}}
  rest: {{region: other, initial: {rest}, source: s}}
"""

CHAIN = """
id: chain
nuclide: Tc-99m
sources: {s: {citation: test, status: derived}}
regions: {blood: {structures: [heart]}, organ: {structures: [liver]}}
compartments:
  blood: {region: blood, initial: 1, half_time: 2 h, to: organ, source: s}
  organ: {region: organ, initial: 0, half_time: 10 h, to: excreted, source: s}
"""


def _write(tmp_path, text, name="t.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_tracer(str(path))


@pytest.mark.parametrize("nuc,f,tb_h", [("F-18", 0.3, 1.5), ("Tc-99m", 0.6, 24.0), ("I-131", 0.25, 80 * 24.0),
                                        ("Lu-177", 0.1, 40.0)])
def test_one_compartment_tiac_is_f_teff_over_ln2(tmp_path, nuc, f, tb_h):
    m = _write(tmp_path, ONE.format(nuclide=nuc, f=f, tb=f"{tb_h} h", rest=round(1 - f, 6)))
    tp_h = nuclide(nuc).half_life_s / 3600
    t_eff = tp_h * tb_h / (tp_h + tb_h)
    assert m.tiac_regions()["organ"] == pytest.approx(f * t_eff / math.log(2), rel=1e-9)
    # infinite retention: f * tau
    assert m.tiac_regions()["other"] == pytest.approx((1 - f) * tp_h / math.log(2), rel=1e-9)


def test_two_compartment_chain_matches_its_closed_form(tmp_path):
    m = _write(tmp_path, CHAIN)
    lam = m.nuclide.decay_constant
    k1, k2 = math.log(2) / 7200, math.log(2) / 36000
    t = np.linspace(0, 48 * 3600, 97)
    curves = m.simulate(1.0, t)
    blood = np.exp(-(k1 + lam) * t)
    organ = k1 / (k2 - k1) * (np.exp(-k1 * t) - np.exp(-k2 * t)) * np.exp(-lam * t)
    np.testing.assert_allclose(curves.column("blood"), blood, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(curves.column("organ"), organ, rtol=1e-8, atol=1e-12)
    tiac = m.tiac_regions()
    assert tiac["blood"] == pytest.approx(1 / (k1 + lam) / 3600, rel=1e-9)
    assert tiac["organ"] == pytest.approx(k1 / ((k1 + lam) * (k2 + lam)) / 3600, rel=1e-9)


@pytest.mark.parametrize("tracer_id", TRACER_IDS)
def test_library_has_every_design_tracer(tracer_id):
    assert tracer_id in library_ids()


@pytest.mark.parametrize("tracer_id", library_ids())
def test_decay_corrected_fractions_sum_to_one(tracer_id):
    m = load_tracer(tracer_id)
    t = m.sample_times(max(m.until_s, 48 * 3600), m.until_s / 40)
    ids, q = m.solve(t, decay_corrected=True)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-9)
    assert q.min() >= -1e-12


@pytest.mark.parametrize("tracer_id", library_ids())
def test_simulated_curves_integrate_to_the_exact_tiac(tracer_id):
    m = load_tracer(tracer_id)
    n = m.nuclide
    # ten effective half-lives of the slowest clearance, bounded by ten physical ones
    rates = [t.rate for c in m.compartments.values() for t in c.transfers]
    slowest = min(rates) if rates else 0.0
    t_eff = math.log(2) / (slowest + n.decay_constant)
    until = 10 * max(t_eff, math.log(2) / n.decay_constant) if slowest == 0 else 10 * t_eff
    until = max(until, 10 * n.half_life_s)
    step = min(until / 4000, (m.voiding.interval.value / 20) if m.voiding.interval else until)
    times = m.sample_times(until, step)
    curves = m.simulate(1.0, times)
    exact = m.tiac_regions()
    for i, region in enumerate(curves.regions):
        area_h = np.trapezoid(curves.values[:, i], times) / 3600
        # the tail beyond `until` (at most 2^-10 of the total) is the only difference
        assert area_h == pytest.approx(exact[region], rel=0.02, abs=1e-6), region


@pytest.mark.parametrize("tracer_id", library_ids())
def test_tiacs_sum_to_at_most_the_mean_life(tracer_id):
    m = load_tracer(tracer_id)
    total = sum(m.tiac_regions().values())
    assert 0 < total <= m.nuclide.mean_life_h * (1 + 1e-9)
    assert all(v >= 0 for v in m.tiac_regions().values())


@pytest.mark.parametrize("tracer_id", [t for t in library_ids()
                                       if any(c.bladder for c in load_tracer(t).compartments.values())])
def test_shorter_voiding_lowers_the_bladder_tiac(tracer_id):
    m = load_tracer(tracer_id)
    bladder = next(c.region for c in m.compartments.values() if c.bladder)
    values = [m.with_voiding(h * 3600).tiac_regions()[bladder] for h in (6.0, 3.5, 2.0, 1.0)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert m.with_voiding(None).tiac_regions()[bladder] > values[0]


def test_voiding_empties_the_bladder_at_each_void():
    m = load_tracer("fdg")
    v = m.voiding.interval.value
    ids, q = m.solve([v, v + 1.0])
    b = ids.index("bladder")
    assert q[0, b] > 0.01 and q[1, b] < 1e-3 * q[0, b]
    assert q[1, ids.index("excreted")] > q[0, ids.index("excreted")]


def test_fdg_plasma_follows_fengs_curve():
    """The plasma pool of the two-pool FDG model is Feng's plasma curve (tests/analytic.py),
    to the rounding of its half-times in the tracer file."""
    m = load_tracer("fdg")
    t = np.array([1, 5, 10, 20, 40, 60, 120, 240]) * 60.0
    ids, q = m.solve(t, decay_corrected=True)
    np.testing.assert_allclose(q[:, ids.index("plasma")], feng_plasma(t), rtol=1e-3)


def test_fdg_takes_up_over_the_first_hour_towards_the_quoted_icrp_fractions():
    m = load_tracer("fdg").with_voiding(None)
    t = np.array([5, 60, 120]) * 60.0
    ids, q = m.solve(t, decay_corrected=True)
    for organ, final in (("brain", 0.08), ("heart_wall", 0.04), ("lungs", 0.03), ("liver", 0.05)):
        np.testing.assert_allclose(q[:, ids.index(organ)], fdg_trapped(t, final), rtol=1e-3)
    brain = q[:, ids.index("brain")]
    assert brain[1] > 5 * brain[0]  # decay-corrected, 60 min against 5 min
    # the end state is ICRP's: after 3 days every pool has emptied into the quoted fractions
    ids, q = m.solve([72 * 3600.0], decay_corrected=True)
    end = dict(zip(ids, q[0]))
    for c, final in (("brain", 0.08), ("heart_wall", 0.04), ("lungs", 0.03), ("liver", 0.05),
                     ("other_retained", 0.50), ("bladder", 0.30)):
        assert end[c] == pytest.approx(final, abs=2e-4), c


def test_fdg_tiacs_are_the_closed_form_of_trapping_from_the_plasma():
    tiac = load_tracer("fdg").tiac_regions()
    assert tiac["brain"] == pytest.approx(fdg_trapped_tiac_h(0.08), rel=1e-3)
    assert tiac["liver"] == pytest.approx(fdg_trapped_tiac_h(0.05), rel=1e-3)
    # below ICRP's instant uptake (0.08 x tau = 0.211 h), within the measured 0.220 +- 0.090 h
    assert 0.13 < tiac["brain"] < 0.211


def test_a_lecturer_file_overrides_a_parameter(tmp_path):
    m = _write(tmp_path, "base: fdg\nvoiding: {interval: 1 h}\ncompartments: {bladder: {initial: 0}}\n", "mine.yaml")
    assert m.voiding.interval.value == 3600
    assert m.voiding.interval.status == "user"
    assert load_tracer("fdg").tiac_regions()["brain"] == pytest.approx(m.tiac_regions()["brain"])
    assert m.tiac_regions()["urinary_bladder_contents"] < load_tracer("fdg").tiac_regions()["urinary_bladder_contents"]


@pytest.mark.parametrize("text,problem", [
    ("id: x\nnuclide: Xx-999\nregions: {a: {structures: [liver]}}\ncompartments: {a: {region: a, initial: 1}}",
     "nuclide"),
    ("id: x\nnuclide: F-18\nsources: {s: {status: derived}}\nregions: {a: {structures: [liver]}}\n"
     "compartments: {a: {region: a, initial: 0.5, source: s}}", "sum to 1"),
    ("id: x\nnuclide: F-18\nsources: {s: {status: derived}}\nregions: {a: {structures: [liver]}}\n"
     "compartments: {a: {region: b, initial: 1, source: s}}", "unknown region"),
    ("id: x\nnuclide: F-18\nsources: {s: {status: derived}}\nregions: {a: {structures: [liver]}}\n"
     "compartments: {a: {region: a, initial: 1, half_time: 3 parsecs, source: s}}", "half_time"),
    ("id: x\nnuclide: F-18\nsources: {s: {status: derived}}\nregions: {a: {structures: [liver]}}\n"
     "compartments: {a: {region: a, initial: 1, half_time: -3 h, source: s}}", "positive"),
    ("id: [x\n", "YAML"),
])
def test_bad_tracer_files_fail_with_one_line(tmp_path, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_tracer(str(path))
    assert problem in str(info.value) and "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_tracer_id_suggests():
    with pytest.raises(InputError, match="did you mean 'fdg'"):
        load_tracer("fgd")


def test_every_parameter_has_a_source_and_status():
    for tracer_id in library_ids():
        m = load_tracer(tracer_id)
        assert m.params
        for p in m.params:
            assert p.status in ("verified-primary", "verified-secondary", "derived", "unverified"), p
            assert p.source in m.sources, p


# A complete tracer file whose fields are replaced one at a time by a wrong-typed value.
TYPED = """
id: typed
nuclide: {nuclide}
sources: {sources}
regions: {regions}
compartments: {compartments}
voiding: {voiding}
published: {published}
"""
GOOD = {
    "nuclide": "Tc-99m",
    "sources": "{s: {citation: test, status: derived}}",
    "regions": "{organ: {structures: [liver]}, bladder: {structures: [urinary_bladder_contents]}}",
    "compartments": "{organ: {region: organ, initial: 1, half_time: 2 h, to: bladder, source: s}, "
                    "bladder: {region: bladder, initial: 0, bladder: true, source: s}}",
    "voiding": "{interval: 3 h, source: s}",
    "published": "[{quantity: TIAC, region: organ, value: 2.5, unit: h, source: s}]",
}


def test_the_typed_template_is_a_valid_tracer(tmp_path):
    m = _write(tmp_path, TYPED.format(**GOOD))
    assert m.region_ids == ["organ", "bladder"] and m.voiding.interval.value == 3 * 3600
    assert m.sources == {"s": {"citation": "test", "status": "derived"}}


@pytest.mark.parametrize("key,value,field,problem", [
    ("sources", "{s: 5}", "sources.s", "must be a mapping"),
    ("sources", "[s]", "sources", "must be a mapping"),
    ("sources", "test", "sources", "must be a mapping"),
    ("sources", "{s: [citation]}", "sources.s", "got a list"),
    ("sources", "{s: }", "sources.s", "got nothing"),
    ("sources", "{s: {citation: 5, status: derived}}", "sources.s.citation", "must be text"),
    ("sources", "{s: {citation: test, status: [derived]}}", "sources.s.status", "must be text"),
    ("sources", "{s: {citation: test, status: bogus}}", "sources.s.status", "unknown status"),
    ("nuclide", "18", "nuclide", "got the number 18"),
    ("nuclide", "[F-18]", "nuclide", "got a list"),
    ("regions", "[organ, bladder]", "regions", "must be a mapping"),
    ("regions", "{organ: 5, bladder: {structures: [x]}}", "regions.organ", "must be a mapping"),
    ("regions", "{organ: {structures: liver}, bladder: {structures: [x]}}", "regions.organ.structures",
     "must be a list of structure names"),
    ("regions", "{organ: {structures: {liver: 1}}, bladder: {structures: [x]}}", "regions.organ.structures",
     "got a mapping"),
    ("regions", "{organ: {structures: [liver, 7]}, bladder: {structures: [x]}}", "regions.organ.structures[1]",
     "got the number 7"),
    ("regions", "{organ: {structures: [liver], fallback: spleen}, bladder: {structures: [x]}}",
     "regions.organ.fallback", "must be a list"),
    ("regions", "{organ: {remainder: 'no'}, bladder: {structures: [x]}}", "regions.organ.remainder",
     "must be true or false"),
    ("regions", "{organ: {structures: [liver], display: [Liver]}, bladder: {structures: [x]}}",
     "regions.organ.display", "must be text"),
    ("compartments", "[organ, bladder]", "compartments", "must be a mapping"),
    ("compartments", "{organ: 1}", "compartments.organ", "must be a mapping"),
    ("compartments", "{organ: {region: [organ], initial: 1, source: s}}", "compartments.organ.region", "got a list"),
    ("compartments", "{organ: {initial: 1, source: s}}", "compartments.organ.region", "missing"),
    ("compartments", "{organ: {region: organ, initial: [1], source: s}}", "compartments.organ.initial", "got list"),
    ("compartments", "{organ: {region: organ, initial: {value: 1, note: [x]}, source: s}}",
     "compartments.organ.initial.note", "must be text"),
    ("compartments", "{organ: {region: organ, initial: 1, source: {s: 1}}}", "compartments.organ.source",
     "got a mapping"),
    ("compartments", "{organ: {region: organ, initial: 1, bladder: 'yes', source: s}}",
     "compartments.organ.bladder", "must be true or false"),
    ("compartments", "{organ: {region: organ, initial: 1, half_time: 2 h, to: [bladder], source: s}}",
     "compartments.organ.to", "got a list"),
    ("compartments", "{organ: {region: organ, initial: 1, out: 2 h, source: s}}", "compartments.organ.out",
     "must be a list"),
    ("compartments", "{organ: {region: organ, initial: 1, out: [5], source: s}}", "compartments.organ.out[0]",
     "needs 'to' and 'half_time'"),
    ("compartments", "{excreted: {region: organ, initial: 1, source: s}}", "compartments.excreted", "reserved"),
    ("voiding", "3 h", "voiding", "must be a mapping"),
    ("voiding", "{interval: [3 h], source: s}", "voiding.interval", "got list"),
    ("published", "{organ: 1}", "published", "must be a list"),
    ("published", "[5]", "published[0]", "must be a mapping"),
    ("published", "[{quantity: TIAC, value: '2.5 h'}]", "published[0].value", "must be a finite number"),
    ("published", "[{quantity: [TIAC], value: 2.5}]", "published[0].quantity", "must be text"),
])
def test_a_wrong_typed_field_names_the_file_and_the_field(tmp_path, key, value, field, problem):
    path = tmp_path / "typed.yaml"
    path.write_text(TYPED.format(**{**GOOD, key: value}), encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_tracer(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: ") and problem in message, message
    assert "\n" not in message


@pytest.mark.parametrize("text,field,problem", [
    ("base: fdg\nsources: {s: 5}\n", "sources.s", "must be a mapping"),
    ("base: fdg\nname: [FDG]\n", "name", "must be text"),
    ("base: fdg\ndescription: {a: 1}\n", "description", "must be text"),
    ("base: fdg\nid: [x]\n", "id", "got a list"),
    ("base: fdg\nquantity: 5\n", "quantity", "got the number 5"),
    ("base: fdg\nwindow: [0, true]\n", "window[1]", "must be a finite number"),
    ("base: fdg\nwindow: 5\n", "window", "must be [min, max]"),
    ("base: fdg\nuntil: 0 min\n", "until", "must be positive"),
    ("base: fdg\nuntil: [2 h]\n", "until", "got list"),
    ("base: fdg\nuntil: 11 years\n", "until", "more than 10 years"),
    ("base: fdg\nactivity: {value: 370 MBq, source: [teaching]}\n", "activity.source", "got a list"),
    ("base: fdg\nactivity_source: 5\n", "activity_source", "must be a mapping"),
    ("base: [fdg]\n", "base", "unknown tracer"),
    ("base: fdg\ncompartments: {brain: {initial: }}\n", "compartments.brain.initial", "no value"),
])
def test_a_wrong_typed_override_of_a_library_tracer_is_one_line(tmp_path, text, field, problem):
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_tracer(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: {field}: ") and problem in message, message

"""Measured curves: exponential fits against closed forms (noise-free), decay correction."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from arkit_py.tracer.curves import Curves, read_curves_csv, write_curves_csv
from arkit_py.tracer.decay import nuclide
from arkit_py.tracer.tiac import TRAPEZOID, integrate_region, tiac_from_curves

SAMPLES_H = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])

# (clearance half-times h (one or two), fraction of the second, uptake half-time h or None)
CASES = [((tb,), 0.0, tu) for tb in (2.0, 20.0, 200.0) for tu in (None, 0.5, 3.0)] + \
        [((a, b), 0.3, tu) for a, b in ((2.0, 5.0), (6.0, 150.0), (30.0, 200.0)) for tu in (None, 0.5)]


def _curve(nuc, halves, f2, tu):
    """Physical activity (fraction of A0) and its exact integral (hours)."""
    lam = nuclide(nuc).decay_constant * 3600
    fractions = [1.0 - f2, f2][:len(halves)]
    comps = [(f, lam + math.log(2) / h) for f, h in zip(fractions, halves)]
    ku = math.log(2) / tu if tu else None

    def a(t):
        v = sum(f * np.exp(-k * t) for f, k in comps)
        return v * (1 - np.exp(-ku * t)) if ku else v

    exact = sum(f / k - (f / (k + ku) if ku else 0.0) for f, k in comps)
    return a, exact


@pytest.mark.parametrize("nuc", ["Lu-177", "I-131"])
@pytest.mark.parametrize("halves,f2,tu", CASES)
def test_fits_recover_the_closed_form_tiac(nuc, halves, f2, tu):
    a, exact = _curve(nuc, halves, f2, tu)
    got, method, _ = integrate_region(SAMPLES_H * 3600, a(SAMPLES_H) * 5e8, nuclide(nuc))
    assert got / 5e8 == pytest.approx(exact, rel=0.03), method
    assert method != TRAPEZOID


def test_decay_corrected_curves_give_the_same_tiac():
    n = nuclide("Lu-177")
    a, exact = _curve("Lu-177", (6.0, 150.0), 0.3, 0.5)
    physical = Curves(SAMPLES_H * 3600, ("kidney",), (a(SAMPLES_H) * 7.4e9)[:, None])
    corrected = physical.decay_corrected_to_zero(n.decay_constant)
    text = write_curves_csv(corrected, time_column="time_h", unit="GBq")
    read = read_curves_csv("kidney.csv", text=text, unit="GBq", decay_corrected=True)
    one = tiac_from_curves(physical, n, 7.4e9)[0]
    two = tiac_from_curves(read, n, 7.4e9)[0]
    assert two.tiac_h == pytest.approx(one.tiac_h, rel=1e-6)
    assert two.tiac_h == pytest.approx(exact, rel=0.03)


def test_too_few_samples_fall_back_to_trapezoids_with_a_physical_tail():
    n = nuclide("Tc-99m")
    lam_h = n.decay_constant * 3600
    t = np.array([1.0, 3.0]) * 3600
    y = np.array([10.0, 8.0])
    got, method, _ = integrate_region(t, y, n)
    assert method == TRAPEZOID
    # flat before the first sample (falling curve), trapezoid, then physical decay
    assert got == pytest.approx(1.0 * 10 + 2.0 * 9 + 8 / lam_h)


def test_units_in_the_csv_are_honoured():
    text = "time_min,liver\n0,10\n60,5\n"
    mbq = read_curves_csv("a.csv", text=text)
    mci = read_curves_csv("a.csv", text=text, unit="mCi")
    assert mci.values[0, 0] == pytest.approx(mbq.values[0, 0] * 37)
    assert mbq.times_s.tolist() == [0.0, 3600.0]
    kbq_ml = read_curves_csv("a.csv", text=text, unit="kBq/mL")
    assert kbq_ml.quantity == "concentration" and kbq_ml.values[0, 0] == 10_000


@pytest.mark.parametrize("text,problem", [
    ("t,liver\n0,1\n", "first column"),
    ("time_h,liver\n0,1\n1,-2\n", "negative activity"),
    ("time_h,liver\n0,1\n0,2\n", "times must increase"),
    ("time_h,liver\n0,abc\n", "'abc' is not a number"),
    ("time_h,liver,liver\n0,1,1\n", "twice"),
    ("time_h\n0\n", "no curve columns"),
    ("", "empty"),
    ("time_min,liver\n0,1\n60,0.5\n1e300,0.1\n", "line 4: time 1e300 (time_min) is more than 10 years"),
    ("time_d,liver\n0,1\n3653,0.5\n", "line 3: time 3653 (time_d) is more than 10 years"),
    ("time_s,liver\n0,1\n3.2e8,0.5\n", "line 3: time 3.2e8 (time_s) is more than 10 years"),
    ("time_h,liver\n0,1\ninf,0.5\n", "line 3: values must be finite"),
    ("time_h,liver\n0,1\nnan,0.5\n", "line 3: values must be finite"),
    ("time_h,liver\n0,1\n1,nan\n", "line 3: values must be finite"),
    ("time_h,liver\n0,1\n1,1e308\n", "line 3: a value is too large to convert from MBq"),
])
def test_bad_curves_fail_with_one_line(text, problem):
    from arkit_py.errors import InputError

    with pytest.raises(InputError) as info:
        read_curves_csv("curves.csv", text=text)
    assert problem in str(info.value) and str(info.value).startswith("curves.csv: ")


def test_unknown_unit_fails():
    from arkit_py.errors import InputError

    with pytest.raises(InputError, match="unknown unit"):
        read_curves_csv("c.csv", text="time_h,liver\n0,1\n", unit="furlongs")


def test_every_fit_family_is_exact_on_its_own_curve():
    n = nuclide("I-131")
    lam = n.decay_constant * 3600
    t = np.array([0.5, 1, 2, 4, 8, 24, 48, 96, 168, 336.0])
    for k1, k2 in itertools.product((lam + 0.01, lam + 0.2), (lam + 1.0,)):
        y = 3 * np.exp(-k1 * t) + 2 * np.exp(-k2 * t)
        got, method, _ = integrate_region(t * 3600, y, n)
        assert got == pytest.approx(3 / k1 + 2 / k2, rel=1e-4) and method == "bi-exponential"


def test_curves_up_to_ten_years_are_read():
    """10 years of 365.25 d is the bound (curves.MAX_TIME_S); a sample on it is accepted."""
    from arkit_py.tracer.curves import MAX_TIME_S

    assert MAX_TIME_S == 10 * 365.25 * 86400
    curves = read_curves_csv("c.csv", text="time_d,liver\n0,1\n3652.5,0.5\n")
    assert curves.times_s.tolist() == [0.0, MAX_TIME_S]


@pytest.mark.parametrize("times_h,values,problem", [
    ([0.0, 1e300], [1.0, 0.5], "more than 10 years"),
    ([0.0, np.inf], [1.0, 0.5], "must be finite"),
    ([-1.0, 1.0], [1.0, 0.5], "negative"),
    ([0.0, 1.0], [1.0, np.nan], "values must be finite"),
    ([0.0, 1.0], [1.0, -0.5], "values must be >= 0"),
    ([1.0, 1.0], [1.0, 0.5], "times must increase"),
])
def test_tiac_from_curves_refuses_absurd_curves_from_any_source(times_h, values, problem):
    from arkit_py.errors import InputError

    curves = Curves(np.asarray(times_h) * 3600, ("liver",), np.asarray(values)[:, None] * 1e6)
    with pytest.raises(InputError) as info:
        tiac_from_curves(curves, nuclide("F-18"), 1e6, source="made.csv")
    assert str(info.value).startswith("made.csv: ") and problem in str(info.value)

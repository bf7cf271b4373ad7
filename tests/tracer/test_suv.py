"""SUV and SUL against answers worked by hand: a uniform distribution of the whole injected
activity has SUV 1; James' lean body mass for 70 kg, 175 cm is 57.8 kg (male) and 51.2 kg
(female)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from arkit_py.tracer import suv
from arkit_py.tracer.suv import lean_body_mass_kg, sul, suv_bw

F18_S = 6586.2  # the ICRP-107 half-life radioactivedecay gives; any positive number would do


def test_doctests():
    assert doctest.testmod(suv).failed == 0


def test_uniform_distribution_is_one_with_and_without_decay_correction():
    injected, weight_g = 370e6, 70_000.0
    at_injection = injected / weight_g
    for t in (0.0, 1800.0, 3600.0, 2 * F18_S):
        seen = at_injection * 2 ** (-t / F18_S)  # what an uncorrected image shows at t
        assert suv_bw(seen, weight_g, injected, t_s=t, half_life_s=F18_S,
                      decay_corrected_image=False) == pytest.approx(1.0, rel=1e-12)
        assert suv_bw(at_injection, weight_g, injected, t_s=t, half_life_s=F18_S,
                      decay_corrected_image=True) == pytest.approx(1.0, rel=1e-12)


def test_an_uncorrected_value_read_as_corrected_is_off_by_the_decay():
    # one half-life after injection, forgetting the decay halves the SUV
    value = suv_bw(1000.0, 70_000.0, 370e6, t_s=F18_S, half_life_s=F18_S, decay_corrected_image=True)
    right = suv_bw(1000.0, 70_000.0, 370e6, t_s=F18_S, half_life_s=F18_S, decay_corrected_image=False)
    assert right == pytest.approx(2 * value, rel=1e-12)


def test_arrays_keep_their_shape_and_scalars_stay_floats():
    c = np.arange(12.0).reshape(3, 4) * 1000.0
    out = suv_bw(c, 80_000.0, 400e6, t_s=0.0, half_life_s=F18_S, decay_corrected_image=True)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, c * 80_000.0 / 400e6, rtol=1e-15)
    assert isinstance(suv_bw(5000.0, 80_000.0, 400e6, t_s=0.0, half_life_s=F18_S, decay_corrected_image=True),
                      float)


def test_james_lean_body_mass():
    assert lean_body_mass_kg(70, 175, "male") == pytest.approx(1.10 * 70 - 120 * 0.16)
    assert round(lean_body_mass_kg(70, 175, "male"), 1) == 57.8
    assert round(lean_body_mass_kg(70, 175, "female"), 1) == 51.2
    assert lean_body_mass_kg(90, 180, "female") == pytest.approx(1.07 * 90 - 148 * 0.25)


def test_sul_is_suv_scaled_by_lean_over_total_weight():
    c = np.array([2000.0, 8000.0])
    kw = {"t_s": 3600.0, "half_life_s": F18_S, "decay_corrected_image": False}
    bw = suv_bw(c, 70_000.0, 300e6, **kw)
    lean = sul(c, 70, 175, "male", 300e6, **kw)
    np.testing.assert_allclose(lean, bw * 57.8 / 70.0, rtol=1e-12)
    # the whole activity spread over the lean mass only: SUL 1
    assert sul(370e6 / 51_220.0, 70, 175, "female", 370e6, t_s=0.0, half_life_s=F18_S,
               decay_corrected_image=True) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(("call", "names"), [
    (lambda: lean_body_mass_kg(70, 175, "M"), "sex"),
    (lambda: lean_body_mass_kg(70, 175, "other"), "sex"),
    (lambda: lean_body_mass_kg(0, 175, "male"), "weight_kg"),
    (lambda: lean_body_mass_kg(70, -1, "male"), "height_cm"),
    (lambda: lean_body_mass_kg(float("nan"), 175, "male"), "weight_kg"),
    (lambda: suv_bw(1.0, 0.0, 1e8, t_s=0, half_life_s=F18_S, decay_corrected_image=True), "weight_g"),
    (lambda: suv_bw(1.0, 7e4, -1e8, t_s=0, half_life_s=F18_S, decay_corrected_image=True), "injected_bq"),
    (lambda: suv_bw(1.0, 7e4, 1e8, t_s=0, half_life_s=0.0, decay_corrected_image=False), "half_life_s"),
    (lambda: suv_bw(1.0, 7e4, 1e8, t_s=-5, half_life_s=F18_S, decay_corrected_image=False), "t_s"),
    (lambda: sul(1.0, 70, 175, "female", 0.0, t_s=0, half_life_s=F18_S, decay_corrected_image=True),
     "injected_bq"),
    (lambda: sul(1.0, 400, 150, "male", 1e8, t_s=0, half_life_s=F18_S, decay_corrected_image=True), "weight_kg"),
])
def test_bad_arguments_name_the_parameter(call, names):
    with pytest.raises(ValueError, match=names):
        call()

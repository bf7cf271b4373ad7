"""Tracer and colour options: one parser; a front end only names the fields."""

from __future__ import annotations

import pytest

from arkit_py.tracer import options
from arkit_py.tracer.options import OptionError, uptake_fields


def test_defaults_and_units():
    out = uptake_fields({})
    assert out == {"voiding_s": None, "no_voiding": False, "body_weight_g": None, "clip_s": 12.0, "height_cm": None,
                   "quantity": None}
    out = uptake_fields({"activity": "10 mCi", "until": "2 h", "voiding": "Never", "weight": "70", "height": "1.75 m",
                         "window": [0, 5], "quantity": "sul", "per_vertex": True})
    assert out["activity_bq"] == pytest.approx(370e6) and out["until_s"] == 7200.0 and out["no_voiding"]
    assert out["body_weight_g"] == 70_000.0 and out["height_cm"] == pytest.approx(175.0)
    assert out["window"] == (0.0, 5.0) and out["per_vertex"] is True


def test_a_window_as_typed_and_as_a_lesson_writes_it():
    assert options.window("0:5") == options.window([0, 5]) == (0.0, 5.0)
    with pytest.raises(OptionError, match=r"^--window must be MIN:MAX"):
        options.window("5")
    with pytest.raises(OptionError, match=r"^window: must be \[min, max\]"):
        options.window([5, 5], name=str)


@pytest.mark.parametrize("values,key,problem", [
    ({"activity": "-5 MBq"}, "activity", "the activity must be positive, got '-5 MBq'"),
    ({"until": "11 years"}, "until", "'11 years' is more than 10 years (at most 3.156e+08 s)"),
    ({"weight": "3t"}, "weight", "must be a body weight, e.g. 70kg, got '3t'"),
    ({"height": "10 m"}, "height", "must be a person's height, e.g. 175cm, got '10 m'"),
    ({"quantity": "counts"}, "quantity", "must be concentration, suv or sul, got 'counts'"),
])
def test_an_error_says_which_field_and_what_is_wrong(values, key, problem):
    with pytest.raises(OptionError) as info:
        uptake_fields(values)
    assert info.value.key == key and info.value.field_problem == problem
    assert str(info.value).startswith(f"--{key}") and str(info.value).endswith(problem)
    with pytest.raises(OptionError) as info:
        uptake_fields(values, name=lambda k: f"holograms.x.{k}")
    assert str(info.value).startswith(f"holograms.x.{key}") and "--" not in str(info.value)

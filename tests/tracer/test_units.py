"""The one unit parser (CLI, tracer files, numeric quizzes) and the modules' doctests."""

from __future__ import annotations

import doctest

import pytest

from arkit_py.units import UnitError, parse_quantity, same_quantity


@pytest.mark.parametrize("text,kind,value", [
    ("370MBq", "activity", 370e6), ("10 mCi", "activity", 370e6), ("1.2 GBq", "activity", 1.2e9),
    ("27 uCi", "activity", 999e3), ("27 µCi", "activity", 999e3), ("120min", "time", 7200.0),
    ("2 h", "time", 7200.0), ("8 d", "time", 691200.0), ("90 s", "time", 90.0),
    ("5 kBq/mL", "concentration", 5000.0), ("5 kBq/cc", "concentration", 5000.0), ("73 kg", "mass", 73000.0),
    ("30 %", "dimensionless", 0.3), ("0.02 mGy/MBq", "dose_per_activity", 2e-11),
])
def test_quantities_people_type(text, kind, value):
    assert parse_quantity(text, kind) == pytest.approx(value, rel=1e-12)


def test_ten_millicurie_answers_370_megabecquerel():
    assert same_quantity("10 mCi", "370 MBq", "activity")
    assert not same_quantity("10 mCi", "371 MBq", "activity")


@pytest.mark.parametrize("text,kind,problem", [
    ("5 min", "activity", "not an activity"), ("abc", "time", "cannot read"), ("", "time", "empty"),
    ("12", "activity", "has no unit"), ("inf MBq", "activity", "cannot read"), ("1e400 MBq", "activity", "finite"),
])
def test_bad_quantities_say_what_was_expected(text, kind, problem):
    with pytest.raises(UnitError, match=problem):
        parse_quantity(text, kind)


def test_bare_numbers_take_the_default_unit():
    assert parse_quantity("5", "time", default_unit="min") == 300.0
    assert parse_quantity(70, "mass", default_unit="kg") == 70000.0


@pytest.mark.parametrize("module", ["arkit_py.units", "arkit_py.tracer.decay", "arkit_py.scene.palette"])
def test_doctests(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0

"""The one unit parser (CLI, tracer files, numeric quizzes) and the modules' doctests."""

from __future__ import annotations

import doctest
import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arkit_py.errors import InputError
from arkit_py.units import KINDS, UnitError, parse_quantity, parse_typed, same_quantity


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


# -- text from anyone: parsed, never evaluated ------------------------------------------------



# pieces of quantities and of expressions, so the generator reaches the grammar's edges
PIECES = st.sampled_from(["9", "99", "**", "^", "*", "/", "(", ")", "e", "E", "+", "-", ".", " ", "MBq", "mCi", "%",
                          "h", "min", "kBq/mL", "²", "µ", "inf", "nan", "1e308", "0x1f", "_", "j", "sqrt", "__"])
TEXTS = st.one_of(st.text(max_size=120), st.lists(PIECES, max_size=40).map("".join))


@settings(max_examples=1500, deadline=timedelta(seconds=2), derandomize=True)
@given(text=TEXTS, kind=st.sampled_from(KINDS))
def test_any_text_is_a_quantity_or_an_input_error(text, kind):
    """Whatever a student types: a finite float in range, or InputError; never another
    exception and never long (the deadline fails a slow call)."""
    for call in (lambda: parse_quantity(text, kind), lambda: parse_typed(text)[0]):
        try:
            value = call()
        except InputError as error:
            assert str(error) and "\n" not in str(error)
            continue
        assert isinstance(value, float) and math.isfinite(value) and abs(value) <= 1e30


@pytest.mark.parametrize("text", ["+9**9**8", "9**9**9 MBq", "(9**9**7)", "9**(9**7)", "99**99**2 MBq", "2**2000 MBq",
                                  "10**400 %", "1e99999 MBq", "9" * 5000, "1" + "0" * 400 + " MBq", "3*MBq**9**9",
                                  "__import__('os') MBq", "1 MBq^99", "1 (MBq)"])
def test_expressions_are_refused_not_computed(text):
    with pytest.raises(UnitError):
        parse_typed(text)
    with pytest.raises(InputError):
        parse_quantity(text, "activity")


@pytest.mark.parametrize("text,kind,value", [
    ("1.5e3 kBq", "activity", 1.5e6), ("-2 min", "time", -120.0), ("5 kBq·mL^-1", "concentration", 5000.0),
    ("3 m²", "length", None), ("2 Gy/MBq", "dose_per_activity", 2e-6), (".5 h", "time", 1800.0),
])
def test_the_grammar_keeps_what_people_type(text, kind, value):
    if value is None:  # an area is no length: refused as the wrong kind, in one line
        with pytest.raises(UnitError, match="not a length"):
            parse_quantity(text, kind)
    else:
        assert parse_quantity(text, kind) == pytest.approx(value, rel=1e-12)


def test_huge_numbers_are_refused_in_one_line():
    with pytest.raises(UnitError, match="too large"):
        parse_quantity("1e300 MBq", "activity")
    with pytest.raises(UnitError, match="too large"):
        parse_quantity(1e300, "activity")

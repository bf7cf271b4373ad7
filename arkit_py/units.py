"""One parser for quantities people type: ``370MBq``, ``10 mCi``, ``120min``, ``2 h``.

The CLI, tracer files and numeric quizzes all read quantities here, so ``10 mCi`` answers
``370 MBq`` wherever it is typed. Parsing and conversion are pint's (a well-kept unit
library); this module only fixes the kinds arkit accepts and their internal units:

=============  ==================  ==========================
kind           internal unit       examples
=============  ==================  ==========================
activity       Bq                  370MBq, 10 mCi, 1.2 GBq
time           s                   120min, 2 h, 8 d, 90 s
concentration  Bq/mL               5 kBq/mL, 2.1 kBq/cc
mass           g                   73 kg, 1450 g
length         cm                  175 cm, 1.75 m
dose           Gy                  2 mGy, 0.5 Gy
dimensionless  1                   0.3, 30 %
=============  ==================  ==========================

>>> parse_quantity("10 mCi", "activity")
370000000.0
>>> parse_quantity("120min", "time")
7200.0
>>> format_activity(3.7e8)
'370 MBq'
"""

from __future__ import annotations

import math
from functools import lru_cache

_INTERNAL = {
    "activity": "Bq",
    "time": "s",
    "concentration": "Bq/mL",
    "mass": "g",
    "length": "cm",
    "dose": "Gy",
    "dose_per_activity": "Gy/Bq",
    "dimensionless": "",
}
KINDS = tuple(_INTERNAL)


class UnitError(ValueError):
    """A quantity that cannot be read: the message says what was expected."""


@lru_cache(maxsize=1)
def _registry():
    import logging

    import pint

    logging.getLogger("pint.util").setLevel(logging.ERROR)  # its own definitions re-defined on load
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    return ureg


@lru_cache(maxsize=4096)
def _parse(text: str):
    ureg = _registry()
    cleaned = text.strip().replace("µ", "u").replace("μ", "u").replace("%", " percent")
    if not cleaned:
        raise UnitError("empty quantity")
    try:
        q = ureg.Quantity(cleaned)
    except Exception as error:  # pint raises several unrelated types for bad text
        raise UnitError(f"cannot read {text!r} as a quantity ({type(error).__name__})") from None
    if not isinstance(q, ureg.Quantity):
        q = ureg.Quantity(q)
    return q


def parse_quantity(text: str | float, kind: str, *, default_unit: str | None = None) -> float:
    """``text`` in the internal unit of ``kind``. A bare number takes ``default_unit`` (or
    the internal unit when none is given)."""
    if kind not in _INTERNAL:
        raise ValueError(f"parse_quantity: kind must be one of {KINDS}, got {kind!r}")
    if isinstance(text, bool):
        raise UnitError(f"expected {_an(kind)}, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
        if default_unit:
            value = convert(value, default_unit, kind)
        return _finite(value, text)
    q = _parse(str(text))
    target = _INTERNAL[kind]
    if q.dimensionless and kind != "dimensionless":
        if default_unit is None:
            raise UnitError(f"{text!r} has no unit; give a {kind} such as {_EXAMPLES[kind]}")
        return _finite(convert(float(q.to("").magnitude), default_unit, kind), text)
    try:
        value = float(q.to(target).magnitude) if target else float(q.to("").magnitude)
    except Exception:  # noqa: BLE001 (pint raises many unrelated types)
        raise UnitError(f"{text!r} is not {_an(kind)} (expected e.g. {_EXAMPLES[kind]})") from None
    return _finite(value, text)


def parse_typed(text: str, kinds: tuple[str, ...] = ("activity", "time", "concentration", "mass", "length",
                                                       "dose", "dose_per_activity", "dimensionless")) -> tuple[float, str]:
    """(value in the internal unit, kind) of a quantity whose kind is not known beforehand
    (a numeric quiz answer: ``370 MBq``, ``6 h``, ``12.5 %``)."""
    for kind in kinds:
        try:
            return parse_quantity(text, kind), kind
        except UnitError:
            continue
    q = _parse(str(text))
    raise UnitError(f"{text!r} is not a quantity arkit knows (its dimension is {q.dimensionality})")


def convert(value: float, unit: str, kind: str) -> float:
    """``value`` given in ``unit`` -> the internal unit of ``kind``."""
    ureg = _registry()
    try:
        q = ureg.Quantity(float(value), unit.replace("µ", "u").replace("μ", "u"))
        target = _INTERNAL[kind]
        return float(q.to(target).magnitude) if target else float(q.to("").magnitude)
    except Exception:  # noqa: BLE001 (pint raises many unrelated types)
        raise UnitError(f"unknown {kind} unit {unit!r} (expected e.g. {_EXAMPLES[kind]})") from None


def unit_factor(unit: str, kind: str) -> float:
    """How many internal units one ``unit`` is (``unit_factor('MBq', 'activity') == 1e6``)."""
    return convert(1.0, unit, kind)


def same_quantity(a: str, b: str, kind: str, *, rel: float = 1e-9) -> bool:
    """Whether two typed quantities are equal (``10 mCi`` and ``370 MBq``)."""
    x, y = parse_quantity(a, kind), parse_quantity(b, kind)
    return math.isclose(x, y, rel_tol=rel, abs_tol=0.0)


def _an(kind: str) -> str:
    word = kind.replace("_", " ")
    return ("an " if word[0] in "aeiou" else "a ") + word


def _finite(value: float, text) -> float:
    if not math.isfinite(value):
        raise UnitError(f"{text!r} is not a finite number")
    return value


_EXAMPLES = {
    "activity": "370 MBq or 10 mCi",
    "time": "120 min, 2 h or 8 d",
    "concentration": "5 kBq/mL",
    "mass": "73 kg",
    "length": "175 cm",
    "dose": "2 mGy",
    "dose_per_activity": "0.02 mGy/MBq",
    "dimensionless": "0.3",
}


def format_activity(bq: float) -> str:
    """A readable activity: ``370 MBq``, ``2.5 kBq``, ``7.4 GBq``."""
    for unit, factor in (("GBq", 1e9), ("MBq", 1e6), ("kBq", 1e3)):
        if abs(bq) >= factor:
            return f"{bq / factor:.4g} {unit}"
    return f"{bq:.4g} Bq"


def format_time(seconds: float) -> str:
    """A readable duration: ``45 min``, ``2 h``, ``8.02 d``."""
    s = abs(seconds)
    if s >= 2 * 86400:
        return f"{seconds / 86400:.4g} d"
    if s >= 2 * 3600:
        return f"{seconds / 3600:.4g} h"
    if s >= 120:
        return f"{seconds / 60:.4g} min"
    return f"{seconds:.4g} s"

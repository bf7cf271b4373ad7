"""One parser for quantities people type: ``370MBq``, ``10 mCi``, ``120min``, ``2 h``.

The CLI, tracer files, lessons and numeric quiz answers all read quantities here, so
``10 mCi`` answers ``370 MBq`` wherever it is typed. The text is parsed, never evaluated: a
decimal number (exponent of at most three digits) and an optional unit of at most four
names joined by ``*``, ``/`` or ``·`` with small integer powers. Anything else
(``9**9**8``, brackets, function calls) is refused before pint sees it; pint (a well-kept
unit library) only looks up the unit names and converts. Values beyond 1e30 in the
internal unit are refused too. Every refusal is a ``UnitError``, an ``InputError`` told in
one line. This module fixes the kinds arkit accepts and their internal units:

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
import re
from functools import lru_cache

from .errors import InputError

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
MAX_TEXT = 100  # characters: longer text is not a quantity a person typed
MAX_MAGNITUDE = 1e30  # in the internal unit: beyond it a value is a typing accident or an attack

# The grammar, parsed here and never evaluated: a decimal number with an exponent of at
# most three digits, then an optional unit made of at most four names joined by '*', '/'
# or '·', each name with an optional small integer power (m^2, m**2, m²). Only the unit
# text (names and small powers, nothing else) reaches pint, which looks the names up.
_NUMBER = r"[+-]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][+-]?\d{1,3})?"
_NAME = r"(?:[A-Za-z\u00b5\u03bc]{1,16}|%)"
_POWER = r"(?:\s*(?:\^|\*\*)\s*[+-]?[1-4]|[\u00b2\u00b3])?"
_FACTOR = _NAME + _POWER
_UNIT = rf"{_FACTOR}(?:\s*[*/\u00b7]\s*{_FACTOR}){{0,3}}"
_QUANTITY = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>{_UNIT})?\s*")


class UnitError(InputError, ValueError):
    """A quantity that cannot be read: the message says what was expected.

    An ``InputError`` (the CLI prints it as one line, exit code 2) and, for older callers,
    a ``ValueError``."""

    def __init__(self, problem: str):
        super().__init__(None, problem)


@lru_cache(maxsize=1)
def _registry():
    import logging

    import pint

    logging.getLogger("pint.util").setLevel(logging.ERROR)  # its own definitions re-defined on load
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    return ureg


def _unit_text(unit: str) -> str:
    """The unit part in pint's spelling: ``µCi`` -> ``uCi``, ``%`` -> ``percent``, ``m²`` -> ``m**2``."""
    unit = unit.replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00b7", "*").replace("%", "percent")
    unit = unit.replace("\u00b2", "**2").replace("\u00b3", "**3").replace("^", "**")
    return re.sub(r"\s+", "", unit)


@lru_cache(maxsize=1024)
def _units(unit: str):
    """pint's unit for a unit text that already matched the grammar (bounded, so cached)."""
    try:
        return _registry().parse_units(unit)
    except Exception:  # noqa: BLE001 (pint raises several unrelated types for unknown names)
        return None


def _parse(text: str):
    """``text`` -> a pint Quantity, or UnitError. Nothing in ``text`` is evaluated."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    if not text.strip():
        raise UnitError("empty quantity")
    if len(text) > MAX_TEXT:
        raise UnitError(f"{shown!r} is too long for a quantity (at most {MAX_TEXT} characters)")
    m = _QUANTITY.fullmatch(text)
    if m is None:
        raise UnitError(f"cannot read {shown!r} as a quantity (a number and a unit, e.g. 370 MBq or 2.5e3 kBq)")
    value = float(m["number"])
    if not math.isfinite(value):
        raise UnitError(f"{shown!r} is not a finite number")
    unit = _units(_unit_text(m["unit"])) if m["unit"] else _registry().dimensionless
    if unit is None:
        raise UnitError(f"cannot read {shown!r} as a quantity (unknown unit {m['unit'].strip()!r})")
    return _registry().Quantity(value, unit)


def parse_quantity(text: str | float, kind: str, *, default_unit: str | None = None) -> float:
    """``text`` in the internal unit of ``kind``. A bare number takes ``default_unit`` (or
    the internal unit when none is given)."""
    if kind not in _INTERNAL:
        raise ValueError(f"parse_quantity: kind must be one of {KINDS}, got {kind!r}")
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise UnitError(f"expected {_an(kind)} such as {_EXAMPLES[kind]}, got {type(text).__name__}")
    if isinstance(text, (int, float)):
        try:
            value = float(text)
        except OverflowError:
            raise UnitError(f"{kind.replace('_', ' ')}: the number is too large") from None
        if default_unit:
            value = convert(value, default_unit, kind)
        return _checked(value, text, kind)
    q = _parse(text)
    target = _INTERNAL[kind]
    if q.dimensionless and kind != "dimensionless":
        if default_unit is None:
            raise UnitError(f"{text!r} has no unit; give {_an(kind)} such as {_EXAMPLES[kind]}")
        return _checked(convert(float(q.to("").magnitude), default_unit, kind), text, kind)
    try:
        value = float(q.to(target).magnitude) if target else float(q.to("").magnitude)
    except Exception:  # noqa: BLE001 (pint raises many unrelated types)
        raise UnitError(f"{text!r} is not {_an(kind)} (expected e.g. {_EXAMPLES[kind]})") from None
    return _checked(value, text, kind)


def parse_typed(text: str, kinds: tuple[str, ...] = ("activity", "time", "concentration", "mass", "length",
                                                       "dose", "dose_per_activity", "dimensionless")) -> tuple[float, str]:
    """(value in the internal unit, kind) of a quantity whose kind is not known beforehand
    (a numeric quiz answer: ``370 MBq``, ``6 h``, ``12.5 %``)."""
    if not isinstance(text, (str, int, float)) or isinstance(text, bool):
        raise UnitError(f"expected a quantity such as 370 MBq, got {type(text).__name__}")
    q = _parse(text) if isinstance(text, str) else None
    for kind in kinds:
        if q is not None and kind != "dimensionless" and not q.check(_INTERNAL[kind]):
            continue  # another dimension: try the next kind
        if q is not None and kind == "dimensionless" and not q.dimensionless:
            continue
        return parse_quantity(text, kind), kind  # range errors (too large, not finite) are final
    dimension = f" (its dimension is {q.dimensionality})" if q is not None else ""
    raise UnitError(f"{text!r} is not a quantity arkit knows{dimension}")


def convert(value: float, unit: str, kind: str) -> float:
    """``value`` given in ``unit`` -> the internal unit of ``kind``."""
    ureg = _registry()
    text = str(unit)
    m = re.fullmatch(rf"\s*(?:{_UNIT})\s*", text) if len(text) <= MAX_TEXT else None
    units = _units(_unit_text(text)) if m else None
    if units is None:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise UnitError(f"unknown {kind.replace('_', ' ')} unit {shown!r} (expected e.g. {_EXAMPLES[kind]})")
    try:
        q = ureg.Quantity(float(value), units)
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
    if kind == "dimensionless":
        return "a plain number"
    word = kind.replace("_", " ")
    return ("an " if word[0] in "aeiou" else "a ") + word


def _checked(value: float, text, kind: str) -> float:
    shown = text if not isinstance(text, str) or len(text) <= 40 else text[:37] + "..."
    if not math.isfinite(value):
        raise UnitError(f"{shown!r} is not a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise UnitError(f"{shown!r} is too large (over {MAX_MAGNITUDE:.0e} {_INTERNAL[kind] or ''})".replace(" )", ")"))
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

"""Tracer and colour options, parsed once for every front end: the flags of ``arkit hologram
--tracer ...`` and ``arkit tracer ...``, and the tracer fields of a lesson hologram.

A front end hands over the values as written, keyed by field (``activity``, ``until``,
``window``...), and says how it names a field: the CLI as a flag (``--activity``,
:func:`flag`), a lesson by its key. A bad value is an :class:`OptionError` that carries

- ``key``: the field (``activity``), so a lesson can point at ``holograms.fdg.activity``
  and its line;
- ``field_problem``: what is wrong, without the field's name (``cannot read '3xx' as a
  quantity (unknown unit 'xx')``), which a lesson puts after its own location;
- its message: the problem with the field's name, as the CLI prints it
  (``--activity: cannot read '3xx' as a quantity (unknown unit 'xx')``).

:func:`uptake_fields` turns all of them into the keyword arguments of
:class:`arkit_py.scene.uptake.UptakeOptions` (all but ``tracer``), so the CLI and a lesson
build the same options from the same values.

>>> uptake_fields({"activity": "370 MBq", "window": "0:5"})["window"]
(0.0, 5.0)
>>> uptake_fields({"activity": "3xx"})
Traceback (most recent call last):
...
arkit_py.tracer.options.OptionError: --activity: cannot read '3xx' as a quantity (unknown unit 'xx')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..errors import InputError
from ..units import UnitError, parse_quantity
from .curves import MAX_TIME_S, MAX_TIME_TEXT

#: Voiding values that switch voiding off.
NO_VOIDING = ("none", "off", "never")
#: What a tracer can colour by.
QUANTITIES = ("concentration", "suv", "sul")
#: The fields a lesson hologram and ``arkit hologram`` share (the CLI has more: weight, height...).
SHARED_FIELDS = ("activity", "until", "clip", "window", "quantity", "voiding", "nuclide")
DEFAULT_CLIP = "12 s"

Namer = Callable[[str], str]


def flag(key: str) -> str:
    """The CLI's name of a field: ``per_vertex`` -> ``--per-vertex``."""
    return "--" + key.replace("_", "-")


class OptionError(InputError):
    """A bad tracer option: ``key`` the field, ``field_problem`` what is wrong without its
    name; the message names the field as the front end does."""

    def __init__(self, key: str, field_problem: str, message: str):
        super().__init__(None, message)
        self.key = key
        self.field_problem = field_problem


def _error(key: str, name: Namer, problem: str, *, joined: str = ": ") -> OptionError:
    return OptionError(key, problem, f"{name(key)}{joined}{problem}")


def activity(text, *, key: str = "activity", name: Namer = flag) -> float:
    """An administered activity in Bq, > 0."""
    try:
        value = parse_quantity(text, "activity")
    except UnitError as error:
        raise _error(key, name, str(error)) from None
    if value <= 0:
        raise _error(key, name, f"the activity must be positive, got {text!r}") from None
    return value


def time_span(text, *, key: str, name: Namer = flag, allow_zero: bool = False) -> float:
    """A time in s, > 0 (or >= 0) and at most 10 years."""
    try:
        value = parse_quantity(text, "time")
    except UnitError as error:
        raise _error(key, name, str(error)) from None
    if value < 0 or (value == 0 and not allow_zero):
        raise _error(key, name, f"must be positive, got {text!r}") from None
    if value > MAX_TIME_S:
        raise _error(key, name, f"{text!r} is more than {MAX_TIME_TEXT} (at most {MAX_TIME_S:.4g} s)") from None
    return value


def voiding(text, *, key: str = "voiding", name: Namer = flag) -> tuple[float | None, bool]:
    """(interval in s or None, no voiding): ``2 h``, or ``none`` (``off``, ``never``)."""
    if text is None:
        return None, False
    if str(text).strip().lower() in NO_VOIDING:
        return None, True
    return time_span(text, key=key, name=name), False


def window(value, *, key: str = "window", name: Namer = flag) -> tuple[float, float]:
    """A colour window: ``MIN:MAX`` as typed, or ``[min, max]`` as a lesson writes it; max > min."""
    if isinstance(value, str):
        parts = value.split(":")
        try:
            out = (float(parts[0]), float(parts[1]))
            if len(parts) != 2 or not out[1] > out[0]:
                raise ValueError
        except (ValueError, IndexError):
            raise _error(key, name, f"must be MIN:MAX with MAX > MIN, e.g. 0:5, got {value!r}", joined=" ") from None
        return out
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise _error(key, name, "must be [min, max] with max > min") from None
    if not high > low:
        raise _error(key, name, "must be [min, max] with max > min") from None
    return low, high


def person(text, *, key: str, kind: str, unit: str, bounds: tuple[float, float], what: str,
           name: Namer = flag) -> float | None:
    """A body weight (g) or height (cm) typed with or without a unit; None when not given."""
    if text is None:
        return None
    try:
        value = parse_quantity(text, kind, default_unit=unit)
    except UnitError as error:
        raise _error(key, name, str(error)) from None
    if not bounds[0] <= value <= bounds[1]:
        raise _error(key, name, f"must be {what}, got {text!r}", joined=" ") from None
    return value


def body_weight(text, *, key: str = "weight", name: Namer = flag) -> float | None:
    """A body weight in g (1 kg to 500 kg); None when not given."""
    return person(text, key=key, kind="mass", unit="kg", bounds=(1_000.0, 500_000.0), what="a body weight, e.g. 70kg",
                  name=name)


def height(text, *, key: str = "height", name: Namer = flag) -> float | None:
    """A height in cm (50 cm to 280 cm); None when not given."""
    return person(text, key=key, kind="length", unit="cm", bounds=(50.0, 280.0), what="a person's height, e.g. 175cm",
                  name=name)


def uptake_fields(values: Mapping, *, name: Namer = flag) -> dict:
    """The keyword arguments of UptakeOptions (all but ``tracer``) from the tracer options as
    written. Keys (each optional): ``activity``, ``until``, ``clip`` (default 12 s),
    ``window``, ``quantity``, ``voiding``, ``nuclide``, ``weight``, ``height``, ``sex``,
    ``bids``, ``per_vertex``, ``unit``, ``decay_corrected``, ``curves_decay_corrected``.
    OptionError for the first bad value."""
    v = {key: value for key, value in values.items() if value is not None}
    out: dict = {}
    if "window" in v:
        out["window"] = window(v["window"], name=name)
    out["voiding_s"], out["no_voiding"] = voiding(v.get("voiding"), name=name)
    out["body_weight_g"] = body_weight(v.get("weight"), name=name)
    out["clip_s"] = time_span(v.get("clip", DEFAULT_CLIP), key="clip", name=name)
    out["height_cm"] = height(v.get("height"), name=name)
    quantity = v.get("quantity")
    if quantity is not None and quantity not in QUANTITIES:
        raise _error("quantity", name, f"must be concentration, suv or sul, got {quantity!r}")
    if quantity == "sul" and out["height_cm"] is None:
        raise _error("quantity", name, f"sul needs {name('height')} (e.g. 175cm) for the lean body mass", joined=" ")
    if "activity" in v:
        out["activity_bq"] = activity(v["activity"], name=name)
    if "until" in v:
        out["until_s"] = time_span(v["until"], key="until", name=name)
    out["quantity"] = quantity
    for key in ("nuclide", "bids", "unit", "sex"):
        if key in v:
            out[key] = v[key]
    for key in ("per_vertex", "decay_corrected", "curves_decay_corrected"):
        if key in v:
            out[key] = bool(v[key])
    return out

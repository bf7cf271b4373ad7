"""What the command modules share (``cli``, ``cli_tracer``, ``cli_lesson``): writing an
output atomically and reading a person's weight or height. Imports nothing of the CLI, so
the command modules import it and not each other."""

from __future__ import annotations

from .errors import InputError
from .fileio import write_atomic

__all__ = ["person_quantity", "write_atomic"]


def person_quantity(option: str, text: str | None, kind: str, unit: str, bounds: tuple[float, float], what: str):
    """A body weight (g) or height (cm) typed with or without a unit; None when not given."""
    from .units import UnitError, parse_quantity

    if text is None:
        return None
    try:
        value = parse_quantity(text, kind, default_unit=unit)
    except UnitError as error:
        raise InputError(None, f"{option}: {error}") from None
    if not bounds[0] <= value <= bounds[1]:
        raise InputError(None, f"{option} must be {what}, got {text!r}")
    return value

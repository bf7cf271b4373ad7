"""Time-activity curves: one table of samples per region, read from and written to CSV.

CSV layout (what ``arkit tracer simulate`` writes and ``tiac``/``hologram --tracer`` read)::

    time_min,brain,liver,urinary_bladder_contents
    0,29.6,18.5,0
    5,29.0,18.1,3.2

The first column is ``time_s``, ``time_min``, ``time_h`` or ``time_d`` (after administration);
then one column per region or structure. Values are MBq unless a unit is given (``--unit``:
Bq, kBq, MBq, GBq, mCi, uCi, Bq/mL, kBq/mL, ...). Lines starting with ``#`` are comments.
Internally times are seconds and values Bq (activity) or Bq/mL (concentration).

Times must be finite, >= 0 and at most :data:`MAX_TIME_S`, 10 years after administration:
the longest-lived nuclides of nuclear medicine (I-131 8 d, Lu-177 6.6 d, Ra-223 11.4 d) have
decayed a hundred-fold within months, so a later sample is a typing or unit accident (a
sample at ``1e300`` min would integrate to a TIAC of 1e295 h). Values must be finite and
>= 0 in the internal unit.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..units import UnitError, unit_factor

TIME_COLUMNS = {"time_s": 1.0, "time_min": 60.0, "time_h": 3600.0, "time_d": 86400.0}
#: The latest time a curve sample (or a time option) may have: 10 years (of 365.25 days).
MAX_TIME_S = 10 * 365.25 * 86400.0
MAX_TIME_TEXT = "10 years"


def check_time(seconds: float, what: str) -> str | None:
    """Why ``seconds`` cannot be a time after administration, or None when it can."""
    if not math.isfinite(seconds):
        return f"{what} must be finite"
    if seconds < 0:
        return f"{what} is negative (times are after administration)"
    if seconds > MAX_TIME_S:
        return (f"{what} is more than {MAX_TIME_TEXT} after administration (at most {MAX_TIME_S:.4g} s; "
                "no nuclear-medicine curve lasts longer)")
    return None


def check_curves(curves: Curves, source: str | None) -> None:
    """InputError (naming ``source``) unless every time is finite, >= 0, at most
    :data:`MAX_TIME_S` and increasing, and every value finite and >= 0."""
    times = np.asarray(curves.times_s, dtype=np.float64)
    values = np.asarray(curves.values, dtype=np.float64)
    for t in times:
        problem = check_time(float(t), f"time {float(t):g} s")
        if problem:
            raise InputError(source, problem)
    if np.any(np.diff(times) <= 0):
        raise InputError(source, "times must increase")
    if not np.all(np.isfinite(values)):
        raise InputError(source, "values must be finite")
    if np.any(values < 0):
        raise InputError(source, "values must be >= 0")


@dataclass
class Curves:
    """times_s : (n,) float, seconds after administration, strictly increasing.
    values : (n, r) float, Bq (``quantity='activity'``) or Bq/mL (``'concentration'``),
    one column per name in ``regions``. ``decay_corrected`` says whether physical decay was
    taken out of the values (to the time of administration)."""

    times_s: np.ndarray
    regions: tuple[str, ...]
    values: np.ndarray
    quantity: str = "activity"
    decay_corrected: bool = False
    nuclide: str | None = None
    meta: dict = field(default_factory=dict)

    def column(self, region: str) -> np.ndarray:
        return self.values[:, self.regions.index(region)]

    def physical(self, decay_constant_per_s: float) -> Curves:
        """The same curves with physical decay put back (no-op if not decay-corrected)."""
        if not self.decay_corrected:
            return self
        factor = np.exp(-decay_constant_per_s * self.times_s)[:, None]
        return Curves(self.times_s, self.regions, self.values * factor, self.quantity, False, self.nuclide,
                      dict(self.meta))

    def decay_corrected_to_zero(self, decay_constant_per_s: float) -> Curves:
        if self.decay_corrected:
            return self
        factor = np.exp(decay_constant_per_s * self.times_s)[:, None]
        return Curves(self.times_s, self.regions, self.values * factor, self.quantity, True, self.nuclide,
                      dict(self.meta))


def _unit_kind(unit: str) -> tuple[str, float]:
    """(quantity, factor to Bq or Bq/mL) of a column unit."""
    try:
        return "activity", unit_factor(unit, "activity")
    except UnitError:
        pass
    try:
        return "concentration", unit_factor(unit, "concentration")
    except UnitError:
        raise UnitError(f"unknown unit {unit!r} (activity such as MBq, kBq, Bq, mCi, or concentration such "
                        f"as Bq/mL, kBq/mL)") from None


def read_curves_csv(path: str | os.PathLike, *, unit: str = "MBq", decay_corrected: bool = False,
                    nuclide: str | None = None, text: str | None = None) -> Curves:
    """Curves from a CSV file (or from ``text``; ``path`` then only names it in errors)."""
    name = str(path)
    try:
        quantity, factor = _unit_kind(unit)
    except UnitError as error:
        raise InputError(name, f"--unit: {error}") from None
    if text is None:
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                text = f.read()
        except FileNotFoundError:
            raise InputError(name, "no such file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(name, f"cannot read the curves ({error.__class__.__name__})") from None
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(name, "empty curves file")
    rows = list(csv.reader([line for _, line in lines]))
    header = [h.strip() for h in rows[0]]
    if header[0] not in TIME_COLUMNS:
        raise InputError(name, f"line {lines[0][0]}: the first column must be one of {', '.join(TIME_COLUMNS)}, "
                               f"got {header[0]!r}")
    regions = header[1:]
    if not regions:
        raise InputError(name, "no curve columns after the time column")
    if any(not r for r in regions):
        raise InputError(name, f"line {lines[0][0]}: an empty column name")
    duplicates = sorted({r for r in regions if regions.count(r) > 1})
    if duplicates:
        raise InputError(name, f"line {lines[0][0]}: column {duplicates[0]!r} appears twice")
    data = []
    for (line_no, _), row in zip(lines[1:], rows[1:]):
        if len(row) != len(header):
            raise InputError(name, f"line {line_no}: {len(row)} values, expected {len(header)}")
        try:
            values = [float(v) for v in row]
        except ValueError:
            bad = next(v for v in row if not _is_float(v))
            raise InputError(name, f"line {line_no}: {bad.strip()!r} is not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise InputError(name, f"line {line_no}: values must be finite")
        if any(v < 0 for v in values[1:]):
            raise InputError(name, f"line {line_no}: negative activity")
        if values[0] < 0:
            raise InputError(name, f"line {line_no}: negative time (times are after administration)")
        if values[0] * TIME_COLUMNS[header[0]] > MAX_TIME_S:
            raise InputError(name, f"line {line_no}: time {row[0].strip()} ({header[0]}) is more than "
                                   f"{MAX_TIME_TEXT} after administration (no nuclear-medicine curve lasts longer)")
        if not all(math.isfinite(v * factor) for v in values[1:]):
            raise InputError(name, f"line {line_no}: a value is too large to convert from {unit} (not finite)")
        data.append(values)
    if not data:
        raise InputError(name, "no samples after the header")
    table = np.asarray(data, dtype=np.float64)
    times = table[:, 0] * TIME_COLUMNS[header[0]]
    if np.any(np.diff(times) <= 0):
        i = int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1
        raise InputError(name, f"line {lines[i + 1][0]}: times must increase")
    return Curves(times, tuple(regions), table[:, 1:] * factor, quantity, decay_corrected, nuclide,
                  {"unit": unit})


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def write_curves_csv(curves: Curves, *, time_column: str = "time_min", unit: str = "MBq",
                     digits: int = 9) -> str:
    """The curves as CSV text (times in ``time_column``'s unit, values in ``unit``)."""
    if time_column not in TIME_COLUMNS:
        raise ValueError(f"write_curves_csv: time_column must be one of {tuple(TIME_COLUMNS)}, got {time_column!r}")
    quantity, factor = _unit_kind(unit)
    if quantity != curves.quantity:
        raise ValueError(f"write_curves_csv: unit {unit!r} does not measure {curves.quantity}")
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow([time_column, *curves.regions])
    t = curves.times_s / TIME_COLUMNS[time_column]
    v = curves.values / factor
    for i in range(len(t)):
        w.writerow([_fmt(t[i], digits)] + [_fmt(x, digits) for x in v[i]])
    return out.getvalue()


def _fmt(x: float, digits: int) -> str:
    x = float(x)
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"

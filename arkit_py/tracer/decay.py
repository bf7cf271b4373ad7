"""Physical decay data of ICRP Publication 107, read from well-kept packages.

- Half-lives: ``radioactivedecay`` (its default dataset is ICRP-107).
- Energy emitted per nuclear transformation (electrons, photons, alphas): the ICRP-107
  index file ``ICRP-07.NDX`` (Endo and Eckerman, 2008) as shipped by ``decaychain``.
- Photon lines (gamma, X, annihilation) with yields per decay: ``icrp107-database``.

No half-life or energy is typed into arkit.

>>> n = nuclide("F-18")
>>> round(n.half_life_s / 60, 2)
109.77
>>> round(n.mean_life_h, 4)
2.6394
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..errors import InputError

MEV_TO_J = 1.602176634e-13

_NAME = re.compile(r"^\s*(?:(\d+)(m?)[-\s]?([A-Za-z]{1,2})|([A-Za-z]{1,2})[-\s]?(\d+)(m?))\s*$")


def normalise_name(text: str) -> str:
    """``18F``, ``F18``, ``f-18``, ``99mTc``, ``Tc99m`` -> ``F-18``, ``Tc-99m``.

    >>> normalise_name("99mTc"), normalise_name("lu177"), normalise_name("I-131")
    ('Tc-99m', 'Lu-177', 'I-131')
    """
    m = _NAME.match(str(text))
    if not m:
        raise InputError(None, f"unknown nuclide {text!r} (write it like F-18 or Tc-99m)")
    if m.group(1):
        mass, meta, symbol = m.group(1), m.group(2), m.group(3)
    else:
        symbol, mass, meta = m.group(4), m.group(5), m.group(6)
    return f"{symbol[0].upper()}{symbol[1:].lower()}-{int(mass)}{meta.lower()}"


@dataclass(frozen=True)
class Nuclide:
    """Decay data of one nuclide. Energies are MeV per nuclear transformation."""

    name: str
    half_life_s: float
    electron_mev: float  # beta, conversion and Auger electrons (non-penetrating)
    photon_mev: float  # gamma, X and annihilation photons (penetrating)
    alpha_mev: float
    photon_lines: tuple[tuple[float, float], ...]  # (energy MeV, yield per decay)
    decay_mode: str

    @property
    def decay_constant(self) -> float:
        """lambda in 1/s."""
        return math.log(2) / self.half_life_s

    @property
    def mean_life_h(self) -> float:
        """tau = T1/2 / ln 2 in hours: the TIAC of activity that never leaves the body."""
        return self.half_life_s / math.log(2) / 3600.0

    def decay_factor(self, t_s):
        """exp(-lambda t)."""
        import numpy as np

        return np.exp(-self.decay_constant * np.asarray(t_s, dtype=np.float64))


@lru_cache(maxsize=1)
def _ndx() -> dict[str, dict]:
    """Rows of ICRP-07.NDX by nuclide, parsed with decaychain's own column layout."""
    from decaychain.DataLoader import DataRow

    layout = DataRow()
    starts = layout.COLUMN_COL
    names = layout.COLUMN_NAMES
    text = (resources.files("decaychain") / "data" / "ICRP-07.NDX").read_text(encoding="latin-1")
    rows = {}
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        row = {}
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else None
            row[names[i]] = line[start - 1:(end - 1) if end else None].strip()
        rows[row["nuclide_name"]] = row
    return rows


def _lines(name: str) -> tuple[tuple[float, float], ...]:
    path = resources.files("icrp107_database") / "icrp107" / f"{name}.json"
    if not path.is_file():
        return ()
    data = json.loads(json.loads(path.read_text(encoding="utf-8")))
    out = []
    for kind in ("gamma", "X", "annihilation"):
        out += [(float(e), float(y)) for e, y in data["emissions"].get(kind, [])]
    return tuple(sorted(out))


@lru_cache(maxsize=64)
def nuclide(name: str) -> Nuclide:
    """Decay data of ``name`` (any common spelling); InputError if ICRP-107 lacks it."""
    canonical = normalise_name(name)
    row = _ndx().get(canonical)
    if row is None:
        raise InputError(None, f"nuclide {name!r} is not in ICRP-107")
    import radioactivedecay as rd

    half_life_s = float(rd.Nuclide(canonical).half_life("s"))
    return Nuclide(
        name=canonical,
        half_life_s=half_life_s,
        electron_mev=float(row["energy_electron"] or 0.0),
        photon_mev=float(row["energy_photon"] or 0.0),
        alpha_mev=float(row["energy_alpha"] or 0.0),
        photon_lines=_lines(canonical),
        decay_mode=row["decay_mode"],
    )

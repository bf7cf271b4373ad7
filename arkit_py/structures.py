"""The canonical structure table: one snake_case name per structure, with a display name,
a system, a colour and a density, shipped as ``data/structures.csv``.

Names follow TotalSegmentator v2 where it has a counterpart (``liver``, ``kidney_left``,
``urinary_bladder``, ``thyroid_gland``, ``small_bowel``). Every reader and the phantom map
their labels onto this table through :func:`lookup`; a label the table does not know keeps
its own (sanitised) name with system ``other``.

>>> lookup("Liver").name, lookup("Liver").system
('liver', 'digestive')
>>> lookup("bladder").name
'urinary_bladder'
>>> s = lookup("My tumour [1]"); s.name, s.system, s.known
('my_tumour_1', 'other', False)
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from importlib import resources

SYSTEMS = (
    "body", "skeletal", "respiratory", "cardiovascular", "digestive", "urinary",
    "nervous", "endocrine", "reproductive", "lymphatic", "other",
)


@dataclass(frozen=True)
class Structure:
    """One row of the table.

    color : (3,) float, sRGB in 0..1 (as people pick colours; glTF writers convert to linear).
    density_g_ml : soft tissue 1.04, lung 0.296, bone 1.40 (ORNL phantom densities).
    """

    name: str
    display: str
    system: str
    color: tuple[float, float, float]
    density_g_ml: float
    aliases: tuple[str, ...] = ()
    known: bool = True


def _hex(color: str) -> tuple[float, float, float]:
    color = color.lstrip("#")
    return tuple(int(color[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def slug(text: str) -> str:
    """A snake_case name safe for glTF node names (no ``[ ] . : /``)."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", text.strip()).strip("_").lower()
    return s or "structure"


@functools.cache
def table() -> dict[str, Structure]:
    """Canonical name -> Structure, in the file's order."""
    rows: dict[str, Structure] = {}
    text = resources.files("arkit_py.data").joinpath("structures.csv").read_text(encoding="utf-8")
    for row in csv.DictReader(text.splitlines()):
        if row["system"] not in SYSTEMS:
            raise ValueError(f"structures.csv: {row['name']}: unknown system {row['system']!r}")
        aliases = tuple(a for a in (row.get("aliases") or "").split(";") if a)
        rows[row["name"]] = Structure(
            row["name"], row["display"], row["system"], _hex(row["color"]),
            float(row["density_g_ml"]), aliases,
        )
    return rows


@functools.cache
def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for s in table().values():
        for key in (s.name, slug(s.display), *map(slug, s.aliases)):
            index.setdefault(key, s.name)
    return index


def lookup(name: str, color: tuple[float, float, float] | None = None) -> Structure:
    """The table's structure for a name, display name or alias (any case or spacing);
    for an unknown name, a new ``other`` structure (grey unless ``color`` is given)."""
    key = slug(name)
    canonical = _index().get(key)
    if canonical is not None:
        s = table()[canonical]
        if color is not None:
            s = Structure(s.name, s.display, s.system, tuple(color), s.density_g_ml, s.aliases)
        return s
    display = re.sub(r"\s+", " ", str(name)).strip() or key
    return Structure(key, display, "other", tuple(color) if color else (0.75, 0.75, 0.75), 1.04, (), known=False)


def suggest(name: str, n: int = 1) -> list[str]:
    """Closest canonical names, for 'did you mean' messages."""
    import difflib

    return difflib.get_close_matches(slug(name), list(_index()), n=n, cutoff=0.6)

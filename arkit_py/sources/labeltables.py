"""Label tables: which structure each label value of a volume is, and its colour.

:func:`read_label_table` reads the formats people have next to their label maps:

- 3D Slicer colour tables (``.ctbl``, ``.txt``): ``index name R G B A`` lines, 0-255,
  ``#`` comments (FreeSurfer's ``FreeSurferColorLUT.txt`` has the same layout);
- ITK-SNAP label descriptions (``.txt``, ``.label``):
  ``IDX -R- -G- -B- -A-- VIS MSH "LABEL"``, the label in double quotes;
- CSV with a header: ``label,name[,color]``, the colour ``#rrggbb`` or ``r g b`` (0-255);
- JSON: ``{"1": "liver"}``, ``{"1": {"name": "liver", "color": "#rrggbb"}}`` or
  ``[{"label": 1, "name": "liver", "color": "#rrggbb"}]``;
- the word ``totalsegmentator``: the shipped TotalSegmentator v2 ``total`` task table.

A table is ``{label: (name, color)}``, ``color`` an sRGB triple in 0..1 or None (then the
structure table's colour is used). Label 0 is background and never listed.

>>> table = parse_label_table('0 Background 0 0 0 0\\n5 liver 255 0 0 255\\n', "slicer")
>>> table
{5: ('liver', (1.0, 0.0, 0.0))}
>>> read_label_table("totalsegmentator")[5]
('liver', None)
"""

from __future__ import annotations

import csv
import functools
import os
import re
import shlex
from importlib import resources
from pathlib import Path

from ..errors import InputError

Color = tuple[float, float, float]
LabelTable = dict[int, tuple[str, Color | None]]

#: Names that select a table shipped in the package instead of a file.
SHIPPED = {"totalsegmentator": "totalsegmentator_v2.csv", "totalsegmentator_v2": "totalsegmentator_v2.csv"}

_SUFFIXES = (".ctbl", ".txt", ".label", ".lut", ".csv", ".json")


def is_shipped(name: str | os.PathLike) -> bool:
    """True when ``name`` names a shipped table (``totalsegmentator``) rather than a file."""
    return str(name).strip().lower() in SHIPPED


@functools.cache
def _shipped(filename: str) -> tuple[tuple[int, str], ...]:
    text = resources.files("arkit_py.data").joinpath(filename).read_text(encoding="utf-8")
    return tuple((int(row["label"]), row["name"]) for row in csv.DictReader(text.splitlines()))


def totalsegmentator_classes() -> dict[int, str]:
    """TotalSegmentator v2 ``total`` task: label -> class name, as TotalSegmentator spells it
    (``vertebrae_L5``); :func:`arkit_py.structures.lookup` makes them canonical."""
    return dict(_shipped(SHIPPED["totalsegmentator"]))


def read_label_table(path: str | os.PathLike) -> LabelTable:
    """Read a label table file (or the shipped ``totalsegmentator`` table).

    Returns ``{label: (name, color)}``: label an int >= 1, color an sRGB (r, g, b) in 0..1
    or None when the table gives none. Raises InputError for a missing file, an unknown
    format or a malformed line.
    """
    if is_shipped(path):
        return {label: (name, None) for label, name in _shipped(SHIPPED[str(path).strip().lower()])}
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(path, f"unknown label table format {suffix or '(no extension)'!r}: expected "
                         "a 3D Slicer .ctbl/.txt, an ITK-SNAP .txt/.label, a .csv, a .json, or 'totalsegmentator'")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "label table not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read label table: {exc}") from None
    if suffix == ".json":
        kind = "json"
    elif suffix == ".csv":
        kind = "csv"
    else:
        kind = "itksnap" if _looks_itksnap(text) else "slicer"
    return parse_label_table(text, kind, path=path)


def parse_label_table(text: str, kind: str, *, path: str | os.PathLike | None = None) -> LabelTable:
    """Parse label table text; ``kind`` is ``slicer``, ``itksnap``, ``csv`` or ``json``."""
    parsers = {"slicer": _parse_slicer, "itksnap": _parse_itksnap, "csv": _parse_csv, "json": _parse_json}
    if kind not in parsers:
        raise ValueError(f"parse_label_table: kind must be one of {sorted(parsers)}, got {kind!r}")
    table: LabelTable = {}
    for where, label, name, color in parsers[kind](text, path):
        if label < 0:
            raise InputError(path, f"{where}: negative label {label}")
        if label in table:
            raise InputError(path, f"{where}: label {label} is listed twice")
        name = name.strip()
        if not name:
            raise InputError(path, f"{where}: label {label} has no name")
        if label:
            table[label] = (name, color)
    if not table:
        raise InputError(path, "label table lists no labels")
    return table


# -- colours --------------------------------------------------------------------------------

def parse_color(value, *, where: str = "", path=None) -> Color | None:
    """``#rrggbb``, ``"r g b"`` / ``"r,g,b"`` or a list of 3 numbers, all 0-255 -> sRGB 0..1.
    Empty or None -> None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, str):
            v = value.strip()
            if v.startswith("#"):
                if not re.fullmatch(r"#[0-9a-fA-F]{6}", v):
                    raise ValueError
                return tuple(int(v[i:i + 2], 16) / 255.0 for i in (1, 3, 5))  # type: ignore[return-value]
            parts = [float(x) for x in re.split(r"[\s,;]+", v) if x]
        else:
            parts = [float(x) for x in value]
        if len(parts) != 3 or not all(0 <= x <= 255 for x in parts):
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(path, f"{where}: colour {value!r} is not #rrggbb or 3 numbers 0-255") from None
    return tuple(x / 255.0 for x in parts)  # type: ignore[return-value]


def _rgb255(fields, where, path) -> Color:
    try:
        rgb = [float(x) for x in fields]
    except ValueError:
        raise InputError(path, f"{where}: colour {' '.join(fields)!r} is not 3 numbers 0-255") from None
    if not all(0 <= x <= 255 for x in rgb):
        raise InputError(path, f"{where}: colour {' '.join(fields)!r} is outside 0-255")
    return tuple(x / 255.0 for x in rgb)  # type: ignore[return-value]


def _int(text, where, path) -> int:
    try:
        value = float(text)
        if value != int(value):
            raise ValueError
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(path, f"{where}: label {text!r} is not a whole number") from None


# -- formats --------------------------------------------------------------------------------

def _lines(text):
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield f"line {n}", line


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_itksnap(text: str) -> bool:
    if "itk-snap" in text[:500].lower():
        return True
    return any('"' in line for _, line in _lines(text))


def _parse_slicer(text, path):
    """``index name R G B A``; the name may hold spaces (FreeSurfer never, Slicer rarely)."""
    for where, line in _lines(text):
        fields = line.split()
        if len(fields) < 2:
            raise InputError(path, f"{where}: expected 'index name R G B A'")
        label = _int(fields[0], where, path)
        numeric = 0  # trailing numeric fields: R G B A, or R G B
        while numeric < min(4, len(fields) - 2) and _is_number(fields[-1 - numeric]):
            numeric += 1
        if numeric >= 3:
            rgb = fields[-numeric:][:3]
            yield where, label, " ".join(fields[1:-numeric]), _rgb255(rgb, where, path)
        else:
            yield where, label, " ".join(fields[1:]), None


def _parse_itksnap(text, path):
    """``IDX -R- -G- -B- -A-- VIS MSH "LABEL"``."""
    for where, line in _lines(text):
        try:
            fields = shlex.split(line, posix=True)
        except ValueError:
            raise InputError(path, f"{where}: unbalanced quotes") from None
        if len(fields) != 8:
            raise InputError(path, f"{where}: expected 'IDX R G B A VIS MSH \"LABEL\"' (8 fields), got {len(fields)}")
        yield where, _int(fields[0], where, path), fields[7], _rgb255(fields[1:4], where, path)


_LABEL_COLS = ("label", "value", "index", "id")
_NAME_COLS = ("name", "structure", "label_name")
_COLOR_COLS = ("color", "colour", "rgb")


def _parse_csv(text, path):
    reader = csv.reader(text.splitlines())
    header = None
    for row in reader:
        if row and row[0].strip() and not row[0].lstrip().startswith("#"):
            header = [h.strip().lower() for h in row]
            break
    if header is None:
        raise InputError(path, "empty CSV label table")

    def col(options):
        return next((header.index(c) for c in options if c in header), None)

    ilabel, iname, icolor = col(_LABEL_COLS), col(_NAME_COLS), col(_COLOR_COLS)
    if ilabel is None or iname is None:
        raise InputError(path, f"CSV label table needs a header with 'label' and 'name' columns, got {header}")
    for row in reader:
        where = f"line {reader.line_num}"
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) <= max(ilabel, iname):
            raise InputError(path, f"{where}: expected {len(header)} columns, got {len(row)}")
        color = parse_color(row[icolor], where=where, path=path) if icolor is not None and icolor < len(row) else None
        yield where, _int(row[ilabel].strip(), where, path), row[iname], color


def _parse_json(text, path):
    from ..yamlio import YamlProblem, load_json

    try:
        data = load_json(text)
    except YamlProblem as exc:
        raise InputError(path, f"line {exc.line}: {exc.problem}") from None
    if isinstance(data, dict):
        items = [(f"key {k!r}", k, v) for k, v in data.items()]
    elif isinstance(data, list):
        items = []
        for n, entry in enumerate(data):
            if not isinstance(entry, dict) or "label" not in entry:
                raise InputError(path, f"entry {n}: expected an object with 'label' and 'name'")
            items.append((f"entry {n}", entry["label"], entry))
    else:
        raise InputError(path, "JSON label table must be an object or a list")
    for where, key, value in items:
        label = _int(key, where, path)
        if isinstance(value, str):
            yield where, label, value, None
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            yield where, label, value["name"], parse_color(value.get("color", value.get("colour")), where=where, path=path)
        else:
            raise InputError(path, f"{where}: expected a name or an object with a 'name'")

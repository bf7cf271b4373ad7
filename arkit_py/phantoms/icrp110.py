"""The ICRP Publication 110 adult reference voxel phantoms, from the lecturer's own copy.

ICRP's copyright does not let arkit ship the phantoms, so ``arkit phantom import icrp110
PATH`` reads the user's files and keeps a compact copy in arkit's data folder
(``phantoms/icrp110-<sex>.npz``); ``phantom:icrp110-male`` and ``phantom:icrp110-female``
then work wherever a phantom does.

PATH holds, for one sex or both, either ICRP's own electronic files (``AM/AM.dat`` with
``AM/AM_organs.dat``; ``AF/...``) or the layout of Geant4's ICRP110_HumanPhantoms example
(``AM/AM_slice<N>.g4dat`` for N = 1 at the toes up to the vertex, with ICRP's
``P110_data_V1.2/AM/AM_organs.dat``), searched for anywhere below PATH.

- ``AM.dat`` / ``AF.dat``: the organ ID of every voxel as whitespace-separated integers,
  columns fastest (patient right to left), then rows (front to back), then slices (toes to
  vertex): index space is LPS. The grid is not in the file; it is ICRP's (``GRIDS``).
- ``.g4dat``: three header numbers (columns, rows, slices in all), then one slice's IDs in
  the same order.
- ``<code>_organs.dat``: after a header, ``ID name... medium density`` per line (the name
  has spaces and commas: the ID is the first field, medium and density the last two).

The IDs (1 to 140, and 141 for the skin of the first and last slice) map onto arkit's
structures by ``arkit_py/data/icrp110_structures.csv`` (its own table, not ICRP's text):
composites (a lung from its blood and tissue, a kidney from cortex, medulla and pelvis),
contents with their organ unless ``walls=1``, bones that ICRP does not split by side
(``{side}``) split at the body's midline, everything without a structure of its own
(skin, muscle, fat, vessels, the remainder) into the body. Volumes are voxel counts x voxel
size; masses use ICRP's densities (``structure_amounts``).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from ..errors import InputError
from ..sources.segmentation import Segment, Segmentation
from ..sources.slices import interpolate_slices, slice_factor
from ..structures import lookup

PREFIX = "phantom:icrp110-"


@dataclass(frozen=True)
class Grid:
    code: str  # AM / AF
    shape: tuple[int, int, int]  # columns, rows, slices
    voxel_mm: tuple[float, float, float]


#: ICRP Publication 110, Table 3 (as in Geant4's example: its README and control files).
GRIDS = {
    "male": Grid("AM", (254, 127, 222), (2.137, 2.137, 8.0)),
    "female": Grid("AF", (299, 137, 348), (1.775, 1.775, 4.84)),
}
SKIN_CAP = 141  # the skin of the first and last slice: in the voxels, not in the organ table
MASS_CHECK = ("liver", "brain", "spleen", "pancreas", "thyroid_gland")  # against ICRP 89
MASS_TOLERANCE = 0.05


def data_folder(data_dir: str | os.PathLike | None = None) -> Path:
    from ..userdirs import default_data_dir

    return (Path(data_dir) if data_dir else default_data_dir()) / "phantoms"


def stored_path(sex: str, data_dir=None) -> Path:
    return data_folder(data_dir) / f"icrp110-{sex}.npz"


# -- reading the user's files ------------------------------------------------------------------

def read_organs(path: Path) -> dict[int, tuple[int, float]]:
    """``<code>_organs.dat``: organ ID -> (medium, density g/cm3)."""
    out = {}
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        fields = line.split()
        if len(fields) < 4 or not fields[0].isdigit():
            continue  # the header
        try:
            out[int(fields[0])] = (int(fields[-2]), float(fields[-1]))
        except ValueError:
            raise InputError(path, f"line {number}: expected 'ID name medium density', got {line.strip()!r}") from None
    if not out:
        raise InputError(path, "no organ rows ('ID name medium density') in the organ table")
    return out


def _integers(path: Path, text: bytes, count: int, what: str) -> np.ndarray:
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        raise InputError(path, f"{what}: expected whitespace-separated organ IDs (integers)") from None
    if values.size != count:
        raise InputError(path, f"{what}: expected {count:,} organ IDs, found {values.size:,}")
    return values


def read_dat(path: Path, grid: Grid) -> np.ndarray:
    """ICRP's ``AM.dat``/``AF.dat`` -> (columns, rows, slices) organ IDs."""
    nx, ny, nz = grid.shape
    values = _integers(path, path.read_bytes(), nx * ny * nz, f"the {grid.code} phantom ({nx} x {ny} x {nz})")
    return values.reshape(nz, ny, nx).transpose(2, 1, 0)


def read_slices(folder: Path, grid: Grid) -> np.ndarray:
    """Geant4's ``<code>_slice<N>.g4dat`` files -> (columns, rows, slices) organ IDs."""
    nx, ny, nz = grid.shape
    out = np.empty((nx, ny, nz), dtype=np.int64)
    for k in range(nz):
        path = folder / f"{grid.code}_slice{k + 1}.g4dat"
        if not path.is_file():
            raise InputError(path, f"missing: the {grid.code} phantom has {nz} slices")
        values = _integers(path, path.read_bytes(), nx * ny + 3, f"slice {k + 1} (a 3-number header, {nx} x {ny} IDs)")
        if tuple(values[:2]) != (nx, ny):
            raise InputError(path, f"the header says {values[0]} x {values[1]} voxels, "
                                   f"the {grid.code} phantom has {nx} x {ny}")
        out[:, :, k] = values[3:].reshape(ny, nx).T
    return out


def _find(root: Path, name: str) -> Path | None:
    hits = sorted(root.rglob(name))
    return hits[0] if hits else None


def find_inputs(root: Path, grid: Grid) -> tuple[Path, Path, str] | None:
    """(organ table, voxel file or slice folder, format) of one sex below ``root``."""
    organs = _find(root, f"{grid.code}_organs.dat")
    dat = _find(root, f"{grid.code}.dat")
    first = _find(root, f"{grid.code}_slice1.g4dat")
    if organs is None and (dat or first):
        raise InputError(root, f"found the {grid.code} voxels but not {grid.code}_organs.dat (ICRP's organ table)")
    if organs is None:
        return None
    if dat is not None:
        return organs, dat, "ICRP Publication 110 electronic files"
    if first is not None:
        return organs, first.parent, "Geant4 ICRP110_HumanPhantoms layout"
    raise InputError(root, f"found {organs.name} but no {grid.code}.dat or {grid.code}_slice<N>.g4dat files")


# -- checking, storing -------------------------------------------------------------------------

def _density(organs: dict[int, tuple[int, float]], organ: int) -> float:
    """The organ table's density; the skin caps (141, not in the table) as trunk skin."""
    return organs[organ][1] if organ in organs else organs.get(123, (0, 1.09))[1]


def _mapping() -> list[tuple[int, str, str]]:
    text = (resources.files("arkit_py") / "data" / "icrp110_structures.csv").read_text(encoding="utf-8")
    return [(int(r["id"]), r["structure"], r["wall"]) for r in csv.DictReader(io.StringIO(text))]


def _grouped(walls: bool) -> list[tuple[int, str]]:
    """(organ ID, structure name) with contents in their organ unless ``walls``; ``{side}``
    stays in the names of bones split at the midline."""
    return [(organ, wall if (wall and not walls) else structure) for organ, structure, wall in _mapping()]


def structure_amounts(ids: np.ndarray, organs: dict[int, tuple[int, float]], grid: Grid, *,
                      walls: bool = False) -> tuple[dict[str, float], dict[str, float]]:
    """(structure name -> mass g, -> volume mL) from the voxels and ICRP's densities, as
    ``phantom_from_spec`` groups them (sided bones split at the midline). One count per
    organ and column, a column at a time."""
    nx = ids.shape[0]
    per_column = np.stack([np.bincount(ids[i].ravel(), minlength=SKIN_CAP + 1) for i in range(nx)], axis=1)
    left = np.arange(nx) >= _midline(ids)
    ml = float(np.prod(grid.voxel_mm)) / 1000.0
    masses: dict[str, float] = {}
    volumes: dict[str, float] = {}
    for organ, name in _grouped(walls):
        counts = per_column[organ]
        if "{side}" in name:
            halves = ((name.replace("{side}", "right"), counts[~left].sum()),
                      (name.replace("{side}", "left"), counts[left].sum()))
        else:
            halves = ((name, counts.sum()),)
        for key, count in halves:
            if count:
                volumes[key] = volumes.get(key, 0.0) + float(count) * ml
                masses[key] = masses.get(key, 0.0) + float(count) * ml * _density(organs, organ)
    return masses, volumes


def check(ids: np.ndarray, organs: dict[int, tuple[int, float]], grid: Grid, path: Path,
          reference_g: dict[str, float] | None = None) -> dict[str, float]:
    """Refuse what is not the ICRP phantom: unknown IDs; masses (voxels x the organ table's
    densities) more than 5 % from ``reference_g`` (ICRP 89's, which ICRP 110 was built to)
    for the organs of ``MASS_CHECK``. Returns the structures' masses."""
    present = set(np.unique(ids).tolist())
    unknown = sorted(present - set(organs) - {0, SKIN_CAP})
    if unknown:
        raise InputError(path, f"organ IDs not in the organ table: {', '.join(map(str, unknown[:10]))}")
    masses = structure_amounts(ids, organs, grid)[0]
    for name in MASS_CHECK if reference_g else ():
        want, got = reference_g.get(name), masses.get(name, 0.0)
        if want:
            if abs(got - want) > MASS_TOLERANCE * want:
                raise InputError(path, f"{name}: {got:.0f} g from the voxels and densities, ICRP 89 gives {want:.0f} g")
    return masses


def import_icrp110(path: str | os.PathLike, *, data_dir=None, grids: dict[str, Grid] | None = None,
                   reference_g: dict[str, dict[str, float]] | None = None) -> dict[str, dict]:
    """Read one sex or both below ``path``, check them (``reference_g``: per sex, the masses
    to check against) and store them; returns, per sex, where it was stored and what was
    read."""
    root = Path(path)
    if not root.is_dir():
        raise InputError(root, "not a folder (give the folder holding your copy of the ICRP 110 files)")
    grids = grids or GRIDS
    done = {}
    for sex, grid in grids.items():
        found = find_inputs(root, grid)
        if found is None:
            continue
        organs_path, voxels, kind = found
        organs = read_organs(organs_path)
        ids = read_dat(voxels, grid) if voxels.is_file() else read_slices(voxels, grid)
        if ids.min() < 0 or ids.max() > SKIN_CAP:
            raise InputError(voxels, f"organ IDs must be 0 to {SKIN_CAP}, found {ids.min()} to {ids.max()}")
        ids = ids.astype(np.uint8)
        masses = check(ids, organs, grid, voxels, (reference_g or {}).get(sex))
        density = np.zeros(SKIN_CAP + 1, np.float32)
        for organ, (_, rho) in organs.items():
            if organ <= SKIN_CAP:
                density[organ] = rho
        density[SKIN_CAP] = _density(organs, SKIN_CAP)
        target = stored_path(sex, data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, ids=ids, voxel_mm=np.array(grid.voxel_mm), density=density,
                                    code=np.array(grid.code))
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        done[sex] = {"stored": str(target), "read": kind, "shape": list(ids.shape), "voxel_mm": list(grid.voxel_mm),
                     "mass_kg": round(sum(masses.values()) / 1000.0, 2),
                     "masses_g": {k: round(v, 1) for k, v in sorted(masses.items())}}
    if not done:
        raise InputError(root, "no ICRP 110 phantom found: expected AM_organs.dat / AF_organs.dat with AM.dat / AF.dat "
                               "or AM_slice<N>.g4dat / AF_slice<N>.g4dat below it")
    return done


# -- phantom:icrp110-male|female ---------------------------------------------------------------

def parse_spec(spec: str) -> dict:
    """``phantom:icrp110-male?walls=1`` -> {"sex", "walls"}."""
    parts = urlsplit(spec)
    sex = parts.path.removeprefix("icrp110-")
    if sex not in GRIDS:
        raise InputError(spec, "unknown phantom: the ICRP 110 phantoms are phantom:icrp110-male and phantom:icrp110-female")
    options = {"sex": sex, "walls": False, "slices": None}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "walls" and value in ("0", "1"):
            options["walls"] = value == "1"
        elif key == "slices" and value in ("1", "2", "3", "4"):
            options["slices"] = int(value)
        else:
            raise InputError(spec, f"unknown phantom option {key}={value} (the options are walls=0|1 and "
                                   "slices=1|2|3|4)")
    return options


def _midline(ids: np.ndarray) -> float:
    """The body's midline as a column index: the centre of the spine's columns."""
    spine = np.isin(ids, np.arange(47, 53))
    columns = np.nonzero(spine.any(axis=(1, 2)))[0] if spine.any() else np.nonzero((ids > 0).any(axis=(1, 2)))[0]
    return float(columns.min() + columns.max() + 1) / 2.0


def load_stored(sex: str, spec: str, data_dir=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    path = stored_path(sex, data_dir)
    if not path.is_file():
        raise InputError(spec, "not imported: run 'arkit phantom import icrp110 PATH' with your copy of the ICRP "
                               "Publication 110 files (ICRP does not let arkit ship them)")
    try:
        with open(path, "rb") as f, np.load(f) as data:
            return data["ids"], data["voxel_mm"], data["density"]
    except (OSError, ValueError, KeyError) as error:
        raise InputError(path, f"cannot read the imported phantom ({error}); import it again") from None


def structure_volumes_and_densities(spec: str, *, data_dir=None) -> tuple[dict[str, float], dict[str, float]]:
    """(structure name -> volume mL, -> density g/mL) of an imported phantom, from ICRP's
    own voxels (never the interpolated slices) and organ densities, grouped as
    ``phantom_from_spec`` groups them; the body filler left out."""
    options = parse_spec(spec)
    ids, voxel_mm, density = load_stored(options["sex"], spec, data_dir)
    organs = {i: (0, float(d)) for i, d in enumerate(density) if d > 0}
    grid = Grid("", tuple(ids.shape), tuple(float(v) for v in voxel_mm))
    masses, volumes = structure_amounts(ids, organs, grid, walls=options["walls"])
    volumes.pop("body", None)
    return volumes, {k: masses[k] / volumes[k] for k in volumes}


def phantom_from_spec(spec: str, *, data_dir=None) -> Segmentation:
    """``phantom:icrp110-male[?walls=1][&slices=N]`` -> Segmentation (RAS, one layer, the
    body as filler). Thick slices are split into N by shape-based interpolation
    (:mod:`arkit_py.sources.slices`; by default as many as make them about as thick as
    the pixels are wide: 4 for the male's 8 mm, 3 for the female's 4.84 mm; ``slices=1``
    keeps ICRP's voxels)."""
    options = parse_spec(spec)
    ids, voxel_mm, _density = load_stored(options["sex"], spec, data_dir)
    mid = _midline(ids)
    names: list[str] = []
    lut = np.zeros((SKIN_CAP + 1, 2), np.int64)  # organ ID -> label (right half, left half)
    for organ, name in _grouped(options["walls"]):
        for half, side in enumerate(("right", "left")):
            resolved = name.replace("{side}", side)
            if resolved not in names:
                names.append(resolved)
            lut[organ, half] = names.index(resolved) + 1
    order = ["body"] + sorted(n for n in names if n != "body")
    relabel = np.zeros(len(names) + 1, np.int64)
    for i, n in enumerate(names):
        relabel[i + 1] = order.index(n) + 1
    lut = relabel[lut]
    left = (np.arange(ids.shape[0]) >= mid)[:, None, None]
    labels = np.where(left, lut[ids, 1], lut[ids, 0]).astype(np.uint8)
    labels[ids == 0] = 0
    dx, dy, dz = (float(v) for v in voxel_mm)
    axis, factor = slice_factor((dx, dy, dz))
    if options["slices"] is not None:
        factor = options["slices"]
    z0 = 0.0
    if factor > 1 and axis == 2:
        labels = interpolate_slices(labels, (dx, dy, dz), axis=2, factor=factor)
        z0 = (0.5 / factor - 0.5) * dz  # the old slices' extent, split: old slice k's centre stays at k dz
        dz /= factor
    # LPS index space to RAS: columns run to the patient's left, rows to the back
    nx, ny, _ = ids.shape
    affine = np.diag([-dx, -dy, dz, 1.0])
    affine[:3, 3] = [dx * (nx - 1) / 2.0, dy * (ny - 1) / 2.0, z0]
    segments = {i + 1: Segment(i + 1, lookup(n)) for i, n in enumerate(order)}
    present = set(np.unique(labels).tolist())
    segments = {k: v for k, v in segments.items() if k in present}
    return Segmentation([labels], affine, segments, body_label=1)

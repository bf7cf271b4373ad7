"""RTSTRUCT (RT Structure Set) -> :class:`Segmentation`: the closed planar contours of each
ROI rasterised onto a voxel grid.

The grid is ``reference``'s when one is given (any object with ``.shape`` and a voxel ->
RAS ``.affine``: an ImageVolume of the planning CT, a Segmentation): contour points are
patient coordinates (DICOM LPS) taken to RAS and through the inverse affine to voxel
indices; a contour lies on a plane of constant i, j or k, and one between two grid planes
goes to the nearest (a contour more than half a spacing off the grid, or not parallel to
its planes, is skipped and counted in a warning). Without a reference the grid is built
from the contours: its k axis along the contour planes' normal, its planes at the
contours' own spacing, ``in_plane_mm`` pixels in-plane, one pixel of margin around them.
Contours are placed by their coordinates only, never by ContourImageSequence.

Several contours of one ROI on one plane combine by the even-odd rule (a contour inside
another is a hole); contours of one ROI from different planes landing on one grid plane
are united. A pixel is inside when its centre is (half-open at the edges: a polygon
whose corners sit on pixel boundaries covers exactly the pixels within them). POINT and
OPEN_* contours are ignored; an ROI without closed contours is logged and skipped.

Labels are the ROI numbers (renumbered 1..N when they are not unique values 1..65535);
names go through :mod:`.names` (an ROI the file interprets as EXTERNAL is the body);
colours from ROIDisplayColor. Overlapping ROIs go to extra layers, and the body outline
becomes the body filler of the first layer, as in :mod:`.seg`.
"""

from __future__ import annotations

import logging
import math
import os

import numpy as np

from ...errors import InputError
from ..memory import check_fits
from ..segmentation import Segment, Segmentation, held_warnings, warn
from .names import structure_for
from .seg import (
    LPS_TO_RAS,
    PARSE_ERRORS,
    _sop_class,
    one_line,
    place_layers,
    plane_step,
    read_dataset,
    sop_class_name,
    unique_indices,
)

log = logging.getLogger("arkit")

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"

#: Contours whose planes are closer than this are on one plane (mm, when building the grid).
PLANE_TOL_MM = 0.05
#: Contour planes of one ROI closer than this are one plane (voxels, on the grid).
_SAME_PLANE_VOXELS = 0.02
#: Crossings within this of a pixel centre count as on it (voxels).
_EPS = 1e-6


def read_rtstruct(path: str | os.PathLike, *, reference=None, in_plane_mm: float = 1.0, dataset=None) -> Segmentation:
    """An RTSTRUCT file -> Segmentation, on ``reference``'s grid or on one built from the
    contours (``in_plane_mm`` in-plane spacing).

    Raises InputError (one line naming the file) for a file that is not a readable RT
    structure set or holds no closed contour on the grid."""
    if not (isinstance(in_plane_mm, (int, float)) and math.isfinite(in_plane_mm) and in_plane_mm > 0):
        raise ValueError(f"read_rtstruct: in_plane_mm must be a positive number, got {in_plane_mm!r}")
    grid = None if reference is None else _reference_grid(reference)
    with held_warnings():
        ds, sop_class = read_dataset(path, "an RTSTRUCT") if dataset is None else (dataset, _sop_class(dataset))
        if sop_class != RTSTRUCT_SOP_CLASS and str(ds.get("Modality", "")).upper() != "RTSTRUCT":
            raise InputError(path, f"is {sop_class_name(sop_class)}, not an RTSTRUCT")
        try:
            rois = _rois(path, ds)
        except InputError:
            raise
        except PARSE_ERRORS as exc:
            raise InputError(path, f"invalid RTSTRUCT ({one_line(exc)})") from None
        if not rois:
            raise InputError(path, "no ROI has a closed planar contour")
        if grid is None:
            grid = contour_grid(path, [c for roi in rois for c in roi.contours], in_plane_mm)
        shape, affine = grid
        check_fits(path, shape, 2)
        return _rasterise(path, rois, shape, affine)


class _Roi:
    __slots__ = ("color", "contours", "external", "label", "name", "number")

    def __init__(self, number, name, color, external):
        self.number, self.name, self.color, self.external = number, name, color, external
        self.contours: list[np.ndarray] = []
        self.label = number


def _rois(path, ds) -> list[_Roi]:
    """The ROIs with closed planar contours (LPS points, (N, 3)), in StructureSetROISequence
    order; ROIs without are logged."""
    names: dict[int, str] = {}
    order: list[int] = []
    for item in ds.get("StructureSetROISequence") or []:
        if "ROINumber" not in item:
            continue
        number = int(item.ROINumber)
        if number not in names:
            order.append(number)
        names[number] = str(item.get("ROIName", "") or "").strip()
    external = set()
    for item in ds.get("RTROIObservationsSequence") or []:
        if str(item.get("RTROIInterpretedType", "") or "").upper() == "EXTERNAL" and "ReferencedROINumber" in item:
            external.add(int(item.ReferencedROINumber))

    rois: dict[int, _Roi] = {}
    ignored: dict[str, int] = {}
    for item in ds.get("ROIContourSequence") or []:
        if "ReferencedROINumber" not in item:
            continue
        number = int(item.ReferencedROINumber)
        if number not in names:
            names[number] = ""
            order.append(number)
        roi = rois.get(number)
        if roi is None:
            roi = rois[number] = _Roi(number, names[number] or f"roi_{number}", _color(item.get("ROIDisplayColor")),
                                      number in external)
        for n, contour in enumerate(item.get("ContourSequence") or []):
            kind = str(contour.get("ContourGeometricType", "") or "").upper()
            if kind != "CLOSED_PLANAR":
                ignored[kind or "untyped"] = ignored.get(kind or "untyped", 0) + 1
                continue
            points = _points(path, contour, roi.name, n)
            if len(points) >= 3:
                roi.contours.append(points)
    if ignored:
        warn(log, "%s: ignored %s contours (only CLOSED_PLANAR ones make volumes)", path,
             ", ".join(f"{count} {kind}" for kind, count in sorted(ignored.items())), level=logging.INFO)
    out = []
    for number in order:
        roi = rois.get(number)
        if roi is None or not roi.contours:
            warn(log, "%s: ROI %d %r has no closed planar contours; skipped", path, number,
                 names.get(number) or f"roi_{number}")
            continue
        out.append(roi)
    numbers = [roi.number for roi in out]
    if len(set(numbers)) != len(numbers) or any(not 1 <= n <= 65535 for n in numbers):
        for label, roi in enumerate(out, 1):
            roi.label = label
    return out


def _points(path, contour, name, n) -> np.ndarray:
    """ContourData as (N, 3) floats, parsed from the raw bytes when pydicom has not yet
    (its per-value DS objects cost ~5 us each: a large structure set holds millions)."""
    element = contour.get_item("ContourData") if "ContourData" in contour else None
    raw = getattr(element, "value", None)
    try:
        if isinstance(raw, bytes):
            text = raw.strip(b" \x00")
            values = np.array(text.split(b"\\"), dtype=np.float64) if text else np.zeros(0)
        else:
            data = contour.get("ContourData")
            values = np.array([float(v) for v in ([data] if isinstance(data, (int, float, str)) else data or [])],
                              dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(path, f"ROI {name!r} contour {n + 1}: ContourData is not numeric") from None
    if values.size % 3 or not np.all(np.isfinite(values)):
        raise InputError(path, f"ROI {name!r} contour {n + 1}: ContourData is not finite x, y, z triples")
    return values.reshape(-1, 3)


def _color(value) -> tuple[float, float, float] | None:
    try:
        rgb = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        return None
    return tuple(v / 255.0 for v in rgb)  # type: ignore[return-value]


# -- grids ---------------------------------------------------------------------------------

def _reference_grid(reference) -> tuple[tuple[int, int, int], np.ndarray]:
    shape = getattr(reference, "shape", None)
    if shape is None and hasattr(reference, "data"):
        shape = reference.data.shape
    affine = getattr(reference, "affine", None)
    if shape is None or affine is None:
        raise TypeError("read_rtstruct: reference needs .shape and .affine (an ImageVolume or a Segmentation)")
    shape = tuple(int(n) for n in tuple(shape)[:3])
    affine = np.asarray(affine, dtype=np.float64)
    if len(shape) != 3 or min(shape) < 1 or affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ValueError("read_rtstruct: reference must have a 3D shape and a finite 4x4 affine")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise ValueError("read_rtstruct: reference affine is singular")
    return shape, affine


def contour_grid(path, contours: list[np.ndarray], in_plane_mm: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """A grid for contours (LPS points): k along their planes' normal at their spacing,
    ``in_plane_mm`` pixels in-plane; (shape, voxel -> RAS affine)."""
    normals, areas = [], []
    for points in contours:
        normal = _newell(points)
        area = float(np.linalg.norm(normal))
        if area > 1e-9:
            normals.append(normal / area)
            areas.append(area)
    if not normals:
        raise InputError(path, "every closed contour has zero area")
    normals, areas = np.array(normals), np.array(areas)
    main = normals[int(np.argmax(areas))]
    signs = np.where(normals @ main < 0, -1.0, 1.0)
    normal = (normals * (signs * areas)[:, None]).sum(0)
    normal /= np.linalg.norm(normal)
    axis = int(np.argmax(np.abs(normal)))
    if normal[axis] < 0:
        normal = -normal
    # contours not parallel to the others do not shape the grid (the rasteriser skips them)
    parallel = []
    for points in contours:
        vector = _newell(points)
        size = float(np.linalg.norm(vector))
        if size > 1e-9 and abs(float(vector @ normal)) >= math.cos(math.radians(1.0)) * size:
            parallel.append(points)
    first = np.eye(3)[next(a for a in range(3) if a != axis)]
    u = first - (first @ normal) * normal
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)

    every = np.concatenate(parallel)
    along = np.array([float((points @ normal).mean()) for points in parallel])
    values = np.sort(along)
    cuts = np.flatnonzero(np.diff(values) > PLANE_TOL_MM) + 1
    planes = np.array([chunk.mean() for chunk in np.split(values, cuts)])
    step, irregular = plane_step(planes, 0.0) if len(planes) > 1 else (float(in_plane_mm), False)
    if irregular:
        warn(log, "%s: contour planes are not evenly spaced; contours placed on the nearest plane of a %.4g mm grid",
             path, step)
    pu, pv = every @ u, every @ v
    h = float(in_plane_mm)
    u0, v0 = float(pu.min()) - h, float(pv.min()) - h
    ni = math.ceil((float(pu.max()) + h - u0) / h) + 1
    nj = math.ceil((float(pv.max()) + h - v0) / h) + 1
    nk = round(float(planes[-1] - planes[0]) / step) + 1
    shape = (ni, nj, nk)
    check_fits(path, shape, 2)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2] = u * h, v * h, normal * step
    lps[:3, 3] = u0 * u + v0 * v + float(planes[0]) * normal
    return shape, LPS_TO_RAS @ lps


def _newell(points: np.ndarray) -> np.ndarray:
    """Twice the polygon's vector area (its normal, length 2 x area) -- Newell's method."""
    nxt = np.roll(points, -1, axis=0)
    return np.cross(points - points[0], nxt - points[0]).sum(0)


# -- rasterising ---------------------------------------------------------------------------

def _rasterise(path, rois: list[_Roi], shape, affine) -> Segmentation:
    to_voxel = np.linalg.inv(affine) @ LPS_TO_RAS
    masks = []
    skipped = 0
    placed_any = False
    structures = {}
    for roi in rois:
        # (plane axis, plane coordinate, slice, polygon in the two other axes)
        items = []
        for points in roi.contours:
            ijk = points @ to_voxel[:3, :3].T + to_voxel[:3, 3]
            spread = np.ptp(ijk, axis=0)
            axis = int(np.argmin(spread))
            if spread[axis] > 0.5:
                skipped += 1  # not parallel to the grid's planes
                continue
            coord = float(ijk[:, axis].mean())
            index = math.floor(coord + 0.5)
            if not 0 <= index < shape[axis]:
                skipped += 1  # more than half a spacing off the grid
                continue
            others = [a for a in range(3) if a != axis]
            items.append((axis, coord, index, ijk[:, others]))
        flat = _fill_roi(items, shape)
        placed_any |= bool(items)
        masks.append((roi.label, flat))
        structure = structure_for(roi.name, roi.color)
        if roi.external and not structure.known:  # the file says it is the patient's outline
            structure = structure_for("body", roi.color)
        structures[roi.label] = structure
    if skipped:
        warn(log, "%s: %d contours lie off the grid or across its planes; skipped", path, skipped)
    if not placed_any or not any(flat.size for _, flat in masks):
        raise InputError(path, "no contour lies on the grid" if not placed_any else
                         "the contours cover no voxel centre of the grid")
    body = next((label for label, flat in masks if structures[label].name == "body" and flat.size), None)
    layers, present = place_layers(shape, masks, body=body)
    if len(layers) > 1:
        warn(log, "%s: overlapping ROIs kept in %d layers", path, len(layers), level=logging.INFO)
    segments = {label: Segment(label, structures[label], present.get(label, 0)) for label, _ in masks}
    return Segmentation(layers=layers, affine=affine, segments=segments,
                        body_label=body if body in present else None)


def _fill_roi(items, shape) -> np.ndarray:
    """Flat C-order voxel indices inside one ROI's contours."""
    if not items:
        return np.zeros(0, dtype=np.int64)
    items.sort(key=lambda item: (item[0], item[1]))
    parts = []
    group: list = []

    def flush():
        if not group:
            return
        axis, _, index, _ = group[0]
        others = [a for a in range(3) if a != axis]
        polygons = [poly for *_, poly in group]
        group.clear()
        # fill only the polygons' bounding box (clipped to the grid), not the whole plane
        every = np.concatenate(polygons)
        size = np.array([shape[others[0]], shape[others[1]]])
        lo = np.clip(np.floor(every.min(0)).astype(np.int64), 0, size)
        hi = np.clip(np.ceil(every.max(0)).astype(np.int64) + 1, 0, size)
        if np.any(hi <= lo):
            return
        inside = polygon_mask([poly - lo for poly in polygons], tuple(int(n) for n in hi - lo))
        a, b = np.nonzero(inside)
        coords = [None, None, None]
        coords[axis] = np.full(a.shape, index, dtype=np.int64)
        coords[others[0]], coords[others[1]] = a + lo[0], b + lo[1]
        parts.append(np.ravel_multi_index(tuple(coords), shape))

    for item in items:
        if group and (item[0] != group[0][0] or item[1] - group[0][1] > _SAME_PLANE_VOXELS):
            flush()
        group.append(item)
    flush()
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return unique_indices(np.concatenate(parts))


def polygon_mask(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """(rows, columns) bool: pixel centres (integer coordinates) inside the polygons by the
    even-odd rule. Each polygon is (N, 2) continuous (row, column) coordinates, closed
    implicitly. A scanline fill, vectorised: every edge's crossings of the pixel rows it
    spans (half-open, so a vertex on a row is counted once) toggle the parity from the
    crossing's column on; a running sum along the rows gives inside / outside."""
    rows, cols = int(shape[0]), int(shape[1])
    toggles = np.zeros(rows * (cols + 1), dtype=np.int32)
    for poly in polygons:
        p = np.asarray(poly, dtype=np.float64)
        q = np.roll(p, -1, axis=0)
        a0, b0, a1, b1 = p[:, 0], p[:, 1], q[:, 0], q[:, 1]
        keep = a0 != a1  # edges along a row cross no row
        a0, b0, a1, b1 = a0[keep], b0[keep], a1[keep], b1[keep]
        lo, hi = np.minimum(a0, a1), np.maximum(a0, a1)
        first = np.clip(np.ceil(lo - _EPS), 0, rows).astype(np.int64)
        stop = np.clip(np.ceil(hi - _EPS), 0, rows).astype(np.int64)
        counts = np.maximum(stop - first, 0)
        total = int(counts.sum())
        if not total:
            continue
        edge = np.repeat(np.arange(len(counts)), counts)
        row = first[edge] + (np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts))
        slope = (b1 - b0) / (a1 - a0)
        col = b0[edge] + (row - a0[edge]) * slope[edge]
        col = np.clip(np.ceil(col - _EPS), 0, cols).astype(np.int64)
        toggles += np.bincount(row * (cols + 1) + col, minlength=toggles.size).astype(np.int32)
    parity = np.cumsum(toggles.reshape(rows, cols + 1)[:, :cols], axis=1) & 1
    return parity.astype(bool)

"""DICOM-SEG (Segmentation Storage, Label Map Segmentation Storage) -> :class:`Segmentation`.

highdicom interprets the object (segment descriptions, frame decoding of BINARY bit-packed,
FRACTIONAL and LABELMAP pixel data, compressed or not); the geometry is read here from the
functional groups: every frame is placed by its own ``PlanePositionSequence`` with the
(shared or per-frame) ``PlaneOrientationSequence`` and ``PixelMeasuresSequence``, never by
the order of the source images it references. The grid spans the frames: voxel i runs
along a frame's row direction (its columns), j along its column direction (its rows), k
along the plane normal (row x column), planes sorted along it and their spacing taken
from the positions (``SpacingBetweenSlices`` refines it when the positions are multiples
of it, and gives it when there is a single plane). Patient coordinates are DICOM LPS; the
affine is voxel -> RAS mm.

- BINARY: a set bit is inside; FRACTIONAL: inside where the value is at least half the
  ``MaximumFractionalValue``; LABELMAP: the pixel value is the segment number.
- Segment labels are the segment numbers; names go through :mod:`.names`
  (``SegmentLabel``, or the segmented property type when the label is only
  ``Segment 1``); colours from ``RecommendedDisplayCIELabValue`` (CIELab -> sRGB).
- Segments that overlap go to extra layers as TotalSegmentator mask folders do: a whole
  segment goes into the first layer where it overlaps nothing. A ``body`` segment (Body,
  Skin, External) becomes the body filler of the first layer.

Only geometry, label values, structure names and colours leave this module.
"""

from __future__ import annotations

import logging
import os
import re

import numpy as np

from ...errors import InputError
from ..memory import check_fits
from ..segmentation import Segment, Segmentation, held_warnings, place_mask, warn
from .names import structure_for

log = logging.getLogger("arkit")

SEG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation Storage",
    "1.2.840.10008.5.1.4.1.1.66.7": "Label Map Segmentation Storage",
}

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])

#: Frames or planes closer than this along the normal are one plane (mm).
PLANE_TOL_MM = 0.01
#: A frame's in-plane offset must be a whole number of pixels to within this (pixels).
PIXEL_TOL = 0.01

#: Errors pydicom and highdicom raise on malformed content (values parsed lazily).
PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError,
                 NotImplementedError, RuntimeError, EOFError, OSError)

_GENERIC_LABEL = re.compile(r"\s*((segment|label|seg|roi)[\s_#-]*\d*|\d*)\s*", re.IGNORECASE)


# -- shared with rtstruct ------------------------------------------------------------------

def read_dataset(path: str | os.PathLike, what: str):
    """One DICOM file as a pydicom Dataset (files without a preamble too), or InputError.

    ``what`` names the expected object in messages (``a DICOM SEG``)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    if os.path.isdir(path):
        raise InputError(path, f"is a folder; {what} is one file")
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    try:
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError:
            ds = pydicom.dcmread(path, force=True)  # no preamble / file meta: old or hand-made files
        sop_class = str(ds.get("SOPClassUID", "") or getattr(getattr(ds, "file_meta", None),
                                                                "MediaStorageSOPClassUID", "") or "")
    except Exception as exc:  # noqa: BLE001 (hostile bytes: pydicom raises many kinds)
        raise InputError(path, f"not a readable DICOM file ({one_line(exc)})") from None
    if not sop_class:
        raise InputError(path, f"not a DICOM file (no SOP class): expected {what}")
    return ds, sop_class


def _sop_class(ds) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(ds.get("SOPClassUID", "") or getattr(meta, "MediaStorageSOPClassUID", "") or "")


def sop_class_name(uid: str) -> str:
    """A SOP class's name (``CT Image Storage``) for messages; never an instance UID."""
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name and name != uid else "an unknown SOP class"


def place_layers(shape: tuple[int, int, int], masks: list[tuple[int, np.ndarray]], *,
                 body: int | None = None) -> tuple[list[np.ndarray], dict[int, int]]:
    """Label layers from ``[(label, flat C-order voxel indices)]``.

    A whole mask goes into the first layer where it overlaps nothing (a new layer when it
    overlaps every one), so labels stay unique across layers and every label lives in one
    layer. ``body``'s mask is not layered: it fills the voxels of the first layer that no
    other structure holds (the body filler). Returns (layers, label -> layer) for the labels
    with voxels."""
    top = max([label for label, _ in masks] + [1])
    if top > 65535:
        raise ValueError(f"label {top} does not fit in uint16")
    dtype = np.uint8 if top <= 255 else np.uint16
    layers = [np.zeros(shape, dtype=dtype)]
    present: dict[int, int] = {}
    body_index = None
    for label, index in masks:
        if label == body:
            body_index = index
            continue
        if index.size == 0:
            continue
        present[label] = place_mask(layers, index, label)
    if body_index is not None and body_index.size:
        flat = layers[0].reshape(-1)
        free = body_index[flat[body_index] == 0]
        if free.size:
            flat[free] = body
            present[body] = 0
    return layers, present


def unique_indices(index: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int array (sort-based: numpy 2's hashing np.unique is
    ten times slower on voxel index arrays)."""
    index = np.sort(index)
    if index.size > 1:
        index = index[np.concatenate(([True], index[1:] != index[:-1]))]
    return index


def one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


# -- the reader ----------------------------------------------------------------------------

def read_dicom_seg(path: str | os.PathLike, *, dataset=None) -> Segmentation:
    """A DICOM-SEG file -> Segmentation (label = segment number; overlaps in extra layers).
    ``dataset``: the file already read (a member of a zip); ``path`` then only names it.

    Raises InputError (one line naming the file) for anything that is not a readable SEG
    with patient-coordinate frames."""
    with held_warnings():
        ds, sop_class = read_dataset(path, "a DICOM SEG") if dataset is None else (dataset, _sop_class(dataset))
        if sop_class not in SEG_SOP_CLASSES:
            raise InputError(path, f"is {sop_class_name(sop_class)}, not a DICOM SEG")
        try:
            return _read(path, ds)
        except InputError:
            raise
        except MemoryError:
            raise InputError(path, "segmentation too large for memory") from None
        except PARSE_ERRORS as exc:
            raise InputError(path, f"invalid DICOM SEG ({one_line(exc)})") from None


def _read(path, ds) -> Segmentation:
    import highdicom as hd

    try:
        seg = hd.seg.Segmentation.from_dataset(ds, copy=False)
    except PARSE_ERRORS as exc:
        raise InputError(path, f"invalid DICOM SEG ({one_line(exc)})") from None
    kind = str(getattr(seg.segmentation_type, "value", seg.segmentation_type)).upper()
    if kind not in ("BINARY", "FRACTIONAL", "LABELMAP"):
        raise InputError(path, f"unsupported SegmentationType {kind!r}")
    threshold = 1
    if kind == "FRACTIONAL":
        top = int(ds.get("MaximumFractionalValue") or 0)
        if top <= 0:
            raise InputError(path, "FRACTIONAL segmentation without a positive MaximumFractionalValue")
        threshold = top * 0.5

    frames = _frame_geometry(path, ds, labelmap=kind == "LABELMAP")
    shape, affine, places = _grid(path, ds, frames)
    check_fits(path, shape, 2)

    described = {}
    for item in ds.get("SegmentSequence") or []:
        if "SegmentNumber" in item:
            described[int(item.SegmentNumber)] = item

    nj, nk = shape[1], shape[2]
    voxels: dict[int, list[np.ndarray]] = {}
    for f, (segment, _) in enumerate(frames):
        frame = _decode(path, seg, f)
        if frame.shape != (int(ds.Rows), int(ds.Columns)):
            raise InputError(path, f"frame {f + 1} has shape {frame.shape}, expected Rows x Columns")
        di, dj, k = places[f]
        if kind == "LABELMAP":
            rows, cols = np.nonzero(frame)
            values = frame[rows, cols]
            flat = ((cols.astype(np.int64) + di) * nj + (rows + dj)) * nk + k
            order = np.argsort(values, kind="stable")
            values, flat = values[order], flat[order]
            cuts = np.flatnonzero(np.diff(values)) + 1
            for chunk_values, chunk in zip(np.split(values, cuts), np.split(flat, cuts)):
                if chunk.size and chunk_values[0] > 0:
                    voxels.setdefault(int(chunk_values[0]), []).append(chunk)
            continue
        inside = frame >= threshold if kind == "FRACTIONAL" else frame != 0
        rows, cols = np.nonzero(inside)
        if rows.size and segment > 0:
            flat = ((cols.astype(np.int64) + di) * nj + (rows + dj)) * nk + k
            voxels.setdefault(segment, []).append(flat)

    labels = sorted(set(described) | set(voxels))
    labels = [label for label in labels if label > 0]
    if not any(label in voxels for label in labels):
        raise InputError(path, "empty segmentation: no frame has a segment pixel")
    undescribed = sorted(set(voxels) - set(described))
    if undescribed:
        warn(log, "%s: segment numbers %s have pixels but no SegmentSequence item", path,
             ", ".join(map(str, undescribed[:5])))
    if max(labels) > 65535:
        raise InputError(path, f"segment number {max(labels)} is above 65535")

    structures = {label: _structure(described.get(label), label) for label in labels}
    body = next((label for label in labels if structures[label].name == "body" and label in voxels), None)
    masks = [(label, unique_indices(np.concatenate(voxels[label])) if label in voxels else np.zeros(0, np.int64))
             for label in labels]
    voxels.clear()
    layers, present = place_layers(shape, masks, body=body)
    if len(layers) > 1:
        warn(log, "%s: overlapping segments kept in %d layers", path, len(layers), level=logging.INFO)
    segments = {label: Segment(label, structures[label], present.get(label, 0)) for label in labels}
    return Segmentation(layers=layers, affine=affine, segments=segments,
                        body_label=body if body in present else None)


# -- geometry ------------------------------------------------------------------------------

def _frame_geometry(path, ds, *, labelmap: bool) -> list[tuple[int, tuple]]:
    """Per frame: (segment number or 0 for a label map, (position, orientation, spacing,
    spacing between slices, slice thickness))."""
    count = int(ds.get("NumberOfFrames") or 1)
    shared = ds.get("SharedFunctionalGroupsSequence")
    shared = shared[0] if shared else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is None or len(per_frame) != count:
        raise InputError(path, f"PerFrameFunctionalGroupsSequence has {0 if per_frame is None else len(per_frame)} "
                         f"items for {count} frames")

    def item(group, keyword):
        for where in (group, shared):
            if where is not None and keyword in where and len(where[keyword].value):
                return where[keyword].value[0]
        return None

    out = []
    for f, group in enumerate(per_frame):
        position = item(group, "PlanePositionSequence")
        if position is None or "ImagePositionPatient" not in position:
            if item(group, "PlanePositionSlideSequence") is not None:
                raise InputError(path, "a slide-microscopy SEG (frames on a slide, not in patient coordinates)")
            raise InputError(path, f"frame {f + 1} has no PlanePositionSequence ImagePositionPatient")
        orientation = item(group, "PlaneOrientationSequence")
        measures = item(group, "PixelMeasuresSequence")
        if orientation is None or "ImageOrientationPatient" not in orientation:
            raise InputError(path, f"frame {f + 1} has no PlaneOrientationSequence ImageOrientationPatient")
        if measures is None or "PixelSpacing" not in measures:
            raise InputError(path, f"frame {f + 1} has no PixelMeasuresSequence PixelSpacing")
        segment = 0
        if not labelmap:
            ident = item(group, "SegmentIdentificationSequence")
            if ident is None or "ReferencedSegmentNumber" not in ident:
                raise InputError(path, f"frame {f + 1} has no SegmentIdentificationSequence")
            segment = int(ident.ReferencedSegmentNumber)
        geometry = (
            _floats(path, position.ImagePositionPatient, 3, f"frame {f + 1} ImagePositionPatient"),
            _floats(path, orientation.ImageOrientationPatient, 6, f"frame {f + 1} ImageOrientationPatient"),
            _floats(path, measures.PixelSpacing, 2, f"frame {f + 1} PixelSpacing"),
            _optional_float(measures.get("SpacingBetweenSlices")),
            _optional_float(measures.get("SliceThickness")),
        )
        out.append((segment, geometry))
    if not out:
        raise InputError(path, "no frames")
    return out


def _floats(path, value, n: int, what: str) -> np.ndarray:
    items = [value] if isinstance(value, (str, bytes, int, float)) else value
    try:
        values = np.array([float(v) for v in items], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(path, f"{what} is not numeric") from None
    if values.shape != (n,) or not np.all(np.isfinite(values)):
        raise InputError(path, f"{what} must be {n} finite numbers")
    return values


def _optional_float(value) -> float | None:
    try:
        v = abs(float(value))
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v > 0 else None


def orientation_axes(path, iop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit row direction, column direction and normal (row x column) in LPS, from an
    ImageOrientationPatient; InputError when they are not two orthogonal directions."""
    row, col = iop[:3], iop[3:]
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if nr < 1e-6 or nc < 1e-6:
        raise InputError(path, "ImageOrientationPatient has a zero direction")
    row, col = row / nr, col / nc
    if abs(float(row @ col)) > 1e-3:
        raise InputError(path, "ImageOrientationPatient row and column directions are not orthogonal")
    col = col - (row @ col) * row
    col /= np.linalg.norm(col)
    return row, col, np.cross(row, col)


def _grid(path, ds, frames):
    """(shape, voxel -> RAS affine, per frame (i offset, j offset, k)) for the frames."""
    geometry = [g for _, g in frames]
    iop, spacing = geometry[0][1], geometry[0][2]
    for n, g in enumerate(geometry):
        if not np.allclose(g[1], iop, atol=1e-4):
            raise InputError(path, f"frame {n + 1} has another orientation than frame 1: "
                             "frames of one SEG must share one orientation")
        if not np.allclose(g[2], spacing, rtol=1e-4, atol=1e-6):
            raise InputError(path, f"frame {n + 1} has another PixelSpacing than frame 1")
    if np.any(spacing <= 0):
        raise InputError(path, "PixelSpacing must be positive")
    row, col, normal = orientation_axes(path, iop)
    dy, dx = float(spacing[0]), float(spacing[1])  # PixelSpacing: between rows, between columns
    positions = np.array([g[0] for g in geometry])
    ref = positions[0]
    rel = positions - ref
    di = rel @ row / dx
    dj = rel @ col / dy
    if np.any(np.abs(di - np.rint(di)) > PIXEL_TOL) or np.any(np.abs(dj - np.rint(dj)) > PIXEL_TOL):
        raise InputError(path, "frames are offset in-plane by a fraction of a pixel: not on one grid")
    di, dj = np.rint(di).astype(np.int64), np.rint(dj).astype(np.int64)
    # the grid's origin: the top-left pixel of the left/top-most frame, on the first plane
    first_i, first_j = int(di.min()), int(dj.min())
    di, dj = di - first_i, dj - first_j

    along = positions @ normal
    planes = _planes(along)
    between = [g[3] for g in geometry if g[3]] + [None]
    thickness = [g[4] for g in geometry if g[4]] + [None]
    if len(planes) == 1:
        step, irregular = float(between[0] or thickness[0] or 1.0), False
    else:  # SliceThickness is no spacing (overlapping or gapped reconstructions)
        step, irregular = plane_step(planes, between[0] or 0.0)
    if len(planes) == 1 and not (between[0] or thickness[0]):
        warn(log, "%s: one plane and no SpacingBetweenSlices or SliceThickness; taking 1 mm", path)
    if irregular:
        warn(log, "%s: planes are not evenly spaced; frames placed on the nearest plane of a %.4g mm grid",
             path, step)
    k = np.rint((along - planes[0]) / step).astype(np.int64)
    shape = (int(ds.Columns) + int(di.max()), int(ds.Rows) + int(dj.max()), int(k.max()) + 1)
    if shape[2] > 100000:
        raise InputError(path, f"frames span {shape[2]} planes: positions are implausible")

    origin = ref + first_i * dx * row + first_j * dy * col + (planes[0] - ref @ normal) * normal
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = row * dx, col * dy, normal * step, origin
    places = [(int(a), int(b), int(c)) for a, b, c in zip(di, dj, k)]
    return shape, LPS_TO_RAS @ lps, places


def _planes(along: np.ndarray) -> np.ndarray:
    """Distinct plane positions (sorted) of positions along the normal."""
    values = np.sort(along)
    cuts = np.flatnonzero(np.diff(values) > PLANE_TOL_MM) + 1
    return np.array([chunk.mean() for chunk in np.split(values, cuts)])


def plane_step(planes: np.ndarray, hint: float) -> tuple[float, bool]:
    """(plane spacing, irregular?) for sorted plane positions: the smallest gap, or ``hint``
    (SpacingBetweenSlices) when the gaps are whole multiples of it; ``hint`` for one plane."""
    if len(planes) < 2:
        return float(hint), False
    gaps = np.diff(planes)
    step = float(gaps.min())

    def regular(s):
        n = gaps / s
        return bool(np.all(np.abs(n - np.rint(n)) * s <= max(PLANE_TOL_MM, 0.02 * s)))

    if hint and hint < step and step / hint <= 16 and regular(hint):
        return float(hint), False
    return step, not regular(step)


def _decode(path, seg, f: int) -> np.ndarray:
    try:
        if hasattr(seg, "get_stored_frame"):
            return np.asarray(seg.get_stored_frame(f, as_index=True))
        from pydicom.pixels import get_decoder  # highdicom before 0.24

        return np.asarray(get_decoder(seg.file_meta.TransferSyntaxUID).as_array(seg, index=f, raw=True)[0])
    except PARSE_ERRORS as exc:
        syntax = getattr(seg, "transfer_syntax_uid", None)
        name = getattr(syntax, "name", "") or "its transfer syntax"
        raise InputError(path, f"cannot decode frame {f + 1} ({name}): {one_line(exc)}") from None


# -- names and colours ---------------------------------------------------------------------

def _structure(description, number: int):
    if description is None:
        return structure_for(f"segment_{number}")
    color = cielab_to_srgb(description.get("RecommendedDisplayCIELabValue"))
    label = str(description.get("SegmentLabel", "") or "")
    structure = structure_for(label, color) if label.strip() else None
    if structure is not None and (structure.known or not _GENERIC_LABEL.fullmatch(label)):
        return structure
    # a label that only numbers the segment: its segmented property type names it
    meaning = _code_meaning(description.get("SegmentedPropertyTypeCodeSequence"))
    if meaning:
        modifier = _code_meaning(description.get("SegmentedPropertyTypeModifierCodeSequence"))
        typed = structure_for(f"{meaning} {modifier}" if modifier else meaning, color)
        if typed.known or structure is None:
            return typed
    return structure or structure_for(f"segment_{number}", color)


def _code_meaning(sequence) -> str:
    try:
        return str(sequence[0].CodeMeaning).strip() if sequence else ""
    except (AttributeError, IndexError, TypeError):
        return ""


def cielab_to_srgb(value) -> tuple[float, float, float] | None:
    """A DICOM CIELab triple (0..65535 each, the PCS-Lab encoding) -> sRGB 0..1, or None."""
    if value is None:
        return None
    try:
        import highdicom as hd

        lab = tuple(int(v) for v in value)
        if len(lab) != 3 or not all(0 <= v <= 65535 for v in lab):
            return None
        r, g, b = hd.color.CIELabColor.from_dicom_value(lab).to_rgb(clip=True)
    except (TypeError, ValueError, AttributeError):
        return None
    return (float(r) / 255.0, float(g) / 255.0, float(b) / 255.0)

"""TotalSegmentator v2 output -> :class:`Segmentation`.

Two layouts:

- the multi-label NIfTI (``--ml``): read as any NIfTI. Its names come from the label table
  TotalSegmentator writes into the header extension when it is there (the file then says
  which task numbered it); otherwise from the shipped ``total`` task table
  (``data/totalsegmentator_v2.csv``), which is used only when asked for: by calling
  :func:`read_totalsegmentator`, or ``labels="totalsegmentator"`` in
  :func:`arkit_py.sources.load.load_segmentation`. Label values alone are never taken
  as proof that a file is TotalSegmentator's: 1..117 is what any label map holds.
- the folder of one binary mask per structure (``liver.nii.gz``, ...): every mask must be
  on one grid (same shape and affine). Each mask is read once and its voxels written into
  the label volume; a mask that overlaps masks already placed goes whole into an extra
  layer, so nothing is lost and every label lives in one layer.
  Masks named like a ``total`` class keep that class's label value; other names are
  numbered after them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from .labeltables import LabelTable, read_label_table, totalsegmentator_classes
from .memory import check_fits
from .nifti import assemble, label_array, nifti_affine, nifti_data, open_nifti, read_nifti
from .segmentation import Segmentation, place_mask

log = logging.getLogger(__name__)

_MASK_SUFFIXES = (".nii.gz", ".nii")
#: Two grids are the same when their affines agree to this (mm; voxel sizes well above it).
_AFFINE_ATOL = 1e-3


def read_totalsegmentator(path: str | os.PathLike, *, labels: LabelTable | None = None) -> Segmentation:
    """A TotalSegmentator multi-label NIfTI or folder of masks.

    For a file, the header's own label table wins; the shipped v2 ``total`` table names
    the rest. ``labels`` overrides both.
    """
    if os.path.isdir(path):
        return read_mask_folder(path, labels=labels)
    return read_nifti(path, labels=labels, default_labels=read_label_table("totalsegmentator"))


def mask_files(folder: str | os.PathLike) -> list[tuple[str, Path]]:
    """[(structure name, file)] for the NIfTI masks in a folder, sorted by name."""
    out = []
    for entry in sorted(Path(folder).iterdir()):
        lower = entry.name.lower()
        for suffix in _MASK_SUFFIXES:
            if lower.endswith(suffix) and entry.is_file() and not entry.name.startswith("."):
                out.append((entry.name[: -len(suffix)], entry))
                break
    return out


def read_mask_folder(folder: str | os.PathLike, *, labels: LabelTable | None = None,
                     default_labels: LabelTable | None = None) -> Segmentation:
    """A folder of binary NIfTI masks, one per structure, named by file stem.

    All masks must share one grid. Overlaps go to extra layers. ``labels`` overrides names
    by label value (``default_labels`` is accepted for a uniform reader signature; every
    mask is named by its file).
    """
    if not os.path.isdir(folder):
        raise InputError(folder, "no such folder")
    files = mask_files(folder)
    if not files:
        raise InputError(folder, "no NIfTI masks (*.nii.gz, *.nii) in this folder")
    stems = [stem for stem, _ in files]
    if len(set(s.lower() for s in stems)) != len(stems):
        raise InputError(folder, "two masks have the same structure name (e.g. liver.nii and liver.nii.gz)")

    numbers = _numbering(stems)
    top = max(numbers.values())
    if top > 65535:
        raise InputError(folder, f"too many masks ({len(files)})")
    dtype = np.uint8 if top <= 255 else np.uint16

    # Headers first: one grid, and it fits in memory, before any voxel is read.
    images = []
    first = None
    for stem, file in files:
        img, shape = open_nifti(file)
        affine = nifti_affine(img)
        if first is None:
            first = (file, shape, affine)
            check_fits(folder, shape, 2 * np.dtype(dtype).itemsize + img.header.get_data_dtype().itemsize)
        elif shape != first[1]:
            raise InputError(file, f"grid {_x(shape)} differs from {first[0].name} ({_x(first[1])}): "
                             "all masks must share one grid")
        elif not np.allclose(affine, first[2], rtol=0, atol=_AFFINE_ATOL):
            raise InputError(file, f"affine differs from {first[0].name}'s: all masks must share one grid")
        images.append((stem, file, img, shape))
    shape, affine = first[1], first[2]

    layers = [np.zeros(shape, dtype=dtype)]
    present: dict[int, int] = {}
    names: LabelTable = {}
    for stem, file, img, _ in images:
        label = numbers[stem]
        names[label] = (stem, None)
        index = _mask_indices(img, file, shape)
        if index.size == 0:
            log.debug("%s: empty mask", file)
            continue
        present[label] = place_mask(layers, index, label)
    if len(layers) > 1:
        log.info("%s: overlapping masks kept in %d layers", folder, len(layers))
    return assemble(folder, layers, affine, names=names, labels=labels, present=present)


def _numbering(stems: list[str]) -> dict[str, int]:
    """TotalSegmentator v2 ``total`` label values for its class names; others after them."""
    classes = {name.lower(): label for label, name in totalsegmentator_classes().items()}
    numbers = {s: classes[s.lower()] for s in stems if s.lower() in classes}
    nxt = max(classes.values()) + 1
    for s in stems:
        if s not in numbers:
            numbers[s] = nxt
            nxt += 1
    return numbers


def _mask_indices(img, file, shape) -> np.ndarray:
    """Flat C-order indices of a binary mask's voxels (one pass over the mask)."""
    raw, slope, inter = nifti_data(img, file, shape)
    if raw.dtype.kind not in "bu" or slope != 1.0 or inter != 0.0:
        raw = label_array(raw, file, slope=slope, inter=inter) if raw.dtype.kind != "b" else raw
    flat = raw.ravel(order="K")
    index = np.flatnonzero(flat)
    if index.size and raw.dtype.kind != "b" and np.any(flat[index] != 1):
        raise InputError(file, f"not a binary mask: values other than 0 and 1 (e.g. {flat[index][flat[index] != 1][0]})")
    if raw.ndim == 3 and raw.flags.f_contiguous and not raw.flags.c_contiguous:
        index = np.ravel_multi_index(np.unravel_index(index, shape, order="F"), shape)
    return index.astype(np.intp, copy=False)


def _x(shape) -> str:
    return "x".join(str(int(n)) for n in shape)

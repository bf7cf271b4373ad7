"""The body outline from a CT (``arkit hologram --ct CT``): the skin surface of the patient,
added as the translucent ``body`` structure when the segmentation has none.

The steps: the CT's voxels above ``threshold_hu`` (air is -1000 HU, fat about -100, the skin
boundary sits around -500) -> the largest connected component and the limbs beside it
(compact in the axial plane; the flat, wide table and mattress go, with blankets and noise)
-> holes closed slice by slice along each axis and in 3D (the lungs and bowel gas
are inside the body) -> sampled onto the segmentation's own grid through both affines
(nearest voxel centre), whatever the two grids' orientations, spacings and extents. Voxels
of the segmentation outside the CT's field of view stay outside the body, except where a
structure already is (a structure always lies inside its body).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..structures import lookup
from .segmentation import Segment, Segmentation

SKIN_HU = -500.0


@dataclass
class CtVolume:
    """HU on a grid: ``data`` (I, J, K) float32, ``affine`` voxel -> RAS mm."""

    data: np.ndarray
    affine: np.ndarray


def read_ct(spec: str | os.PathLike) -> CtVolume:
    """A CT from a NIfTI file or a DICOM folder / zip / file (``DIR?series=N``), in HU."""
    spec = os.fspath(spec)
    lower = spec.lower()
    if lower.endswith((".nii", ".nii.gz")):
        from .nifti import check_affine, nifti_affine, open_nifti
        from .segmentation import held_warnings

        with held_warnings():
            img, shape = open_nifti(spec)  # one 3D volume that fits in memory
            try:
                data = np.asarray(img.get_fdata(dtype=np.float32)).reshape(shape)
            except (OSError, ValueError, EOFError) as error:
                raise InputError(spec, f"corrupt or truncated voxel data ({type(error).__name__})") from None
            return CtVolume(data, check_affine(nifti_affine(img), spec))
    from .dicom.files import select
    from .dicom.series import read_image_series

    volume = read_image_series(select(spec, want="image"))
    if volume.modality not in ("CT", None):
        raise InputError(spec, f"--ct needs a CT, this series is {volume.modality}")
    if volume.data.ndim != 3:
        raise InputError(spec, "--ct needs one 3D CT, this series has several frames")
    return CtVolume(np.asarray(volume.data, dtype=np.float32), volume.affine)


def body_mask(ct: CtVolume, threshold_hu: float = SKIN_HU) -> np.ndarray:
    """The body on the CT's own grid: above ``threshold_hu``, the largest component, holes
    closed."""
    from scipy import ndimage

    inside = ct.data > threshold_hu
    if not inside.any():
        raise InputError(None, f"the CT has no voxel above {threshold_hu:g} HU: is it a CT in HU?")
    labels, n = ndimage.label(inside)
    if n > 1:
        inside = np.isin(labels, _patient_components(labels, ct.affine))
    for axis in range(3):  # gas in the lungs and bowel touches the slice edges only rarely
        inside = np.stack([ndimage.binary_fill_holes(s) for s in np.moveaxis(inside, axis, 0)], axis=0)
        inside = np.moveaxis(inside, 0, axis)
    return ndimage.binary_fill_holes(inside)


def _patient_components(labels: np.ndarray, affine: np.ndarray) -> list[int]:
    """The largest component (the trunk) and the limbs beside it: other components of at
    least 0.3 % of its size whose cross-section in the axial (R, A) plane is compact (the
    narrower side at least 0.3 of the wider). The table and the mattress under the patient
    are flat and wide, so they go; an arm lying beside the trunk stays."""
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    largest = int(np.argmax(sizes))
    keep = [largest]
    rng = np.random.default_rng(0)
    for label in np.flatnonzero(sizes >= 0.003 * sizes[largest]):
        if label == largest:
            continue
        ijk = np.argwhere(labels == label)
        if len(ijk) > 20_000:
            ijk = ijk[rng.choice(len(ijk), 20_000, replace=False)]
        ras = ijk @ affine[:3, :3].T
        extent = np.percentile(ras[:, :2], 98, axis=0) - np.percentile(ras[:, :2], 2, axis=0)
        if extent.min() >= 0.3 * extent.max():
            keep.append(int(label))
    return keep


def resample_mask(mask: np.ndarray, mask_affine: np.ndarray, shape: tuple[int, int, int],
                  affine: np.ndarray) -> np.ndarray:
    """``mask`` (on ``mask_affine``'s grid) at the voxel centres of another grid (nearest
    voxel; False outside the mask's grid). Slab by slab along k, to keep memory small."""
    to_mask = np.linalg.inv(mask_affine) @ affine
    out = np.zeros(shape, dtype=bool)
    ii, jj = np.meshgrid(np.arange(shape[0], dtype=np.float64), np.arange(shape[1], dtype=np.float64), indexing="ij")
    base = to_mask[:3, 0, None, None] * ii + to_mask[:3, 1, None, None] * jj + to_mask[:3, 3, None, None]
    limits = np.array(mask.shape)[:, None, None]
    for k in range(shape[2]):
        idx = np.rint(base + to_mask[:3, 2, None, None] * k).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < limits), axis=0)
        out[:, :, k][ok] = mask[idx[0][ok], idx[1][ok], idx[2][ok]]
    return out


def add_body_from_ct(seg: Segmentation, ct: CtVolume, *, threshold_hu: float = SKIN_HU) -> Segmentation:
    """``seg`` with a ``body`` filler from ``ct`` (unchanged when it has a body already).

    The body becomes the filler label of the first layer (the voxels of the outline that no
    structure occupies), so the hologram draws it as the translucent envelope around them."""
    if seg.body_label is not None or any(s.structure.name == "body" for s in seg.segments.values()):
        return seg
    body = resample_mask(body_mask(ct, threshold_hu), ct.affine, seg.shape, seg.affine)
    layer = seg.layers[0]
    label = max(list(seg.segments) + [0]) + 1
    dtype = layer.dtype if label <= np.iinfo(layer.dtype).max else np.uint16
    layer = layer.astype(dtype)  # a copy: the input stays as it was
    layer[body & (layer == 0)] = label
    segments = dict(seg.segments)
    segments[label] = Segment(label, lookup("body"), 0)
    return Segmentation([layer, *seg.layers[1:]], seg.affine, segments, body_label=label)

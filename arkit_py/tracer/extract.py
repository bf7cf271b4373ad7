"""Time-activity curves measured in a PET: the mean concentration of every labelled
structure in every frame, and samples just inside structure surfaces.

The PET is a :class:`~arkit_py.sources.pet.DynamicPet` (frames in Bq/mL, times after
injection), read by :mod:`arkit_py.sources.pet` (a NIfTI and its PET-BIDS sidecar, or a
DICOM PET series) and reached through the tracer-input registry (:mod:`arkit_py.tracer.inputs`).

Measuring (:func:`extract_curves`): labels on another voxel grid are resampled to the PET
grid by nearest neighbour through the two affines (each PET voxel centre takes the label
of the label voxel it falls in), then one ``np.bincount`` per frame over the labelled PET
voxels gives every structure's sum at once.

Frames: all affines are voxel index -> RAS mm; frame times are seconds after injection.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..errors import InputError
from ..sources.pet import DynamicPet
from ..sources.segmentation import Segmentation
from .curves import Curves

__all__ = ["extract_curves", "labels_on_grid", "sample_inward"]

log = logging.getLogger(__name__)

#: Default depth of :func:`sample_inward`, in PET voxels along the normal.
INWARD_DEPTH_VOXELS = 1.5

#: Largest label value looked up through a dense table (larger ones use a search).
_DENSE_LABELS = 1 << 20


# --- measuring -----------------------------------------------------------------------------

def extract_curves(pet: DynamicPet, seg: Segmentation, *, spec: str = "labels", with_max: bool = False) -> Curves:
    """Mean concentration of every labelled structure in every PET frame.

    pet : the PET (frames in Bq/mL, times after injection).
    seg : the labels, on any grid: layers not on the PET grid are resampled to it by
        nearest neighbour (each PET voxel centre takes the label of the label voxel it falls
        in; outside the label grid is background). All layers count, so a PET voxel can
        belong to several overlapping structures.
    spec : how the user named the labels, for messages.
    with_max : also put each structure's largest voxel value per frame in ``meta['max']``
        ((T, regions) float64, Bq/mL, the columns of ``values``).
    Returns Curves with quantity ``concentration`` (Bq/mL), times the frame mid-times,
    one region per structure that has voxels on the PET grid, named by its canonical name
    (two labels with the same name become ``name_<label>``). ``meta`` holds
    ``volumes_ml`` and ``voxels`` (on the PET grid), ``labels`` (region -> label value),
    ``frame_start_s``, ``frame_duration_s``, and ``warnings`` (the PET's, then structures
    left out).
    Raises InputError when the labels and the PET do not overlap.
    """
    if not seg.layers:
        raise ValueError("extract_curves: the segmentation has no label layers")
    warnings = list(pet.meta.get("warnings", ()))
    keys = np.array(sorted(seg.segments), dtype=np.int64)
    where = pet.source or "the PET"

    maps = labels_on_grid(seg.layers, seg.affine, pet.shape, pet.affine)
    if maps is None:
        raise InputError(spec, f"the labels and {where} do not overlap: no PET voxel centre falls inside the "
                               f"label grid (compare the two affines)")
    vox_parts, col_parts = [], []
    for flat in maps:
        vox = np.flatnonzero(flat)
        col = _columns(flat[vox], keys)
        keep = col >= 0
        vox_parts.append(vox[keep])
        col_parts.append(col[keep])
    vox = np.concatenate(vox_parts)
    col = np.concatenate(col_parts)
    if len(vox) == 0:
        raise InputError(spec, f"no labelled voxel falls inside {where}: the labels and the PET do not overlap")

    n_frames = pet.frames.shape[0]
    flat_frames = pet.frames.reshape(n_frames, -1)
    counts = np.bincount(col, minlength=len(keys))
    sums = np.empty((n_frames, len(keys)), dtype=np.float64)
    for t in range(n_frames):
        sums[t] = np.bincount(col, weights=flat_frames[t, vox], minlength=len(keys))

    present = np.flatnonzero(counts)
    for i in np.flatnonzero(counts == 0):
        label = int(keys[i])
        text = f"{seg.segments[label].structure.name} (label {label}) has no voxel on the PET grid; left out"
        log.warning("extract_curves: %s", text)
        warnings.append(text)
    names = _region_names([(int(keys[i]), seg.segments[int(keys[i])].structure.name) for i in present], warnings)
    values = sums[:, present] / counts[present]
    maxima = None
    if with_max:  # voxels sorted by column once; then one reduceat per frame
        order = np.argsort(col, kind="stable")
        sorted_vox = vox[order]
        starts = np.searchsorted(col[order], present)
        maxima = np.empty((n_frames, len(present)), dtype=np.float64)
        for t in range(n_frames):
            maxima[t] = np.maximum.reduceat(flat_frames[t, sorted_vox], starts)
    voxel_ml = pet.voxel_volume_ml
    meta = {
        "unit": "Bq/mL",
        "labels": {n: int(keys[i]) for n, i in zip(names, present)},
        "voxels": {n: int(counts[i]) for n, i in zip(names, present)},
        "volumes_ml": {n: float(counts[i]) * voxel_ml for n, i in zip(names, present)},
        "frame_start_s": pet.frame_start_s.copy(),
        "frame_duration_s": pet.frame_duration_s.copy(),
        "warnings": warnings,
    }
    if maxima is not None:
        meta["max"] = maxima
    return Curves(pet.mid_times_s.astype(np.float64), tuple(names), values, "concentration", pet.decay_corrected,
                  pet.nuclide, meta)


def labels_on_grid(layers: list[np.ndarray], label_affine: np.ndarray, shape: tuple[int, int, int],
                   affine: np.ndarray) -> list[np.ndarray] | None:
    """Label layers resampled by nearest neighbour onto another grid.

    layers : list of (I', J', K') int arrays on the grid of ``label_affine`` (voxel -> RAS mm).
    shape, affine : the target grid, (I, J, K) and voxel -> RAS mm.
    Returns one flat (I*J*K,) array per layer (C order, the layers' dtype): for every target
    voxel centre, the label of the voxel it falls in (index rounded half up), 0 outside the
    label grid. None when no target voxel centre falls inside the label grid.
    """
    source_shape = tuple(layers[0].shape)
    m = np.linalg.inv(np.asarray(label_affine, dtype=np.float64)) @ np.asarray(affine, dtype=np.float64)
    if source_shape == tuple(shape) and np.allclose(m, np.eye(4), rtol=0.0, atol=1e-4):
        return [np.ravel(layer) for layer in layers]
    linear = m[:3, :3]
    big = np.abs(linear) > 1e-9 * np.abs(linear).max()
    if big.sum(0).max() == 1 and big.sum(1).max() == 1 and big.sum() == 3:
        return _on_grid_axis_aligned(layers, m, big, shape)
    return _on_grid_general(layers, m, shape)


def _on_grid_axis_aligned(layers, m, big, shape):
    """Each label axis follows one target axis: one index vector per axis, then one gather."""
    index, inside = [], None
    for a in range(3):
        p = int(np.flatnonzero(big[a])[0])  # the target axis label axis ``a`` follows
        idx = np.floor(m[a, p] * np.arange(shape[p]) + m[a, 3] + 0.5).astype(np.intp)
        ok = (idx >= 0) & (idx < layers[0].shape[a])
        view = [1, 1, 1]
        view[p] = shape[p]
        index.append(np.clip(idx, 0, layers[0].shape[a] - 1).reshape(view))
        ok = ok.reshape(view)
        inside = ok if inside is None else inside & ok
    if not inside.any():
        return None
    out = []
    for layer in layers:
        values = layer[index[0], index[1], index[2]]
        out.append(np.where(inside, values, 0).astype(layer.dtype, copy=False).ravel())
    return out


def _on_grid_general(layers, m, shape, *, slab_voxels: int = 1 << 21):
    """Any affine: label voxel indices computed slab by slab along the first target axis."""
    n = int(np.prod(shape))
    out = [np.zeros(n, dtype=layer.dtype) for layer in layers]
    grids = [np.arange(k, dtype=np.float64) for k in shape]
    plane = shape[1] * shape[2]
    step = max(1, slab_voxels // max(1, plane))
    source = layers[0].shape
    any_inside = False
    for s0 in range(0, shape[0], step):
        i = grids[0][s0:s0 + step, None, None]
        j, k = grids[1][None, :, None], grids[2][None, None, :]
        index, inside = [], None
        for a in range(3):
            idx = np.floor(m[a, 0] * i + m[a, 1] * j + m[a, 2] * k + (m[a, 3] + 0.5)).astype(np.intp)
            ok = (idx >= 0) & (idx < source[a])
            inside = ok if inside is None else inside & ok
            index.append(idx)
        if not inside.any():
            continue
        any_inside = True
        flat = np.flatnonzero(inside)
        picked = [idx[inside] for idx in index]
        for layer, target in zip(layers, out):
            target[s0 * plane + flat] = layer[picked[0], picked[1], picked[2]]
    return out if any_inside else None


def _columns(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Column of each label value in ``keys`` (sorted), -1 for labels not in it."""
    if len(keys) == 0:
        return np.full(len(values), -1, dtype=np.intp)
    top = int(max(int(keys[-1]), int(values.max()) if len(values) else 0))
    if top < _DENSE_LABELS:
        table = np.full(top + 1, -1, dtype=np.intp)
        table[keys] = np.arange(len(keys))
        return table[values]
    pos = np.clip(np.searchsorted(keys, values), 0, len(keys) - 1)
    return np.where(keys[pos] == values, pos, -1)


def _region_names(items: list[tuple[int, str]], warnings: list[str]) -> list[str]:
    """Canonical names, with ``_<label>`` on every name more than one label shares."""
    seen: dict[str, int] = {}
    for _, name in items:
        seen[name] = seen.get(name, 0) + 1
    names = []
    for label, name in items:
        if seen[name] > 1:
            names.append(f"{name}_{label}")
        else:
            names.append(name)
    shared = sorted(n for n, c in seen.items() if c > 1)
    if shared:
        text = f"several labels are named {', '.join(shared)}: their curves are named <name>_<label>"
        log.warning("extract_curves: %s", text)
        warnings.append(text)
    return names


# --- sampling at surfaces ------------------------------------------------------------------

def sample_inward(pet: DynamicPet, points_ras_mm, inward_normals, *, depth_mm: float | None = None) -> np.ndarray:
    """Every frame sampled a little inside a surface, to colour its vertices.

    points_ras_mm : (n, 3) float, RAS mm, points on a structure's surface.
    inward_normals : (n, 3) float, RAS, pointing into the structure (any length > 0).
    depth_mm : how far inside to sample. None (the default) means 1.5 PET voxels along each
        normal (``INWARD_DEPTH_VOXELS``; for anisotropic voxels the voxel's extent along that
        normal).
    Returns (n, T) float64, Bq/mL: trilinear interpolation of each frame at
    point + depth × unit normal; NaN where that falls outside the PET volume (more than
    half a voxel beyond the outer voxel centres).

    Why inside, and why 1.5 voxels: the PET is blurred by the scanner's resolution, so at
    the true edge of a uniform structure it shows about half the concentration (half the
    blur kernel lies outside). Reconstructed PET voxels are usually about half the
    resolution's FWHM, so 1.5 voxels is about 0.75 FWHM, or 1.8 sigma of a Gaussian blur:
    there a plane edge shows about 96 % of the plateau. Going deeper gains little (99 %
    at one FWHM) and would cross the middle of thin structures (a myocardium or bladder
    wall about three voxels thick), where the opposite side's fall-off begins, and moves
    further from the surface the colour belongs to.
    """
    points = np.asarray(points_ras_mm, dtype=np.float64)
    normals = np.asarray(inward_normals, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"sample_inward: points_ras_mm must be (n, 3), got shape {points.shape}")
    if normals.shape != points.shape:
        raise ValueError(f"sample_inward: inward_normals must be {points.shape} like points_ras_mm, "
                         f"got shape {normals.shape}")
    if not (np.isfinite(points).all() and np.isfinite(normals).all()):
        raise ValueError("sample_inward: points_ras_mm and inward_normals must be finite")
    length = np.linalg.norm(normals, axis=1)
    if np.any(length == 0):
        raise ValueError(f"sample_inward: inward_normals has {int(np.sum(length == 0))} zero vector(s)")
    unit = normals / length[:, None]
    inverse = np.linalg.inv(pet.affine)
    step_vox = unit @ inverse[:3, :3].T  # voxel-index displacement per mm along each normal
    if depth_mm is None:
        shift = INWARD_DEPTH_VOXELS * step_vox / np.linalg.norm(step_vox, axis=1)[:, None]
    else:
        if not (math.isfinite(depth_mm) and depth_mm >= 0):
            raise ValueError(f"sample_inward: depth_mm must be a number >= 0, got {depth_mm!r}")
        shift = depth_mm * step_vox
    coords = points @ inverse[:3, :3].T + inverse[:3, 3] + shift  # (n, 3) voxel indices
    n_frames = pet.frames.shape[0]
    out = np.full((len(points), n_frames), np.nan)
    inside = np.all((coords >= -0.5) & (coords <= np.array(pet.shape) - 0.5), axis=1)
    if inside.any():
        from scipy.ndimage import map_coordinates

        c = coords[inside].T
        for t in range(n_frames):
            out[inside, t] = map_coordinates(pet.frames[t], c, order=1, mode="nearest", output=np.float64)
    return out

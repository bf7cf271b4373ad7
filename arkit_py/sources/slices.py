"""Thick slices made thin: shape-based interpolation of a multi-label volume along its
coarse axis.

A label volume with slices much thicker than its pixels (the ICRP 110 male: 2.1 mm pixels,
8 mm slices) meshes into terraces: every organ's surface is a stack of flat treads one slice
apart, too wide for smoothing to remove. Interpolating the labels themselves removes them
at the source. Each label's signed distance to its boundary is computed within every slice
(positive inside, in mm, clamped to one slice thickness), the distances are interpolated
linearly between neighbouring slices, and each new voxel takes the label whose interpolated
distance is largest (shape-based interpolation, after Raya and Udupa 1990 and Herman et al.
1992, extended to many labels by a maximum over labels). A shape that grows from one slice
to the next grows smoothly in between; a label present in one slice only tapers off toward
its neighbours (the mesher's volume restore then gives every structure back its volume).

The new slices split every old one into ``factor`` equal parts, so the volume covers the
same extent and each old voxel becomes ``factor`` new ones.
"""

from __future__ import annotations

import numpy as np

#: ratios of slice thickness to pixel size below which a volume is left as it is
MIN_RATIO = 2.0
#: at most this many new slices per old one
MAX_FACTOR = 4


def slice_factor(spacing) -> tuple[int, int]:
    """(coarse axis, new slices per old one) for a voxel size: 1 when the coarsest axis is
    less than ``MIN_RATIO`` times the finest of the others."""
    spacing = np.asarray(spacing, dtype=float)
    axis = int(np.argmax(spacing))
    others = np.delete(spacing, axis)
    ratio = spacing[axis] / others.max()
    if ratio < MIN_RATIO:
        return axis, 1
    return axis, int(min(MAX_FACTOR, round(ratio)))


def interpolate_slices(labels: np.ndarray, spacing, *, axis: int, factor: int,
                       keep_counts: bool = True) -> np.ndarray:
    """``labels`` (unsigned ints) with ``factor`` slices for every slice along ``axis``,
    by shape-based interpolation (module docstring). ``factor`` 1 returns a copy.

    keep_counts : a label that interpolation leaves with fewer voxels than ``factor`` x its
        old count (thin or oblique shapes taper between slices) takes back, among the new
        voxels that lie in its old voxels, those where its interpolated distance is
        largest, until its count is restored: every structure keeps its volume, and its
        surface stays the interpolated one wherever it can.
    """
    if labels.ndim != 3:
        raise ValueError(f"interpolate_slices: labels must be 3D, got shape {labels.shape}")
    if factor < 1:
        raise ValueError(f"interpolate_slices: factor must be >= 1, got {factor}")
    if factor == 1:
        return labels.copy()
    grid = _Grid(np.moveaxis(labels, axis, 2), np.asarray(spacing, dtype=float), axis, factor)
    best = np.full(grid.shape, -np.inf, dtype=np.float32)
    out = np.zeros(grid.shape, dtype=labels.dtype)
    for label in np.unique(grid.labels):
        region, value = grid.interpolated(label)
        current = best[region]
        better = value > current
        current[better] = value[better]
        best[region] = current
        labelled = out[region]
        labelled[better] = label
        out[region] = labelled
    del best
    if keep_counts:
        _restore_counts(grid, out)
    return np.ascontiguousarray(np.moveaxis(out, 2, axis))


class _Grid:
    """The volume with its coarse axis last, and where each new slice falls between the old."""

    def __init__(self, labels: np.ndarray, spacing: np.ndarray, axis: int, factor: int):
        self.labels = labels
        nx, ny, nz = labels.shape
        self.shape = (nx, ny, nz * factor)
        self.factor = factor
        self.pixel = np.delete(spacing, axis)
        self.cap = float(spacing[axis])  # distances clamped to one slice thickness (mm)
        # within-slice distances: the slice axis weighs so much that no distance crosses it
        self.sampling = (self.pixel[0], self.pixel[1], 1e6 * self.cap)
        # new slice s sits at old index u = (s + 0.5) / factor - 0.5, between k0 and k0 + 1
        u = (np.arange(nz * factor) + 0.5) / factor - 0.5
        self.k0 = np.clip(np.floor(u).astype(np.int64), 0, nz - 1)
        self.k1 = np.clip(self.k0 + 1, 0, nz - 1)
        self.f = np.clip(u - self.k0, 0.0, 1.0).astype(np.float32)  # 0 before the first centre
        self.margin = int(np.ceil(self.cap / self.pixel.min())) + 1
        # every label's bounding box from one pass (the background's is the whole volume)
        from scipy.ndimage import find_objects

        self.boxes = find_objects(labels)

    def interpolated(self, label) -> tuple[tuple, np.ndarray]:
        """(region of the new volume, the label's interpolated signed distance there)."""
        from scipy.ndimage import distance_transform_edt

        found = self.boxes[label - 1] if label > 0 else None
        if found is None:
            found = tuple(slice(0, n) for n in self.labels.shape)
        pad = (self.margin, self.margin, 1)
        lo = [max(b.start - p, 0) for b, p in zip(found, pad)]
        hi = [min(b.stop + p, n) for b, p, n in zip(found, pad, self.labels.shape)]
        box = self.labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] == label
        signed = distance_transform_edt(box, sampling=self.sampling)
        signed -= distance_transform_edt(~box, sampling=self.sampling)
        signed = np.clip(signed, -self.cap, self.cap).astype(np.float32)
        k0, k1 = self.k0, self.k1
        s = np.flatnonzero(((k0 >= lo[2]) & (k0 < hi[2])) | ((k1 >= lo[2]) & (k1 < hi[2])))
        a = np.clip(k0[s] - lo[2], 0, signed.shape[2] - 1)
        b = np.clip(k1[s] - lo[2], 0, signed.shape[2] - 1)
        value = signed[:, :, a] * (1 - self.f[s]) + signed[:, :, b] * self.f[s]
        return (slice(lo[0], hi[0]), slice(lo[1], hi[1]), s), value


def _restore_counts(grid: _Grid, out: np.ndarray) -> None:
    """Labels short of factor x their old count take back their best old voxels (in place)."""
    top = int(max(grid.labels.max(), out.max())) + 1
    target = np.bincount(grid.labels.ravel(), minlength=top) * grid.factor
    got = np.bincount(out.ravel(), minlength=top)
    for label in np.flatnonzero(got < target):
        if label == 0:
            continue
        region, value = grid.interpolated(label)
        # the old label of every new voxel in the region: new slice s lies in old slice s // factor
        old = grid.labels[region[0], region[1]][:, :, region[2] // grid.factor]
        mine = out[region]
        candidates = (old == label) & (mine != label)
        need = min(int(target[label] - got[label]), int(np.count_nonzero(candidates)))
        if need <= 0:
            continue
        scores = np.where(candidates, value, -np.inf).ravel()
        take = np.argpartition(-scores, need - 1)[:need]
        flat = mine.ravel()
        flat[take] = label
        out[region] = flat.reshape(mine.shape)

"""All labels' surfaces from one pass over a label volume: multi-label surface nets.

Every face lies between two voxels of different labels, so it is shared exactly by the
two structures it separates: neighbours meet without gaps or overlaps, and every surface is
closed (the volume is treated as padded with background). Vertices sit one per boundary
cell (the cube between eight voxel centres), start at the cell centre and are then smoothed
by a Taubin (lambda | mu) filter that does not shrink, each vertex kept inside its own cell
so the surface never strays more than half a voxel from the voxel boundary. A vertex moves
only toward neighbours that border at least the same labels (a vertex on a three-label
junction follows the junction curve), so shared boundaries stay shared.

The volume is read once, row by row, by a compiled kernel (``_netkernels``); no pass per
label, no whole-volume temporaries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SurfaceOptions:
    """smoothing_iterations : Taubin passes (each one lambda and one mu step).
    lam, mu : Taubin factors (pass band k_pb = 1/lam + 1/mu ~ 0.04: the
        shape's low frequencies pass, the voxel staircase does not).
    min_island_voxels : connected pieces of a label smaller than this are merged into
        their surroundings before meshing.
    preserve_volume : after smoothing and decimation, move each patch's free vertices
        along their normals so every structure keeps its voxel-count volume.
    """

    smoothing_iterations: int = 24
    lam: float = 0.5
    mu: float = -0.51
    min_island_voxels: int = 8
    preserve_volume: bool = True


@dataclass
class SurfaceNet:
    """The boundary complex of a label volume.

    vertices : (n, 3) float64, voxel index coordinates (i, j, k) of the input volume.
    faces : (m, 3) int64, triangles; each is oriented with its normal pointing from
        ``pairs[f, 0]`` into ``pairs[f, 1]``.
    pairs : (m, 2) int64, the labels on the two sides of each face (0 = background).
    centres : (n, 3) float32, the vertices before smoothing (cell centres): the surface
        through them encloses exactly the voxels of each label.
    junction : (n,) bool, the vertex borders three or more labels.
    """

    vertices: np.ndarray
    faces: np.ndarray
    pairs: np.ndarray
    centres: np.ndarray | None = None
    junction: np.ndarray | None = None

    def faces_of(self, label: int) -> np.ndarray:
        """The faces bounding ``label``, oriented outward (normals leave the label)."""
        out = self.faces[self.pairs[:, 0] == label]
        inn = self.faces[self.pairs[:, 1] == label][:, ::-1]
        return np.concatenate([out, inn])


def remove_islands(labels: np.ndarray, min_voxels: int, *, skip: frozenset[int] = frozenset()) -> int:
    """Merge connected pieces (6-connectivity) smaller than ``min_voxels`` into the label
    most common around them; in place. Labels are handled in increasing order (a piece
    merged into a later label's piece counts toward that piece's size); labels in ``skip``
    (a filler spanning the whole volume) keep their pieces. Returns the number of voxels
    changed."""
    return island_pass(labels, min_voxels, skip=skip)[0]


def island_pass(labels: np.ndarray, min_voxels: int, *, skip: frozenset[int] = frozenset()) -> tuple[int, np.ndarray]:
    """``remove_islands`` and the voxel count of every label after it, from one labelling
    pass over the volume (``_islandkernels``): (voxels changed, (L,) int64 counts indexed
    by label)."""
    from . import _islandkernels

    if labels.ndim != 3:
        raise ValueError(f"remove_islands: labels must be 3D, got shape {labels.shape}")
    if labels.dtype == np.bool_:
        top = 1
    elif labels.dtype in (np.uint8, np.uint16):
        top = int(np.iinfo(labels.dtype).max)
    else:
        top = int(labels.max()) if labels.size else 0
        if labels.size and int(labels.min()) < 0:
            raise ValueError("remove_islands: labels must not be negative")
    tracked = np.ones(top + 1, dtype=bool)
    tracked[0] = False
    for value in skip:
        if 0 <= value <= top:
            tracked[value] = False
    target = labels if labels.flags.c_contiguous else np.ascontiguousarray(labels)
    changed, counts = _islandkernels.remove(target, tracked, int(min_voxels))
    if target is not labels:
        labels[...] = target
    return int(changed), counts


def surface_net(labels: np.ndarray, *, spacing=(1.0, 1.0, 1.0), binary: bool = False,
                skip_pair: tuple[int, int] | None = None, options: SurfaceOptions = SurfaceOptions()) -> SurfaceNet:
    """The smoothed boundary complex of a label volume.

    labels : (I, J, K) unsigned int, 0 = background.
    spacing : voxel size along each axis (smoothing works in these units, so anisotropic
        voxels smooth evenly).
    binary : mesh ``labels != 0`` against background (the body envelope).
    skip_pair : a label pair whose shared faces are left out (the body filler against
        background, drawn by the envelope pass instead).
    """
    from . import _netkernels

    if labels.ndim != 3:
        raise ValueError(f"surface_net: labels must be 3D, got shape {labels.shape}")
    spacing = np.asarray(spacing, dtype=float)
    if spacing.shape != (3,) or not np.all(spacing > 0):
        raise ValueError(f"surface_net: spacing must be 3 positive numbers, got {tuple(spacing)}")
    if labels.dtype not in (np.uint8, np.uint16, np.int32, np.int64, np.uint32, np.bool_):
        raise ValueError(f"surface_net: labels must be unsigned integers, got {labels.dtype}")
    quads, pairs, cells = _netkernels.extract(np.ascontiguousarray(labels), binary, skip_pair)
    if len(quads) == 0:
        return SurfaceNet(np.zeros((0, 3)), np.zeros((0, 3), np.int32), np.zeros((0, 2), np.int32),
                          np.zeros((0, 3), np.float32), np.zeros(0, bool))
    labels = np.ascontiguousarray(labels)
    junction = _netkernels.junctions(labels, cells, binary)
    # cell centre in the input's voxel index coordinates: padded min corner + 0.5 - 1
    x = (cells - 0.5) * spacing
    if options.smoothing_iterations > 0:
        _netkernels.smooth(labels, cells, quads, x, spacing, binary, junction,
                           options.smoothing_iterations, options.lam, options.mu)
    centre = (cells - np.float32(0.5)).astype(np.float32)
    del cells
    q = len(quads)
    tri = np.empty((2 * q, 3), dtype=quads.dtype)  # each quad (0, 1, 2, 3) as (0, 1, 2) and (0, 2, 3)
    tri[:q] = quads[:, :3]
    tri[q:, 0] = quads[:, 0]
    tri[q:, 1:] = quads[:, 2:]
    del quads
    tri_pairs = np.concatenate([pairs, pairs])
    x /= spacing
    return SurfaceNet(x, tri, tri_pairs, centre, junction)

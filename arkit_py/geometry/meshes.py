"""From a Segmentation to one closed, decimated mesh per structure, in RAS mm.

The steps: merge tiny islands; one multi-label surface net per layer (plus one binary net
for the body envelope when the input has a body filler label); vertices to RAS mm through
the affine; decimation of all patches together to the triangle budget; then each
structure's mesh gathered from the patches that bound it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from ..sources.segmentation import Segmentation
from .decimate import DecimateOptions, decimate, restore_volumes, split_patches
from .junctions import simplify_junctions
from .surfaces import SurfaceOptions, remove_islands, surface_net

log = logging.getLogger(__name__)

ENVELOPE = -1  # key of the body envelope's patch group


@dataclass
class StructureMesh:
    """vertices : (n, 3) float64, RAS mm. faces : (m, 3) uint32, outward-facing."""

    label: int
    vertices: np.ndarray
    faces: np.ndarray


@dataclass
class MeshResult:
    meshes: dict[int, StructureMesh]
    voxel_counts: dict[int, int]
    error_mm: float
    seconds: dict[str, float] = field(default_factory=dict)
    triangles_before: int = 0


def _to_ras(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def _compact(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids, local = np.unique(faces, return_inverse=True)
    return vertices[ids], local.reshape(-1, 3).astype(np.uint32)


def build_meshes(seg: Segmentation, *, labels: set[int] | None = None, surface: SurfaceOptions = SurfaceOptions(),
                 decimation: DecimateOptions = DecimateOptions(), progress=None) -> MeshResult:
    """Meshes for ``labels`` (default: every segment) of ``seg``.

    The body filler (``seg.body_label``) is meshed as the outer envelope of all non-zero
    voxels, so it contains every other structure. Island removal edits ``seg.layers`` in
    place.
    """
    seconds: dict[str, float] = {}
    say = progress or (lambda message: None)
    wanted = set(seg.segments) if labels is None else set(labels)
    spacing = np.linalg.norm(seg.affine[:3, :3], axis=0)

    t = time.perf_counter()
    for layer in seg.layers:
        remove_islands(layer, surface.min_island_voxels,
                       skip=frozenset() if seg.body_label is None else frozenset({seg.body_label}))
    counts = seg.voxel_counts()
    seconds["islands"] = time.perf_counter() - t

    t = time.perf_counter()
    say("surfaces")
    all_vertices, all_faces, all_pairs, all_junction = [], [], [], []
    offset = 0
    body = seg.body_label
    for layer in seg.layers:
        net = surface_net(layer, spacing=spacing, skip_pair=(body, 0) if body is not None else None, options=surface)
        keep = np.isin(net.pairs, list(wanted - {body})).any(axis=1)
        all_vertices.append(_to_ras(seg.affine, net.vertices))
        all_junction.append(net.junction)
        all_faces.append(net.faces[keep] + offset)
        all_pairs.append(net.pairs[keep])
        offset += len(net.vertices)
        del net
    if body is not None and body in wanted:
        if len(seg.layers) == 1:
            union = seg.layers[0]
        else:
            union = np.zeros(seg.shape, dtype=np.uint8)
            for layer in seg.layers:
                union |= layer != 0
        net = surface_net(union, spacing=spacing, binary=True, options=surface)
        envelope_voxels = int(np.count_nonzero(union)) if len(seg.layers) > 1 else sum(counts.values())
        all_vertices.append(_to_ras(seg.affine, net.vertices))
        all_junction.append(np.zeros(len(net.vertices), bool))
        all_faces.append(net.faces + offset)
        # envelope faces point from "inside" (1) to background (0); key them as (ENVELOPE, ...)
        pairs = np.where(net.pairs == 1, ENVELOPE, 0)
        all_pairs.append(pairs)
        offset += len(net.vertices)
        del net
    vertices = np.concatenate(all_vertices) if all_vertices else np.zeros((0, 3))
    junction = np.concatenate(all_junction) if all_junction else np.zeros(0, bool)
    del all_vertices, all_junction
    faces = np.concatenate(all_faces) if all_faces else np.zeros((0, 3), np.int64)
    pairs = np.concatenate(all_pairs) if all_pairs else np.zeros((0, 2), np.int64)
    del all_faces, all_pairs
    seconds["surfaces"] = time.perf_counter() - t

    t = time.perf_counter()
    say("decimation")
    # the envelope key is negative; shift labels so split_patches sees non-negative keys
    shift = 1
    drawn = len(faces) * 2  # at most: patches between two structures are drawn twice
    if decimation.budget is not None and drawn > decimation.budget and len(faces):
        lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]) + shift, np.maximum(pairs[:, 0], pairs[:, 1]) + shift
        faces, good = simplify_junctions(vertices, faces, lo * (int(hi.max()) + 1) + hi,
                                         tolerance=0.5 * float(spacing.min()), max_span=6.0 * float(spacing.max()),
                                         junction=junction)
        faces, pairs = faces[good], pairs[good]
    patches = split_patches(vertices, faces, pairs + shift) if len(faces) else []
    for patch in patches:
        a, b = (k - shift for k in patch.key)
        patch.weight = sum(1 for k in (a, b) if k in wanted and k not in (0, body)) or 1
    if decimation.min_error_mm is None:  # first pass: a fifth of the finest voxel
        decimation = dataclasses.replace(decimation, min_error_mm=0.2 * float(spacing.min()))
    simplified, error = decimate(patches, decimation)
    seconds["decimation"] = time.perf_counter() - t
    t = time.perf_counter()
    if surface.preserve_volume:
        # every structure keeps its voxel-count volume (the unsmoothed net encloses exactly
        # its voxels); the body filler and the background are free
        voxel_mm3 = abs(float(np.linalg.det(seg.affine[:3, :3])))
        targets = {label + shift: counts.get(label, 0) * voxel_mm3 for label in wanted if label not in (0, body)}
        if body is not None and body in wanted:
            targets[ENVELOPE + shift] = envelope_voxels * voxel_mm3
        restore_volumes(vertices, patches, simplified, targets)
    seconds["volume"] = time.perf_counter() - t

    t = time.perf_counter()
    meshes: dict[int, StructureMesh] = {}
    gathered: dict[int, list[np.ndarray]] = {}
    for patch, result in zip(patches, simplified):
        a, b = patch.key[0] - shift, patch.key[1] - shift
        if a == ENVELOPE or b == ENVELOPE:
            owner, f = body, (result.faces if a == ENVELOPE else result.faces[:, ::-1])
            gathered.setdefault(owner, []).append(f)
            continue
        for label, f in ((a, result.faces), (b, result.faces[:, ::-1])):
            if label in wanted and label not in (0, body):
                gathered.setdefault(label, []).append(f)
    for label, parts in gathered.items():
        f = np.concatenate(parts)
        if len(f):
            v, f = _compact(vertices, f)
            meshes[label] = StructureMesh(label, v, f)
    for label in sorted(wanted - set(meshes)):
        if label in seg.segments:
            log.info("build_meshes: %s has no voxels; skipped", seg.segments[label].structure.name)
    seconds["gather"] = time.perf_counter() - t
    return MeshResult(meshes, counts, error, seconds, len(faces))

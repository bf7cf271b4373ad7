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
from .decimate import DecimateOptions, Patch, decimate, prepass, restore_volumes, split_patches
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
    """(n, 3) voxel indices -> RAS mm (column by column: a BLAS matmul of n x 3 by 3 x 3 is
    slower than three scaled adds)."""
    out = np.empty(ijk.shape, dtype=np.float64)
    out[:] = affine[:3, 3]
    for axis in range(3):
        out += ijk[:, axis:axis + 1] * affine[:3, axis]
    return out


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
    # Voxel axes in any order (i -> S, j -> P, k -> L on a sagittal scan) are a rotation and
    # perhaps a reflection of R, A, S. The nets orient faces outward in index space; a
    # reflection (a negative determinant) reverses that orientation in RAS, so faces are
    # re-wound once here, and everything after (decimation, volume restore) sees outward faces.
    mirrored = bool(np.linalg.det(seg.affine[:3, :3]) < 0)

    t = time.perf_counter()
    for layer in seg.layers:
        remove_islands(layer, surface.min_island_voxels,
                       skip=frozenset() if seg.body_label is None else frozenset({seg.body_label}))
    counts = seg.voxel_counts()
    seconds["islands"] = time.perf_counter() - t

    say("surfaces")
    body = seg.body_label
    shift = 1  # the envelope key is negative; patch keys are labels + 1
    if decimation.min_error_mm is None:  # first pass: a fifth of the finest voxel
        decimation = dataclasses.replace(decimation, min_error_mm=0.2 * float(spacing.min()))
    seconds["surfaces"] = seconds["decimation"] = 0.0
    patches: list[Patch] = []
    stored: list[np.ndarray] = []
    offset = 0
    before = 0
    prepassed = False

    def add_net(net, pairs: np.ndarray, keep: np.ndarray | None) -> None:
        """Cut one surface net into patches and, when it alone is heavy, give them their
        first decimation pass at once, so its full-resolution arrays are freed before the
        next net is built. Only the vertices the patches still use are kept."""
        nonlocal offset, before, prepassed
        t0 = time.perf_counter()
        faces = net.faces if keep is None else net.faces[keep]
        if mirrored:  # a left-handed grid turns every triangle inside out in RAS: turn it back
            faces = faces[:, ::-1]
        pairs = (pairs if keep is None else pairs[keep]) + shift
        before += len(faces)
        vertices = _to_ras(seg.affine, net.vertices)
        heavy = decimation.budget is not None and 2 * len(faces) > decimation.budget
        prepassed |= heavy
        if heavy and net.junction is not None and net.junction.any():
            lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
            faces, good = simplify_junctions(vertices, faces, lo * (int(hi.max()) + 1) + hi,
                                             tolerance=0.5 * float(spacing.min()),
                                             max_span=6.0 * float(spacing.max()), junction=net.junction)
            faces, pairs = faces[good], pairs[good]
        mine = split_patches(vertices, faces, pairs) if len(faces) else []
        del faces, pairs
        # a vertex used by more than one patch must never move or vanish: borders are locked
        # by the simplifier anyway, but a collapsed junction can leave a shared vertex that
        # looks interior to one of its patches
        uses = np.zeros(len(vertices), np.uint8)
        for patch in mine:
            uses[patch.global_ids] += 1
        for patch in mine:
            shared = uses[patch.global_ids] > 1
            patch.locked = shared.astype(np.uint8) if shared.any() else None
        del uses
        for patch in mine:
            a, b = (k - shift for k in patch.key)
            patch.weight = sum(1 for k in (a, b) if k in wanted and k not in (0, body)) or 1
            if heavy:
                prepass(patch, decimation.min_error_mm)
        used = np.unique(np.concatenate([p.global_ids for p in mine])) if mine else np.zeros(0, np.uint32)
        for patch in mine:
            patch.global_ids = (np.searchsorted(used, patch.global_ids) + offset).astype(np.uint32)
        stored.append(vertices[used])
        offset += len(used)
        patches.extend(mine)
        seconds["decimation"] += time.perf_counter() - t0

    for layer in seg.layers:
        t = time.perf_counter()
        net = surface_net(layer, spacing=spacing, skip_pair=(body, 0) if body is not None else None, options=surface)
        seconds["surfaces"] += time.perf_counter() - t
        add_net(net, net.pairs, np.isin(net.pairs, list(wanted - {body})).any(axis=1))
        del net
    if body is not None and body in wanted:
        t = time.perf_counter()
        if len(seg.layers) == 1:
            union = seg.layers[0]
        else:
            union = np.zeros(seg.shape, dtype=np.uint8)
            for layer in seg.layers:
                union |= layer != 0
        net = surface_net(union, spacing=spacing, binary=True, options=surface)
        envelope_voxels = int(np.count_nonzero(union)) if len(seg.layers) > 1 else sum(counts.values())
        del union
        seconds["surfaces"] += time.perf_counter() - t
        # envelope faces point from "inside" (1) to background (0); key them as (ENVELOPE, 0)
        add_net(net, np.where(net.pairs == 1, ENVELOPE, 0), None)
        del net
    vertices = np.concatenate(stored) if stored else np.zeros((0, 3))
    stored.clear()  # the concatenated copy is all that is needed now

    t = time.perf_counter()
    say("decimation")
    simplified, error = decimate(patches, decimation)
    if prepassed:
        error = max(error, decimation.min_error_mm)
    seconds["decimation"] += time.perf_counter() - t
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
    return MeshResult(meshes, counts, error, seconds, before)

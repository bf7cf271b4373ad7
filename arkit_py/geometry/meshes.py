"""From a Segmentation to one closed, decimated mesh per structure, in RAS mm.

The kernels, in the order the hologram's steps (``scene/transforms/``) run them: merge tiny
islands (``remove_small_islands``); one multi-label surface net per layer, plus one binary
net for the body envelope when the input has a body filler label, cut into patches with
vertices in RAS mm (``surface_patches``); decimation of all patches together to the triangle
budget (``decimate_patches``); every structure back to its voxel-count volume
(``restore_patch_volumes``); then each structure's mesh gathered from the patches that bound
it (``gather_meshes``). ``build_meshes`` runs them all. Plain numpy, no I/O.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..sources.segmentation import Segmentation
from .decimate import DecimateOptions, Patch, Simplified, _workers, decimate, prepass, restore_volumes, split_patches
from .junctions import simplify_junctions
from .surfaces import SurfaceOptions, island_pass, surface_net

log = logging.getLogger(__name__)

ENVELOPE = -1  # key of the body envelope's patch group
SHIFT = 1  # the envelope key is negative; patch keys are labels + 1


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
    triangles_before: int = 0


@dataclass
class PatchSet:
    """The surface patches of a segmentation, before decimation.

    vertices : (n, 3) float64, RAS mm, shared by all patches (``Patch.global_ids`` index it).
    triangles_before : the nets' triangles, before any decimation.
    min_error_mm : the tolerance of the first decimation pass; ``prepassed`` says whether a
        net was heavy enough to get one (the final error is then at least that tolerance).
    envelope_voxels : the voxels inside the body envelope (0 without one).
    """

    patches: list[Patch]
    vertices: np.ndarray
    triangles_before: int
    min_error_mm: float
    prepassed: bool = False
    envelope_voxels: int = 0


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


def _spacing(seg: Segmentation) -> np.ndarray:
    return np.linalg.norm(seg.affine[:3, :3], axis=0)


def default_min_error_mm(seg: Segmentation) -> float:
    """The decimation's smallest tolerance when none is given: a fifth of the finest voxel."""
    return 0.2 * float(_spacing(seg).min())


def remove_small_islands(seg: Segmentation, min_voxels: int) -> dict[int, int]:
    """Merge every label's pieces smaller than ``min_voxels`` into their surroundings (the
    body filler keeps its pieces), editing ``seg.layers`` in place; returns the voxel counts
    after (from the same pass)."""
    skip = frozenset() if seg.body_label is None else frozenset({seg.body_label})
    total = np.zeros(1, dtype=np.int64)
    for layer in seg.layers:
        counts = island_pass(layer, min_voxels, skip=skip)[1]
        if len(counts) > len(total):
            total = np.pad(total, (0, len(counts) - len(total)))
        total[: len(counts)] += counts
    return {int(label): int(total[label]) for label in np.flatnonzero(total) if label}


def surface_patches(seg: Segmentation, wanted: set[int], *, counts: dict[int, int],
                    surface: SurfaceOptions = SurfaceOptions(), budget: int | None = None,
                    min_error_mm: float | None = None) -> PatchSet:
    """The surface nets of ``wanted`` (and the body envelope when the body filler is
    wanted), cut into patches between label pairs.

    A net whose faces alone exceed twice ``budget`` gets its first decimation pass (at
    ``min_error_mm``, default ``default_min_error_mm``) as it is cut, so its full-resolution
    arrays are freed before the next net is built. ``counts`` are the voxel counts
    (``remove_small_islands``).
    """
    spacing = _spacing(seg)
    if min_error_mm is None:
        min_error_mm = default_min_error_mm(seg)
    # Voxel axes in any order (i -> S, j -> P, k -> L on a sagittal scan) are a rotation and
    # perhaps a reflection of R, A, S. The nets orient faces outward in index space; a
    # reflection (a negative determinant) reverses that orientation in RAS, so faces are
    # re-wound once here, and everything after (decimation, volume restore) sees outward faces.
    mirrored = bool(np.linalg.det(seg.affine[:3, :3]) < 0)
    body = seg.body_label
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
        faces = net.faces
        if keep is not None and not keep.all():
            faces, pairs = faces[keep], pairs[keep]
        before += len(faces)
        vertices = _to_ras(seg.affine, net.vertices)
        heavy = budget is not None and 2 * len(faces) > budget
        prepassed |= heavy
        good = None
        if heavy and net.junction is not None and net.junction.any():
            lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
            faces, good = simplify_junctions(vertices, faces, lo.astype(np.int64) * (int(hi.max()) + 1) + hi,
                                             tolerance=0.5 * float(spacing.min()),
                                             max_span=6.0 * float(spacing.max()), junction=net.junction)
            del lo, hi
        # patch keys are labels + SHIFT; a left-handed grid turns every triangle inside out
        # in RAS, so there each face is turned back
        mine = split_patches(vertices, faces, pairs, mask=good, shift=SHIFT, mirror=mirrored)
        del faces, pairs
        for patch in mine:
            a, b = (k - SHIFT for k in patch.key)
            patch.weight = sum(1 for k in (a, b) if k in wanted and k not in (0, body)) or 1
        if heavy:  # patches are independent (the simplifier drops the GIL): a few at a time
            with ThreadPoolExecutor(_workers()) as pool:
                for _ in pool.map(lambda patch: prepass(patch, min_error_mm), mine):
                    pass
        used = np.unique(np.concatenate([p.global_ids for p in mine])) if mine else np.zeros(0, np.uint32)
        for patch in mine:
            patch.global_ids = (np.searchsorted(used, patch.global_ids) + offset).astype(np.uint32)
        stored.append(vertices[used])
        offset += len(used)
        patches.extend(mine)

    for layer in seg.layers:
        net = surface_net(layer, spacing=spacing, skip_pair=(body, 0) if body is not None else None, options=surface)
        table = np.zeros(int(net.pairs.max(initial=0)) + 1, dtype=bool)  # label -> wanted
        table[[k for k in wanted - {body} if 0 <= k < len(table)]] = True
        add_net(net, net.pairs, table[net.pairs[:, 0]] | table[net.pairs[:, 1]])
        del net
    envelope_voxels = 0
    if body is not None and body in wanted:
        if len(seg.layers) == 1:
            union = seg.layers[0]
        else:
            union = np.zeros(seg.shape, dtype=np.uint8)
            for layer in seg.layers:
                union |= layer != 0
        net = surface_net(union, spacing=spacing, binary=True, options=surface)
        envelope_voxels = int(np.count_nonzero(union)) if len(seg.layers) > 1 else sum(counts.values())
        del union
        # envelope faces point from "inside" (1) to background (0); key them as (ENVELOPE, 0)
        add_net(net, np.where(net.pairs == 1, ENVELOPE, 0), None)
        del net
    vertices = np.concatenate(stored) if stored else np.zeros((0, 3))
    stored.clear()  # the concatenated copy is all that is needed now
    return PatchSet(patches, vertices, before, min_error_mm, prepassed, envelope_voxels)


def decimate_patches(patches: PatchSet, decimation: DecimateOptions = DecimateOptions()) -> tuple[list[Simplified], float]:
    """All patches decimated together to ``decimation.budget``: (one result per patch,
    the shared tolerance in mm). ``decimation.min_error_mm`` defaults to the first pass's."""
    if decimation.min_error_mm is None:
        decimation = dataclasses.replace(decimation, min_error_mm=patches.min_error_mm)
    simplified, error = decimate(patches.patches, decimation)
    if patches.prepassed:
        error = max(error, patches.min_error_mm)
    return simplified, error


def restore_patch_volumes(seg: Segmentation, patches: PatchSet, simplified: list[Simplified], wanted: set[int],
                          counts: dict[int, int]) -> None:
    """Every wanted structure back to its voxel-count volume (the unsmoothed net encloses
    exactly its voxels), moving ``patches.vertices`` in place; the body filler is held to
    its envelope's voxels, the background is free."""
    body = seg.body_label
    voxel_mm3 = abs(float(np.linalg.det(seg.affine[:3, :3])))
    targets = {label + SHIFT: counts.get(label, 0) * voxel_mm3 for label in wanted if label not in (0, body)}
    if body is not None and body in wanted:
        targets[ENVELOPE + SHIFT] = patches.envelope_voxels * voxel_mm3
    restore_volumes(patches.vertices, patches.patches, simplified, targets)


def gather_meshes(seg: Segmentation, patches: PatchSet, simplified: list[Simplified],
                  wanted: set[int]) -> dict[int, StructureMesh]:
    """Each wanted structure's closed mesh, from the decimated patches that bound it (the
    body filler's from the envelope); a structure without voxels has none."""
    body = seg.body_label
    meshes: dict[int, StructureMesh] = {}
    gathered: dict[int, list[np.ndarray]] = {}
    for patch, result in zip(patches.patches, simplified):
        a, b = patch.key[0] - SHIFT, patch.key[1] - SHIFT
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
            v, f = _compact(patches.vertices, f)
            meshes[label] = StructureMesh(label, v, f)
    for label in sorted(wanted - set(meshes)):
        if label in seg.segments:
            log.info("gather_meshes: %s has no voxels; skipped", seg.segments[label].structure.name)
    return meshes


def build_meshes(seg: Segmentation, *, labels: set[int] | None = None, surface: SurfaceOptions = SurfaceOptions(),
                 decimation: DecimateOptions = DecimateOptions()) -> MeshResult:
    """Meshes for ``labels`` (default: every segment) of ``seg``: the kernels above in order.

    The body filler (``seg.body_label``) is meshed as the outer envelope of all non-zero
    voxels, so it contains every other structure. Island removal edits ``seg.layers`` in
    place.
    """
    wanted = set(seg.segments) if labels is None else set(labels)
    if decimation.min_error_mm is None:  # first pass: a fifth of the finest voxel
        decimation = dataclasses.replace(decimation, min_error_mm=default_min_error_mm(seg))
    counts = remove_small_islands(seg, surface.min_island_voxels)
    patches = surface_patches(seg, wanted, counts=counts, surface=surface, budget=decimation.budget,
                              min_error_mm=decimation.min_error_mm)
    simplified, error = decimate_patches(patches, decimation)
    if surface.preserve_volume:
        restore_patch_volumes(seg, patches, simplified, wanted, counts)
    meshes = gather_meshes(seg, patches, simplified, wanted)
    return MeshResult(meshes, counts, error, patches.triangles_before)

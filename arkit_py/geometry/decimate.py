"""Decimation of a boundary complex to a shared triangle budget, with bounded error.

The complex is cut into patches, one per pair of labels that meet. Each patch is
simplified by meshoptimizer's quadric simplifier with its border locked, so the curves
where three labels meet stay identical in every patch that shares them and neighbouring
structures still meet without gaps after decimation. All patches share one absolute error
tolerance (mm), found by bisection as the smallest that fits the triangle budget; a
patch's tolerance is also capped at a fraction of its own size, so small structures keep
enough triangles to stay recognisable.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import meshoptimizer as mo
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecimateOptions:
    """budget : total triangles over all patches (None = no decimation).
    relative_cap : a patch's tolerance is at most this fraction of its bounding-box diagonal.
    min_error_mm / max_error_mm : the bisection's range for the shared tolerance.
    """

    budget: int | None = 100_000
    relative_cap: float = 0.01
    min_error_mm: float | None = None  # None: a fifth of the finest voxel (meshes.default_min_error_mm)
    max_error_mm: float = 20.0
    bisection_steps: int = 12


@dataclass
class Patch:
    key: tuple[int, int]  # (a, b): faces oriented from a into b
    vertices: np.ndarray  # (n, 3) float32, mm
    faces: np.ndarray  # (m, 3) uint32, local indices
    global_ids: np.ndarray  # (n,) uint32, index into the complex's vertices
    size_mm: float
    weight: int = 1  # how many structure meshes draw this patch (2 where two structures meet)
    locked: np.ndarray | None = None  # (n,) uint8: vertices other patches use too; never moved


@dataclass
class Simplified:
    faces: np.ndarray  # (m, 3) uint32, global vertex indices
    error_mm: float


def split_patches(vertices_mm: np.ndarray, faces: np.ndarray, pairs: np.ndarray, *, mask: np.ndarray | None = None,
                  shift: int = 0, mirror: bool = False) -> list[Patch]:
    """Group faces by the unordered label pair they separate, orienting each group from
    its lower label to its higher one; each patch gets its own vertex numbering (by global
    id) and float32 positions. A vertex that more than one patch uses is locked in each
    (``Patch.locked``): it must never move or vanish.

    mask : (m,) bool, the faces to use (default all). shift : added to every label (the
    keys are ``pairs + shift``, which must be >= 0). mirror : every face's corners reversed
    first (as ``faces[:, ::-1]``). One compiled pass (``_patchkernels``): a radix sort of
    the faces by pair, no per-patch numpy work and no copy of the faces."""
    from . import _patchkernels

    if mask is None:
        mask = np.ones(len(faces), dtype=bool)
    if not mask.any():
        return []
    lo, hi, face_starts, local, vertex_starts, ids, points, uses, low, high = _patchkernels.split(
        np.ascontiguousarray(vertices_mm, dtype=np.float64), np.ascontiguousarray(faces),
        np.ascontiguousarray(pairs), np.ascontiguousarray(mask, dtype=bool), int(shift), bool(mirror))
    patches = []
    for g in range(len(lo)):
        v = points[vertex_starts[g]:vertex_starts[g + 1]]
        mine = ids[vertex_starts[g]:vertex_starts[g + 1]]
        size = float(np.linalg.norm(high[g] - low[g])) if len(v) else 0.0
        shared = uses[mine] > 1
        patches.append(Patch((int(lo[g]), int(hi[g])), v, local[face_starts[g]:face_starts[g + 1]], mine, size,
                             locked=shared.astype(np.uint8) if shared.any() else None))
    return patches


def _simplify_locked():
    """meshopt_simplifyWithAttributes from the meshoptimizer package's library, for its
    per-vertex lock (the package's own wrapper cannot pass the float tolerance)."""
    import ctypes

    from meshoptimizer._loader import lib

    fn = lib.meshopt_simplifyWithAttributes
    p, n = ctypes.c_void_p, ctypes.c_size_t
    fn.argtypes = [p, p, n, p, n, n, p, n, p, n, p, n, ctypes.c_float, ctypes.c_uint, p]
    fn.restype = n
    return fn


_LOCKED = None


def simplify_patch(patch: Patch, error_mm: float, floor_triangles: int = 16,
                   target_triangles: int | None = None) -> Simplified:
    """One patch simplified to ``error_mm`` (absolute), keeping its border and its locked
    vertices; returns faces in the complex's vertex ids."""
    global _LOCKED
    tolerance = max(error_mm, 1e-6)
    indices = np.ascontiguousarray(patch.faces.ravel(), dtype=np.uint32)
    destination = np.zeros(indices.size, dtype=np.uint32)
    result = np.zeros(1, dtype=np.float32)
    target = min(indices.size, 3 * (target_triangles or floor_triangles))
    options = mo.SIMPLIFY_LOCK_BORDER | mo.SIMPLIFY_ERROR_ABSOLUTE
    if patch.locked is not None and patch.locked.any():
        if _LOCKED is None:
            _LOCKED = _simplify_locked()
        positions = np.ascontiguousarray(patch.vertices, dtype=np.float32)
        attributes = np.zeros(len(positions), np.float32)
        weights = np.zeros(1, np.float32)
        lock = np.ascontiguousarray(patch.locked, dtype=np.uint8)
        count = _LOCKED(destination.ctypes.data, indices.ctypes.data, indices.size, positions.ctypes.data,
                        len(positions), 12, attributes.ctypes.data, 4, weights.ctypes.data, 1, lock.ctypes.data,
                        target, tolerance, options, result.ctypes.data)
    else:
        count = mo.simplify(destination, indices, patch.vertices, target_index_count=target,
                            target_error=tolerance, options=options, result_error=result)
    local = destination[:count].reshape(-1, 3)
    return Simplified(patch.global_ids[local], float(result[0]))


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def prepass(patch: Patch, error_mm: float, chunk_faces: int = 300_000) -> None:
    """First decimation pass of one patch, in place (its vertices, faces and global ids
    become the lighter mesh's). A large patch is cut into chunks along its longest axis,
    each simplified with the cuts locked: the simplifier's working memory stays that of a
    chunk, and the cuts are interior again for every later pass on the whole patch."""
    faces = patch.faces
    if len(faces) <= chunk_faces:
        first = simplify_patch(patch, error_mm)
        ids = np.unique(first.faces)
        local = np.searchsorted(patch.global_ids, ids)
        lookup = np.searchsorted(ids, first.faces)
        patch.vertices, patch.faces, patch.global_ids = patch.vertices[local], lookup.astype(np.uint32), ids
        if patch.locked is not None:
            patch.locked = patch.locked[local]
        return
    centroid = patch.vertices[faces].mean(axis=1)
    axis = int(np.argmax(centroid.max(axis=0) - centroid.min(axis=0)))
    order = np.argsort(centroid[:, axis], kind="stable")
    del centroid
    def chunk(group: np.ndarray) -> np.ndarray:
        ids, local = np.unique(faces[group], return_inverse=True)
        part = Patch(patch.key, patch.vertices[ids], local.reshape(-1, 3).astype(np.uint32), ids.astype(np.uint32),
                     patch.size_mm, locked=None if patch.locked is None else patch.locked[ids])
        return simplify_patch(part, error_mm).faces  # patch-local ids

    # one chunk at a time: the point is to bound the simplifier's working memory
    pieces = [chunk(group) for group in np.array_split(order, int(np.ceil(len(faces) / chunk_faces)))]
    merged = np.concatenate(pieces)
    ids, local = np.unique(merged, return_inverse=True)
    patch.vertices = patch.vertices[ids]
    patch.faces = local.reshape(-1, 3).astype(np.uint32)
    patch.global_ids = patch.global_ids[ids]
    if patch.locked is not None:
        patch.locked = patch.locked[ids]


def _reduced(patch: Patch, result: Simplified) -> Patch:
    ids, local = np.unique(result.faces, return_inverse=True)
    position = np.searchsorted(patch.global_ids, ids)
    return Patch(patch.key, patch.vertices[position], local.reshape(-1, 3).astype(np.uint32), ids, patch.size_mm,
                 patch.weight, None if patch.locked is None else patch.locked[position])


def decimate(patches: list[Patch], options: DecimateOptions = DecimateOptions()) -> tuple[list[Simplified], float]:
    """Simplify all patches with one shared tolerance that fits ``options.budget``.

    A first pass at ``min_error_mm`` drops the flat redundancy of voxel-scale meshes; the
    search then works on that lighter mesh, which replaces each patch's own arrays. Returns the simplified patches
    (same order)
    and the tolerance used (mm; 0 = untouched). The budget counts triangles as drawn: a
    patch between two structures counts twice.
    """
    def drawn(results: list[Simplified]) -> int:
        return sum(len(r.faces) * p.weight for p, r in zip(patches, results))

    total = sum(len(p.faces) * p.weight for p in patches)
    if options.budget is None or total <= options.budget:
        return [Simplified(p.global_ids[p.faces.astype(np.int64)], 0.0) for p in patches], 0.0

    with ThreadPoolExecutor(_workers()) as pool:
        def run(eps: float, source: list[Patch]) -> list[Simplified]:
            def one(p: Patch) -> Simplified:
                return simplify_patch(p, min(eps, options.relative_cap * p.size_mm) if p.size_mm else eps)
            return list(pool.map(one, source))

        if options.min_error_mm is None:
            options = dataclasses.replace(options, min_error_mm=0.1)
        first = run(options.min_error_mm, patches)
        first_count = drawn(first)
        if first_count <= options.budget:
            return first, options.min_error_mm
        # the patches now carry the lighter mesh (callers keep only their keys and ids)
        for p, r in zip(patches, first):
            light = _reduced(p, r)
            p.vertices, p.faces, p.global_ids, p.locked = light.vertices, light.faces, light.global_ids, light.locked
        del first
        light = patches
        best = run(options.max_error_mm, light)
        best_eps = options.max_error_mm
        if drawn(best) > options.budget:
            # the budget cannot be met within the error caps: give each patch its share of
            # the budget instead (by triangles as drawn), small ones keeping their floor
            log.warning("decimate: budget %d not reached within %.1f mm of error; sharing it by size",
                        options.budget, options.max_error_mm)
            weight = sum(len(p.faces) * p.weight for p in light)

            def share(p: Patch) -> Simplified:
                want = max(16, int(options.budget * len(p.faces) / weight))
                return simplify_patch(p, 1e9, target_triangles=want)
            shared = list(pool.map(share, light))
            return shared, max(r.error_mm for r in shared)
        # Search the tolerance in log-log space: triangles fall roughly as 1/tolerance on
        # smooth surfaces, so a secant step lands near the budget; bisection guards it.
        lo_eps, lo_count = options.min_error_mm, first_count  # too many triangles
        hi_eps, hi_count = options.max_error_mm, drawn(best)  # fits
        for _ in range(options.bisection_steps):
            if hi_count >= 0.97 * options.budget or hi_eps / lo_eps < 1.02:
                break
            slope = (math.log(hi_count) - math.log(lo_count)) / (math.log(hi_eps) - math.log(lo_eps))
            guess = math.exp(math.log(lo_eps) + (math.log(0.985 * options.budget) - math.log(lo_count)) / slope) \
                if slope < 0 else math.sqrt(lo_eps * hi_eps)
            span = math.log(hi_eps / lo_eps)
            eps = min(max(guess, lo_eps * math.exp(0.05 * span)), hi_eps * math.exp(-0.05 * span))
            trial = run(eps, light)
            count = drawn(trial)
            if count <= options.budget:
                best, best_eps, hi_eps, hi_count = trial, eps, eps, count
            else:
                lo_eps, lo_count = eps, count
    return best, best_eps


def restore_volumes(vertices: np.ndarray, patches: list[Patch], simplified: list[Simplified],
                    targets: dict[int, float], *, rounds: int = 3) -> None:
    """Move patches' free vertices along their normals so that every closed structure in
    ``targets`` (patch key -> volume, in the vertices' units cubed) encloses that volume;
    in place on ``vertices``.

    Moving patch p's free vertices by d_p toward its higher label grows the lower label by
    about A_p d_p and shrinks the higher one as much. One equation per structure, one
    unknown per patch: the smallest area-weighted displacements that restore every
    structure's volume (least norm). Labels not in ``targets`` (background, the body
    filler) are not held to a volume. Borders (junction curves) never move, so shared
    boundaries stay shared. Smoothing and decimation bias volumes (decimation cuts chords
    across convex surfaces); this removes the bias without undoing either.
    """
    from . import _patchkernels

    if not patches or not targets:
        return
    origin = vertices[np.unique(patches[0].global_ids)].mean(axis=0)
    labels = sorted({k for p in patches for k in p.key} & set(targets))
    row = {label: i for i, label in enumerate(labels)}
    # every patch's faces in one array (global ids), and its free vertices, once
    faces = np.concatenate([r.faces.astype(np.int64, copy=False).reshape(-1, 3) for r in simplified])
    starts = np.cumsum([0] + [len(r.faces) for r in simplified]).astype(np.int64)
    free, free_starts = _patchkernels.free_vertices(faces, starts)
    # m[structure, patch]: +1 where the patch bounds the structure from inside (its lower
    # label), -1 from outside
    sign = np.zeros((len(labels), len(patches)))
    for j, p in enumerate(patches):
        if p.key[0] in row:
            sign[row[p.key[0]], j] += 1.0
        if p.key[1] in row:
            sign[row[p.key[1]], j] -= 1.0
    target = np.array([targets[label] for label in labels])
    for _ in range(rounds):
        current = sign @ _patchkernels.signed_volumes(vertices, faces, starts, origin)
        need = target - current
        if np.all(np.abs(need) <= 1e-6 * np.maximum(np.abs(target), 1.0)):
            return
        normals, areas = _patchkernels.free_normals(vertices, faces, starts, free, free_starts)
        usable = areas > 0
        if not usable.any():
            return
        scale = 1.0 / np.sqrt(areas[usable])
        u = np.linalg.lstsq((sign * areas)[:, usable] * scale, need, rcond=None)[0]
        delta = np.zeros(len(patches))
        delta[usable] = u * scale
        _patchkernels.move_free(vertices, free, free_starts, normals, delta)

"""Compiled kernel that cuts a boundary complex into patches (numba), for
``decimate.split_patches``: the faces grouped by label pair in one radix sort, each group
with its own vertex numbering, in the order and with the numbering the plain numpy version
gives (groups by key, faces in input order within a group, local ids by global id).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(
    os.environ.get("ARKIT_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "arkit")), "numba"))

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402


@njit(cache=True, nogil=True)
def _counting_order(values, top, order):
    """``order`` stably sorted by values[order] (0 <= values < top + 1): one counting pass."""
    count = np.zeros(top + 2, np.int64)
    for f in order:
        count[values[f] + 1] += 1
    for v in range(top + 1):
        count[v + 1] += count[v]
    out = np.empty_like(order)
    for f in order:
        out[count[values[f]]] = f
        count[values[f]] += 1
    return out


@njit(cache=True, nogil=True)
def split(vertices, faces, pairs):
    """Patches of ``faces`` (m, 3) between the label pairs ``pairs`` (m, 2), labels >= 0.

    Returns (lo, hi) (g,) the pair of each patch in increasing order; face_starts (g + 1,)
    and faces (m, 3) uint32, each patch's faces in its own vertex ids, oriented from lo into
    hi; vertex_starts (g + 1,), ids (total,) uint32 each patch's global vertex ids (sorted)
    and points (total, 3) float32 their positions; uses (n,) int32 how many patches use each
    vertex."""
    m = faces.shape[0]
    n = vertices.shape[0]
    lo = np.empty(m, np.int64)
    hi = np.empty(m, np.int64)
    top = 0
    for f in range(m):
        a, b = np.int64(pairs[f, 0]), np.int64(pairs[f, 1])
        lo[f] = min(a, b)
        hi[f] = max(a, b)
        top = max(top, hi[f])
    order = np.arange(m)
    order = _counting_order(hi, top, order)  # radix sort: by hi, then stably by lo
    order = _counting_order(lo, top, order)
    groups = 0
    for s in range(m):
        f = order[s]
        if s == 0 or lo[f] != lo[order[s - 1]] or hi[f] != hi[order[s - 1]]:
            groups += 1
    glo = np.empty(groups, np.int64)
    ghi = np.empty(groups, np.int64)
    face_starts = np.empty(groups + 1, np.int64)
    g = -1
    for s in range(m):
        f = order[s]
        if s == 0 or lo[f] != lo[order[s - 1]] or hi[f] != hi[order[s - 1]]:
            g += 1
            glo[g] = lo[f]
            ghi[g] = hi[f]
            face_starts[g] = s
    face_starts[groups] = m
    mark = np.full(n, -1, np.int64)
    local = np.empty(n, np.uint32)
    uses = np.zeros(n, np.int32)
    vertex_starts = np.zeros(groups + 1, np.int64)
    ids = np.empty(3 * m, np.uint32)  # at most three per face; trimmed at the end
    out = np.empty((m, 3), np.uint32)
    w = 0
    for g in range(groups):
        start = w
        for s in range(face_starts[g], face_starts[g + 1]):
            f = order[s]
            for c in range(3):
                v = faces[f, c]
                if mark[v] != g:
                    mark[v] = g
                    ids[w] = v
                    w += 1
        ids[start:w].sort()
        for t in range(start, w):
            local[ids[t]] = t - start
            uses[ids[t]] += 1
        vertex_starts[g + 1] = w
        for s in range(face_starts[g], face_starts[g + 1]):
            f = order[s]
            if np.int64(pairs[f, 0]) == glo[g]:
                out[s, 0] = local[faces[f, 0]]
                out[s, 1] = local[faces[f, 1]]
                out[s, 2] = local[faces[f, 2]]
            else:  # faces from hi into lo are turned around
                out[s, 0] = local[faces[f, 2]]
                out[s, 1] = local[faces[f, 1]]
                out[s, 2] = local[faces[f, 0]]
    ids = ids[:w].copy()
    points = np.empty((w, 3), np.float32)
    for t in range(w):
        for d in range(3):
            points[t, d] = vertices[ids[t], d]
    return glo, ghi, face_starts, out, vertex_starts, ids, points, uses

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
def split(vertices, faces, pairs, mask, shift, mirror):
    """Patches of the faces (m, 3) with ``mask`` set, between the label pairs ``pairs``
    (m, 2) + ``shift`` (>= 0), each face's corners reversed when ``mirror``.

    Returns (lo, hi) (g,) the pair of each patch in increasing order; face_starts (g + 1,)
    and faces (m, 3) uint32, each patch's faces in its own vertex ids, oriented from lo into
    hi; vertex_starts (g + 1,), ids (total,) uint32 each patch's global vertex ids (sorted)
    and points (total, 3) float32 their positions; uses (n,) int32 how many patches use each
    vertex; low, high (g, 3) float32 each patch's bounding box."""
    n = vertices.shape[0]
    lo = np.empty(faces.shape[0], np.int64)
    hi = np.empty(faces.shape[0], np.int64)
    top = 0
    m = 0
    for f in range(faces.shape[0]):
        a, b = np.int64(pairs[f, 0]) + shift, np.int64(pairs[f, 1]) + shift
        lo[f] = min(a, b)
        hi[f] = max(a, b)
        top = max(top, hi[f])
        m += 1 if mask[f] else 0
    order = np.empty(m, np.int64)
    s = 0
    for f in range(faces.shape[0]):
        if mask[f]:
            order[s] = f
            s += 1
    if (top + 1) * (top + 1) <= 1 << 20:  # one counting sort by pair
        pair = lo * (top + 1) + hi
        order = _counting_order(pair, (top + 1) * (top + 1) - 1, order)
    else:  # radix sort: by hi, then stably by lo
        order = _counting_order(hi, top, order)
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
            if (np.int64(pairs[f, 0]) + shift == glo[g]) != mirror:
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
    low = np.zeros((groups, 3), np.float32)
    high = np.zeros((groups, 3), np.float32)
    for g in range(groups):
        for t in range(vertex_starts[g], vertex_starts[g + 1]):
            for d in range(3):
                if t == vertex_starts[g] or points[t, d] < low[g, d]:
                    low[g, d] = points[t, d]
                if t == vertex_starts[g] or points[t, d] > high[g, d]:
                    high[g, d] = points[t, d]
    return glo, ghi, face_starts, out, vertex_starts, ids, points, uses, low, high


# -- volume restore ----------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def free_vertices(faces, starts):
    """Per patch (faces[starts[p]:starts[p + 1]], global ids), its vertices not on a border
    or non-manifold edge (an edge not used by exactly two of its faces), sorted; as one
    array with its own starts."""
    patches = starts.shape[0] - 1
    out = np.empty(3 * faces.shape[0], np.int64)
    out_starts = np.zeros(patches + 1, np.int64)
    w = 0
    for p in range(patches):
        a, b = starts[p], starts[p + 1]
        m = b - a
        top = 0
        for f in range(a, b):
            for c in range(3):
                top = max(top, np.int64(faces[f, c]))
        stride = top + 1
        codes = np.empty(3 * m, np.int64)
        for f in range(a, b):
            for c in range(3):
                u, v = np.int64(faces[f, c]), np.int64(faces[f, (c + 1) % 3])
                codes[3 * (f - a) + c] = min(u, v) * stride + max(u, v)
        codes.sort()
        verts = np.empty(3 * m, np.int64)
        for f in range(a, b):
            for c in range(3):
                verts[3 * (f - a) + c] = faces[f, c]
        verts.sort()
        locked = np.empty(2 * 3 * m, np.int64)
        nl = 0
        s = 0
        while s < 3 * m:
            e = s + 1
            while e < 3 * m and codes[e] == codes[s]:
                e += 1
            if e - s != 2:
                locked[nl] = codes[s] // stride
                locked[nl + 1] = codes[s] % stride
                nl += 2
            s = e
        locked = np.sort(locked[:nl])
        q = 0
        for s in range(3 * m):
            v = verts[s]
            if s > 0 and v == verts[s - 1]:
                continue
            while q < nl and locked[q] < v:
                q += 1
            if q < nl and locked[q] == v:
                continue
            out[w] = v
            w += 1
        out_starts[p + 1] = w
    return out[:w].copy(), out_starts


@njit(cache=True, nogil=True)
def signed_volumes(vertices, faces, starts, origin):
    """Per patch, the signed volume its faces span with ``origin`` (sum of a . (b x c) / 6)."""
    patches = starts.shape[0] - 1
    out = np.zeros(patches)
    for p in range(patches):
        total = 0.0
        for f in range(starts[p], starts[p + 1]):
            i, j, k = faces[f, 0], faces[f, 1], faces[f, 2]
            ax, ay, az = vertices[i, 0] - origin[0], vertices[i, 1] - origin[1], vertices[i, 2] - origin[2]
            bx, by, bz = vertices[j, 0] - origin[0], vertices[j, 1] - origin[1], vertices[j, 2] - origin[2]
            cx, cy, cz = vertices[k, 0] - origin[0], vertices[k, 1] - origin[1], vertices[k, 2] - origin[2]
            total += ax * (by * cz - bz * cy) + ay * (bz * cx - bx * cz) + az * (bx * cy - by * cx)
        out[p] = total / 6.0
    return out


@njit(cache=True, nogil=True)
def free_normals(vertices, faces, starts, free, free_starts):
    """Per patch, the unit area-weighted normal at each of its free vertices (rows as in
    ``free``) and the area they carry (a third of their faces' area, summed)."""
    patches = starts.shape[0] - 1
    normals = np.zeros((free.shape[0], 3))
    areas = np.zeros(patches)
    slot = np.full(vertices.shape[0], -1, np.int64)
    for p in range(patches):
        for r in range(free_starts[p], free_starts[p + 1]):
            slot[free[r]] = r
        for f in range(starts[p], starts[p + 1]):
            i, j, k = faces[f, 0], faces[f, 1], faces[f, 2]
            ux, uy, uz = vertices[j, 0] - vertices[i, 0], vertices[j, 1] - vertices[i, 1], vertices[j, 2] - vertices[i, 2]
            vx, vy, vz = vertices[k, 0] - vertices[i, 0], vertices[k, 1] - vertices[i, 1], vertices[k, 2] - vertices[i, 2]
            nx, ny, nz = uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx  # length = 2 x area
            for c in range(3):
                r = slot[faces[f, c]]
                if r >= 0:
                    normals[r, 0] += nx
                    normals[r, 1] += ny
                    normals[r, 2] += nz
        area = 0.0
        for r in range(free_starts[p], free_starts[p + 1]):
            length = np.sqrt(normals[r, 0] ** 2 + normals[r, 1] ** 2 + normals[r, 2] ** 2)
            area += length
            scale = 1.0 / max(length, 1e-12)
            normals[r, 0] *= scale
            normals[r, 1] *= scale
            normals[r, 2] *= scale
            slot[free[r]] = -1
        areas[p] = area / 6.0
    return normals, areas


@njit(cache=True, nogil=True)
def move_free(vertices, free, free_starts, normals, delta):
    """Each patch's free vertices moved by delta[p] along their normals, in place."""
    for p in range(free_starts.shape[0] - 1):
        if delta[p] == 0.0:
            continue
        for r in range(free_starts[p], free_starts[p + 1]):
            v = free[r]
            vertices[v, 0] += delta[p] * normals[r, 0]
            vertices[v, 1] += delta[p] * normals[r, 1]
            vertices[v, 2] += delta[p] * normals[r, 2]

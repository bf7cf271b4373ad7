"""Compiled kernels of the multi-label surface net (numba): one pass over the volume that
emits quads and vertices, and the junction-aware constrained Taubin smoothing.

Kept apart from ``surfaces.py`` so the algorithm reads there in plain words; these are
loops that numpy would otherwise run as many whole-volume temporaries. Compiled once and
cached on disk (``ARKIT_CACHE`` or ``~/.cache/arkit``).
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(
    os.environ.get("ARKIT_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "arkit")), "numba"))

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402


@njit(cache=True, nogil=True)
def _label(labels, i, j, k, binary):
    """Label of padded voxel (i, j, k): outside the volume it is background."""
    ni, nj, nk = labels.shape
    if i < 1 or j < 1 or k < 1 or i > ni or j > nj or k > nk:
        return 0
    v = labels[i - 1, j - 1, k - 1]
    if binary:
        return 1 if v != 0 else 0
    return np.int64(v)


@njit(cache=True, nogil=True)
def _vertex(ci, cj, ck, stamp, vids, cells, count, emit):
    """Vertex id of cell (ci, cj, ck), assigning the next id the first time it is seen.
    Two rows of cells are live at a time (slot = ci & 1); a stamp says which row a slot
    holds, so nothing is cleared between rows."""
    slot = ci & 1
    if stamp[slot, cj, ck] != ci:
        stamp[slot, cj, ck] = ci
        vid = count[0]
        vids[slot, cj, ck] = vid
        if emit:
            cells[vid, 0] = ci
            cells[vid, 1] = cj
            cells[vid, 2] = ck
        count[0] += 1
        return vid
    return vids[slot, cj, ck]


@njit(cache=True, nogil=True)
def _emit(axis, pi, pj, pk, a, b, q, stamp, vids, cells, vcount, emit, quads, pairs):
    if axis == 0:
        v0 = _vertex(pi, pj - 1, pk - 1, stamp, vids, cells, vcount, emit)
        v1 = _vertex(pi, pj, pk - 1, stamp, vids, cells, vcount, emit)
        v2 = _vertex(pi, pj, pk, stamp, vids, cells, vcount, emit)
        v3 = _vertex(pi, pj - 1, pk, stamp, vids, cells, vcount, emit)
    elif axis == 1:
        v0 = _vertex(pi - 1, pj, pk - 1, stamp, vids, cells, vcount, emit)
        v1 = _vertex(pi - 1, pj, pk, stamp, vids, cells, vcount, emit)
        v2 = _vertex(pi, pj, pk, stamp, vids, cells, vcount, emit)
        v3 = _vertex(pi, pj, pk - 1, stamp, vids, cells, vcount, emit)
    else:
        v0 = _vertex(pi - 1, pj - 1, pk, stamp, vids, cells, vcount, emit)
        v1 = _vertex(pi, pj - 1, pk, stamp, vids, cells, vcount, emit)
        v2 = _vertex(pi, pj, pk, stamp, vids, cells, vcount, emit)
        v3 = _vertex(pi - 1, pj, pk, stamp, vids, cells, vcount, emit)
    if emit:
        quads[q, 0] = v0
        quads[q, 1] = v1
        quads[q, 2] = v2
        quads[q, 3] = v3
        pairs[q, 0] = a
        pairs[q, 1] = b


@njit(cache=True, nogil=True)
def _pass(labels, binary, skip_a, skip_b, emit, quads, pairs, cells, counts):
    """Walk the padded volume once. With ``emit`` False only count quads and vertices
    (counts[0], counts[1]); with ``emit`` True fill ``quads`` (q, 4) vertex ids,
    ``pairs`` (q, 2) labels (normal from pairs[:, 0] into pairs[:, 1]) and ``cells``
    (v, 3) padded cell indices."""
    ni, nj, nk = labels.shape
    stamp = np.full((2, nj + 2, nk + 2), -1, np.int32)
    vids = np.zeros((2, nj + 2, nk + 2), np.int64)
    vcount = np.zeros(1, np.int64)
    q = 0
    for pi in range(ni + 2):
        for pj in range(nj + 2):
            inner_ij = 1 <= pi < ni and 1 <= pj < nj
            for pk in range(nk + 2):
                if inner_ij and 1 <= pk < nk:
                    # fast path: the voxel and its +1 neighbours are all inside the volume
                    a = np.int64(labels[pi - 1, pj - 1, pk - 1])
                    b0 = np.int64(labels[pi, pj - 1, pk - 1])
                    b1 = np.int64(labels[pi - 1, pj, pk - 1])
                    b2 = np.int64(labels[pi - 1, pj - 1, pk])
                    if binary:
                        a = 1 if a != 0 else 0
                        b0 = 1 if b0 != 0 else 0
                        b1 = 1 if b1 != 0 else 0
                        b2 = 1 if b2 != 0 else 0
                    if a == b0 and a == b1 and a == b2:
                        continue
                else:
                    a = _label(labels, pi, pj, pk, binary)
                    b0 = _label(labels, pi + 1, pj, pk, binary) if pi + 1 <= ni + 1 else a
                    b1 = _label(labels, pi, pj + 1, pk, binary) if pj + 1 <= nj + 1 else a
                    b2 = _label(labels, pi, pj, pk + 1, binary) if pk + 1 <= nk + 1 else a
                for axis in range(3):
                    b = b0 if axis == 0 else (b1 if axis == 1 else b2)
                    if a == b or (a == skip_a and b == skip_b) or (a == skip_b and b == skip_a):
                        continue
                    _emit(axis, pi, pj, pk, a, b, q, stamp, vids, cells, vcount, emit, quads, pairs)
                    q += 1
    counts[0] = q
    counts[1] = vcount[0]


def extract(labels: np.ndarray, binary: bool, skip: tuple[int, int] | None):
    """(quads (q, 4) int32, pairs (q, 2) int32, cells (v, 3) int32 padded cell indices)."""
    skip_a, skip_b = (-1, -1) if skip is None else (int(skip[0]), int(skip[1]))
    counts = np.zeros(2, np.int64)
    empty4, empty2, empty3 = np.zeros((0, 4), np.int32), np.zeros((0, 2), np.int32), np.zeros((0, 3), np.int32)
    _pass(labels, binary, skip_a, skip_b, False, empty4, empty2, empty3, counts)
    quads = np.empty((counts[0], 4), np.int32)
    pairs = np.empty((counts[0], 2), np.int32)
    cells = np.empty((counts[1], 3), np.int32)
    _pass(labels, binary, skip_a, skip_b, True, quads, pairs, cells, counts)
    return quads, pairs, cells


@njit(cache=True, nogil=True)
def _cell_labels(labels, cells, v, binary, out):
    """The distinct labels at cell v's eight corners into ``out`` (sorted); their count."""
    m = 0
    for di in range(2):
        for dj in range(2):
            for dk in range(2):
                out[m] = _label(labels, cells[v, 0] + di, cells[v, 1] + dj, cells[v, 2] + dk, binary)
                m += 1
    out.sort()
    w = 1
    for m in range(1, 8):
        if out[m] != out[w - 1]:
            out[w] = out[m]
            w += 1
    return w


@njit(cache=True, nogil=True)
def junctions(labels, cells, binary):
    """(v,) bool: the cell borders three or more labels (a vertex on a junction curve)."""
    n = cells.shape[0]
    out = np.zeros(n, np.bool_)
    tmp = np.empty(8, np.int64)
    for v in range(n):
        out[v] = _cell_labels(labels, cells, v, binary, tmp) > 2
    return out


@njit(cache=True, nogil=True)
def _adjacency(labels, cells, quads, binary, junction):
    """CSR neighbours (offsets, ids): v's neighbours are the quad-edge neighbours u whose
    corner labels include all of v's (a two-label vertex's neighbours always do: a quad
    joins cells that all border the quad's own two labels)."""
    n = cells.shape[0]
    deg = np.zeros(n + 1, np.int64)
    for q in range(quads.shape[0]):
        for e in range(4):
            deg[quads[q, e] + 1] += 1
            deg[quads[q, (e + 1) % 4] + 1] += 1
    for v in range(n):
        deg[v + 1] += deg[v]
    ids = np.empty(deg[n], np.int32)
    fill = deg[:-1].copy()
    for q in range(quads.shape[0]):
        for e in range(4):
            a = quads[q, e]
            b = quads[q, (e + 1) % 4]
            ids[fill[a]] = b
            fill[a] += 1
            ids[fill[b]] = a
            fill[b] += 1
    offsets = np.zeros(n + 1, np.int64)
    mine = np.empty(8, np.int64)
    theirs = np.empty(8, np.int64)
    w = 0
    for v in range(n):
        seg = np.sort(ids[deg[v]:deg[v + 1]])
        nv = _cell_labels(labels, cells, v, binary, mine) if junction[v] else 0
        for s in range(seg.shape[0]):
            u = seg[s]
            if s > 0 and u == seg[s - 1]:
                continue
            ok = True
            if nv > 2:
                nu = _cell_labels(labels, cells, u, binary, theirs)
                for m in range(nv):
                    found = False
                    for r in range(nu):
                        if theirs[r] == mine[m]:
                            found = True
                            break
                    if not found:
                        ok = False
                        break
            if ok:
                ids[w] = u  # compact in place: w never passes deg[v]
                w += 1
        offsets[v + 1] = w
    return offsets, ids[:w].copy()


@njit(cache=True, nogil=True)
def _taubin(x, cells, spacing, offsets, ids, iterations, lam, mu):
    """Taubin smoothing in place; vertex v stays in its cell: between (cell - 1) and cell
    (padded index) times spacing."""
    n = x.shape[0]
    delta = np.zeros_like(x)
    for _ in range(iterations):
        for step in range(2):
            factor = lam if step == 0 else mu
            for v in range(n):
                a, b = offsets[v], offsets[v + 1]
                if b == a:
                    delta[v, 0] = 0.0
                    delta[v, 1] = 0.0
                    delta[v, 2] = 0.0
                    continue
                sx = 0.0
                sy = 0.0
                sz = 0.0
                for s in range(a, b):
                    u = ids[s]
                    sx += x[u, 0]
                    sy += x[u, 1]
                    sz += x[u, 2]
                inv = 1.0 / (b - a)
                delta[v, 0] = sx * inv - x[v, 0]
                delta[v, 1] = sy * inv - x[v, 1]
                delta[v, 2] = sz * inv - x[v, 2]
            for v in range(n):
                for d in range(3):
                    value = x[v, d] + factor * delta[v, d]
                    lo = (cells[v, d] - 1) * spacing[d]
                    hi = cells[v, d] * spacing[d]
                    if value < lo:
                        value = lo
                    elif value > hi:
                        value = hi
                    x[v, d] = value


def smooth(labels, cells, quads, x, spacing, binary, junction, iterations, lam, mu) -> None:
    """Constrained Taubin smoothing of ``x`` (v, 3) in place, each vertex kept in its cell."""
    offsets, ids = _adjacency(labels, cells, quads, binary, junction)
    _taubin(x, cells, np.asarray(spacing, dtype=np.float64), offsets, ids, iterations, lam, mu)

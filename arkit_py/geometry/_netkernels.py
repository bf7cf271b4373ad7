"""Compiled kernels of the multi-label surface net (numba): one pass over the volume that
emits quads and vertices, and the junction-aware constrained Taubin smoothing.

Kept apart from ``surfaces.py`` so the algorithm reads there in plain words; these are
loops that numpy would otherwise run as many whole-volume temporaries. Compiled once and
cached on disk (``ARKIT_CACHE`` or ``~/.cache/arkit``).

The kernels drop the GIL and run on as many Python threads as numba's thread count
(``NUMBA_NUM_THREADS``): the volume walk in slabs of rows (fixed by the volume's shape),
the per-vertex loops in ranges of vertices. Every result is written by one task in a fixed
order, so the output is the same bytes whatever the thread count (and the same as one
serial walk). No ``parallel=True`` kernels: they would double the first run's compile time.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(
    os.environ.get("ARKIT_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "arkit")), "numba"))

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402
from numba import get_num_threads, njit  # noqa: E402


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


# The four cells around a face toward +axis of padded voxel (pi, pj, pk), as offsets from
# it, in the order the quad joins them (its normal points from the voxel into the neighbour).
_CORNERS = np.array([[[0, -1, -1], [0, 0, -1], [0, 0, 0], [0, -1, 0]],
                     [[-1, 0, -1], [-1, 0, 0], [0, 0, 0], [0, 0, -1]],
                     [[-1, -1, 0], [0, -1, 0], [0, 0, 0], [-1, 0, 0]]], np.int64)
_CHUNK = 64  # voxels of a line checked at once before any is looked at one by one


@njit(cache=True, nogil=True)
def _plane(labels, binary, skip_a, skip_b, pi, pj, here, up_i, up_j, stamp, vids, vcount, emit, q, quads, pairs,
           cells):
    """Voxel lines (pi, pj), (pi, pj + 1), ... of the padded volume, faces toward pi + 1,
    pj + 1 and pk + 1: numbers the cells they touch first from ``vcount[0]`` on and, with
    ``emit``, writes their quads from ``q`` on. Stops before a line when the arrays might
    not hold it (3 (K + 2) quads, 12 (K + 2) vertices); returns (next quad, next line).

    One call per plane, everything inline: in numba a call that passes arrays costs
    reference counting on each, which per face would cost more than the walk. ``here``,
    ``up_i`` and ``up_j`` (K + 3 each) hold the padded lines (pi, pj), (pi + 1, pj) and
    (pi, pj + 1); a chunk of a line without any face is passed over by one branch-free
    (vectorised) test."""
    ni, nj, nk = labels.shape
    n = nk + 2
    line_q, line_v = 3 * n, 12 * n
    v = vcount[0]
    first = True
    while pj < nj + 2:
        if emit and (q + line_q > quads.shape[0] or v + line_v > cells.shape[0]):
            break
        for w in range(3):  # the padded lines this one needs (w = 0: itself, on the first only)
            if w == 0 and not first:
                here, up_j = up_j, here  # this line was the last one's +j neighbour
                continue
            buf = here if w == 0 else (up_i if w == 1 else up_j)
            ii = pi + 1 if w == 1 else pi
            jj = pj + 1 if w == 2 else pj
            buf[0] = 0
            buf[n - 1] = 0
            buf[n] = 0
            if 1 <= ii <= ni and 1 <= jj <= nj:
                row = labels[ii - 1, jj - 1]
                if binary:
                    for k in range(nk):
                        buf[k + 1] = 1 if row[k] != 0 else 0
                else:
                    for k in range(nk):
                        buf[k + 1] = row[k]
            else:
                for k in range(nk):
                    buf[k + 1] = 0
        first = False
        start = 0
        while start < n:
            end = min(start + _CHUNK, n)
            a0 = here[start:end]
            a1 = up_i[start:end]
            a2 = up_j[start:end]
            a3 = here[start + 1:end + 1]
            d = 0
            for t in range(end - start):
                x = a0[t]
                d |= (x != a1[t]) | (x != a2[t]) | (x != a3[t])
            if d:
                for pk in range(start, end):
                    a = np.int64(here[pk])
                    for axis in range(3):
                        b = np.int64(up_i[pk] if axis == 0 else (up_j[pk] if axis == 1 else here[pk + 1]))
                        if a == b or (a == skip_a and b == skip_b) or (a == skip_b and b == skip_a):
                            continue
                        for e in range(4):  # the quad's cells; a cell's vertex id on first sight
                            ci = pi + _CORNERS[axis, e, 0]
                            cj = pj + _CORNERS[axis, e, 1]
                            ck = pk + _CORNERS[axis, e, 2]
                            slot = ci & 1  # two planes of cells are live; the stamp says whose
                            if stamp[slot, cj, ck] != ci:
                                stamp[slot, cj, ck] = ci
                                vids[slot, cj, ck] = v
                                if emit:
                                    cells[v, 0] = ci
                                    cells[v, 1] = cj
                                    cells[v, 2] = ck
                                v += 1
                            if emit:
                                quads[q, e] = vids[slot, cj, ck]
                        if emit:
                            pairs[q, 0] = a
                            pairs[q, 1] = b
                            q += 1
            start = end
        pj += 1
    vcount[0] = v
    return q, pj


@njit(cache=True, nogil=True)
def _grown(a, rows):
    out = np.empty((rows, a.shape[1]), a.dtype)
    for r in range(a.shape[0]):
        for c in range(a.shape[1]):
            out[r, c] = a[r, c]
    return out


@njit(cache=True, nogil=True)
def _slab(labels, binary, skip_a, skip_b, r0, r1):
    """Voxel rows r0 to r1 of the padded volume: (quads, pairs, cells, border, quad count,
    vertex count); the arrays have room to spare, their first counts' rows are the slab's.

    Vertices are numbered from 0 in the order one walk of the whole volume would number
    them (a vertex when its cell is first touched). The row before the slab is replayed
    first: a cell it touches belongs to the slab before, and a quad refers to it as
    -1 - (cj (K + 2) + ck). ``border`` (J + 2, K + 2) holds the ids given to the cells of
    the slab's last row (-1: none), for the slab after."""
    ni, nj, nk = labels.shape
    stamp = np.empty((2, nj + 2, nk + 2), np.int32)
    stamp[:] = -1
    vids = np.zeros((2, nj + 2, nk + 2), np.int64)
    vcount = np.zeros(1, np.int64)
    line_q, line_v = 3 * (nk + 2), 12 * (nk + 2)
    quads = np.empty((4 * line_q, 4), np.int32)
    pairs = np.empty((4 * line_q, 2), np.int32)
    cells = np.empty((4 * line_v, 3), np.int32)
    # a run-time flag (a constant would compile _plane once per value)
    emit = r1 > r0
    replay = not emit
    q = 0
    here = np.empty(nk + 3, labels.dtype)
    up_i = np.empty(nk + 3, labels.dtype)
    up_j = np.empty(nk + 3, labels.dtype)
    if r0 > 0:
        _plane(labels, binary, skip_a, skip_b, r0 - 1, 0, here, up_i, up_j, stamp, vids, vcount, replay, q, quads,
               pairs, cells)
        slot = (r0 - 1) & 1
        for cj in range(nj + 2):
            for ck in range(nk + 2):
                if stamp[slot, cj, ck] == r0 - 1:
                    vids[slot, cj, ck] = -1 - (cj * (nk + 2) + ck)
        vcount[0] = 0
    for pi in range(r0, r1):
        pj = 0
        while pj < nj + 2:
            if q + line_q > quads.shape[0]:
                quads = _grown(quads, 2 * quads.shape[0])
                pairs = _grown(pairs, 2 * pairs.shape[0])
            if vcount[0] + line_v > cells.shape[0]:
                cells = _grown(cells, 2 * cells.shape[0])
            q, pj = _plane(labels, binary, skip_a, skip_b, pi, pj, here, up_i, up_j, stamp, vids, vcount, emit, q,
                           quads, pairs, cells)
    border = np.empty((nj + 2, nk + 2), np.int32)
    border[:] = -1
    slot = (r1 - 1) & 1
    for cj in range(nj + 2):
        for ck in range(nk + 2):
            if stamp[slot, cj, ck] == r1 - 1:
                border[cj, ck] = vids[slot, cj, ck]
    return quads, pairs, cells, border, q, vcount[0]


@njit(cache=True, nogil=True)
def _link(quads, qstarts, vstarts, borders):
    """Slab-local vertex ids in the concatenated ``quads`` to global ids, in place."""
    nk2 = borders.shape[2]
    for s in range(qstarts.shape[0] - 1):
        for q in range(qstarts[s], qstarts[s + 1]):
            for e in range(4):
                v = quads[q, e]
                if v >= 0:
                    quads[q, e] = v + vstarts[s]
                else:
                    c = -1 - v
                    quads[q, e] = borders[s - 1, c // nk2, c % nk2] + vstarts[s - 1]


def _slabs(rows: int) -> np.ndarray:
    """Slab bounds over the padded volume's ``rows`` voxel rows: fixed by the shape alone
    (never by the thread count), at least 24 rows each, at most 16 slabs."""
    count = max(1, min(16, rows // 24))
    return np.linspace(0, rows, count + 1).astype(np.int64)


def extract(labels: np.ndarray, binary: bool, skip: tuple[int, int] | None):
    """(quads (q, 4) int32, pairs (q, 2) int32, cells (v, 3) int32 padded cell indices).

    The volume is cut into slabs of voxel rows, walked in parallel (numba's thread count
    of threads); the numbering is that of one walk of the whole volume, whatever the
    threads."""
    skip_a, skip_b = (-1, -1) if skip is None else (int(skip[0]), int(skip[1]))
    bounds = _slabs(labels.shape[0] + 2)

    def one(s: int):
        quads, pairs, cells, border, q, v = _slab(labels, binary, skip_a, skip_b, int(bounds[s]), int(bounds[s + 1]))
        return quads[:q], pairs[:q], cells[:v], border

    threads = max(1, min(get_num_threads(), len(bounds) - 1))
    if threads == 1:
        parts = [one(s) for s in range(len(bounds) - 1)]
    else:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(one, range(len(bounds) - 1)))
    qstarts = np.cumsum([0] + [len(p[0]) for p in parts])
    vstarts = np.cumsum([0] + [len(p[2]) for p in parts])
    quads = np.concatenate([p[0] for p in parts])
    pairs = np.concatenate([p[1] for p in parts])
    cells = np.concatenate([p[2] for p in parts])
    borders = np.stack([p[3] for p in parts])
    del parts
    _link(quads, qstarts, vstarts, borders)
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
    for m in range(1, 8):  # insertion sort: eight values, mostly equal
        value = out[m]
        r = m - 1
        while r >= 0 and out[r] > value:
            out[r + 1] = out[r]
            r -= 1
        out[r + 1] = value
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
def _edges(quads, n):
    """Every vertex's quad-edge neighbours, with repeats, in CSR (starts (n + 1,), ids)."""
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
    return deg, ids


@njit(cache=True, nogil=True)
def _keep(labels, cells, binary, junction, starts, ids, kept, v0, v1):
    """For v in [v0, v1): sort v's run of ``ids``, drop repeats and the neighbours that do
    not border all of v's labels, compacted at the run's start; their count in kept[v + 1]."""
    mine = np.empty(8, np.int64)
    theirs = np.empty(8, np.int64)
    for v in range(v0, v1):
        a, b = starts[v], starts[v + 1]
        for m in range(a + 1, b):  # insertion sort: a run holds a dozen ids or so
            value = ids[m]
            r = m - 1
            while r >= a and ids[r] > value:
                ids[r + 1] = ids[r]
                r -= 1
            ids[r + 1] = value
        nv = _cell_labels(labels, cells, v, binary, mine) if junction[v] else 0
        w = a
        for s in range(a, b):
            u = ids[s]
            if s > a and u == ids[s - 1]:
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
                ids[w] = u  # compact in place within v's own run: w never passes s
                w += 1
        kept[v + 1] = w - a


@njit(cache=True, nogil=True)
def _gather(starts, ids, offsets):
    n = offsets.shape[0] - 1
    out = np.empty(offsets[n], np.int32)
    for v in range(n):
        a = starts[v]
        o = offsets[v]
        for s in range(offsets[v + 1] - o):
            out[o + s] = ids[a + s]
    return out


def _ranges(n: int, pool) -> list[tuple[int, int]]:
    """[v0, v1) ranges of n vertices for the pool's tasks (a few per thread, so a thread
    that is held up leaves its share to the others). Per-vertex results do not depend on
    the ranges."""
    parts = 1 if pool is None else 4 * get_num_threads()
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _each(pool, fn, ranges, *args) -> None:
    """fn(*args, v0, v1) over every range, on the pool's threads (the kernels drop the GIL)."""
    if pool is None or len(ranges) == 1:
        for a, b in ranges:
            fn(*args, a, b)
        return
    for future in [pool.submit(fn, *args, a, b) for a, b in ranges]:
        future.result()


def _adjacency(labels, cells, quads, binary, junction, pool=None):
    """CSR neighbours (offsets, ids): v's neighbours are the quad-edge neighbours u whose
    corner labels include all of v's (a two-label vertex's neighbours always do: a quad
    joins cells that all border the quad's own two labels). Each vertex's neighbours are
    in increasing id order."""
    n = cells.shape[0]
    starts, ids = _edges(quads, n)
    kept = np.zeros(n + 1, np.int64)
    _each(pool, _keep, _ranges(n, pool), labels, cells, binary, junction, starts, ids, kept)
    offsets = np.cumsum(kept)
    return offsets, _gather(starts, ids, offsets)


@njit(cache=True, nogil=True)
def _clamp(value, lo, hi):
    if value < lo:
        return lo
    if value > hi:
        return hi
    return value


@njit(cache=True, nogil=True)
def _taubin_step(src, dst, cells, spacing, offsets, ids, factor, v0, v1):
    """One Taubin step for v in [v0, v1): dst[v] = src[v] + factor (mean of the
    neighbours' src - src[v]), kept in v's cell: between (cell - 1) and cell (padded
    index) times spacing. Reads only ``src``, so vertices are independent."""
    for v in range(v0, v1):
        a, b = offsets[v], offsets[v + 1]
        sx = 0.0
        sy = 0.0
        sz = 0.0
        for s in range(a, b):
            u = ids[s]
            sx += src[u, 0]
            sy += src[u, 1]
            sz += src[u, 2]
        if b > a:
            inv = 1.0 / (b - a)
            sx = sx * inv - src[v, 0]
            sy = sy * inv - src[v, 1]
            sz = sz * inv - src[v, 2]
        dst[v, 0] = _clamp(src[v, 0] + factor * sx, (cells[v, 0] - 1) * spacing[0], cells[v, 0] * spacing[0])
        dst[v, 1] = _clamp(src[v, 1] + factor * sy, (cells[v, 1] - 1) * spacing[1], cells[v, 1] * spacing[1])
        dst[v, 2] = _clamp(src[v, 2] + factor * sz, (cells[v, 2] - 1) * spacing[2], cells[v, 2] * spacing[2])


def _taubin(x, cells, spacing, offsets, ids, iterations, lam, mu, pool=None) -> None:
    """Taubin smoothing of ``x`` in place, each vertex kept in its cell. Each step reads
    the positions before it and writes the other of two buffers; the steps come in pairs
    (lambda, mu), so the last one writes ``x``."""
    other = np.empty_like(x)
    ranges = _ranges(x.shape[0], pool)
    for _ in range(iterations):
        _each(pool, _taubin_step, ranges, x, other, cells, spacing, offsets, ids, lam)
        _each(pool, _taubin_step, ranges, other, x, cells, spacing, offsets, ids, mu)


_POOL_MIN = 20_000  # vertices: below this, threads cost more than they save


def _pool(work: int):
    """A thread pool of numba's thread count (None for one thread or little work)."""
    threads = get_num_threads()
    return ThreadPoolExecutor(threads) if threads > 1 and work >= _POOL_MIN else None


def smooth(labels, cells, quads, x, spacing, binary, junction, iterations, lam, mu) -> None:
    """Constrained Taubin smoothing of ``x`` (v, 3) in place, each vertex kept in its cell."""
    pool = _pool(len(x))
    try:
        offsets, ids = _adjacency(labels, cells, quads, binary, junction, pool)
        _taubin(x, cells, np.asarray(spacing, dtype=np.float64), offsets, ids, iterations, lam, mu, pool)
    finally:
        if pool is not None:
            pool.shutdown()

"""Compiled kernel of island removal (numba): every label's connected pieces from one
labelling pass over the volume, the small ones merged into their surroundings.

The volume is read as runs: along each row (the last axis) a run is a stretch of one
label. Runs of the same label that overlap in the row before (j - 1) or the slice before
(i - 1) are one piece (6-connectivity); a union-find over the runs joins them, and each
piece keeps its size and a linked list of its runs. Background and skipped labels get no
runs. Pieces are then handled label by label in increasing order, as a loop over labels
would: a piece smaller than the limit takes the label most common among the voxels that
touch it (6-neighbours, each counted once; ties to the lower label; none: background),
and when that label has pieces of its own they join it, so a piece that grows past the
limit that way is kept. Memory: a few int32 per run, never a whole-volume temporary.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(
    os.environ.get("ARKIT_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "arkit")), "numba"))

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

_CHUNK = 32  # voxels compared at once when a run is followed
_STEPS = np.array([[-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]], np.int64)  # 6-neighbours


@njit(cache=True, nogil=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@njit(cache=True, nogil=True)
def _union(parent, size, head, tail, nxt, a, b):
    """One piece of the pieces of runs a and b, under the lower root: sizes added, run
    lists chained."""
    a, b = _find(parent, a), _find(parent, b)
    if a == b:
        return
    keep, other = min(a, b), max(a, b)
    parent[other] = keep
    size[keep] += size[other]
    nxt[tail[keep]] = head[other]
    tail[keep] = tail[other]


@njit(cache=True, nogil=True)
def _grow(a, n):
    out = np.empty(n, a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True, nogil=True)
def _run_at(row_start, k0, k1, row, k):
    """The run of ``row`` that holds voxel k (-1: none: the voxel is untracked)."""
    lo, hi = row_start[row], row_start[row + 1]
    while lo < hi:  # the last run starting at or before k
        mid = (lo + hi) >> 1
        if k0[mid] <= k:
            lo = mid + 1
        else:
            hi = mid
    r = lo - 1
    if r >= row_start[row] and k < k1[r]:
        return r
    return -1


@njit(cache=True, nogil=True)
def _plane_runs(labels, tracked, i, row_start, k0, k1, lab, rowof, counts, n):
    """The runs of plane i's lines from index n on (tracked labels only; every voxel
    counted); the next index. The arrays have room for a run per voxel: a function of its
    own, since arrays that a loop may reallocate cost reference counting on every pass."""
    nj, nk = labels.shape[1], labels.shape[2]
    for j in range(nj):
        row = i * nj + j
        row_start[row] = n
        line = labels[i, j]
        k = 0
        while k < nk:
            v = line[k]
            e = k + 1
            while e + _CHUNK <= nk:  # whole chunks of the run by a vectorised test
                chunk = line[e:e + _CHUNK]
                d = 0
                for t in range(_CHUNK):
                    d |= chunk[t] != v
                if d:
                    break
                e += _CHUNK
            while e < nk and line[e] == v:
                e += 1
            counts[np.int64(v)] += e - k
            if tracked[np.int64(v)]:
                rowof[n] = row
                k0[n] = k
                k1[n] = e
                lab[n] = np.int64(v)
                n += 1
            k = e
    return n


@njit(cache=True, nogil=True)
def remove(labels, tracked, min_voxels):
    """Merge the pieces of tracked labels smaller than ``min_voxels`` into their
    surroundings, in place. ``tracked`` (L,) bool says which labels are handled (not the
    background, not a skipped filler); labels must be < L. Returns (voxels changed,
    voxel count per label after, (L,) int64)."""
    ni, nj, nk = labels.shape
    nlab = tracked.shape[0]
    counts = np.zeros(nlab, np.int64)
    rows = ni * nj
    row_start = np.zeros(rows + 1, np.int64)
    cap = max(1024, rows)  # runs; grown a plane at a time
    k0 = np.empty(cap, np.int32)
    k1 = np.empty(cap, np.int32)
    lab = np.empty(cap, np.int64)
    rowof = np.empty(cap, np.int32)
    n = 0
    for i in range(ni):
        if n + nj * nk > k0.shape[0]:  # room for the plane's runs, at worst one per voxel
            cap = max(2 * k0.shape[0], n + nj * nk)
            k0, k1, lab, rowof = _grow(k0, cap), _grow(k1, cap), _grow(lab, cap), _grow(rowof, cap)
        n = _plane_runs(labels, tracked, i, row_start, k0, k1, lab, rowof, counts, n)
    row_start[rows] = n
    if min_voxels <= 1 or n == 0:
        return 0, counts
    parent = np.arange(n).astype(np.int32)
    size = (k1[:n] - k0[:n]).astype(np.int64)
    head = np.arange(n).astype(np.int32)
    tail = np.arange(n).astype(np.int32)
    nxt = np.full(n, -1, np.int32)
    # pieces: join each run with the overlapping same-label runs of the row j - 1 and i - 1
    for i in range(ni):
        for j in range(nj):
            row = i * nj + j
            for other in (row - 1 if j > 0 else -1, row - nj if i > 0 else -1):
                if other < 0:
                    continue
                a, a_end = row_start[row], row_start[row + 1]
                b, b_end = row_start[other], row_start[other + 1]
                while a < a_end and b < b_end:
                    if k0[a] < k1[b] and k0[b] < k1[a] and lab[a] == lab[b]:
                        _union(parent, size, head, tail, nxt, a, b)
                    if k1[a] <= k1[b]:
                        a += 1
                    else:
                        b += 1
    # small pieces, by label then by first run (the order does not change the result)
    small = 0
    for r in range(n):
        if parent[r] == r and size[r] < min_voxels:
            small += 1
    if small == 0:
        return 0, counts
    order = np.empty(small, np.int64)
    keys = np.empty(small, np.int64)
    s = 0
    for r in range(n):
        if parent[r] == r and size[r] < min_voxels:
            order[s] = r
            keys[s] = lab[r] * n + r
            s += 1
    perm = np.argsort(keys)
    order = order[perm]
    first = keys[perm] // n  # each piece's label when the loop starts
    ring = np.empty(64, np.int64)
    changed = 0
    for s in range(small):
        r = _find(parent, order[s])
        value = lab[r]
        if value != first[s] or size[r] >= min_voxels:
            continue  # relabelled with a piece before it, or grown past the limit
        # the voxels touching the piece, each once
        m = 0
        run = head[r]
        while run >= 0:
            i, j = rowof[run] // nj, rowof[run] % nj
            for k in range(k0[run], k1[run]):
                if m + 6 > ring.shape[0]:
                    ring = _grow(ring, 2 * ring.shape[0])
                for d in range(6):
                    ii, jj, kk = i + _STEPS[d, 0], j + _STEPS[d, 1], k + _STEPS[d, 2]
                    if ii < 0 or jj < 0 or kk < 0 or ii >= ni or jj >= nj or kk >= nk:
                        continue
                    if np.int64(labels[ii, jj, kk]) != value:
                        ring[m] = (ii * nj + jj) * nk + kk
                        m += 1
            run = nxt[run]
        around = np.unique(ring[:m])
        values = np.empty(around.shape[0], np.int64)
        for q in range(around.shape[0]):
            x = around[q]
            values[q] = np.int64(labels[x // (nj * nk), (x // nk) % nj, x % nk])
        values.sort()
        new, best, q = 0, 0, 0
        while q < values.shape[0]:
            e = q
            while e < values.shape[0] and values[e] == values[q]:
                e += 1
            if e - q > best:  # strictly more: ties keep the lower label
                new, best = values[q], e - q
            q = e
        # relabel the piece
        run = head[r]
        while run >= 0:
            i, j = rowof[run] // nj, rowof[run] % nj
            for k in range(k0[run], k1[run]):
                labels[i, j, k] = new
            lab[run] = new if tracked[new] else -1
            run = nxt[run]
        counts[value] -= size[r]
        counts[new] += size[r]
        changed += size[r]
        if not tracked[new]:
            continue
        # the piece is now part of the new label's pieces it touches
        for q in range(around.shape[0]):
            x = around[q]
            i, j, k = x // (nj * nk), (x // nk) % nj, x % nk
            if np.int64(labels[i, j, k]) != new:
                continue
            hit = _run_at(row_start, k0, k1, i * nj + j, k)
            if hit >= 0:
                _union(parent, size, head, tail, nxt, hit, r)
    return changed, counts

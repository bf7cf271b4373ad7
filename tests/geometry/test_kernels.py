"""The surface-net kernels give the same bytes whatever the thread count, and the slabbed
walk numbers quads and vertices exactly as one walk of the whole volume would."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from arkit_py.geometry import _netkernels
from arkit_py.geometry.surfaces import surface_net
from tests.conftest import ellipsoid_volume

THREADS = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})


def _walk(labels: np.ndarray, skip=None):
    """The multi-label surface net's quads, in plain Python: voxel by voxel over the
    padded volume, a vertex numbered when its cell is first touched."""
    padded = np.pad(labels.astype(np.int64), 1)
    ids: dict[tuple[int, int, int], int] = {}
    quads, pairs = [], []
    corners = {0: [(0, -1, -1), (0, 0, -1), (0, 0, 0), (0, -1, 0)],
               1: [(-1, 0, -1), (-1, 0, 0), (0, 0, 0), (0, 0, -1)],
               2: [(-1, -1, 0), (0, -1, 0), (0, 0, 0), (-1, 0, 0)]}
    n = padded.shape
    for i in range(n[0]):
        for j in range(n[1]):
            for k in range(n[2]):
                a = padded[i, j, k]
                for axis, step in enumerate([(1, 0, 0), (0, 1, 0), (0, 0, 1)]):
                    p = (i + step[0], j + step[1], k + step[2])
                    if p[axis] >= n[axis]:
                        continue
                    b = padded[p]
                    if a == b or (skip is not None and {int(a), int(b)} == set(skip)):
                        continue
                    quad = []
                    for d in corners[axis]:
                        cell = (i + d[0], j + d[1], k + d[2])
                        quad.append(ids.setdefault(cell, len(ids)))
                    quads.append(quad)
                    pairs.append((a, b))
    cells = np.array(sorted(ids, key=ids.get), np.int32).reshape(-1, 3)
    return np.array(quads, np.int32).reshape(-1, 4), np.array(pairs, np.int32).reshape(-1, 2), cells


def _volume(shape, seed):
    """Random touching ellipsoids: three-label junctions, shared boundaries, islands."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint8)
    for label in range(1, 7):
        centre = rng.uniform(0, np.array(shape, float))
        axes = rng.uniform(2, 0.4 * min(shape), 3)
        labels[ellipsoid_volume(shape, tuple(centre), tuple(axes))] = label
    labels[rng.random(shape) < 0.002] = 7
    return labels


# lines longer than a chunk (64 voxels) and exactly one, binary nets, other label types
@pytest.mark.parametrize("shape, skip, binary, dtype", [
    ((13, 9, 11), None, False, np.uint8), ((61, 7, 8), None, False, np.uint8), ((75, 6, 5), (2, 0), False, np.uint8),
    ((9, 7, 150), None, False, np.uint16), ((30, 5, 129), None, True, np.uint8), ((26, 6, 62), (3, 0), False, np.int32),
])
def test_slabbed_walk_numbers_as_one_walk(shape, skip, binary, dtype):
    labels = _volume(shape, seed=sum(shape)).astype(dtype)
    assert len(_netkernels._slabs(shape[0] + 2)) - 1 == max(1, (shape[0] + 2) // 24)
    want = _walk((labels != 0).astype(np.uint8) if binary else labels, skip)
    assert len(want[0]) > 50
    for threads in THREADS:
        numba.set_num_threads(threads)
        try:
            got = _netkernels.extract(labels, binary, skip)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        for w, g in zip(want, got):
            assert g.dtype == np.int32
            np.testing.assert_array_equal(g, w)


def test_same_bytes_whatever_the_threads(monkeypatch):
    monkeypatch.setattr(_netkernels, "_POOL_MIN", 0)  # threads even for this small net
    labels = _volume((130, 40, 36), seed=3)
    results = []
    for threads in THREADS + THREADS[::-1]:
        pool = None
        numba.set_num_threads(threads)
        try:
            net = surface_net(labels, spacing=(1.0, 1.3, 0.8))
            envelope = surface_net(labels, binary=True)
            quads, pairs, cells = _netkernels.extract(labels, False, None)
            junction = _netkernels.junctions(labels, cells, False)
            pool = _netkernels._pool(0)
            offsets, ids = _netkernels._adjacency(labels, cells, quads, False, junction, pool)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
            if pool is not None:
                pool.shutdown()
        results.append([net.vertices, net.faces, net.pairs, net.centres, net.junction, envelope.vertices,
                        envelope.faces, junction, offsets, ids])
    assert results[0][4].any()  # three-label junctions are there
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes()

"""Island removal and patch splitting (compiled kernels) against plain scipy and numpy
versions written the obvious way: one labelling per label, one numpy pass per patch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from arkit_py.geometry.decimate import split_patches
from arkit_py.geometry.surfaces import island_pass, remove_islands, surface_net


def _islands_by_label(labels: np.ndarray, min_voxels: int, skip=frozenset()) -> int:
    """Label by label in increasing order: scipy's labelling of the whole volume, each small
    piece to the most common label among the voxels touching it (ties to the lower)."""
    changed = 0
    for value in range(1, int(labels.max()) + 1):
        if value in skip:
            continue
        pieces, count = ndimage.label(labels == value)
        sizes = np.bincount(pieces.ravel(), minlength=count + 1)
        for piece in range(1, count + 1):
            if sizes[piece] >= min_voxels:
                continue
            island = pieces == piece
            ring = ndimage.binary_dilation(island) & ~island
            around = labels[ring]
            around = around[around != value]
            labels[island] = np.bincount(around).argmax() if len(around) else 0
            changed += int(sizes[piece])
            pieces[island] = 0
    return changed


def _random(rng, shape, dtype, labels):
    volume = rng.integers(0, labels, size=shape)
    if rng.random() < 0.5:  # blobs as well as salt: pieces that merge into pieces
        volume = ndimage.median_filter(volume, 3)
    return volume.astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_islands_as_label_by_label(dtype):
    rng = np.random.default_rng(int(np.dtype(dtype).itemsize))
    for _ in range(40):
        shape = tuple(int(n) for n in rng.integers(2, 15, 3))
        volume = _random(rng, shape, dtype, int(rng.integers(2, 8)))
        min_voxels = int(rng.integers(2, 12))
        skip = frozenset({int(rng.integers(1, 4))}) if rng.random() < 0.3 else frozenset()
        want = volume.copy()
        changed_want = _islands_by_label(want, min_voxels, skip)
        got = volume.copy()
        changed, counts = island_pass(got, min_voxels, skip=skip)
        np.testing.assert_array_equal(got, want)
        assert changed == changed_want
        np.testing.assert_array_equal(counts[: int(got.max()) + 1], np.bincount(got.ravel()))
        assert counts[int(got.max()) + 1:].sum() == 0


def test_a_piece_that_grows_past_the_limit_is_kept():
    # a plate of 2s with a rim (13 voxels) holds a single 1 (under a 3): the 1 becomes 2
    # (five of its six neighbours), its piece then has 14 voxels and is kept at a limit of 14
    labels = np.zeros((5, 5, 7), np.uint8)
    labels[1:4, 1:4, 2] = 2
    for i, j in ((1, 2), (3, 2), (2, 1), (2, 3)):
        labels[i, j, 3] = 2
    labels[2, 2, 3] = 1
    labels[2, 2, 4] = 3
    assert (labels == 2).sum() == 13
    changed = remove_islands(labels, 14, skip=frozenset({3}))
    assert changed == 1 and labels[2, 2, 3] == 2 and (labels == 2).sum() == 14
    # without the 1 the piece stays at 13 voxels and goes
    labels[2, 2, 3] = 0
    assert remove_islands(labels, 15, skip=frozenset({3})) == 13 and not (labels == 2).any()


def test_islands_refuse_negative_labels():
    with pytest.raises(ValueError, match="must not be negative"):
        island_pass(np.full((3, 3, 3), -1, np.int32), 8)


def _split_by_pair(vertices, faces, pairs):
    """One numpy pass per label pair: faces from the lower label into the higher one, local
    ids in global id order."""
    lo, hi = pairs.min(axis=1), pairs.max(axis=1)
    out = []
    for a, b in sorted(set(zip(lo.tolist(), hi.tolist()))):
        mine = np.flatnonzero((lo == a) & (hi == b))
        f = faces[mine].copy()
        flip = pairs[mine, 0] != a
        f[flip] = f[flip][:, ::-1]
        ids, local = np.unique(f, return_inverse=True)
        out.append(((a, b), vertices[ids].astype(np.float32), local.reshape(-1, 3), ids))
    return out


@pytest.mark.parametrize("mirror", [False, True])
def test_split_patches_as_one_pass_per_pair(mirror):
    rng = np.random.default_rng(5)
    labels = _random(rng, (17, 12, 23), np.uint8, 5)
    net = surface_net(labels, spacing=(1.0, 1.4, 0.7))
    mask = rng.random(len(net.faces)) < 0.9
    pairs = np.where(net.pairs == 1, -1, net.pairs)  # a label -1 (the envelope's) shifted to 0
    got = split_patches(net.vertices, net.faces, pairs, mask=mask, shift=1, mirror=mirror)
    faces = net.faces[:, ::-1] if mirror else net.faces
    want = _split_by_pair(net.vertices, faces[mask], pairs[mask] + 1)
    assert len(got) == len(want) > 5
    uses = np.zeros(len(net.vertices), int)
    for *_, ids in want:
        uses[ids] += 1
    for patch, (key, vertices, faces, ids) in zip(got, want):
        assert patch.key == key
        np.testing.assert_array_equal(patch.global_ids, ids)
        np.testing.assert_array_equal(patch.faces, faces)
        assert patch.vertices.dtype == np.float32 and patch.vertices.tobytes() == vertices.tobytes()
        shared = uses[ids] > 1
        if shared.any():
            np.testing.assert_array_equal(patch.locked, shared.astype(np.uint8))
        else:
            assert patch.locked is None

"""Shape-based interpolation of thick slices (arkit_py/sources/slices.py), against shapes
sampled directly on the thin grid: ellipsoids with unequal radii, anisotropic voxels, the
thick axis in every position."""

from __future__ import annotations

import numpy as np
import pytest

from arkit_py.sources.slices import interpolate_slices, slice_factor


def ellipsoids(shape, spacing):
    """Two nested ellipsoids with unequal radii (label 1 around label 2), sampled at voxel
    centres."""
    axes = [(np.arange(n) - (n - 1) / 2.0) * d for n, d in zip(shape, spacing)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    outer = (x / 19.0) ** 2 + (y / 13.0) ** 2 + (z / 23.0) ** 2 <= 1
    inner = ((x - 3.0) / 7.0) ** 2 + ((y + 2.0) / 5.0) ** 2 + ((z - 4.0) / 11.0) ** 2 <= 1
    labels = np.zeros(shape, np.uint8)
    labels[outer] = 1
    labels[inner] = 2
    return labels


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_thick_slices_come_back_close_to_the_thin_truth(axis):
    fine = np.array([0.9, 1.1, 1.3])
    factor = 4
    thick = fine.copy()
    thick[axis] *= factor
    shape_thin = np.array([56, 40, 44])
    shape_thick = shape_thin.copy()
    shape_thick[axis] //= factor
    coarse = ellipsoids(tuple(shape_thick), thick)
    # the thin truth: sample points at the centres of the split slices
    truth_axes = []
    for d in range(3):
        n, h = shape_thin[d], fine[d]
        truth_axes.append((np.arange(n) - (n - 1) / 2.0) * h)
    x, y, z = np.meshgrid(*truth_axes, indexing="ij")
    truth = np.zeros(tuple(shape_thin), np.uint8)
    truth[(x / 19.0) ** 2 + (y / 13.0) ** 2 + (z / 23.0) ** 2 <= 1] = 1
    truth[((x - 3.0) / 7.0) ** 2 + ((y + 2.0) / 5.0) ** 2 + ((z - 4.0) / 11.0) ** 2 <= 1] = 2
    out = interpolate_slices(coarse, thick, axis=axis, factor=factor)
    nearest = np.repeat(coarse, factor, axis=axis)
    assert out.shape == nearest.shape == truth.shape
    wrong_interpolated = np.count_nonzero(out != truth)
    wrong_nearest = np.count_nonzero(nearest != truth)
    # all the error of repeated slices is their terraces (in-plane sampling is the truth's):
    # interpolation removes about 35-40 % of it on these shapes
    assert wrong_interpolated < 0.75 * wrong_nearest, (wrong_interpolated, wrong_nearest)
    # every structure keeps its volume (factor x its old voxels), and nothing new appears
    for label in (1, 2):
        assert np.count_nonzero(out == label) == pytest.approx(factor * np.count_nonzero(coarse == label), rel=0.03)
    assert set(np.unique(out)) == {0, 1, 2}
    # the inner ellipsoid stays inside the outer one
    assert not np.any((out == 2) & (nearest == 0))


def test_slice_factor_is_the_ratio_of_slice_to_pixel():
    assert slice_factor((2.137, 2.137, 8.0)) == (2, 4)  # the ICRP 110 male
    assert slice_factor((1.775, 1.775, 4.84)) == (2, 3)  # the ICRP 110 female
    assert slice_factor((1.0, 1.0, 1.5)) == (2, 1)  # near-isotropic: left alone
    assert slice_factor((8.0, 2.0, 2.5)) == (0, 3)
    assert slice_factor((1.0, 1.0, 20.0)) == (2, 4)  # at most 4


def test_factor_one_is_a_copy_and_bad_input_is_refused():
    labels = ellipsoids((20, 16, 12), (2.0, 2.0, 6.0))
    out = interpolate_slices(labels, (2.0, 2.0, 6.0), axis=2, factor=1)
    assert np.array_equal(out, labels) and out is not labels
    with pytest.raises(ValueError, match="factor"):
        interpolate_slices(labels, (2.0, 2.0, 6.0), axis=2, factor=0)
    with pytest.raises(ValueError, match="3D"):
        interpolate_slices(labels[0], (2.0, 2.0, 6.0), axis=1, factor=2)

"""The body outline from a CT (``--ct``): on the real TotalSegmentator CT every organ lies
inside it; across grids of other orientation and spacing it lands where the body is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arkit_py.sources.body import CtVolume, add_body_from_ct, body_mask, read_ct, resample_mask
from arkit_py.sources.load import load_segmentation

DATA = Path(__file__).resolve().parents[1] / "data" / "totalsegmentator"


def test_every_organ_of_the_real_ct_lies_inside_its_body():
    ct = read_ct(str(DATA / "example_ct.nii.gz"))
    seg = load_segmentation(str(DATA / "example_seg_fast_force_split.nii.gz"), labels="totalsegmentator")
    out = add_body_from_ct(seg, ct)
    body = out.layers[0] == out.body_label
    occupied = out.layers[0] != 0
    assert out.segments[out.body_label].structure.name == "body"
    litres = body.sum() * 27e-6
    assert 8 < litres < 40, litres  # a trunk from the lower chest to the pelvis
    inside = body_mask(ct)
    for label, segment in seg.segments.items():
        voxels = seg.layers[0] == label
        if voxels.any():
            assert inside[voxels].mean() >= 0.98, segment.structure.name
    assert np.array_equal(occupied, (seg.layers[0] != 0) | body)  # structures keep their labels


def _ellipsoid(shape, affine, centre, axes):
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    ras = (affine[:3, :3] @ ijk).T + affine[:3, 3]
    return ((((ras - centre) / axes) ** 2).sum(axis=1) <= 1.0).reshape(shape)


def test_the_outline_crosses_grids_of_other_orientation_and_spacing():
    """A CT on an L, P, S grid of 1.5 x 2.5 x 3 mm (a body of soft tissue with two air-filled
    lungs, an arm beside it and a table below it) and a label map on an R, A, S grid of 2 mm:
    the body on the label map's grid is the true body and arm, lungs included, table excluded."""
    body_c, body_r = np.array([0.0, 0.0, 0.0]), np.array([80.0, 55.0, 120.0])
    ct_affine = np.array([[-1.5, 0, 0, 100.0], [0, -2.5, 0, 80.0], [0, 0, 3.0, -150.0], [0, 0, 0, 1]])
    ct_shape = (134, 70, 101)
    hu = np.full(ct_shape, -1000.0, dtype=np.float32)
    hu[_ellipsoid(ct_shape, ct_affine, body_c, body_r)] = 40.0
    for side in (-1, 1):
        hu[_ellipsoid(ct_shape, ct_affine, np.array([side * 35.0, 0, 40]), np.array([22.0, 28.0, 50.0]))] = -850.0
    arm = (np.array([-89.0, 0.0, 20.0]), np.array([5.5, 7.0, 60.0]))  # beside the trunk, 0.4 % of it
    hu[_ellipsoid(ct_shape, ct_affine, *arm)] = 40.0
    hu[:, 66:69, :] = 200.0  # the table, posterior, apart from the body: flat and wide
    seg_affine = np.array([[2.0, 0, 0, -90.0], [0, 2.0, 0, -64.0], [0, 0, 2.0, -130.0], [0, 0, 0, 1]])
    seg_shape = (91, 65, 131)
    labels = np.zeros(seg_shape, np.uint8)
    labels[_ellipsoid(seg_shape, seg_affine, np.array([-20.0, 5, -30]), np.array([25.0, 15, 12]))] = 1
    from arkit_py.sources.segmentation import Segment, Segmentation
    from arkit_py.structures import lookup

    seg = Segmentation([labels], seg_affine, {1: Segment(1, lookup("liver"))})
    out = add_body_from_ct(seg, CtVolume(hu, ct_affine))
    got = out.layers[0] != 0
    truth = _ellipsoid(seg_shape, seg_affine, body_c, body_r) | _ellipsoid(seg_shape, seg_affine, *arm)
    assert (got != truth).sum() / truth.sum() < 0.03  # voxel-centre sampling at the boundary only
    assert np.array_equal(out.layers[0] == 1, labels == 1)
    arm_voxels = _ellipsoid(seg_shape, seg_affine, *arm)
    assert arm_voxels.sum() > 100 and got[arm_voxels].mean() > 0.85  # the arm is body (a thin one: its rim)
    on_ct = body_mask(CtVolume(hu, ct_affine))
    assert not on_ct[:, 66:69, :].any() and on_ct[_ellipsoid(ct_shape, ct_affine, *arm)].mean() > 0.95
    assert seg.layers[0] is labels and seg.body_label is None  # the input is unchanged


def test_resampling_is_by_both_affines():
    mask = np.zeros((4, 5, 6), bool)
    mask[1, 2, 3] = True
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [10, 20, 30]
    # the same grid, mirrored along i: index i' = 3 - i
    other = affine.copy()
    other[0, 0], other[0, 3] = -2.0, 10 + 2.0 * 3
    out = resample_mask(mask, affine, mask.shape, other)
    assert np.argwhere(out).tolist() == [[2, 2, 3]]


def test_a_ct_that_is_not_in_hu_is_refused(tmp_path):
    from arkit_py.errors import InputError

    with pytest.raises(InputError, match="above -500 HU"):
        body_mask(CtVolume(np.full((4, 4, 4), -1000.0, np.float32), np.eye(4)))

"""Curves measured in a generated dynamic PET whose per-organ curves are known.

The PET: three ellipsoid organs (liver, left kidney, urinary bladder) in an ellipsoid
body, defined in RAS mm, on a 64 x 64 x 48 grid of 3 x 3 x 4 mm voxels, 12 frames. A voxel
whose centre is in an organ holds that organ's curve at the frame's mid-time, one in the
body the body's, the rest 0. Labels drawn from the same shapes on the same grid must give
the curves back exactly.

Labels on another grid (2 mm voxels, axes flipped and shifted, or oblique) are drawn from
the organs shrunk by 20 %. A PET voxel that takes an organ label then lies in its label
voxel, whose centre is inside the shrunk organ, so the PET voxel's centre is within half a
label voxel's diagonal of the shrunk organ and (the gap between the shrunk and the full
organ being at least 20 % of its shortest semi-axis, more than that half-diagonal) inside
the full organ: its value is the organ's curve. Organ means must again be exact; a wrong
flip or offset would mix in other organs' curves.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erf

from arkit_py.errors import InputError
from arkit_py.sources.pet import DynamicPet
from arkit_py.sources.segmentation import Segment, Segmentation
from arkit_py.structures import lookup
from arkit_py.tracer.extract import extract_curves, labels_on_grid, sample_inward
from arkit_py.tracer.inputs import read_pet as read_dynamic_pet
from tests.sources.test_pet import bids, write_pet

SHAPE = (64, 64, 48)
SPACING = np.array([3.0, 3.0, 4.0])
PET_AFFINE = np.diag([*SPACING, 1.0])
PET_AFFINE[:3, 3] = -(np.array(SHAPE) - 1) / 2 * SPACING  # grid centred on the RAS origin

#: Frame durations (s): 4 x 30 s, 4 x 60 s, 4 x 300 s from injection.
DURATIONS = np.array([30.0] * 4 + [60.0] * 4 + [300.0] * 4)
STARTS = np.concatenate([[0.0], np.cumsum(DURATIONS)[:-1]])
MID = STARTS + DURATIONS / 2

#: name -> (label, centre mm, semi-axes mm, curve of t in Bq/mL). Body first: organs overwrite it.
ORGANS = {
    "body": (1, (0.0, 0.0, 0.0), (85.0, 70.0, 85.0), lambda t: 2000.0 + 3000.0 * np.exp(-t / 300.0)),
    "liver": (2, (-35.0, 5.0, 20.0), (30.0, 25.0, 22.0), lambda t: 1000.0 + 8000.0 * (1 - np.exp(-t / 200.0))),
    "kidney_left": (3, (40.0, -25.0, -15.0), (14.0, 12.0, 25.0),
                    lambda t: 20000.0 * (t / 400.0) * np.exp(1 - t / 400.0)),
    "urinary_bladder": (4, (5.0, 10.0, -55.0), (20.0, 18.0, 15.0), lambda t: 50.0 * t),
}
NAMES = tuple(ORGANS)


def centres_mm(shape, affine) -> np.ndarray:
    """(I, J, K, 3) RAS mm of every voxel centre."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(np.float64)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def inside(points, centre, axes, scale=1.0) -> np.ndarray:
    return (((points - np.asarray(centre)) / (np.asarray(axes) * scale)) ** 2).sum(axis=-1) <= 1.0


def label_map(shape, affine, scale=1.0, organs=ORGANS) -> np.ndarray:
    """(I, J, K) uint8: each organ's label where the voxel centre is inside it (organs
    scaled by ``scale``; the body keeps its size)."""
    p = centres_mm(shape, affine)
    out = np.zeros(shape, dtype=np.uint8)
    for name, (label, centre, axes, _) in organs.items():
        out[inside(p, centre, axes, 1.0 if name == "body" else scale)] = label
    return out


def segmentation(layers, affine, names=None) -> Segmentation:
    names = names or {label: name for name, (label, *_rest) in ORGANS.items()}
    segments = {label: Segment(label, lookup(name), layer=0) for label, name in names.items()}
    return Segmentation([np.asarray(x) for x in layers], np.asarray(affine, dtype=np.float64), segments, body_label=1)


def truth(name) -> np.ndarray:
    return ORGANS[name][3](MID)


@pytest.fixture(scope="module")
def pet() -> DynamicPet:
    labels = label_map(SHAPE, PET_AFFINE)
    table = np.zeros((len(MID), 5), dtype=np.float32)
    for label, *_rest, curve in ORGANS.values():
        table[:, label] = curve(MID)
    frames = table[:, labels]  # (T, I, J, K)
    return DynamicPet(frames, PET_AFFINE, STARTS, DURATIONS, decay_corrected=True, nuclide="F-18")


# --- extraction ------------------------------------------------------------------------

def test_same_grid_gives_every_curve_exactly(pet):
    labels = label_map(SHAPE, PET_AFFINE)
    curves = extract_curves(pet, segmentation([labels], PET_AFFINE))
    assert curves.regions == NAMES
    assert curves.quantity == "concentration" and curves.decay_corrected and curves.nuclide == "F-18"
    np.testing.assert_array_equal(curves.times_s, MID)
    for name in NAMES:
        np.testing.assert_allclose(curves.column(name), truth(name), rtol=1e-6)
    voxel_ml = float(np.prod(SPACING)) / 1000.0
    for name, (label, *_rest) in ORGANS.items():
        assert curves.meta["voxels"][name] == int(np.sum(labels == label))
        assert curves.meta["volumes_ml"][name] == pytest.approx(np.sum(labels == label) * voxel_ml)
        assert curves.meta["labels"][name] == label
    # the organs' volumes on the grid are close to the ellipsoids'
    for name in NAMES[1:]:
        _, _, axes, _ = ORGANS[name]
        assert curves.meta["volumes_ml"][name] == pytest.approx(4 / 3 * math.pi * np.prod(axes) / 1000, rel=0.05)
    assert curves.meta["warnings"] == []


def flipped_affine() -> np.ndarray:
    """2 x 2 x 2.5 mm voxels, R and S axes reversed, origin shifted off the PET's."""
    a = np.diag([-2.0, 2.0, -2.5, 1.0])
    a[:3, 3] = (97.3, -101.1, 108.4)
    return a


def oblique_affine() -> np.ndarray:
    axis = np.array([1.0, 2.0, 3.0]) / math.sqrt(14.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + math.sin(0.3) * k + (1 - math.cos(0.3)) * k @ k
    a = np.eye(4)
    a[:3, :3] = rotation * 2.2
    a[:3, 3] = -rotation @ np.full(3, 2.2 * 54.5)  # a 110-voxel cube centred near the origin
    return a


@pytest.mark.parametrize(("affine", "shape"), [(flipped_affine(), (100, 96, 88)), (oblique_affine(), (110, 110, 110))],
                         ids=["flipped", "oblique"])
def test_labels_on_another_grid_keep_the_organ_curves(pet, affine, shape):
    labels = label_map(shape, affine, scale=0.8)
    curves = extract_curves(pet, segmentation([labels], affine))
    assert curves.regions == NAMES
    for name in NAMES[1:]:
        np.testing.assert_allclose(curves.column(name), truth(name), rtol=1e-6)
        _, _, axes, _ = ORGANS[name]
        shrunk_ml = 4 / 3 * math.pi * np.prod(axes) * 0.8**3 / 1000
        assert curves.meta["volumes_ml"][name] == pytest.approx(shrunk_ml, rel=0.06)
    # the body label takes in the organs' 20 % rims, so only its order of magnitude is right
    np.testing.assert_allclose(curves.column("body"), truth("body"), rtol=0.25)


def test_nearest_neighbour_resampling_by_affine():
    # a label grid at twice the PET's resolution, shifted by half a PET voxel and reversed on j
    pet_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    label_affine = np.diag([1.0, -1.0, 1.0, 1.0])
    label_affine[:3, 3] = (0.0, 9.0, 0.0)
    layer = np.arange(10 * 10 * 10, dtype=np.uint16).reshape(10, 10, 10) + 1
    flat = labels_on_grid([layer], label_affine, (6, 6, 6), pet_affine)[0].reshape(6, 6, 6)
    for i, j, k in [(0, 0, 0), (1, 2, 3), (4, 4, 4), (4, 0, 2)]:
        x, y, z = 2 * i, 2 * j, 2 * k  # PET voxel centre, mm
        assert flat[i, j, k] == layer[x, 9 - y, z]
    assert np.all(flat[5] == 0) and np.all(flat[:, 5] == 0)  # centres at 10 mm fall outside the label grid
    # the general (oblique) path gives the same answer as the axis-aligned one
    from arkit_py.tracer import extract

    m = np.linalg.inv(label_affine) @ pet_affine
    general = extract._on_grid_general([layer], m, (6, 6, 6), slab_voxels=40)[0]
    np.testing.assert_array_equal(general, flat.ravel())


def test_overlapping_layers_each_count(pet):
    labels = label_map(SHAPE, PET_AFFINE)
    # a second layer: a "lesion" ball inside the liver, relabelled 9; the PET there holds its own curve
    lesion_centre, lesion_axes = (-40.0, 5.0, 20.0), (9.0, 9.0, 9.0)
    p = centres_mm(SHAPE, PET_AFFINE)
    in_lesion = inside(p, lesion_centre, lesion_axes)
    layer2 = np.where(in_lesion, 9, 0).astype(np.uint8)
    lesion_curve = 30000.0 * np.exp(-MID / 900.0)
    frames = pet.frames.copy()
    frames[:, in_lesion] = lesion_curve.astype(np.float32)[:, None]
    hot = DynamicPet(frames, PET_AFFINE, STARTS, DURATIONS)
    names = {label: name for name, (label, *_rest) in ORGANS.items()} | {9: "lesion"}
    seg = segmentation([labels, layer2], PET_AFFINE, names)
    seg.segments[9] = Segment(9, lookup("lesion"), layer=1)
    curves = extract_curves(hot, seg)
    assert curves.regions == (*NAMES, "lesion")
    np.testing.assert_allclose(curves.column("lesion"), lesion_curve, rtol=1e-6)
    n_liver, n_lesion = int(np.sum(labels == 2)), int(np.sum(in_lesion))
    expected = ((n_liver - n_lesion) * truth("liver") + n_lesion * lesion_curve) / n_liver
    np.testing.assert_allclose(curves.column("liver"), expected, rtol=1e-6)
    np.testing.assert_allclose(curves.column("kidney_left"), truth("kidney_left"), rtol=1e-6)


def test_labels_sharing_a_name_get_their_label_appended(pet):
    labels = label_map(SHAPE, PET_AFFINE)
    p = centres_mm(SHAPE, PET_AFFINE)
    labels[(labels == 2) & (p[..., 2] > 20.0)] = 5  # the liver's upper half, also called liver
    names = {1: "body", 2: "liver", 3: "kidney_left", 4: "urinary_bladder", 5: "Liver"}
    curves = extract_curves(pet, segmentation([labels], PET_AFFINE, names))
    assert curves.regions == ("body", "liver_2", "kidney_left", "urinary_bladder", "liver_5")
    for region in ("liver_2", "liver_5"):
        np.testing.assert_allclose(curves.column(region), truth("liver"), rtol=1e-6)
    assert any("liver" in w for w in curves.meta["warnings"])


def test_a_structure_outside_the_pet_is_left_out_with_a_warning(pet):
    affine = flipped_affine()
    shape = (100, 96, 88)
    labels = label_map(shape, affine, scale=0.8)
    labels[0:3, 0:3, 0:3] = 7  # a corner of the label grid beyond the PET's field of view
    names = {label: name for name, (label, *_rest) in ORGANS.items()} | {7: "spleen", 8: "pancreas"}
    curves = extract_curves(pet, segmentation([labels], affine, names))
    assert "spleen" not in curves.regions and "pancreas" not in curves.regions
    assert curves.regions == NAMES
    warnings = curves.meta["warnings"]
    assert any("spleen" in w and "label 7" in w for w in warnings)
    assert any("pancreas" in w for w in warnings)


def test_grids_that_do_not_overlap_are_an_input_error(pet):
    affine = flipped_affine()
    affine[:3, 3] += (1000.0, 0.0, 0.0)
    labels = label_map((100, 96, 88), flipped_affine(), scale=0.8)
    with pytest.raises(InputError, match="do not overlap") as info:
        extract_curves(pet, segmentation([labels], affine), spec="organs.nii.gz")
    assert str(info.value).startswith("organs.nii.gz: ")
    # overlapping grids, but every labelled voxel lies outside the PET
    far = np.zeros((100, 96, 88), dtype=np.uint8)
    far[:, :3, :] = 2  # A < -96 mm, beyond the PET's edge
    with pytest.raises(InputError, match="no labelled voxel"):
        extract_curves(pet, segmentation([far], flipped_affine()))


# --- a PET read from a file ---------------------------------------------------------------

def test_a_read_pet_gives_the_curves(tmp_path, pet):
    data = np.moveaxis(pet.frames, 0, -1) / 1000.0  # written in kBq/mL
    sidecar = bids(12, InjectionStart=10.0, FrameTimesStart=list(STARTS + 10.0), FrameDuration=list(DURATIONS),
                   Units="kBq/mL")
    path = write_pet(tmp_path, data.astype(np.float32), sidecar, affine=PET_AFFINE)
    curves = extract_curves(read_dynamic_pet(path), segmentation([label_map(SHAPE, PET_AFFINE)], PET_AFFINE))
    np.testing.assert_allclose(curves.times_s, MID)
    for name in NAMES:
        np.testing.assert_allclose(curves.column(name), truth(name), rtol=1e-6)


# --- sampling inside surfaces ------------------------------------------------------------

def blurred_ball(r, radius, sigma):
    """A uniform ball of value 1 convolved with an isotropic Gaussian, at distance r from
    its centre (closed form)."""
    r = np.maximum(np.asarray(r, dtype=np.float64), 1e-9)
    s2 = math.sqrt(2.0) * sigma
    gauss = np.exp(-((radius - r) ** 2) / (2 * sigma**2)) - np.exp(-((radius + r) ** 2) / (2 * sigma**2))
    return 0.5 * (erf((radius - r) / s2) + erf((radius + r) / s2)) - sigma / (r * math.sqrt(2 * math.pi)) * gauss


def sphere_points(n, seed=3):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1)[:, None]


def test_sample_inward_on_a_blurred_sphere():
    # 2 mm voxels, resolution FWHM 2 voxels (4 mm), a 20 mm ball; axes flipped, origin shifted
    voxel, radius = 2.0, 20.0
    sigma = 2 * voxel / (2 * math.sqrt(2 * math.log(2)))
    affine = np.diag([-voxel, voxel, -voxel, 1.0])
    affine[:3, 3] = (40.0, -30.0, 45.0)
    centre = np.array([0.5, 9.3, 5.1])
    shape = (40, 40, 40)
    r = np.linalg.norm(centres_mm(shape, affine) - centre, axis=-1)
    ball = blurred_ball(r, radius, sigma)
    frames = np.stack([ball, 3.0 * ball]).astype(np.float32)
    pet = DynamicPet(frames, affine, [0.0, 60.0], [60.0, 60.0])
    directions = sphere_points(300)
    points = centre + radius * directions
    on_surface = sample_inward(pet, points, -directions, depth_mm=0.0)
    inward = sample_inward(pet, points, -5.0 * directions)  # any length: normals are normalised
    assert on_surface.shape == inward.shape == (300, 2)
    # half at the surface (a little less: the ball is convex), near the plateau inside
    assert blurred_ball(radius, radius, sigma) == pytest.approx(0.47, abs=0.01)
    np.testing.assert_allclose(on_surface[:, 0], blurred_ball(radius, radius, sigma), atol=0.03)
    expected = blurred_ball(radius - 1.5 * voxel, radius, sigma)
    assert expected > 0.93
    # trilinear interpolation of the concave shoulder reads a little low (up to ~0.035 here)
    np.testing.assert_allclose(inward[:, 0], expected, atol=0.04)
    assert np.all(inward[:, 0] > 0.9)
    np.testing.assert_allclose(inward[:, 1], 3.0 * inward[:, 0], rtol=1e-6)
    assert np.all(inward[:, 0] > 1.8 * on_surface[:, 0])
    # sampling outward instead shows much less
    assert np.all(sample_inward(pet, points, directions)[:, 0] < 0.2)


def test_default_depth_is_one_and_a_half_voxels_along_the_normal():
    # frames hold the R, A and S coordinates (mm): trilinear sampling of a linear ramp is exact
    spacing = np.array([3.0, 2.0, 4.0])
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = (-30.0, -20.0, -40.0)
    p = centres_mm((20, 20, 20), affine)
    pet = DynamicPet(np.moveaxis(p, -1, 0).astype(np.float32), affine, [0, 1, 2], [1, 1, 1])
    point = np.array([[1.1, -2.3, 3.7]] * 4)
    normals = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 2.0], [1.0, 1.0, 0]])
    out = sample_inward(pet, point, normals)
    np.testing.assert_allclose(out[0], point[0] + [4.5, 0, 0], atol=1e-4)
    np.testing.assert_allclose(out[1], point[0] + [0, -3.0, 0], atol=1e-4)
    np.testing.assert_allclose(out[2], point[0] + [0, 0, 6.0], atol=1e-4)
    # diagonal in R-A: 1.5 voxel lengths in index space, (1, 1)/sqrt2 mm -> (1/3, 1/2)/sqrt2 voxels
    depth = 1.5 / np.linalg.norm([1 / 3, 1 / 2])  # each of R and A
    np.testing.assert_allclose(out[3], point[0] + [depth, depth, 0], atol=1e-4)
    explicit = sample_inward(pet, point, normals, depth_mm=5.0)
    unit = normals / np.linalg.norm(normals, axis=1)[:, None]
    np.testing.assert_allclose(explicit, point + 5.0 * unit, atol=1e-4)


def test_sample_inward_outside_the_volume_is_nan_and_bad_arguments_are_value_errors():
    pet = DynamicPet(np.ones((2, 4, 4, 4), np.float32), np.eye(4), [0, 1], [1, 1])
    out = sample_inward(pet, [[1.5, 1.5, 1.5], [100.0, 0.0, 0.0], [-0.4, 0.0, 0.0]], [[1, 0, 0]] * 3, depth_mm=0.0)
    np.testing.assert_array_equal(out[0], [1.0, 1.0])
    assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(out[2], [1.0, 1.0])  # within half a voxel of the edge: nearest value
    assert sample_inward(pet, np.zeros((0, 3)), np.zeros((0, 3))).shape == (0, 2)
    with pytest.raises(ValueError, match="inward_normals"):
        sample_inward(pet, [[1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="inward_normals"):
        sample_inward(pet, [[1.0, 1.0, 1.0]], [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="points_ras_mm"):
        sample_inward(pet, [1.0, 1.0, 1.0], [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="depth_mm"):
        sample_inward(pet, [[1.0, 1.0, 1.0]], [[1.0, 0.0, 0.0]], depth_mm=-1.0)

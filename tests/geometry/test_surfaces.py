"""Surfaces against closed-form ellipsoids: volume, distance, closure, shared boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from arkit_py.geometry.decimate import DecimateOptions
from arkit_py.geometry.meshes import build_meshes
from arkit_py.geometry.surfaces import SurfaceOptions, remove_islands, surface_net
from arkit_py.sources.segmentation import Segment, Segmentation
from arkit_py.structures import lookup
from tests.analytic import ellipsoid_distance, is_closed, mesh_volume, surface_samples
from tests.conftest import ellipsoid_volume

VOXEL = 2.0  # mm
# (label, name, centre mm, semi-axes mm); B touches A (A is drawn last and wins)
ELLIPSOIDS = [
    (2, "spleen", (60.0, 62.0, 58.0), (26.0, 21.0, 30.0)),
    (1, "liver", (101.3, 61.1, 62.7), (40.0, 28.0, 18.0)),
    (3, "thyroid_gland", (100.0, 120.0, 120.0), (7.0, 5.0, 5.0)),
]


@pytest.fixture(scope="module")
def ellipsoid_seg():
    shape = (90, 80, 80)
    labels = np.zeros(shape, dtype=np.uint8)
    for label, _, centre, axes in ELLIPSOIDS:
        labels[ellipsoid_volume(shape, centre, axes, spacing=VOXEL)] = label
    labels[10:12, 10:12, 10] = 3  # a 4-voxel island: merged away
    affine = np.diag([VOXEL, VOXEL, VOXEL, 1.0])
    segments = {label: Segment(label, lookup(name)) for label, name, _, _ in ELLIPSOIDS}
    return Segmentation([labels], affine, segments)


@pytest.fixture(scope="module")
def meshed(ellipsoid_seg):
    import copy

    seg = copy.deepcopy(ellipsoid_seg)
    # a budget that forces decimation (the full-resolution surfaces hold ~40k triangles)
    return seg, build_meshes(seg, decimation=DecimateOptions(budget=6000))


def test_decimation_happened_within_budget(meshed):
    _, result = meshed
    drawn = sum(len(m.faces) for m in result.meshes.values())
    assert result.triangles_before > 4 * drawn
    assert drawn <= 6000
    assert 0 < result.error_mm <= 0.5 * VOXEL


@pytest.mark.parametrize("label", [1, 2])
def test_volume_and_distance_against_closed_form(meshed, label):
    _, result = meshed
    _, _, centre, axes = next(e for e in ELLIPSOIDS if e[0] == label)
    mesh = result.meshes[label]
    true_ml = 4 / 3 * np.pi * np.prod(axes) / 1000
    if label == 2:  # the spleen minus the liver that overlaps it: Monte Carlo, 4e6 points
        _, _, c1, a1 = ELLIPSOIDS[1]
        rng = np.random.default_rng(7)
        p = rng.uniform(-1, 1, (4_000_000, 3)) * axes + centre
        inside = (((p - centre) / axes) ** 2).sum(1) <= 1
        in_liver = (((p - c1) / a1) ** 2).sum(1) <= 1
        true_ml *= (inside & ~in_liver).sum() / inside.sum()
    assert true_ml >= 20
    assert mesh_volume(mesh.vertices, mesh.faces) / 1000 == pytest.approx(true_ml, rel=0.02)
    points = surface_samples(mesh.vertices, mesh.faces)
    d = ellipsoid_distance(points, centre, axes)
    if label == 2:  # where the spleen meets the liver, its surface is the liver's
        _, _, c1, a1 = ELLIPSOIDS[1]
        d = np.minimum(d, ellipsoid_distance(points, c1, a1))
    assert d.mean() <= 0.5 * VOXEL
    assert np.percentile(d, 95) <= 1.0 * VOXEL


def test_thin_structure_keeps_its_voxel_volume(meshed):
    seg, result = meshed
    mesh = result.meshes[3]
    voxel_ml = result.voxel_counts[3] * seg.voxel_volume_ml
    assert mesh_volume(mesh.vertices, mesh.faces) / 1000 == pytest.approx(voxel_ml, rel=0.02)


def test_every_surface_is_closed_and_outward(meshed):
    _, result = meshed
    for mesh in result.meshes.values():
        assert is_closed(mesh.faces)
        assert mesh_volume(mesh.vertices, mesh.faces) > 0


def test_neighbours_share_their_boundary_without_gaps(meshed):
    """The triangles liver and spleen have in common, reversed, cancel exactly: what is
    left of both is the closed boundary of their union (no gap, no overlap)."""
    _, result = meshed
    a, b = result.meshes[1], result.meshes[2]
    va = {tuple(np.round(p, 6)) for p in a.vertices}
    shared_vertices = [tuple(np.round(p, 6)) in va for p in b.vertices]
    assert sum(shared_vertices) > 20
    vertices = np.concatenate([a.vertices, b.vertices])
    faces = np.concatenate([a.faces.astype(np.int64), b.faces.astype(np.int64) + len(a.vertices)])
    _, index = np.unique(np.round(vertices, 6), axis=0, return_inverse=True)
    tri = index.ravel()[faces]
    key = {tuple(np.roll(t, -int(np.argmin(t)))) for t in tri}
    shared = [t for t in tri if tuple(np.roll(t[::-1], -int(np.argmin(t[::-1])))) in key]
    assert len(shared) > 20
    keep = np.array([tuple(np.roll(t[::-1], -int(np.argmin(t[::-1])))) not in key for t in tri])
    assert is_closed(tri[keep])
    union_ml = mesh_volume(np.unique(np.round(vertices, 6), axis=0), tri[keep]) / 1000
    assert union_ml == pytest.approx((mesh_volume(a.vertices, a.faces) + mesh_volume(b.vertices, b.faces)) / 1000, rel=1e-6)


def test_tiny_islands_are_merged_away(ellipsoid_seg):
    labels = ellipsoid_seg.layers[0].copy()
    before = int((labels[:20, :20, :20] == 3).sum())
    assert before == 4
    changed = remove_islands(labels, 8)
    assert changed == 4
    assert (labels[:20, :20, :20] == 3).sum() == 0
    assert (labels == 3).sum() > 90  # the real thyroid (~700 mL / 8 mL per voxel) stays


def test_smoothing_removes_the_staircase_and_stays_in_its_cells():
    shape = (40, 40, 40)
    mask = ellipsoid_volume(shape, (19.6, 20.2, 19.9), (12.0, 9.0, 7.0))
    raw = surface_net(mask.astype(np.uint8), options=SurfaceOptions(smoothing_iterations=0))
    smooth = surface_net(mask.astype(np.uint8))
    d_raw = ellipsoid_distance(raw.vertices, (19.6, 20.2, 19.9), (12.0, 9.0, 7.0)).mean()
    d_smooth = ellipsoid_distance(smooth.vertices, (19.6, 20.2, 19.9), (12.0, 9.0, 7.0)).mean()
    assert d_smooth < 0.5 * d_raw
    assert np.abs(smooth.vertices - smooth.centres).max() <= 0.5 + 1e-9
    # the unsmoothed net encloses exactly the voxels
    assert mesh_volume(raw.vertices, raw.faces_of(1)) == pytest.approx(mask.sum(), rel=1e-9)


def test_bad_spacing_is_refused():
    with pytest.raises(ValueError, match="spacing must be 3 positive numbers"):
        surface_net(np.zeros((3, 3, 3), np.uint8), spacing=(1.0, 0.0, 1.0))

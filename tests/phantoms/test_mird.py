"""The built-in phantom against its published volumes and analytic truths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from arkit_py.errors import InputError
from arkit_py.phantoms import mird
from tests.analytic import dense_samples, mesh_volume

ELLIPSOIDS = {  # organs that are plain ellipsoids: closed-form volume (mL)
    "brain": 4 / 3 * np.pi * 6.0 * 9.0 * 6.5,
    "thymus": 4 / 3 * np.pi * 1.5 * 0.8 * 4.0,
    "stomach": 4 / 3 * np.pi * 4.0 * 3.0 * 8.0,
    "spleen": 4 / 3 * np.pi * 3.5 * 2.0 * 6.0,
    "urinary_bladder": 4 / 3 * np.pi * 4.958 * 3.458 * 3.458,
    "testes": 2 * 4 / 3 * np.pi * 1.3 * 1.5 * 2.3,
}


def part(name: str) -> mird.Part:
    return next(p for p in mird.PARTS if p.name == name)


@pytest.fixture(scope="module")
def truth():
    """True volume (mL) of every organ: closed form, or Monte Carlo with 10^7 points."""
    cache = {}

    def get(name: str) -> float:
        if name not in cache:
            cache[name] = ELLIPSOIDS[name] if name in ELLIPSOIDS else mird.monte_carlo_volume(part(name), 10_000_000)[0]
        return cache[name]
    return get


@pytest.fixture(scope="module")
def phantom_1mm():
    return mird.voxelize(1.0)


def test_fine_voxel_volumes_match_published_ones(phantom_1mm):
    counts = phantom_1mm.voxel_counts()
    by_name = {s.structure.name: label for label, s in phantom_1mm.segments.items()}
    checked = 0
    for p in mird.PARTS:
        if p.verified and p.published_ml and p.name in by_name:
            volume = counts[by_name[p.name]] * phantom_1mm.voxel_volume_ml
            assert volume == pytest.approx(p.published_ml, rel=0.01), p.name
            checked += 1
    assert checked >= 15


def test_monte_carlo_agrees_with_closed_form():
    volume, sigma = mird.monte_carlo_volume(part("spleen"), 2_000_000, seed=3)
    assert abs(volume - ELLIPSOIDS["spleen"]) < 4 * sigma


def test_every_required_structure_is_there(phantom_2mm):
    names = {s.structure.name for s in phantom_2mm.segments.values()}
    required = {"body", "skull", "facial_skeleton", "spine", "rib_cage", "pelvis", "clavicula_left", "scapula_right",
                "arm_bones_left", "leg_bones_right", "brain", "lung_left", "lung_right", "heart", "liver",
                "gallbladder", "spleen", "stomach", "pancreas", "kidney_left", "kidney_right", "adrenal_gland_left",
                "adrenal_gland_right", "urinary_bladder", "thyroid_gland", "small_bowel", "colon_ascending",
                "colon_transverse", "colon_descending", "colon_sigmoid", "testes"}
    assert required <= names
    female = mird.voxelize(6.0, sex="female")
    female_names = {s.structure.name for s in female.segments.values()}
    assert {"ovaries", "uterus", "breast_left"} <= female_names and "testes" not in female_names
    walls = mird.voxelize(6.0, walls=True)
    assert "stomach_contents" in {s.structure.name for s in walls.segments.values()}


def test_organs_sit_where_anatomy_says(phantom_2mm):
    seg = phantom_2mm
    labels = seg.layers[0]
    by_name = {s.structure.name: label for label, s in seg.segments.items()}

    def centre(name):
        ijk = np.argwhere(labels == by_name[name]).mean(axis=0)
        return seg.affine[:3, :3] @ ijk + seg.affine[:3, 3]  # R, A, S in mm

    assert centre("liver")[0] > 0 > centre("spleen")[0]  # liver on the patient's right (+R)
    assert centre("brain")[2] > centre("heart")[2] > centre("urinary_bladder")[2]
    assert centre("stomach")[1] > centre("kidney_left")[1]  # stomach anterior of the kidneys


def test_hologram_volumes_and_surfaces_against_truth(phantom_hologram, phantom_2mm, truth):
    """After decimation to the phone profile: structures of 20 mL or more and at least 4
    voxels thick within 2 % of their true volume; thinner ones within 2 % of their voxel
    count."""
    _, result = phantom_hologram[False]
    counts = phantom_2mm.voxel_counts()
    by_name = {s.structure.name: label for label, s in phantom_2mm.segments.items()}
    judged = 0
    for s in result.document.structures:
        if s.name == "body":
            continue
        label = by_name[s.name]
        g = s.geometry
        volume = mesh_volume(g.positions, g.indices) * 1e6  # m^3 -> mL
        mask = phantom_2mm.layers[0] == label
        box = ndimage.find_objects(mask.astype(np.uint8))[0]
        thickness = 2 * ndimage.distance_transform_edt(np.pad(mask[box], 1)).max()
        if thickness >= 4 and truth(s.name) >= 20:
            assert volume == pytest.approx(truth(s.name), rel=0.02), s.name
            judged += 1
        else:
            assert volume == pytest.approx(counts[label] * phantom_2mm.voxel_volume_ml, rel=0.02), s.name
    assert judged >= 20


@pytest.mark.parametrize("name", ["heart", "kidney_left", "pancreas", "gallbladder", "stomach", "colon_sigmoid"])
def test_surface_distance_to_a_fine_analytic_surface(phantom_hologram, name):
    """Mean distance <= 0.5 voxel and 95th percentile <= 1 voxel, to a marching-cubes
    surface of the analytic organ at 4x finer resolution (0.5 mm)."""
    from skimage.measure import marching_cubes

    _, result = phantom_hologram[False]
    origin_to_ras = np.array(result.document.scene_extras["arkit"]["gltf_to_ras_mm"])
    s = next(s for s in result.document.structures if s.name == name)
    pts = dense_samples(s.geometry.positions, s.geometry.indices.astype(np.int64))
    ras = pts @ origin_to_ras[:3, :3].T + origin_to_ras[:3, 3]
    mird_xyz = np.stack([-ras[:, 0], -ras[:, 1], ras[:, 2]], 1) / 10.0  # cm, MIRD frame

    p = part(name)
    step = 0.05  # cm
    axes = [np.arange(lo - 0.2, hi + 0.2 + step, step) for lo, hi in p.bbox]
    mask = p.inside(axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :])
    verts, _, _, _ = marching_cubes(mask.astype(np.float32), 0.5, spacing=(step, step, step))
    verts += np.array([a[0] for a in axes])
    d = cKDTree(verts).query(mird_xyz)[0] * 10.0  # mm, ours -> truth
    back = cKDTree(mird_xyz).query(verts)[0] * 10.0  # truth -> ours (nothing missing)
    assert d.mean() <= 1.0 and np.percentile(d, 95) <= 2.0
    assert back.mean() <= 1.0 and np.percentile(back, 95) <= 2.0


@pytest.mark.parametrize("spec, problem", [
    ("phantom:mird-child", "unknown phantom"),
    ("phantom:mird-adult?voxel=abc", "voxel must be a number"),
    ("phantom:mird-adult?voxel=0.01", "between 0.25 and 20"),
    ("phantom:mird-adult?sex=other", "sex must be male or female"),
    ("phantom:mird-adult?colour=1", "unknown phantom option"),
])
def test_bad_phantom_specs(spec, problem):
    with pytest.raises(InputError, match=problem) as info:
        mird.parse_spec(spec)
    assert str(info.value).startswith(spec)


def test_a_phantom_too_large_for_memory_is_refused(monkeypatch):
    monkeypatch.setenv("ARKIT_MAX_VOXELS", "1000")
    with pytest.raises(InputError, match="volume too large"):
        mird.phantom_from_spec("phantom:mird-adult?voxel=4")


def test_every_structure_is_closed_at_1mm_after_decimation(phantom_1mm):
    """At 1 mm the junction curves are long enough that the budget needs them simplified:
    every structure must still come out closed (no holes where three labels meet)."""
    import copy

    from arkit_py.geometry.meshes import build_meshes
    from tests.analytic import is_closed

    seg = copy.deepcopy(phantom_1mm)
    result = build_meshes(seg)
    assert sum(len(m.faces) for m in result.meshes.values()) <= 100_000
    open_ones = [seg.segments[label].structure.name for label, m in result.meshes.items() if not is_closed(m.faces)]
    assert open_ones == []


def test_no_two_parts_overlap():
    """Later parts overwrite earlier ones when voxelized, so an overlap would silently take
    volume from an organ: 200,000 random points in the common box of every pair of parts
    (contents of hollow organs aside: they are drawn over their organ on purpose)."""
    import itertools

    rng = np.random.default_rng(20261202)
    parts = [p for p in mird.PARTS if not p.walls_only]
    pairs = 0
    for a, b in itertools.combinations(parts, 2):
        lo = np.maximum([r[0] for r in a.bbox], [r[0] for r in b.bbox])
        hi = np.minimum([r[1] for r in a.bbox], [r[1] for r in b.bbox])
        if np.any(lo >= hi):
            continue
        pairs += 1
        x, y, z = rng.uniform(lo, hi, size=(200_000, 3)).T
        both = a.inside(x, y, z) & b.inside(x, y, z)
        assert not both.any(), f"{a.name} and {b.name} share {np.prod(hi - lo) * both.mean():.3f} cm3"
    assert pairs > 50  # the boxes of neighbours do meet: the check compared real pairs
    # and it can fail: the stomach's contents lie inside the stomach
    contents, stomach = part("stomach_contents"), part("stomach")
    x, y, z = rng.uniform(*np.array(contents.bbox).T, size=(10_000, 3)).T
    assert (contents.inside(x, y, z) & stomach.inside(x, y, z)).any()

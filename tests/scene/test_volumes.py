"""The slice's volumes packed with a hologram (scene/volumes.py, lesson/volumes.py): the
resampling through both affines in every axis order, the NRRD's own geometry, the voxel
budget, and, in a built lesson, the CT numbers and PET values where the organs are, agreeing
with the hologram's own colouring."""

from __future__ import annotations

import io
import itertools
import json
import zipfile

import numpy as np
import pytest

from arkit_py.scene.volumes import BUDGET_BYTES, frame_times, grid_for, nrrd_bytes, resample, voxel_bytes
from tests.helpers import build_test_lesson, lesson_yaml


def linear(ras: np.ndarray) -> np.ndarray:
    """A field a trilinear resampling reproduces exactly: unequal slopes on every axis."""
    return 3.0 * ras[..., 0] - 1.5 * ras[..., 1] + 0.25 * ras[..., 2] + 7.0


def permuted_affine(order, flips, spacing) -> np.ndarray:
    """Voxel axes along RAS axes ``order`` with ``flips`` and anisotropic ``spacing`` (mm)."""
    a = np.zeros((4, 4))
    for voxel_axis, (ras_axis, flip, s) in enumerate(zip(order, flips, spacing)):
        a[ras_axis, voxel_axis] = -s if flip else s
    a[:3, 3] = [-41.0, 23.0, -7.5]
    a[3, 3] = 1.0
    return a


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
@pytest.mark.parametrize("flips", [(False, False, False), (True, False, True)])
def test_resampling_reproduces_a_linear_field_in_every_axis_order(order, flips):
    from arkit_py.geometry.frames import gltf_to_ras_mm

    spacing = (1.2, 0.7, 2.5)
    shape = (60, 90, 40)
    affine = permuted_affine(order, flips, spacing)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(np.float64)
    data = linear(ijk @ affine[:3, :3].T + affine[:3, 3]).astype(np.float32)
    to_ras = np.asarray(gltf_to_ras_mm(np.array([0.004, -0.02, 0.011])))
    # the grid inside the source, well away from its edges (the field is exact only inside)
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in shape]))) @ affine[:3, :3].T + affine[:3, 3]
    lo_ras, hi_ras = corners.min(0) + 6, corners.max(0) - 6
    inv = np.linalg.inv(to_ras)
    pts = np.array(list(itertools.product(*zip(lo_ras, hi_ras)))) @ inv[:3, :3].T + inv[:3, 3]
    grid = grid_for(pts.min(0), pts.max(0), 20_000, 1.0)
    assert grid.voxels <= 20_000
    out = resample(data, affine, grid, to_ras, outside=-1.0)
    assert out.shape == grid.shape
    centres = grid.centres_gltf() @ to_ras[:3, :3].T + to_ras[:3, 3]
    truth = linear(centres).reshape(grid.shape[::-1]).transpose(2, 1, 0)
    inside = np.all((centres >= lo_ras) & (centres <= hi_ras), axis=1).reshape(grid.shape[::-1]).transpose(2, 1, 0)
    assert inside.mean() > 0.5
    # a coarser grid smooths first: a Gaussian keeps a linear field where it is whole
    np.testing.assert_allclose(out[inside], truth[inside], atol=0.05)


def test_the_nrrd_places_its_voxels_where_the_hologram_says():
    import nrrd

    from arkit_py.geometry.frames import gltf_to_ras_mm

    to_ras = np.asarray(gltf_to_ras_mm(np.array([0.01, -0.3, 0.02])))
    grid = grid_for([-0.1, 0.0, -0.05], [0.12, 0.5, 0.06], 5000, 1.0)
    raw = (np.arange(grid.voxels, dtype=np.uint32) % 65536).astype(np.uint16).reshape(grid.shape[::-1]).transpose(2, 1, 0)
    buf = io.BytesIO(nrrd_bytes(raw, grid, to_ras, "test"))
    header = nrrd.read_header(buf)
    data = nrrd.read_data(header, buf, index_order="F")
    assert data.dtype == np.uint16 and data.shape == grid.shape
    np.testing.assert_array_equal(data, raw)
    assert header["space"] == "right-anterior-superior"
    # voxel (i, j, k) -> RAS by the NRRD's own geometry equals the hologram grid's centre -> RAS
    for ijk in [(0, 0, 0), (grid.shape[0] - 1, 3, 1), (2, grid.shape[1] - 1, grid.shape[2] - 1)]:
        ras_nrrd = header["space origin"] + np.asarray(ijk) @ header["space directions"]
        centre = grid.box_min + grid.spacing_m * (np.asarray(ijk) + 0.5)
        np.testing.assert_allclose(ras_nrrd, to_ras[:3, :3] @ centre + to_ras[:3, 3], atol=1e-3)
    # the same bytes twice: content-addressed assets need a deterministic writer
    assert nrrd_bytes(raw, grid, to_ras, "test") == nrrd_bytes(raw, grid, to_ras, "test")


def test_the_grid_fits_the_budget_and_the_floor():
    g = grid_for([-0.2, 0.0, -0.1], [0.2, 1.74, 0.1], 1_000_000, 1.0)
    assert g.voxels <= 1_000_000 and g.voxels > 900_000
    assert np.all(g.box_min <= [-0.2, 0.0, -0.1]) and np.all(g.box_max >= [0.2, 1.74, 0.1])
    small = grid_for([0, 0, 0], [0.01, 0.02, 0.03], 10_000_000, 2.0)
    assert small.spacing_m == pytest.approx(0.002)
    t = frame_times(7200.0, 4)
    assert t[0] == pytest.approx(225.0) and t[-1] == 7200.0 and all(b / a == pytest.approx(t[1] / t[0], rel=1e-4) for a, b in zip(t, t[1:]))


SLICE_LESSON = lesson_yaml("sliced", "Sliced", "A fused slice.", """
holograms:
  body: {source: "phantom:mird-adult?voxel=6", usdz: false, tracer: fdg, quantity: suv, until: 120 min,
         window: [0, 5], ct: synthetic, pet: synthetic}
steps:
  - title: Slice
    narration: The liver.
    slice: {axis: coronal, at_mm: 16, blend: 0.5}
""")


@pytest.fixture(scope="module")
def sliced(tmp_path_factory):
    bundle = build_test_lesson(tmp_path_factory.mktemp("sliced"), "sliced", SLICE_LESSON)
    z = zipfile.ZipFile(bundle)
    lesson = json.loads(z.read("lesson.json"))
    return bundle, z, lesson


def sample_ras(z, volume: dict, frame: int, ras) -> float:
    """The volume's value at a RAS point by the NRRD's own geometry (trilinear)."""
    import nrrd
    from scipy.ndimage import map_coordinates

    buf = io.BytesIO(z.read(volume["frames"][frame]["asset"]["path"]))
    header = nrrd.read_header(buf)
    data = nrrd.read_data(header, buf, index_order="F").astype(np.float64)
    d = np.asarray(header["space directions"])
    ijk = np.linalg.solve(d.T, np.asarray(ras, dtype=np.float64) - header["space origin"])
    return float(map_coordinates(data, ijk.reshape(3, 1), order=1)[0]) * volume["scale"] + volume["offset"]


def test_a_built_lesson_carries_its_volumes_within_budget(sliced):
    bundle, z, lesson = sliced
    holo = lesson["holograms"]["body"]
    volumes = holo["volumes"]
    assert set(volumes) == {"ct", "pet"}
    assert voxel_bytes(volumes) <= BUDGET_BYTES["phone"]
    names = set(z.namelist())
    for v in volumes.values():
        for f in v["frames"]:
            assert f["asset"]["path"] in names and f["asset"]["type"] == "application/x-nrrd"
    assert len(volumes["pet"]["frames"]) == 4 and volumes["ct"]["frames"][0]["time_s"] is None
    # the volumes and the GLB share one frame: the boxes hold the hologram's whole extent
    from arkit_py.scene.gltf import read_glb

    gltf, _ = read_glb(z.read(holo["assets"]["glb"]["path"]))
    to_ras = np.asarray(gltf["scenes"][0]["extras"]["arkit"]["gltf_to_ras_mm"])
    for v in volumes.values():
        corner = np.asarray(v["box_min"]) @ to_ras[:3, :3].T + to_ras[:3, 3]
        assert np.all(np.asarray(v["ras_min"]) <= corner + 1e-3) and np.all(corner - 1e-3 <= v["ras_max"])


def test_ct_numbers_and_pet_values_where_the_organs_are(sliced):
    """Liver and lung centres (the 6 mm phantom's label centroids, RAS): the CT reads each
    tissue's HU from its density, the PET's liver value at a frame is the model's
    concentration there, and the frame's display factor turns it into the SUV the
    hologram's liver node is coloured with at that time."""
    from arkit_py.sources.load import load_segmentation
    from arkit_py.sources.synthetic_ct import hounsfield
    from arkit_py.structures import lookup
    from arkit_py.tracer.inputs import load_tracer
    from arkit_py.tracer.synthetic import structure_concentrations

    bundle, z, lesson = sliced
    volumes = lesson["holograms"]["body"]["volumes"]
    seg = load_segmentation("phantom:mird-adult?voxel=6")

    def centre(name):
        label = next(k for k, s in seg.segments.items() if s.structure.name == name)
        ijk = np.argwhere(seg.layers[seg.segments[label].layer] == label).mean(0)
        return seg.affine[:3, :3] @ ijk + seg.affine[:3, 3]

    liver = centre("liver")
    assert sample_ras(z, volumes["ct"], 0, liver) == pytest.approx(hounsfield(lookup("liver").density_g_ml), abs=3)
    lung = centre("lung_right")
    assert sample_ras(z, volumes["ct"], 0, lung) == pytest.approx(hounsfield(lookup("lung_right").density_g_ml), abs=40)
    ct_max = np.asarray(volumes["ct"]["ras_max"])
    outside = [ct_max[0] - 8, ct_max[1] - 8, liver[2]]  # a corner of the box beside the elliptic trunk: air
    assert sample_ras(z, volumes["ct"], 0, outside) == pytest.approx(-1000, abs=1)

    from arkit_py.scene.gltf import read_glb

    gltf, _ = read_glb(z.read(lesson["holograms"]["body"]["assets"]["glb"]["path"]))
    node = next(n for n in gltf["nodes"] if n.get("name") == "liver")
    model = load_tracer("fdg")
    for i, frame in enumerate(volumes["pet"]["frames"][1:], start=1):
        t = frame["time_s"]
        truth, _, _ = structure_concentrations(seg, model, t, 370e6)
        value = sample_ras(z, volumes["pet"], i, liver)
        assert value == pytest.approx(truth["liver"], rel=0.03), t  # inside the organ, away from its edge
        suv = value * frame["to_display"]
        assert suv == pytest.approx(np.interp(t, node["extras"]["times_s"], node["extras"]["values"]), rel=0.05)
        assert frame["suv_per_bq_ml"] == pytest.approx(frame["to_display"])  # the legend is SUV here


@pytest.mark.parametrize("plane, field", [
    ("{axis: coronal, at_mm: 900}", "steps[0].slice.at_mm"),
    ("{normal: [0, 0.6, 0.8], point: [0, 0, 3000]}", "steps[0].slice.point"),
])
def test_a_plane_that_misses_the_scan_is_refused(sliced, plane, field):
    """A slice outside its hologram's CT and PET would show nothing: the build names it and
    writes no bundle (the hologram comes from the fixture's cache)."""
    from arkit_py.errors import LessonError

    bundle, _, lesson = sliced
    root = bundle.parent.parent
    lesson_id = "far-" + field.rsplit(".", 1)[1].replace("_", "-")
    text = SLICE_LESSON.replace("id: sliced", f"id: {lesson_id}").replace("{axis: coronal, at_mm: 16, blend: 0.5}", plane)
    assert plane in text and lesson_id in text
    with pytest.raises(LessonError) as caught:
        build_test_lesson(root, lesson_id, text)
    assert caught.value.field == field and "misses the scan" in caught.value.problem, caught.value
    assert not (root / "dist" / f"{lesson_id}.arlesson").exists()
    front = max(v["ras_max"][1] for v in lesson["holograms"]["body"]["volumes"].values())
    assert front < 900

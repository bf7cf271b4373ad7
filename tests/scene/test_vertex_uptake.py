"""Per-vertex uptake from a dynamic PET: sampled inside the surface, one target per frame."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from arkit_py.cli import main
from arkit_py.scene.document import Legend
from arkit_py.scene.gltf import read_glb
from arkit_py.scene.hologram import HologramOptions, build_hologram
from arkit_py.scene.palette import UPTAKE_PALETTE
from arkit_py.scene.uptake import UptakeOptions
from arkit_py.sources.load import load_segmentation

SHAPE = (60, 60, 60)
VOXEL = 2.0
N_FRAMES = 30  # more than the 24 targets allowed: frames are thinned
MID = np.linspace(30.0, 3570.0, N_FRAMES)


def organ_curve(t):
    """Bq/mL in the organ (decay-corrected image), rising."""
    return 20000.0 * (1 - np.exp(-t / 900.0))


def write_case(folder):
    """A body (label 1) with a spherical organ (label 2: liver), the label map and a PET
    blurred like a scanner (FWHM 6 mm); frames decay-corrected, F-18."""
    affine = np.diag([VOXEL, VOXEL, VOXEL, 1.0])
    affine[:3, 3] = -VOXEL * (np.array(SHAPE) - 1) / 2
    ijk = np.indices(SHAPE).reshape(3, -1).T
    ras = ijk * VOXEL + affine[:3, 3]
    r_body = np.linalg.norm(ras / [50, 40, 55], axis=1)
    r_organ = np.linalg.norm(ras - [5, 0, 0], axis=1)
    labels = np.zeros(len(ras), np.uint8)
    labels[r_body <= 1] = 1
    labels[r_organ <= 24] = 2
    labels = labels.reshape(SHAPE)
    nib.save(nib.Nifti1Image(labels, affine), folder / "labels.nii.gz")
    (folder / "labels.csv").write_text("label,name\n1,body\n2,liver\n")
    organ = (labels == 2).astype(np.float32)
    body = (labels == 1).astype(np.float32)
    sigma = 6.0 / 2.3548 / VOXEL
    blurred_organ = ndimage.gaussian_filter(organ, sigma)
    blurred_body = ndimage.gaussian_filter(body, sigma)
    frames = np.stack([blurred_organ * organ_curve(t) + blurred_body * 1500.0 for t in MID], axis=-1)
    nib.save(nib.Nifti1Image(frames.astype(np.float32), affine), folder / "pet.nii.gz")
    starts = list(MID - 30.0)
    (folder / "pet.json").write_text(json.dumps({
        "FrameTimesStart": starts, "FrameDuration": [60.0] * N_FRAMES, "Units": "Bq/mL",
        "TimeZero": "10:00:00", "InjectionStart": 0, "ImageDecayCorrected": True, "ImageDecayCorrectionTime": 0,
        "TracerRadionuclide": "18F"}))
    return folder / "labels.nii.gz", folder / "pet.nii.gz"


def _accessor(gltf, binary, index):
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    n = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc["type"]]
    data = np.frombuffer(binary, np.float32, acc["count"] * n, view.get("byteOffset", 0) + acc.get("byteOffset", 0))
    return data.reshape(acc["count"], n)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    return write_case(tmp_path_factory.mktemp("pet"))


def test_vertices_take_the_value_inside_the_surface(case, tmp_path):
    labels, pet = case
    seg = load_segmentation(str(labels), labels=str(labels.parent / "labels.csv"))
    r = build_hologram(seg, HologramOptions(compress=False, uptake=UptakeOptions(
        str(pet), per_vertex=True, window=(0.0, 20.0))))
    (tmp_path / "pv.glb").write_bytes(r.glb)  # validated by the autouse fixture
    assert r.report["tracer"]["per_vertex"] == ["body", "liver"] or "liver" in r.report["tracer"]["per_vertex"]
    gltf, binary = read_glb(r.glb)
    nodes = {n["name"]: n for n in gltf["nodes"]}
    mesh = gltf["meshes"][nodes["liver"]["mesh"]]
    prim = mesh["primitives"][0]
    targets = prim["targets"]
    assert len(targets) == 24  # 30 frames thinned to the 24 targets allowed
    base = _accessor(gltf, binary, prim["attributes"]["COLOR_0"])
    assert (base[:, 3] == 1).all()  # RGBA: alpha 1 in the base, 0 in every delta
    base = base[:, :3]
    legend = gltf["scenes"][0]["extras"]["arkit"]["legend"]
    scale = Legend(legend["quantity"], legend["unit"], legend["min"], legend["max"], UPTAKE_PALETTE,
                   legend["clip_s"], legend["real_s"])
    frames = np.unique(np.round(np.linspace(0, N_FRAMES - 1, 24)).astype(int))
    liver = next(x for x in r.document.structures if x.name == "liver").uptake
    vertex_values = liver.vertex_values  # (n, 24) kBq/mL in the GLB's vertex order (plain)
    for f in (0, 8, 23):
        delta = _accessor(gltf, binary, targets[f]["COLOR_0"])
        assert (delta >= 0).all() and (delta[:, 3] == 0).all()
        delta = delta[:, :3]
        np.testing.assert_allclose(base + delta, scale.color(vertex_values[:, f]), atol=1e-6)
        if f == 0:
            continue  # at 30 s the blurred background (1.5 kBq/mL) still outweighs the organ
        # physical kBq/mL at that frame: the decay-corrected image put back to physical
        t = MID[frames[f]]
        truth = organ_curve(t) * 2 ** (-t / 6586.2) / 1000.0
        ratio = np.median(vertex_values[:, f]) / truth
        # inside the surface, not the halved partial-volume value at it (FWHM 6 mm, 1.5 voxels deep)
        assert 0.8 < ratio < 1.1, ratio
    # one key per kept frame, one target per frame at each key
    anim = gltf["animations"][0]
    channel = next(c for c in anim["channels"] if c["target"]["node"] == list(nodes).index("liver"))
    sampler = anim["samplers"][channel["sampler"]]
    times = _accessor(gltf, binary, sampler["input"]).ravel()
    weights = _accessor(gltf, binary, sampler["output"]).reshape(len(times), 24)
    np.testing.assert_allclose(weights, np.eye(24))
    np.testing.assert_allclose(times, MID[frames] * legend["clip_s"] / legend["real_s"], rtol=1e-6)


def test_cli_per_vertex_needs_a_pet(case, tmp_path, capsys):
    labels, pet = case
    code = main(["hologram", str(labels), "--labels", str(labels.parent / "labels.csv"), "--tracer", "fdg",
                 "--per-vertex", "-o", str(tmp_path / "x.glb")])
    assert code == 2 and "--per-vertex needs a PET" in capsys.readouterr().err
    code = main(["hologram", str(labels), "--labels", str(labels.parent / "labels.csv"), "--tracer", str(pet),
                 "--per-vertex", "--quiet", "-o", str(tmp_path / "pet.glb")])
    assert code == 0
    gltf, _ = read_glb((tmp_path / "pet.glb").read_bytes())
    assert gltf["scenes"][0]["extras"]["arkit"]["tracer"]["tracer"] == "dynamic PET"


def test_cli_extract_writes_curves(case, tmp_path, capsys):
    labels, pet = case
    out = tmp_path / "curves.csv"
    code = main(["tracer", "extract", str(pet), "--labels", str(labels), "--label-table",
                 str(labels.parent / "labels.csv"), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    lines = out.read_text().splitlines()
    assert lines[0] == "time_min,body,liver"
    assert len(lines) == N_FRAMES + 1

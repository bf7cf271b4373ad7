"""The phantom's GLB: valid, loadable by three.js, in the right frame, within budget,
decoded geometry equal to its source, and deterministic."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from arkit_py.scene.gltf import quantize_positions, read_glb
from arkit_py.scene.hologram import PROFILES, HologramOptions, build_hologram
from tests.gltf_tools import assert_valid, inspect_glb, validate_glb


@pytest.fixture(scope="module")
def reports(phantom_hologram):
    paths = [phantom_hologram[True][0], phantom_hologram[False][0]]
    return dict(zip((True, False), validate_glb(paths))), dict(zip((True, False), inspect_glb(paths)))


def test_khronos_validator_accepts_both_files(reports):
    validated, _ = reports
    assert_valid(validated[False], compressed=False)  # 0 errors, 0 warnings
    assert_valid(validated[True], compressed=True)  # 0 errors


def test_three_js_loads_every_structure_node(reports, phantom_hologram, phantom_2mm):
    _, loaded = reports
    expected = {s.structure.name for s in phantom_2mm.segments.values()}
    for compress in (True, False):
        nodes = {n["name"]: n for n in loaded[compress]["nodes"] if n.get("structure")}
        assert set(nodes) == expected
        for name, node in nodes.items():
            assert {"label", "system", "volume_ml"} <= set(node["extras"])
            assert sum(m["triangles"] for m in node["meshes"]) > 0, name
    # the compressed file decodes to the same place as the plain one (within quantization)
    a, b = loaded[True]["bbox"], loaded[False]["bbox"]
    assert np.allclose(a["min"], b["min"], atol=2e-4) and np.allclose(a["max"], b["max"], atol=2e-4)


def test_hierarchy_names_and_systems(phantom_hologram):
    gltf, _ = read_glb(phantom_hologram[False][0].read_bytes())
    nodes = gltf["nodes"]
    names = [n["name"] for n in nodes]
    assert len(names) == len(set(names))
    assert not any(c in name for name in names for c in "[].:/")
    root = nodes[gltf["scenes"][0]["nodes"][0]]
    for system_index in root["children"]:
        system = nodes[system_index]
        assert system["name"].endswith("_system")
        for child in system["children"]:
            assert nodes[child]["extras"]["system"] == system["name"][: -len("_system")]
    body = next(n for n in nodes if n["name"] == "body")
    material = gltf["materials"][gltf["meshes"][body["mesh"]]["primitives"][0]["material"]]
    assert material["alphaMode"] == "BLEND" and material["pbrMetallicRoughness"]["baseColorFactor"][3] < 0.5
    liver = next(n for n in nodes if n["name"] == "liver")
    assert gltf["materials"][gltf["meshes"][liver["mesh"]]["primitives"][0]["material"]]["name"] == "liver"


def test_frame_right_is_minus_x_superior_is_plus_y_anterior_is_plus_z(phantom_hologram, phantom_2mm):
    _, result = phantom_hologram[False]
    centres = {s.name: s.geometry.positions.mean(axis=0) for s in result.document.structures}
    assert centres["liver"][0] < 0 < centres["spleen"][0]  # patient's right at -X
    assert centres["brain"][1] > centres["heart"][1] > centres["urinary_bladder"][1]
    assert centres["stomach"][2] > centres["kidney_left"][2]  # anterior at +Z
    lo, hi = result.document.bounds()
    assert lo[1] == pytest.approx(0.0, abs=1e-6)  # origin at the bottom...
    assert (lo[0] + hi[0]) / 2 == pytest.approx(0.0, abs=1e-6)  # ...centre
    assert (lo[2] + hi[2]) / 2 == pytest.approx(0.0, abs=1e-6)
    assert hi[1] == pytest.approx(1.74, abs=0.01)  # feet (-80 cm) to the top of the head (94 cm)
    # gltf_to_ras_mm takes the liver back onto the liver's voxels
    m = np.array(result.document.scene_extras["arkit"]["gltf_to_ras_mm"])
    assert np.allclose(m[:3, :3], [[-1000, 0, 0], [0, 0, 1000], [0, 1000, 0]])
    ras = m @ np.append(centres["liver"], 1.0)
    ijk = np.linalg.inv(phantom_2mm.affine) @ ras
    label = phantom_2mm.layers[0][tuple(np.round(ijk[:3]).astype(int))]
    assert phantom_2mm.segments[int(label)].structure.name == "liver"


def test_phone_budget(phantom_hologram):
    _, result = phantom_hologram[True]
    phone = PROFILES["phone"]
    assert result.report["triangles"] <= phone.triangles
    assert result.report["draw_calls"] <= phone.draw_calls
    assert result.report["bytes"] <= phone.max_bytes
    assert result.report["triangles"] >= 0.9 * phone.triangles  # the budget is used, not wasted


def test_compressed_geometry_decodes_to_the_source(phantom_hologram):
    """Decode every position buffer of the compressed file with meshopt, dequantize it with
    its node's transform, and compare with the plain file's positions."""
    import meshopt
    from scipy.spatial import cKDTree

    gltf, binary = read_glb(phantom_hologram[True][0].read_bytes())
    plain, plain_bin = read_glb(phantom_hologram[False][0].read_bytes())
    mesh_nodes = {n["mesh"]: n for n in gltf["nodes"] if "mesh" in n}
    plain_meshes = {m["name"]: m for m in plain["meshes"]}
    for index, mesh in enumerate(gltf["meshes"]):
        prim = mesh["primitives"][0]
        acc = gltf["accessors"][prim["attributes"]["POSITION"]]
        ext = gltf["bufferViews"][acc["bufferView"]]["extensions"]["EXT_meshopt_compression"]
        data = binary[ext["byteOffset"]:ext["byteOffset"] + ext["byteLength"]]
        rows = meshopt.decode_gltf_buffer(data, ext["count"], ext["byteStride"], ext["mode"])
        q = np.asarray(rows).view(np.uint16).reshape(ext["count"], 4)[:, :3].astype(np.float64)
        node = mesh_nodes[index]
        decoded = q * node["scale"][0] + np.array(node["translation"])

        p_acc = plain["accessors"][plain_meshes[mesh["name"]]["primitives"][0]["attributes"]["POSITION"]]
        view = plain["bufferViews"][p_acc["bufferView"]]
        source = np.frombuffer(plain_bin, np.float32, p_acc["count"] * 3, view.get("byteOffset", 0)).reshape(-1, 3)
        assert len(decoded) == len(source)
        step = node["scale"][0]
        assert cKDTree(source).query(decoded)[0].max() <= step
        idx = gltf["accessors"][prim["indices"]]
        assert idx["count"] == plain["accessors"][plain_meshes[mesh["name"]]["primitives"][0]["indices"]]["count"]


def test_quantization_error_is_half_a_step():
    rng = np.random.default_rng(0)
    p = rng.uniform(-0.3, 1.7, (1000, 3))
    q, lo, step = quantize_positions(p, 14)
    assert np.abs(lo + step * q[:, :3] - p).max() <= step / 2 + 1e-12


def test_same_input_same_bytes(phantom_2mm):
    options = HologramOptions(structures=("liver", "kidney_left", "kidney_right", "spleen"), triangles=4000)
    one = build_hologram(copy.deepcopy(phantom_2mm), options).glb
    two = build_hologram(copy.deepcopy(phantom_2mm), options).glb
    assert one == two
    assert len(one) > 10_000


def test_hololens_profile_fits_its_budget(phantom_2mm):
    result = build_hologram(copy.deepcopy(phantom_2mm), HologramOptions(profile="hololens"))
    hololens = PROFILES["hololens"]
    assert result.report["triangles"] <= hololens.triangles
    assert result.report["draw_calls"] <= hololens.draw_calls
    assert result.report["bytes"] <= hololens.max_bytes


def test_systems_and_structures_select_a_subset(phantom_2mm):
    result = build_hologram(copy.deepcopy(phantom_2mm), HologramOptions(systems=("urinary",), structures=("liver",)))
    names = {s["name"] for s in result.report["structures"]}
    assert names == {"kidney_left", "kidney_right", "urinary_bladder", "liver"}

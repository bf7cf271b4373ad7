"""The Node tools behind tests/gltf_tools.py: the Khronos validator and three.js
GLTFLoader, on GLBs with known contents."""

from __future__ import annotations

import pytest

from tests import gltf_tools
from tests.gltf_tools import assert_valid, inspect_glb, issue_counts, validate_glb
from tests.web.demo_hologram import DEMO_STRUCTURES, build_demo_glb


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    if not (gltf_tools.WEB_AR / "node_modules" / "three").exists():
        from tests.web.conftest import unavailable

        unavailable("web_ar/node_modules is missing: run npm ci --prefix web_ar")
    out = tmp_path_factory.mktemp("tools")
    plain, merged, broken = out / "demo.glb", out / "demo-merged.glb", out / "broken.glb"
    plain.write_bytes(build_demo_glb())
    merged.write_bytes(build_demo_glb(merged=True))
    broken.write_bytes(build_demo_glb()[:-1000])  # BIN chunk cut short
    return plain, merged, broken


@pytest.fixture(scope="module")
def reports(demo_files):
    return validate_glb(list(demo_files))


@pytest.fixture(scope="module")
def loaded(demo_files):
    return inspect_glb(list(demo_files[:2]))


def test_validator_reports_in_argument_order_and_policy_holds(reports, demo_files):
    assert [r["file"] for r in reports] == [str(p) for p in demo_files]
    plain, merged, broken = reports
    for report in (plain, merged):
        assert issue_counts(report) == (0, 0)
        assert_valid(report, compressed=False)
    assert plain["info"]["drawCallCount"] == len(DEMO_STRUCTURES)
    assert plain["info"]["hasMorphTargets"] is True
    errors, _ = issue_counts(broken)
    assert errors > 0
    with pytest.raises(AssertionError, match="validator errors"):
        assert_valid(broken, compressed=True)


def test_single_path_gives_one_report(demo_files):
    report = validate_glb(demo_files[0])
    assert isinstance(report, dict) and report["file"] == str(demo_files[0])


def test_three_js_sees_structures_extras_materials_and_animation(loaded):
    scene = loaded[0]
    assert scene["structures"] == list(DEMO_STRUCTURES)
    assert scene["draw_calls"] == len(DEMO_STRUCTURES)
    nodes = {n["name"]: n for n in scene["nodes"]}
    assert nodes["hologram"]["parent"] is None and nodes["liver"]["parent"] == "digestive_system"
    for name, (display, system, label, centre, radii, _) in DEMO_STRUCTURES.items():
        node = nodes[name]
        assert node["structure"] is True
        assert {k: node["extras"][k] for k in ("label", "system", "display")} == {
            "label": label, "system": system, "display": display}
        (mesh,) = node["meshes"]
        assert mesh["triangles"] == 1280 and mesh["vertices"] == 642
        # world-space box of an ellipsoid: centre +- radii
        assert node["bbox"]["min"] == pytest.approx([c - r for c, r in zip(centre, radii)], abs=1e-6)
        assert node["bbox"]["max"] == pytest.approx([c + r for c, r in zip(centre, radii)], abs=1e-6)
    body = nodes["body"]["meshes"][0]["material"]
    assert body["type"] == "MeshStandardMaterial" and body["transparent"] and body["opacity"] == pytest.approx(0.25)
    liver = nodes["liver"]["meshes"][0]
    assert liver["material"]["type"] == "MeshBasicMaterial"  # KHR_materials_unlit
    assert liver["has_color"] and liver["morph_targets"] == 2 and liver["morph_attributes"] == ["color"]
    assert liver["morph_weights"] == [0, 1]
    (clip,) = scene["animations"]
    assert clip["name"] == "uptake" and clip["duration"] == pytest.approx(3.0)
    assert clip["tracks"] == ["liver.morphTargetInfluences"] and clip["track_keys"] == [4]
    assert scene["scene_extras"] == {"arkit": {"units": "m", "source": "test"}}
    assert scene["bbox"] == nodes["body"]["bbox"]


def test_merged_meshes_report_their_labels(loaded):
    nodes = {n["name"]: n for n in loaded[1]["nodes"]}
    merged = nodes["urinary_merged"]
    assert merged["structure"] is False
    assert [m["name"] for m in merged["extras"]["merged"]] == ["kidney_left", "kidney_right"]
    assert merged["meshes"][0]["labels"] == [2, 3]


@pytest.mark.invalid_glb
def test_a_file_three_js_cannot_load_raises_or_reports(tmp_path, demo_files):
    junk = tmp_path / "junk.glb"
    junk.write_bytes(b"not a glb at all")
    with pytest.raises(RuntimeError, match="junk.glb"):
        inspect_glb(junk)
    result = inspect_glb(junk, check=False)
    assert result["file"] == str(junk) and "error" in result


def test_missing_node_modules_tells_how_to_install(monkeypatch, tmp_path, demo_files):
    monkeypatch.setattr(gltf_tools, "WEB_AR", tmp_path)
    with pytest.raises(RuntimeError, match=r"npm ci --prefix web_ar"):
        validate_glb(demo_files[0])

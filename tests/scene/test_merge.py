"""More structures than a profile's draw calls: the smallest are merged per system, and
their vertices keep label and colour."""

from __future__ import annotations

import numpy as np

from arkit_py.scene.gltf import read_glb
from arkit_py.scene.hologram import PROFILES, HologramOptions, build_hologram
from arkit_py.sources.segmentation import Segment, Segmentation
from arkit_py.structures import lookup
from tests.gltf_tools import assert_valid, inspect_glb, validate_glb


def test_seventy_structures_fit_the_phone_draw_calls(tmp_path):
    labels = np.zeros((60, 60, 40), np.uint8)
    names = ["liver", "spleen", "kidney_left", "kidney_right", "stomach"] + [f"lesion_{i}" for i in range(65)]
    rng = np.random.default_rng(5)
    segments = {}
    for i, name in enumerate(names, start=1):
        x, y, z = (i - 1) % 10 * 6 + 1, (i - 1) // 10 * 8 + 1, int(rng.integers(1, 30))
        labels[x:x + 4, y:y + 5, z:z + 3 + i % 5] = i
        segments[i] = Segment(i, lookup(name))
    seg = Segmentation([labels], np.diag([2.0, 2.0, 2.0, 1.0]), segments)
    result = build_hologram(seg, HologramOptions(profile="phone"))
    assert result.report["draw_calls"] <= PROFILES["phone"].draw_calls
    assert len(result.report["structures"]) == 70
    merged = [s for s in result.report["structures"] if "merged_into" in s]
    assert "other" in {s["system"] for s in merged}

    path = tmp_path / "many.glb"
    path.write_bytes(result.glb)
    assert_valid(validate_glb(path), compressed=True)
    loaded = inspect_glb(path)
    assert loaded["draw_calls"] == result.report["draw_calls"]
    gltf, _ = read_glb(result.glb)
    group = next(m for m in gltf["meshes"] if m["name"] == "other_merged")
    assert {"COLOR_0", "_LABEL"} <= set(group["primitives"][0]["attributes"])
    groups = [n for n in gltf["nodes"] if n["name"].endswith("_merged")]
    assert {m["label"] for n in groups for m in n["extras"]["merged"]} == {s["label"] for s in merged}


def test_two_labels_with_one_name_get_unique_node_names():
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[2:8, 2:8, 2:8] = 1
    labels[10:16, 10:16, 10:16] = 2
    seg = Segmentation([labels], np.diag([2.0, 2.0, 2.0, 1.0]),
                       {1: Segment(1, lookup("Liver")), 2: Segment(2, lookup("liver"))})
    result = build_hologram(seg, HologramOptions(compress=False))
    gltf, _ = read_glb(result.glb)
    names = [n["name"] for n in gltf["nodes"]]
    assert len(names) == len(set(names))
    assert {"liver", "liver_2"} <= set(names)

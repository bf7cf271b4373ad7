"""sample:abdomen-ct, a real body that ships: the packaged files are TotalSegmentator's,
their structures have the volumes counted from the file, the body outline comes from the
CT, and its hologram is valid and within the phone budget."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from arkit_py.scene.hologram import PROFILES, HologramOptions, build_hologram
from arkit_py.sources.load import load_segmentation, source_name
from tests.gltf_tools import assert_valid, validate_glb
from tests.sources.volumes import expect_input_error

DATA = Path(__file__).resolve().parents[1] / "data" / "totalsegmentator"
SAMPLE = resources.files("arkit_py") / "data" / "samples" / "abdomen-ct"


@pytest.fixture(scope="module")
def abdomen():
    return load_segmentation("sample:abdomen-ct")


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_packaged_files_are_totalsegmentators_with_their_licence():
    assert _digest(SAMPLE / "ct.nii.gz") == _digest(DATA / "example_ct.nii.gz")
    assert _digest(SAMPLE / "segmentation.nii.gz") == _digest(DATA / "example_seg_fast_force_split.nii.gz")
    assert "Apache License" in (SAMPLE / "LICENSE").read_text()
    readme = (SAMPLE / "README.md").read_text()
    assert "wasserth/TotalSegmentator" in readme and "Apache" in readme


def test_structures_and_volumes_as_counted_in_the_file(abdomen):
    names = {s.structure.name: label for label, s in abdomen.segments.items()}
    counts = abdomen.voxel_counts()
    # voxel counts of tests/data/totalsegmentator (README): 3 mm voxels, 27 mm3 each
    assert abdomen.voxel_volume_ml == pytest.approx(0.027)
    for name, voxels in (("liver", 41_692), ("spleen", 9_668), ("urinary_bladder", 17_756)):
        assert counts[names[name]] == voxels
    present = {abdomen.segments[label].structure.name for label in counts}
    assert len(present) == 62 and "body" in present  # 61 structures and the outline


def test_the_body_outline_is_the_ct_and_holds_every_structure(abdomen):
    alone = load_segmentation("sample:abdomen-ct?body=0")
    assert alone.body_label is None and abdomen.body_label is not None
    layer, bare = abdomen.layers[0], alone.layers[0]
    assert np.array_equal(layer[bare != 0], bare[bare != 0])  # the structures unchanged
    body = layer == abdomen.body_label
    assert not (body & (bare != 0)).any()
    # the outline is the CT's tissue: inside it the CT is above the air threshold nearly everywhere
    import nibabel as nib

    ct = np.asarray(nib.load(str(DATA / "example_ct.nii.gz")).dataobj)
    inside = (layer != 0)
    assert (ct[inside] > -500).mean() > 0.97
    assert (ct[~inside] <= -500).mean() > 0.97


def test_bad_sample_specs_are_refused_in_one_line():
    error = expect_input_error("sample:nowhere", "unknown sample", "abdomen-ct")
    assert "\n" not in str(error)
    expect_input_error("sample:abdomen-ct?body=2", "body=0|1")


def test_its_hologram_is_valid_and_within_the_phone_budget(abdomen, tmp_path):
    assert source_name("sample:abdomen-ct?body=0") == "sample:abdomen-ct"
    result = build_hologram(abdomen, HologramOptions(source=source_name("sample:abdomen-ct")))
    phone = PROFILES["phone"]
    assert result.report["triangles"] <= phone.triangles
    assert result.report["draw_calls"] <= phone.draw_calls
    assert result.report["bytes"] <= phone.max_bytes
    assert result.document.scene_extras["arkit"]["source"] == "sample:abdomen-ct"
    path = tmp_path / "abdomen.glb"
    path.write_bytes(result.glb)
    assert_valid(validate_glb(path), compressed=True)

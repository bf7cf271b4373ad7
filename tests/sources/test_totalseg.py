"""TotalSegmentator: the shipped v2 table, the header's label map, the folder of masks."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np

from arkit_py.sources import labeltables, totalseg
from arkit_py.sources.load import load_segmentation
from arkit_py.structures import SYSTEMS, lookup
from tests.sources.volumes import (
    CENTRES,
    ORIENTATIONS,
    assert_centres,
    ball_labels,
    caret_xml,
    expect_input_error,
    grid,
    save_nifti,
    spacing_of,
    write_masks,
)

# -- TotalSegmentator -----------------------------------------------------------------------

def test_shipped_totalsegmentator_table_is_v2_total():
    classes = labeltables.totalsegmentator_classes()
    assert sorted(classes) == list(range(1, 118))
    expected = {1: "spleen", 2: "kidney_right", 3: "kidney_left", 4: "gallbladder", 5: "liver", 6: "stomach",
                7: "pancreas", 8: "adrenal_gland_right", 9: "adrenal_gland_left", 10: "lung_upper_lobe_left",
                21: "urinary_bladder", 25: "sacrum", 26: "vertebrae_S1", 27: "vertebrae_L5", 50: "vertebrae_C1",
                51: "heart", 52: "aorta", 79: "spinal_cord", 90: "brain", 91: "skull", 92: "rib_left_1",
                115: "rib_right_12", 116: "sternum", 117: "costal_cartilages"}
    assert {k: classes[k] for k in expected} == expected
    text = resources.files("arkit_py.data").joinpath("totalsegmentator_v2.csv").read_text()
    assert next(csv.reader(text.splitlines())) == ["label", "name"]


def test_every_totalsegmentator_class_is_a_known_structure():
    density = {"skeletal": {1.4, 1.04}, "respiratory": {0.296, 1.04}}
    names = set()
    for name in labeltables.totalsegmentator_classes().values():
        s = lookup(name)
        assert s.known, name
        assert s.system in SYSTEMS and s.system != "body", name
        assert s.density_g_ml in density.get(s.system, {1.04}), name
        assert max(s.color) >= 0.6, f"{name}: colour too dark for additive displays"
        names.add(s.name)
    assert len(names) == 117  # no two classes collapse onto one structure
    assert lookup("lung_upper_lobe_left").name != lookup("lung_left").name
    assert lookup("vertebrae_L5").name == "vertebrae_l5"


def test_totalsegmentator_header_label_map_wins(tmp_path):
    shape, affine = grid(ORIENTATIONS["oblique"])
    data = ball_labels(shape, affine)
    path = tmp_path / "ts_mr.nii.gz"
    # total_mr numbering: 1 spleen, 2 kidney_right, 3 kidney_left (same), but here a made-up
    # task whose 3 is lung_left, which the shipped total table calls kidney_left.
    save_nifti(path, data, affine, extension=caret_xml({1: "spleen", 2: "kidney_right", 3: "lung_left", 4: "liver"}))

    for labels in (None, "totalsegmentator"):
        seg = load_segmentation(str(path), labels=labels)
        names = {k: s.structure.name for k, s in seg.segments.items()}
        assert names == {1: "spleen", 2: "kidney_right", 3: "lung_left", 4: "liver"}  # 4: named, no voxels
        assert seg.segments[1].structure.color == lookup("spleen").color  # TotalSegmentator's cycling colours ignored
        assert_centres(seg, CENTRES, spacing_of(affine))
    assert totalseg.read_totalsegmentator(str(path)).segments[3].structure.name == "lung_left"


def test_totalsegmentator_table_only_when_asked(tmp_path):
    shape, affine = grid(ORIENTATIONS["flipped"])
    data = ball_labels(shape, affine, centres={5: CENTRES[1], 27: CENTRES[2], 117: CENTRES[3]})
    path = tmp_path / "segmentations.nii.gz"
    save_nifti(path, data, affine)

    plain = load_segmentation(str(path))
    asked = load_segmentation(str(path), labels="totalsegmentator")
    direct = totalseg.read_totalsegmentator(str(path))

    assert {k: s.structure.name for k, s in plain.segments.items()} == {5: "label_5", 27: "label_27", 117: "label_117"}
    for seg in (asked, direct):
        assert {k: s.structure.name for k, s in seg.segments.items()} == \
            {5: "liver", 27: "vertebrae_l5", 117: "costal_cartilages"}
        assert seg.segments[27].structure.system == "skeletal"
        assert_centres(seg, {5: CENTRES[1], 27: CENTRES[2], 117: CENTRES[3]}, spacing_of(affine))





def test_totalsegmentator_folder(tmp_path, monkeypatch):
    shape, affine = grid(ORIENTATIONS["oblique"])
    folder = tmp_path / "segmentations"
    write_masks(folder, shape, affine, {
        "spleen": {1: CENTRES[1]}, "kidney_right": {1: CENTRES[2]}, "liver": {1: CENTRES[3]},
        "gallbladder": {},  # empty mask
        "liver_lesion": {1: (0.0, 40.0, 6.0)},  # not a total class; overlaps the liver
    })
    (folder / "statistics.json").write_text("{}")
    reads = []
    real = totalseg.nifti_data
    monkeypatch.setattr(totalseg, "nifti_data", lambda img, f, s: reads.append(f.name) or real(img, f, s))

    seg = load_segmentation(str(folder))

    assert sorted(reads) == sorted(p.name for p in folder.glob("*.nii.gz"))  # each mask read once
    names = {k: (s.structure.name, s.layer) for k, s in seg.segments.items()}
    assert names == {1: ("spleen", 0), 2: ("kidney_right", 0), 4: ("gallbladder", 0), 5: ("liver", 0),
                     118: ("liver_lesion", 1)}
    assert len(seg.layers) == 2 and seg.layers[0].dtype == np.uint8
    liver = ball_labels(shape, affine, centres={1: CENTRES[3]})
    lesion = ball_labels(shape, affine, centres={1: (0.0, 40.0, 6.0)})
    counts = seg.voxel_counts()
    assert counts[5] == int(liver.sum()) and counts[118] == int(lesion.sum())  # nothing lost to the overlap
    assert 4 not in counts
    assert_centres(seg, {1: CENTRES[1], 2: CENTRES[2], 5: CENTRES[3], 118: (0.0, 40.0, 6.0)}, spacing_of(affine))


def test_totalsegmentator_folder_must_share_one_grid(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    folder = tmp_path / "shape"
    write_masks(folder, shape, affine, {"liver": {1: CENTRES[1]}})
    save_nifti(folder / "spleen.nii.gz", np.zeros((5, 5, 5), np.uint8), affine)
    err = expect_input_error(folder, "grid", "one grid")
    assert "spleen" in str(err)

    folder = tmp_path / "affine"
    write_masks(folder, shape, affine, {"liver": {1: CENTRES[1]}})
    moved = affine.copy()
    moved[0, 3] += 1.5
    save_nifti(folder / "spleen.nii.gz", np.zeros(shape, np.uint8), moved)
    expect_input_error(folder, "affine", "one grid")


def test_totalsegmentator_folder_bad_masks(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    folder = tmp_path / "nonbinary"
    write_masks(folder, shape, affine, {"liver": {1: CENTRES[1]}}, dtype=np.uint8)
    save_nifti(folder / "spleen.nii.gz", ball_labels(shape, affine) * 2, affine)
    expect_input_error(folder, "binary")

    empty = tmp_path / "nomasks"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    expect_input_error(empty, "no nifti masks")

    zeros = tmp_path / "allempty"
    write_masks(zeros, shape, affine, {"liver": {}, "spleen": {}})
    expect_input_error(zeros, "empty")



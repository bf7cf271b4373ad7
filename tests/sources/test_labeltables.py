"""Label tables: Slicer colour tables, ITK-SNAP descriptions, CSV, JSON, the shipped names."""

from __future__ import annotations

import json

import pytest

from arkit_py.errors import InputError
from arkit_py.sources import labeltables
from arkit_py.sources.labeltables import read_label_table
from arkit_py.sources.load import load_segmentation
from tests.sources.volumes import (
    ORIENTATIONS,
    ball_labels,
    caret_xml,
    grid,
    save_nifti,
)

# -- label tables -----------------------------------------------------------------------------

def test_slicer_colour_table(tmp_path):
    path = tmp_path / "colors.ctbl"
    path.write_text("# Color table file\n# 3 values\n0 Background 0 0 0 0\n1 liver 255 0 0 255\n"
                    "2 Right_kidney 0 128 255 255\n3 thing\n")
    assert read_label_table(path) == {1: ("liver", (1.0, 0.0, 0.0)), 2: ("Right_kidney", (0.0, 128 / 255, 1.0)),
                                      3: ("thing", None)}


def test_itksnap_label_description(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text('################################################\n# ITK-SnAP Label Description File\n'
                    '#    IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL\n'
                    '    0     0    0    0        0  0  0    "Clear Label"\n'
                    '    1   255    0    0        1  1  1    "Left kidney"\n'
                    '    7     0  255   51        1  1  1    "my lesion 2"\n')
    assert read_label_table(path) == {1: ("Left kidney", (1.0, 0.0, 0.0)), 7: ("my lesion 2", (0.0, 1.0, 0.2))}


def test_csv_label_table(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("label,name,color\n1,liver,#ff8000\n2,spleen,0 51 255\n3,stomach,\n")
    assert read_label_table(path) == {1: ("liver", (1.0, 128 / 255, 0.0)), 2: ("spleen", (0.0, 0.2, 1.0)),
                                      3: ("stomach", None)}
    path.write_text("label,name\n4,pancreas\n")
    assert read_label_table(path) == {4: ("pancreas", None)}


@pytest.mark.parametrize("payload", [
    {"1": "liver", "2": "spleen"},
    {"1": {"name": "liver", "color": "#ff0000"}, "2": {"name": "spleen"}},
    [{"label": 1, "name": "liver", "color": "#ff0000"}, {"label": 2, "name": "spleen"}],
])
def test_json_label_table(tmp_path, payload):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(payload))
    table = read_label_table(path)
    assert {k: v[0] for k, v in table.items()} == {1: "liver", 2: "spleen"}
    if not isinstance(payload, dict) or isinstance(payload["1"], dict):
        assert table[1][1] == (1.0, 0.0, 0.0)


def test_totalsegmentator_is_a_table_name():
    table = read_label_table("totalsegmentator")
    assert len(table) == 117 and table[7] == ("pancreas", None)
    assert read_label_table("TotalSegmentator") == table


def test_label_table_overrides_file_names(tmp_path):
    shape, affine = grid(ORIENTATIONS["anisotropic"])
    path = tmp_path / "named.nii.gz"
    save_nifti(path, ball_labels(shape, affine), affine, extension=caret_xml({1: "spleen", 2: "liver", 3: "stomach"}))
    table = tmp_path / "mine.ctbl"
    table.write_text("2 pancreas 10 200 30 255\n9 heart 255 0 0 255\n")

    seg = load_segmentation(str(path), labels=str(table))

    names = {k: s.structure.name for k, s in seg.segments.items()}
    assert names == {1: "spleen", 2: "pancreas", 3: "stomach"}  # 9 has no voxels and the file never named it
    assert seg.segments[2].structure.color == (10 / 255, 200 / 255, 30 / 255)


@pytest.mark.parametrize("name, text, words", [
    ("labels.xml", "<x/>", ["unknown label table format"]),
    ("missing.ctbl", None, ["not found"]),
    ("bad.ctbl", "1\n", ["line 1"]),
    ("dup.csv", "label,name\n1,liver\n1,spleen\n", ["twice"]),
    ("colour.csv", "label,name,color\n1,liver,#ff00\n", ["colour"]),
    ("nolabel.csv", "index_of_thing,title\n1,liver\n", ["header"]),
    ("broken.json", "{", ["not valid json"]),
    ("neg.json", '{"-1": "liver"}', ["negative"]),
    ("quote.txt", '1 255 0 0 1 1 1 "liver\n', ["quotes"]),
])
def test_bad_label_tables(tmp_path, name, text, words):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError) as info:
        read_label_table(path)
    assert str(info.value).startswith(str(path))
    for word in words:
        assert word in str(info.value).lower()


def test_unknown_label_table_through_load(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    volume = tmp_path / "v.nii.gz"
    save_nifti(volume, ball_labels(shape, affine), affine)
    with pytest.raises(InputError) as info:
        load_segmentation(str(volume), labels=str(tmp_path / "labels.pdf"))
    assert str(info.value).startswith(str(tmp_path / "labels.pdf")) and "unknown label table" in str(info.value)



def test_label_table_doctests():
    import doctest

    result = doctest.testmod(labeltables)
    assert result.attempted > 0 and result.failed == 0



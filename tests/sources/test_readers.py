"""Readers: label volumes in any orientation come back with a voxel -> RAS mm affine that
puts every label where it was generated; names become canonical; bad input is an
InputError that starts with the path.

Generated volumes hold three balls whose RAS centres are known: label 1 on the patient's
right (RAS +x), label 2 superior (+z), label 3 anterior (+y). In RAS+ (nibabel's
convention, and NIfTI's) x grows toward the patient's Right, y toward Anterior, z toward
Superior. A reader is right when the voxel centroid of each label, mapped through the
affine it returns, lands on the ball's centre.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import struct
import subprocess
import sys
import tracemalloc
from importlib import resources

import nibabel as nib
import nrrd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from arkit_py.errors import InputError
from arkit_py.sources import labeltables, nifti, totalseg
from arkit_py.sources.labeltables import read_label_table
from arkit_py.sources.load import load_segmentation
from arkit_py.sources.nrrd import read_nrrd
from arkit_py.structures import SYSTEMS, lookup

CENTRES = {1: (40.0, 0.0, 0.0), 2: (0.0, 0.0, 40.0), 3: (0.0, 40.0, 0.0)}
RADIUS = 14.0
HALF_EXTENT = 62.0  # mm covered around the origin along every world direction


def rotation(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, dtype=float)
    axis /= np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


#: name -> (3, 3) linear part of voxel -> RAS (columns = world step of each voxel axis).
ORIENTATIONS = {
    "ras_identity": np.diag([3.0, 3.0, 3.0]),
    "flipped": np.diag([-3.0, 3.0, -3.0]),
    "permuted": np.array([[0.0, 3.0, 0.0], [0.0, 0.0, -3.0], [3.0, 0.0, 0.0]]),  # i -> S, j -> R, k -> P
    "anisotropic": np.diag([2.0, 3.5, 5.0]),
    "oblique": rotation((1.0, 2.0, 3.0), 0.5) @ np.diag([2.5, 3.0, 4.0]),
}


def grid(linear: np.ndarray) -> tuple[tuple[int, int, int], np.ndarray]:
    """A shape and a 4x4 affine (voxel -> RAS mm) whose grid covers +-HALF_EXTENT mm around
    the origin, centred on it."""
    linear = np.asarray(linear, dtype=float)
    # A box of any orientation contains the ball of its smallest half-width.
    spacing = np.linalg.norm(linear, axis=0)
    shape = tuple(int(np.ceil(2 * HALF_EXTENT / s)) + 1 for s in spacing)
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ ((np.array(shape) - 1) / 2.0)
    return shape, affine  # type: ignore[return-value]


def ball_labels(shape, affine, centres=CENTRES, radius=RADIUS, dtype=np.uint8) -> np.ndarray:
    """(I, J, K) labels: each ball's voxels (centre within ``radius`` mm) carry its label."""
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    ras = affine[:3, :3] @ ijk + affine[:3, 3:4]
    out = np.zeros(int(np.prod(shape)), dtype=dtype)
    for label, centre in centres.items():
        inside = np.sum((ras - np.asarray(centre)[:, None]) ** 2, axis=0) <= radius ** 2
        out[inside] = label
    return out.reshape(shape)


def ras_centroids(seg) -> dict[int, np.ndarray]:
    """label -> RAS centroid (mm) of its voxels, through the segmentation's affine."""
    out = {}
    for layer in seg.layers:
        for label in np.unique(layer):
            if label == 0:
                continue
            ijk = np.argwhere(layer == label).mean(axis=0)
            out[int(label)] = seg.affine[:3, :3] @ ijk + seg.affine[:3, 3]
    return out


def assert_centres(seg, expected: dict[int, tuple[float, float, float]], spacing) -> None:
    got = ras_centroids(seg)
    tol = 0.5 * float(np.max(spacing))
    for label, centre in expected.items():
        assert label in got, f"label {label} missing"
        np.testing.assert_allclose(got[label], centre, atol=tol, err_msg=f"label {label}")
    # The anatomical facts behind the numbers.
    if {1, 2, 3} <= set(expected) and expected == CENTRES:
        assert got[1][0] > 20 and abs(got[1][1]) < 5  # right: +R
        assert got[2][2] > 20  # superior: +S
        assert got[3][1] > 20  # anterior: +A


def lps_header(affine: np.ndarray) -> dict:
    """NRRD geometry fields for a RAS affine, written in LPS space."""
    flip = np.diag([-1.0, -1.0, 1.0])
    return {
        "space": "left-posterior-superior",
        "space directions": (flip @ affine[:3, :3]).T,
        "space origin": flip @ affine[:3, 3],
    }


def ras_header(affine: np.ndarray) -> dict:
    return {"space": "right-anterior-superior", "space directions": affine[:3, :3].T, "space origin": affine[:3, 3]}


def caret_xml(label_map: dict[int, str]) -> bytes:
    """The XML TotalSegmentator (nifti_ext_header.add_label_map_to_nifti) puts in the NIfTI
    header extension (code 0): a Caret label table, colours cycling through 12 primaries."""
    colors = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255],
              [255, 128, 0], [255, 0, 128], [128, 255, 128], [0, 128, 255], [128, 128, 128], [185, 170, 155]]
    body = "".join(
        f'<Label Key="{k}" Red="{colors[k % 12][0] / 255}" Green="{colors[k % 12][1] / 255}" '
        f'Blue="{colors[k % 12][2] / 255}" Alpha="1"><![CDATA[{v}]]></Label>\n'
        for k, v in label_map.items())
    xml = ('<?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  <Date><![CDATA[2013-07-14T05:45:09]]></Date>'
           '   <VolumeInformation Index="0">   <LabelTable>\n' + body + '\n  </LabelTable>  <StudyMetaDataLinkSet>'
           '  </StudyMetaDataLinkSet>  <VolumeType><![CDATA[Label]]></VolumeType>   </VolumeInformation>'
           '</CaretExtension>\n              ')
    return xml.encode("utf-8")



def spacing_of(affine) -> np.ndarray:
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)


def save_nifti(path, data, affine, *, extension: bytes | None = None, descrip: str = "") -> None:
    img = nib.Nifti1Image(data, affine)
    if extension is not None:
        img.header.extensions.append(nib.nifti1.Nifti1Extension(0, extension))
    if descrip:
        img.header["descrip"] = descrip.encode()
    nib.save(img, str(path))


def expect_input_error(path, *words, labels=None) -> InputError:
    with pytest.raises(InputError) as info:
        load_segmentation(str(path), labels=labels)
    text = str(info.value)
    assert text.startswith(str(path)), text
    for word in words:
        assert word in text.lower(), text
    return info.value


# -- NIfTI ------------------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_nifti_puts_labels_where_they_were_generated(tmp_path, orientation, dtype):
    shape, affine = grid(ORIENTATIONS[orientation])
    data = ball_labels(shape, affine).astype(dtype)
    path = tmp_path / "labels.nii.gz"
    save_nifti(path, data, affine)

    seg = load_segmentation(str(path))

    assert seg.shape == shape  # the voxel order is kept
    np.testing.assert_allclose(seg.affine, affine, atol=1e-4)
    assert len(seg.layers) == 1 and seg.layers[0].dtype == np.uint8
    np.testing.assert_array_equal(seg.layers[0], data)
    assert_centres(seg, CENTRES, spacing_of(affine))
    assert sorted(seg.segments) == [1, 2, 3]
    assert [s.structure.name for s in seg.segments.values()] == ["label_1", "label_2", "label_3"]
    assert all(s.structure.system == "other" and s.layer == 0 for s in seg.segments.values())


def test_nifti_qform_only_and_uncompressed(tmp_path):
    shape, affine = grid(ORIENTATIONS["permuted"])
    affine[:3, 3] += (5.0, -7.0, 11.0)
    data = ball_labels(shape, affine)
    img = nib.Nifti1Image(data, None)
    img.set_qform(affine, code=1)
    img.set_sform(None, code=0)
    path = tmp_path / "qform.nii"
    nib.save(img, str(path))

    seg = load_segmentation(str(path))

    np.testing.assert_allclose(seg.affine, affine, atol=1e-4)
    assert_centres(seg, CENTRES, spacing_of(affine))


def test_nifti_in_metres_is_read_in_mm(tmp_path):
    shape, affine = grid(ORIENTATIONS["anisotropic"])
    data = ball_labels(shape, affine)
    metres = affine.copy()
    metres[:3] /= 1000.0
    img = nib.Nifti1Image(data, metres)
    img.header.set_xyzt_units(xyz="meter")
    path = tmp_path / "metres.nii.gz"
    nib.save(img, str(path))

    seg = load_segmentation(str(path))

    np.testing.assert_allclose(seg.affine, affine, atol=1e-3)
    assert_centres(seg, CENTRES, spacing_of(affine))


def test_nifti_scaled_integers_are_labels_after_scaling(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    data = ball_labels(shape, affine).astype(np.int16)
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(np.int16)
    path = tmp_path / "scaled.nii"
    nib.save(img, str(path))
    # Rewrite the header with scl_slope = 100, scl_inter = 0 over the same stored integers.
    raw = bytearray(path.read_bytes())
    hdr = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(bytes(raw[:348])))
    hdr["scl_slope"], hdr["scl_inter"] = 100.0, 0.0
    raw[:348] = hdr.binaryblock
    path.write_bytes(bytes(raw))
    assert nib.load(str(path)).dataobj.slope == 100.0

    seg = load_segmentation(str(path))

    assert seg.layers[0].dtype == np.uint16
    assert sorted(seg.segments) == [100, 200, 300]
    assert_centres(seg, {100 * k: v for k, v in CENTRES.items()}, spacing_of(affine))


def test_nifti_labels_above_255_become_uint16(tmp_path):
    shape, affine = grid(ORIENTATIONS["flipped"])
    data = ball_labels(shape, affine, centres={1000: CENTRES[1], 7: CENTRES[2]}, dtype=np.int32)
    path = tmp_path / "big.nii.gz"
    save_nifti(path, data, affine)

    seg = load_segmentation(str(path))

    assert seg.layers[0].dtype == np.uint16
    np.testing.assert_array_equal(seg.layers[0], data)
    assert sorted(seg.segments) == [7, 1000]


def test_nifti_keeps_no_header_text_or_file_name(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    path = tmp_path / "doe_john_19700101.nii.gz"
    save_nifti(path, ball_labels(shape, affine), affine, descrip="Patient John Doe MRN 12345")

    seg = load_segmentation(str(path))

    for segment in seg.segments.values():
        text = f"{segment.structure.name} {segment.structure.display} {segment.structure.aliases}".lower()
        assert "doe" not in text and "john" not in text and "12345" not in text


def test_float_labels_are_converted_in_slabs_not_copied_as_float64(monkeypatch):
    monkeypatch.setattr(nifti, "_SLAB_VOXELS", 4096)
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 40, size=(64, 64, 64)).astype(np.float32)
    tracemalloc.start()
    try:
        out = nifti.label_array(raw, "x.nii")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(out, raw)
    assert out.dtype == np.uint8
    # The uint8 result plus slab temporaries; a whole float32/float64 copy would exceed this.
    assert peak < out.nbytes + raw.nbytes // 2, peak


@settings(max_examples=60, deadline=None, derandomize=True)
@given(hnp.arrays(np.int32, hnp.array_shapes(min_dims=3, max_dims=3, max_side=6), elements=st.integers(0, 70000)),
       st.sampled_from(["int", "float"]))
def test_label_array_keeps_every_value(raw, kind):
    data = raw.astype(np.float32) if kind == "float" else raw
    hi = int(raw.max())
    if hi > 65535:
        with pytest.raises(InputError, match="65535"):
            nifti.label_array(data, "x")
        return
    out = nifti.label_array(data, "x")
    assert out.dtype == (np.uint8 if hi <= 255 else np.uint16)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, raw)


# -- NRRD -------------------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
@pytest.mark.parametrize("space", ["lps", "ras"])
def test_nrrd_puts_labels_where_they_were_generated(tmp_path, orientation, space):
    shape, affine = grid(ORIENTATIONS[orientation])
    data = ball_labels(shape, affine)
    header = lps_header(affine) if space == "lps" else ras_header(affine)
    path = tmp_path / "labels.nrrd"
    nrrd.write(str(path), data, header)

    seg = load_segmentation(str(path))

    assert seg.shape == shape
    np.testing.assert_allclose(seg.affine, affine, atol=1e-6)
    np.testing.assert_array_equal(seg.layers[0], data)
    assert_centres(seg, CENTRES, spacing_of(affine))


def test_nhdr_detached_header(tmp_path):
    shape, affine = grid(ORIENTATIONS["oblique"])
    data = ball_labels(shape, affine).astype(np.uint16)
    path = tmp_path / "labels.nhdr"
    nrrd.write(str(path), data, {**lps_header(affine), "encoding": "raw"}, detached_header=True)

    seg = load_segmentation(str(path))

    np.testing.assert_allclose(seg.affine, affine, atol=1e-6)
    assert_centres(seg, CENTRES, spacing_of(affine))


def test_nrrd_without_space_is_read_as_lps(tmp_path):
    data = np.zeros((4, 5, 6), np.uint8)
    data[3, 0, 0] = 1
    path = tmp_path / "plain.nrrd"
    nrrd.write(str(path), data, {"spacings": [2.0, 3.0, 4.0]})

    seg = load_segmentation(str(path))

    np.testing.assert_allclose(seg.affine, np.diag([-2.0, -3.0, 4.0, 1.0]))


def slicer_header(affine, segments: list[dict], *, layered: bool) -> dict:
    header = lps_header(affine)
    if layered:
        header["space directions"] = np.vstack([np.full(3, np.nan), header["space directions"]])
        header["kinds"] = ["list", "domain", "domain", "domain"]
    else:
        header["kinds"] = ["domain", "domain", "domain"]
    for n, s in enumerate(segments):
        for key, value in s.items():
            header[f"Segment{n}_{key}"] = value
    return header


def test_seg_nrrd_names_and_colours(tmp_path):
    shape, affine = grid(ORIENTATIONS["oblique"])
    data = ball_labels(shape, affine)
    segments = [
        {"ID": "Segment_1", "Name": "Liver", "Color": "0.9 0.4 0.3", "LabelValue": "1", "Layer": "0",
         "ColorAutoGenerated": "0"},
        {"ID": "Segment_2", "Name": "Right kidney", "Color": "0.1 0.2 0.3", "LabelValue": "2", "Layer": "0",
         "ColorAutoGenerated": "1"},
        {"ID": "Segment_3", "Name": "my tumour", "Color": "0.2 0.8 0.4", "LabelValue": "3", "Layer": "0"},
        {"ID": "Segment_4", "Name": "spleen", "Color": "0.5 0.5 0.5", "LabelValue": "4", "Layer": "0"},
    ]
    path = tmp_path / "case.seg.nrrd"
    nrrd.write(str(path), data, slicer_header(affine, segments, layered=False))

    seg = load_segmentation(str(path))

    assert_centres(seg, CENTRES, spacing_of(affine))
    s = seg.segments
    assert (s[1].structure.name, s[1].structure.color) == ("liver", (0.9, 0.4, 0.3))  # the user's colour
    assert s[2].structure.name == "kidney_right"
    assert s[2].structure.color == lookup("kidney_right").color  # Slicer's automatic colour dropped
    assert (s[3].structure.name, s[3].structure.system, s[3].structure.color) == ("my_tumour", "other", (0.2, 0.8, 0.4))
    assert 4 in s and s[4].structure.name == "spleen"  # named, empty: kept
    assert seg.voxel_counts().get(4) is None


def test_layered_seg_nrrd_becomes_layers_with_unique_labels(tmp_path):
    shape, affine = grid(ORIENTATIONS["anisotropic"])
    layer0 = ball_labels(shape, affine, centres={1: (0.0, 0.0, 0.0), 2: CENTRES[2]})
    layer1 = ball_labels(shape, affine, centres={1: (8.0, 0.0, 0.0), 2: CENTRES[3]}, radius=6.0)  # overlap layer0's 1
    assert np.any((layer0 == 1) & (layer1 == 1))
    data = np.stack([layer0, layer1])
    segments = [
        {"Name": "liver", "Color": "0.7 0.3 0.3", "LabelValue": "1", "Layer": "0"},
        {"Name": "stomach", "Color": "0.9 0.6 0.4", "LabelValue": "2", "Layer": "0"},
        {"Name": "liver tumour", "Color": "1 1 0", "LabelValue": "1", "Layer": "1"},
        {"Name": "gallbladder", "Color": "0 1 0", "LabelValue": "2", "Layer": "1"},
        {"Name": "pancreas", "Color": "1 0.8 0.4", "LabelValue": "5", "Layer": "1"},  # no voxels
    ]
    path = tmp_path / "layered.seg.nrrd"
    nrrd.write(str(path), data, slicer_header(affine, segments, layered=True))

    seg = load_segmentation(str(path))

    assert len(seg.layers) == 2 and seg.shape == shape
    values = [set(np.unique(layer)) - {0} for layer in seg.layers]
    assert values[0] == {1, 2} and len(values[1]) == 2 and not values[0] & values[1]
    by_name = {s.structure.name: s for s in seg.segments.values()}
    assert by_name["liver"].label == 1 and by_name["liver"].layer == 0
    assert by_name["stomach"].label == 2 and by_name["stomach"].layer == 0
    tumour, gall = by_name["liver_tumour"], by_name["gallbladder"]
    assert tumour.layer == 1 and gall.layer == 1 and {tumour.label, gall.label} == values[1]
    assert by_name["pancreas"].layer == 1 and by_name["pancreas"].label not in {1, 2, tumour.label, gall.label}
    counts = seg.voxel_counts()
    assert counts[tumour.label] == int(np.sum(layer1 == 1))
    assert counts[gall.label] == int(np.sum(layer1 == 2))
    assert counts[1] == int(np.sum(layer0 == 1))
    assert_centres(seg, {1: (0.0, 0.0, 0.0), 2: CENTRES[2], tumour.label: (8.0, 0.0, 0.0),
                         gall.label: CENTRES[3]}, spacing_of(affine))


def test_old_slicer_layout_one_binary_component_per_segment(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    masks = [ball_labels(shape, affine, centres={1: c}) for c in CENTRES.values()]
    data = np.stack(masks)
    segments = [{"Name": n, "Color": "0.5 0.5 0.5"} for n in ("liver", "spleen", "stomach")]
    path = tmp_path / "old.seg.nrrd"
    nrrd.write(str(path), data, slicer_header(affine, segments, layered=True))

    seg = read_nrrd(str(path))

    assert len(seg.layers) == 3
    names = {s.structure.name: s.label for s in seg.segments.values()}
    assert set(names) == {"liver", "spleen", "stomach"} and len(set(names.values())) == 3
    assert_centres(seg, {names["liver"]: CENTRES[1], names["spleen"]: CENTRES[2], names["stomach"]: CENTRES[3]},
                   spacing_of(affine))


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


def write_masks(folder, shape, affine, masks: dict[str, dict], dtype=np.uint8):
    folder.mkdir()
    for name, centres in masks.items():
        data = (ball_labels(shape, affine, centres={1: list(centres.values())[-1]}) if centres
                else np.zeros(shape, np.uint8))
        save_nifti(folder / f"{name}.nii.gz", data.astype(dtype), affine)


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


# -- the registry -----------------------------------------------------------------------------

def test_phantom_spec_is_delegated(monkeypatch):
    from arkit_py.phantoms import mird
    from arkit_py.sources.segmentation import Segment, Segmentation

    calls = []

    def fake(spec):
        calls.append(spec)
        return Segmentation([np.ones((2, 2, 2), np.uint8)], np.eye(4), {1: Segment(1, lookup("body"))}, body_label=1)

    monkeypatch.setattr(mird, "phantom_from_spec", fake)
    seg = load_segmentation("phantom:mird-adult?voxel=4")
    assert calls == ["phantom:mird-adult?voxel=4"] and seg.body_label == 1


def test_reader_table_picks_by_ending(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    data = ball_labels(shape, affine)
    upper = tmp_path / "CASE.NII.GZ"
    save_nifti(tmp_path / "case.nii.gz", data, affine)
    (tmp_path / "case.nii.gz").rename(upper)
    assert sorted(load_segmentation(str(upper)).segments) == [1, 2, 3]
    expect_input_error(tmp_path / "nope.nii.gz", "no such file")
    (tmp_path / "scan.mha").write_bytes(b"ObjectType = Image\n")
    expect_input_error(tmp_path / "scan.mha", "unknown volume format")


# -- bad input --------------------------------------------------------------------------------

def _nifti(path, data, affine=None):
    save_nifti(path, data, np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine)


def _some_labels(dtype=np.uint8):
    data = np.zeros((6, 6, 6), dtype)
    data[2:4, 2:4, 2:4] = 1
    return data


def make_garbage_nii(p):
    p.write_bytes(b"this is not a nifti file at all" * 20)


def make_garbage_nrrd(p):
    p.write_bytes(b"NOT A NRRD\n\n" + bytes(100))


def make_truncated_gz(p):
    _nifti(p, np.random.default_rng(0).integers(0, 5, (40, 40, 40)).astype(np.uint8))
    raw = gzip.decompress(p.read_bytes())
    p.write_bytes(gzip.compress(raw)[:-4000])


def make_truncated_nii(p):
    _nifti(p, _some_labels(np.int16))
    p.write_bytes(p.read_bytes()[:-100])


def make_truncated_nrrd(p):
    nrrd.write(str(p), _some_labels(), {"space": "RAS", "space directions": np.eye(3), "encoding": "raw"})
    p.write_bytes(p.read_bytes()[:-50])


def make_fraction(p):
    data = _some_labels(np.float32)
    data[0, 0, 0] = 1.5
    _nifti(p, data)


def make_nan(p):
    data = _some_labels(np.float32)
    data[0, 0, 0] = np.nan
    _nifti(p, data)


def make_negative(p):
    data = _some_labels(np.int16)
    data[0, 0, 0] = -3
    _nifti(p, data)


def make_4d_nifti(p):
    _nifti(p, np.stack([_some_labels(), _some_labels()], axis=-1))


def make_4d_nrrd(p):
    data = np.stack([_some_labels(), _some_labels()])
    nrrd.write(str(p), data, {"kinds": ["domain"] * 4})


def make_empty(p):
    _nifti(p, np.zeros((6, 6, 6), np.uint8))


def make_empty_nrrd(p):
    nrrd.write(str(p), np.zeros((4, 4, 4), np.uint8), {"space": "LPS", "space directions": np.eye(3)})


def make_singular(p):
    img = nib.Nifti1Image(_some_labels(), None)
    img.set_sform(np.diag([2.0, 0.0, 2.0, 1.0]), code=1)
    img.set_qform(None, code=0)
    nib.save(img, str(p))


def make_nonfinite(p):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[0, 3] = np.nan
    img = nib.Nifti1Image(_some_labels(), None)
    img.set_sform(affine, code=1)
    img.set_qform(None, code=0)
    nib.save(img, str(p))


def make_singular_nrrd(p):
    nrrd.write(str(p), _some_labels(), {"space": "LPS", "space directions": [[1, 0, 0], [2, 0, 0], [0, 0, 1]]})


def make_rgb(p):
    rgb = np.zeros((4, 4, 4), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), str(p))


def make_huge_nifti(p):
    """A header claiming 32767^3 int16 voxels (~70 TB) and no data: must be refused from
    the header alone."""
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(np.int16)
    hdr.set_data_shape((32767, 32767, 32767))
    hdr.set_sform(np.eye(4), code=1)
    hdr["vox_offset"] = 352
    p.write_bytes(hdr.binaryblock + b"\x00" * 4)


def make_huge_nhdr(p):
    p.write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 100000 100000 100000\nspace: LPS\n"
                 "space directions: (1,0,0) (0,1,0) (0,0,1)\nencoding: raw\ndata file: missing.raw\n")


BAD = [
    ("garbage.nii", make_garbage_nii, ["not a readable nifti"]),
    ("garbage.nrrd", make_garbage_nrrd, ["not a readable nrrd"]),
    ("truncated.nii.gz", make_truncated_gz, ["corrupt or truncated"]),
    ("truncated.nii", make_truncated_nii, ["corrupt or truncated"]),
    ("truncated.nrrd", make_truncated_nrrd, ["corrupt or truncated"]),
    ("fraction.nii.gz", make_fraction, ["not whole numbers", "1.5"]),
    ("nan.nii.gz", make_nan, ["nan"]),
    ("negative.nii.gz", make_negative, ["negative", "-3"]),
    ("fourd.nii.gz", make_4d_nifti, ["4d", "3d label volume"]),
    ("fourd.nrrd", make_4d_nrrd, ["4d", "layered"]),
    ("empty.nii.gz", make_empty, ["empty", "no voxel"]),
    ("empty.seg.nrrd", make_empty_nrrd, ["empty"]),
    ("singular.nii.gz", make_singular, ["singular"]),
    ("nonfinite.nii.gz", make_nonfinite, ["non-finite"]),
    ("singular.nrrd", make_singular_nrrd, ["singular"]),
    ("rgb.nii.gz", make_rgb, ["not a label map", "rgb"]),
    ("huge.nii", make_huge_nifti, ["too large for memory"]),
    ("huge.nhdr", make_huge_nhdr, ["too large for memory"]),
]


@pytest.mark.parametrize("name, make, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_an_input_error(tmp_path, name, make, words):
    path = tmp_path / name
    make(path)
    expect_input_error(path, *words)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", "folder"])
def test_voxel_cap_is_judged_before_reading(tmp_path, monkeypatch, suffix):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    data = ball_labels(shape, affine)
    if suffix == "folder":
        path = tmp_path / "masks"
        write_masks(path, shape, affine, {"liver": {1: CENTRES[1]}})
    else:
        path = tmp_path / f"v{suffix}"
        save_nifti(path, data, affine) if suffix == ".nii.gz" else nrrd.write(str(path), data, ras_header(affine))
    assert load_segmentation(str(path)).shape == shape
    monkeypatch.setenv("ARKIT_MAX_VOXELS", str(data.size - 1))
    expect_input_error(path, "too large", "arkit_max_voxels")
    monkeypatch.setenv("ARKIT_MAX_VOXELS", str(data.size))
    assert load_segmentation(str(path)).shape == shape


def test_label_table_doctests():
    import doctest

    result = doctest.testmod(labeltables)
    assert result.attempted > 0 and result.failed == 0


# -- warnings only when the read succeeds -----------------------------------------------------

def _no_orientation_nifti(p, data=None, *, nan_pixdim=False):
    """A NIfTI whose sform and qform codes are 0 (read with a 'no orientation' warning);
    ``nan_pixdim`` puts NaN in the first voxel size, so its affine is not finite."""
    img = nib.Nifti1Image(_some_labels() if data is None else data, np.eye(4))
    img.set_sform(None, code=0)
    img.set_qform(None, code=0)
    nib.save(img, str(p))
    if nan_pixdim:
        raw = bytearray(p.read_bytes())
        raw[80:84] = struct.pack("<f", float("nan"))  # pixdim[1]
        p.write_bytes(bytes(raw))


def make_spaceless_empty_nrrd(p):
    nrrd.write(str(p), np.zeros((4, 4, 4), np.uint8), {"spacings": [1.0, 1.0, 1.0]})


def make_spaceless_singular_nrrd(p):
    nrrd.write(str(p), _some_labels(), {"space directions": [[1, 0, 0], [2, 0, 0], [0, 0, 1]]})


def make_nan_pixdim(p):
    _no_orientation_nifti(p, nan_pixdim=True)


def make_unoriented_empty(p):
    _no_orientation_nifti(p, np.zeros((6, 6, 6), np.uint8))


WARN_THEN_FAIL = [
    ("spaceless-empty.nrrd", make_spaceless_empty_nrrd, ["empty segmentation"]),
    ("spaceless-singular.nrrd", make_spaceless_singular_nrrd, ["singular"]),
    ("nan-pixdim.nii", make_nan_pixdim, ["non-finite affine"]),
    ("unoriented-empty.nii.gz", make_unoriented_empty, ["empty segmentation"]),
]


@pytest.mark.parametrize("name, make, words", WARN_THEN_FAIL, ids=[w[0] for w in WARN_THEN_FAIL])
def test_a_failing_read_logs_no_warning_before_its_error(tmp_path, caplog, name, make, words):
    path = tmp_path / name
    make(path)
    with caplog.at_level(logging.INFO, logger="arkit_py"):
        expect_input_error(path, *words)
        with pytest.raises(InputError):
            (read_nrrd if name.endswith(".nrrd") else nifti.read_nifti)(str(path))
    assert caplog.records == []


@pytest.mark.parametrize("name, make, warning", [
    ("spaceless.nrrd", lambda p: nrrd.write(str(p), _some_labels(), {"spacings": [2.0, 2.0, 2.0]}),
     "NRRD space missing has no anatomical orientation; reading it as LPS"),
    ("unoriented.nii.gz", _no_orientation_nifti, "NIfTI header has no orientation"),
])
def test_a_successful_read_still_logs_its_warning_once(tmp_path, caplog, name, make, warning):
    path = tmp_path / name
    make(path)
    with caplog.at_level(logging.WARNING, logger="arkit_py"):
        seg = load_segmentation(str(path))
    assert set(seg.segments) == {1}
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert warning in caplog.records[0].getMessage()


def test_the_cli_prints_only_the_error_of_a_failing_read(tmp_path):
    for name, make, words in WARN_THEN_FAIL:
        path = tmp_path / name
        make(path)
        out = tmp_path / "x.glb"
        done = subprocess.run([sys.executable, "-m", "arkit_py.cli", "hologram", str(path), "-o", str(out)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"arkit: {path}: ") and words[0] in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert not out.exists()


# -- detached NRRD headers: the data file stays in the header's folder ------------------------

NHDR = ("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 6 6 6\nspace: left-posterior-superior\n"
        "space directions: (2,0,0) (0,2,0) (0,0,2)\nencoding: raw\n{key}: {value}\n\n")


@pytest.fixture
def outside_data(tmp_path):
    """(the header's folder, a raw file of exactly the header's size outside that folder)."""
    folder = tmp_path / "header"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    raw = elsewhere / "labels.raw"
    raw.write_bytes(_some_labels().tobytes(order="F"))
    return folder, raw


def _nhdr(folder, value, key="data file"):
    path = folder / "labels.nhdr"
    path.write_text(NHDR.format(key=key, value=value), encoding="ascii")
    return path


@pytest.mark.parametrize("key", ["data file", "datafile"])
def test_a_detached_header_cannot_name_an_absolute_data_file(outside_data, key):
    folder, raw = outside_data
    error = expect_input_error(_nhdr(folder, str(raw), key), "absolute path", "header's folder")
    assert "\n" not in str(error)


@pytest.mark.parametrize("value", ["../elsewhere/labels.raw", "./../elsewhere/labels.raw",
                                   "sub/../../elsewhere/labels.raw"])
def test_a_detached_header_cannot_climb_out_of_its_folder(outside_data, value):
    folder, _ = outside_data
    (folder / "sub").mkdir()
    expect_input_error(_nhdr(folder, value), "outside the header's folder")


def test_a_symlink_out_of_the_folder_is_resolved_and_refused(outside_data):
    folder, raw = outside_data
    os.symlink(raw, folder / "labels.raw")
    expect_input_error(_nhdr(folder, "labels.raw"), "outside the header's folder")
    os.symlink(raw.parent, folder / "linked")
    expect_input_error(_nhdr(folder, "linked/labels.raw"), "outside the header's folder")


@pytest.mark.parametrize("value,words", [
    ("LIST", ["several files"]),
    ("slice%03d.raw 1 6 1", ["several files"]),
    ("missing.raw", ["not found"]),
    (".", ["not a regular file"]),
])
def test_multi_file_and_missing_data_files_are_refused(outside_data, value, words):
    folder, _ = outside_data
    expect_input_error(_nhdr(folder, value), *words)


@pytest.mark.parametrize("value", ["labels.raw", "./labels.raw", "data/labels.raw", "data/../labels.raw"])
def test_a_data_file_inside_the_header_folder_still_reads(outside_data, value):
    folder, raw = outside_data
    (folder / "data").mkdir()
    for target in (folder / "labels.raw", folder / "data" / "labels.raw"):
        target.write_bytes(raw.read_bytes())
    seg = load_segmentation(str(_nhdr(folder, value)))
    np.testing.assert_array_equal(seg.layers[0], _some_labels())
    np.testing.assert_allclose(np.abs(np.diag(seg.affine)), [2.0, 2.0, 2.0, 1.0])

"""DICOM-SEG reader and the ROI / segment name mapping.

Real files (tests/data/dicom_seg, from dcmqi): the liver SEG on its 3-slice CT grid, and a
SEG of 5 partly overlapping segments whose voxel counts are checked against the set pixels
of its raw frames, counted here with pydicom alone. Synthetic SEGs are built with highdicom
from small CT series written with pydicom (anisotropic pixels, sagittal and oblique
orientations, files in shuffled order): two ellipsoids of unequal radii given in patient
coordinates, so every voxel of the grid read back can be checked against them.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from arkit_py.errors import InputError
from arkit_py.sources.dicom import names
from arkit_py.sources.dicom.seg import cielab_to_srgb, read_dicom_seg
from tests.sources.volumes import rotation

DATA = __import__("pathlib").Path(__file__).parent.parent / "data" / "dicom_seg"
LIVER = DATA / "liver_seg.dcm"
OVERLAPS = DATA / "partial_overlaps_seg.dcm"
FLIP = np.diag([-1.0, -1.0, 1.0])  # LPS <-> RAS


def ras_of(affine, ijk):
    ijk = np.asarray(ijk, dtype=float)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


# -- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name, system", [
    ("Heart", "heart", "cardiovascular"),
    ("Lt Lung", "lung_left", "respiratory"),
    ("Lung_L", "lung_left", "respiratory"),
    ("Left Lung", "lung_left", "respiratory"),
    ("LungL", "lung_left", "respiratory"),
    ("Rt Kidney", "kidney_right", "urinary"),
    ("Kidney_R", "kidney_right", "urinary"),
    ("BODY", "body", "body"),
    ("External", "body", "body"),
    ("Skin", "body", "body"),
    ("Outer Contour", "body", "body"),
    ("Liver", "liver", "digestive"),
    ("Spinal Cord", "spinal_cord", "nervous"),
    ("SpinalCord", "spinal_cord", "nervous"),
    ("Lt Adrenal", "adrenal_gland_left", "endocrine"),
    ("GTV_Mass", "gtv_mass", "other"),
    ("Parotid_L", "parotid_left", "other"),
    ("Lt Parotid", "parotid_left", "other"),
    ("PTV 70", "ptv_70", "other"),
    ("L", "l", "other"),
])
def test_roi_names_map_to_structures(text, name, system):
    structure = names.structure_for(text)
    assert (structure.name, structure.system) == (name, system)
    assert names.canonical_name(text) == name
    assert structure.known == (system != "other")
    if system == "other":
        assert structure.display == text  # the user's own spelling is what is shown


def test_names_keep_a_colour_given():
    assert names.structure_for("Lt Lung", (1.0, 0.0, 0.0)).color == (1.0, 0.0, 0.0)
    assert names.structure_for("GTV_Mass", (0.0, 1.0, 0.0)).color == (0.0, 1.0, 0.0)


# -- real files ------------------------------------------------------------------------------

def test_liver_seg_on_its_ct_grid():
    seg = read_dicom_seg(LIVER)
    assert seg.shape == (512, 512, 3)
    assert len(seg.layers) == 1 and seg.body_label is None
    assert {label: s.structure.name for label, s in seg.segments.items()} == {1: "liver"}
    steps = np.linalg.norm(seg.affine[:3, :3], axis=0)
    assert steps == pytest.approx([0.810547, 0.810547, 1.0], abs=1e-5)
    counts = seg.voxel_counts()
    assert counts[1] > 0
    # CIELab [41661, 41167, 40792] -> a liver-ish red, not the table's default
    assert seg.segments[1].structure.color == pytest.approx(cielab_to_srgb([41661, 41167, 40792]))
    r, g, b = seg.segments[1].structure.color
    assert r > g > 0.3 and r > b


def _ct_geometry(path):
    ds = pydicom.dcmread(path)
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    ps = [float(v) for v in ds.PixelSpacing]
    return ipp, iop[:3], iop[3:], ps


@pytest.mark.parametrize("path", [LIVER, OVERLAPS])
def test_seg_grid_matches_the_ct_slices(path):
    """The grid's voxels sit on the CT's pixels: (column, row) of each CT slice, the slice
    ranked along the normal, in RAS within 0.01 mm."""
    seg = read_dicom_seg(path)
    slices = [_ct_geometry(p) for p in sorted((DATA / "ct-3slice-headers").glob("*.dcm"))]
    normal = np.cross(slices[0][1], slices[0][2])
    slices.sort(key=lambda s: float(s[0] @ normal))
    assert seg.shape[2] == len(slices)
    for k, (ipp, row, col, ps) in enumerate(slices):
        for c, r in [(0, 0), (511, 0), (0, 511), (511, 511), (137, 402)]:
            lps = ipp + c * ps[1] * row + r * ps[0] * col
            assert np.abs(ras_of(seg.affine, (c, r, k)) - FLIP @ lps).max() < 0.01


def test_partial_overlaps_counted_from_the_raw_frames():
    seg = read_dicom_seg(OVERLAPS)
    assert len(seg.segments) == 5
    assert len(seg.layers) >= 2
    # labels are unique across layers and each lives in the layer its segment names
    for label, segment in seg.segments.items():
        for n, layer in enumerate(seg.layers):
            assert bool((layer == label).any()) == (n == segment.layer)

    ds = pydicom.dcmread(OVERLAPS)
    frames = ds.pixel_array  # BINARY unpacked: (frames, rows, columns) of 0/1
    expected: dict[int, int] = {}
    for f, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        expected[number] = expected.get(number, 0) + int(np.count_nonzero(frames[f]))
    assert seg.voxel_counts() == expected
    voxel_mm3 = 0.810547 ** 2 * 1.0
    for count in expected.values():
        assert count * seg.voxel_volume_ml == pytest.approx(count * voxel_mm3 / 1000.0, rel=1e-5)
    # the labels are the SegmentLabels, cleaned (they name colours, not anatomy)
    assert [seg.segments[n].structure.name for n in sorted(seg.segments)] == [
        "green", "orange", "purple", "light_blue", "dark_blue"]


def test_frames_placed_by_position_not_by_referenced_instances(tmp_path):
    """Shuffling which CT instance each frame says it was derived from changes nothing."""
    ds = pydicom.dcmread(OVERLAPS)
    uids = [g.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
            for g in ds.PerFrameFunctionalGroupsSequence]
    for group, uid in zip(ds.PerFrameFunctionalGroupsSequence, uids[::-1]):
        group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID = uid
    out = tmp_path / "shuffled.dcm"
    ds.save_as(out)
    a, b = read_dicom_seg(OVERLAPS), read_dicom_seg(out)
    assert np.array_equal(a.affine, b.affine)
    assert all(np.array_equal(x, y) for x, y in zip(a.layers, b.layers))


def test_one_plane_takes_spacing_between_slices(tmp_path):
    ds = pydicom.dcmread(LIVER)
    ds.PixelData = ds.PixelData[: 512 * 512 // 8]  # BINARY: one bit a pixel, frame 1 only
    ds.NumberOfFrames = 1
    ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:1]
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices = 2.5
    out = tmp_path / "one.dcm"
    ds.save_as(out)
    seg = read_dicom_seg(out)
    assert seg.shape == (512, 512, 1)
    assert np.linalg.norm(seg.affine[:3, :3], axis=0) == pytest.approx([0.810547, 0.810547, 2.5], abs=1e-5)
    frame0 = pydicom.dcmread(LIVER).pixel_array[0]
    assert seg.voxel_counts() == {1: int(np.count_nonzero(frame0))}


# -- bad input -------------------------------------------------------------------------------

def _broken(tmp_path, edit):
    ds = pydicom.dcmread(LIVER)
    edit(ds)
    out = tmp_path / "broken.dcm"
    ds.save_as(out)
    return out


def _shift_half_pixel(ds):
    ipp = ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0]
    ipp.ImagePositionPatient = [float(ipp.ImagePositionPatient[0]) + 0.4, *ipp.ImagePositionPatient[1:]]


def _tilt_one_frame(ds):
    group = ds.PerFrameFunctionalGroupsSequence[2]
    item = Dataset()
    item.ImageOrientationPatient = [1, 0, 0, 0, 0.8, 0.6]
    group.PlaneOrientationSequence = [item]


@pytest.mark.parametrize("edit, message", [
    (_shift_half_pixel, "fraction of a pixel"),
    (_tilt_one_frame, "orientation"),
    (lambda ds: delattr(ds, "PerFrameFunctionalGroupsSequence"), "PerFrameFunctionalGroupsSequence"),
    (lambda ds: delattr(ds.SharedFunctionalGroupsSequence[0], "PixelMeasuresSequence"), "PixelSpacing"),
])
def test_bad_seg_is_one_line_naming_the_file(tmp_path, edit, message):
    path = _broken(tmp_path, edit)
    with pytest.raises(InputError) as info:
        read_dicom_seg(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_not_a_seg(tmp_path):
    text = tmp_path / "notes.dcm"
    text.write_text("not DICOM at all\n")
    ct = DATA / "ct-3slice-headers" / "01.dcm"
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(LIVER.read_bytes()[:5000])
    for path, message in [(text, "DICOM"), (ct, "CT Image Storage, not a DICOM SEG"),
                          (tmp_path / "missing.dcm", "no such file"), (tmp_path, "folder"), (truncated, "")]:
        with pytest.raises(InputError) as info:
            read_dicom_seg(path)
        assert str(info.value).startswith(str(path)) and message in str(info.value)
        assert "\n" not in str(info.value)


# -- synthetic SEGs from highdicom -------------------------------------------------------------

COLS, ROWS, SLICES = 40, 30, 20
PIXEL = (1.3, 0.7)  # PixelSpacing: between rows (along the column direction), between columns
GAP = 2.0           # slice spacing (mm)

ORIENTATIONS = {
    "sagittal": (np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])),
    "oblique": tuple(rotation((1.0, -2.0, 0.5), 0.6)[:, :2].T),
}


def _ct_series(tmp_path, orientation):
    """A CT series (SLICES files, shuffled order) and its geometry: (datasets, origin,
    row direction, column direction, normal) in LPS."""
    row, col = (np.asarray(v, dtype=float) for v in ORIENTATIONS[orientation])
    normal = np.cross(row, col)
    origin = np.array([-12.0, 30.0, 95.0])
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    order = list(range(SLICES))
    random.Random(7).shuffle(order)
    datasets = []
    for n, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Phantom", "P1", "", "O"
        ds.StudyID, ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "20240101", "120000", "", ""
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, n + 1
        ds.Manufacturer = "arkit tests"
        ds.ImagePositionPatient = [float(x) for x in origin + k * GAP * normal]
        ds.ImageOrientationPatient = [float(x) for x in (*row, *col)]
        ds.PixelSpacing = list(PIXEL)
        ds.SliceThickness = GAP
        ds.Rows, ds.Columns = ROWS, COLS
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = np.zeros((ROWS, COLS), dtype=np.int16).tobytes()
        path = tmp_path / f"ct_{n:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        datasets.append(pydicom.dcmread(path))
    return datasets, origin, row, col, normal


def _patient_points(origin, row, col, normal, shape):
    """LPS centres (..., 3) of the CT pixels on an (I, J, K) = (columns, rows, slices) grid."""
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return (origin + i[..., None] * PIXEL[1] * row + j[..., None] * PIXEL[0] * col
            + k[..., None] * GAP * normal)


def _ellipsoid(points, centre, radii):
    return (((points - centre) / radii) ** 2).sum(-1) <= 1.0


def _ellipsoids(geometry, layout):
    """Two ellipsoids (centre, radii in LPS mm, axes along the patient's axes)."""
    _, origin, row, col, normal = geometry
    middle = origin + (COLS - 1) / 2 * PIXEL[1] * row + (ROWS - 1) / 2 * PIXEL[0] * col + (SLICES - 1) / 2 * GAP * normal
    if layout == "overlapping":
        return [(middle - 2.5 * normal, np.array([6.0, 9.5, 7.5])), (middle + 3.0 * normal, np.array([8.0, 5.0, 6.5]))]
    # far apart along the slices: empty frames between them are omitted from the SEG
    return [(middle - 12.0 * normal, np.array([5.0, 8.0, 4.5])), (middle + 12.0 * normal, np.array([7.5, 6.0, 4.0]))]


def _sorted_pixel_stack(geometry, masks_ijk):
    """Source datasets sorted along the normal and the (frames, rows, columns, segments)
    array highdicom wants for them."""
    stack = np.stack([m.transpose(2, 1, 0) for m in masks_ijk], axis=-1)  # (K, J=rows, I=columns, S)
    return _sorted_sources(geometry), stack


def _sorted_sources(geometry):
    datasets, normal = geometry[0], geometry[4]
    return sorted(datasets, key=lambda ds: float(np.array([float(v) for v in ds.ImagePositionPatient]) @ normal))


def _description(hd, number, label, color=None):
    from pydicom.sr.codedict import codes

    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=label,
        segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Tissue,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL, display_color=color)


def _write_seg(tmp_path, geometry, pixel_array, kind, labels, colors=None, **options):
    import highdicom as hd

    ordered = _sorted_sources(geometry)
    colors = colors or [None] * len(labels)
    seg = hd.seg.Segmentation(
        source_images=ordered, pixel_array=pixel_array, segmentation_type=kind,
        segment_descriptions=[_description(hd, n + 1, label, color)
                              for n, (label, color) in enumerate(zip(labels, colors))],
        series_instance_uid=generate_uid(), series_number=2, sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer="arkit tests", manufacturer_model_name="synthetic",
        software_versions="0", device_serial_number="0", **options)
    path = tmp_path / "seg.dcm"
    seg.save_as(path)
    return path


def _check_against_ellipsoids(seg, ellipsoids, labels, geometry, inside_test=None):
    """Every voxel of the grid read back is in a segment exactly when its centre is in that
    segment's ellipsoid; the ellipsoids' voxels on the CT grid all came back."""
    _, origin, row, col, normal = geometry
    i, j, k = np.meshgrid(*(np.arange(n) for n in seg.shape), indexing="ij")
    ras = ras_of(seg.affine, np.stack([i, j, k], axis=-1))
    lps = ras @ FLIP.T
    ct_points = _patient_points(origin, row, col, normal, (COLS, ROWS, SLICES))
    for label, (centre, radii) in zip(labels, ellipsoids):
        expected = _ellipsoid(lps, centre, radii)
        got = np.zeros(seg.shape, dtype=bool)
        for layer in seg.layers:
            got |= layer == label
        assert np.array_equal(got, expected), f"label {label}: {np.count_nonzero(got != expected)} voxels differ"
        on_ct = int(np.count_nonzero(_ellipsoid(ct_points, centre, radii)))
        assert seg.voxel_counts()[label] == on_ct
        volume_mm3 = seg.voxel_counts()[label] * seg.voxel_volume_ml * 1000.0
        assert volume_mm3 == pytest.approx(4.0 / 3.0 * math.pi * np.prod(radii), rel=0.05)


def _grid_on_ct(seg, geometry):
    """The SEG grid is the CT's (columns, rows, a run of its slices), in RAS."""
    _, origin, row, col, normal = geometry
    steps = np.linalg.norm(seg.affine[:3, :3], axis=0)
    assert steps == pytest.approx([PIXEL[1], PIXEL[0], GAP], abs=1e-6)
    assert seg.shape[:2] == (COLS, ROWS)
    k0 = float((FLIP @ seg.affine[:3, 3] - origin) @ normal) / GAP
    assert abs(k0 - round(k0)) < 1e-6
    for ijk in [(0, 0, 0), (COLS - 1, 0, 1), (0, ROWS - 1, seg.shape[2] - 1), (7, 11, 2)]:
        lps = origin + ijk[0] * PIXEL[1] * row + ijk[1] * PIXEL[0] * col + (ijk[2] + round(k0)) * GAP * normal
        assert np.abs(ras_of(seg.affine, ijk) - FLIP @ lps).max() < 1e-6


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
@pytest.mark.parametrize("layout", ["overlapping", "apart"])
def test_synthetic_binary_seg(tmp_path, orientation, layout):
    import highdicom as hd

    geometry = _ct_series(tmp_path, orientation)
    ellipsoids = _ellipsoids(geometry, layout)
    points = _patient_points(*geometry[1:], (COLS, ROWS, SLICES))
    masks = [_ellipsoid(points, c, r) for c, r in ellipsoids]
    _, stack = _sorted_pixel_stack(geometry, masks)
    orange = hd.color.CIELabColor.from_string("orange")
    path = _write_seg(tmp_path, geometry, stack.astype(np.uint8), "BINARY", ["Lt Kidney", "GTV_Mass"],
                      colors=[orange, None])
    seg = read_dicom_seg(path)
    assert seg.segments[1].structure.name == "kidney_left"
    assert seg.segments[2].structure.name == "gtv_mass" and seg.segments[2].structure.system == "other"
    assert seg.segments[1].structure.color == pytest.approx((1.0, 165 / 255, 0.0), abs=1.5 / 255)
    assert len(seg.layers) == (2 if layout == "overlapping" else 1)
    _grid_on_ct(seg, geometry)
    _check_against_ellipsoids(seg, ellipsoids, [1, 2], geometry)
    if layout == "apart":  # empty frames at both ends and between the two were omitted
        assert seg.shape[2] < SLICES


def test_synthetic_fractional_seg_thresholds_at_half(tmp_path):
    geometry = _ct_series(tmp_path, "oblique")
    ellipsoids = _ellipsoids(geometry, "overlapping")
    points = _patient_points(*geometry[1:], (COLS, ROWS, SLICES))
    inner = _ellipsoid(points, *ellipsoids[0])
    outer = _ellipsoid(points, ellipsoids[0][0], ellipsoids[0][1] * 1.3)
    second = _ellipsoid(points, *ellipsoids[1])
    # 0.8 inside the ellipsoid, 0.3 in a shell around it (below half), 0.55 in the second
    first = np.where(inner, 0.8, np.where(outer, 0.3, 0.0))
    _, stack = _sorted_pixel_stack(geometry, [first, np.where(second, 0.55, 0.0)])
    path = _write_seg(tmp_path, geometry, stack.astype(np.float32), "FRACTIONAL", ["Liver", "Spleen"],
                      max_fractional_value=200)
    seg = read_dicom_seg(path)
    assert [seg.segments[n].structure.name for n in (1, 2)] == ["liver", "spleen"]
    _check_against_ellipsoids(seg, ellipsoids, [1, 2], geometry)


def test_synthetic_labelmap_seg(tmp_path):
    import highdicom as hd

    geometry = _ct_series(tmp_path, "sagittal")
    ellipsoids = _ellipsoids(geometry, "apart")
    points = _patient_points(*geometry[1:], (COLS, ROWS, SLICES))
    labels = np.zeros((COLS, ROWS, SLICES), dtype=np.uint8)
    for n, (c, r) in enumerate(ellipsoids, 1):
        labels[_ellipsoid(points, c, r)] = n
    _, stack = _sorted_pixel_stack(geometry, [labels])
    if not hasattr(hd.seg.SegmentationTypeValues, "LABELMAP"):
        pytest.skip("highdicom without LABELMAP")
    path = _write_seg(tmp_path, geometry, stack[..., 0], "LABELMAP", ["Rt Kidney", "BODY"])
    seg = read_dicom_seg(path)
    assert seg.segments[1].structure.name == "kidney_right"
    assert seg.segments[2].structure.name == "body"
    assert seg.body_label == 2  # the body is the filler of the first layer (drawn translucent)
    assert len(seg.layers) == 1
    _check_against_ellipsoids(seg, ellipsoids, [1, 2], geometry)


def test_a_numbering_label_gives_way_to_the_property_type():
    from arkit_py.sources.dicom.seg import _structure

    def description(label, meaning, modifier=None):
        item = Dataset()
        item.SegmentLabel = label
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "0", "SCT", meaning
        item.SegmentedPropertyTypeCodeSequence = [code]
        if modifier:
            mod = Dataset()
            mod.CodeValue, mod.CodingSchemeDesignator, mod.CodeMeaning = "1", "SCT", modifier
            item.SegmentedPropertyTypeModifierCodeSequence = [mod]
        return item

    assert _structure(description("Segment 1", "Kidney", "Left"), 1).name == "kidney_left"
    assert _structure(description("Segment_2", "Liver"), 2).name == "liver"
    assert _structure(description("Tumour A", "Liver"), 3).name == "tumour_a"  # a real label wins
    assert _structure(description("Segment 4", "Neoplasm"), 4).name == "segment_4"
    assert _structure(None, 5).name == "segment_5"

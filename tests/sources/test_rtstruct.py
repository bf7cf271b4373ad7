"""RTSTRUCT reader: closed planar contours rasterised on a reference grid or on one built
from the contours.

Synthetic structure sets are written with pydicom from known polygons (a rectangle, a
circle of 64 points, a ring made of an outer and an inner contour, polygons on an oblique
plane set); a volume is right when it matches the contours' own volume (the sum of the
polygon areas times the plane spacing) within 5 %. On a reference grid, contours whose
corners sit on voxel boundaries must land on exactly the voxels inside them. pydicom's own
``rtstruct.dcm`` is read as a real file.
"""

from __future__ import annotations

import logging
import math
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RTStructureSetStorage, generate_uid

from arkit_py.errors import InputError
from arkit_py.sources.dicom.rtstruct import polygon_mask, read_rtstruct
from tests.sources.volumes import rotation

FLIP = np.diag([-1.0, -1.0, 1.0])  # LPS <-> RAS


def write_rtstruct(path, rois, *, preamble=True):
    """rois: [{number, name, contours: [(type, (N, 3) LPS points)], color?, interpreted?}]."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTStructureSetStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = RTStructureSetStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.PatientName, ds.PatientID = "Test^Phantom", "P1"
    ds.StructureSetLabel = "synthetic"
    frame = generate_uid()
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    for roi in rois:
        item = Dataset()
        item.ROINumber, item.ROIName, item.ReferencedFrameOfReferenceUID = roi["number"], roi["name"], frame
        item.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(item)
        observation = Dataset()
        observation.ObservationNumber = roi["number"]
        observation.ReferencedROINumber = roi["number"]
        observation.RTROIInterpretedType = roi.get("interpreted", "ORGAN")
        ds.RTROIObservationsSequence.append(observation)
        if roi.get("contours") is None:
            continue
        rc = Dataset()
        rc.ReferencedROINumber = roi["number"]
        rc.ROIDisplayColor = list(roi.get("color", (200, 100, 50)))
        rc.ContourSequence = []
        for kind, points in roi["contours"]:
            contour = Dataset()
            contour.ContourGeometricType = kind
            points = np.asarray(points, dtype=float)
            contour.NumberOfContourPoints = len(points)
            contour.ContourData = [round(float(v), 6) for v in points.ravel()]
            image = Dataset()  # deliberately wrong references: placement is by coordinates
            image.ReferencedSOPClassUID, image.ReferencedSOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", generate_uid()
            contour.ContourImageSequence = [image]
            rc.ContourSequence.append(contour)
        ds.ROIContourSequence.append(rc)
    if preamble:
        ds.save_as(path, enforce_file_format=True)
    else:
        ds.file_meta = FileMetaDataset()  # no preamble, no file meta: like pydicom's rtstruct.dcm
        ds.save_as(path, implicit_vr=True, little_endian=True)
    return path


def area(points2d) -> float:
    x, y = np.asarray(points2d, dtype=float).T
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def rectangle(x0, y0, x1, y1):
    return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=float)


def circle(cx, cy, r, n=64):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


def on_plane(points2d, z):
    points2d = np.asarray(points2d, dtype=float)
    return np.column_stack([points2d, np.full(len(points2d), float(z))])


def mask_of(seg, label):
    out = np.zeros(seg.shape, dtype=bool)
    for layer in seg.layers:
        out |= layer == label
    return out


def volume_mm3(seg, label):
    return seg.voxel_counts().get(label, 0) * seg.voxel_volume_ml * 1000.0


# -- polygons on their own grid ------------------------------------------------------------

PLANES = [-20.0 + 2.5 * n for n in range(6)]  # axial planes (LPS z), 2.5 mm apart


def test_rectangle_circle_and_ring_volumes(tmp_path):
    rect = rectangle(-30.0, -12.0, 14.0, 20.0)
    disc = circle(10.0, 5.0, 18.0)
    outer, inner = circle(-40.0, 40.0, 20.0), circle(-40.0, 40.0, 9.0)
    path = write_rtstruct(tmp_path / "rs.dcm", [
        {"number": 1, "name": "Liver", "contours": [("CLOSED_PLANAR", on_plane(rect, z)) for z in PLANES]},
        {"number": 2, "name": "Lt Kidney", "contours": [("CLOSED_PLANAR", on_plane(disc, z)) for z in PLANES[1:]]},
        {"number": 7, "name": "GTV_Ring", "contours": [("CLOSED_PLANAR", on_plane(c, z))
                                                       for z in PLANES[:3] for c in (outer, inner)]},
    ])
    seg = read_rtstruct(path)
    assert {n: s.structure.name for n, s in seg.segments.items()} == {1: "liver", 2: "kidney_left", 7: "gtv_ring"}
    assert seg.segments[7].structure.system == "other"
    assert len(seg.layers) == 2  # the disc overlaps the rectangle
    steps = np.linalg.norm(seg.affine[:3, :3], axis=0)
    assert steps == pytest.approx([1.0, 1.0, 2.5])
    assert seg.shape[2] == len(PLANES)
    expected = {1: area(rect) * 2.5 * 6, 2: area(disc) * 2.5 * 5, 7: (area(outer) - area(inner)) * 2.5 * 3}
    for label, mm3 in expected.items():
        assert volume_mm3(seg, label) == pytest.approx(mm3, rel=0.05), label
    # the ring has its hole: the centre of the circles is outside, a point between in
    inv = np.linalg.inv(seg.affine)
    for lps, inside in [((-40.0, 40.0, PLANES[1]), False), ((-40.0, 54.5, PLANES[1]), True)]:
        i, j, k = np.rint(inv[:3, :3] @ (FLIP @ np.array(lps)) + inv[:3, 3]).astype(int)
        assert mask_of(seg, 7)[i, j, k] == inside
    # the rectangle sits where its coordinates say, on the right planes
    centre = np.argwhere(mask_of(seg, 1)).mean(0)
    lps = FLIP @ (seg.affine[:3, :3] @ centre + seg.affine[:3, 3])
    assert lps == pytest.approx([-8.0, 4.0, np.mean(PLANES)], abs=0.6)


def test_finer_in_plane_grid(tmp_path):
    disc = circle(0.0, 0.0, 6.0)
    path = write_rtstruct(tmp_path / "rs.dcm", [
        {"number": 1, "name": "Spinal Cord", "contours": [("CLOSED_PLANAR", on_plane(disc, z)) for z in PLANES]}])
    seg = read_rtstruct(path, in_plane_mm=0.25)
    assert np.linalg.norm(seg.affine[:3, :3], axis=0) == pytest.approx([0.25, 0.25, 2.5])
    assert seg.segments[1].structure.name == "spinal_cord"
    assert volume_mm3(seg, 1) == pytest.approx(area(disc) * 2.5 * 6, rel=0.01)
    with pytest.raises(ValueError):
        read_rtstruct(path, in_plane_mm=0)


def test_oblique_plane_set(tmp_path):
    """Contours on planes tilted in two directions: the grid's k axis follows their normal."""
    r = rotation((0.4, -1.0, 0.3), 0.5)
    u, v, n = r[:, 0], r[:, 1], r[:, 2]
    origin = np.array([15.0, -40.0, 80.0])

    def lift(points2d, d):
        return origin + points2d[:, :1] * u + points2d[:, 1:] * v + d * n

    rect, disc = rectangle(-10.0, -6.0, 22.0, 9.0), circle(0.0, 30.0, 11.0)
    planes = [3.0 * m for m in range(5)]
    path = write_rtstruct(tmp_path / "rs.dcm", [
        {"number": 1, "name": "Heart", "contours": [("CLOSED_PLANAR", lift(rect, d)) for d in planes]},
        {"number": 2, "name": "Rt Lung", "contours": [("CLOSED_PLANAR", lift(disc, d)) for d in planes[1:4]]},
    ])
    seg = read_rtstruct(path)
    k_axis = seg.affine[:3, 2]
    assert np.linalg.norm(k_axis) == pytest.approx(3.0)
    assert abs(float(k_axis @ (FLIP @ n))) / np.linalg.norm(k_axis) == pytest.approx(1.0, abs=1e-9)
    assert seg.shape[2] == 5
    assert volume_mm3(seg, 1) == pytest.approx(area(rect) * 3.0 * 5, rel=0.05)
    assert volume_mm3(seg, 2) == pytest.approx(area(disc) * 3.0 * 3, rel=0.05)
    assert seg.segments[2].structure.name == "lung_right"
    # the same contours on a reference grid aligned with their planes (anisotropic voxels)
    affine = np.eye(4)
    affine[:3, :3] = FLIP @ np.column_stack([u * 0.6, v * 1.4, n * 1.5])
    affine[:3, 3] = FLIP @ (origin - 20 * u - 15 * v - 1.5 * n)
    ref = read_rtstruct(path, reference=SimpleNamespace(shape=(80, 60, 14), affine=affine))
    assert ref.shape == (80, 60, 14)
    # 1.5 mm slices: each 3 mm plane fills one slice, so the volume is half the contours'
    assert volume_mm3(ref, 1) == pytest.approx(area(rect) * 1.5 * 5, rel=0.05)
    assert sorted(set(np.nonzero(mask_of(ref, 1))[2])) == [1, 3, 5, 7, 9]


# -- the reference grid: known voxels ------------------------------------------------------

def test_contours_land_on_the_right_voxels_of_a_reference_grid(tmp_path):
    """A reference grid with anisotropic, mirrored axes: contours whose corners sit on voxel
    boundaries cover exactly the voxels between them; contours between two planes go to
    the nearest; one off the grid by more than half a spacing is dropped."""
    steps = np.array([0.8, 1.7, 3.0])
    affine = np.eye(4)
    affine[:3, :3] = np.diag([-0.8, 1.7, 3.0])  # i -> left (RAS -x), j -> anterior, k -> superior
    affine[:3, 3] = (10.0, -20.0, -30.0)
    shape = (30, 20, 8)
    reference = SimpleNamespace(shape=shape, affine=affine)

    def lps_of(i, j, k):
        return FLIP @ (affine[:3, :3] @ np.array([i, j, k], dtype=float) + affine[:3, 3])

    def box(i0, i1, j0, j1, k):
        """Voxels i0..i1-1, j0..j1-1 on plane k: corners on the voxel boundaries."""
        corners = [(i0 - 0.5, j0 - 0.5), (i1 - 0.5, j0 - 0.5), (i1 - 0.5, j1 - 0.5), (i0 - 0.5, j1 - 0.5)]
        return np.array([lps_of(i, j, k) for i, j in corners])

    path = write_rtstruct(tmp_path / "rs.dcm", [
        {"number": 3, "name": "Liver", "contours": [
            ("CLOSED_PLANAR", box(4, 12, 2, 9, 2)),
            ("CLOSED_PLANAR", box(5, 10, 3, 7, 3.3)),    # between planes 3 and 4: nearest is 3
            ("CLOSED_PLANAR", box(6, 9, 4, 8, 4.6)),     # nearest is 5
            ("CLOSED_PLANAR", box(6, 9, 4, 8, -0.8)),    # more than half a spacing below plane 0
        ]},
        {"number": 4, "name": "Lung_L", "contours": [("CLOSED_PLANAR", box(20, 29, 10, 20, 6)),
                                                     ("CLOSED_PLANAR", box(22, 25, 12, 15, 6))]},  # a hole
    ])
    seg = read_rtstruct(path, reference=reference)
    assert seg.shape == shape and np.array_equal(seg.affine, affine)
    expected = np.zeros(shape, dtype=bool)
    expected[4:12, 2:9, 2] = True
    expected[5:10, 3:7, 3] = True
    expected[6:9, 4:8, 5] = True
    assert np.array_equal(mask_of(seg, 3), expected)
    lung = np.zeros(shape, dtype=bool)
    lung[20:29, 10:20, 6] = True
    lung[22:25, 12:15, 6] = False
    assert np.array_equal(mask_of(seg, 4), lung)
    assert seg.segments[4].structure.name == "lung_left"
    assert volume_mm3(seg, 3) == pytest.approx((8 * 7 + 5 * 4 + 3 * 4) * float(np.prod(steps)))

    # the same on a Segmentation used as the reference (integration passes either)
    again = read_rtstruct(path, reference=seg)
    assert all(np.array_equal(a, b) for a, b in zip(again.layers, seg.layers))


def test_contours_across_the_grid_planes_are_skipped(tmp_path, caplog):
    affine = np.diag([-1.0, -1.0, 2.0, 1.0])  # i, j, k along LPS x, y, z
    # a contour in a sagittal plane (LPS x = 7) on this axial grid lies on the i = 7 plane
    # and is filled there; one tilted across the planes is skipped
    tilted = np.array([(0.0, 0.0, 0.0), (10.0, 0.0, 0.0), (10.0, 10.0, 7.0), (0.0, 10.0, 7.0)])
    flat = on_plane(rectangle(-0.5, -0.5, 4.5, 3.5), 4.0)                   # i 0..4, j 0..3 on k = 2
    sagittal = np.array([(7.0, 9.5, 1.0), (7.0, 12.5, 1.0), (7.0, 12.5, 7.0), (7.0, 9.5, 7.0)])  # j 10..12, k 1..3
    path = write_rtstruct(tmp_path / "rs.dcm", [
        {"number": 1, "name": "Heart", "contours": [("CLOSED_PLANAR", c) for c in (tilted, flat, sagittal)]}])
    with caplog.at_level(logging.WARNING, logger="arkit"):
        seg = read_rtstruct(path, reference=SimpleNamespace(shape=(20, 20, 10), affine=affine))
    expected = np.zeros((20, 20, 10), dtype=bool)
    expected[0:5, 0:4, 2] = True
    expected[7, 10:13, 1:4] = True
    assert np.array_equal(mask_of(seg, 1), expected)
    assert any("1 contours" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


# -- ROIs without contours, points, the body -----------------------------------------------

def test_roi_without_contours_is_logged_and_skipped(tmp_path, caplog):
    disc = circle(0.0, 0.0, 10.0)
    path = write_rtstruct(tmp_path / "rs.dcm", [
        {"number": 1, "name": "Heart", "contours": [("CLOSED_PLANAR", on_plane(disc, z)) for z in PLANES]},
        {"number": 2, "name": "PTV_empty", "contours": None},
        {"number": 3, "name": "Marker", "contours": [("POINT", [(1.0, 2.0, 3.0)])]},
        {"number": 4, "name": "Wire", "contours": [("OPEN_PLANAR", on_plane(rectangle(0, 0, 5, 5), 0.0))]},
    ])
    with caplog.at_level(logging.INFO, logger="arkit"):
        seg = read_rtstruct(path)
    assert list(seg.segments) == [1]
    messages = [r.getMessage() for r in caplog.records if r.name == "arkit"]
    for name in ("PTV_empty", "Marker", "Wire"):
        assert any(name in m and "skipped" in m for m in messages), name
    assert any("POINT" in m and "OPEN_PLANAR" in m for m in messages)


def test_external_is_the_body_filler(tmp_path):
    body = circle(0.0, 0.0, 40.0)
    organ = circle(10.0, 0.0, 8.0)
    path = write_rtstruct(tmp_path / "rs.dcm", [
        {"number": 1, "name": "Patient", "interpreted": "EXTERNAL",
         "contours": [("CLOSED_PLANAR", on_plane(body, z)) for z in PLANES]},
        {"number": 2, "name": "Liver", "contours": [("CLOSED_PLANAR", on_plane(organ, z)) for z in PLANES[1:4]]},
    ])
    seg = read_rtstruct(path)
    assert seg.body_label == 1 and seg.segments[1].structure.name == "body"
    assert seg.segments[1].structure.system == "body"
    assert len(seg.layers) == 1  # the body fills around the organ in the first layer
    total = sum(seg.voxel_counts().values()) * seg.voxel_volume_ml * 1000.0
    assert total == pytest.approx(area(body) * 2.5 * 6, rel=0.05)
    assert volume_mm3(seg, 2) == pytest.approx(area(organ) * 2.5 * 3, rel=0.05)


# -- pydicom's real rtstruct.dcm --------------------------------------------------------------

def test_pydicom_rtstruct(caplog):
    path = get_testdata_file("rtstruct.dcm")
    ds = pydicom.dcmread(path, force=True)  # the file has no preamble
    names = {int(r.ROINumber): str(r.ROIName) for r in ds.StructureSetROISequence}
    assert names == {1: "patient", 2: "Isocenter 1", 3: "Isocenter 2"}
    with caplog.at_level(logging.WARNING, logger="arkit"):
        seg = read_rtstruct(path)
    # 'patient' is the RTROIInterpretedType EXTERNAL outline; the isocentres are POINTs
    assert {n: s.structure.name for n, s in seg.segments.items()} == {1: "body"}
    assert seg.body_label == 1
    assert any("Isocenter 1" in r.getMessage() for r in caplog.records)
    # each ROI's volume is its contours' area x plane spacing
    for rc in ds.ROIContourSequence:
        number = int(rc.ReferencedROINumber)
        contours = [np.array(c.ContourData, dtype=float).reshape(-1, 3) for c in rc.ContourSequence
                    if c.ContourGeometricType == "CLOSED_PLANAR"]
        if not contours:
            continue
        zs = sorted({float(c[0, 2]) for c in contours})
        spacing = min(np.diff(zs))
        expected = sum(area(c[:, :2]) for c in contours) * spacing
        assert volume_mm3(seg, number) == pytest.approx(expected, rel=0.05)


# -- bad input -------------------------------------------------------------------------------

def test_bad_rtstruct_is_one_line_naming_the_file(tmp_path):
    text = tmp_path / "notes.dcm"
    text.write_text("just text\n")
    only_points = write_rtstruct(tmp_path / "points.dcm", [
        {"number": 1, "name": "Iso", "contours": [("POINT", [(0.0, 0.0, 0.0)])]}])
    bad_data = write_rtstruct(tmp_path / "bad.dcm", [
        {"number": 1, "name": "Heart", "contours": [("CLOSED_PLANAR", on_plane(rectangle(0, 0, 4, 4), 0.0))]}])
    ds = pydicom.dcmread(bad_data)
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = [1.0, 2.0, 3.0, 4.0]
    ds.save_as(bad_data)
    seg_file = __import__("pathlib").Path(__file__).parent.parent / "data" / "dicom_seg" / "liver_seg.dcm"
    off_grid = write_rtstruct(tmp_path / "off.dcm", [
        {"number": 1, "name": "Heart", "contours": [("CLOSED_PLANAR", on_plane(rectangle(0, 0, 4, 4), 500.0))]}])
    cases = [(text, "DICOM"), (only_points, "no ROI has a closed planar contour"), (bad_data, "triples"),
             (seg_file, "not an RTSTRUCT"), (tmp_path / "missing.dcm", "no such file")]
    for path, message in cases:
        with pytest.raises(InputError) as info:
            read_rtstruct(path)
        assert str(info.value).startswith(str(path)) and message in str(info.value), str(info.value)
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="no contour lies on the grid"):
        read_rtstruct(off_grid, reference=SimpleNamespace(shape=(10, 10, 10), affine=np.eye(4)))


def test_file_without_preamble(tmp_path):
    path = write_rtstruct(tmp_path / "raw.dcm", [
        {"number": 1, "name": "Heart", "contours": [("CLOSED_PLANAR", on_plane(rectangle(0, 0, 10, 10), z))
                                                    for z in PLANES]}], preamble=False)
    assert path.read_bytes()[128:132] != b"DICM"
    assert read_rtstruct(path).segments[1].structure.name == "heart"


# -- the scanline fill -----------------------------------------------------------------------

def test_polygon_mask_against_skimage():
    draw = pytest.importorskip("skimage.draw")
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(3, 12))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(4, 14, n)
        poly = np.stack([15 + radii * np.cos(angles), 16 + radii * np.sin(angles)], axis=1)
        ours = polygon_mask([poly], (32, 34))
        rr, cc = draw.polygon(poly[:, 0], poly[:, 1], shape=(32, 34))
        theirs = np.zeros((32, 34), dtype=bool)
        theirs[rr, cc] = True
        # both sample pixel centres; they may differ only on pixels whose centre is on an edge
        assert np.count_nonzero(ours != theirs) <= 0.02 * max(1, np.count_nonzero(theirs))
        assert np.count_nonzero(ours) == pytest.approx(area(poly), rel=0.15, abs=6)


def test_polygon_mask_even_odd_and_edges():
    square = rectangle(1.5, 1.5, 7.5, 7.5)
    hole = rectangle(3.5, 3.5, 5.5, 5.5)
    mask = polygon_mask([square, hole], (10, 10))
    expected = np.zeros((10, 10), dtype=bool)
    expected[2:8, 2:8] = True
    expected[4:6, 4:6] = False
    assert np.array_equal(mask, expected)
    # two overlapping contours of one ROI on a plane: the overlap is a hole (even-odd)
    a, b = rectangle(0.5, 0.5, 4.5, 4.5), rectangle(2.5, 2.5, 6.5, 6.5)
    both = polygon_mask([a, b], (8, 8))
    assert not both[3, 3] and both[1, 1] and both[5, 5]
    # a polygon sticking out of the grid is clipped; one fully outside draws nothing
    assert polygon_mask([rectangle(-5.5, -5.5, 2.5, 2.5)], (6, 6)).sum() == 9
    assert polygon_mask([rectangle(20.5, 20.5, 30.5, 30.5)], (6, 6)).sum() == 0
    assert math.isclose(polygon_mask([circle(50, 50, 30, 256)], (101, 101)).sum(), math.pi * 900, rel_tol=0.01)

"""DICOM image series -> voxels and a voxel -> RAS mm affine; the listing of a folder or zip.

Known answers: real series (TotalSegmentator's JPEG 2000 CT against TotalSegmentator's own
NIfTI of it, dcmqi's 3-slice CT) and series written here with pydicom whose geometry is
known. A synthetic series holds an ellipsoid with three different radii, axis-aligned in RAS,
sampled at the DICOM-defined position of every pixel: pixel (row r, column c) of a slice at
ImagePositionPatient P lies at P + c * PixelSpacing[1] * rowcos + r * PixelSpacing[0] * colcos
(LPS; RAS = (-x, -y, z)). The reader is right when, for every voxel, the ellipsoid test at
``affine @ (i, j, k)`` gives the voxel's value: an axis swap, a flip or a sort by file name
would break it.

Every synthetic header carries a patient name, ID, dates, an institution, descriptions and
UIDs; no listing and no error message may contain any of them.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import random
import shutil
import stat
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from arkit_py.cli_dicom import register
from arkit_py.errors import InputError
from arkit_py.sources.dicom import files as dfiles
from arkit_py.sources.dicom.files import scan, select
from arkit_py.sources.dicom.series import read_image_series

DATA = Path(__file__).resolve().parents[1] / "data"
TOTALSEG_CT = DATA / "dicom" / "totalsegmentator_ct"
TOTALSEG_NIFTI = DATA / "totalsegmentator" / "example_seg_dicom.nii.gz"
DCMQI_ZIP = DATA / "dicom" / "dcmqi_ct3slice_liver.zip"

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2.1"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"

#: Identifying values written into every synthetic header; none may leave arkit.
IDENTITY = {
    "PatientName": "Doe^Jane^Quiet", "PatientID": "PID-8675309", "PatientBirthDate": "19510415",
    "StudyDate": "20240229", "SeriesDate": "20240229", "AcquisitionDate": "20240229", "ContentDate": "20240229",
    "StudyTime": "101112", "InstitutionName": "Saint Example Hospital", "InstitutionAddress": "1 Hidden Lane",
    "SeriesDescription": "SECRET SERIES DESCRIPTION", "StudyDescription": "SECRET STUDY DESCRIPTION",
    "AccessionNumber": "ACC424242", "AcquisitionTime": "101530", "ReferringPhysicianName": "Who^Doctor", "StudyID": "STUDY77",
}
UIDS: set[str] = set()  # every UID written in a synthetic header


def uid() -> str:
    value = generate_uid()
    UIDS.add(value)
    return value


def assert_private(text: str) -> None:
    """``text`` holds none of the identifying values or UIDs of the synthetic headers."""
    for key, value in IDENTITY.items():
        for part in {value, *value.split("^")}:
            if len(part) >= 4:
                assert part not in text, f"{key} {part!r} leaked: {text}"
    for value in UIDS:
        assert value not in text, f"a UID leaked: {text}"
        assert value[-12:] not in text, f"part of a UID leaked: {text}"


def ds_text(v: float) -> str:
    return f"{float(v):.10g}"


def rotation(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, dtype=float)
    axis /= np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
ORIENTATIONS = {
    "axial": AXIAL,
    "axial_flipped": (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    "oblique": tuple(np.concatenate([rotation((1, 2, 3), 0.4) @ (1, 0, 0), rotation((1, 2, 3), 0.4) @ (0, 1, 0)])),
    "oblique_sagittal": tuple(np.concatenate([rotation((0, 1, 1), -0.3) @ (0, 1, 0),
                                              rotation((0, 1, 1), -0.3) @ (0, 0, -1)])),
}


# -- writing synthetic DICOM ---------------------------------------------------------------------

def base_dataset(sop_class: str, modality: str, *, series_uid: str, for_uid: str | None, study_uid: str,
                 transfer=ExplicitVRLittleEndian) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    instance = uid()
    ds.file_meta.MediaStorageSOPInstanceUID = instance
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = instance
    ds.Modality = modality
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    if for_uid:
        ds.FrameOfReferenceUID = for_uid
    for key, value in IDENTITY.items():
        setattr(ds, key, value)
    return ds


def set_pixels(ds: Dataset, stored: np.ndarray, *, signed=True) -> None:
    """``stored``: (rows, columns) or (frames, rows, columns) integers."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = stored.astype("<i2" if signed else "<u2").tobytes()


def save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


class Geometry:
    """A slice stack as DICOM describes it: orientation cosines (rounded as written), pixel
    spacing [between rows, between columns], slice positions (LPS) and the size."""

    def __init__(self, iop=AXIAL, *, columns=20, rows=16, slices=12, pixel=(1.1, 0.7), dk=2.5, centre=(3.0, -4.0, 5.0),
                 positions=None):
        self.iop_text = [ds_text(v) for v in iop]
        self.iop = np.array([float(v) for v in self.iop_text])
        self.row, self.col = self.iop[:3], self.iop[3:]
        self.normal = np.cross(self.row, self.col)
        self.pixel_text = [ds_text(v) for v in pixel]
        self.pixel = np.array([float(v) for v in self.pixel_text])
        self.columns, self.rows = columns, rows
        if positions is None:
            centre_lps = np.array([-centre[0], -centre[1], centre[2]])
            p0 = centre_lps - (columns - 1) / 2 * self.pixel[1] * self.row - (rows - 1) / 2 * self.pixel[0] * self.col \
                - (slices - 1) / 2 * dk * self.normal
            positions = [p0 + k * dk * self.normal for k in range(slices)]
        self.ipp_text = [[ds_text(v) for v in p] for p in positions]
        self.positions = np.array([[float(v) for v in p] for p in self.ipp_text])

    @property
    def slices(self) -> int:
        return len(self.positions)

    def ras(self, k: int) -> np.ndarray:
        """(rows, columns, 3) RAS mm of every pixel of slice k, from the DICOM definition."""
        r, c = np.meshgrid(np.arange(self.rows), np.arange(self.columns), indexing="ij")
        lps = self.positions[k] + c[..., None] * self.pixel[1] * self.row + r[..., None] * self.pixel[0] * self.col
        return lps * np.array([-1.0, -1.0, 1.0])


RADII = np.array([5.0, 6.5, 8.0])  # RAS x, y, z: three different radii so any axis swap shows
CENTRE = np.array([3.0, -4.0, 5.0])


def ellipsoid(ras: np.ndarray) -> np.ndarray:
    return (((ras - CENTRE) / RADII) ** 2).sum(axis=-1)


def write_series(folder: Path, geometry: Geometry, values, *, modality="CT", sop_class=CT_STORAGE, slopes=None,
                 intercepts=None, seed=0, signed=True, transfer=ExplicitVRLittleEndian, series_uid=None,
                 for_uid=None, extra=None) -> list[Path]:
    """One file per slice, file names and InstanceNumbers shuffled (``seed``). ``values(k,
    ras)`` gives slice k's stored (rows, columns) integers; slopes and intercepts per slice."""
    rng = random.Random(seed)
    k_all = list(range(geometry.slices))
    names = list(range(geometry.slices))
    rng.shuffle(names)
    numbers = list(range(1, geometry.slices + 1))
    rng.shuffle(numbers)
    series_uid = series_uid or uid()
    for_uid = for_uid or uid()
    study = uid()
    paths = []
    for k in k_all:
        ds = base_dataset(sop_class, modality, series_uid=series_uid, for_uid=for_uid, study_uid=study,
                          transfer=transfer)
        ds.InstanceNumber = numbers[k]
        ds.ImagePositionPatient = geometry.ipp_text[k]
        ds.ImageOrientationPatient = geometry.iop_text
        ds.PixelSpacing = geometry.pixel_text
        ds.SliceThickness = "9.5"  # deliberately wrong: spacing must come from positions
        ds.RescaleSlope = ds_text(1.0 if slopes is None else slopes[k])
        ds.RescaleIntercept = ds_text(0.0 if intercepts is None else intercepts[k])
        for key, value in (extra(k) if extra else {}).items():
            setattr(ds, key, value)
        set_pixels(ds, np.asarray(values(k, geometry.ras(k))), signed=signed)
        paths.append(save(ds, folder / f"img{names[k]:04d}.dcm"))
    return paths


def phantom_values(k, ras):
    return np.where(ellipsoid(ras) <= 1.0, 1000, 100)


def voxel_ras(affine: np.ndarray, shape) -> np.ndarray:
    ijk = np.stack(np.meshgrid(*(np.arange(n) for n in shape[:3]), indexing="ij"), axis=-1).astype(float)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def check_phantom(volume) -> None:
    d = ellipsoid(voxel_ras(volume.affine, volume.data.shape))
    clear = np.abs(d - 1.0) > 1e-3
    inside = volume.data > 500
    assert inside.sum() > 100
    assert np.array_equal(inside[clear], (d <= 1.0)[clear])


# -- real series ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def totalseg_volume():
    return read_image_series(select(TOTALSEG_CT))


def test_totalsegmentator_jpeg2000_series_shape_spacing_and_values(totalseg_volume):
    v = totalseg_volume
    assert v.data.shape == (512, 512, 20)
    assert v.data.dtype == np.int16
    assert v.modality == "CT"
    np.testing.assert_allclose(v.spacing, (0.9765625, 0.9765625, 2.0), atol=1e-9)  # not SliceThickness 3
    assert v.metadata["slice_thickness_mm"] == 3.0
    assert v.metadata["rescale_type"] == "HU"
    # k = 0 is the lowest slice (z -804.5); its voxels are that file's pixels (row j, column i) + intercept
    np.testing.assert_allclose(v.affine[:3, 3], (249.51171875, 437.51171875, -804.5))
    files = sorted(TOTALSEG_CT.iterdir())
    by_z = {float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]): f for f in files}
    for k, z in ((0, -804.5), (7, -790.5), (19, -766.5)):
        ds = pydicom.dcmread(by_z[z])
        expected = ds.pixel_array.T.astype(np.int32) * int(ds.RescaleSlope) + int(ds.RescaleIntercept)
        assert np.array_equal(v.data[:, :, k], expected)
    assert -1024 <= v.data.min() and v.data.max() < 3072


def test_totalsegmentator_affine_matches_its_nifti_with_the_row_flip(totalseg_volume):
    import nibabel as nib

    nifti = nib.load(TOTALSEG_NIFTI)
    assert nifti.shape == totalseg_volume.data.shape
    rng = np.random.default_rng(1)
    ijk = np.column_stack([rng.integers(0, 512, 200), rng.integers(0, 512, 200), rng.integers(0, 20, 200)])
    ijk = np.vstack([ijk, [[0, 0, 0], [511, 511, 19], [0, 511, 0], [511, 0, 19]]]).astype(float)
    ours = ijk @ totalseg_volume.affine[:3, :3].T + totalseg_volume.affine[:3, 3]
    flipped = ijk.copy()
    flipped[:, 1] = 511 - flipped[:, 1]  # that NIfTI's j axis runs against the DICOM rows
    theirs = flipped @ nifti.affine[:3, :3].T + nifti.affine[:3, 3]
    assert np.abs(ours - theirs).max() < 0.01


def test_totalsegmentator_listing_handles_the_missing_sop_class():
    listing = scan(TOTALSEG_CT)
    assert [o.kind for o in listing.objects] == ["image"]
    row = listing.rows()[0]
    assert row["size"] == "512x512x20" and row["spacing_mm"] == [0.9766, 0.9766, 2.0]
    assert "JPEG 2000" in row["compression"]
    assert listing.skipped == 0 and listing.unreadable == 0


def test_missing_jpeg2000_decoder_names_the_transfer_syntax_and_package(monkeypatch):
    from pydicom.pixels import get_decoder

    decoder = get_decoder("1.2.840.10008.1.2.4.90")
    monkeypatch.setattr(decoder, "_available", {})
    with pytest.raises(InputError) as info:
        read_image_series(select(TOTALSEG_CT))
    text = str(info.value)
    assert "JPEG 2000" in text and "1.2.840.10008.1.2.4.90" in text and "pylibjpeg-openjpeg" in text
    assert str(TOTALSEG_CT) in text and "\n" not in text


def test_dcmqi_ct_3slice_from_its_zip_spacing_from_positions():
    listing = scan(DCMQI_ZIP)
    assert listing.describe() == "2 objects: 1 CT 512x512x3, 2 SEG 1 segment"
    ct, seg = listing.objects
    assert ct.summary["frame_of_reference"] == seg.summary["frame_of_reference"]  # the SEG is on the CT
    v = read_image_series(select(f"{DCMQI_ZIP}?series=1", want="image"))
    assert v.data.shape == (512, 512, 3) and v.data.dtype == np.int16
    np.testing.assert_allclose(v.spacing, (0.810547, 0.810547, 1.0), atol=1e-6)  # thickness is 1.25
    assert v.metadata["slice_thickness_mm"] == 1.25
    np.testing.assert_allclose(v.affine[:3, 3], (235.199997, 226.800003, -128.690002), atol=1e-6)
    with zipfile.ZipFile(DCMQI_ZIP) as zf:
        lowest = pydicom.dcmread(io.BytesIO(zf.read("ct-3slice/03.dcm")))  # z -128.69
    assert np.array_equal(v.data[:, :, 0], lowest.pixel_array.T.astype(np.int32) - 1024)


# -- synthetic geometry ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ORIENTATIONS))
def test_every_orientation_puts_the_ellipsoid_where_it_was(tmp_path, name):
    g = Geometry(ORIENTATIONS[name])
    write_series(tmp_path, g, phantom_values, seed=3)
    v = read_image_series(select(tmp_path))
    assert v.data.shape == (20, 16, 12)
    np.testing.assert_allclose(v.spacing, (0.7, 1.1, 2.5), atol=1e-6)
    flip = np.array([-1.0, -1.0, 1.0])
    np.testing.assert_allclose(v.affine[:3, 0], flip * g.row * 0.7, atol=1e-6)  # i along a row (columns)
    np.testing.assert_allclose(v.affine[:3, 1], flip * g.col * 1.1, atol=1e-6)  # j down the rows
    np.testing.assert_allclose(v.affine[:3, 2], flip * g.normal * 2.5, atol=1e-6)  # k along row x column
    assert np.linalg.det(v.affine[:3, :3]) > 0
    check_phantom(v)


def test_file_names_and_instance_numbers_do_not_matter(tmp_path):
    g = Geometry(ORIENTATIONS["oblique"])
    results = []
    for seed in (1, 2, 3):
        folder = tmp_path / f"s{seed}"
        write_series(folder, g, phantom_values, seed=seed)
        results.append(read_image_series(select(folder)))
    for other in results[1:]:
        assert np.array_equal(other.data, results[0].data)
        assert np.array_equal(other.affine, results[0].affine)


def test_rescale_slope_and_intercept_per_slice(tmp_path):
    g = Geometry(slices=6)
    slopes = [0.5 + 0.25 * k for k in range(6)]
    intercepts = [-10.0 * k for k in range(6)]
    truth = {}

    def values(k, ras):
        r, c = np.meshgrid(np.arange(g.rows), np.arange(g.columns), indexing="ij")
        stored = np.round((3.0 * c + 5.0 * r + 70.0 * k - intercepts[k]) / slopes[k]).astype(np.int32)
        truth[k] = (stored * slopes[k] + intercepts[k]).T
        return stored

    write_series(tmp_path, g, values, slopes=slopes, intercepts=intercepts, seed=5)
    v = read_image_series(select(tmp_path))
    assert v.data.dtype == np.float32
    assert v.metadata["rescale_per_slice"] is True
    for k in range(6):
        np.testing.assert_allclose(v.data[:, :, k], truth[k], rtol=1e-6)


def test_whole_number_rescale_stays_int16_and_overflow_goes_float(tmp_path):
    g = Geometry(slices=3, columns=8, rows=6)
    write_series(tmp_path / "a", g, lambda k, ras: np.full((6, 8), 100 * k + 7), slopes=[1, 2, 1],
                 intercepts=[-1024, 0, 5])
    v = read_image_series(select(tmp_path / "a"))
    assert v.data.dtype == np.int16
    assert [int(v.data[0, 0, k]) for k in range(3)] == [7 - 1024, 214, 212]
    write_series(tmp_path / "b", g, lambda k, ras: np.full((6, 8), 60000 - k), signed=False)
    v = read_image_series(select(tmp_path / "b"))
    assert v.data.dtype == np.float32  # 60000 does not fit int16; float32 holds it exactly
    assert [float(v.data[3, 3, k]) for k in range(3)] == [60000.0, 59999.0, 59998.0]


def test_small_irregular_gap_is_resampled_linearly(tmp_path, caplog):
    z = [0, 2, 4, 6, 8.15, 10.15, 12.15, 14.15, 16.15, 18.15]  # one gap 2.15 mm: 7.5 % off
    g = Geometry(columns=8, rows=6, positions=[(0.0, 0.0, zk) for zk in z])

    def values(k, ras):  # value 10 z + i, stored at slope 0.01
        c = np.arange(g.columns)[None, :].repeat(g.rows, axis=0)
        return np.round((10.0 * z[k] + c) * 100).astype(np.int32)

    write_series(tmp_path, g, values, slopes=[0.01] * len(z), seed=7)
    with caplog.at_level(logging.WARNING):
        v = read_image_series(select(tmp_path))
    assert "resampled" in caplog.text
    dk = 18.15 / 9
    assert v.data.shape == (8, 6, 10)
    np.testing.assert_allclose(v.spacing[2], dk, rtol=1e-9)
    expected = 10.0 * (np.arange(10) * dk)[None, None, :] + np.arange(8)[:, None, None]
    np.testing.assert_allclose(v.data, np.broadcast_to(expected, v.data.shape), atol=2e-3)
    assert v.metadata["resampled"]["to_slices"] == 10


def test_large_gap_is_refused_with_the_numbers(tmp_path):
    g = Geometry(columns=8, rows=6, positions=[(0.0, 0.0, zk) for zk in (0, 2, 4, 8, 10)])
    write_series(tmp_path, g, lambda k, ras: np.zeros((6, 8)))
    with pytest.raises(InputError) as info:
        read_image_series(select(tmp_path))
    text = str(info.value)
    assert "irregular slice spacing: 4 mm between slices 3 and 4 of 5" in text and "spacing is 2 mm" in text
    assert "100 %" in text
    assert_private(text)


def test_gantry_tilt_is_refused(tmp_path):
    tilt = math.radians(15)
    iop = (1.0, 0.0, 0.0, 0.0, math.cos(tilt), -math.sin(tilt))
    g = Geometry(iop, columns=8, rows=6, positions=[(0.0, 0.0, 2.0 * k) for k in range(6)])
    write_series(tmp_path, g, lambda k, ras: np.zeros((6, 8)))
    with pytest.raises(InputError) as info:
        read_image_series(select(tmp_path))
    text = str(info.value)
    assert "gantry tilt" in text and "15.0 degrees" in text
    assert_private(text)
    listing = scan(tmp_path)  # the listing says why instead of failing
    assert "gantry tilt" in listing.rows()[0]["problem"]


def test_duplicate_positions_in_a_ct_are_refused(tmp_path):
    g = Geometry(columns=8, rows=6, positions=[(0.0, 0.0, zk) for zk in (0, 2, 2, 4)])
    write_series(tmp_path, g, lambda k, ras: np.zeros((6, 8)))
    with pytest.raises(InputError, match="2 slices share one position"):
        read_image_series(select(tmp_path))


def test_mixed_sizes_are_refused(tmp_path):
    g = Geometry(columns=8, rows=6, slices=3)
    series, frame = uid(), uid()
    write_series(tmp_path, g, lambda k, ras: np.zeros((6, 8)), series_uid=series, for_uid=frame)
    g2 = Geometry(columns=4, rows=4, positions=[(0.0, 0.0, 30.0)])
    write_series(tmp_path / "x", g2, lambda k, ras: np.zeros((4, 4)), series_uid=series, for_uid=frame)
    with pytest.raises(InputError, match=r"mixed image sizes: 3 slices 8x6, 1 slice 4x4"):
        read_image_series(select(tmp_path))


def test_two_orientations_in_one_series_are_two_objects(tmp_path):
    series, frame = uid(), uid()
    write_series(tmp_path / "ax", Geometry(columns=8, rows=6, slices=3), lambda k, ras: np.zeros((6, 8)),
                 series_uid=series, for_uid=frame)
    write_series(tmp_path / "sag", Geometry(ORIENTATIONS["sagittal"], columns=8, rows=6, slices=2),
                 lambda k, ras: np.zeros((6, 8)), series_uid=series, for_uid=frame)
    listing = scan(tmp_path)
    assert sorted(r["size"] for r in listing.rows()) == ["8x6x2", "8x6x3"]
    assert len({r["frame_of_reference"] for r in listing.rows()}) == 1


def enhanced_ct(g: Geometry, order, *, orientation_of=None) -> Dataset:
    """An Enhanced CT Image of ``g``'s slices stored in ``order``: spacing and orientation
    shared, positions and rescale per frame (``orientation_of(k)`` per frame instead)."""
    ds = base_dataset(ENHANCED_CT_STORAGE, "CT", series_uid=uid(), for_uid=uid(), study_uid=uid())
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = g.pixel_text
    measures.SliceThickness = "9.5"
    shared.PixelMeasuresSequence = [measures]
    if orientation_of is None:
        plane = Dataset()
        plane.ImageOrientationPatient = g.iop_text
        shared.PlaneOrientationSequence = [plane]
    ds.SharedFunctionalGroupsSequence = [shared]
    per, frames = [], []
    for n, k in enumerate(order):
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = g.ipp_text[k]
        item.PlanePositionSequence = [position]
        if orientation_of is not None:
            plane = Dataset()
            plane.ImageOrientationPatient = orientation_of(k)
            item.PlaneOrientationSequence = [plane]
        content = Dataset()
        content.InStackPositionNumber = n + 1
        item.FrameContentSequence = [content]
        transform = Dataset()
        transform.RescaleSlope = "1"
        transform.RescaleIntercept = "-1024"
        transform.RescaleType = "HU"
        item.PixelValueTransformationSequence = [transform]
        per.append(item)
        frames.append(phantom_values(k, g.ras(k)))
    ds.PerFrameFunctionalGroupsSequence = per
    ds.NumberOfFrames = len(order)
    set_pixels(ds, np.stack(frames))
    return ds


def test_enhanced_multiframe_with_mixed_orientations_is_refused(tmp_path):
    g = Geometry(columns=8, rows=6, slices=3)
    tilted = [ds_text(v) for v in ORIENTATIONS["oblique"]]
    save(enhanced_ct(g, [0, 1, 2], orientation_of=lambda k: tilted if k == 2 else g.iop_text), tmp_path / "mf.dcm")
    with pytest.raises(InputError, match="mixed slice orientations") as info:
        read_image_series(select(tmp_path))
    assert_private(str(info.value))


def test_header_text_that_is_not_a_code_never_leaves(tmp_path):
    """Modality, ImageType, Units ... leave only as code strings: a damaged length (or a
    hostile file) putting a patient's name into one of them stays inside."""
    g = Geometry(columns=8, rows=6, slices=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid code strings written here
        write_series(tmp_path / "a", g, lambda k, ras: np.zeros((6, 8)),
                     extra=lambda k: {"ImageType": ["ORIGINAL", IDENTITY["PatientName"]]})
        ds = pydicom.dcmread(next((tmp_path / "a").iterdir()))
        ds.Modality = IDENTITY["PatientID"]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid()
        ds.SeriesInstanceUID = uid()
        save(ds, tmp_path / "b" / "odd.dcm")
    v = read_image_series(select(tmp_path / "a"))
    assert "image_type" not in v.metadata
    listing = scan(tmp_path)
    assert sorted(str(o.modality) for o in listing.objects) == ["CT", "None"]
    assert_private(json.dumps(listing.rows()) + listing.describe() + repr(v.metadata))


def test_enhanced_multiframe_ct_matches_the_same_series_as_single_files(tmp_path):
    g = Geometry(ORIENTATIONS["oblique_sagittal"], columns=12, rows=10, slices=7, pixel=(0.9, 0.6), dk=1.5)
    write_series(tmp_path / "classic", g, phantom_values, intercepts=[-1024.0] * 7)
    save(enhanced_ct(g, [3, 0, 6, 2, 5, 1, 4]), tmp_path / "enhanced" / "multiframe.dcm")  # frames out of order
    classic = read_image_series(select(tmp_path / "classic"))
    enhanced = read_image_series(select(tmp_path / "enhanced"))
    assert enhanced.data.shape == (12, 10, 7) and enhanced.data.dtype == np.int16
    assert np.array_equal(enhanced.data, classic.data)
    np.testing.assert_allclose(enhanced.affine, classic.affine, atol=1e-9)
    assert int(enhanced.data.max()) == 1000 - 1024
    row = scan(tmp_path / "enhanced").rows()[0]
    assert row["size"] == "12x10x7" and row["spacing_mm"] == [0.6, 0.9, 1.5]


def pet_extra(weight=True):
    def extra(k):
        item = Dataset()
        item.RadionuclideTotalDose = "370000000"
        item.RadiopharmaceuticalStartTime = "093000"
        item.RadionuclideHalfLife = "6586.2"
        values = {"Units": "BQML", "DecayCorrection": "START", "CorrectedImage": ["DECY", "ATTN"],
                  "RadiopharmaceuticalInformationSequence": [item]}
        if weight:
            values["PatientWeight"] = "71.5"
        return values
    return extra


@pytest.mark.parametrize("frames_by", ["image_index", "acquisition_time", "frame_reference_time"])
def test_dynamic_pet_with_three_frames_is_4d(tmp_path, frames_by):
    """Frames told apart by ImageIndex, else AcquisitionTime, else FrameReferenceTime."""
    g4 = Geometry(columns=6, rows=5, slices=4, pixel=(4.0, 4.0), dk=3.0)
    starts, durations = [0, 60, 180], [60, 120, 180]
    positions = [p for _ in range(3) for p in g4.ipp_text]
    g = Geometry(columns=6, rows=5, pixel=(4.0, 4.0), positions=[[float(v) for v in p] for p in positions])

    def values(n, ras):
        t, k = divmod(n, 4)
        c = np.arange(6)[None, :].repeat(5, axis=0)
        return 1000 * (t + 1) + 10 * k + c

    def extra(n):
        t, k = divmod(n, 4)
        base = pet_extra()(n)
        h, rest = divmod(10 * 3600 + 15 * 60 + 30 + (0 if frames_by == "frame_reference_time" else starts[t]), 3600)
        base.update(AcquisitionTime=f"{h:02d}{rest // 60:02d}{rest % 60:02d}",
                    ActualFrameDuration=str(durations[t] * 1000), FrameReferenceTime=str(starts[t] * 1000 + 30000),
                    SeriesType=["DYNAMIC", "IMAGE"])
        if frames_by == "image_index":
            base.update(NumberOfTimeSlices=3, NumberOfSlices=4, ImageIndex=t * 4 + k + 1)
        return base

    write_series(tmp_path, g, values, modality="PT", sop_class=PET_STORAGE, slopes=[0.5] * 12, seed=11,
                 transfer=ImplicitVRLittleEndian, extra=extra)
    listing = scan(tmp_path)
    row = listing.rows()[0]
    assert row["size"] == "6x5x4" and row["frames"] == 3 and row["suv_ready"] is True
    v = read_image_series(listing.select(want="image"))
    assert v.data.shape == (6, 5, 4, 3) and v.data.dtype == np.float32
    np.testing.assert_allclose(v.frame_times_s, starts)
    np.testing.assert_allclose(v.frame_durations_s, durations)
    np.testing.assert_allclose(v.metadata["frame_reference_times_s"], [30, 90, 210])
    for t in range(3):
        for k in range(4):
            np.testing.assert_allclose(v.data[:, 0, k, t], 0.5 * (1000 * (t + 1) + 10 * k + np.arange(6)))
    np.testing.assert_allclose(v.spacing, (4.0, 4.0, 3.0))
    assert v.metadata["units"] == "BQML" and v.metadata["decay_correction"] == "START"


# -- folders, zips, listings --------------------------------------------------------------------

def mixed_folder(root: Path) -> Path:
    """A CT (3 slices 16x12), a PET (4 slices 8x8, no PatientWeight), a SEG (2 segments) and
    an RTSTRUCT (3 ROIs) on the CT's frame of reference, and a text file."""
    ct_for = uid()
    write_series(root / "a" / "ct", Geometry(columns=16, rows=12, slices=3), lambda k, ras: np.full((12, 16), k),
                 for_uid=ct_for, intercepts=[-1024] * 3)
    write_series(root / "b" / "pt", Geometry(columns=8, rows=8, slices=4, pixel=(4.0, 4.0), dk=4.0),
                 lambda k, ras: np.full((8, 8), 10 * k), modality="PT", sop_class=PET_STORAGE, extra=pet_extra(False))
    seg = base_dataset(SEG_STORAGE, "SEG", series_uid=uid(), for_uid=ct_for, study_uid=uid())
    seg.SegmentSequence = [Dataset(), Dataset()]
    for n, item in enumerate(seg.SegmentSequence, start=1):
        item.SegmentNumber = n
        item.SegmentLabel = f"secret label {n}"
    seg.NumberOfFrames = 2
    seg.Rows, seg.Columns = 12, 16
    seg.SamplesPerPixel, seg.PhotometricInterpretation = 1, "MONOCHROME2"
    seg.BitsAllocated = seg.BitsStored = 1
    seg.HighBit = 0
    seg.PixelRepresentation = 0
    seg.PixelData = bytes(2 * 12 * 16 // 8)
    save(seg, root / "c" / "seg.dcm")
    rt = base_dataset(RTSTRUCT_STORAGE, "RTSTRUCT", series_uid=uid(), for_uid=None, study_uid=uid())
    ref = Dataset()
    ref.FrameOfReferenceUID = ct_for
    rt.ReferencedFrameOfReferenceSequence = [ref]
    rt.StructureSetROISequence = [Dataset() for _ in range(3)]
    for n, item in enumerate(rt.StructureSetROISequence, start=1):
        item.ROINumber = n
        item.ROIName = f"secret roi {n}"
    save(rt, root / "c" / "rt.dcm")
    (root / "notes.txt").write_text("Doe^Jane^Quiet scanned on 20240229\n")
    return root


EXPECTED = "4 objects: 1 CT 16x12x3, 2 PT 8x8x4, 3 SEG 2 segments, 4 RTSTRUCT 3 ROIs"


def test_folder_listing_selection_and_choice_errors(tmp_path):
    folder = mixed_folder(tmp_path / "study")
    listing = scan(folder)
    assert listing.describe() == EXPECTED
    assert listing.skipped == 1 and listing.unreadable == 0
    rows = listing.rows()
    assert rows[0]["frame_of_reference"] == rows[2]["frame_of_reference"] == rows[3]["frame_of_reference"]
    assert rows[1]["frame_of_reference"] != rows[0]["frame_of_reference"]
    assert len(rows[0]["frame_of_reference"]) == 8
    assert rows[1]["suv_ready"] is False and rows[1]["suv_missing"] == ["PatientWeight"]
    assert rows[2]["segments"] == 2 and rows[3]["rois"] == 3
    messages = [json.dumps(rows), listing.describe()]
    with pytest.raises(InputError) as info:
        select(folder)
    assert str(info.value) == f"{folder}: {EXPECTED}; choose with {folder}?series=N"
    messages.append(str(info.value))
    with pytest.raises(InputError) as info:
        select(folder, want="image")
    assert str(info.value) == f"{folder}: 2 image series: 1 CT 16x12x3, 2 PT 8x8x4; choose with {folder}?series=N"
    messages.append(str(info.value))
    for spec, want, pattern in ((f"{folder}?series=9", None, "there is no series 9"),
                                (f"{folder}?series=x", None, "takes an object number"),
                                (f"{folder}?series=3", "image", "is a SEG, not an image series")):
        with pytest.raises(InputError, match=pattern) as info:
            select(spec, want=want)
        messages.append(str(info.value))
    pet = read_image_series(select(f"{folder}?series=2", want="image"))
    assert pet.modality == "PT" and pet.data.shape == (8, 8, 4)
    assert [float(pet.data[0, 0, k]) for k in range(4)] == [0.0, 10.0, 20.0, 30.0]
    assert select(folder, want="seg").kind == "seg"
    assert select(folder, want="rtstruct").summary["rois"] == 3
    for text in messages:
        assert "\n" not in text
        assert_private(text)


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("study/", "")  # a folder entry, as OS tools write them
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, "study/" + path.relative_to(folder).as_posix())
    return target


def test_zip_reads_like_the_folder(tmp_path):
    folder = mixed_folder(tmp_path / "study")
    archive = zip_folder(folder, tmp_path / "study.zip")
    listing = scan(archive)
    assert listing.describe() == EXPECTED and listing.skipped == 1
    assert [{k: v for k, v in r.items() if k != "files"} for r in listing.rows()] == \
        [{k: v for k, v in r.items() if k != "files"} for r in scan(folder).rows()]
    a = read_image_series(select(f"{archive}?series=1"))
    b = read_image_series(select(f"{folder}?series=1"))
    assert np.array_equal(a.data, b.data) and np.array_equal(a.affine, b.affine)
    assert [int(a.data[0, 0, k]) for k in range(3)] == [-1024, -1023, -1022]


@pytest.mark.parametrize("name, why", [("../evil.dcm", "leaves the archive"), ("/abs/evil.dcm", "absolute path"),
                                       ("a\\..\\evil.dcm", "backslashes"), ("C:/evil.dcm", "absolute path")])
def test_zip_with_a_path_escape_is_refused(tmp_path, name, why):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/notes.txt", "hello")
        zf.writestr(zipfile.ZipInfo(name), b"x" * 200)
    with pytest.raises(InputError, match=why) as info:
        scan(archive)
    assert str(info.value).startswith(f"{archive}: refused member")


def test_zip_with_a_link_or_a_bomb_is_refused(tmp_path, monkeypatch):
    archive = tmp_path / "link.zip"
    info = zipfile.ZipInfo("series/link.dcm")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(InputError, match="symbolic link"):
        scan(archive)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_BZIP2) as zf:
        zf.writestr("zeros.dcm", bytes(8 << 20))
    with pytest.raises(InputError, match="compression ratio"):
        scan(bomb)
    monkeypatch.setenv("ARKIT_MAX_DICOM_ZIP_BYTES", "1000")
    small = tmp_path / "big.zip"
    with zipfile.ZipFile(small, "w") as zf:
        zf.writestr("a.dcm", b"x" * 800)
        zf.writestr("b.dcm", b"x" * 800)
    with pytest.raises(InputError, match="more than 1,000 bytes"):
        scan(small)


def test_cli_ls_text_and_json(tmp_path, capsys):
    folder = mixed_folder(tmp_path / "study")
    parser = argparse.ArgumentParser(prog="arkit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dicom", "ls", str(folder)])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["#", "kind", "modality", "size", "spacing", "mm", "FoR"]
    assert lines[1].split()[:4] == ["1", "image", "CT", "16x12x3"] and "0.7 x 1.1 x 2.5" in lines[1]
    assert "not SUV-ready: no PatientWeight" in lines[2]
    assert "2 segments" in lines[3] and "3 ROIs" in lines[4]
    assert lines[5] == "4 objects; 1 non-DICOM file skipped"
    assert lines[6] == f"choose one with {folder}?series=N"
    assert_private(out)
    args = parser.parse_args(["dicom", "ls", str(folder), "--json"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["skipped"] == 1 and [o["kind"] for o in data["objects"]] == ["image", "image", "seg", "rtstruct"]
    assert data["objects"][1]["suv_ready"] is False and data["objects"][0]["spacing_mm"] == [0.7, 1.1, 2.5]
    assert_private(out)


# -- bad input -----------------------------------------------------------------------------------

def test_damaged_and_non_dicom_files(tmp_path, caplog):
    g = Geometry(columns=32, rows=32, slices=3)
    paths = write_series(tmp_path, g, lambda k, ras: np.zeros((32, 32)))
    (tmp_path / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(64))
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    listing = scan(tmp_path)
    assert listing.skipped == 1 and listing.unreadable == 1 and len(listing.objects) == 1
    with caplog.at_level(logging.WARNING):
        listing.select()
    assert "1 unreadable DICOM file" in caplog.text and "garbage.dcm" in caplog.text
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[:-100])  # truncated pixel data
    with pytest.raises(InputError) as info:
        read_image_series(select(tmp_path))
    text = str(info.value)
    assert text.startswith(str(paths[1])) and "truncated" in text and "\n" not in text
    assert_private(text)


def test_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        scan(tmp_path / "nothing")
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(InputError, match=r"no DICOM objects found \(1 non-DICOM file skipped\)"):
        select(tmp_path)


def test_raw_dicom_without_preamble_is_read(tmp_path):
    g = Geometry(columns=8, rows=6, slices=2)
    paths = write_series(tmp_path, g, lambda k, ras: np.full((6, 8), k + 1))
    for path in paths:  # strip preamble and file meta: a bare implicit VR dataset
        ds = pydicom.dcmread(path)
        del ds.file_meta
        ds.preamble = None
        buf = io.BytesIO()
        ds.save_as(buf, implicit_vr=True, little_endian=True, enforce_file_format=False)
        assert buf.getvalue()[:2] == b"\x08\x00"
        path.write_bytes(buf.getvalue())
    listing = scan(tmp_path)
    assert listing.skipped == 0 and len(listing.objects) == 1
    v = read_image_series(listing.select())
    assert [int(v.data[0, 0, k]) for k in range(2)] == [1, 2]


def test_uid_hash_and_spec_parsing():
    assert dfiles.uid_hash("1.2.3") == dfiles.uid_hash("1.2.3\0")
    assert dfiles.parse_spec("a/b?series=12") == ("a/b", 12)
    assert dfiles.parse_spec("a/b") == ("a/b", None)
    with pytest.raises(InputError):
        dfiles.parse_spec("a/b?series=0")


def test_shutil_copy_keeps_listing_order(tmp_path):
    """Object numbers come from the series, not from where the files lie or what they are called."""
    folder = mixed_folder(tmp_path / "one")
    other = tmp_path / "two"
    for n, path in enumerate(sorted(folder.rglob("*.dcm"), reverse=True)):
        target = other / f"{n:03d}_{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    assert scan(other).describe() == EXPECTED

"""DICOM wherever arkit takes a label volume or a CT: a SEG in a zip with its CT, an RTSTRUCT
drawn on the series of its frame of reference found beside it, the real JPEG 2000 CT as the
body outline of its own NIfTI segmentation (rows stored flipped: the orientation trap), and
no header value that identifies anyone in any output."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from arkit_py.errors import InputError
from arkit_py.sources.body import read_ct
from arkit_py.sources.load import load_segmentation
from tests.sources.test_dicom_series import CT_STORAGE, Geometry, write_series  # noqa: F401 (CT_STORAGE: the fixture's)
from tests.sources.test_rtstruct import write_rtstruct

DATA = Path(__file__).resolve().parents[1] / "data"
ZIP = DATA / "dicom" / "dcmqi_ct3slice_liver.zip"
TS_CT = DATA / "dicom" / "totalsegmentator_ct"
TS_SEG = DATA / "totalsegmentator" / "example_seg_dicom.nii.gz"


def test_a_seg_in_a_zip_with_its_ct_is_the_label_source():
    seg = load_segmentation(str(ZIP))  # two objects; only one is a segmentation
    assert [s.structure.name for s in seg.segments.values()] == ["liver"]
    spacing = np.linalg.norm(seg.affine[:3, :3], axis=0)
    assert spacing == pytest.approx([0.8105, 0.8105, 1.0], abs=1e-3)
    ct = read_ct(f"{ZIP}?series=1")
    liver = seg.layers[0] == 1
    assert liver.shape == ct.data.shape and np.allclose(seg.affine, ct.affine, atol=1e-3)
    assert 30 < float(np.median(ct.data[liver])) < 90  # liver parenchyma in HU: the SEG sits on its CT


def test_an_image_series_is_not_a_segmentation():
    with pytest.raises(InputError, match=r"image series, not a segmentation.*--ct"):
        load_segmentation(f"{ZIP}?series=1")
    with pytest.raises(InputError, match="no DICOM SEG or RTSTRUCT here"):
        load_segmentation(str(TS_CT))


def test_an_rtstruct_is_drawn_on_the_series_of_its_frame_of_reference(tmp_path):
    """A synthetic CT (sagittal, anisotropic) and an RTSTRUCT of a box on it in one folder:
    the ROI lands on the CT's own grid, found by frame of reference, not by instance UIDs."""
    folder = tmp_path / "study"
    geometry = Geometry(iop=(0, 1, 0, 0, 0, -1), pixel=(1.1, 0.7), columns=40, rows=36, slices=24, dk=2.5)
    write_series(folder, geometry, lambda k, ras: np.full((geometry.rows, geometry.columns), 40), for_uid="1.2.3.4.5")
    ds = pydicom.dcmread(next(folder.glob("*.dcm")))
    # a box in LPS: 10 mm along x (the slice normal), 8 mm along y, 6 mm along z, on the slice planes
    xs = sorted({float(pydicom.dcmread(p).ImagePositionPatient[0]) for p in folder.glob("*.dcm")})
    box = [(x, [[x, -4.0, -3.0], [x, 4.0, -3.0], [x, 4.0, 3.0], [x, -4.0, 3.0]]) for x in xs[8:12]]
    rt = folder / "rtstruct.dcm"
    write_rtstruct(rt, [{"number": 1, "name": "GTV_Mass", "contours": [("CLOSED_PLANAR", p) for _, p in box]}])
    fixed = pydicom.dcmread(rt)
    fixed.ReferencedFrameOfReferenceSequence = [pydicom.Dataset()]
    fixed.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = ds.FrameOfReferenceUID
    for item in fixed.StructureSetROISequence:
        item.ReferencedFrameOfReferenceUID = ds.FrameOfReferenceUID
    fixed.save_as(rt)
    seg = load_segmentation(str(folder))
    ct = read_ct(f"{folder}?series=1")
    assert seg.shape == ct.data.shape and np.allclose(seg.affine, ct.affine)
    (label, segment), = seg.segments.items()
    assert segment.structure.name == "gtv_mass" and segment.structure.system == "other"
    voxel_mm3 = abs(np.linalg.det(seg.affine[:3, :3]))
    volume = (seg.layers[0] == label).sum() * voxel_mm3
    assert volume == pytest.approx(8 * 6 * 2.5 * 4, rel=0.25)  # 4 planes of 8 x 6 mm, 2.5 mm apart


def _hu_at(ct, seg, mask) -> np.ndarray:
    """The CT's HU at the voxel centres of ``mask`` on the segmentation's grid."""
    ijk = np.argwhere(mask).astype(np.float64)
    ras = ijk @ seg.affine[:3, :3].T + seg.affine[:3, 3]
    idx = np.rint((ras - ct.affine[:3, 3]) @ np.linalg.inv(ct.affine[:3, :3]).T).astype(int)
    ok = np.all((idx >= 0) & (idx < ct.data.shape), axis=1)
    return ct.data[tuple(idx[ok].T)]


def test_the_real_dicom_ct_and_its_flipped_nifti_segmentation_align():
    """TotalSegmentator's NIfTI of the DICOM CT stores its rows flipped against the DICOM
    rows; through both affines the organs still fall on their own tissue: liver on soft
    tissue, vertebrae on bone, and all inside the CT's body outline."""
    from arkit_py.sources.body import add_body_from_ct, body_mask, resample_mask

    ct = read_ct(str(TS_CT))
    seg = load_segmentation(str(TS_SEG), labels="totalsegmentator")
    layer = seg.layers[0]
    present = set(np.unique(layer).tolist())
    names = {s.structure.name: label for label, s in seg.segments.items() if label in present}
    liver = _hu_at(ct, seg, layer == names["liver"])
    bone = _hu_at(ct, seg, np.isin(layer, [names[n] for n in names if n.startswith("vertebrae_t")]))
    assert len(liver) > 1000 and len(bone) > 1000
    # a row flip would put the (posterior) vertebrae on the anterior abdomen's soft tissue
    assert 30 < np.median(liver) < 150 and np.median(bone) > 150
    inside = resample_mask(body_mask(ct), ct.affine, seg.shape, seg.affine)
    organs = layer != 0
    assert inside[organs].mean() > 0.99
    out = add_body_from_ct(seg, ct)
    assert out.segments[out.body_label].structure.name == "body"


def _identifying_values() -> set[str]:
    """Every identifying header value of the committed DICOM fixtures (names, IDs, dates,
    institution, descriptions, UIDs), longer than 3 characters."""
    keys = ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "SeriesDate", "AcquisitionDate",
            "ContentDate", "InstitutionName", "StationName", "SeriesDescription", "StudyDescription",
            "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "AccessionNumber",
            "ReferringPhysicianName", "OperatorsName", "DeviceSerialNumber")
    out = set()
    files = [*TS_CT.iterdir(), DATA / "pet_suv" / "acrin_flt_breast_PT_1.dcm", *(DATA / "dicom_seg").glob("*.dcm")]
    import zipfile

    with zipfile.ZipFile(ZIP) as zf:
        blobs = [zf.read(n) for n in zf.namelist() if not n.endswith("/")]
    import io

    datasets = [pydicom.dcmread(f, stop_before_pixels=True, force=True) for f in files] + \
        [pydicom.dcmread(io.BytesIO(b), stop_before_pixels=True, force=True) for b in blobs]
    for ds in datasets:
        for key in keys:
            value = str(ds.get(key, "") or "")
            if len(value) > 3:
                out.add(value)
    return out


def test_no_header_value_that_identifies_anyone_reaches_an_output(tmp_path):
    secrets = _identifying_values()
    assert len(secrets) > 10  # the fixtures do carry such values
    outputs = []

    def run(*args):
        r = subprocess.run([sys.executable, "-m", "arkit_py.cli", *args], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
        outputs.extend([r.stdout, r.stderr])
        return r

    assert run("dicom", "ls", str(ZIP), "--json").returncode == 0
    assert run("dicom", "ls", str(TS_CT)).returncode == 0
    assert run("tracer", "suv", str(DATA / "pet_suv" / "acrin_flt_breast_PT_1.dcm"), "--json").returncode == 0
    assert run("hologram", str(ZIP), "-o", str(tmp_path / "liver.glb"), "--json", "--usdz",
               str(tmp_path / "liver.usdz")).returncode == 0
    assert run("hologram", str(TS_SEG), "--labels", "totalsegmentator", "--ct", str(TS_CT), "--structures",
               "liver,body", "-o", str(tmp_path / "abdomen.glb"), "--json").returncode == 0
    assert run("hologram", f"{ZIP}?series=1", "-o", str(tmp_path / "x.glb")).returncode == 2  # an error, too
    blob = "\n".join(outputs).encode() + b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    leaked = sorted(s for s in secrets if s.encode() in blob)
    assert leaked == [], leaked
    report = json.loads(outputs[6])
    assert report["structures"][0]["name"] == "liver"
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_an_rtstruct_given_with_a_pet_is_drawn_on_the_pets_grid(tmp_path):
    """An RTSTRUCT alone in its folder (no series beside it) with a 4-D PET NIfTI as the
    reference: it lands on the PET's grid, not on one of its own contours."""
    import nibabel as nib

    affine = np.array([[-4.0, 0, 0, 60.0], [0, -4.0, 0, 60.0], [0, 0, 3.0, -30.0], [0, 0, 0, 1]])
    pet = tmp_path / "pet.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((30, 31, 20, 3), np.float32), affine), pet)
    rt = tmp_path / "rt" / "rtstruct.dcm"
    rt.parent.mkdir()
    square = [(-10.0, -10.0), (10.0, -10.0), (10.0, 10.0), (-10.0, 10.0)]
    write_rtstruct(rt, [{"number": 1, "name": "GTV", "contours": [("CLOSED_PLANAR", [[x, y, z] for x, y in square])
                                                                  for z in (0.0, 3.0, 6.0)]}])
    seg = load_segmentation(str(rt), reference=str(pet))
    assert seg.shape == (30, 31, 20) and np.allclose(seg.affine, affine)
    assert (seg.layers[0] != 0).sum() == pytest.approx(3 * (20 / 4) ** 2, rel=0.3)

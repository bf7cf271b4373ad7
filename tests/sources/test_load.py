"""The reader registry (load_segmentation): dispatch by spec and ending, bad input as one
InputError naming the file, voxel caps before reading, warnings only for reads that succeed."""

from __future__ import annotations

import gzip
import logging
import struct
import subprocess
import sys

import nibabel as nib
import nrrd
import numpy as np
import pytest

from arkit_py.errors import InputError
from arkit_py.sources import nifti
from arkit_py.sources.load import load_segmentation
from arkit_py.sources.nrrd import read_nrrd
from arkit_py.structures import lookup
from tests.sources.volumes import (
    CENTRES,
    ORIENTATIONS,
    _nifti,
    _some_labels,
    ball_labels,
    expect_input_error,
    grid,
    ras_header,
    save_nifti,
    write_masks,
)

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



"""The PET reader (arkit_py/sources/pet.py, through the tracer-input registry): a NIfTI PET
and its PET-BIDS sidecar as frames in Bq/mL at times after injection, decay correction moved
to injection, nuclide names normalised, bad sidecars and files refused with one line."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from arkit_py.errors import InputError
from arkit_py.sources.pet import DynamicPet
from arkit_py.tracer.inputs import read_pet as read_dynamic_pet

SMALL = (12, 10, 8)


def small_frames(n_frames=5, seed=7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 20.0, (*SMALL, n_frames)).astype(np.float32)  # (I, J, K, T), as NIfTI stores it


def write_pet(tmp_path, data, sidecar, name="pet.nii.gz", affine=None) -> str:
    path = tmp_path / name
    a = np.diag([2.5, 2.5, 3.0, 1.0]) if affine is None else affine
    nib.save(nib.Nifti1Image(data, a), path)
    if sidecar is not None:
        stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name[: -len(".nii")]
        (tmp_path / f"{stem}.json").write_text(json.dumps(sidecar))
    return str(path)


def bids(n_frames=5, **fields) -> dict:
    """A PET-BIDS sidecar: 60 s frames from 100 s after TimeZero, decay-corrected to
    injection (``ImageDecayCorrectionTime`` follows ``InjectionStart`` unless given);
    a field set to None is left out."""
    durations = [60.0] * n_frames
    injection = fields.get("InjectionStart", 100.0)
    base = {"TimeZero": "09:30:00", "InjectionStart": 100.0, "ScanStart": 100.0,
            "FrameTimesStart": [100.0 + 60.0 * i for i in range(n_frames)], "FrameDuration": durations,
            "Units": "Bq/mL", "ImageDecayCorrected": True, "ImageDecayCorrectionTime": injection,
            "TracerRadionuclide": "F18", "InjectedRadioactivity": 370, "InjectedRadioactivityUnits": "MBq"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def test_read_times_relative_to_injection_and_kbq_units(tmp_path):
    data = small_frames()
    path = write_pet(tmp_path, data, bids(Units="kBq/mL", InjectionStart=40.0))
    pet = read_dynamic_pet(path)
    assert pet.frames.shape == (5, *SMALL) and pet.frames.dtype == np.float32
    np.testing.assert_allclose(pet.frames, np.moveaxis(data, -1, 0) * 1000.0, rtol=1e-6)
    np.testing.assert_allclose(pet.frame_start_s, 60.0 + 60.0 * np.arange(5))
    np.testing.assert_allclose(pet.mid_times_s, 90.0 + 60.0 * np.arange(5))
    np.testing.assert_allclose(pet.affine, np.diag([2.5, 2.5, 3.0, 1.0]))
    assert pet.decay_corrected and pet.nuclide == "F-18"
    assert pet.meta["injected_bq"] == pytest.approx(3.7e8)
    assert pet.meta["warnings"] == [] and pet.meta["notes"] == []


def test_decay_correction_to_another_time_is_converted_to_injection(tmp_path):
    import radioactivedecay

    half_life = radioactivedecay.Nuclide("F-18").half_life("s")
    truth_at_injection = small_frames()
    # corrected to ScanStart, 600 s after injection: values are smaller by 2^(-600 / T1/2)
    written = (truth_at_injection * 2.0 ** (-600.0 / half_life)).astype(np.float32)
    path = write_pet(tmp_path, written, bids(InjectionStart=100.0, ImageDecayCorrectionTime=700.0,
                                             TracerRadionuclide="18F"))
    pet = read_dynamic_pet(path)
    np.testing.assert_allclose(pet.frames, np.moveaxis(truth_at_injection, -1, 0), rtol=1e-6)
    assert pet.decay_corrected
    assert len(pet.meta["notes"]) == 1 and "600 s after injection" in pet.meta["notes"][0]


@pytest.mark.parametrize(("written", "canonical"), [("68Ga", "Ga-68"), ("99mTc", "Tc-99m"), ("131I", "I-131"),
                                                    ("177Lu", "Lu-177"), ("F-18", "F-18"), ("F18", "F-18")])
def test_nuclide_names_are_normalised(tmp_path, written, canonical):
    path = write_pet(tmp_path, small_frames(1), bids(1, TracerRadionuclide=written))
    assert read_dynamic_pet(path).nuclide == canonical


def test_a_3d_image_without_sidecar_is_one_frame_at_zero(tmp_path):
    data = small_frames(1)[..., 0]
    path = write_pet(tmp_path, data, None, name="static.nii")
    pet = read_dynamic_pet(path)
    assert pet.frames.shape == (1, *SMALL)
    np.testing.assert_array_equal(pet.frames[0], data)
    np.testing.assert_array_equal(pet.mid_times_s, [0.0])
    assert not pet.decay_corrected and pet.nuclide is None
    assert any("sidecar" in w for w in pet.meta["warnings"])


def test_sidecar_given_as_a_mapping_or_a_path(tmp_path):
    data = small_frames(3)
    path = write_pet(tmp_path, data, None)
    sidecar = bids(3, Units="MBq/mL")
    pet = read_dynamic_pet(path, bids=sidecar)
    np.testing.assert_allclose(pet.frames, np.moveaxis(data, -1, 0) * 1e6, rtol=1e-6)
    other = tmp_path / "elsewhere.json"
    other.write_text(json.dumps(bids(3, Units="Bq/ml")))
    pet = read_dynamic_pet(path, bids=other)
    np.testing.assert_allclose(pet.frames, np.moveaxis(data, -1, 0), rtol=1e-6)


@pytest.mark.parametrize(("fields", "problem"), [
    ({"FrameTimesStart": None}, "frames without timing"),
    ({"FrameDuration": None}, "frames without timing"),
    ({"FrameDuration": [60.0] * 4}, "FrameDuration has 4 values but the image has 5 frames"),
    ({"FrameTimesStart": [0.0, 60.0]}, "FrameTimesStart has 2 values"),
    ({"FrameDuration": [60.0, 60.0, -60.0, 60.0, 60.0]}, "negative duration"),
    ({"FrameTimesStart": [0.0, 120.0, 60.0, 180.0, 240.0]}, "does not come after"),
    ({"Units": "SUV"}, "Units: unknown unit 'SUV'"),
    ({"Units": "MBq"}, "Units: unknown unit"),
    ({"Units": "propCi/cc"}, "Units: unknown unit"),
    ({"ImageDecayCorrectionTime": 500.0, "TracerRadionuclide": None}, "needs the TracerRadionuclide"),
    ({"ImageDecayCorrected": "yes"}, "ImageDecayCorrected must be true or false"),
    ({"InjectionStart": "10:00:00"}, "InjectionStart must be a number"),
])
def test_bad_sidecars_are_input_errors(tmp_path, fields, problem):
    path = write_pet(tmp_path, small_frames(), bids(**fields))
    with pytest.raises(InputError, match=problem) as info:
        read_dynamic_pet(path)
    assert str(info.value).startswith(str(tmp_path / "pet.json"))
    assert "\n" not in str(info.value)


def test_frames_without_a_sidecar_are_an_input_error(tmp_path):
    path = write_pet(tmp_path, small_frames(), None)
    with pytest.raises(InputError, match="5 frames without timing"):
        read_dynamic_pet(path)


def test_unreadable_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_dynamic_pet(tmp_path / "missing.nii.gz")
    junk = tmp_path / "junk.nii"
    junk.write_bytes(b"not a nifti file at all" * 20)
    with pytest.raises(InputError, match="NIfTI"):
        read_dynamic_pet(junk)
    flat = write_pet(tmp_path, np.ones((5, 6), dtype=np.float32), None, name="flat.nii.gz")
    with pytest.raises(InputError, match="expected a 3D PET or a 4D dynamic PET"):
        read_dynamic_pet(flat)
    path = write_pet(tmp_path, small_frames(1), None, name="ok.nii.gz")
    with pytest.raises(InputError, match="no such file"):
        read_dynamic_pet(path, bids=tmp_path / "nowhere.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_dynamic_pet(path, bids=tmp_path / "broken.json")


def test_dynamic_pet_checks_its_shapes():
    with pytest.raises(ValueError, match="frame_duration_s"):
        DynamicPet(np.zeros((3, 2, 2, 2), np.float32), np.eye(4), [0, 1, 2], [1, 1])
    with pytest.raises(ValueError, match="frames"):
        DynamicPet(np.zeros((2, 2, 2), np.float32), np.eye(4), [0], [1])

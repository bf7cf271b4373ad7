"""The registry of tracer inputs: one rule per kind, one function resolves a spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from arkit_py.errors import InputError
from arkit_py.sources.pet import DynamicPet
from arkit_py.tracer import inputs
from arkit_py.tracer.curves import Curves
from arkit_py.tracer.inputs import KINDS, find_tracer, is_pet, load_tracer, read_pet, resolve_tracer, tracer_kind
from arkit_py.tracer.kinetics import TracerModel

DICOM_PET = Path(__file__).parent.parent / "data" / "pet_suv" / "acrin_flt_breast_PT_1.dcm"


def test_every_kind_has_one_name_a_rule_and_a_reader():
    names = [k.name for k in KINDS]
    assert names == ["nifti-pet", "dicom-pet", "curves", "library", "tracer-file"]
    assert all(callable(k.detect) and callable(k.read) for k in KINDS)
    assert [k.name for k in KINDS if k.pet] == list(inputs.PET_KINDS)
    assert [k.name for k in KINDS if k.model] == list(inputs.MODEL_KINDS)
    with pytest.raises(KeyError):
        tracer_kind("nope")


@pytest.mark.parametrize("spec,kind", [
    ("fdg", "library"), ("mine.yaml", "tracer-file"), ("mine.yml", "tracer-file"), ("folder/mine", "tracer-file"),
    ("curves.csv", "curves"), ("CURVES.CSV", "curves"), ("pet.nii.gz", "nifti-pet"), ("pet.nii", "nifti-pet"),
    ("series.zip", "dicom-pet"), ("slice.dcm", "dicom-pet"), ("folder?series=2", "dicom-pet"),
    (str(DICOM_PET), "dicom-pet"),
])
def test_a_spec_resolves_to_its_kind(spec, kind):
    assert resolve_tracer(spec).kind.name == kind
    assert is_pet(spec) == (kind in inputs.PET_KINDS)


def test_an_unknown_tracer_suggests_the_closest_library_id():
    with pytest.raises(InputError, match=r"^fgd: unknown tracer \(did you mean 'fdg'\?\); library: .*fdg"):
        resolve_tracer("fgd")
    assert find_tracer("fgd") is None


def test_a_command_resolves_among_the_kinds_it_takes():
    assert find_tracer("pet.nii.gz", kinds=inputs.MODEL_KINDS) is None
    assert resolve_tracer("curves.csv", kinds=("curves", "library")).kind.name == "curves"
    with pytest.raises(InputError, match="unknown tracer"):
        load_tracer("curves.csv")


def test_the_readers_return_what_each_kind_is(tmp_path):
    assert isinstance(resolve_tracer("fdg").read(), TracerModel)
    assert load_tracer("fdg").tiac_regions() == resolve_tracer("fdg").read().tiac_regions()
    model = load_tracer("fdg")
    curves = model.simulate(370e6, model.sample_times(3600.0, 600.0))
    from arkit_py.tracer.curves import write_curves_csv

    path = tmp_path / "c.csv"
    path.write_text(write_curves_csv(curves, time_column="time_min", unit="MBq"), encoding="utf-8")
    read = resolve_tracer(str(path)).read(unit="MBq", nuclide="F-18")
    assert isinstance(read, Curves) and read.regions == curves.regions
    data = np.ones((4, 4, 4, 2), dtype=np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "pet.nii.gz")
    (tmp_path / "pet.json").write_text(json.dumps({"FrameTimesStart": [0, 60], "FrameDuration": [60, 60],
                                                   "Units": "kBq/mL"}), encoding="utf-8")
    pet = resolve_tracer(str(tmp_path / "pet.nii.gz")).read()
    assert isinstance(pet, DynamicPet) and pet.frames.shape == (2, 4, 4, 4) and pet.frames.max() == 1000.0
    assert np.array_equal(read_pet(tmp_path / "pet.nii.gz").frames, pet.frames)


def test_a_dicom_pet_refuses_a_sidecar():
    with pytest.raises(InputError, match="--bids is for a NIfTI PET"):
        read_pet(DICOM_PET, bids={"Units": "Bq/mL"})


def test_in_a_lesson_folder_files_are_found_there(tmp_path):
    shutil.copy(DICOM_PET, tmp_path / "pt.dcm")
    (tmp_path / "petdir").mkdir()
    shutil.copy(DICOM_PET, tmp_path / "petdir" / "1")  # a DICM file without an ending
    found = find_tracer("petdir", folder=tmp_path)
    assert found.kind.name == "dicom-pet" and found.spec == str(tmp_path / "petdir")
    assert find_tracer("petdir") is None or find_tracer("petdir").kind.name != "dicom-pet"  # not in the cwd
    assert find_tracer("mine.yaml", folder=tmp_path).spec == str(tmp_path / "mine.yaml")
    assert find_tracer("fdg", folder=tmp_path).spec == "fdg"
    assert [find_tracer(s, folder=tmp_path).kind.shown for s in ("a.csv", "a.yaml", "pt.dcm", "p.nii", "fdg")] == \
        ["curves file", "tracer file", "PET", "PET", None]

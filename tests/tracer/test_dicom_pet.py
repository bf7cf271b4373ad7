"""A DICOM PET series as ``--tracer`` and ``arkit tracer extract``: known activity, times, SUV.

Known answers: synthetic PET series written with pydicom (the helpers of
``tests/sources/test_dicom_series.py``), Units BQML, anisotropic voxels (1.5 x 2.0 x 2.5 mm),
two ellipsoids with unequal radii and known concentrations (decay-corrected to injection,
per frame) over a uniform background. The series is stored as the scanner would: with
DecayCorrection START the values are the truth times 2^(-delay / T1/2) (delay = injection to
scan start = 09:30:00 -> 10:15:30 = 2730 s); with ADMIN the truth; with NONE the physical
concentration at the frame's mid-time. The labels are the same ellipsoids at 0.7 of their
radii, so every labelled PET voxel lies inside its ellipsoid and the means are exact
whatever grid the labels are on.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from arkit_py.cli import main
from arkit_py.errors import InputError
from arkit_py.scene.gltf import read_glb
from arkit_py.scene.hologram import HologramOptions, build_hologram
from arkit_py.scene.uptake import UptakeOptions, is_pet
from arkit_py.sources.dicom.suv import suv_factor
from arkit_py.sources.load import load_segmentation
from arkit_py.tracer.inputs import read_pet as read_dynamic_pet
from tests.sources.test_dicom_series import (
    PET_STORAGE,
    Geometry,
    assert_private,
    rotation,
    voxel_ras,
    write_series,
    zip_folder,
)

T_HALF = 6586.2  # s, the header's RadionuclideHalfLife (F-18)
DELAY = 2730.0  # s, RadiopharmaceuticalStartDateTime 09:30:00 -> SeriesTime 10:15:30
DOSE = 370e6
WEIGHT_KG = 71.5
STARTS = np.array([0.0, 60.0, 180.0])  # s after the scan start
DURATIONS = np.array([60.0, 120.0, 180.0])
STATIC_S = 300.0
BACKGROUND = 400.0
#: Bq/mL decay-corrected to injection, per frame (dynamic) and for the static series.
TRUTH = {"liver": np.array([4000.0, 5000.0, 6000.0]), "kidney_left": np.array([20000.0, 16000.0, 12000.0])}
STATIC = {"liver": np.array([5000.0]), "kidney_left": np.array([16000.0])}
ORGANS = {"liver": (np.array([-7.0, 2.0, 0.0]), np.array([9.0, 11.0, 8.0])),
          "kidney_left": (np.array([10.0, -5.0, 3.0]), np.array([5.0, 8.0, 6.5]))}  # RAS centre, radii (mm)
LABELS = {"liver": 1, "kidney_left": 2}
LABEL_SCALE = 0.7
SLOPE = 0.5
GRID = {"columns": 28, "rows": 22, "pixel": (2.0, 1.5)}  # i 1.5 mm (columns), j 2.0 mm (rows)
SLICES, DK = 16, 2.5


def inside(ras, name, scale=1.0):
    centre, radii = ORGANS[name]
    return (((ras - centre) / (radii * scale)) ** 2).sum(axis=-1) <= 1.0


def activity(ras, values, background=BACKGROUND):
    out = np.full(ras.shape[:-1], background)
    for name in ORGANS:
        out[inside(ras, name)] = values[name]
    return out


def _clock(seconds: float) -> str:
    h, rest = divmod(round(seconds), 3600)
    return f"{h:02d}{rest // 60:02d}{rest % 60:02d}"


def stored_factor(decay: str, mid_s: np.ndarray) -> np.ndarray:
    """What the scanner multiplied the truth (decay-corrected to injection) by."""
    if decay == "START":
        return np.full(len(mid_s), 2.0 ** (-DELAY / T_HALF))
    if decay == "ADMIN":
        return np.ones(len(mid_s))
    return 2.0 ** (-(DELAY + mid_s) / T_HALF)  # NONE: physical at the frame's middle


def write_pet(folder: Path, *, dynamic=True, decay="START", units="BQML", modality="PT", drop=(), seed=3):
    """A PET series; returns {structure: (T,) the stored Bq/mL} (the rescaled pixel values)."""
    truth = TRUTH if dynamic else STATIC
    starts, durations = (STARTS, DURATIONS) if dynamic else (np.zeros(1), np.array([STATIC_S]))
    n_frames = len(starts)
    factor = stored_factor(decay, starts + durations / 2)
    one = Geometry(slices=SLICES, dk=DK, centre=(0.0, 0.0, 0.0), **GRID)
    g = Geometry(positions=[[float(v) for v in p] for _ in range(n_frames) for p in one.ipp_text], **GRID)

    def values(n, ras):
        t = n // SLICES
        frame = {name: truth[name][t] * factor[t] for name in ORGANS}
        out = activity(ras, frame, BACKGROUND * factor[t])
        return np.round(out / SLOPE).astype(np.int32)

    def extra(n):
        t = n // SLICES
        item = Dataset()
        item.RadionuclideTotalDose = str(int(DOSE))
        item.RadiopharmaceuticalStartDateTime = "20240229093000"
        item.RadionuclideHalfLife = str(T_HALF)
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
        item.RadionuclideCodeSequence = [code]
        tags = {"Units": units, "DecayCorrection": decay, "CorrectedImage": ["DECY", "ATTN"],
                "RadiopharmaceuticalInformationSequence": [item], "PatientWeight": str(WEIGHT_KG),
                "SeriesTime": "101530", "AcquisitionTime": _clock(10 * 3600 + 15 * 60 + 30 + starts[t]),
                "ActualFrameDuration": str(int(durations[t] * 1000)),
                "SeriesType": ["DYNAMIC" if dynamic else "STATIC", "IMAGE"]}
        return {k: v for k, v in tags.items() if k not in drop}

    write_series(folder, g, values, modality=modality, sop_class=PET_STORAGE, slopes=[SLOPE] * g.slices, seed=seed,
                 extra=extra)
    return {name: np.round(truth[name] * factor / SLOPE) * SLOPE for name in ORGANS}


def write_labels(path: Path, affine: np.ndarray, shape) -> Path:
    ras = voxel_ras(affine, shape)
    labels = np.zeros(shape, np.uint8)
    for name, value in LABELS.items():
        labels[inside(ras, name, LABEL_SCALE)] = value
    nib.save(nib.Nifti1Image(labels, affine), path)
    path.with_suffix("").with_suffix(".csv").write_text("label,name\n1,liver\n2,kidney_left\n")
    return path


def table(path: Path) -> str:
    return str(path.with_suffix("").with_suffix(".csv"))


def other_grid() -> tuple[np.ndarray, tuple[int, int, int]]:
    """Label voxels 1.0 x 1.25 x 0.8 mm, axes permuted and flipped (i -> A, j -> L, k -> S)
    and turned 20 degrees about S: nothing like the PET's grid."""
    shape = (50, 40, 56)
    axes = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1.0, 1.25, 0.8])
    linear = rotation((0, 0, 1), np.radians(20)) @ axes
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ ((np.array(shape) - 1) / 2)
    return affine, shape


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory):
    """(PET folder, stored values, label map on the PET grid, label map on another grid)."""
    root = tmp_path_factory.mktemp("dicom_pet")
    stored = write_pet(root / "pet")
    pet = read_dynamic_pet(str(root / "pet"))
    same = write_labels(root / "same.nii.gz", pet.affine, pet.shape)
    other = write_labels(root / "other.nii.gz", *other_grid())
    return root / "pet", stored, same, other


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def extract_json(capsys, pet, labels, *more):
    code, out, err = run(["tracer", "extract", pet, "--labels", labels, "--label-table", table(labels), "--json",
                          *more], capsys)
    assert code == 0, err
    assert_private(out + err)
    return json.loads(out)


# -- reading ------------------------------------------------------------------------------------

def test_frames_are_placed_after_injection_and_converted_to_injection(dynamic):
    folder, stored, _, _ = dynamic
    pet = read_dynamic_pet(str(folder))
    assert pet.frames.shape == (3, 28, 22, 16) and pet.frames.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(pet.affine[:3, :3], axis=0), (1.5, 2.0, 2.5), atol=1e-9)
    np.testing.assert_allclose(pet.frame_start_s, DELAY + STARTS)
    np.testing.assert_allclose(pet.frame_duration_s, DURATIONS)
    np.testing.assert_allclose(pet.mid_times_s, [2760.0, 2850.0, 3000.0])
    assert pet.decay_corrected and pet.nuclide == "F-18"
    assert pet.meta["decay_corrected_to"] == "scan_start" and pet.meta["delay_s"] == pytest.approx(DELAY)
    assert pet.meta["injected_bq"] == DOSE and pet.meta["weight_kg"] == WEIGHT_KG
    assert len(pet.meta["notes"]) == 1 and "2730 s after injection" in pet.meta["notes"][0]
    # START -> injection: the stored value times 2^(delay / T1/2), in closed form
    ras = voxel_ras(pet.affine, pet.shape)
    liver = inside(ras, "liver", LABEL_SCALE)
    for t in range(3):
        np.testing.assert_allclose(pet.frames[t][liver], stored["liver"][t] * 2.0 ** (DELAY / T_HALF), rtol=1e-6)
        np.testing.assert_allclose(pet.frames[t][liver], TRUTH["liver"][t], rtol=1e-3)


def test_extract_json_gives_the_known_means_per_structure_and_frame(dynamic, capsys):
    folder, stored, same, _ = dynamic
    out = extract_json(capsys, folder, same, "--unit", "Bq/mL")
    assert set(out) == {"unit", "times_s", "structures"} and out["unit"] == "Bq/mL"
    np.testing.assert_allclose(out["times_s"], DELAY + STARTS + DURATIONS / 2)
    assert set(out["structures"]) == {"liver", "kidney_left"}
    for name, row in out["structures"].items():
        assert set(row) == {"mean", "max", "volume_ml"}
        np.testing.assert_allclose(row["mean"], TRUTH[name], rtol=0.02)
        np.testing.assert_allclose(row["mean"], stored[name] * 2.0 ** (DELAY / T_HALF), rtol=1e-6)
        np.testing.assert_allclose(row["max"], row["mean"], rtol=1e-6)  # uniform inside
        radii = ORGANS[name][1] * LABEL_SCALE
        assert row["volume_ml"] == pytest.approx(4 / 3 * np.pi * np.prod(radii) / 1000, rel=0.15)
    kbq = extract_json(capsys, folder, same)  # the default unit
    assert kbq["unit"] == "kBq/mL"
    np.testing.assert_allclose(kbq["structures"]["liver"]["mean"], np.array(out["structures"]["liver"]["mean"]) / 1000)


def test_labels_on_another_grid_give_the_same_means(dynamic, capsys):
    folder, _, same, other = dynamic
    a = extract_json(capsys, folder, same, "--unit", "Bq/mL")
    b = extract_json(capsys, folder, other, "--unit", "Bq/mL")
    for name in ORGANS:
        np.testing.assert_allclose(b["structures"][name]["mean"], a["structures"][name]["mean"], rtol=0.02)
        np.testing.assert_allclose(b["structures"][name]["mean"], TRUTH[name], rtol=0.02)
        assert b["structures"][name]["volume_ml"] == pytest.approx(a["structures"][name]["volume_ml"], rel=0.25)


def test_suv_is_the_stored_bq_ml_times_the_tags_factor(dynamic, capsys):
    folder, stored, same, _ = dynamic
    factor = suv_factor([pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(folder.glob("*.dcm"))]).suv_factor
    assert factor == pytest.approx(WEIGHT_KG * 1000 / (DOSE * 2.0 ** (-DELAY / T_HALF)), rel=1e-9)
    out = extract_json(capsys, folder, same, "--quantity", "suv")
    assert out["unit"] == "g/mL"
    for name in ORGANS:
        np.testing.assert_allclose(out["structures"][name]["mean"], stored[name] * factor, rtol=1e-6)
        np.testing.assert_allclose(out["structures"][name]["mean"], TRUTH[name] * WEIGHT_KG * 1000 / DOSE, rtol=1e-3)


def test_extract_writes_csv_with_o(dynamic, tmp_path, capsys):
    folder, _, same, _ = dynamic
    path = tmp_path / "curves.csv"
    code, out, err = run(["tracer", "extract", folder, "--labels", same, "--label-table", table(same), "-o", path],
                         capsys)
    assert code == 0, err
    lines = path.read_text().splitlines()
    assert lines[0] == "time_min,liver,kidney_left" and len(lines) == 4
    row = [float(v) for v in lines[1].split(",")]
    assert row[0] == pytest.approx(2760 / 60) and row[1] == pytest.approx(4.0, rel=0.02)  # kBq/mL
    assert "decay-corrected" in err and out == ""


@pytest.mark.parametrize("decay", ["START", "ADMIN", "NONE"])
def test_static_series_for_each_decay_correction(tmp_path, capsys, decay):
    stored = write_pet(tmp_path / "pet", dynamic=False, decay=decay)
    pet = read_dynamic_pet(str(tmp_path / "pet"))
    assert pet.frames.shape == (1, 28, 22, 16)
    np.testing.assert_allclose(pet.frame_start_s, [DELAY])
    np.testing.assert_allclose(pet.frame_duration_s, [STATIC_S])
    assert pet.decay_corrected == (decay != "NONE")
    labels = write_labels(tmp_path / "labels.nii.gz", *other_grid())
    out = extract_json(capsys, tmp_path / "pet", labels, "--unit", "Bq/mL")
    mid = DELAY + STATIC_S / 2
    np.testing.assert_allclose(out["times_s"], [mid])
    k = 2.0 ** (DELAY / T_HALF) if decay == "START" else 1.0  # NONE: left as stored (physical)
    for name in ORGANS:
        np.testing.assert_allclose(out["structures"][name]["mean"], stored[name] * k, rtol=1e-6)
    suv = extract_json(capsys, tmp_path / "pet", labels, "--quantity", "suv")
    for name in ORGANS:  # SUVbw = decay-corrected to injection x weight / dose, whatever was stored
        np.testing.assert_allclose(suv["structures"][name]["mean"], STATIC[name] * WEIGHT_KG * 1000 / DOSE, rtol=2e-3)


# -- the hologram -------------------------------------------------------------------------------

def test_hologram_with_a_dicom_pet_tracer(dynamic, tmp_path, capsys):
    folder, _, _, other = dynamic
    archive = zip_folder(folder, tmp_path / "pet.zip")
    assert is_pet(str(archive)) and is_pet(str(folder)) and is_pet(f"{archive}?series=1")
    glb = tmp_path / "pet.glb"
    code, out, err = run(["hologram", other, "--labels", table(other), "--tracer", archive, "--no-compress", "--json",
                          "-o", glb], capsys)
    assert code == 0, err
    assert_private(out + err)
    report = json.loads(out)["tracer"]
    assert report["tracer"] == "DICOM PET" and report["nuclide"] == "F-18"
    assert report["activity_bq"] == DOSE and report["structures"] == ["kidney_left", "liver"]
    legend = report["legend"]
    assert legend["quantity"] == "concentration" and legend["unit"] == "kBq/mL"
    assert legend["min"] == 0 and 0 < legend["max"] <= 20 and legend["real_s"] == pytest.approx(3000.0)
    gltf, _ = read_glb(glb.read_bytes())
    nodes = {n["name"]: n["extras"] for n in gltf["nodes"] if n.get("name") in ORGANS}
    for name in ORGANS:  # physical kBq/mL at the frame mid-times
        mid = DELAY + STARTS + DURATIONS / 2
        np.testing.assert_allclose(nodes[name]["values"], TRUTH[name] * 2.0 ** (-mid / T_HALF) / 1000, rtol=2e-3)
    # SUV: the DICOM weight and dose
    code, out, err = run(["hologram", other, "--labels", table(other), "--tracer", archive, "--quantity", "suv",
                          "--no-compress", "--json", "-o", tmp_path / "suv.glb"], capsys)
    assert code == 0, err
    report = json.loads(out)["tracer"]
    assert report["weight_g"] == WEIGHT_KG * 1000 and report["legend"]["unit"] == "g/mL"
    gltf, _ = read_glb((tmp_path / "suv.glb").read_bytes())
    liver = next(n["extras"] for n in gltf["nodes"] if n.get("name") == "liver")
    np.testing.assert_allclose(liver["values"], TRUTH["liver"] * WEIGHT_KG * 1000 / DOSE, rtol=2e-3)


def test_a_pet_ct_folder_and_a_static_pet_by_series_number(tmp_path):
    """A CT beside the PET: without ?series= the one PET is taken; ?series=N chooses; a
    static PET colours its frame."""
    write_series(tmp_path / "study" / "ct", Geometry(columns=8, rows=6, slices=3), lambda k, ras: np.zeros((6, 8)))
    write_pet(tmp_path / "study" / "pet", dynamic=False)
    labels = write_labels(tmp_path / "labels.nii.gz", *other_grid())
    seg = load_segmentation(str(labels), labels=table(labels))
    from arkit_py.sources.dicom.files import scan

    index = next(o.index for o in scan(tmp_path / "study").objects if o.modality == "PT")
    for spec in (str(tmp_path / "study"), f"{tmp_path / 'study'}?series={index}"):
        result = build_hologram(seg, HologramOptions(compress=False, uptake=UptakeOptions(spec)))
        report = result.report["tracer"]
        assert report["tracer"] == "DICOM PET" and report["structures"] == ["kidney_left", "liver"]
        liver = next(s for s in result.document.structures if s.name == "liver").uptake
        np.testing.assert_allclose(liver.times_s, [DELAY, DELAY + STATIC_S])
        np.testing.assert_allclose(liver.values, 5.0 * 2.0 ** (-liver.times_s / T_HALF), rtol=2e-3)
    with pytest.raises(InputError, match=r"is a CT series, not a PET"):
        read_dynamic_pet(f"{tmp_path / 'study'}?series={3 - index}")


# -- refusals -----------------------------------------------------------------------------------

def _one_line_error(capsys, args, *needles):
    code, _, err = run(args, capsys)
    assert code == 2 and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    assert_private(err)
    return err


def test_refusals_are_one_line(dynamic, tmp_path, capsys):
    folder, _, same, _ = dynamic
    base = ["--labels", same, "--label-table", table(same), "--json"]
    write_series(tmp_path / "ct", Geometry(columns=8, rows=6, slices=3), lambda k, ras: np.zeros((6, 8)))
    _one_line_error(capsys, ["tracer", "extract", tmp_path / "ct", *base], "is a CT series, not a PET (Modality PT)")
    write_pet(tmp_path / "cnts", dynamic=False, units="CNTS")
    _one_line_error(capsys, ["tracer", "extract", tmp_path / "cnts", *base], "Units (0054,1001) is CNTS", "BQML")
    _one_line_error(capsys, ["tracer", "extract", folder, *base, "--bids", tmp_path / "x.json"],
                    "--bids is for a NIfTI PET")
    write_pet(tmp_path / "no_rp", dynamic=False, drop=("RadiopharmaceuticalInformationSequence",))
    _one_line_error(capsys, ["tracer", "extract", tmp_path / "no_rp", *base],
                    "RadiopharmaceuticalInformationSequence (0054,0016) is missing")
    write_pet(tmp_path / "no_decay", dynamic=False, drop=("DecayCorrection",))
    _one_line_error(capsys, ["tracer", "extract", tmp_path / "no_decay", *base], "DecayCorrection (0054,1102)")
    write_pet(tmp_path / "no_weight", dynamic=False, drop=("PatientWeight",))
    _one_line_error(capsys, ["tracer", "extract", tmp_path / "no_weight", *base, "--quantity", "suv"],
                    "no SUV", "PatientWeight (0010,1030) is missing")
    _one_line_error(capsys, ["tracer", "extract", folder, "--labels", same], "-o", "--json")
    _one_line_error(capsys, ["tracer", "extract", folder, *base, "--quantity", "suv", "--weight", "70kg"],
                    "--weight is for a NIfTI PET")
    _one_line_error(capsys, ["tracer", "extract", folder, *base, "--quantity", "suv", "--unit", "kBq/mL"], "--unit")
    _one_line_error(capsys, ["hologram", same, "--labels", table(same), "--tracer", zip_folder(tmp_path / "ct",
                    tmp_path / "ct.zip"), "--quiet", "-o", tmp_path / "x.glb"], "is a CT series, not a PET")
    assert not (tmp_path / "x.glb").exists()
    with pytest.raises(InputError, match="--bids"):
        read_dynamic_pet(str(folder), bids={"Units": "Bq/mL"})


def test_suv_of_a_nifti_needs_the_dose_and_a_weight(tmp_path, capsys):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -15.0
    nib.save(nib.Nifti1Image(np.full((16, 16, 16, 2), 3000.0, np.float32), affine), tmp_path / "pet.nii.gz")
    sidecar = {"FrameTimesStart": [600, 900], "FrameDuration": [300, 300], "Units": "Bq/mL", "InjectionStart": 0,
               "ImageDecayCorrected": True, "ImageDecayCorrectionTime": 0, "TracerRadionuclide": "F18",
               "InjectedRadioactivity": 300, "InjectedRadioactivityUnits": "MBq"}
    (tmp_path / "pet.json").write_text(json.dumps(sidecar))
    labels = write_labels(tmp_path / "labels.nii.gz", *other_grid())
    args = ["tracer", "extract", tmp_path / "pet.nii.gz", "--labels", labels, "--label-table", table(labels),
            "--json", "--quantity", "suv"]
    _one_line_error(capsys, args, "--weight")
    out = extract_json(capsys, tmp_path / "pet.nii.gz", labels, "--quantity", "suv", "--weight", "60kg")
    np.testing.assert_allclose(out["structures"]["liver"]["mean"], [3000.0 * 60_000 / 300e6] * 2, rtol=1e-6)
    np.testing.assert_allclose(out["times_s"], [750.0, 1050.0])
    del sidecar["InjectedRadioactivity"]
    (tmp_path / "pet.json").write_text(json.dumps(sidecar))
    _one_line_error(capsys, [*args, "--weight", "60kg"], "InjectedRadioactivity")


def test_is_pet_tells_dicom_from_tracers_and_curves(dynamic, tmp_path):
    folder = dynamic[0]
    assert is_pet(str(folder)) and is_pet("x.nii.gz") and is_pet(f"{folder}?series=1")
    assert is_pet(str(next(folder.glob("*.dcm"))))
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("not DICOM")
    for spec in ("fdg", "curves.csv", "tracer.yaml", str(tmp_path / "notes")):
        assert not is_pet(spec), spec

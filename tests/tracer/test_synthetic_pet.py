"""``arkit tracer pet``: a PET with a known truth. Inside an organ, away from its edge, the
PET is the model's concentration; the blur is the FWHM asked for along every axis of
anisotropic voxels; noise keeps the mean; the file reads back as a PET scanner's would."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from arkit_py.cli import main
from arkit_py.sources.segmentation import Segment, Segmentation
from arkit_py.structures import lookup
from arkit_py.tracer.model import load_tracer
from arkit_py.tracer.synthetic import FWHM_PER_SIGMA, synthetic_pet

SPACING = (2.0, 3.0, 5.0)  # mm: a different step along each voxel axis
SHAPE = (70, 50, 32)


def body_with_organs() -> Segmentation:
    """A body (label 1) holding a liver as an ellipsoid of unequal radii (label 2) and a box
    brain (label 3), on anisotropic voxels."""
    i, j, k = np.indices(SHAPE, dtype=np.float64)
    x, y, z = i * SPACING[0], j * SPACING[1], k * SPACING[2]
    labels = np.zeros(SHAPE, np.uint8)
    labels[4:-4, 4:-4, 3:-3] = 1
    liver = ((x - 60) / 36) ** 2 + ((y - 75) / 45) ** 2 + ((z - 80) / 50) ** 2 <= 1
    labels[liver] = 2
    labels[40:60, 8:40, 6:26] = 3
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = (-70.0, -75.0, -80.0)
    segments = {1: Segment(1, lookup("body")), 2: Segment(2, lookup("liver")), 3: Segment(3, lookup("brain"))}
    return Segmentation([labels], affine, segments, body_label=1)


def interior(mask: np.ndarray, depth_mm: float) -> np.ndarray:
    """The voxels of ``mask`` at least ``depth_mm`` from its edge along every axis."""
    structure = np.zeros((3, 3, 3), bool)
    structure[1, 1, :] = structure[1, :, 1] = structure[:, 1, 1] = True
    out = mask.copy()
    for axis, step in enumerate(SPACING):
        n = math.ceil(depth_mm / step)
        line = np.zeros((3, 3, 3), bool)
        idx = [1, 1, 1]
        for d in (0, 2):
            idx[axis] = d
            line[tuple(idx)] = True
        line[1, 1, 1] = True
        out = binary_erosion(out, line, iterations=n) if n else out
    return out


def test_inside_an_organ_the_pet_is_the_models_concentration():
    seg = body_with_organs()
    model = load_tracer("fdg")
    at = 3600.0
    pet = synthetic_pet(seg, model, at, activity_bq=370e6, fwhm_mm=6.0)
    labels = seg.layers[0]
    vv = float(np.prod(SPACING)) / 1000.0
    volumes = {"liver": (labels == 2).sum() * vv, "brain": (labels == 3).sum() * vv}
    curves = model.simulate(370e6, model.sample_times(at, at / 48))
    for organ in ("liver", "brain"):
        # the truth, from the model's curve alone: the region's activity over the organ's volume
        expected = curves.values[-1, curves.regions.index(organ)] / volumes[organ]
        assert pet.truth[organ] == pytest.approx(expected, rel=1e-9)
        deep = interior(labels == {"liver": 2, "brain": 3}[organ], 3 * 6.0 / FWHM_PER_SIGMA)
        assert deep.sum() > 50
        assert float(pet.data[deep].mean()) == pytest.approx(expected, rel=0.005)
    # the blur moves activity, it makes none: the total is the body's (the grid has a margin)
    total = float(pet.data.sum()) * vv
    held = sum(pet.truth[o] * volumes[o] for o in ("liver", "brain"))
    rest = pet.truth["body"] * ((labels == 1).sum() * vv)
    assert total == pytest.approx(held + rest, rel=1e-3)


def box_alone() -> Segmentation:
    """A brain box alone (no body to hold the rest: zero around it) in the middle of a grid of
    anisotropic voxels, 120 mm along each axis."""
    labels = np.zeros((60, 40, 24), np.uint8)
    labels[12:40, 6:27, 4:16] = 3  # every face 39 mm or more from the grid's edge and 56 mm from its opposite
    return Segmentation([labels], np.diag([*SPACING, 1.0]), {3: Segment(3, lookup("brain"))}, body_label=None)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_the_blur_is_the_fwhm_asked_for_along_every_axis(axis):
    """Across the brain box's face along ``axis`` the profile is an error function; its
    75 %-25 % width gives back the FWHM in mm, whatever the voxel step on that axis."""
    fwhm = 12.0
    pet = synthetic_pet(box_alone(), load_tracer("fdg"), 3600.0, fwhm_mm=fwhm)
    hi = {0: 40, 1: 27, 2: 16}[axis]  # the first voxel past the box's upper face
    line = [slice(c, c + 1) for c in (30, 20, 12)]
    line[axis] = slice(None)
    profile = pet.data[tuple(line)].ravel().astype(np.float64)
    assert set(pet.truth) == {"brain"}
    fraction = profile / pet.truth["brain"]
    mm = (np.arange(len(profile)) - (hi - 0.5)) * SPACING[axis]  # 0 at the face
    near = np.abs(mm) <= 2 * fwhm
    f, x = fraction[near][::-1], mm[near][::-1]  # outside to inside: f rises
    assert np.all(np.diff(f) > -1e-6) and f[0] < 0.01 and f[-1] > 0.99  # one monotone step
    x75, x25 = np.interp(0.75, f, x), np.interp(0.25, f, x)
    sigma = (x25 - x75) / (2 * 0.6744897501960817)
    assert sigma * FWHM_PER_SIGMA == pytest.approx(fwhm, rel=0.08)
    assert abs(np.interp(0.5, f, x)) < 0.25 * SPACING[axis]  # the half-way point sits on the face


def test_noise_keeps_the_mean_and_a_seed_repeats_it():
    seg = body_with_organs()
    model = load_tracer("fdg")
    clean = synthetic_pet(seg, model, 3600.0, fwhm_mm=6.0)
    noisy = synthetic_pet(seg, model, 3600.0, fwhm_mm=6.0, noise=0.3, seed=7)
    again = synthetic_pet(seg, model, 3600.0, fwhm_mm=6.0, noise=0.3, seed=7)
    other = synthetic_pet(seg, model, 3600.0, fwhm_mm=6.0, noise=0.3, seed=8)
    deep = interior(seg.layers[0] == 2, 3 * 6.0 / FWHM_PER_SIGMA)
    assert np.array_equal(noisy.data, again.data) and not np.array_equal(noisy.data, other.data)
    assert float(noisy.data[deep].mean()) == pytest.approx(float(clean.data[deep].mean()), rel=0.02)
    assert float(noisy.data[deep].std()) > 0.02 * float(clean.data[deep].mean())
    assert float(clean.data[deep].std()) < 1e-3 * float(clean.data[deep].mean())


def test_the_command_writes_a_pet_that_reads_back_as_a_scanners(tmp_path, capsys):
    from arkit_py.tracer.inputs import read_pet

    out = tmp_path / "pet.nii.gz"
    code = main(["tracer", "pet", "phantom:mird-adult?voxel=6", "--tracer", "fdg", "--at", "60min",
                 "--activity", "200MBq", "--fwhm", "7mm", "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 0 and "FWHM 7 mm" in err and "200 MBq" in err
    sidecar = json.loads((tmp_path / "pet.json").read_text())
    assert sidecar["Units"] == "Bq/mL" and sidecar["TracerRadionuclide"] == "F18"
    assert sidecar["InjectedRadioactivity"] == 200.0 and sidecar["ReconFilterSize"] == 7.0
    pet = read_pet(out)
    assert pet.nuclide == "F-18" and pet.mid_times_s.tolist() == [3600.0]
    assert pet.meta["injected_bq"] == pytest.approx(200e6)
    truth = sidecar["arkit"]["truth_bq_per_ml"]
    assert truth["brain"] > truth["liver"] > truth["lung_left"]
    # the reader decay-corrects to injection: the file holds the concentrations at 60 min
    lam = load_tracer("fdg").nuclide.decay_constant
    assert float(pet.frames.max()) == pytest.approx(float(_raw(out).max()) * math.exp(lam * 3600), rel=1e-3)


def test_the_command_writes_the_ct_companion_that_reads_back_as_a_ct(tmp_path, capsys):
    from arkit_py.sources.body import read_ct

    code = main(["tracer", "pet", "phantom:mird-adult?voxel=8", "--tracer", "fdg", "--at", "30min",
                 "-o", str(tmp_path / "pet.nii.gz"), "--ct", str(tmp_path / "ct.nii.gz")])
    capsys.readouterr()
    assert code == 0
    ct = read_ct(str(tmp_path / "ct.nii.gz"))
    hu = np.asarray(ct.data)
    values = set(np.unique(hu).astype(int).tolist())
    assert {-1000, 40, 400} <= values  # air, soft tissue, bone
    assert any(-850 <= v <= -650 for v in values)  # the lungs
    assert np.allclose(ct.affine, _affine(tmp_path / "pet.nii.gz"))


def _affine(path):
    import nibabel as nib

    return nib.load(str(path)).affine


def _raw(path):
    import nibabel as nib

    return np.asarray(nib.load(str(path)).dataobj)


@pytest.mark.parametrize("args, problem", [
    (["--at", "0min"], "--at"),
    (["--at", "60min", "--fwhm", "90mm"], "--fwhm"),
    (["--at", "60min", "--noise", "-1"], "--noise"),
    (["--at", "60min", "-o", "pet.png"], "NIfTI"),
    (["--at", "60min", "--tracer", "nope"], "nope"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, problem):
    monkeypatch.chdir(tmp_path)
    base = ["tracer", "pet", "phantom:mird-adult?voxel=8", "--tracer", "fdg", "-o", "pet.nii.gz"]
    code = main(base + args)
    _, err = capsys.readouterr()
    assert code == 2 and problem in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "pet.nii.gz").exists() or "-o" in args

"""The arkit command end to end: reports, bad input, privacy, orientation."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from arkit_py.cli import main
from arkit_py.scene.gltf import read_glb

SMALL_PHANTOM = "phantom:mird-adult?voxel=6"


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_report(tmp_path, capsys):
    out_path = tmp_path / "body.glb"
    code, out, err = run(["hologram", SMALL_PHANTOM, "-o", str(out_path), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == {"output", "structures", "triangles", "draw_calls", "bytes", "seconds"}
    assert report["bytes"] == out_path.stat().st_size
    assert report["draw_calls"] == len(report["structures"])
    assert report["triangles"] == sum(s["triangles"] for s in report["structures"])
    row = next(s for s in report["structures"] if s["name"] == "liver")
    assert set(row) == {"name", "label", "system", "triangles", "volume_ml"}
    assert row["system"] == "digestive" and row["volume_ml"] == pytest.approx(1830, rel=0.03)
    assert {"read", "surfaces", "decimation", "write"} <= set(report["seconds"])


def test_progress_goes_to_stderr_and_quiet_silences_it(tmp_path, capsys):
    code, out, err = run(["hologram", SMALL_PHANTOM, "-o", str(tmp_path / "a.glb"), "--structures", "liver"], capsys)
    assert code == 0 and out == "" and "surfaces" in err and "wrote" in err
    code, out, err = run(["hologram", SMALL_PHANTOM, "-o", str(tmp_path / "b.glb"), "--quiet", "--systems", "urinary"], capsys)
    assert code == 0 and out == "" and err == ""


def _nifti(path, data, affine=None, descrip=b""):
    import warnings

    with warnings.catch_warnings():  # nibabel warns when asked to store a singular affine
        warnings.simplefilter("ignore", RuntimeWarning)
        affine = np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine
        img = nib.Nifti1Image(data, None)
        img.set_sform(affine, code=1)  # sform only: a qform would refuse a singular affine
        img.set_qform(None, code=0)
        img.header["descrip"] = descrip
        nib.save(img, str(path))
    return path


@pytest.mark.parametrize("make, problem", [
    (lambda d: d / "missing.nii.gz", "no such file"),
    (lambda d: _nifti(d / "float.nii.gz", np.full((4, 4, 4), 0.5, np.float32)), "whole numbers"),
    (lambda d: _nifti(d / "empty.nii.gz", np.zeros((4, 4, 4), np.uint8)), "empty"),
    (lambda d: _nifti(d / "fourd.nii.gz", np.ones((4, 4, 4, 2), np.uint8)), "4D"),
    (lambda d: _nifti(d / "flat.nii.gz", np.ones((4, 4, 4), np.uint8), np.diag([2.0, 0.0, 2.0, 1.0])), "affine"),
    (lambda d: (d / "junk.nii.gz").write_bytes(b"not a nifti at all") or d / "junk.nii.gz", ""),
])
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, capsys, make, problem):
    source = make(tmp_path)
    out_path = tmp_path / "out.glb"
    code, out, err = run(["hologram", str(source), "-o", str(out_path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"arkit: {source}")
    assert problem.lower() in lines[0].lower()
    assert "Traceback" not in err
    assert not out_path.exists()
    assert not list(tmp_path.glob(".arkit-*"))


def test_unknown_structure_suggests_a_name(tmp_path, capsys):
    code, _, err = run(["hologram", SMALL_PHANTOM, "-o", str(tmp_path / "x.glb"), "--structures", "livr"], capsys)
    assert code == 2 and "did you mean 'liver'" in err


def test_unknown_label_table(tmp_path, capsys):
    table = tmp_path / "labels.xyz"
    table.write_text("what is this\n")
    code, _, err = run(["hologram", SMALL_PHANTOM, "-o", str(tmp_path / "x.glb"), "--labels", str(table)], capsys)
    assert code == 2 and err.startswith("arkit: ")


def test_a_real_process_exits_2_without_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "arkit_py.cli", "hologram", str(tmp_path / "nope.nii"), "-o",
                           str(tmp_path / "o.glb")], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_nothing_that_identifies_a_patient_is_copied(tmp_path, capsys):
    data = np.zeros((30, 30, 30), np.uint8)
    data[5:15, 5:25, 5:25] = 1
    data[16:26, 5:25, 5:25] = 2
    source = _nifti(tmp_path / "DOE_JOHN_19700101.nii.gz", data, descrip=b"Doe^John 1970-01-01 MRN 123456")
    out_path = tmp_path / "out.glb"
    code, _, err = run(["hologram", str(source), "-o", str(out_path), "--no-compress", "--quiet"], capsys)
    assert code == 0, err
    blob = out_path.read_bytes().lower()
    for secret in (b"doe", b"john", b"1970", b"123456", b"mrn"):
        assert secret not in blob


@pytest.mark.parametrize("affine", [
    np.diag([2.0, 2.0, 2.0, 1.0]),
    np.diag([-2.0, 2.0, 2.0, 1.0]),  # flipped left-right
    np.array([[0, 0, 1.5, 0], [2.0, 0, 0, 0], [0, -3.0, 0, 0], [0, 0, 0, 1.0]]),  # permuted, anisotropic, flipped
])
def test_right_is_minus_x_superior_plus_y_anterior_plus_z(tmp_path, capsys, affine):
    """Labels placed in RAS: liver at patient's right, brain superior, stomach anterior."""
    shape = (40, 40, 40)
    ijk = np.indices(shape).reshape(3, -1).T
    ras = ijk @ affine[:3, :3].T + affine[:3, 3]
    ras -= ras.mean(axis=0)
    span = np.abs(ras).max(axis=0)
    data = np.zeros(len(ijk), np.uint8)
    data[(ras[:, 0] > 0.5 * span[0]) & (np.abs(ras[:, 1]) < 0.3 * span[1]) & (np.abs(ras[:, 2]) < 0.3 * span[2])] = 1
    data[(ras[:, 2] > 0.5 * span[2]) & (np.abs(ras[:, 0]) < 0.3 * span[0]) & (np.abs(ras[:, 1]) < 0.3 * span[1])] = 2
    data[(ras[:, 1] > 0.5 * span[1]) & (np.abs(ras[:, 0]) < 0.3 * span[0]) & (np.abs(ras[:, 2]) < 0.3 * span[2])] = 3
    source = _nifti(tmp_path / "seg.nii.gz", data.reshape(shape), affine)
    table = tmp_path / "names.csv"
    table.write_text("label,name\n1,liver\n2,brain\n3,stomach\n")
    out_path = tmp_path / "o.glb"
    code, _, err = run(["hologram", str(source), "--labels", str(table), "-o", str(out_path), "--no-compress", "--quiet"],
                       capsys)
    assert code == 0, err
    gltf, binary = read_glb(out_path.read_bytes())
    centre = {}
    for mesh in gltf["meshes"]:
        acc = gltf["accessors"][mesh["primitives"][0]["attributes"]["POSITION"]]
        view = gltf["bufferViews"][acc["bufferView"]]
        pts = np.frombuffer(binary, np.float32, acc["count"] * 3, view.get("byteOffset", 0)).reshape(-1, 3)
        centre[mesh["name"]] = pts.mean(axis=0)
    assert centre["liver"][0] < centre["brain"][0] - 0.01  # patient's right at -X
    assert centre["brain"][1] > centre["liver"][1] + 0.01  # superior at +Y
    assert centre["stomach"][2] > centre["liver"][2] + 0.01  # anterior at +Z


@pytest.mark.parametrize("flags,expected", [
    (["--activity", "3xx"], "arkit: --activity: cannot read '3xx' as a quantity (unknown unit 'xx')\n"),
    (["--activity", "0MBq"], "arkit: --activity: the activity must be positive, got '0MBq'\n"),
    (["--window", "5:1"], "arkit: --window must be MIN:MAX with MAX > MIN, e.g. 0:5, got '5:1'\n"),
    (["--voiding", "2"], "arkit: --voiding: '2' has no unit; give a time such as 120 min, 2 h or 8 d\n"),
    (["--quantity", "sul"], "arkit: --quantity sul needs --height (e.g. 175cm) for the lean body mass\n"),
])
def test_a_bad_tracer_option_names_the_flag(tmp_path, capsys, flags, expected):
    """The same parser as a lesson's (tests/lesson/test_source.py), but named as a flag."""
    out = tmp_path / "x.glb"
    code, _, err = run(["hologram", SMALL_PHANTOM, "--tracer", "fdg", *flags, "-o", str(out)], capsys)
    assert code == 2 and err == expected and not out.exists()

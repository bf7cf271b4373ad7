"""``arkit tracer ...`` and ``arkit hologram --tracer`` end to end."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from arkit_py.cli import main
from arkit_py.scene.gltf import read_glb
from arkit_py.tracer.model import library_ids, load_tracer
from tests.analytic import fdg_trapped


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_names_every_tracer(capsys):
    code, out, _ = run(["tracer", "list", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == library_ids()
    assert all(set(r) == {"id", "name", "nuclide"} for r in rows)
    assert {"id": "fdg", "name": load_tracer("fdg").name, "nuclide": "F-18"} in rows


def test_show_prints_unverified_parameters_and_published_values(capsys):
    code, out, _ = run(["tracer", "show", "fdg"], capsys)
    assert code == 0
    assert "UNVERIFIED teaching default" in out and "verified-secondary" in out
    assert "compartments.plasma.out[1].half_time = 7.371 h   feng1993   derived" in out
    assert "0.13 mGy/MBq" in out and "not asserted" in out
    assert "109.8 min" in out  # from ICRP-107


def test_simulate_writes_physical_mbq_per_region(tmp_path, capsys):
    path = tmp_path / "curves.csv"
    code, _, err = run(["tracer", "simulate", "fdg", "--activity", "10 mCi", "--until", "2 h", "--step", "5min",
                        "-o", str(path)], capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["time_min", *load_tracer("fdg").region_ids]
    table = np.asarray(rows[1:], dtype=float)
    assert table[0, 0] == 0 and table[-1, 0] == 120 and len(table) == 25
    brain = table[:, rows[0].index("brain")]
    # the brain traps FDG from the plasma (closed form, tests/analytic.py), physical MBq
    expected = fdg_trapped(table[:, 0] * 60, 0.08 * 370, decay_corrected=False)
    np.testing.assert_allclose(brain[1:], expected[1:], rtol=1e-3)  # half-times rounded to 4 digits
    assert brain[0] == 0


def test_tiac_of_simulated_curves_matches_the_model(tmp_path, capsys):
    """simulate -> CSV -> tiac (fits) agrees with the exact model TIAC for smooth regions."""
    path = tmp_path / "c.csv"
    run(["tracer", "simulate", "fdg", "--until", "24h", "--step", "30min", "--voiding", "none", "-o", str(path)],
        capsys)
    code, out, err = run(["tracer", "tiac", str(path), "--nuclide", "F-18", "--activity", "370MBq", "--json"], capsys)
    assert code == 0, err
    fitted = json.loads(out)
    code, out, _ = run(["tracer", "tiac", "fdg", "--voiding", "none", "--json"], capsys)
    exact = json.loads(out)
    assert set(fitted) == set(exact) == {"nuclide", "tiac_h", "method"}
    assert fitted["nuclide"] == "F-18"
    assert list(fitted["tiac_h"]) == list(exact["tiac_h"])
    for region in ("brain", "liver", "other"):
        assert fitted["tiac_h"][region] == pytest.approx(exact["tiac_h"][region], rel=0.03)
    assert set(exact["method"].values()) == {"compartment model (exact)"}


@pytest.mark.parametrize("args,problem", [
    (["tracer", "show", "fgd"], "did you mean 'fdg'"),
    (["tracer", "simulate", "fdg", "--activity", "-5 MBq", "-o", "x.csv"], "--activity"),
    (["tracer", "simulate", "fdg", "--activity", "370 furlongs", "-o", "x.csv"], "--activity"),
    (["tracer", "simulate", "fdg", "--until", "2 MBq", "-o", "x.csv"], "--until"),
    (["tracer", "tiac", "missing.csv", "--nuclide", "F-18", "--activity", "1MBq"], "no such file"),
    (["tracer", "tiac", "c.csv", "--activity", "1MBq"], "--nuclide"),
    (["tracer", "tiac", "fdg", "--voiding", "soon"], "--voiding"),
    (["hologram", "phantom:mird-adult?voxel=8", "--tracer", "fgd", "-o", "x.glb"], "did you mean 'fdg'"),
    (["hologram", "phantom:mird-adult?voxel=8", "--window", "0:5", "-o", "x.glb"], "needs --tracer"),
    (["hologram", "phantom:mird-adult?voxel=8", "--tracer", "fdg", "--window", "5:0", "-o", "x.glb"], "--window"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, problem):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.csv").write_text("time_h,liver\n0,1\n1,0.5\n")
    code, out, err = run(args, capsys)
    assert code == 2 and problem in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not any(p.suffix in (".glb", ".csv") and p.name != "c.csv" for p in tmp_path.iterdir())


def test_negative_activity_in_a_curves_file_is_refused(tmp_path, capsys):
    path = tmp_path / "neg.csv"
    path.write_text("time_h,liver\n0,1\n1,-0.5\n")
    code, _, err = run(["tracer", "tiac", str(path), "--nuclide", "Tc-99m", "--activity", "1MBq"], capsys)
    assert code == 2 and "line 3: negative activity" in err


@pytest.mark.parametrize("text,problem", [
    ("time_min,liver\n0,1\n60,0.5\n1e300,0.1\n", "line 4: time 1e300 (time_min) is more than 10 years"),
    ("time_h,liver\n0,1\ninf,0.5\n", "line 3: values must be finite"),
    ("time_h,liver\n0,1\n1,1e308\n", "line 3: a value is too large"),
])
def test_tiac_refuses_absurd_curve_times_and_values(tmp_path, capsys, text, problem):
    path = tmp_path / "absurd.csv"
    path.write_text(text)
    for command in ("tiac", "dose"):
        code, out, err = run(["tracer", command, str(path), "--nuclide", "F-18", "--activity", "370MBq"], capsys)
        assert code == 2 and out == "" and err.startswith(f"arkit: {path}: {problem}"), err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_time_options_beyond_ten_years_are_refused(tmp_path, capsys):
    code, _, err = run(["tracer", "simulate", "fdg", "--until", "11 years", "-o", str(tmp_path / "c.csv")], capsys)
    assert code == 2 and err.startswith("arkit: --until: '11 years' is more than 10 years")
    assert not (tmp_path / "c.csv").exists()


def test_hologram_from_a_curves_file(tmp_path, capsys):
    """Curves written by simulate colour the same structures as the tracer ID does."""
    curves = tmp_path / "fdg.csv"
    run(["tracer", "simulate", "fdg", "--until", "60min", "--step", "5min", "-o", str(curves)], capsys)
    out = tmp_path / "from-csv.glb"
    code, _, err = run(["hologram", "phantom:mird-adult?voxel=6", "--tracer", str(curves), "--nuclide", "F-18",
                        "--activity", "370MBq", "--quantity", "suv", "--window", "0:5", "--no-compress", "-o",
                        str(out), "--quiet"], capsys)
    assert code == 0, err
    gltf, _ = read_glb(out.read_bytes())
    nodes = {n["name"]: n for n in gltf["nodes"]}
    assert "values" in nodes["brain"]["extras"] and "values" in nodes["body"]["extras"]
    assert "values" in nodes["lung_left"]["extras"] and "values" not in nodes["spleen"]["extras"]
    brain = nodes["brain"]["extras"]
    # SUV at 60 min: the decay-corrected trapped fraction x body mass / brain mass
    assert brain["times_s"][-1] == 3600
    assert brain["values"][-1] == pytest.approx(fdg_trapped(3600, 0.08) * 73000 / brain["volume_ml"], rel=1e-3)
    assert math.isclose(gltf["scenes"][0]["extras"]["arkit"]["legend"]["real_s"], 3600)


def test_sul_uses_the_james_lean_body_mass(tmp_path, capsys):
    out = tmp_path / "sul.glb"
    code, _, err = run(["hologram", "phantom:mird-adult?voxel=6", "--tracer", "fdg", "--quantity", "sul",
                        "--height", "175cm", "--weight", "70kg", "--no-compress", "--quiet", "-o", str(out)], capsys)
    assert code == 0, err
    gltf, _ = read_glb(out.read_bytes())
    nodes = {n["name"]: n for n in gltf["nodes"]}
    brain = nodes["brain"]["extras"]
    lbm_g = (1.10 * 70 - 120 * (70 / 175) ** 2) * 1000  # 57.8 kg
    assert brain["values"][-1] == pytest.approx(fdg_trapped(brain["times_s"][-1], 0.08) * lbm_g / brain["volume_ml"],
                                                rel=1e-3)
    assert gltf["scenes"][0]["extras"]["arkit"]["legend"]["quantity"] == "sul"
    code, _, err = run(["hologram", "phantom:mird-adult?voxel=6", "--tracer", "fdg", "--quantity", "sul", "-o",
                        str(tmp_path / "x.glb")], capsys)
    assert code == 2 and "--height" in err and err.count("\n") == 1


def _pet(tmp_path, affine, sidecar):
    import nibabel as nib

    data = np.ones((8, 8, 8, 3), np.float32)
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "pet.nii.gz")
    if sidecar is not None:
        (tmp_path / "pet.json").write_text(json.dumps(sidecar))
    labels = np.zeros((8, 8, 8), np.uint8)
    labels[2:6, 2:6, 2:6] = 1
    nib.save(nib.Nifti1Image(labels, np.diag([2.0, 2.0, 2.0, 1.0])), tmp_path / "labels.nii.gz")
    return str(tmp_path / "pet.nii.gz"), str(tmp_path / "labels.nii.gz")


TIMING = {"FrameTimesStart": [0, 60, 120], "FrameDuration": [60, 60, 60], "Units": "Bq/mL",
          "InjectionStart": 0, "ImageDecayCorrected": False, "TracerRadionuclide": "F18"}


@pytest.mark.parametrize("shift,sidecar,problem", [
    (1000.0, TIMING, "overlap"),
    (0.0, {"Units": "Bq/mL"}, "FrameTimesStart"),
    (0.0, {**TIMING, "Units": "furlongs"}, "Units"),
])
def test_extract_bad_input_is_one_line(tmp_path, capsys, shift, sidecar, problem):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = shift
    pet, labels = _pet(tmp_path, affine, sidecar)
    out = tmp_path / "c.csv"
    code, _, err = run(["tracer", "extract", pet, "--labels", labels, "-o", str(out)], capsys)
    assert code == 2 and problem in err and err.count("\n") == 1, err
    assert not out.exists()


def test_show_prints_published_tiacs_beside_ours(capsys):
    code, out, _ = run(["tracer", "show", "fdg"], capsys)
    line = next(x for x in out.splitlines() if x.strip().startswith("TIAC brain"))
    # ICRP's instant uptake against arkit's uptake phase: 0.08 x the plasma curve's
    # decay-weighted area / its area, x tau (tests/analytic.py)
    assert "0.211 h" in line and "ours 0.1373 h" in line and "unverified" in line


def test_dose_masses_from_a_segmentation(capsys):
    code, out, err = run(["tracer", "dose", "fdg", "--segmentation", "phantom:mird-adult?voxel=4", "--json"], capsys)
    assert code == 0, err
    rows = {r["region"]: r for r in json.loads(out)["rows"]}
    # the phantom's brain: 1470 mL analytic (docs/data-sources.md#mird-phantom) x 1.04 g/mL
    assert rows["brain"]["mass_g"] == pytest.approx(1470.27 * 1.04, rel=0.01)
    code, out, _ = run(["tracer", "dose", "fdg", "--json"], capsys)
    reference = {r["region"]: r for r in json.loads(out)["rows"]}
    assert reference["brain"]["mass_g"] == 1450  # ICRP 89 male
    assert reference["brain"]["mgy_per_mbq"] > rows["brain"]["mgy_per_mbq"]  # lighter organ, higher dose


@pytest.mark.parametrize("text,problem", [
    ("base: fdg\nsources: {s: 5}\n", "sources.s: must be a mapping"),
    ("base: fdg\nsources: [icrp128-quoted]\n", "sources: must be a mapping"),
    ("base: fdg\nregions: {brain: {structures: brain}}\n", "regions.brain.structures: must be a list"),
    ("base: fdg\nnuclide: 18\n", "nuclide: must be a nuclide such as F-18, got the number 18"),
    ("base: fdg\npublished: [{quantity: TIAC, region: brain, value: [0.2]}]\n", "published[0].value"),
])
def test_show_of_a_wrong_typed_tracer_file_prints_only_the_error(tmp_path, capsys, text, problem):
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    for args in (["tracer", "show", str(path)], ["tracer", "show", str(path), "--json"]):
        code, out, err = run(args, capsys)
        assert code == 2 and out == ""
        assert err.startswith(f"arkit: {path}: {problem}"), err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_a_real_process_refuses_a_wrong_typed_tracer_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("base: fdg\nsources: {s: 5}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "arkit_py.cli", "tracer", "show", str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"arkit: {path}: sources.s: must be a mapping")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr

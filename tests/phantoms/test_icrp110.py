"""The ICRP 110 importer on small phantoms written in both layouts (Geant4's slices, ICRP's
own files): what is read is what was written, in the right frame, with ICRP's composites,
sides, walls and densities; bad input refused in one line. The real phantoms are ICRP's and
never used here."""

from __future__ import annotations

import numpy as np
import pytest

from arkit_py.errors import InputError
from arkit_py.phantoms import icrp110
from arkit_py.phantoms.icrp110 import Grid, import_icrp110
from arkit_py.sources.load import load_segmentation

ORGANS = {  # ID: (name as ICRP writes it, medium, density)
    41: ("Pelvis, cortical", 2, 1.920), 47: ("Cervical spine, cortical", 2, 1.920), 72: ("Stomach wall", 36, 1.040),
    73: ("Stomach contents", 51, 1.040), 89: ("Kidney, left, cortex", 35, 1.050), 90: ("Kidney, left, medulla", 35, 1.050),
    92: ("Kidney, right, cortex", 35, 1.050), 95: ("Liver", 30, 1.050), 97: ("Lung, left, tissue", 50, 0.382),
    117: ("Residual tissue, trunk", 49, 0.950), 123: ("Skin, trunk", 27, 1.090), 127: ("Spleen", 39, 1.040),
}
GRIDS = {"male": Grid("AM", (14, 9, 11), (2.0, 3.0, 8.0)), "female": Grid("AF", (12, 8, 10), (1.5, 1.7, 4.0))}


def phantom(shape) -> np.ndarray:
    """(columns, rows, slices) organ IDs: columns run to the patient's left, rows to the back,
    slices up. Liver on the right (low columns), spleen on the left, a spine in the middle
    at the back, the pelvis across both sides at the bottom, skin caps top and bottom."""
    nx, ny, nz = shape
    ids = np.zeros(shape, np.int64)
    ids[1:-1, 1:-1, 1:-1] = 117
    ids[1:-1, 1, 1:-1] = 123  # skin at the front
    mid = nx // 2
    ids[2:mid - 1, 2:5, 5:8] = 95  # liver, patient's right
    ids[mid + 2:nx - 2, 4:6, 6:8] = 127  # spleen, patient's left, further back
    ids[mid - 1:mid + 1, ny - 3:ny - 1, 2:nz - 1] = 47  # spine at the back
    ids[2:nx - 2, 3:6, 1:3] = 41  # pelvis, both sides
    ids[mid + 1:mid + 3, 2:4, 3:5] = 72  # stomach wall around its contents
    ids[mid + 1, 2, 3] = 73
    ids[mid + 3, 5:7, 3:5] = 89  # left kidney: cortex and medulla
    ids[mid + 3, 5, 4] = 90
    ids[1, 5:7, 3:5] = 92  # right kidney
    ids[mid + 4, 2:4, 8:10] = 97  # left lung
    ids[:, :, 0] = np.where(ids[:, :, 0] > 0, 141, 0)
    ids[1:-1, 1:-1, 0] = 141
    ids[1:-1, 1:-1, -1] = 141
    return ids


def write_organs(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Organs and tissues of a test phantom", "", "Organ Organ           Tissue Density", "ID               number"]
    lines += [f"{i:<6}{name:<48}{medium:>3}    {rho:.3f}" for i, (name, medium, rho) in sorted(ORGANS.items())]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))


def write_geant4(root, code, ids):
    nx, ny, nz = ids.shape
    folder = root / "ICRPdata" / "ICRP110_g4dat" / code
    folder.mkdir(parents=True)
    for k in range(nz):
        values = ids[:, :, k].T.ravel()  # columns fastest, then rows
        body = "\n".join(" ".join(map(str, values[i:i + 5])) for i in range(0, len(values), 5))
        (folder / f"{code}_slice{k + 1}.g4dat").write_text(f"{nx}\n{ny}\n{nz}\n{body}\n")
    write_organs(root / "ICRPdata" / "ICRP110_g4dat" / "P110_data_V1.2" / code / f"{code}_organs.dat")


def write_icrp(root, code, ids):
    values = ids.transpose(2, 1, 0).ravel()  # slices slowest, then rows, columns fastest
    lines = [" ".join(f"{v:4d}" for v in values[i:i + 16]) for i in range(0, len(values), 16)]
    (root / code).mkdir(parents=True)
    (root / code / f"{code}.dat").write_text("\n".join(lines) + "\n")
    write_organs(root / code / f"{code}_organs.dat")


@pytest.fixture()
def imported(tmp_path, monkeypatch):
    male, female = phantom(GRIDS["male"].shape), phantom(GRIDS["female"].shape)
    write_geant4(tmp_path / "g4", "AM", male)
    write_icrp(tmp_path / "g4", "AF", female)  # one of each layout below one folder
    data = tmp_path / "data"
    monkeypatch.setenv("ARKIT_DATA_DIR", str(data))
    done = import_icrp110(tmp_path / "g4", grids=GRIDS)
    return done, {"male": male, "female": female}, data


def test_both_layouts_read_back_exactly(imported):
    done, ids, data = imported
    assert set(done) == {"male", "female"}
    assert done["male"]["read"].startswith("Geant4") and done["female"]["read"].startswith("ICRP")
    for sex in ("male", "female"):
        with np.load(icrp110.stored_path(sex)) as stored:
            assert np.array_equal(stored["ids"], ids[sex])  # (columns, rows, slices), every ID
            assert tuple(stored["voxel_mm"]) == GRIDS[sex].voxel_mm
        assert done[sex]["stored"].startswith(str(data))
    assert not list((data / "phantoms").glob(".tmp-*"))


def test_the_frame_is_ras_and_sides_are_the_patients(imported):
    _, ids, _ = imported
    seg = load_segmentation("phantom:icrp110-male?slices=1")  # ICRP's own voxels
    labels, affine = seg.layers[0], seg.affine
    assert np.allclose(np.abs(np.diag(affine)[:3]), GRIDS["male"].voxel_mm)
    name = {s.structure.name: k for k, s in seg.segments.items()}

    def centre(structure):
        where = np.argwhere(labels == name[structure])
        return (where @ affine[:3, :3].T + affine[:3, 3]).mean(axis=0)

    # RAS: +x to the patient's right, +y to the front, +z up
    assert centre("liver")[0] > 0 > centre("spleen")[0]
    assert centre("hip_right")[0] > 0 > centre("hip_left")[0]  # the pelvis split at the midline
    assert centre("kidney_right")[0] > 0 > centre("kidney_left")[0]
    assert centre("liver")[1] > centre("spine")[1]  # the spine at the back
    assert centre("lung_left")[2] > centre("liver")[2] > centre("hip_left")[2]
    assert seg.segments[seg.body_label].structure.name == "body"
    counts = seg.voxel_counts()
    male = ids["male"]
    assert counts[name["kidney_left"]] == np.isin(male, (89, 90)).sum()  # cortex + medulla
    assert counts[name["stomach"]] == np.isin(male, (72, 73)).sum()  # contents with the wall
    assert counts[name["hip_left"]] + counts[name["hip_right"]] == (male == 41).sum()
    body_ids = (117, 123, 141)
    assert counts[seg.body_label] == np.isin(male, body_ids).sum()
    assert sum(counts.values()) == (male > 0).sum()


def test_thick_slices_are_split_keeping_place_and_volume(imported):
    """By default the male's 8 mm slices (3 mm pixels here) become three by shape-based
    interpolation (tests/sources/test_slices.py): same extent, same organs in the same
    places, every structure's volume within a few per cent."""
    _, ids, _ = imported
    exact = load_segmentation("phantom:icrp110-male?slices=1")
    split = load_segmentation("phantom:icrp110-male")
    assert split.layers[0].shape == (14, 9, 33)
    assert np.allclose(np.diag(split.affine)[:3], np.diag(exact.affine)[:3] / [1, 1, 3])

    def extent(seg):
        corners = np.array([[0, 0, 0], [s - 1 for s in seg.layers[0].shape]])
        z = corners @ seg.affine[:3, :3].T + seg.affine[:3, 3]
        d = np.abs(np.diag(seg.affine)[:3])
        return np.sort(z[:, 2]) + [-d[2] / 2, d[2] / 2]

    assert np.allclose(extent(split), extent(exact))
    name = {s.structure.name: k for k, s in exact.segments.items()}
    assert {s.structure.name for s in split.segments.values()} == set(name)
    before, after = exact.voxel_counts(), split.voxel_counts()
    for structure, label in name.items():
        volume = after[label] * abs(np.linalg.det(split.affine[:3, :3]))
        assert volume == pytest.approx(before[label] * abs(np.linalg.det(exact.affine[:3, :3])), rel=0.35), structure
    assert sum(after.values()) == pytest.approx(3 * sum(before.values()), rel=0.02)
    with pytest.raises(InputError, match="slices=1"):
        load_segmentation("phantom:icrp110-male?slices=9")


def test_walls_keep_the_contents_apart(imported):
    _, ids, _ = imported
    seg = load_segmentation("phantom:icrp110-female?walls=1&slices=1")
    name = {s.structure.name: k for k, s in seg.segments.items()}
    counts = seg.voxel_counts()
    assert counts[name["stomach_contents"]] == (ids["female"] == 73).sum()
    assert counts[name["stomach"]] == (ids["female"] == 72).sum()


def test_masses_use_icrps_densities(imported):
    done, ids, _ = imported
    ml = np.prod(GRIDS["male"].voxel_mm) / 1000.0
    masses = done["male"]["masses_g"]
    assert masses["liver"] == pytest.approx((ids["male"] == 95).sum() * ml * 1.050, abs=0.1)
    assert masses["lung_left"] == pytest.approx((ids["male"] == 97).sum() * ml * 0.382, abs=0.1)


def test_masses_far_from_the_reference_are_refused(tmp_path):
    write_geant4(tmp_path, "AM", phantom(GRIDS["male"].shape))
    with pytest.raises(InputError, match=r"liver: \d+ g from the voxels and densities, ICRP 89 gives 1800 g"):
        import_icrp110(tmp_path, data_dir=tmp_path / "data", grids={"male": GRIDS["male"]},
                       reference_g={"male": {"liver": 1800.0}})
    assert not (tmp_path / "data" / "phantoms" / "icrp110-male.npz").exists()


@pytest.mark.parametrize("damage, message", [
    ("unknown", "organ IDs not in the organ table: 99"),
    ("header", "the header says 13 x 9 voxels"),
    ("short", "expected 129 organ IDs"),
    ("no-organs", "not AM_organs.dat"),
])
def test_bad_files_are_refused_in_one_line(tmp_path, damage, message):
    ids = phantom(GRIDS["male"].shape)
    if damage == "unknown":
        ids[3, 3, 3] = 99
    write_geant4(tmp_path, "AM", ids)
    folder = tmp_path / "ICRPdata" / "ICRP110_g4dat" / "AM"
    first = folder / "AM_slice2.g4dat"
    if damage == "header":
        first.write_text(first.read_text().replace("14\n", "13\n", 1))
    if damage == "short":
        first.write_text(first.read_text().rsplit("\n", 2)[0] + "\n")
    if damage == "no-organs":
        (tmp_path / "ICRPdata" / "ICRP110_g4dat" / "P110_data_V1.2" / "AM" / "AM_organs.dat").unlink()
    with pytest.raises(InputError) as info:
        import_icrp110(tmp_path, data_dir=tmp_path / "data", grids={"male": GRIDS["male"]})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_without_an_import_the_error_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("ARKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(InputError, match="arkit phantom import icrp110 PATH"):
        load_segmentation("phantom:icrp110-female")
    with pytest.raises(InputError, match="phantom:icrp110-male and phantom:icrp110-female"):
        load_segmentation("phantom:icrp110-child")


def test_the_cli_imports_and_reports_where(tmp_path, monkeypatch, capsys):
    from arkit_py.cli import main

    monkeypatch.setattr(icrp110, "GRIDS", GRIDS)
    monkeypatch.setattr(icrp110, "MASS_CHECK", ())  # a small phantom has no ICRP 89 masses
    write_icrp(tmp_path / "copy", "AM", phantom(GRIDS["male"].shape))
    assert main(["phantom", "import", "icrp110", str(tmp_path / "copy"), "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "phantom:icrp110-male: 14 x 9 x 11 voxels of 2 x 3 x 8 mm" in out and str(tmp_path / "data") in out
    assert main(["phantom", "import", "icrp110", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_teaching_dosimetry_uses_the_phantoms_voxels_densities_and_sex(imported, capsys):
    import json

    from arkit_py.cli import main

    _, ids, _ = imported
    assert main(["tracer", "dose", "fdg", "--phantom", "phantom:icrp110-female", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sex"] == "female"
    rows = {r["region"]: r for r in report["rows"]}
    ml = np.prod(GRIDS["female"].voxel_mm) / 1000.0
    assert rows["liver"]["mass_g"] == pytest.approx((ids["female"] == 95).sum() * ml * 1.050, rel=1e-3)
    assert rows["lungs"]["mass_g"] == pytest.approx((ids["female"] == 97).sum() * ml * 0.382, rel=1e-3)
    assert main(["tracer", "dose", "fdg", "--phantom", "label.nii.gz"]) == 2

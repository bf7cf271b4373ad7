"""Bundles: deterministic builds, the hologram cache, signatures, and hostile bundles."""

from __future__ import annotations

import json
import os
import stat
import zipfile

import pytest

from arkit_py.cli import main
from arkit_py.errors import LessonError
from arkit_py.lesson.bundle import build_lesson, build_lessons, extract_bundle, read_bundle, sha256, sign_bundle
from arkit_py.lesson.signing import generate_key, read_trusted_keys
from tests.lesson.conftest import template_text, write_lesson


def test_build_is_byte_identical_and_cached(small_bundle, tmp_path, hologram_cache):
    folder, bundle = small_bundle
    again = build_lesson(folder, tmp_path / "again", cache_dir=hologram_cache)
    assert again.bundle.read_bytes() == bundle.read_bytes()
    assert again.built == [] and again.cached == ["body"]
    fresh = build_lesson(folder, tmp_path / "fresh", cache_dir=tmp_path / "cold")
    assert fresh.built == ["body"] and fresh.bundle.read_bytes() == bundle.read_bytes()


def test_a_narration_edit_rebuilds_no_hologram(small_bundle, tmp_path, hologram_cache):
    folder, bundle = small_bundle
    edited = write_lesson(tmp_path, template_text().replace("Turn it around", "Now turn it around"))
    result = build_lesson(edited, tmp_path / "dist", cache_dir=hologram_cache)
    assert result.built == [] and result.cached == ["body"]
    before, after = read_bundle(bundle), read_bundle(result.bundle)
    assert {k for k in before.files if k.startswith("assets/")} == {k for k in after.files if k.startswith("assets/")}
    assert before.files["lesson.json"] != after.files["lesson.json"]


def test_inspect_agrees_with_build(small_bundle, capsys):
    _, bundle = small_bundle
    b = read_bundle(bundle)
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
    assert names[:2] == ["lesson.json", "manifest.json"]
    assert sorted(names) == sorted(["manifest.json", *[f["path"] for f in b.manifest["files"]]])
    for f in b.manifest["files"]:
        assert sha256(b.files[f["path"]]) == f["sha256"] and len(b.files[f["path"]]) == f["size"]
    glb = b.lesson["holograms"]["body"]["assets"]["glb"]
    assert glb["type"] == "model/gltf-binary" and glb["path"] == f"assets/{glb['sha256']}.glb"
    assert "usdz" not in b.lesson["holograms"]["body"]["assets"] and b.lesson["holograms"]["body"]["usdz"] is False
    assert b.lesson["thumbnail"]["type"] == "image/png" and b.files[b.lesson["thumbnail"]["path"]][:4] == b"\x89PNG"
    assert "kidney_left" in b.lesson["holograms"]["body"]["structures"]
    assert main(["lesson", "inspect", str(bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"] == b.manifest["files"] and report["quizzes"] == ["find-left-kidney"]
    assert report["signed_by"] is None and report["checks"] == "ok"


def test_a_structure_missing_from_the_hologram_fails_the_build(tmp_path, hologram_cache):
    text = template_text().replace("    profile: phone\n", "    profile: phone\n    structures: [liver, body]\n")
    folder = write_lesson(tmp_path, text)
    with pytest.raises(LessonError, match=r"'kidney_left' is not in hologram 'body'"):
        build_lesson(folder, tmp_path / "dist", cache_dir=hologram_cache)
    assert not (tmp_path / "dist" / "demo.arlesson").exists()


def test_a_hologram_can_take_whole_systems(tmp_path, hologram_cache):
    """``structures: [system:urinary, ...]`` passes validate, so it must build: the system's
    structures are in, the others (the digestive organs but the liver) are not."""
    text = template_text().replace("    profile: phone\n",
                                   '    profile: phone\n    structures: ["system:urinary", liver, body]\n')
    text = text.replace('visible: ["system:digestive", "system:urinary", body]', 'visible: ["system:urinary", liver, body]')
    folder = write_lesson(tmp_path, text)
    result = build_lesson(folder, tmp_path / "dist", cache_dir=hologram_cache)
    names = set(result.lesson["holograms"]["body"]["structures"])
    assert {"kidney_left", "kidney_right", "urinary_bladder", "liver", "body"} <= names
    assert "stomach" not in names and "spleen" not in names


# -- signatures ----------------------------------------------------------------------------


def test_sign_and_verify(small_bundle, tmp_path):
    _, bundle = small_bundle
    copy = tmp_path / "signed.arlesson"
    copy.write_bytes(bundle.read_bytes())
    key, pub, key_id = generate_key(tmp_path / "key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    signature = sign_bundle(copy, key)
    assert signature["key_id"] == key_id
    b = read_bundle(copy, require_signature=True, trusted_keys=read_trusted_keys(pub))
    assert b.signed_by == key_id
    # another key is not trusted
    _, other_pub, _ = generate_key(tmp_path / "other")
    with pytest.raises(LessonError, match="not among the trusted keys"):
        read_bundle(copy, require_signature=True, trusted_keys=read_trusted_keys(other_pub))
    with pytest.raises(LessonError, match="not signed"):
        read_bundle(bundle, require_signature=True)
    with pytest.raises(Exception, match="already exists"):
        generate_key(tmp_path / "key")


# -- hostile bundles -------------------------------------------------------------------------


def _entries(bundle):
    with zipfile.ZipFile(bundle) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def _zip(path, entries, *, mode=None, deflate=()):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (mode.get(name, stat.S_IFREG | 0o644) if mode else stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED
            zf.writestr(info, data)
    return path


def _manifest(files: dict[str, bytes], version=1) -> bytes:
    return json.dumps({"schema_version": version, "files": [
        {"path": p, "sha256": sha256(b), "size": len(b)} for p, b in sorted(files.items())]}).encode()


def _hostile(small_bundle, tmp_path, kind):
    _, bundle = small_bundle
    entries = dict(_entries(bundle))
    files = {k: v for k, v in entries.items() if k != "manifest.json"}
    path = tmp_path / f"{kind}.arlesson"
    if kind == "zip_slip":
        files["../evil.txt"] = b"pwned"
        return _zip(path, [("manifest.json", _manifest(files)), *files.items()])
    if kind == "absolute_path":
        files["/tmp/evil.txt"] = b"pwned"
        return _zip(path, [("manifest.json", entries["manifest.json"]), *files.items()])
    if kind == "symlink":
        return _zip(path, [("manifest.json", entries["manifest.json"]), *files.items(), ("assets/link", b"/etc/passwd")],
                    mode={"assets/link": stat.S_IFLNK | 0o777})
    if kind == "zip_bomb":
        bomb = b"\0" * (60 * 1024 * 1024)
        lesson = entries["lesson.json"]
        # the manifest claims the true size: the ratio check (while streaming) stops it
        files = {**files, "lesson.json": lesson + bomb}
        return _zip(path, [("manifest.json", _manifest(files)), *files.items()], deflate={"lesson.json"})
    if kind == "size_lie":
        bomb = b"\0" * (8 * 1024 * 1024)
        manifest = json.loads(entries["manifest.json"])
        for f in manifest["files"]:
            if f["path"] == "lesson.json":
                f["size"] = len(entries["lesson.json"])
        files["lesson.json"] = entries["lesson.json"] + bomb
        return _zip(path, [("manifest.json", json.dumps(manifest).encode()), *files.items()])
    if kind == "hash_mismatch":
        glb = next(k for k in files if k.endswith(".glb"))
        data = bytearray(files[glb])
        data[100] ^= 0xFF
        files[glb] = bytes(data)
        return _zip(path, [("manifest.json", entries["manifest.json"]), *files.items()])
    if kind == "missing_manifest":
        return _zip(path, list(files.items()))
    if kind == "unlisted_file":
        return _zip(path, [("manifest.json", entries["manifest.json"]), *files.items(), ("notes.txt", b"hello")])
    if kind == "unknown_schema_version":
        return _zip(path, [("manifest.json", _manifest(files, version=99)), *files.items()])
    if kind == "unknown_lesson_version":
        lesson = json.loads(files["lesson.json"])
        lesson["schema_version"] = 2
        files["lesson.json"] = json.dumps(lesson).encode()
        return _zip(path, [("manifest.json", _manifest(files)), *files.items()])
    if kind == "bad_signature":
        key, _, _ = generate_key(tmp_path / "k")
        signed = tmp_path / "signed.arlesson"
        signed.write_bytes(bundle.read_bytes())
        sign_bundle(signed, key)
        entries = dict(_entries(signed))
        manifest = json.loads(entries["manifest.json"])
        manifest["files"] = manifest["files"][:]  # same content, other bytes: the signature no longer matches
        entries["manifest.json"] = json.dumps(manifest).encode()
        return _zip(path, list(entries.items()))
    if kind == "not_a_zip":
        path.write_bytes(b"PK\x03\x04 this is not a zip")
        return path
    raise AssertionError(kind)


@pytest.mark.parametrize("kind,problem", [
    ("zip_slip", "leaves the bundle"),
    ("absolute_path", "an absolute path"),
    ("symlink", "a link"),
    ("zip_bomb", "suspicious compression ratio"),
    ("size_lie", "larger than the manifest says"),
    ("hash_mismatch", "SHA-256 does not match"),
    ("missing_manifest", "no manifest.json"),
    ("unlisted_file", "not in the manifest"),
    ("unknown_schema_version", "unknown schema version 99"),
    ("unknown_lesson_version", "unknown schema version 2 in lesson.json"),
    ("bad_signature", "bad signature"),
    ("not_a_zip", "not a zip"),
])
def test_hostile_bundles_are_refused_and_nothing_is_written(small_bundle, tmp_path, capsys, kind, problem):
    path = _hostile(small_bundle, tmp_path, kind)
    before = set(tmp_path.parent.rglob("*"))
    with pytest.raises(LessonError) as info:
        bundle = read_bundle(path)
        extract_bundle(bundle, tmp_path / "out")
    assert problem in str(info.value) and str(info.value).startswith(str(path)), str(info.value)
    code = main(["lesson", "inspect", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and problem in err and err.count("\n") == 1
    assert set(tmp_path.parent.rglob("*")) == before  # nothing written, inside or outside
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_extract_writes_only_inside_the_target(small_bundle, tmp_path):
    _, bundle = small_bundle
    b = read_bundle(bundle)
    out = extract_bundle(b, tmp_path / "lesson")
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(["manifest.json", *b.files])
    assert sorted(os.listdir(tmp_path)) == ["lesson"]
    with pytest.raises(LessonError, match="already exists"):
        extract_bundle(b, tmp_path / "lesson")


def test_cli_new_validate_build(tmp_path, capsys, monkeypatch, hologram_cache):
    monkeypatch.chdir(tmp_path)
    assert main(["lesson", "new", "my-lesson"]) == 0
    assert main(["lesson", "new", "my-lesson"]) == 2  # exists
    assert main(["lesson", "new", "My Lesson"]) == 2
    assert main(["lesson", "validate", "lessons/my-lesson"]) == 0
    out = capsys.readouterr().out
    assert "ok (2 steps, 1 quizzes" in out
    # the scaffold builds as it is (the full phantom, with its USDZ and thumbnail)
    assert main(["lesson", "build", "lessons/my-lesson", "-o", "dist", "--cache", str(hologram_cache), "--quiet"]) == 0
    b = read_bundle(tmp_path / "dist" / "my-lesson.arlesson")
    assert set(b.lesson["holograms"]["body"]["assets"]) == {"glb", "usdz"}
    (tmp_path / "dist" / "my-lesson.arlesson").unlink()
    text = (tmp_path / "lessons/my-lesson/lesson.yaml").read_text()
    (tmp_path / "lessons/my-lesson/lesson.yaml").write_text(text.replace("structure: liver", "structure: livr"))
    assert main(["lesson", "validate", "lessons/my-lesson"]) == 2
    err = capsys.readouterr().err
    assert "lessons/my-lesson/lesson.yaml:" in err and "did you mean 'liver'?" in err and err.count("\n") == 1
    assert main(["lesson", "build", "lessons/my-lesson", "-o", "dist", "--cache", str(hologram_cache)]) == 2
    assert not (tmp_path / "dist" / "my-lesson.arlesson").exists()


def test_a_tracer_hologram_entry_carries_its_tracer_facts(small_bundle, tmp_path, hologram_cache):
    """lesson.json gains ``tracer_facts`` (the GLB's scene.extras.arkit.tracer, with the
    ICRP-107 half-life) beside the ``tracer`` that mirrors lesson.yaml."""
    import radioactivedecay as rd

    from arkit_py.scene.gltf import read_glb

    text = template_text().replace("    usdz: false\n", "    usdz: false\n    tracer: fdg\n    until: 60 min\n")
    result = build_lesson(write_lesson(tmp_path, text), tmp_path / "dist", cache_dir=hologram_cache)
    b = read_bundle(result.bundle)
    h = b.lesson["holograms"]["body"]
    assert h["tracer"] == "fdg"
    gltf, _ = read_glb(b.files[h["assets"]["glb"]["path"]])
    assert h["tracer_facts"] == gltf["scenes"][0]["extras"]["arkit"]["tracer"]
    assert set(h["tracer_facts"]) == {"tracer", "nuclide", "half_life_s", "activity_bq"}
    assert h["tracer_facts"]["nuclide"] == "F-18"
    assert h["tracer_facts"]["half_life_s"] == float(rd.Nuclide("F-18").half_life("s"))
    # a hologram without a tracer has none
    assert "tracer_facts" not in read_bundle(small_bundle[1]).lesson["holograms"]["body"]


def test_input_file_names_never_enter_the_bundle(tmp_path, hologram_cache):
    import nibabel as nib
    import numpy as np

    folder = tmp_path / "demo"
    folder.mkdir()
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[5:15, 5:15, 5:15] = 1
    nib.save(nib.Nifti1Image(labels, np.diag([4.0, 4.0, 4.0, 1.0])), folder / "patient-jane-doe-1970.nii.gz")
    (folder / "patient-jane-doe-labels.csv").write_text("label,name\n1,liver\n")
    text = template_text().replace("source: phantom:mird-adult?voxel=8\n",
                                   "source: patient-jane-doe-1970.nii.gz\n    labels: patient-jane-doe-labels.csv\n")
    text = text.replace('visible: ["system:digestive", "system:urinary", body]', "visible: [liver]")
    text = text.replace("    translucent: [body]\n", "")
    text = text.replace("highlighted: [kidney_left, kidney_right]", "highlighted: [liver]")
    text = text.replace("answer: [kidney_left]", "answer: [liver]")
    (folder / "lesson.yaml").write_text(text)
    result = build_lesson(folder, tmp_path / "dist", cache_dir=hologram_cache)
    data = result.bundle.read_bytes()
    assert b"jane" not in data.lower() and b"patient" not in data.lower()
    assert result.lesson["holograms"]["body"]["source"] == "label map"


def test_lessons_built_in_parallel_are_the_bytes_built_one_by_one(tmp_path):
    """build_lessons builds the holograms two lessons need in two processes (a hologram the
    two share, once) and writes the same bundles as build_lesson does alone, cache off."""
    shared = template_text()
    other = template_text("other").replace("?voxel=8\n", "?voxel=10\n")
    third = template_text("third")  # the same hologram as the first lesson: built once
    folders = [write_lesson(tmp_path / "src", text, lesson_id) for text, lesson_id in
               ((shared, "demo"), (other, "other"), (third, "third"))]
    progress = []
    results = build_lessons(folders, tmp_path / "parallel", cache_dir=tmp_path / "cache", jobs=2,
                            progress=progress.append)
    assert len([m for m in progress if m.endswith("hologram body built")]) == 2
    assert [r.built for r in results] == [["body"], ["body"], ["body"]]  # built by the workers, not found cached
    assert len([p for p in (tmp_path / "cache").iterdir() if p.name != "meshes"]) == 2
    assert len(list((tmp_path / "cache" / "meshes").iterdir())) == 2  # the two bodies' meshes
    for folder, result in zip(folders, results):
        alone = build_lesson(folder, tmp_path / "alone", cache_dir=tmp_path / "alone-cache")  # in this process
        assert result.bundle.read_bytes() == alone.bundle.read_bytes()
    again = build_lessons(folders, tmp_path / "again", cache_dir=tmp_path / "cache", jobs=2)
    assert [r.built for r in again] == [[], [], []]


def test_a_hologram_that_fails_in_a_worker_reports_its_lesson_field(tmp_path):
    """The male phantom has no ovaries: the worker's build fails, and the lesson's own build
    then reports the error at its field, as build_lesson does."""
    good = write_lesson(tmp_path, template_text("good").replace("?voxel=8\n", "?voxel=10\n"), "good")
    bad = write_lesson(tmp_path, template_text("bad").replace("    profile: phone\n",
                                                              "    profile: phone\n    structures: [body, ovaries]\n"),
                       "bad")
    with pytest.raises(LessonError, match=r"holograms\.body.*ovaries"):
        build_lessons([good, bad], tmp_path / "dist", cache_dir=tmp_path / "cache", jobs=2)
    assert not (tmp_path / "dist" / "bad.arlesson").exists()

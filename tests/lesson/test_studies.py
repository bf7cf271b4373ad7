"""A lesson on a real study: TotalSegmentator's CT and its 61-label segmentation next to the
lesson, the body outline from the CT; the bundle carries holograms, never the study's files
or their names."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from arkit_py.lesson.bundle import build_lesson
from tests.helpers import lesson_yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "totalsegmentator"

LESSON = lesson_yaml("real-abdomen", "A real abdomen", "Organs of a real CT.", """
holograms:
  abdomen: {source: patient-0042-seg.nii.gz, labels: totalsegmentator, ct: patient-0042-ct.nii.gz, usdz: false}
steps:
  - title: The liver
    narration: The liver, on a real CT.
    visible: [liver, body]
    quiz: {id: find-spleen, kind: identify, prompt: Tap the spleen., answer: [spleen]}
""")


def test_a_lesson_on_a_real_ct_with_its_body_outline(tmp_path):
    folder = tmp_path / "real-abdomen"
    folder.mkdir()
    (folder / "lesson.yaml").write_text(LESSON)
    shutil.copy(DATA / "example_seg_fast_force_split.nii.gz", folder / "patient-0042-seg.nii.gz")
    shutil.copy(DATA / "example_ct.nii.gz", folder / "patient-0042-ct.nii.gz")
    result = build_lesson(folder, tmp_path / "dist", cache_dir=tmp_path / "cache")
    hologram = result.lesson["holograms"]["abdomen"]
    assert {"body", "liver", "spleen", "aorta"} <= set(hologram["structures"])
    assert hologram["source"] == "label map" and hologram["ct"] == "CT"
    with zipfile.ZipFile(result.bundle) as zf:
        blob = b"".join(zf.read(n) for n in zf.namelist())
    assert b"patient-0042" not in blob and b"nii.gz" not in blob
    assert json.loads(zipfile.ZipFile(result.bundle).read("lesson.json"))["id"] == "real-abdomen"

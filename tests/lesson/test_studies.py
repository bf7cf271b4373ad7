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


def test_a_lesson_hologram_coloured_by_a_pet_beside_it(tmp_path):
    """tracer: names a dynamic PET (NIfTI + PET-BIDS sidecar) next to lesson.yaml: the
    hologram takes its uptake from the PET; the bundle calls it 'PET', never by its name."""
    import nibabel as nib
    import numpy as np

    from arkit_py.sources.load import load_segmentation

    folder = tmp_path / "real-pet"
    folder.mkdir()
    shutil.copy(DATA / "example_seg_fast_force_split.nii.gz", folder / "seg.nii.gz")
    seg = load_segmentation(str(folder / "seg.nii.gz"), labels="totalsegmentator")
    liver = [label for label, s in seg.segments.items() if s.structure.name == "liver"][0]
    frames = np.full((*seg.shape, 3), 2000.0, np.float32)  # Bq/mL
    frames[seg.layers[0] == liver] = np.array([8000.0, 12000.0, 9000.0], np.float32)
    nib.save(nib.Nifti1Image(frames, seg.affine), folder / "scan-0042.nii.gz")
    (folder / "scan-0042.json").write_text(json.dumps({
        "TimeZero": "10:00:00", "InjectionStart": 0, "ScanStart": 0, "FrameTimesStart": [0, 600, 1800],
        "FrameDuration": [600, 1200, 1800], "Units": "Bq/mL", "ImageDecayCorrected": True,
        "ImageDecayCorrectionTime": 0, "TracerRadionuclide": "F18", "InjectedRadioactivity": 370,
        "InjectedRadioactivityUnits": "MBq"}))
    (folder / "lesson.yaml").write_text(lesson_yaml("real-pet", "A real PET", "Uptake from a scan.", """
holograms:
  pet: {source: seg.nii.gz, labels: totalsegmentator, tracer: scan-0042.nii.gz, usdz: false}
steps:
  - title: The liver takes it up
    narration: Watch the liver.
    time: {start: 0 min, end: 60 min, play: true}
"""))
    result = build_lesson(folder, tmp_path / "dist", cache_dir=tmp_path / "cache")
    hologram = result.lesson["holograms"]["pet"]
    assert hologram["tracer"] == "PET" and hologram["legend"]["real_s"] > 0
    with zipfile.ZipFile(result.bundle) as zf:
        blob = b"".join(zf.read(n) for n in zf.namelist())
    assert b"scan-0042" not in blob

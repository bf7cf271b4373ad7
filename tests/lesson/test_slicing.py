"""The slice plane as a lesson step and a control action give it: the canonical form, the
refusals, a lesson's check that its hologram has a CT or PET, and the slice reaching every
student in the live state."""

from __future__ import annotations

import math

import pytest

from arkit_py.errors import LessonError
from arkit_py.lesson.slicing import SliceError, normalise_slice
from arkit_py.lesson.source import load_lesson_text
from tests.helpers import lesson_yaml


def test_standard_and_free_planes_have_one_canonical_form():
    assert normalise_slice({"axis": "axial", "at_mm": -120}) == {"axis": "axial", "at_mm": -120.0, "blend": 0.5,
                                                                 "ct_window": "soft_tissue"}
    free = normalise_slice({"normal": [0, 3, 4], "point": [10, -20, 30.5], "blend": 1, "ct_window": "lung"})
    assert free == {"normal": [0.0, 0.6, 0.8], "point": [10.0, -20.0, 30.5], "blend": 1.0, "ct_window": "lung"}
    assert math.isclose(sum(v * v for v in free["normal"]), 1.0)


@pytest.mark.parametrize("bad, field", [
    ({"axis": "oblique", "at_mm": 0}, "axis"),
    ({"axis": "axial"}, "at_mm"),
    ({"axis": "axial", "at_mm": float("nan")}, "at_mm"),
    ({"axis": "axial", "at_mm": 1e9}, "at_mm"),
    ({"axis": "axial", "at_mm": 0, "normal": [0, 0, 1], "point": [0, 0, 0]}, "normal"),
    ({"normal": [0, 0, 0], "point": [0, 0, 0]}, "normal"),
    ({"normal": [0, 1], "point": [0, 0, 0]}, "normal"),
    ({"normal": [0, 0, 1], "point": [0, "x", 0]}, "point[1]"),
    ({"axis": "axial", "at_mm": 0, "blend": 1.5}, "blend"),
    ({"axis": "axial", "at_mm": 0, "blend": True}, "blend"),
    ({"axis": "axial", "at_mm": 0, "ct_window": "brain"}, "ct_window"),
    ({"axis": "axial", "at_mm": 0, "thickness": 3}, "thickness"),
    ({}, None),
    ([1, 2], None),
])
def test_a_bad_slice_names_its_field(bad, field):
    with pytest.raises(SliceError) as caught:
        normalise_slice(bad)
    assert caught.value.field == field


def lesson(holograms: str, slice_: str) -> str:
    return lesson_yaml("sliced", "Sliced", "A slice.", f"""
holograms:
{holograms}
steps:
  - title: One
    narration: A slice.
    slice: {slice_}
""")


def test_a_step_slices_a_hologram_with_a_ct_or_pet(tmp_path):
    folder = tmp_path / "sliced"
    folder.mkdir()
    src = load_lesson_text(folder, lesson('  body: {source: "phantom:mird-adult?voxel=8", tracer: fdg, pet: synthetic, '
                                          'ct: synthetic}', "{axis: coronal, at_mm: 12.5, blend: 0.25}"))
    step = src.normalised["steps"][0]
    assert step["slice"] == {"axis": "coronal", "at_mm": 12.5, "blend": 0.25, "ct_window": "soft_tissue"}
    assert src.normalised["holograms"]["body"]["pet"] == "synthetic"
    with pytest.raises(LessonError) as caught:  # nothing to slice
        load_lesson_text(folder, lesson('  body: {source: "phantom:mird-adult?voxel=8"}', "{axis: axial, at_mm: 0}"))
    assert caught.value.field == "steps[0].slice" and "ct: or pet:" in caught.value.problem
    with pytest.raises(LessonError) as caught:  # a synthetic PET needs the tracer it comes from
        load_lesson_text(folder, lesson('  body: {source: "phantom:mird-adult?voxel=8", pet: synthetic}',
                                        "{axis: axial, at_mm: 0}"))
    assert caught.value.field == "holograms.body.pet"
    with pytest.raises(LessonError) as caught:
        load_lesson_text(folder, lesson('  body: {source: "phantom:mird-adult?voxel=8", ct: synthetic}',
                                        "{axis: axial, at_mm: 0, normal: [0, 0, 1], point: [0, 0, 0]}"))
    assert caught.value.field == "steps[0].slice.normal"
    with pytest.raises(LessonError) as caught:  # a PET file must be in the lesson folder
        load_lesson_text(folder, lesson('  body: {source: "phantom:mird-adult?voxel=8", pet: ../pet.nii.gz}',
                                        "{axis: axial, at_mm: 0}"))
    assert "outside the lesson folder" in caught.value.problem

"""The hologram pipeline as named steps: each step module has a NAME, frozen options and
``step(options)``; ``Document.transform`` runs them in order, times each under its name and
reports progress by name; ``build_hologram`` is that list of steps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from arkit_py.errors import InputError
from arkit_py.geometry.decimate import DecimateOptions
from arkit_py.geometry.meshes import build_meshes
from arkit_py.scene.document import Document, Step, Work
from arkit_py.scene.hologram import HologramOptions, build_hologram, hologram_steps
from arkit_py.scene.transforms import PIPELINE, decimation, frame, gather, islands, merge, metadata, surfaces, volume
from arkit_py.scene.uptake import UptakeOptions
from arkit_py.sources.segmentation import Segment, Segmentation
from arkit_py.structures import lookup
from tests.conftest import ellipsoid_volume

# options for the steps whose Options have required fields
REQUIRED = {"merge": merge.Options(draw_calls=60), "metadata": metadata.Options(profile="phone"),
            "tracer": UptakeOptions("fdg")}


def _seg() -> Segmentation:
    """A body (label 1) holding a liver (2) and a spleen (3), 2 mm voxels."""
    shape = (40, 36, 44)
    labels = np.zeros(shape, np.uint8)
    labels[ellipsoid_volume(shape, (20, 18, 22), (17, 15, 19))] = 1
    labels[ellipsoid_volume(shape, (14, 18, 22), (6, 7, 8))] = 2
    labels[ellipsoid_volume(shape, (27, 18, 20), (4, 5, 5))] = 3
    segments = {1: Segment(1, lookup("body")), 2: Segment(2, lookup("liver")), 3: Segment(3, lookup("spleen"))}
    return Segmentation([labels], np.diag([2.0, 2.0, 2.0, 1.0]), segments, body_label=1)


def _options(module):
    return REQUIRED.get(module.NAME) or module.Options()


@pytest.mark.parametrize("module", PIPELINE, ids=lambda m: m.NAME)
def test_every_step_has_a_name_and_frozen_options(module):
    assert isinstance(module.NAME, str) and module.NAME.isidentifier()
    assert dataclasses.is_dataclass(module.Options) and module.Options.__dataclass_params__.frozen
    options = _options(module)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.x_not_a_field = 1  # type: ignore[attr-defined]
    made = module.step(options)
    assert isinstance(made, Step) and made.name == module.NAME and made.options is options and callable(made)


def test_step_names_are_unique_and_in_the_order_build_hologram_runs_them():
    names = [m.NAME for m in PIPELINE]
    assert len(set(names)) == len(names)
    assert [s.name for s in hologram_steps(HologramOptions(uptake=UptakeOptions("fdg")))] == names
    assert "tracer" not in [s.name for s in hologram_steps(HologramOptions())]


def test_transform_times_every_step_by_name_and_reports_progress_in_order():
    ran, said = [], []
    steps = [Step(name, lambda doc, options, name=name: ran.append((name, options)), options=i)
             for i, name in enumerate(["one", "two", "three"])]
    doc = Document()
    assert doc.transform(*steps, progress=said.append) is doc
    assert said == ["one", "two", "three"] and ran == [("one", 0), ("two", 1), ("three", 2)]
    assert list(doc.seconds) == ["one", "two", "three"] and all(v >= 0 for v in doc.seconds.values())
    doc.transform(steps[0])  # a step run again adds to its time; no progress: nothing said
    assert list(doc.seconds) == ["one", "two", "three"] and said == ["one", "two", "three"]


def test_a_step_that_raises_leaves_the_input_error_intact():
    error = InputError("scan.nii.gz", "no structure has voxels to mesh")

    def fail(doc, options):
        raise error

    said, after = [], []
    doc = Document()
    with pytest.raises(InputError) as caught:
        doc.transform(Step("ok", lambda d, o: None), Step("bad", fail), Step("after", lambda d, o: after.append(1)),
                      progress=said.append)
    assert caught.value is error and str(caught.value) == "scan.nii.gz: no structure has voxels to mesh"
    assert caught.value.path == "scan.nii.gz" and caught.value.problem == "no structure has voxels to mesh"
    assert said == ["ok", "bad"] and after == [] and "after" not in doc.seconds


def test_build_hologram_input_errors_name_the_input():
    with pytest.raises(InputError) as caught:
        build_hologram(_seg(), HologramOptions(structures=("pancreas",)), spec="labels.nii.gz")
    assert str(caught.value) == "labels.nii.gz: --structures: no structure 'pancreas' in this input"
    empty = Segmentation([np.zeros((8, 8, 8), np.uint8)], np.eye(4), {2: Segment(2, lookup("liver"))})
    with pytest.raises(InputError, match=r"^empty\.nii: no structure has voxels to mesh$"):
        build_hologram(empty, spec="empty.nii")


def test_a_step_without_the_state_it_needs_names_the_step_to_run_first():
    doc = Document(work=Work(_seg()))
    with pytest.raises(ValueError, match="run the 'islands' step first"):
        doc.transform(surfaces.step())


def test_build_hologram_seconds_keys_and_progress_are_the_step_names():
    said = []
    options = HologramOptions(triangles=3000, compress=False)
    result = build_hologram(_seg(), options, progress=said.append)
    names = [s.name for s in hologram_steps(options)]
    assert list(result.report["seconds"]) == names == said
    assert {"islands", "surfaces", "decimation", "write"} <= set(names)
    assert result.document.work is None  # the result holds the scene only
    assert result.report["bytes"] == len(result.glb) and [s.name for s in result.document.structures] == \
        ["body", "liver", "spleen"]


def test_the_geometry_steps_give_what_build_meshes_gives():
    budget = 3000
    expected = build_meshes(_seg(), decimation=DecimateOptions(budget=budget))
    doc = Document(work=Work(_seg()))
    doc.transform(islands.step(), surfaces.step(surfaces.Options(budget=budget)),
                  decimation.step(decimation.Options(budget=budget)), volume.step(), gather.step(), frame.step())
    work = doc.work
    assert work.error_mm == expected.error_mm and work.triangles_before == expected.triangles_before
    assert work.voxel_counts == expected.voxel_counts
    assert work.meshes is None and work.patches is None  # consumed by gather and frame
    assert list(doc.seconds) == ["islands", "surfaces", "decimation", "volume", "gather", "frame"]
    nodes = {s.extras["label"]: s for s in doc.structures}
    assert set(nodes) == set(expected.meshes)
    for label, mesh in expected.meshes.items():
        g = nodes[label].geometry
        assert np.array_equal(g.indices, mesh.faces) and len(g.positions) == len(mesh.vertices)
        assert g.normals is None  # the normals step has not run

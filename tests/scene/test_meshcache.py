"""The mesh cache: a hologram of the same body with another tracer takes its meshes from
the cache and is the same file as one built without it; anything that changes the meshes
(one voxel, the selection, the budget, the tool versions) misses; a damaged entry is rebuilt."""

from __future__ import annotations

import dataclasses

import pytest

from arkit_py.scene.hologram import GEOMETRY, HologramOptions, build_hologram
from arkit_py.scene.meshcache import NAME
from arkit_py.scene.uptake import UptakeOptions
from arkit_py.sources.load import load_segmentation


@pytest.fixture(scope="module")
def body():
    return load_segmentation("phantom:mird-adult?voxel=8")


def _copy(seg):
    return dataclasses.replace(seg, layers=[layer.copy() for layer in seg.layers])


PLAIN = HologramOptions(compress=False)


def _built(seg, folder, options=PLAIN, salt="v1"):
    result = build_hologram(_copy(seg), options, mesh_cache=folder, salt=salt)
    steps = set(result.report["seconds"])
    hit = NAME in steps
    assert hit != bool(steps & set(GEOMETRY))  # the cache stands for the geometry steps, or they ran
    return result, hit


def test_another_tracer_takes_the_meshes_and_writes_the_same_file(body, tmp_path):
    fdg = HologramOptions(compress=False, uptake=UptakeOptions("fdg"))
    mdp = HologramOptions(compress=False, uptake=UptakeOptions("mdp", until_s=4 * 3600))
    first, hit = _built(body, tmp_path, fdg)
    assert not hit and len(list(tmp_path.iterdir())) == 1
    second, hit = _built(body, tmp_path, mdp)
    assert hit
    plain = build_hologram(_copy(body), mdp)  # no cache at all
    assert second.glb == plain.glb
    assert second.report["triangles"] == first.report["triangles"]


def test_what_changes_the_meshes_misses(body, tmp_path):
    _built(body, tmp_path)
    assert _built(body, tmp_path)[1]
    changed = _copy(body)
    i, j, k = (n // 2 for n in changed.shape)
    changed.layers[0][i, j, k] = 0 if changed.layers[0][i, j, k] else 1
    assert not _built(changed, tmp_path)[1]  # one voxel
    assert not _built(body, tmp_path, HologramOptions(compress=False, structures=("liver",)))[1]  # the selection
    assert not _built(body, tmp_path, HologramOptions(compress=False, triangles=20_000))[1]  # the budget
    assert not _built(body, tmp_path, salt="v2")[1]  # the tool versions
    assert len(list(tmp_path.iterdir())) == 5


def test_a_damaged_entry_is_rebuilt(body, tmp_path):
    first, _ = _built(body, tmp_path)
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(entry.read_bytes()[:100])
    again, hit = _built(body, tmp_path)
    assert not hit and again.glb == first.glb
    assert _built(body, tmp_path)[1]  # stored whole again

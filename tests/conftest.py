"""Fixtures shared by the whole suite: the phantom and its holograms are built once."""

from __future__ import annotations

import numpy as np
import pytest

from arkit_py.phantoms import mird
from arkit_py.scene.hologram import HologramOptions, build_hologram


@pytest.fixture(scope="session")
def lesson_cache(tmp_path_factory):
    """One hologram cache for every test that builds the lessons in lessons/ (laid out as
    ``$ARKIT_CACHE/holograms``, so a subprocess given ARKIT_CACHE=<its parent> shares it)."""
    path = tmp_path_factory.mktemp("arkit-cache") / "holograms"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def phantom_2mm():
    """The default phantom (male, solid organs) at 2 mm; do not modify."""
    return mird.voxelize(2.0)


@pytest.fixture(scope="session")
def phantom_hologram(phantom_2mm, tmp_path_factory):
    """The phone-profile hologram of the phantom, compressed and plain, written to disk."""
    import copy

    out = tmp_path_factory.mktemp("phantom")
    results = {}
    for compress in (True, False):
        seg = copy.deepcopy(phantom_2mm)
        result = build_hologram(seg, HologramOptions(compress=compress, source="phantom:mird-adult"))
        path = out / ("phantom.glb" if compress else "phantom-plain.glb")
        path.write_bytes(result.glb)
        results[compress] = (path, result)
    return results


def ellipsoid_volume(shape, centre, axes, *, spacing=1.0):
    """Boolean (I, J, K) mask of an axis-aligned ellipsoid sampled at voxel centres;
    centre and axes in voxel-size units times ``spacing``."""
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    d = sum(((g * spacing - c) / a) ** 2 for g, c, a in zip(grid, centre, axes))
    return d <= 1.0


@pytest.fixture(autouse=True)
def every_written_glb_is_valid(request):
    """After each test, every .glb it wrote into its tmp_path goes through the Khronos
    validator (plain files: 0 errors and 0 warnings; compressed: 0 errors). A test that
    writes broken files on purpose is marked ``invalid_glb``."""
    yield
    tmp = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if tmp is None or request.node.get_closest_marker("invalid_glb"):
        return
    files = sorted(tmp.rglob("*.glb"))
    if not files:
        return
    from arkit_py.scene.gltf import read_glb
    from tests.gltf_tools import assert_valid, validate_glb

    reports = validate_glb(files)
    for path, report in zip(files, reports if isinstance(reports, list) else [reports]):
        gltf, _ = read_glb(path.read_bytes())
        assert_valid(report, compressed="EXT_meshopt_compression" in gltf.get("extensionsUsed", []))

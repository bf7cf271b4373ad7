"""Fixtures shared by the whole suite: the phantom and its holograms are built once."""

from __future__ import annotations

import numpy as np
import pytest

from arkit_py.phantoms import mird
from arkit_py.scene.hologram import HologramOptions, build_hologram


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

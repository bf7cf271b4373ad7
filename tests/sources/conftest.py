"""Fixtures for the reader tests (the generated volumes live in volumes.py)."""

import pytest


@pytest.fixture(autouse=True)
def _no_voxel_cap(monkeypatch):
    """Tests judge memory from the machine unless they set ARKIT_MAX_VOXELS themselves."""
    monkeypatch.delenv("ARKIT_MAX_VOXELS", raising=False)

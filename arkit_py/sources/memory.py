"""Judging from a volume's header whether building a hologram from it fits in memory."""

from __future__ import annotations

import os

from ..errors import InputError

# Working memory the pipeline needs per voxel beyond the label array itself: it works in
# slabs, so this is a generous bound (boundary masks, padding, the body envelope pass).
WORK_BYTES_PER_VOXEL = 3


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo, or physical memory where that is missing."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def check_fits(path, shape, itemsize: int) -> None:
    """Raise InputError when a volume of ``shape`` cannot be processed in memory.

    ``ARKIT_MAX_VOXELS`` caps the voxel count explicitly (used by tests and shared servers).
    """
    voxels = 1
    for n in shape:
        voxels *= int(n)
    cap = os.environ.get("ARKIT_MAX_VOXELS")
    if cap is not None and voxels > int(cap):
        raise InputError(path, f"volume too large: {voxels:,} voxels exceeds ARKIT_MAX_VOXELS={int(cap):,}")
    need = voxels * (itemsize + WORK_BYTES_PER_VOXEL)
    have = available_bytes()
    if need > have:
        raise InputError(
            path, f"volume too large for memory: {'x'.join(map(str, shape))} voxels need about "
            f"{need / 2**30:.1f} GiB, {have / 2**30:.1f} GiB available")

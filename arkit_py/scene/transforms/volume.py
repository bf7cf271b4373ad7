"""volume: every structure back to its voxel-count volume, free vertices moved along
their normals (``work.patches.vertices`` in place)."""

from __future__ import annotations

from dataclasses import dataclass

from ...geometry.meshes import restore_patch_volumes
from ..document import Document, Step

NAME = "volume"


@dataclass(frozen=True)
class Options:
    """No options: the targets are the voxel counts of the islands step."""


def _run(doc: Document, options: Options) -> None:
    work = doc.work
    restore_patch_volumes(work.segmentation, work.need("patches", "surfaces"), work.need("simplified", "decimation"),
                          work.wanted, work.need("voxel_counts", "islands"))


def step(options: Options = Options()) -> Step:
    return Step(NAME, _run, options)

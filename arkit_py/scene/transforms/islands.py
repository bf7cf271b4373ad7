"""islands: a label's pieces smaller than ``min_voxels`` merge into their surroundings
(``seg.layers`` edited in place); sets ``work.voxel_counts``."""

from __future__ import annotations

from dataclasses import dataclass

from ...geometry.meshes import remove_small_islands
from ...geometry.surfaces import SurfaceOptions
from ..document import Document, Step

NAME = "islands"


@dataclass(frozen=True)
class Options:
    min_voxels: int = SurfaceOptions().min_island_voxels


def _run(doc: Document, options: Options) -> None:
    doc.work.voxel_counts = remove_small_islands(doc.work.segmentation, options.min_voxels)


def step(options: Options = Options()) -> Step:
    return Step(NAME, _run, options)

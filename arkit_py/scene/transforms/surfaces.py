"""surfaces: one smoothed multi-label surface net per layer (and the body envelope), cut
into patches between label pairs, vertices in RAS mm; sets ``work.patches`` and
``work.triangles_before``.

A net heavier than twice the budget gets its first decimation pass here, as it is cut, so
its full-resolution arrays are freed before the next net is built (that time counts here).
"""

from __future__ import annotations

from dataclasses import dataclass

from ...geometry.decimate import DecimateOptions
from ...geometry.meshes import surface_patches
from ...geometry.surfaces import SurfaceOptions
from ..document import Document, Step

NAME = "surfaces"


@dataclass(frozen=True)
class Options:
    """surface : the nets' smoothing. budget : the decimation step's triangle budget (None:
    no decimation). min_error_mm : the first pass's tolerance (None: a fifth of the finest
    voxel)."""

    surface: SurfaceOptions = SurfaceOptions()
    budget: int | None = DecimateOptions().budget
    min_error_mm: float | None = None


def _run(doc: Document, options: Options) -> None:
    work = doc.work
    work.patches = surface_patches(work.segmentation, work.wanted, counts=work.need("voxel_counts", "islands"),
                                   surface=options.surface, budget=options.budget, min_error_mm=options.min_error_mm)
    work.triangles_before = work.patches.triangles_before


def step(options: Options = Options()) -> Step:
    return Step(NAME, _run, options)

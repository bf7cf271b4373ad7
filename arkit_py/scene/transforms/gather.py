"""gather: each structure's closed mesh from the patches that bound it; sets
``work.meshes`` and drops the patches. No mesh at all is an InputError."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError
from ...geometry.meshes import gather_meshes
from ..document import Document, Step

NAME = "gather"


@dataclass(frozen=True)
class Options:
    """No options."""


def _run(doc: Document, options: Options) -> None:
    work = doc.work
    meshes = gather_meshes(work.segmentation, work.need("patches", "surfaces"), work.need("simplified", "decimation"),
                           work.wanted)
    if not meshes:
        raise InputError(work.spec, "no structure has voxels to mesh")
    work.meshes = meshes
    work.patches = work.simplified = None  # the meshes hold what is still needed


def step(options: Options = Options()) -> Step:
    return Step(NAME, _run, options)

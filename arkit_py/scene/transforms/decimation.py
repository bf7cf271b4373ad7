"""decimation: all patches simplified together, one shared tolerance bisected to the
triangle budget, patch borders locked (so structures stay closed and share their borders);
sets ``work.simplified`` and ``work.error_mm``."""

from __future__ import annotations

from ...geometry.decimate import DecimateOptions
from ...geometry.meshes import decimate_patches
from ..document import Document, Step

NAME = "decimation"

Options = DecimateOptions  # frozen: budget, relative_cap, min_error_mm (None: the surfaces step's), ...


def _run(doc: Document, options: Options) -> None:
    work = doc.work
    work.simplified, work.error_mm = decimate_patches(work.need("patches", "surfaces"), options)


DEFAULT = Options()


def step(options: Options = DEFAULT) -> Step:
    return Step(NAME, _run, options)

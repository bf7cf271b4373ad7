"""write: the document as GLB bytes (``scene/gltf.py``, meshopt-compressed unless told
not to); sets ``work.glb``."""

from __future__ import annotations

from ..document import Document, Step
from ..gltf import WriteOptions, to_glb

NAME = "write"

Options = WriteOptions  # frozen: compress


def _run(doc: Document, options: Options) -> None:
    doc.work.glb = to_glb(doc, options)


DEFAULT = Options()


def step(options: Options = DEFAULT) -> Step:
    return Step(NAME, _run, options)

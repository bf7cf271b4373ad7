"""tracer: a tracer's uptake over time on the structures (``scene/uptake.py``): an
``Uptake`` on each structure holding activity, ``doc.legend``; sets ``work.tracer`` (the
report)."""

from __future__ import annotations

from ...geometry.frames import gltf_to_ras_mm
from ..document import Document, Step
from ..uptake import UptakeOptions, apply_uptake

NAME = "tracer"

Options = UptakeOptions  # frozen: the tracer (library id, .yaml, curves .csv or PET) and how to colour it


def _run(doc: Document, options: Options) -> None:
    work = doc.work
    work.tracer = apply_uptake(doc, options, seg=work.segmentation,
                               gltf_to_ras=gltf_to_ras_mm(work.need("origin", "frame")))


def step(options: Options) -> Step:
    return Step(NAME, _run, options)

"""normals: area-weighted vertex normals for every structure that has none."""

from __future__ import annotations

from dataclasses import dataclass

from ..document import Document, Step, vertex_normals

NAME = "normals"


@dataclass(frozen=True)
class Options:
    """No options."""


def _run(doc: Document, options: Options) -> None:
    for s in doc.structures:
        g = s.geometry
        if g.normals is None:
            g.normals = vertex_normals(g.positions, g.indices)


def step(options: Options = Options()) -> Step:
    return Step(NAME, _run, options)

"""materials: each structure's material from its label's colour (sRGB in the label table,
linear in glTF); the body, and the body system, drawn translucent."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..document import Document, Material, Step

NAME = "materials"


@dataclass(frozen=True)
class Options:
    body_alpha: float = 0.22


def srgb_to_linear(c) -> tuple[float, float, float]:
    c = np.asarray(c, dtype=np.float64)
    out = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return tuple(round(float(v), 6) for v in out)  # type: ignore[return-value]


def _run(doc: Document, options: Options) -> None:
    seg = doc.work.segmentation
    for s in doc.structures:
        if "label" not in s.extras:  # a merged mesh: its vertices carry their colours
            continue
        label = s.extras["label"]
        structure = seg.segments[label].structure
        is_body = label == seg.body_label or structure.system == "body"
        s.material = Material(s.name, srgb_to_linear(structure.color), options.body_alpha if is_body else 1.0)


def step(options: Options = Options()) -> Step:
    return Step(NAME, _run, options)

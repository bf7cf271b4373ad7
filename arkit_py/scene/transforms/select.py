"""select: the labels to export, from ``--structures`` and ``--systems`` (default: all)."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError
from ...sources.segmentation import Segmentation
from ...structures import SYSTEMS, lookup, suggest
from ..document import Document, Step

NAME = "select"


@dataclass(frozen=True)
class Options:
    """structures : structure names (any alias ``lookup`` knows). systems : system names.
    Their union is exported; neither given: every structure."""

    structures: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()


def select_labels(seg: Segmentation, structures: tuple[str, ...], systems: tuple[str, ...], spec: str) -> set[int]:
    """Labels to export. Unknown names or systems are an InputError naming the input."""
    by_name = {s.structure.name: label for label, s in seg.segments.items()}
    chosen: set[int] = set()
    for name in structures:
        canonical = lookup(name).name
        if canonical not in by_name:
            hint = suggest(name)
            present = [n for n in hint if n in by_name]
            more = f" (did you mean {present[0]!r}?)" if present else ""
            raise InputError(spec, f"--structures: no structure {name!r} in this input{more}")
        chosen.add(by_name[canonical])
    for system in systems:
        if system not in SYSTEMS:
            raise InputError(spec, f"--systems: unknown system {system!r} (systems: {', '.join(SYSTEMS)})")
        found = {label for label, s in seg.segments.items() if s.structure.system == system}
        if not found:
            raise InputError(spec, f"--systems: no {system} structure in this input")
        chosen |= found
    return chosen or set(seg.segments)


def _run(doc: Document, options: Options) -> None:
    work = doc.work
    work.labels = select_labels(work.segmentation, options.structures, options.systems, work.spec)


def step(options: Options = Options()) -> Step:
    return Step(NAME, _run, options)

"""The hologram pipeline as named steps, one per module, in the style of glTF-Transform
(``document.transform(weld(), simplify(...))``)::

    doc.transform(select.step(...), islands.step(), surfaces.step(...), decimation.step(...), ...)

Each module has a ``NAME`` (what ``Document.transform`` times and reports progress by), a
frozen ``Options`` dataclass and ``step(options) -> Step``. Steps are thin: the work is done
by plain numpy kernels in ``geometry/`` (no I/O) or the scene modules beside this package;
a step reads and sets ``doc.work`` (``scene/document.py``) and ``doc.structures``.

``PIPELINE`` lists the modules in the order ``build_hologram`` runs them (``tracer`` only
with a tracer).
"""

from __future__ import annotations

from . import (
    decimation,
    frame,
    gather,
    islands,
    materials,
    merge,
    metadata,
    normals,
    select,
    surfaces,
    tracer,
    volume,
    write,
)

PIPELINE = (select, islands, surfaces, decimation, volume, gather, frame, normals, materials, tracer, merge, metadata,
            write)

__all__ = ["PIPELINE", "decimation", "frame", "gather", "islands", "materials", "merge", "metadata", "normals",
           "select", "surfaces", "tracer", "volume", "write"]

"""metadata: the scene extras a client reads (``scene.extras.arkit``, docs/hologram-format.md):
version, the scene -> RAS mm matrix, units, profile, source, the decimation's error; with a
tracer its legend and half-life."""

from __future__ import annotations

from dataclasses import dataclass

from ... import __version__
from ...geometry.frames import gltf_to_ras_mm
from ..document import Document, Step

NAME = "metadata"


@dataclass(frozen=True)
class Options:
    """profile : the device profile's name. source : what the input was (never a file name)."""

    profile: str
    source: str = "label map"


def _run(doc: Document, options: Options) -> None:
    work = doc.work
    arkit = {
        "version": __version__,
        "gltf_to_ras_mm": gltf_to_ras_mm(work.need("origin", "frame")),
        "units": "m",
        "profile": options.profile,
        "source": options.source,
        "max_error_mm": round(float(work.need("error_mm", "decimation")), 3),
    }
    doc.scene_extras = {"arkit": arkit}
    if doc.legend is not None:
        arkit["legend"] = doc.legend.to_extras()
        # the half-life (ICRP-107, as the tracer package reads it) lets a client decay-correct
        # the physical activity_bq of the nodes; the client types in no nuclide data
        report = work.need("tracer", "tracer")
        arkit["tracer"] = {k: report[k] for k in ("tracer", "nuclide", "half_life_s", "activity_bq")}


def step(options: Options) -> Step:
    return Step(NAME, _run, options)

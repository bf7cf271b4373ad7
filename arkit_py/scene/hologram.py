"""``build_hologram``: a Segmentation in, GLB bytes and a report out.

The pipeline is a list of named steps (``scene/transforms/``) that ``Document.transform``
runs in order, timing each under its name::

    select -> islands -> surfaces -> decimation -> volume -> gather    (meshes, RAS mm)
    -> frame -> normals -> materials -> [tracer] -> merge -> metadata -> write (meshopt)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import __version__
from ..sources.segmentation import Segmentation
from .document import Document, Step, Work
from .transforms import (
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
from .uptake import UptakeOptions


@dataclass(frozen=True)
class Profile:
    """Device budgets (docs/hologram-format.md#budgets)."""

    name: str
    triangles: int
    draw_calls: int
    max_bytes: int


PROFILES = {
    "phone": Profile("phone", 100_000, 60, 3_000_000),
    "hololens": Profile("hololens", 50_000, 40, 2_000_000),
    "desktop": Profile("desktop", 400_000, 150, 10_000_000),
}


@dataclass(frozen=True)
class HologramOptions:
    profile: str = "phone"
    triangles: int | None = None  # overrides the profile's triangle budget
    structures: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    compress: bool = True
    source: str = "label map"  # what scene extras say the input was; never a file name
    uptake: UptakeOptions | None = None  # a tracer colouring the structures over time


@dataclass
class HologramResult:
    glb: bytes
    document: Document
    report: dict = field(default_factory=dict)


def hologram_steps(options: HologramOptions) -> list[Step]:
    """The steps of ``build_hologram``, in order."""
    if options.profile not in PROFILES:
        raise ValueError(f"build_hologram: profile must be one of {sorted(PROFILES)}, got {options.profile!r}")
    profile = PROFILES[options.profile]
    budget = options.triangles or profile.triangles
    return [
        select.step(select.Options(options.structures, options.systems)),
        islands.step(),
        surfaces.step(surfaces.Options(budget=budget)),
        decimation.step(decimation.Options(budget=budget)),
        volume.step(),
        gather.step(),
        frame.step(),
        normals.step(),
        materials.step(),
        *([tracer.step(options.uptake)] if options.uptake is not None else []),
        merge.step(merge.Options(profile.draw_calls)),
        metadata.step(metadata.Options(profile.name, options.source)),
        write.step(write.Options(compress=options.compress)),
    ]


GEOMETRY = (surfaces.NAME, decimation.NAME, volume.NAME, gather.NAME)  # what a mesh cache stands for


def build_hologram(seg: Segmentation, options: HologramOptions = HologramOptions(), *, progress=None,
                   spec: str = "input", mesh_cache=None, salt: str = "") -> HologramResult:
    """Build the hologram of ``seg``; ``spec`` names the input in error messages only.
    ``progress(name)`` is called as each step starts.

    mesh_cache : a folder; the geometry steps' meshes are taken from it when it holds
        them for this very label volume and these options, and stored there otherwise
        (``scene/meshcache.py``). ``salt`` goes into the key: the caller's tool versions.
    """
    doc = Document(generator=f"arkit {__version__}", work=Work(seg, spec=spec))
    steps = hologram_steps(options)
    if mesh_cache is None:
        doc.transform(*steps, progress=progress)
    else:
        from pathlib import Path

        from . import meshcache

        first = next(i for i, s in enumerate(steps) if s.name == GEOMETRY[0])
        last = first + len(GEOMETRY)
        assert tuple(s.name for s in steps[first:last]) == GEOMETRY
        doc.transform(*steps[:first], progress=progress)
        meshcache.transform(doc, steps[first:last], Path(mesh_cache), salt, progress=progress)
        doc.transform(*steps[last:], progress=progress)
    work, doc.work = doc.work, None  # the result holds the scene only
    return HologramResult(work.glb, doc, _report(doc, work))


def _report(doc: Document, work: Work) -> dict:
    rows = []
    for s in doc.structures:
        if "label" in s.extras:
            rows.append({"name": s.name, "label": s.extras["label"], "system": s.system,
                         "triangles": s.geometry.triangles, "volume_ml": s.extras["volume_ml"]})
        else:
            for m in s.extras["merged"]:
                rows.append({"name": m["name"], "label": m["label"], "system": s.system,
                             "triangles": m["triangles"], "volume_ml": m["volume_ml"], "merged_into": s.name})
    report = {
        "structures": rows,
        "triangles": doc.triangles,
        "draw_calls": len(doc.structures),
        "bytes": len(work.glb),
        "seconds": {k: round(v, 3) for k, v in doc.seconds.items()},
    }
    if work.tracer is not None:
        report["tracer"] = work.tracer
    return report

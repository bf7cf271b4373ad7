"""``build_hologram``: a Segmentation in, GLB bytes and a report out.

The pipeline, step by step::

    select structures -> meshes (surface nets, decimation to the profile's budget,
    volume restore) -> glTF frame and origin -> normals -> materials -> write (meshopt)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from .. import __version__
from ..errors import InputError
from ..geometry.decimate import DecimateOptions
from ..geometry.frames import bottom_centre, gltf_to_ras_mm, ras_to_gltf
from ..geometry.meshes import build_meshes
from ..geometry.surfaces import SurfaceOptions
from ..sources.segmentation import Segmentation
from ..structures import SYSTEMS, lookup, suggest
from .document import Document, Geometry, Material, StructureNode, vertex_normals
from .gltf import WriteOptions, to_glb
from .uptake import UptakeOptions, apply_uptake


@dataclass(frozen=True)
class Profile:
    """Device budgets (DESIGN.md "Budgets")."""

    name: str
    triangles: int
    draw_calls: int
    max_bytes: int


PROFILES = {
    "phone": Profile("phone", 100_000, 60, 3_000_000),
    "hololens": Profile("hololens", 50_000, 40, 2_000_000),
    "desktop": Profile("desktop", 400_000, 150, 10_000_000),
}

BODY_ALPHA = 0.22


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


def srgb_to_linear(c) -> tuple[float, float, float]:
    c = np.asarray(c, dtype=np.float64)
    out = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return tuple(round(float(v), 6) for v in out)  # type: ignore[return-value]


def merge_to_budget(doc: Document, draw_calls: int) -> None:
    """Merge the smallest structures, system by system, into one mesh per system until the
    document fits ``draw_calls``. Merged vertices keep their structure's colour (COLOR_0)
    and label (_LABEL), so a client can still tap and highlight them one by one."""
    if len(doc.structures) <= draw_calls:
        return
    def group(s: StructureNode) -> tuple[str, str]:
        # structures of one tracer region share one curve, so they can share one mesh
        return (s.system, s.uptake.region if s.uptake is not None else "")

    ranked = sorted(doc.structures, key=lambda s: (s.system == "body", s.extras.get("volume_ml", 0)))
    merged: list[StructureNode] = []
    keep = list(doc.structures)
    while keep and len(keep) + len({group(s) for s in merged}) > draw_calls:
        smallest = next((s for s in ranked if s in keep and s.system != "body"), None)
        if smallest is None:
            break
        keep.remove(smallest)
        merged.append(smallest)
    groups: dict[tuple[str, str], list[StructureNode]] = {}
    for s in merged:
        groups.setdefault(group(s), []).append(s)
    out = [s for s in doc.structures if s in keep]
    for (system, region), members in groups.items():
        positions, normals, faces, colors, labels, offset = [], [], [], [], [], 0
        for s in members:
            g = s.geometry
            positions.append(g.positions)
            normals.append(g.normals)
            faces.append(g.indices.astype(np.int64) + offset)
            colors.append(np.tile(np.asarray(s.material.color, np.float32), (len(g.positions), 1)))
            labels.append(np.full(len(g.positions), s.extras["label"], np.float32))
            offset += len(g.positions)
        geometry = Geometry(np.concatenate(positions), np.concatenate(faces).astype(np.uint32),
                            np.concatenate(normals), np.concatenate(colors), np.concatenate(labels))
        extras = {"system": system, "merged": [
            {"name": s.name, "label": s.extras["label"], "display": s.extras["display"],
             "volume_ml": s.extras["volume_ml"], "triangles": s.geometry.triangles} for s in members]}
        name = f"{system}_merged" if not region else f"{system}_{region}_merged"
        uptake = members[0].uptake
        if uptake is not None:  # one curve for the group; each member keeps its own activity
            for m, s in zip(extras["merged"], members):
                m["activity_bq"] = [float(f"{a:.6g}") for a in s.uptake.activity_bq]
            uptake = replace(uptake, activity_bq=np.sum([s.uptake.activity_bq for s in members], axis=0))
        material = Material(name, (1.0, 1.0, 1.0), unlit=uptake is not None)
        out.append(StructureNode(name, system, geometry, material, extras, uptake))
    doc.structures = out


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


def build_hologram(seg: Segmentation, options: HologramOptions = HologramOptions(), *, progress=None,
                   spec: str = "input") -> HologramResult:
    """Build the hologram of ``seg``; ``spec`` names the input in error messages only."""
    if options.profile not in PROFILES:
        raise ValueError(f"build_hologram: profile must be one of {sorted(PROFILES)}, got {options.profile!r}")
    profile = PROFILES[options.profile]
    budget = options.triangles or profile.triangles
    seconds: dict[str, float] = {}
    labels = select_labels(seg, options.structures, options.systems, spec)

    meshed = build_meshes(seg, labels=labels, surface=SurfaceOptions(),
                          decimation=DecimateOptions(budget=budget), progress=progress)
    seconds.update(meshed.seconds)
    if not meshed.meshes:
        raise InputError(spec, "no structure has voxels to mesh")

    t = time.perf_counter()
    if progress:
        progress("writing")
    placed = {label: ras_to_gltf(m.vertices) for label, m in meshed.meshes.items()}
    lo = np.min([p.min(0) for p in placed.values()], axis=0)
    hi = np.max([p.max(0) for p in placed.values()], axis=0)
    origin = bottom_centre(lo, hi)
    voxel_ml = seg.voxel_volume_ml
    all_voxels = sum(meshed.voxel_counts.values())

    doc = Document(generator=f"arkit {__version__}")
    order = sorted(meshed.meshes, key=lambda label: (label != seg.body_label, label))
    taken: set[str] = set()
    for label in order:
        mesh = meshed.meshes[label]
        structure = seg.segments[label].structure
        positions = (placed[label] - origin).astype(np.float32)
        faces = mesh.faces.astype(np.uint32)
        count = all_voxels if label == seg.body_label else meshed.voxel_counts.get(label, 0)
        is_body = label == seg.body_label or structure.system == "body"
        extras = {
            "label": int(label),
            "system": "body" if label == seg.body_label else structure.system,
            "volume_ml": round(count * voxel_ml, 2),
            "display": structure.display,
        }
        name = structure.name if structure.name not in taken else f"{structure.name}_{label}"
        taken.add(name)
        doc.structures.append(StructureNode(
            name, extras["system"],
            Geometry(positions, faces, vertex_normals(positions, faces)),
            Material(name, srgb_to_linear(structure.color), BODY_ALPHA if is_body else 1.0),
            extras,
        ))
    uptake_report = None
    if options.uptake is not None:
        if progress:
            progress("tracer")
        uptake_report = apply_uptake(doc, options.uptake, seg=seg, gltf_to_ras=gltf_to_ras_mm(origin))
    merge_to_budget(doc, profile.draw_calls)
    doc.scene_extras = {"arkit": {
        "version": __version__,
        "gltf_to_ras_mm": gltf_to_ras_mm(origin),
        "units": "m",
        "profile": profile.name,
        "source": options.source,
        "max_error_mm": round(float(meshed.error_mm), 3),
    }}
    if doc.legend is not None:
        doc.scene_extras["arkit"]["legend"] = doc.legend.to_extras()
        # the half-life (ICRP-107, as the tracer package reads it) lets a client decay-correct
        # the physical activity_bq of the nodes; the client types in no nuclide data
        doc.scene_extras["arkit"]["tracer"] = {k: uptake_report[k]
                                               for k in ("tracer", "nuclide", "half_life_s", "activity_bq")}
    glb = to_glb(doc, WriteOptions(compress=options.compress))
    seconds["write"] = time.perf_counter() - t

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
        "bytes": len(glb),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    if uptake_report is not None:
        report["tracer"] = uptake_report
    return HologramResult(glb, doc, report)

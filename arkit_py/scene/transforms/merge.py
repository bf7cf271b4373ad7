"""merge: the smallest structures, system by system, merged into one mesh per system
(and tracer region) until the document fits the profile's draw calls."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..document import Document, Geometry, Material, Step, StructureNode

NAME = "merge"


@dataclass(frozen=True)
class Options:
    draw_calls: int


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


def _run(doc: Document, options: Options) -> None:
    merge_to_budget(doc, options.draw_calls)


def step(options: Options) -> Step:
    return Step(NAME, _run, options)

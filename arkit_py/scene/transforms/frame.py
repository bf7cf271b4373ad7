"""frame: the meshes to the glTF frame (metres, +Y superior), shifted so the origin is the
bottom centre of their bounds; one StructureNode per mesh (body first, then by label) with
its extras (label, system, volume_ml, display). Sets ``work.origin`` and drops the meshes.
The nodes have no normals and a plain white material until the normals and materials steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...geometry.frames import bottom_centre, ras_to_gltf
from ..document import Document, Geometry, Material, Step, StructureNode

NAME = "frame"


@dataclass(frozen=True)
class Options:
    """No options."""


def _run(doc: Document, options: Options) -> None:
    work = doc.work
    seg = work.segmentation
    meshes = work.need("meshes", "gather")
    counts = work.need("voxel_counts", "islands")
    placed = {label: ras_to_gltf(m.vertices) for label, m in meshes.items()}
    lo = np.min([p.min(0) for p in placed.values()], axis=0)
    hi = np.max([p.max(0) for p in placed.values()], axis=0)
    origin = bottom_centre(lo, hi)
    voxel_ml = seg.voxel_volume_ml
    all_voxels = sum(counts.values())

    order = sorted(meshes, key=lambda label: (label != seg.body_label, label))
    taken: set[str] = set()
    for label in order:
        structure = seg.segments[label].structure
        positions = (placed[label] - origin).astype(np.float32)
        faces = meshes[label].faces.astype(np.uint32)
        count = all_voxels if label == seg.body_label else counts.get(label, 0)
        extras = {
            "label": int(label),
            "system": "body" if label == seg.body_label else structure.system,
            "volume_ml": round(count * voxel_ml, 2),
            "display": structure.display,
        }
        name = structure.name if structure.name not in taken else f"{structure.name}_{label}"
        taken.add(name)
        doc.structures.append(StructureNode(name, extras["system"], Geometry(positions, faces),
                                            Material(name, (1.0, 1.0, 1.0)), extras))
    work.origin = origin
    work.meshes = None  # the nodes hold the geometry now


def step(options: Options = Options()) -> Step:
    return Step(NAME, _run, options)

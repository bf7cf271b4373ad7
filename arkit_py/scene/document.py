"""The scene document: what a hologram holds before it is written as glTF.

Geometry lives here in the glTF frame (metres, +Y superior, +Z anterior, +X patient's
left); ``frames.py`` is the only place that converts from RAS mm. Transforms in
``scene/transforms/`` act on a Document; ``gltf.py`` writes one to GLB bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Material:
    """color : (3,) linear RGB. alpha < 1 is drawn blended (the body envelope)."""

    name: str
    color: tuple[float, float, float]
    alpha: float = 1.0
    roughness: float = 0.55
    unlit: bool = False
    double_sided: bool = False


@dataclass
class Geometry:
    """positions : (n, 3) float32, metres, glTF frame. normals : (n, 3) float32, unit.
    indices : (m, 3) uint32, counter-clockwise seen from outside."""

    positions: np.ndarray
    indices: np.ndarray
    normals: np.ndarray | None = None
    colors: np.ndarray | None = None  # (n, 3) float32 linear RGB (merged structures)
    labels: np.ndarray | None = None  # (n,) label per vertex, written as _LABEL (merged structures)

    @property
    def triangles(self) -> int:
        return int(len(self.indices))


@dataclass
class StructureNode:
    """One structure: a named node with extras (label, system, volume_ml, ...); or, where a
    profile's draw-call budget forces it, several structures of one system merged into one
    mesh whose vertices carry their label (extras: system, merged = [...])."""

    name: str
    system: str
    geometry: Geometry
    material: Material
    extras: dict = field(default_factory=dict)


@dataclass
class Document:
    structures: list[StructureNode] = field(default_factory=list)
    scene_extras: dict = field(default_factory=dict)
    generator: str = "arkit"

    @property
    def triangles(self) -> int:
        return sum(s.geometry.triangles for s in self.structures)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.structures:
            return np.zeros(3), np.zeros(3)
        lo = np.min([s.geometry.positions.min(0) for s in self.structures], axis=0)
        hi = np.max([s.geometry.positions.max(0) for s in self.structures], axis=0)
        return lo, hi

"""The scene document: what a hologram holds before it is written as glTF.

Geometry lives here in the glTF frame (metres, +Y superior, +Z anterior, +X patient's
left); ``frames.py`` is the only place that converts from RAS mm. The steps in
``scene/transforms/`` act on a Document, run in order by ``Document.transform`` (as
glTF-Transform's ``document.transform(weld(), simplify(...))``); ``gltf.py`` writes one to
GLB bytes (the ``write`` step).

While a hologram is built, ``Document.work`` carries what the steps before the structures
exist hand on to each other: the Segmentation, the surface patches, the meshes in RAS mm
(see ``Work``). The finished document holds the scene only (``build_hologram`` drops it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..geometry.decimate import Simplified
    from ..geometry.meshes import PatchSet, StructureMesh
    from ..sources.segmentation import Segmentation


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
class Uptake:
    """A structure's tracer curve as the hologram draws it.

    times_s : (k,) float, real seconds after administration, strictly increasing.
    values : (k,) float, the coloured quantity (``Legend.unit``), piecewise linear in time.
    activity_bq : (k,) float, physical activity in the structure (not decay-corrected).
    The colour at time t is ``Legend.color(values(t))``; ``u`` is the clipped palette position.
    """

    times_s: np.ndarray
    values: np.ndarray
    activity_bq: np.ndarray
    region: str = ""
    # per-vertex uptake (dynamic PET): (n_vertices, F) coloured quantity at frame_times_s (F,)
    vertex_values: np.ndarray | None = None
    frame_times_s: np.ndarray | None = None

    def value_at(self, t_s) -> np.ndarray:
        return np.interp(t_s, self.times_s, self.values)


@dataclass
class Legend:
    """The colour scale of an animated hologram (``scene.extras.arkit.legend``).

    palette : (8, 3) float, linear RGB stops at u = 0, 1/7, ..., 1. Values map to
    u = clip((v - vmin) / (vmax - vmin), 0, 1); real time maps linearly onto the clip:
    clip seconds = real seconds * clip_s / real_s.
    """

    quantity: str  # "concentration" or "suv"
    unit: str  # "kBq/mL" or "g/mL"
    vmin: float
    vmax: float
    palette: np.ndarray
    clip_s: float
    real_s: float
    decay_corrected: bool = False
    scale: str = "linear"

    def u(self, values) -> np.ndarray:
        return np.clip((np.asarray(values, dtype=np.float64) - self.vmin) / (self.vmax - self.vmin), 0.0, 1.0)

    def color(self, values) -> np.ndarray:
        """(..., 3) linear RGB of values: piecewise-linear between the palette stops."""
        u = self.u(values) * (len(self.palette) - 1)
        i = np.minimum(np.floor(u).astype(int), len(self.palette) - 2)
        f = (u - i)[..., None]
        return self.palette[i] * (1 - f) + self.palette[i + 1] * f

    def to_extras(self) -> dict:
        return {
            "quantity": self.quantity, "unit": self.unit, "min": float(self.vmin), "max": float(self.vmax),
            "scale": self.scale, "palette": [[round(float(c), 6) for c in stop] for stop in self.palette],
            "clip_s": float(self.clip_s), "real_s": float(self.real_s), "decay_corrected": bool(self.decay_corrected),
        }


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
    uptake: Uptake | None = None  # set when a tracer colours this structure


@dataclass
class Work:
    """The working state of a build: the input, and what each step hands to the ones after
    it. A field is None until the step named beside it has run; a step may drop what no
    later step reads (``gather`` the patches, ``frame`` the meshes), so the build's peak
    memory stays that of the arrays still needed.
    """

    segmentation: Segmentation  # the input; ``islands`` edits its layers in place
    spec: str = "input"  # names the input in error messages only, never in the file
    labels: set[int] | None = None  # select: the labels to export
    voxel_counts: dict[int, int] | None = None  # islands: voxels per label after island removal
    patches: PatchSet | None = None  # surfaces: the surface patches, vertices in RAS mm
    triangles_before: int | None = None  # surfaces: the nets' triangles, before any decimation
    simplified: list[Simplified] | None = None  # decimation: the decimated faces of each patch
    error_mm: float | None = None  # decimation: the shared tolerance
    meshes: dict[int, StructureMesh] | None = None  # gather: one closed mesh per label, RAS mm
    origin: np.ndarray | None = None  # frame: the positions' shift (glTF metres; gltf_to_ras_mm(origin))
    tracer: dict | None = None  # tracer: the uptake report
    glb: bytes | None = None  # write: the file

    @property
    def wanted(self) -> set[int]:
        """The labels to export: ``labels`` once selected, else every segment."""
        return set(self.segmentation.segments) if self.labels is None else self.labels

    def need(self, name: str, step: str):
        """The field ``name``, which the step ``step`` sets; a clear error when it has not run."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"Document.work.{name} is not set: run the {step!r} step first")
        return value


@dataclass(frozen=True)
class Step:
    """One named step of a pipeline: ``run(doc, options)``, called as ``step(doc)``. Each
    module of ``scene/transforms/`` makes one (``step(options)``) under its ``NAME``."""

    name: str
    run: Callable[[Document, Any], None]
    options: Any = None

    def __call__(self, doc: Document) -> None:
        self.run(doc, self.options)


@dataclass
class Document:
    structures: list[StructureNode] = field(default_factory=list)
    scene_extras: dict = field(default_factory=dict)
    generator: str = "arkit"
    legend: Legend | None = None  # set when structures carry uptake (one clip, palette morph)
    clip_name: str = "uptake"
    work: Work | None = None  # the working state while a build runs (see Work)
    seconds: dict[str, float] = field(default_factory=dict)  # time spent per step name, by transform

    def transform(self, *steps: Step, progress: Callable[[str], None] | None = None) -> Document:
        """Run ``steps`` in order: ``progress(step.name)`` as each one starts, and its time
        added to ``seconds[step.name]``. Whatever a step raises goes through unchanged."""
        for step in steps:
            if progress:
                progress(step.name)
            t = time.perf_counter()
            step(self)
            self.seconds[step.name] = self.seconds.get(step.name, 0.0) + time.perf_counter() - t
        return self

    @property
    def triangles(self) -> int:
        return sum(s.geometry.triangles for s in self.structures)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.structures:
            return np.zeros(3), np.zeros(3)
        lo = np.min([s.geometry.positions.min(0) for s in self.structures], axis=0)
        hi = np.max([s.geometry.positions.max(0) for s in self.structures], axis=0)
        return lo, hi


def vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(n, 3) float32 unit normals, area-weighted over incident faces (never zero)."""
    p = positions.astype(np.float64)
    n = np.cross(p[faces[:, 1]] - p[faces[:, 0]], p[faces[:, 2]] - p[faces[:, 0]])
    acc = np.zeros_like(p)
    for i in range(3):
        np.add.at(acc, faces[:, i], n)
    length = np.linalg.norm(acc, axis=1, keepdims=True)
    acc = np.where(length > 1e-20, acc / np.maximum(length, 1e-300), np.array([0.0, 1.0, 0.0]))
    return acc.astype(np.float32)

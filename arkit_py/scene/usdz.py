"""USDZ for iOS AR Quick Look: the hologram as Quick Look can play it.

Quick Look plays transform animation only (no vertex colours, no morph targets), so the
palette morph of the glTF becomes a flipbook of colour bins: a structure with uptake gets
one copy of its mesh per colour bin it ever shows, each with its own UsdPreviewSurface
(the palette at the bin centre) and an animated ``xformOp:scale`` that is 1 while the
structure's value falls in that bin and 0 otherwise. USD interpolates time samples
linearly, so every switch is a pair of keys one frame apart (the old bin held on the frame
before, the new one on the frame of the change): between integer frames at most two
copies are partly scaled, at every frame exactly one is whole.

The stage is the glTF frame unchanged (metres, +Y superior, +Z anterior, +X patient's
left): ``upAxis = "Y"``, ``metersPerUnit = 1``. Time codes are frames at ``fps``; the clip
runs from 0 to ``clip_s * fps``, so it lasts ``Legend.clip_s`` seconds for
``Legend.real_s`` real seconds, and Quick Look loops it. Copies count in the triangle
budget: every mesh is simplified (meshoptimizer) so that the triangles drawn, copies
included, stay within ``max_triangles``.

Layout::

    /hologram                          Xform (defaultPrim, kind component)
        /<structure>                   Xform, translate = the structure's bounding-box centre
            /mesh                      Mesh (static structure)
            /bin_<b>                   Mesh, animated scale (structure with uptake)
        /materials/<material>          Material + UsdPreviewSurface
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import meshoptimizer as mo
import numpy as np

from .document import Document, Geometry, Legend, Material, StructureNode, vertex_normals

log = logging.getLogger(__name__)

HIDDEN_SCALE = 0.0  # scale of a copy outside its bin (Quick Look plays transforms, not visibility)
GLOW = 0.25  # emissiveColor of a bin = GLOW x its diffuse colour
FLOOR_TRIANGLES = 96  # a structure keeps at least this many triangles per copy (if it had them)
ROOT = "hologram"
MATERIALS = "materials"
_LAYER_NAME = "hologram.usdc"
_ZIP_TIME = (2000, 1, 1, 0, 0, 0, 0, 1, -1)  # local time: the zip entry's DOS date is fixed


@dataclass
class BinCopy:
    """One colour-bin copy of a structure: its bin, key times (frames) and the scale at
    each key (1 in its bin, ``HIDDEN_SCALE`` outside)."""

    bin: int
    times: np.ndarray
    scales: np.ndarray
    default: float  # the scale static viewers see (the peak frame)


def to_usdz(doc: Document, *, bins: int = 8, max_triangles: int = 100_000, fps: int = 24) -> bytes:
    """The document as USDZ bytes for AR Quick Look.

    bins : colour bins of the legend's window (copies of each structure with uptake).
    max_triangles : triangles drawn, copies included; meshes are simplified to fit.
    fps : time codes per second (keys fall on frames).

    A document without a legend (or without structures carrying uptake) gives a static
    USDZ: one mesh per structure in its own colour. Structures without uptake keep their
    material (the translucent body stays translucent: opacity = material alpha).
    """
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"to_usdz: bins must be a positive integer, got {bins!r}")
    if not isinstance(max_triangles, (int, np.integer)) or max_triangles < 1:
        raise ValueError(f"to_usdz: max_triangles must be a positive integer, got {max_triangles!r}")
    if not isinstance(fps, (int, np.integer)) or fps < 1:
        raise ValueError(f"to_usdz: fps must be a positive integer, got {fps!r}")
    legend = doc.legend
    animated = legend is not None and any(s.uptake is not None for s in doc.structures)
    if animated:
        if not (legend.clip_s > 0 and legend.real_s > 0):
            raise ValueError(f"to_usdz: the legend's clip_s and real_s must be positive, got "
                             f"{legend.clip_s!r} and {legend.real_s!r}")
        if not legend.vmax > legend.vmin:
            raise ValueError(f"to_usdz: the legend's window is empty ({legend.vmin!r} to {legend.vmax!r})")
    elif any(s.uptake is not None for s in doc.structures):
        log.warning("to_usdz: structures carry uptake but the document has no legend; writing them static")

    copies = flipbook(doc, bins=bins, fps=fps) if animated else [None] * len(doc.structures)
    counts = [len(c) if c is not None else 1 for c in copies]
    targets = share_triangles([s.geometry.triangles for s in doc.structures], counts, max_triangles)
    meshes = [simplified(s.geometry, t) for s, t in zip(doc.structures, targets)]

    from pxr import Sdf, UsdUtils

    with tempfile.TemporaryDirectory(prefix="arkit-usdz-") as tmp:
        layer_path = Path(tmp) / _LAYER_NAME
        out_path = Path(tmp) / "hologram.usdz"
        _write_stage(layer_path, doc, meshes, copies, bins=bins, fps=fps)
        stamp = time.mktime(_ZIP_TIME)
        os.utime(layer_path, (stamp, stamp))
        if not UsdUtils.CreateNewARKitUsdzPackage(Sdf.AssetPath(str(layer_path)), str(out_path)):
            raise RuntimeError("to_usdz: usd-core could not write the USDZ package")
        return out_path.read_bytes()


def bin_index(legend: Legend, values, bins: int) -> np.ndarray:
    """(...) int colour bin of values: floor(u * bins), the top of the window in the last bin."""
    return np.minimum((legend.u(values) * bins).astype(int), bins - 1)


def bin_colors(legend: Legend, bins: int) -> np.ndarray:
    """(bins, 3) linear RGB: the legend's palette at each bin's centre value."""
    centres = legend.vmin + (np.arange(bins) + 0.5) / bins * (legend.vmax - legend.vmin)
    return legend.color(centres)


def frame_times(clip_s: float, fps: int) -> np.ndarray:
    """Key times (frames) of a clip: every integer frame from 0, and the clip's end."""
    end = clip_s * fps
    frames = np.arange(0, int(np.floor(end + 1e-9)) + 1, dtype=np.float64)
    if end - frames[-1] > 1e-9:
        frames = np.append(frames, end)
    return frames


def flipbook(doc: Document, *, bins: int, fps: int) -> list[list[BinCopy] | None]:
    """Per structure (document order): its colour-bin copies, or None (static).

    The value curve is sampled at every frame (real time = frame / fps * real_s / clip_s);
    a copy exists for every bin the structure shows at some frame (one copy without keys
    when it never changes bin). A copy's keys fall on the first and last frame and on both
    frames around each of its switches, so linear interpolation is exact at every frame.
    Static viewers see the bins of the peak frame (where the structures' summed palette
    positions are largest), like ``mesh.weights`` in the glTF.
    """
    legend = doc.legend
    frames = frame_times(legend.clip_s, fps)
    real_t = frames / fps * (legend.real_s / legend.clip_s)
    coloured = [s.uptake is not None for s in doc.structures]
    u = [legend.u(s.uptake.value_at(real_t)) for s, c in zip(doc.structures, coloured) if c]
    peak = int(np.argmax(np.sum(u, axis=0))) if u else 0
    out: list[list[BinCopy] | None] = []
    for s in doc.structures:
        if s.uptake is None:
            out.append(None)
            continue
        shown = bin_index(legend, s.uptake.value_at(real_t), bins)
        if np.all(shown == shown[0]):  # one colour throughout: a single copy, not animated
            out.append([BinCopy(int(shown[0]), np.zeros(0), np.zeros(0), 1.0)])
            continue
        copies = []
        for b in np.unique(shown):
            visible = shown == b
            change = np.flatnonzero(np.diff(visible)) + 1
            keys = np.unique(np.concatenate([[0, len(frames) - 1], change - 1, change]))
            copies.append(BinCopy(int(b), frames[keys], np.where(visible[keys], 1.0, HIDDEN_SCALE),
                                  1.0 if shown[peak] == b else HIDDEN_SCALE))
        out.append(copies)
    return out


def share_triangles(triangles: list[int], copies: list[int], budget: int, *,
                    floor: int = FLOOR_TRIANGLES) -> list[int]:
    """Triangle targets per structure so that sum(copies x target) <= budget.

    Every structure keeps the same fraction k of its triangles (the largest k that fits),
    but at least ``floor`` (or all it has, if fewer); where the floors alone exceed the
    budget the floor shrinks to fit.
    """
    t = np.asarray(triangles, dtype=np.int64)
    w = np.asarray(copies, dtype=np.int64)
    if int((t * w).sum()) <= budget:
        return [int(x) for x in t]
    floor = int(min(floor, budget // max(int(w.sum()), 1)))
    base = np.minimum(t, floor)

    def drawn(k: float) -> tuple[np.ndarray, int]:
        target = np.maximum(base, np.floor(k * t).astype(np.int64))
        return target, int((target * w).sum())

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if drawn(mid)[1] <= budget:
            lo = mid
        else:
            hi = mid
    return [int(x) for x in drawn(lo)[0]]


def simplified(geometry: Geometry, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The geometry with at most ``target`` triangles (meshoptimizer's quadric simplifier,
    its sloppy one where topology stops the first short), unused vertices dropped.

    Returns positions (n, 3) float32 metres glTF frame, indices (m, 3) int32 and unit
    normals (n, 3) float32 (the geometry's own, or area-weighted ones).
    """
    positions = np.ascontiguousarray(geometry.positions, dtype=np.float32)
    faces = np.asarray(geometry.indices, dtype=np.uint32).reshape(-1, 3)
    normals = geometry.normals
    if len(faces) > target:
        flat = np.ascontiguousarray(faces.ravel())
        out = np.zeros_like(flat)
        count = mo.simplify(out, flat, positions, target_index_count=3 * target, target_error=1.0)
        aim = target
        while count > 3 * target and aim > 0:  # the quadric simplifier stopped short (topology)
            count = mo.simplify_sloppy(out, flat, positions, target_index_count=3 * aim, target_error=1.0)
            aim = int(aim * 0.8)
        faces = out[: min(count, 3 * target)].reshape(-1, 3)
    used, local = np.unique(faces, return_inverse=True)
    positions = positions[used]
    faces = local.reshape(-1, 3)
    normals = vertex_normals(positions, faces) if normals is None else np.asarray(normals, np.float32)[used]
    return positions, faces.astype(np.int32), normals


def _unique(name: str, taken: set[str]) -> str:
    """A valid USD prim name from ``name``, not yet in ``taken`` (which it joins)."""
    from pxr import Tf

    base = Tf.MakeValidIdentifier(name or "structure")
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _write_stage(path: Path, doc: Document, meshes, copies, *, bins: int, fps: int) -> None:
    from pxr import Gf, Kind, Sdf, Usd, UsdGeom, UsdShade

    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    UsdGeom.SetStageMetersPerUnit(stage, UsdGeom.LinearUnits.meters)
    root = UsdGeom.Xform.Define(stage, f"/{ROOT}")
    stage.SetDefaultPrim(root.GetPrim())
    Usd.ModelAPI(root.GetPrim()).SetKind(Kind.Tokens.component)
    stage.GetRootLayer().customLayerData = {"creator": doc.generator}
    scope = UsdGeom.Scope.Define(stage, f"/{ROOT}/{MATERIALS}")
    taken_prims = {MATERIALS}
    taken_materials: set[str] = set()
    made: dict[tuple, UsdShade.Material] = {}
    colors = bin_colors(doc.legend, bins) if doc.legend is not None else None

    def material(key: tuple, name: str, diffuse, emissive, opacity: float, roughness: float) -> UsdShade.Material:
        if key in made:
            return made[key]
        mpath = scope.GetPath().AppendChild(_unique(name, taken_materials))
        mat = UsdShade.Material.Define(stage, mpath)
        shader = UsdShade.Shader.Define(stage, mpath.AppendChild("surface"))
        shader.CreateIdAttr("UsdPreviewSurface")
        shader.CreateInput("diffuseColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(*map(float, diffuse)))
        shader.CreateInput("emissiveColor", Sdf.ValueTypeNames.Color3f).Set(Gf.Vec3f(*map(float, emissive)))
        shader.CreateInput("opacity", Sdf.ValueTypeNames.Float).Set(float(opacity))
        shader.CreateInput("roughness", Sdf.ValueTypeNames.Float).Set(float(roughness))
        shader.CreateInput("metallic", Sdf.ValueTypeNames.Float).Set(0.0)
        mat.CreateSurfaceOutput().ConnectToSource(shader.ConnectableAPI(), "surface")
        made[key] = mat
        return mat

    def static_material(m: Material) -> UsdShade.Material:
        color = np.clip(np.asarray(m.color, dtype=np.float64), 0.0, 1.0)
        # unlit: a pure emissive surface (what usd_from_gltf does for KHR_materials_unlit)
        diffuse, emissive = (np.zeros(3), color) if m.unlit else (color, np.zeros(3))
        key = ("static", m.name, tuple(color.round(6)), round(m.alpha, 6), round(m.roughness, 6), m.unlit)
        return material(key, m.name, diffuse, emissive, m.alpha, m.roughness)

    def bin_material(b: int, m: Material) -> UsdShade.Material:
        color = np.clip(colors[b], 0.0, 1.0)
        key = ("bin", b, round(m.alpha, 6), round(m.roughness, 6))
        name = f"uptake_bin_{b}" if m.alpha >= 1 else f"uptake_bin_{b}_translucent"
        return material(key, name, color, GLOW * color, m.alpha, m.roughness)

    animated = False
    for s, (positions, faces, normals), flip in zip(doc.structures, meshes, copies):
        if len(faces) == 0:
            log.info("to_usdz: %s has no triangles; skipped", s.name)
            continue
        xform = UsdGeom.Xform.Define(stage, root.GetPath().AppendChild(_unique(s.name, taken_prims)))
        centre = (positions.min(0).astype(np.float64) + positions.max(0)) / 2
        xform.AddTranslateOp().Set(Gf.Vec3d(*map(float, centre)))
        local = (positions - centre.astype(np.float32)).astype(np.float32)
        if flip is None:
            mesh = _mesh(stage, xform.GetPath().AppendChild("mesh"), local, faces, normals, s)
            UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(static_material(s.material))
            continue
        animated = True
        for c in flip:
            mesh = _mesh(stage, xform.GetPath().AppendChild(f"bin_{c.bin}"), local, faces, normals, s)
            UsdShade.MaterialBindingAPI.Apply(mesh.GetPrim()).Bind(bin_material(c.bin, s.material))
            if len(c.times) == 0:
                continue
            scale = mesh.AddScaleOp()
            scale.Set(Gf.Vec3f(c.default))
            for t, v in zip(c.times, c.scales):
                scale.Set(Gf.Vec3f(float(v)), Usd.TimeCode(float(t)))
    if animated:
        stage.SetStartTimeCode(0.0)
        stage.SetEndTimeCode(doc.legend.clip_s * fps)
        stage.SetTimeCodesPerSecond(float(fps))
        stage.SetFramesPerSecond(float(fps))
    stage.GetRootLayer().Save()


def _mesh(stage, path, positions: np.ndarray, faces: np.ndarray, normals: np.ndarray, s: StructureNode):
    from pxr import UsdGeom, Vt

    mesh = UsdGeom.Mesh.Define(stage, path)
    points = Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(positions, dtype=np.float32))
    mesh.CreatePointsAttr(points)
    mesh.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, dtype=np.int32)))
    mesh.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(np.ascontiguousarray(faces.ravel(), dtype=np.int32)))
    mesh.CreateNormalsAttr(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(normals, dtype=np.float32)))
    mesh.SetNormalsInterpolation(UsdGeom.Tokens.vertex)
    mesh.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
    mesh.CreateDoubleSidedAttr(bool(s.material.double_sided))
    mesh.CreateExtentAttr(UsdGeom.Mesh.ComputeExtent(points))
    return mesh


def validation_errors(path) -> list[str]:
    """Errors (not warnings) of every validator usd-core registers (UsdValidation: core,
    UsdGeom, UsdShade, UsdSkel, the usdz package validators, ...) on the USD or USDZ file
    at ``path``, as ``"validator: message"`` lines; empty when it passes. A file usd-core
    cannot open gives one ``"open: ..."`` line. (usd-core 26 has no ARKit compliance
    checker any more; the usdz package rules are among these validators.)"""
    from pxr import Tf, Usd, UsdValidation

    try:
        stage = Usd.Stage.Open(str(path))
    except Tf.ErrorException as exc:
        return [f"open: {str(exc).strip()}"]
    registry = UsdValidation.ValidationRegistry()
    context = UsdValidation.ValidationContext(registry.GetOrLoadAllValidators())
    out = []
    for error in context.Validate(stage):
        if error.GetType() == UsdValidation.ValidationErrorType.Error:
            out.append(f"{error.GetValidator().GetMetadata().name}: {error.GetMessage()}")
    return out

"""USDZ for AR Quick Look: usd-core's validators, the triangle budget with the colour-bin
copies, and the scale flipbook against a known piecewise-linear uptake curve."""

from __future__ import annotations

import math
import zipfile

import numpy as np
import pytest
from pxr import Usd, UsdGeom, UsdShade

from arkit_py.scene.document import (
    Document,
    Geometry,
    Legend,
    Material,
    StructureNode,
    Uptake,
)
from arkit_py.scene.palette import UPTAKE_PALETTE
from arkit_py.scene.usdz import share_triangles, to_usdz, validation_errors

BINS = 8
FPS = 24
CLIP_S = 6.0
REAL_S = 3600.0
VMAX = 8.0
PEAK = 7.9  # kBq/mL at 30 min, from 0 at 0 min, down to 0.5 at 60 min


def uv_sphere(centre, radius: float, rings: int, segments: int) -> Geometry:
    """A closed latitude-longitude sphere: 2 poles + (rings - 1) x segments vertices,
    2 x segments x (rings - 1) triangles, counter-clockwise seen from outside."""
    theta = np.linspace(0, math.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * math.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.cos(t), -np.sin(t) * np.sin(p)], axis=-1).reshape(-1, 3)
    unit = np.vstack([[0, 1, 0], ring, [0, -1, 0]])
    faces = []
    j = np.arange(segments)
    k = (j + 1) % segments
    faces.append(np.stack([np.zeros(segments, int), 1 + j, 1 + k], axis=1))
    for r in range(rings - 2):
        a, b = 1 + r * segments, 1 + (r + 1) * segments
        faces.append(np.stack([a + j, b + j, b + k], axis=1))
        faces.append(np.stack([a + j, b + k, a + k], axis=1))
    south = len(unit) - 1
    last = 1 + (rings - 2) * segments
    faces.append(np.stack([np.full(segments, south), last + k, last + j], axis=1))
    positions = (unit * radius + np.asarray(centre)).astype(np.float32)
    return Geometry(positions, np.concatenate(faces).astype(np.uint32), unit.astype(np.float32))


def known_value(real_t):
    """The liver's curve in closed form: linear up to PEAK at 1800 s, down to 0.5 at 3600 s."""
    t = np.asarray(real_t, dtype=np.float64)
    return np.where(t <= 1800, PEAK * t / 1800, PEAK - (PEAK - 0.5) * (t - 1800) / 1800)


def make_document(*, liver: Geometry | None = None, legend: bool = True) -> Document:
    liver_geo = liver if liver is not None else uv_sphere([0.04, 1.25, 0.02], 0.07, 16, 24)
    body_geo = uv_sphere([0.0, 0.9, 0.0], 0.3, 12, 16)
    uptake = Uptake(np.array([0.0, 1800.0, 3600.0]), np.array([0.0, PEAK, 0.5]), np.zeros(3), region="liver")
    structures = [
        StructureNode("liver", "digestive", liver_geo, Material("liver", (0.45, 0.08, 0.06), unlit=True),
                      uptake=uptake if legend else None),
        StructureNode("body", "body", body_geo, Material("body", (0.8, 0.62, 0.5), alpha=0.22)),
    ]
    doc = Document(structures)
    if legend:
        doc.legend = Legend("concentration", "kBq/mL", 0.0, VMAX, UPTAKE_PALETTE, clip_s=CLIP_S, real_s=REAL_S)
    return doc


def write(tmp_path, doc: Document, name: str = "hologram.usdz", **kwargs) -> Usd.Stage:
    path = tmp_path / name
    path.write_bytes(to_usdz(doc, **kwargs))
    assert validation_errors(path) == []
    return Usd.Stage.Open(str(path))


def meshes(stage: Usd.Stage) -> list[UsdGeom.Mesh]:
    return [UsdGeom.Mesh(p) for p in stage.Traverse() if p.IsA(UsdGeom.Mesh)]


def triangles(stage: Usd.Stage) -> int:
    return sum(len(m.GetFaceVertexCountsAttr().Get()) for m in meshes(stage))


def surface(prim) -> UsdShade.Shader:
    material = UsdShade.MaterialBindingAPI(prim).ComputeBoundMaterial()[0]
    return material.ComputeSurfaceSource()[0]


def test_flipbook_shows_the_bin_of_the_known_value_at_every_frame(tmp_path):
    stage = write(tmp_path, make_document(), max_triangles=20_000)
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert stage.GetDefaultPrim().GetName() == "hologram"
    assert stage.GetStartTimeCode() == 0
    assert stage.GetEndTimeCode() / stage.GetTimeCodesPerSecond() == pytest.approx(CLIP_S)
    assert stage.GetTimeCodesPerSecond() == FPS

    liver = stage.GetPrimAtPath("/hologram/liver")
    copies = {int(c.GetName().split("_")[1]): c for c in liver.GetChildren()}
    # rising from 0 then falling to 0.5 passes through every bin, each shown at some frame
    assert sorted(copies) == list(range(BINS))
    frames = np.arange(0, int(CLIP_S * FPS) + 1)
    expected = np.minimum((known_value(frames / FPS * REAL_S / CLIP_S) / VMAX * BINS).astype(int), BINS - 1)
    for frame, b in zip(frames, expected):
        scales = {k: tuple(c.GetAttribute("xformOp:scale").Get(Usd.TimeCode(float(frame)))) for k, c in copies.items()}
        whole = [k for k, s in scales.items() if s == (1.0, 1.0, 1.0)]
        assert whole == [b], f"frame {frame}"
        assert all(s == (0.0, 0.0, 0.0) for k, s in scales.items() if k != b)

    legend = make_document().legend
    for b, prim in copies.items():
        shader = surface(prim)
        centre = (b + 0.5) / BINS * VMAX
        np.testing.assert_allclose(shader.GetInput("diffuseColor").Get(), legend.color(centre), atol=1e-6)
        assert max(shader.GetInput("emissiveColor").Get()) > 0  # a little glow
        assert shader.GetInput("opacity").Get() == 1.0
        # every copy draws the same mesh
        assert UsdGeom.Mesh(prim).GetPointsAttr().Get() == UsdGeom.Mesh(copies[0]).GetPointsAttr().Get()
    # the copies sit where the structure is: world bounds of the visible copy = the sphere
    cache = UsdGeom.BBoxCache(Usd.TimeCode(float(FPS * CLIP_S / 2)), [UsdGeom.Tokens.default_])
    box = cache.ComputeWorldBound(liver).ComputeAlignedRange()
    np.testing.assert_allclose(box.GetMidpoint(), [0.04, 1.25, 0.02], atol=1e-3)
    np.testing.assert_allclose(box.GetSize(), [0.14] * 3, atol=2e-3)
    assert triangles(stage) <= 20_000


def test_static_structure_keeps_one_mesh_its_colour_and_opacity(tmp_path):
    stage = write(tmp_path, make_document())
    body = stage.GetPrimAtPath("/hologram/body")
    children = body.GetChildren()
    assert len(children) == 1 and children[0].IsA(UsdGeom.Mesh)
    for prim in Usd.PrimRange(body):
        assert all(not a.ValueMightBeTimeVarying() for a in prim.GetAttributes()), prim.GetPath()
    shader = surface(children[0])
    assert shader.GetInput("opacity").Get() == pytest.approx(0.22)
    np.testing.assert_allclose(shader.GetInput("diffuseColor").Get(), (0.8, 0.62, 0.5), atol=1e-6)
    # nothing simplified under the default budget: 2 x 16 x 11 triangles
    assert len(UsdGeom.Mesh(children[0]).GetFaceVertexCountsAttr().Get()) == 2 * 16 * 11


def test_budget_counts_every_copy_and_forces_simplification(tmp_path):
    big = uv_sphere([0.04, 1.25, 0.02], 0.07, 160, 250)  # 79,500 triangles, x 8 copies
    budget = 30_000
    stage = write(tmp_path, make_document(liver=big), max_triangles=budget)
    total = triangles(stage)
    assert budget * 0.8 <= total <= budget
    liver = [UsdGeom.Mesh(c) for c in stage.GetPrimAtPath("/hologram/liver").GetChildren()]
    counts = {len(m.GetFaceVertexCountsAttr().Get()) for m in liver}
    assert len(counts) == 1 and counts.pop() * BINS <= budget
    body = UsdGeom.Mesh(stage.GetPrimAtPath("/hologram/body/mesh"))
    assert len(body.GetFaceVertexCountsAttr().Get()) >= 96  # the floor
    # simplified, still the same sphere: every vertex within 1 % of the radius
    points = np.array(liver[0].GetPointsAttr().Get())
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 0.07, rtol=0.01)


def test_uptake_that_stays_in_one_bin_is_one_still_copy(tmp_path):
    doc = make_document()
    flat = Uptake(np.array([0.0, 3600.0]), np.array([2.6, 2.9]), np.zeros(2))  # bin 2 throughout
    doc.structures.append(StructureNode("spleen", "lymphatic", uv_sphere([-0.08, 1.2, 0.0], 0.05, 8, 12),
                                        Material("spleen", (1.0, 1.0, 1.0), unlit=True), uptake=flat))
    stage = write(tmp_path, doc)
    children = stage.GetPrimAtPath("/hologram/spleen").GetChildren()
    assert [c.GetName() for c in children] == ["bin_2"]
    assert not children[0].GetAttribute("xformOp:scale")
    np.testing.assert_allclose(surface(children[0]).GetInput("diffuseColor").Get(), doc.legend.color(2.5), atol=1e-6)


def test_document_without_legend_is_static(tmp_path):
    stage = write(tmp_path, make_document(legend=False))
    assert not stage.GetRootLayer().HasEndTimeCode()
    for prim in stage.Traverse():
        assert all(not a.ValueMightBeTimeVarying() for a in prim.GetAttributes()), prim.GetPath()
    assert [p.GetName() for p in stage.GetDefaultPrim().GetChildren() if p.IsA(UsdGeom.Xform)] == ["liver", "body"]
    liver = stage.GetPrimAtPath("/hologram/liver/mesh")
    # the unlit material becomes a pure emissive surface
    np.testing.assert_allclose(surface(liver).GetInput("emissiveColor").Get(), (0.45, 0.08, 0.06), atol=1e-6)
    assert triangles(stage) == 2 * 24 * 15 + 2 * 16 * 11


def test_package_follows_the_arkit_rules_and_is_deterministic(tmp_path):
    doc = make_document()
    data = to_usdz(doc)
    assert to_usdz(doc) == data
    path = tmp_path / "hologram.usdz"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as z:
        entries = z.infolist()
    # one binary layer, stored (Quick Look memory-maps it), 64-byte aligned
    assert [e.filename for e in entries] == ["hologram.usdc"]
    assert entries[0].compress_type == zipfile.ZIP_STORED
    offset = entries[0].header_offset + 30 + len(entries[0].filename) + len(entries[0].extra)
    assert offset % 64 == 0
    stage = Usd.Stage.Open(str(path))
    allowed = {"Xform", "Scope", "Mesh", "Material", "Shader"}
    assert {p.GetTypeName() for p in stage.Traverse()} <= allowed
    ids = {UsdShade.Shader(p).GetIdAttr().Get() for p in stage.Traverse() if p.IsA(UsdShade.Shader)}
    assert ids == {"UsdPreviewSurface"}


def test_validators_are_not_vacuous(tmp_path):
    path = tmp_path / "bare.usda"
    stage = Usd.Stage.CreateNew(str(path))
    UsdGeom.Xform.Define(stage, "/root")
    stage.Save()
    errors = validation_errors(path)
    assert any("upAxis" in e for e in errors) and any("metersPerUnit" in e for e in errors)


def test_share_triangles_keeps_the_floor_and_the_budget():
    targets = share_triangles([50_000, 2_000, 40], [8, 1, 8], 20_000)
    assert sum(t * w for t, w in zip(targets, [8, 1, 8])) <= 20_000
    assert targets[2] == 40 and targets[1] >= 96
    assert share_triangles([100, 200], [8, 1], 10_000) == [100, 200]


@pytest.mark.parametrize("kwargs", [{"bins": 0}, {"max_triangles": 0}, {"fps": 0}])
def test_bad_arguments_name_the_parameter(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        to_usdz(make_document(), **kwargs)

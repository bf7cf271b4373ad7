"""Benchmark: arkit's meshing against a Slicer-style VTK pipeline and vtkSurfaceNets3D.

Three pipelines mesh the same label volumes to the same total triangle count:

arkit
    The geometry steps of ``build_hologram`` (``scene/transforms/``: islands, surfaces,
    decimation, volume, gather, each timed by ``Document.transform``) at budget N:
    multi-label surface nets, shared-tolerance patch decimation, volume restore.
slicer
    What a 3D Slicer user gets from "Show 3D" (closed-surface conversion, default smoothing
    factor 0.5): ``vtkDiscreteFlyingEdges3D`` over all labels in one call, then per label
    ``vtkWindowedSincPolyDataFilter`` (20 iterations, pass band 10^(-4 x 0.5) = 0.01,
    non-manifold smoothing and coordinate normalisation on, feature-edge and boundary
    smoothing off: Slicer's ``vtkBinaryLabelmapToClosedSurfaceConversionRule``), then
    ``vtkQuadricDecimation`` per label to its share of arkit's triangle count.
surfacenets
    ``vtkSurfaceNets3D`` (all labels, default smoothing), then
    ``fast_simplification.simplify`` per label to its share of arkit's triangle count.

A label's share is arkit's total times the label's fraction of the pipeline's own
triangles before decimation. Each pipeline runs in a fresh interpreter (this file with
``--worker``): imports, then the label volume is loaded, then the baseline is taken, so
the peak memory above it is the pipeline's own. Meshes come back through a temporary
directory and are judged here, outside the timed part.

Volumes
    ellipsoids : random axis-aligned ellipsoids (seeded), later labels overwrite earlier
        ones, 1 mm voxels; truth is each ellipsoid's closed form.
    phantom : the MIRD phantom (``mird.voxelize``); truth is the organs' analytic
        predicates (Monte-Carlo volumes, marching cubes of a 0.5 mm sampling for surfaces).

Run ``python benchmarks/hologram.py`` (about five minutes on two cores) or with
``--quick`` (about two minutes). See benchmarks/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # for tests.analytic; appended so PYTHONPATH can point arkit_py elsewhere

PIPELINES = ("arkit", "slicer", "surfacenets")

# Targets from the issue.
SPEED_VS_SLICER = 8.0  # arkit at least this many times faster than the Slicer-style pipeline
MEAN_VOXELS, P95_VOXELS, VOLUME_PERCENT = 0.5, 1.0, 2.0
MEMORY_TIMES_VOLUME = 4.0
PHONE = {"triangles": 100_000, "draw_calls": 60, "bytes": 3_000_000}
MIN_JUDGED_ML = 20.0  # volume errors are judged on labels at least this large


@dataclass(frozen=True)
class Config:
    shape: tuple[int, int, int]
    labels: int
    triangles_per_label: int  # arkit's budget on the ellipsoid volume = labels x this
    phantom_mm: float
    phantom_budget: int
    monte_carlo: int  # points per organ for the phantom's volume truth
    seed: int = 20240611


FULL = Config((400, 384, 384), 100, 1000, 1.0, 100_000, 10_000_000)
QUICK = Config((200, 192, 192), 30, 1000, 2.0, 100_000, 1_000_000)

SURFACE_ORGANS = ("heart", "kidney_left", "pancreas", "gallbladder", "stomach", "colon_sigmoid", "spleen",
                  "urinary_bladder")


# --- memory ----------------------------------------------------------------------------

def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, bytes."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --- volumes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Ellipsoid:
    """Axis-aligned; centre and semi-axes in voxel index units (1 mm voxels)."""

    centre: tuple[float, float, float]
    axes: tuple[float, float, float]

    def box(self, shape, margin: float = 0.0) -> tuple[slice, slice, slice]:
        return tuple(slice(max(int(np.floor(c - a - margin)), 0), min(int(np.ceil(c + a + margin)) + 1, n))
                     for c, a, n in zip(self.centre, self.axes, shape))  # type: ignore[return-value]

    def inside(self, points: np.ndarray) -> np.ndarray:
        return (((points - self.centre) / self.axes) ** 2).sum(axis=1) <= 1.0

    @property
    def volume(self) -> float:
        return 4.0 / 3.0 * np.pi * float(np.prod(self.axes))


def random_ellipsoids(shape, count: int, *, seed: int, axes=(4.0, 25.0)) -> list[Ellipsoid]:
    """``count`` ellipsoids with semi-axes uniform in ``axes`` (voxels), wholly inside ``shape``
    with at least one background voxel to spare."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        a = rng.uniform(*axes, 3)
        c = [rng.uniform(ai + 1.0, n - 2.0 - ai) for ai, n in zip(a, shape)]
        out.append(Ellipsoid(tuple(float(x) for x in c), tuple(float(x) for x in a)))
    return out


def label_volume(shape, ellipsoids: list[Ellipsoid]) -> np.ndarray:
    """(I, J, K) uint8; label i + 1 on the voxels whose centres lie in ellipsoid i, later
    labels overwriting earlier ones."""
    labels = np.zeros(shape, dtype=np.uint8)
    for value, e in enumerate(ellipsoids, 1):
        box = e.box(shape)
        grid = np.ogrid[tuple(slice(s.start, s.stop) for s in box)]
        d = sum(((g - c) / a) ** 2 for g, c, a in zip(grid, e.centre, e.axes))
        labels[box][d <= 1.0] = value
    return labels


def _overlapping_later(ellipsoids: list[Ellipsoid]) -> dict[int, list[int]]:
    """label -> later labels whose ellipsoid's box meets its box (grown by one voxel)."""
    lo = np.array([np.subtract(e.centre, e.axes) - 1 for e in ellipsoids])
    hi = np.array([np.add(e.centre, e.axes) + 1 for e in ellipsoids])
    out = {}
    for i in range(len(ellipsoids)):
        meets = np.all((lo[i + 1:] <= hi[i]) & (hi[i + 1:] >= lo[i]), axis=1)
        out[i + 1] = [int(j) + i + 2 for j in np.flatnonzero(meets)]
    return out


def ellipsoid_truth_volumes(ellipsoids: list[Ellipsoid], *, n: int, seed: int) -> dict[int, dict]:
    """label -> {"ml", "sigma_ml", "how"}: the closed form where no later ellipsoid can cut
    the label, else Monte Carlo over its ellipsoid's box minus the later ellipsoids."""
    rng = np.random.default_rng(seed)
    later = _overlapping_later(ellipsoids)
    out = {}
    for label, e in enumerate(ellipsoids, 1):
        cutters = [ellipsoids[m - 1] for m in later[label]]
        if not cutters:
            out[label] = {"ml": e.volume / 1000.0, "sigma_ml": 0.0, "how": "closed form"}
            continue
        lo, hi = np.subtract(e.centre, e.axes), np.add(e.centre, e.axes)
        p = rng.uniform(lo, hi, (n, 3))
        keep = e.inside(p)
        for c in cutters:
            keep &= ~c.inside(p)
        box = float(np.prod(hi - lo))
        frac = keep.mean()
        out[label] = {"ml": box * frac / 1000.0, "sigma_ml": box * np.sqrt(frac * (1 - frac) / n) / 1000.0,
                      "how": "Monte Carlo"}
    return out


# --- pipelines (run inside a worker) ---------------------------------------------------

def _to_ras(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def run_arkit(labels: np.ndarray, affine: np.ndarray, meta: dict) -> tuple[dict, dict]:
    from arkit_py.scene.document import Document, Work
    from arkit_py.scene.transforms import decimation, gather, islands, surfaces, volume
    from arkit_py.sources.segmentation import Segmentation

    seg = Segmentation([labels], affine, meta["segments"], body_label=meta["body_label"])
    budget = meta["budget"]
    doc = Document(work=Work(seg, labels=set(meta["wanted"])))
    doc.transform(islands.step(), surfaces.step(surfaces.Options(budget=budget)),
                  decimation.step(decimation.Options(budget=budget)), volume.step(), gather.step())
    work = doc.work
    meshes = {label: (m.vertices, m.faces.astype(np.int64)) for label, m in work.meshes.items()}
    info = {"steps": {k: round(v, 3) for k, v in doc.seconds.items()},
            "triangles_before": int(work.triangles_before), "error_mm": float(work.error_mm)}
    return meshes, info


def _vtk_image(labels: np.ndarray):
    """A vtkImageData sharing ``labels``' memory: VTK's x runs along the array's last axis,
    so VTK points come out as (k, j, i) with unit spacing."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData

    if any(np.any(s) for s in (labels[0], labels[-1], labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1])):
        raise ValueError("benchmark: labels touch the volume's border; pad them first")
    image = vtkImageData()
    image.SetDimensions(labels.shape[2], labels.shape[1], labels.shape[0])
    scalars = numpy_to_vtk(labels.ravel(), deep=False)
    scalars.SetName("labels")
    image.GetPointData().SetScalars(scalars)
    return image, scalars


def _triangles(polydata) -> np.ndarray:
    from vtkmodules.util.numpy_support import vtk_to_numpy

    cells = polydata.GetPolys()
    offsets = vtk_to_numpy(cells.GetOffsetsArray())
    if len(offsets) > 1 and not np.all(np.diff(offsets) == 3):
        raise ValueError("benchmark: expected triangles only")
    return vtk_to_numpy(cells.GetConnectivityArray()).reshape(-1, 3).astype(np.int64)


def _points(polydata) -> np.ndarray:
    from vtkmodules.util.numpy_support import vtk_to_numpy

    return vtk_to_numpy(polydata.GetPoints().GetData()).astype(np.float64)


def _from_vtk(affine: np.ndarray, points_kji: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VTK (k, j, i) points -> RAS mm; faces flipped so they keep facing outward after the
    axis swap (a reflection)."""
    return _to_ras(affine, points_kji[:, ::-1]), faces[:, ::-1].copy()


def _polydata(points: np.ndarray, faces: np.ndarray):
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    pts = vtkPoints()
    pts.SetData(numpy_to_vtk(np.ascontiguousarray(points), deep=True))
    cells = vtkCellArray()
    cells.SetData(3, numpy_to_vtkIdTypeArray(np.ascontiguousarray(faces.ravel()), deep=True))
    pd = vtkPolyData()
    pd.SetPoints(pts)
    pd.SetPolys(cells)
    return pd


def _split_by_point_label(points: np.ndarray, faces: np.ndarray, point_labels: np.ndarray):
    """Per label (points, faces) of a mesh whose labels' points are disjoint (flying
    edges gives every contour value its own points)."""
    face_labels = point_labels[faces[:, 0]]
    order_p = np.argsort(point_labels, kind="stable")
    sorted_p = point_labels[order_p]
    local = np.empty(len(points), dtype=np.int64)
    values, starts = np.unique(sorted_p, return_index=True)
    first = np.repeat(starts, np.diff(np.append(starts, len(points))))
    local[order_p] = np.arange(len(points)) - first
    order_f = np.argsort(face_labels, kind="stable")
    sorted_f = face_labels[order_f]
    out = {}
    for value, start in zip(values, starts):
        fs, fe = np.searchsorted(sorted_f, [value, value + 1])
        if fe == fs:
            continue
        pe = np.searchsorted(sorted_p, value + 1)
        out[int(value)] = (points[order_p[start:pe]], local[faces[order_f[fs:fe]]])
    return out


def _shares(total: int, counts: dict[int, int]) -> dict[int, int]:
    """Split ``total`` triangles over labels in proportion to ``counts``."""
    whole = sum(counts.values())
    return {label: max(1, int(round(total * n / whole))) for label, n in counts.items()}


def run_slicer(labels: np.ndarray, affine: np.ndarray, meta: dict) -> tuple[dict, dict]:
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkQuadricDecimation, vtkWindowedSincPolyDataFilter
    from vtkmodules.vtkFiltersGeneral import vtkDiscreteFlyingEdges3D

    steps = {}
    t = time.perf_counter()
    image, _keep = _vtk_image(labels)
    fe = vtkDiscreteFlyingEdges3D()
    fe.SetInputData(image)
    fe.ComputeGradientsOff()
    fe.ComputeNormalsOff()
    fe.ComputeScalarsOn()
    for i, value in enumerate(meta["wanted"]):
        fe.SetValue(i, value)
    fe.Update()
    out = fe.GetOutput()
    steps["flying_edges"] = time.perf_counter() - t

    t = time.perf_counter()
    parts = _split_by_point_label(_points(out), _triangles(out),
                                  vtk_to_numpy(out.GetPointData().GetScalars()).astype(np.int64))
    del out, fe
    steps["split"] = time.perf_counter() - t
    before = {label: len(f) for label, (_, f) in parts.items()}
    shares = _shares(meta["target"], before)

    smooth_s = decimate_s = 0.0
    meshes = {}
    for label, (p, f) in parts.items():
        t = time.perf_counter()
        smoother = vtkWindowedSincPolyDataFilter()
        smoother.SetInputData(_polydata(p, f))
        smoother.SetNumberOfIterations(20)
        smoother.SetPassBand(10.0 ** (-4.0 * 0.5))
        smoother.BoundarySmoothingOff()
        smoother.FeatureEdgeSmoothingOff()
        smoother.NonManifoldSmoothingOn()
        smoother.NormalizeCoordinatesOn()
        smoother.Update()
        smooth_s += time.perf_counter() - t
        t = time.perf_counter()
        decimator = vtkQuadricDecimation()
        decimator.SetInputConnection(smoother.GetOutputPort())
        decimator.SetTargetReduction(max(0.0, 1.0 - shares[label] / len(f)))
        decimator.Update()
        result = decimator.GetOutput()
        meshes[label] = _from_vtk(affine, _points(result), _triangles(result))
        decimate_s += time.perf_counter() - t
    steps["smoothing"], steps["decimation"] = smooth_s, decimate_s
    info = {"steps": {k: round(v, 3) for k, v in steps.items()}, "triangles_before": int(sum(before.values()))}
    return meshes, info


def run_surfacenets(labels: np.ndarray, affine: np.ndarray, meta: dict) -> tuple[dict, dict]:
    import fast_simplification
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkSurfaceNets3D

    steps = {}
    t = time.perf_counter()
    image, _keep = _vtk_image(labels)
    nets = vtkSurfaceNets3D()
    nets.SetInputData(image)
    nets.SetBackgroundLabel(0)
    for i, value in enumerate(meta["wanted"]):
        nets.SetLabel(i, value)
    nets.Update()
    out = nets.GetOutput()
    points, faces = _points(out), _triangles(out)
    pairs = vtk_to_numpy(out.GetCellData().GetArray("BoundaryLabels")).astype(np.int64)
    del out, nets
    steps["surface_nets"] = time.perf_counter() - t

    t = time.perf_counter()
    # every face twice, once for each side's label (flipped for the second side), grouped by label
    side = np.concatenate([pairs[:, 0], pairs[:, 1]])
    which = np.concatenate([np.arange(len(faces)), np.arange(len(faces))])
    keep = np.isin(side, meta["wanted"])
    side, which, flip = side[keep], which[keep], (np.arange(2 * len(faces)) >= len(faces))[keep]
    order = np.argsort(side, kind="stable")
    values, starts = np.unique(side[order], return_index=True)
    parts = {}
    for value, group in zip(values, np.split(order, starts[1:])):
        f = faces[which[group]]
        f[flip[group]] = f[flip[group]][:, ::-1]
        ids, local = np.unique(f, return_inverse=True)
        parts[int(value)] = (points[ids], local.reshape(-1, 3))
    steps["split"] = time.perf_counter() - t
    before = {label: len(f) for label, (_, f) in parts.items()}
    shares = _shares(meta["target"], before)

    t = time.perf_counter()
    meshes = {}
    for label, (p, f) in parts.items():
        if shares[label] < len(f):
            p, f = fast_simplification.simplify(p, f.astype(np.int32), target_count=shares[label])
        meshes[label] = _from_vtk(affine, np.asarray(p, dtype=np.float64), np.asarray(f, dtype=np.int64))
    steps["simplification"] = time.perf_counter() - t
    info = {"steps": {k: round(v, 3) for k, v in steps.items()}, "triangles_before": int(sum(before.values()))}
    return meshes, info


def run_hologram(labels: np.ndarray, affine: np.ndarray, meta: dict) -> tuple[dict, dict]:
    from arkit_py.scene.hologram import HologramOptions, build_hologram
    from arkit_py.sources.segmentation import Segmentation

    seg = Segmentation([labels], affine, meta["segments"], body_label=meta["body_label"])
    result = build_hologram(seg, HologramOptions())
    r = result.report
    return {}, {"steps": r["seconds"], "triangles": r["triangles"], "draw_calls": r["draw_calls"], "bytes": r["bytes"],
                "error_mm": result.document.scene_extras["arkit"]["max_error_mm"]}


RUNNERS = {"arkit": run_arkit, "slicer": run_slicer, "surfacenets": run_surfacenets, "hologram": run_hologram}


def _imports(name: str) -> None:
    """Import what a pipeline needs before the baseline is taken. arkit also meshes a tiny
    volume once, so one-off work (compiling or loading cached kernels) is not timed."""
    if name in ("arkit", "hologram"):
        import arkit_py.scene.hologram  # noqa: F401
        from arkit_py.geometry.decimate import DecimateOptions
        from arkit_py.geometry.meshes import build_meshes
        from arkit_py.sources.segmentation import Segment, Segmentation
        from arkit_py.structures import lookup

        tiny = np.zeros((16, 16, 16), dtype=np.uint8)
        tiny[3:12, 3:12, 3:12] = 1
        tiny[5:9, 5:9, 5:9] = 2
        seg = Segmentation([tiny], np.eye(4), {v: Segment(v, lookup(f"warm up {v}")) for v in (1, 2)})
        logging.disable(logging.WARNING)  # the tiny volume may miss its budget; say nothing
        try:
            build_meshes(seg, decimation=DecimateOptions(budget=200))
        finally:
            logging.disable(logging.NOTSET)
    else:
        import fast_simplification  # noqa: F401
        import vtkmodules.vtkFiltersCore  # noqa: F401
        import vtkmodules.vtkFiltersGeneral  # noqa: F401
        from vtkmodules.util import numpy_support  # noqa: F401
        from vtkmodules.vtkCommonCore import vtkSMPTools

        vtkSMPTools.SetBackend("STDThread")  # multi-threaded, as in a Slicer build (TBB)


def worker(name: str, folder: Path) -> None:
    """Run one pipeline on folder/volume.npy and write folder/<name>.npz and .json."""
    _imports(name)
    meta = pickle.loads((folder / "meta.pkl").read_bytes())
    labels = np.load(folder / "volume.npy")
    affine = meta["affine"]
    gc.collect()
    reset = _reset_peak()
    before = _status()
    t = time.perf_counter()
    meshes, info = RUNNERS[name](labels, affine, meta)
    seconds = time.perf_counter() - t
    after = _status()
    if reset or after["VmHWM"] > before["VmHWM"]:
        peak = after["VmHWM"] - before["VmRSS"]
        exact = True
    else:  # the run never rose above the import/load peak: only an upper bound is known
        peak = before["VmHWM"] - before["VmRSS"]
        exact = False
    extra = {}
    if name == "slicer" or name == "surfacenets":
        from vtkmodules.vtkCommonCore import vtkSMPTools

        extra = {"vtk_smp_backend": vtkSMPTools.GetBackend(), "vtk_threads": vtkSMPTools.GetEstimatedNumberOfThreads()}
    info.update(seconds=seconds, peak_bytes=int(peak), peak_exact=exact, baseline_rss=before["VmRSS"], **extra)
    keys = sorted(meshes)
    np.savez(folder / f"{name}.npz", labels=np.array(keys, dtype=np.int64),
             nv=np.array([len(meshes[k][0]) for k in keys], dtype=np.int64),
             nf=np.array([len(meshes[k][1]) for k in keys], dtype=np.int64),
             vertices=np.concatenate([meshes[k][0] for k in keys]) if keys else np.zeros((0, 3)),
             faces=np.concatenate([meshes[k][1] for k in keys]) if keys else np.zeros((0, 3), np.int64))
    (folder / f"{name}.json").write_text(json.dumps(info))


def run_in_subprocess(name: str, folder: Path) -> tuple[dict, dict]:
    """Run a pipeline in a fresh interpreter; returns (meshes, info)."""
    load = os.getloadavg()[0]
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", name, str(folder)], check=True)
    info = json.loads((folder / f"{name}.json").read_text())
    info["load_average_1min"] = [round(load, 2), round(os.getloadavg()[0], 2)]  # before, after
    data = np.load(folder / f"{name}.npz")
    meshes, v0, f0 = {}, 0, 0
    for label, nv, nf in zip(data["labels"], data["nv"], data["nf"]):
        meshes[int(label)] = (data["vertices"][v0:v0 + nv], data["faces"][f0:f0 + nf])
        v0, f0 = v0 + nv, f0 + nf
    return meshes, info


# --- judging ---------------------------------------------------------------------------

def _weighted_samples(vertices: np.ndarray, faces: np.ndarray, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Points on a barycentric grid over every triangle and the surface area each stands
    for (the triangle's area over its sample count)."""
    from tests.analytic import dense_samples

    pts = dense_samples(vertices, faces, n)
    per = (n + 1) * (n + 2) // 2
    v = vertices
    area = 0.5 * np.linalg.norm(np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]]), axis=1)
    return pts, np.repeat(area / per, per)


def _weighted_stats(d: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Area-weighted mean and 95th percentile."""
    if not len(d):
        return {"mean": float("nan"), "p95": float("nan"), "max": float("nan")}
    order = np.argsort(d)
    cum = np.cumsum(w[order])
    p95 = d[order][min(np.searchsorted(cum, 0.95 * cum[-1]), len(d) - 1)]
    return {"mean": float(np.sum(d * w) / np.sum(w)), "p95": float(p95), "max": float(d.max())}


def _volume_ml(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed enclosed volume (mL) about the vertices' mean, so a small hole in an open
    mesh costs only its own cone."""
    v = vertices - vertices.mean(axis=0)
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    return float(np.einsum("ij,ij->", a, np.cross(b, c))) / 6.0 / 1000.0


def _open_edges(faces: np.ndarray) -> int:
    """Edges not matched by a reverse edge (0 for a closed, consistently oriented mesh)."""
    if not len(faces):
        return 0
    f = faces.astype(np.int64)
    stride = int(f.max()) + 1
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    forward = e[:, 0] * stride + e[:, 1]
    backward = e[:, 1] * stride + e[:, 0]
    return int(np.count_nonzero(~np.isin(forward, backward)))


def _volume_summary(errors: dict[str, float]) -> dict:
    values = np.abs(np.array(list(errors.values())))
    if not len(values):
        return {"median_abs_percent": float("nan"), "worst_abs_percent": float("nan"), "worst_label": None}
    worst = max(errors, key=lambda k: abs(errors[k]))
    return {"median_abs_percent": float(np.median(values)), "worst_abs_percent": float(values.max()),
            "worst_label": worst, "judged": len(values)}


def judge_ellipsoids(meshes: dict, ellipsoids: list[Ellipsoid], truth: dict[int, dict], voxel_mm: float) -> dict:
    """Surface distance (voxels) from each label's mesh to the nearest of the ellipsoid
    surfaces that can bound that label: its own and those of later labels whose
    ellipsoids meet it. The true boundary is part of that union, so this is exact away from
    the curves where surfaces meet and a lower bound within a voxel or so of them."""
    from tests.analytic import ellipsoid_distance

    later = _overlapping_later(ellipsoids)
    ds, ws = [], []
    errors = {}
    open_labels = 0
    for label, (v, f) in meshes.items():
        if not len(f):
            continue
        pts, w = _weighted_samples(v, f)
        d = np.full(len(pts), np.inf)
        for m in [label, *later[label]]:
            e = ellipsoids[m - 1]
            d = np.minimum(d, ellipsoid_distance(pts, e.centre, e.axes))
        ds.append(d / voxel_mm)
        ws.append(w)
        open_labels += _open_edges(f) > 0
        if truth[label]["ml"] >= MIN_JUDGED_ML:
            errors[str(label)] = 100.0 * (_volume_ml(v, f) / truth[label]["ml"] - 1.0)
    empty = np.zeros(0)
    surface = _weighted_stats(np.concatenate(ds), np.concatenate(ws)) if ds else _weighted_stats(empty, empty)
    return {"surface_voxels": surface, "volume": _volume_summary(errors), "volume_errors_percent": errors,
            "open_meshes": int(open_labels)}


def _closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n, 3) closest points to p on triangles (a, b, c), all (n, 3) (Ericson, Real-Time
    Collision Detection 5.1.5: Voronoi regions of the vertices, edges and face)."""
    def dot(x, y):
        return np.einsum("ij,ij->i", x, y)

    ab, ac, ap, bp, cp = b - a, c - a, p - a, p - b, p - c
    d1, d2, d3, d4, d5, d6 = dot(ab, ap), dot(ac, ap), dot(ab, bp), dot(ac, bp), dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        q = a + ab * np.nan_to_num(vb / denom)[:, None] + ac * np.nan_to_num(vc / denom)[:, None]
        regions = [  # first match wins, so apply in reverse
            (d1 <= 0) & (d2 <= 0), (d3 >= 0) & (d4 <= d3), (vc <= 0) & (d1 >= 0) & (d3 <= 0),
            (d6 >= 0) & (d5 <= d6), (vb <= 0) & (d2 >= 0) & (d6 <= 0),
            (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
        ]
        points = [
            a, b, a + ab * np.nan_to_num(d1 / (d1 - d3))[:, None], c,
            a + ac * np.nan_to_num(d2 / (d2 - d6))[:, None],
            b + (c - b) * np.nan_to_num((d4 - d3) / ((d4 - d3) + (d5 - d6)))[:, None],
        ]
    for region, point in zip(regions[::-1], points[::-1]):
        q = np.where(region[:, None], point, q)
    return q


def distance_to_mesh(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, *, k: int = 12,
                     chunk: int = 1 << 18) -> np.ndarray:
    """(n,) distance from each point to the nearest of the ``k`` triangles whose centroids
    are nearest to it: the point-to-surface distance unless a nearer triangle's centroid is
    farther than k others' (then slightly more)."""
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, dtype=np.float64)
    tri = v[faces]
    tree = cKDTree(tri.mean(axis=1))
    k = min(k, len(faces))
    out = np.empty(len(points))
    for start in range(0, len(points), chunk):
        p = points[start:start + chunk]
        _, near = tree.query(p, k=k)
        near = near.reshape(len(p), k)
        best = np.full(len(p), np.inf)
        for j in range(k):
            t = tri[near[:, j]]
            q = _closest_on_triangles(p, t[:, 0], t[:, 1], t[:, 2])
            best = np.minimum(best, np.linalg.norm(p - q, axis=1))
        out[start:start + chunk] = best
    return out


def phantom_surface_truth(names: tuple[str, ...]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each organ's analytic surface (cm, MIRD frame) as a triangle mesh: marching cubes
    of the organ's predicate sampled every 0.5 mm."""
    from skimage.measure import marching_cubes

    from arkit_py.phantoms import mird

    out = {}
    for name in names:
        p = next(p for p in mird.PARTS if p.name == name)
        step = 0.05  # cm
        axes = [np.arange(lo - 0.2, hi + 0.2 + step, step) for lo, hi in p.bbox]
        mask = p.inside(axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :])
        verts, faces, _, _ = marching_cubes(mask.astype(np.float32), 0.5, spacing=(step, step, step))
        verts += np.array([a[0] for a in axes])
        out[name] = (verts.astype(np.float64), faces.astype(np.int64))
    return out


def judge_phantom(meshes: dict, names: dict[int, str], surfaces: dict[str, tuple[np.ndarray, np.ndarray]],
                  truth_ml: dict[str, dict], voxel_mm: float) -> dict:
    """Distance (voxels) from the organs' meshes to their analytic surfaces (and back, from
    the truth's vertices to the mesh), and volume errors against the Monte-Carlo truth."""
    ds, ws, back = [], [], []
    errors = {}
    open_labels = 0
    by_name = {n: label for label, n in names.items()}
    for name, (truth_v, truth_f) in surfaces.items():
        label = by_name[name]
        if label not in meshes:
            continue
        v, f = meshes[label]
        mird_v = np.stack([-v[:, 0], -v[:, 1], v[:, 2]], 1) / 10.0  # RAS mm -> MIRD cm
        pts, w = _weighted_samples(mird_v, f)
        ds.append(distance_to_mesh(pts, truth_v, truth_f) * 10.0 / voxel_mm)
        ws.append(w)
        back.append(distance_to_mesh(truth_v, mird_v, f) * 10.0 / voxel_mm)
    for label, (v, f) in meshes.items():
        open_labels += _open_edges(f) > 0
        name = names[label]
        if name in truth_ml and truth_ml[name]["ml"] >= MIN_JUDGED_ML:
            errors[name] = 100.0 * (_volume_ml(v, f) / truth_ml[name]["ml"] - 1.0)
    back_d = np.concatenate(back) if back else np.zeros(0)
    return {"surface_voxels": _weighted_stats(np.concatenate(ds), np.concatenate(ws)),
            "surface_back_voxels": {"mean": float(back_d.mean()), "p95": float(np.percentile(back_d, 95))},
            "surface_organs": list(surfaces), "volume": _volume_summary(errors), "volume_errors_percent": errors,
            "open_meshes": int(open_labels)}


# --- the run ---------------------------------------------------------------------------

def _best_of(name: str, folder: Path, repeat: int) -> tuple[dict, dict]:
    """The fastest of ``repeat`` runs (each in a fresh process), with the highest peak
    memory seen in any of them."""
    runs = [run_in_subprocess(name, folder) for _ in range(repeat)]
    meshes, info = min(runs, key=lambda r: r[1]["seconds"])
    info = dict(info, runs_seconds=[round(r[1]["seconds"], 3) for r in runs],
                peak_bytes=max(r[1]["peak_bytes"] for r in runs))
    return meshes, info


def _run_volume(title: str, labels: np.ndarray, affine: np.ndarray, meta: dict, judge, *,
                extra_workers: tuple[str, ...] = (), repeat: int = 1) -> dict:
    """Run the three pipelines (arkit first: its triangle count is the others' target)."""
    results = {"volume": {"shape": list(labels.shape), "bytes": int(labels.nbytes),
                          "voxel_mm": float(np.linalg.norm(affine[:3, 0])), "labels": len(meta["wanted"])}}
    with tempfile.TemporaryDirectory(prefix="arkit-bench-") as tmp:
        folder = Path(tmp)
        np.save(folder / "volume.npy", labels)
        runs = {}
        for name in PIPELINES:
            (folder / "meta.pkl").write_bytes(pickle.dumps(meta))
            print(f"[{title}] {name} ...", flush=True)
            meshes, info = _best_of(name, folder, repeat)
            info["triangles"] = int(sum(len(f) for _, f in meshes.values()))
            if name == "arkit":
                meta = dict(meta, target=info["triangles"])
            runs[name] = (meshes, info)
        for name in extra_workers:
            print(f"[{title}] {name} ...", flush=True)
            full_meta = dict(meta, wanted=meta["all_labels"])
            (folder / "meta.pkl").write_bytes(pickle.dumps(full_meta))
            _, info = _best_of(name, folder, repeat)
            results[name] = info
    base = runs["arkit"][1]["seconds"]
    results["pipelines"] = {}
    for name, (meshes, info) in runs.items():
        t = time.perf_counter()
        judged = judge(meshes)
        info.update(judged, ratio_vs_arkit=info["seconds"] / base,
                    peak_times_volume=info["peak_bytes"] / labels.nbytes)
        results["pipelines"][name] = info
        print(f"[{title}] judged {name} in {time.perf_counter() - t:.1f} s", flush=True)
    return results


def _fmt_ratio(r: float) -> str:
    return "1 (ref)" if abs(r - 1.0) < 1e-12 else (f"{r:.1f}x slower" if r >= 1 else f"{1 / r:.1f}x faster")


def print_table(title: str, res: dict) -> None:
    vol = res["volume"]
    print()
    print(f"== {title}: {' x '.join(map(str, vol['shape']))} uint8, {vol['voxel_mm']:g} mm voxels, "
          f"{vol['labels']} labels, label volume {vol['bytes'] / 1e6:.1f} MB")
    head = (f"{'pipeline':<12} {'seconds':>8} {'vs arkit':>13} {'peak MB':>8} {'x vol':>6} {'triangles':>10} "
            f"{'mean vx':>8} {'p95 vx':>7} {'vol med%':>8} {'vol worst%':>10} {'open':>5}")
    print(head)
    print("-" * len(head))
    for name, p in res["pipelines"].items():
        s, v = p["surface_voxels"], p["volume"]
        peak = f"{p['peak_bytes'] / 1e6:.0f}" + ("" if p["peak_exact"] else "<=")
        print(f"{name:<12} {p['seconds']:>8.1f} {_fmt_ratio(p['ratio_vs_arkit']):>13} {peak:>8} "
              f"{p['peak_times_volume']:>6.2f} {p['triangles']:>10,} {s['mean']:>8.3f} {s['p95']:>7.3f} "
              f"{v['median_abs_percent']:>8.2f} {v['worst_abs_percent']:>10.2f} {p['open_meshes']:>5}")
    for name, p in res["pipelines"].items():
        steps = ", ".join(f"{k} {v:.1f}" for k, v in p["steps"].items())
        tolerance = f"; decimation tolerance {p['error_mm']:.3g} mm" if "error_mm" in p else ""
        print(f"  {name} steps (s): {steps}; triangles before decimation {p['triangles_before']:,}{tolerance}; "
              f"load average {p['load_average_1min'][0]:.1f} -> {p['load_average_1min'][1]:.1f}")


def targets(res: dict, *, phone: dict | None = None) -> list[dict]:
    p = res["pipelines"]
    a, sl, sn = p["arkit"], p["slicer"], p["surfacenets"]
    out = []

    def check(name, ok, figure):
        out.append({"target": name, "met": bool(ok), "figure": figure})

    speed = sl["seconds"] / a["seconds"]
    check(f"arkit >= {SPEED_VS_SLICER:g}x faster than Slicer-style", speed >= SPEED_VS_SLICER,
          f"{speed:.1f}x ({a['seconds']:.1f} s vs {sl['seconds']:.1f} s)")
    check("arkit no slower than vtkSurfaceNets3D + fast-simplification", a["seconds"] <= sn["seconds"],
          f"{a['seconds']:.1f} s vs {sn['seconds']:.1f} s ({sn['seconds'] / a['seconds']:.2f}x)")
    s, v = a["surface_voxels"], a["volume"]
    check(f"arkit mean distance <= {MEAN_VOXELS} voxel", s["mean"] <= MEAN_VOXELS, f"{s['mean']:.3f} voxel")
    check(f"arkit p95 distance <= {P95_VOXELS} voxel", s["p95"] <= P95_VOXELS, f"{s['p95']:.3f} voxel")
    check(f"arkit volumes within {VOLUME_PERCENT:g} % (labels >= {MIN_JUDGED_ML:g} mL)",
          v["worst_abs_percent"] <= VOLUME_PERCENT,
          f"worst {v['worst_abs_percent']:.2f} % ({v['worst_label']}), median {v['median_abs_percent']:.2f} %, "
          f"{v.get('judged', 0)} labels")
    check(f"arkit peak memory above baseline <= {MEMORY_TIMES_VOLUME:g}x label volume",
          a["peak_times_volume"] <= MEMORY_TIMES_VOLUME,
          f"{a['peak_times_volume']:.2f}x ({a['peak_bytes'] / 1e6:.0f} MB)")
    if phone is not None:
        check(f"phone profile triangles <= {PHONE['triangles']:,}", phone["triangles"] <= PHONE["triangles"],
              f"{phone['triangles']:,}")
        check(f"phone profile draw calls <= {PHONE['draw_calls']}", phone["draw_calls"] <= PHONE["draw_calls"],
              f"{phone['draw_calls']}")
        check(f"phone profile GLB <= {PHONE['bytes'] / 1e6:g} MB", phone["bytes"] <= PHONE["bytes"],
              f"{phone['bytes'] / 1e6:.2f} MB")
    return out


def print_targets(items: list[dict]) -> None:
    for t in items:
        print(f"  {'PASS   ' if t['met'] else 'NOT MET'}  {t['target']}: {t['figure']}")


def machine() -> dict:
    import numpy

    info = {"cpu_count": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            info["cpu_model"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    from importlib import metadata

    for dist in ("vtk", "fast-simplification", "meshoptimizer", "scipy", "scikit-image", "numba"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist] = None
    import arkit_py

    source = Path(arkit_py.__file__).resolve().parent.parent
    info["arkit"] = arkit_py.__version__
    info["arkit_source"] = str(source)
    info["git_commit"] = info["arkit_changes"] = None
    try:
        def git(*args):
            return subprocess.run(["git", *args], cwd=source, capture_output=True, text=True, check=True).stdout

        info["git_commit"] = git("rev-parse", "HEAD").strip()
        info["arkit_changes"] = git("status", "--porcelain", "--", "arkit_py").splitlines()  # uncommitted edits
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. a git archive)
        stamp = source / "COMMIT"
        if stamp.exists():
            info["git_commit"] = stamp.read_text().strip()
    info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes, for a fast check")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write results (default benchmarks/results/hologram[-quick].json)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each pipeline this many times (fresh processes) and keep the fastest")
    parser.add_argument("--worker", nargs=2, metavar=("PIPELINE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return 0

    from arkit_py.phantoms import mird

    config = QUICK if args.quick else FULL
    out_path = args.json or ROOT / "benchmarks" / "results" / ("hologram-quick.json" if args.quick else "hologram.json")
    started = time.perf_counter()
    report = {"mode": "quick" if args.quick else "full", "config": config.__dict__, "repeat": args.repeat,
              "machine": machine(), "targets": {}}

    # (a) ellipsoids
    t = time.perf_counter()
    ellipsoids = random_ellipsoids(config.shape, config.labels, seed=config.seed)
    labels = label_volume(config.shape, ellipsoids)
    truth = ellipsoid_truth_volumes(ellipsoids, n=1_000_000, seed=config.seed + 1)
    present = sorted(int(v) for v in np.unique(labels) if v)
    from arkit_py.sources.segmentation import Segment
    from arkit_py.structures import lookup

    segments = {label: Segment(label, lookup(f"ellipsoid {label}")) for label in present}
    meta = {"affine": np.eye(4), "segments": segments, "body_label": None, "wanted": present,
            "budget": config.labels * config.triangles_per_label}
    print(f"ellipsoids: {len(present)} labels present, generated in {time.perf_counter() - t:.1f} s", flush=True)
    ell = _run_volume("ellipsoids", labels, np.eye(4), meta,
                      lambda m: judge_ellipsoids(m, ellipsoids, truth, 1.0), repeat=args.repeat)
    ell["truth"] = {"ellipsoids": [{"label": i + 1, "centre": e.centre, "axes": e.axes}
                                   for i, e in enumerate(ellipsoids)],
                    "volumes_ml": {str(k): v for k, v in truth.items()}}
    report["ellipsoids"] = ell
    del labels

    # (b) phantom
    t = time.perf_counter()
    seg = mird.voxelize(config.phantom_mm)
    names = {label: s.structure.name for label, s in seg.segments.items()}
    print(f"phantom: {seg.shape} at {config.phantom_mm:g} mm voxelized in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    truth_ml = {}
    for p in mird.parts_for():
        volume, sigma = mird.monte_carlo_volume(p, config.monte_carlo)
        truth_ml[p.name] = {"ml": volume, "sigma_ml": sigma}
    surfaces = phantom_surface_truth(SURFACE_ORGANS)
    print(f"phantom truth (Monte Carlo {config.monte_carlo:,} points per organ, 0.5 mm surfaces) in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    organs = sorted(set(seg.segments) - {seg.body_label})
    meta = {"affine": seg.affine, "segments": seg.segments, "body_label": seg.body_label, "wanted": organs,
            "all_labels": sorted(seg.segments), "budget": config.phantom_budget}
    ph = _run_volume("phantom", seg.layers[0], seg.affine, meta,
                     lambda m: judge_phantom(m, names, surfaces, truth_ml, config.phantom_mm),
                     extra_workers=("hologram",), repeat=args.repeat)
    ph["truth"] = {"volumes_ml": truth_ml, "monte_carlo_points": config.monte_carlo}
    report["phantom"] = ph
    del seg

    report["targets"]["ellipsoids"] = targets(ell)
    report["targets"]["phantom"] = targets(ph, phone=ph["hologram"])
    report["total_seconds"] = time.perf_counter() - started

    print_table("ellipsoids", ell)
    print("targets:")
    print_targets(report["targets"]["ellipsoids"])
    print_table("phantom (organs; the body filler is left out of all three)", ph)
    h = ph["hologram"]
    print(f"  phone hologram (build_hologram, body included): {h['seconds']:.1f} s, {h['triangles']:,} triangles, "
          f"{h['draw_calls']} draw calls, {h['bytes'] / 1e6:.2f} MB, decimation tolerance {h['error_mm']:.3g} mm, "
          f"peak {h['peak_bytes'] / 1e6:.0f} MB above baseline ({h['peak_bytes'] / ph['volume']['bytes']:.2f}x)")
    print("targets:")
    print_targets(report["targets"]["phantom"])
    m = report["machine"]
    print(f"\narkit from {m['arkit_source']} at {m['git_commit']}"
          + (f" with uncommitted changes: {'; '.join(m['arkit_changes'])}" if m["arkit_changes"] else ""))
    print(f"machine: {m['cpu_count']} CPUs ({m.get('cpu_model', '')}), Python {m['python']}, numpy {m['numpy']}, "
          f"vtk {m['vtk']}, fast-simplification {m['fast-simplification']}; total {report['total_seconds']:.0f} s")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"results: {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: arkit's time-activity curve extraction against what a user would write instead.

One dynamic PET, 128 x 128 x 96 voxels (3.3 mm) x 24 frames, float32 Bq/mL, and 100 labels
(random ellipsoids, later ones overwriting earlier ones, as in ``hologram.py``), all built
in memory from a seeded generator. Every label's mean concentration in every frame is
computed by:

arkit
    ``extract_curves(pet, seg)``: labels on the PET grid (no resampling).
arkit_resampled / arkit_oblique
    the same labels on a CT-like grid of half the PET's voxel size, axes flipped and
    shifted (resampled by one gather per axis) or rotated (resampled slab by slab).
masks
    a loop over labels of ``frames[:, labels == label].mean(1)``.
ndimage
    ``scipy.ndimage.mean(frames[t], labels, index)`` for every frame.

Each runs three times in this process; the best time counts. On the same labels the
results agree to within float32 summation error (reported; the rotated labels of
``arkit_oblique`` are other labels, so it is only timed). Target (from the brief): ``extract_curves`` at most 2 s.

Run ``python benchmarks/tracer_extract.py`` (about a minute); writes
``benchmarks/results/tracer_extract.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.append(str(path))  # appended so PYTHONPATH can point arkit_py elsewhere

from hologram import label_volume, machine, random_ellipsoids

SHAPE = (128, 128, 96)
FRAMES = 24
LABELS = 100
VOXEL_MM = 3.3
SEED = 20240611
TARGET_S = 2.0
REPEAT = 3


def build(seed: int = SEED):
    """(frames (T, I, J, K) float32, labels (I, J, K) uint8, affine, frame starts, durations)."""
    rng = np.random.default_rng(seed)
    ellipsoids = random_ellipsoids(SHAPE, LABELS, seed=seed, axes=(3.0, 12.0))
    labels = label_volume(SHAPE, ellipsoids)
    durations = np.array([10.0] * 6 + [30.0] * 6 + [120.0] * 6 + [600.0] * 6)
    starts = np.concatenate([[0.0], np.cumsum(durations)[:-1]])
    mid = starts + durations / 2
    # each label a curve a (1 - exp(-t/k)) + b exp(-t/m); background a slow washout; 5 % noise
    a, b = rng.uniform(500, 20000, LABELS + 1), rng.uniform(0, 30000, LABELS + 1)
    k, m = rng.uniform(30, 1500, LABELS + 1), rng.uniform(20, 600, LABELS + 1)
    table = (a * (1 - np.exp(-mid[:, None] / k)) + b * np.exp(-mid[:, None] / m)).astype(np.float32)
    table[:, 0] = 1500.0 * np.exp(-mid / 3000.0)
    frames = np.empty((FRAMES, *SHAPE), dtype=np.float32)
    for t in range(FRAMES):
        frames[t] = table[t][labels]
        frames[t] *= rng.normal(1.0, 0.05, SHAPE).astype(np.float32)
    affine = np.diag([VOXEL_MM] * 3 + [1.0])
    affine[:3, 3] = -(np.array(SHAPE) - 1) / 2 * VOXEL_MM
    return frames, labels, affine, starts, durations


def fine_grid(labels: np.ndarray, affine: np.ndarray, *, oblique: bool):
    """The labels on a grid of half the PET's voxel size (each PET voxel's label copied to
    its 8 sub-voxels), as a CT segmentation would come: flipped on two axes and shifted, or
    also rotated by a small angle (then the copy is by nearest neighbour from the fine
    grid's own centres). Returns (fine labels, fine affine)."""
    fine = np.repeat(np.repeat(np.repeat(labels, 2, 0), 2, 1), 2, 2)[::-1, :, ::-1]
    a = np.diag([-VOXEL_MM / 2, VOXEL_MM / 2, -VOXEL_MM / 2, 1.0])
    corner = affine[:3, :3] @ np.full(3, -0.25) + affine[:3, 3]  # centre of the first PET sub-voxel
    a[:3, 3] = corner + np.array([(fine.shape[0] - 1) * VOXEL_MM / 2, 0.0, (fine.shape[2] - 1) * VOXEL_MM / 2])
    if not oblique:
        return np.ascontiguousarray(fine), a
    angle = 0.05
    rot = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    b = a.copy()
    b[:3, :3] = rot @ a[:3, :3]
    b[:3, 3] = rot @ a[:3, 3]
    from arkit_py.tracer.extract import labels_on_grid

    rotated = labels_on_grid([np.ascontiguousarray(fine)], a, fine.shape, b)[0].reshape(fine.shape)
    return rotated, b


def best_of(fn, repeat: int = REPEAT):
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), times, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "tracer_extract.json")
    args = parser.parse_args(argv)

    from scipy import ndimage

    from arkit_py.sources.segmentation import Segment, Segmentation
    from arkit_py.structures import lookup
    from arkit_py.tracer.extract import DynamicPet, extract_curves

    started = time.perf_counter()
    t = time.perf_counter()
    frames, labels, affine, starts, durations = build()
    present = [int(v) for v in np.unique(labels) if v]
    print(f"PET {'x'.join(map(str, SHAPE))} x {FRAMES} frames ({frames.nbytes / 1e6:.0f} MB), "
          f"{len(present)} labels present, built in {time.perf_counter() - t:.1f} s", flush=True)
    pet = DynamicPet(frames, affine, starts, durations)
    segments = {v: Segment(v, lookup(f"ellipsoid {v}")) for v in present}
    seg = Segmentation([labels], affine, segments)

    results = {}

    def record(name, fn, values_of):
        best, runs, out = best_of(fn)
        results[name] = {"seconds": best, "runs": runs, "values": values_of(out)}
        print(f"  {name:16s} {best:8.3f} s  (runs {', '.join(f'{r:.3f}' for r in runs)})", flush=True)

    record("arkit", lambda: extract_curves(pet, seg), lambda c: c.values)

    def masks():
        out = np.empty((FRAMES, len(present)))
        for i, v in enumerate(present):
            out[:, i] = frames[:, labels == v].mean(1)
        return out

    record("masks", masks, lambda v: v)

    def by_ndimage():
        return np.array([ndimage.mean(frames[t], labels=labels, index=present) for t in range(FRAMES)])

    record("ndimage", by_ndimage, lambda v: v)

    for name, oblique in (("arkit_resampled", False), ("arkit_oblique", True)):
        fine, fine_affine = fine_grid(labels, affine, oblique=oblique)
        fine_seg = Segmentation([fine], fine_affine, segments)
        record(name, lambda s=fine_seg: extract_curves(pet, s), lambda c: c.values)
        results[name]["label_grid"] = {"shape": list(fine.shape), "affine": fine_affine.tolist()}

    reference = results["ndimage"]["values"]
    report = {"config": {"shape": SHAPE, "frames": FRAMES, "labels": LABELS, "labels_present": len(present),
                         "labelled_fraction": float(np.count_nonzero(labels)) / labels.size,
                         "voxel_mm": VOXEL_MM, "seed": SEED, "repeat": REPEAT},
              "machine": machine(), "pipelines": {}}
    for name, r in results.items():
        values = r.pop("values")
        r["vs_arkit"] = r["seconds"] / results["arkit"]["seconds"]
        if name != "arkit_oblique":  # the rotated labels are other labels
            r["max_rel_diff_vs_ndimage"] = float(np.max(np.abs(values - reference) / np.abs(reference)))
        report["pipelines"][name] = r
    a = results["arkit"]["seconds"]
    report["target"] = {"target": f"extract_curves <= {TARGET_S:g} s", "met": a <= TARGET_S,
                        "figure": f"{a:.3f} s (labels resampled: {results['arkit_resampled']['seconds']:.3f} s, "
                                  f"oblique {results['arkit_oblique']['seconds']:.3f} s)"}
    report["total_seconds"] = time.perf_counter() - started

    print("\npipeline          seconds   vs arkit   max rel diff vs ndimage")
    for name, r in report["pipelines"].items():
        diff = r.get("max_rel_diff_vs_ndimage")
        print(f"  {name:16s} {r['seconds']:7.3f}   {r['vs_arkit']:7.1f}x   "
              f"{'' if diff is None else f'{diff:.1e}'}")
    t = report["target"]
    print(f"{'PASS   ' if t['met'] else 'NOT MET'}  {t['target']}: {t['figure']}")
    m = report["machine"]
    print(f"machine: {m['cpu_count']} CPUs ({m.get('cpu_model', '')}), Python {m['python']}, numpy {m['numpy']}, "
          f"scipy {m['scipy']}; load average at start {m['load_average_at_start']}; "
          f"total {report['total_seconds']:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"results: {os.path.relpath(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

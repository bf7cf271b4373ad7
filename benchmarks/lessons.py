"""Benchmark: building the lessons in lessons/ from a cold cache, then after a narration edit.

1. cold: every lesson built with an empty hologram cache (every hologram, USDZ and thumbnail
   built), one by one (``build_lesson``), then all at once from another empty cache
   (``build_lessons``: the holograms in parallel processes, as ``arkit lesson build`` and
   ``arkit demo`` do);
2. warm: the same again (everything from the cache);
3. edit: one step's narration changed in a copy of each lesson; rebuilt (target: under 1 s
   per lesson, no hologram rebuilt);
4. peers: no other tool builds a lesson, so the peers' figure is a lower bound: the time
   the Slicer-style pipeline and vtkSurfaceNets3D + fast-simplification (``hologram.py``'s
   runners, fresh processes) take only to mesh each distinct body of the lessons once, to
   the phone budget, against arkit's whole cold build (meshes, uptake, GLB, USDZ,
   thumbnails, bundles). Skipped with ``--no-peers`` (VTK is a benchmark extra).

Run ``python benchmarks/lessons.py`` (a few minutes); writes ``benchmarks/results/lessons.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # hologram.py's peer runners

from arkit_py.lesson.bundle import build_lesson, build_lessons, default_jobs  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=str(HERE / "results" / "lessons.json"))
    parser.add_argument("--no-peers", action="store_true", help="leave out the peers' meshing")
    args = parser.parse_args(argv)
    lessons = sorted(p.parent for p in (ROOT / "lessons").glob("*/lesson.yaml"))
    work = Path(tempfile.mkdtemp(prefix="arkit-bench-lessons-"))
    rows = []
    try:
        cache = work / "cache"
        print(f"{'lesson':<22} {'cold s':>8} {'warm s':>8} {'edit s':>8} {'built on edit':>14} {'MB':>6}")
        for folder in lessons:
            t = time.perf_counter()
            cold = build_lesson(folder, work / "cold", cache_dir=cache)
            cold_s = time.perf_counter() - t
            t = time.perf_counter()
            build_lesson(folder, work / "warm", cache_dir=cache)
            warm_s = time.perf_counter() - t
            copy = work / "edited" / folder.name
            shutil.copytree(folder, copy)
            data = yaml.safe_load((copy / "lesson.yaml").read_text(encoding="utf-8"))
            data["steps"][0]["narration"] += "\n\n(Edited for the benchmark.)"
            (copy / "lesson.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
            t = time.perf_counter()
            edited = build_lesson(copy, work / "edit", cache_dir=cache)
            edit_s = time.perf_counter() - t
            row = {"lesson": folder.name, "cold_s": cold_s, "warm_s": warm_s, "edit_s": edit_s,
                   "holograms": len(cold.built), "rebuilt_on_edit": len(edited.built),
                   "bytes": cold.bundle.stat().st_size, "edit_under_1s": edit_s < 1.0}
            rows.append(row)
            print(f"{folder.name:<22} {cold_s:8.1f} {warm_s:8.2f} {edit_s:8.2f} {len(edited.built):14d} "
                  f"{row['bytes'] / 1e6:6.2f}")
        total = sum(r["cold_s"] for r in rows)
        print(f"all lessons from a cold cache: {total:.1f} s; after a narration edit: "
              f"{sum(r['edit_s'] for r in rows):.2f} s in all ({total / max(sum(r['edit_s'] for r in rows), 1e-9):.0f}x "
              f"faster than cold)")
        jobs = default_jobs()
        t = time.perf_counter()
        parallel = build_lessons(lessons, work / "parallel", cache_dir=work / "cache-parallel", jobs=jobs)
        parallel_s = time.perf_counter() - t
        same = all((work / "cold" / r.bundle.name).read_bytes() == r.bundle.read_bytes() for r in parallel)
        print(f"all lessons at once from a cold cache (build_lessons, up to {jobs} processes, one job per body): "
              f"{parallel_s:.1f} s, {total / parallel_s:.2f}x the one-by-one build; bundles identical: {same}")
        out = {"lessons": rows, "cold_total_s": total, "parallel_cold_s": parallel_s, "jobs": jobs,
               "parallel_speedup": total / parallel_s, "parallel_identical": same}
        if not args.no_peers:
            out["peers"] = peers(lessons, work / "peers", parallel_s)
        out["commit"] = _commit()
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _commit() -> str | None:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def peers(lessons: list[Path], folder: Path, arkit_s: float) -> dict:
    """Each distinct body of the lessons meshed once by each peer pipeline (a lower bound
    on what building the lessons would take with it); printed against ``arkit_s``."""
    import pickle

    import hologram as bench
    import numpy as np

    from arkit_py.sources.load import load_segmentation

    bodies = sorted({(h["source"], h.get("labels")) for folder_ in lessons
                     for h in yaml.safe_load((folder_ / "lesson.yaml").read_text(encoding="utf-8"))["holograms"].values()},
                    key=str)
    seconds = {"slicer": 0.0, "surfacenets": 0.0}
    for source, labels in bodies:
        if not source.startswith("phantom:") or labels:
            raise SystemExit(f"benchmarks/lessons.py: peers mesh the built-in phantoms only, not {source!r}")
        seg = load_segmentation(source)
        volume = np.pad(seg.layers[0], 1)  # VTK's nets need background around the labels
        affine = seg.affine.copy()
        affine[:3, 3] -= affine[:3, :3].sum(axis=1)
        wanted = sorted(int(v) for v in np.unique(volume) if v)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "volume.npy", volume)
        (folder / "meta.pkl").write_bytes(pickle.dumps({"affine": affine, "segments": seg.segments, "body_label": None,
                                                        "wanted": wanted, "budget": 100_000, "target": 100_000}))
        for name in seconds:
            _, info = bench.run_in_subprocess(name, folder)
            seconds[name] += info["seconds"]
            print(f"peer {name}: {source} ({len(wanted)} labels, {volume.shape}) meshed in {info['seconds']:.1f} s")
    for name, s in seconds.items():
        print(f"the lessons' {len(bodies)} bod{'y' if len(bodies) == 1 else 'ies'} meshed once by {name}: {s:.1f} s; "
              f"arkit's whole cold build {arkit_s:.1f} s ({s / arkit_s:.2f}x)")
    return {"bodies": [b[0] for b in bodies], "meshing_s": seconds,
            "ratio_to_arkit_build": {k: v / arkit_s for k, v in seconds.items()}}


if __name__ == "__main__":
    sys.exit(main())

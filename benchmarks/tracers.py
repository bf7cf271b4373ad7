"""Benchmark: every library tracer simulated, integrated and animated on the phantom.

For each tracer in ``arkit_py/data/tracers``:

tiac (arkit)
    ``TracerModel.tiac_regions()``: matrix exponentials and the periodic-voiding series,
    exact.
tiac (solve_ivp)
    what a user would write instead: the same compartment ODEs integrated with
    ``scipy.integrate.solve_ivp`` (LSODA, rtol 1e-10) from void to void over fifteen
    physical half-lives, with the integral carried as extra states. Its largest relative TIAC difference is reported.
animate
    the phone-profile hologram of the 2 mm phantom with the tracer's palette morph: the
    meshes are built once; each tracer's ``apply_uptake`` + GLB write is timed, and the
    compressed file size is reported against the phone budget (3 MB).

Run ``python benchmarks/tracers.py`` (about a minute); writes ``benchmarks/results/tracers.json``.
The extraction of curves from a dynamic PET is ``tracer_extract.py``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from arkit_py.phantoms import mird  # noqa: E402
from arkit_py.scene.gltf import WriteOptions, to_glb  # noqa: E402
from arkit_py.scene.hologram import PROFILES, HologramOptions, build_hologram  # noqa: E402
from arkit_py.scene.uptake import UptakeOptions, apply_uptake  # noqa: E402
from arkit_py.tracer.model import EXCRETED, library_ids, load_tracer  # noqa: E402


def best_of(n: int, fn):
    times, out = [], None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def tiac_solve_ivp(model) -> dict[str, float]:
    """TIACs (h) by numerical integration of the same ODEs, void to void."""
    from scipy.integrate import solve_ivp

    ids, k, q0, bladder = model._system()
    lam = model.nuclide.decay_constant
    m = k - lam * np.eye(len(ids))
    n = len(ids)
    horizon = 15 * model.nuclide.half_life_s  # every compartment has cleared to < 2^-15 by then

    def rhs(_t, y):
        q = y[:n]
        return np.concatenate([m @ q, q])

    voids = list(model.voiding.times(horizon)) if bladder is not None else []
    edges = [0.0, *voids, horizon]
    y = np.concatenate([q0, np.zeros(n)])
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        sol = solve_ivp(rhs, (a, b), y, method="LSODA", rtol=1e-10, atol=1e-14)
        y = sol.y[:, -1].copy()
        if bladder is not None and b in voids:
            y[n - 1] += y[bladder]
            y[bladder] = 0.0
    integral = y[n:]
    per = {c: float(integral[i]) / 3600 for i, c in enumerate(ids) if c != EXCRETED}
    out = dict.fromkeys(model.regions, 0.0)
    for c in model.compartments.values():
        out[c.region] += per[c.id]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voxel", type=float, default=2.0, help="phantom voxel size in mm (default 2)")
    parser.add_argument("--json", default=str(HERE / "results" / "tracers.json"))
    args = parser.parse_args(argv)

    rows = []
    print(f"{'tracer':<15} {'tiac ms':>8} {'solve_ivp ms':>13} {'ratio':>7} {'max rel diff':>13}")
    for tracer_id in library_ids():
        model = load_tracer(tracer_id)
        model.tiac_regions()  # warm the nuclide cache
        t_exact, exact = best_of(5, model.tiac_regions)
        t_ivp, numeric = best_of(1, lambda m=model: tiac_solve_ivp(m))
        diff = max(abs(numeric[r] - exact[r]) / max(exact[r], 1e-12) for r in exact if exact[r] > 1e-9)
        rows.append({"tracer": tracer_id, "tiac_s": t_exact, "solve_ivp_s": t_ivp, "ratio": t_ivp / t_exact,
                     "max_rel_diff": diff})
        print(f"{tracer_id:<15} {t_exact * 1e3:8.2f} {t_ivp * 1e3:13.1f} {t_ivp / t_exact:7.0f} {diff:13.2e}")

    t = time.perf_counter()
    seg = mird.voxelize(args.voxel)
    base = build_hologram(copy.deepcopy(seg), HologramOptions(profile="phone"))
    anatomy_s = time.perf_counter() - t
    print(f"\nphone hologram of the {args.voxel:g} mm phantom (anatomy): {anatomy_s:.1f} s, "
          f"{len(base.glb) / 1e6:.2f} MB, {base.report['triangles']:,} triangles")
    origin_matrix = base.document.scene_extras["arkit"]["gltf_to_ras_mm"]
    print(f"{'tracer':<15} {'animate s':>10} {'GLB MB':>8} {'animated':>9} {'within 3 MB':>12}")
    for row in rows:
        doc = copy.deepcopy(base.document)

        def animate(doc=doc, tracer=row["tracer"]):
            apply_uptake(doc, UptakeOptions(tracer), seg=seg, gltf_to_ras=origin_matrix)
            doc.scene_extras["arkit"]["legend"] = doc.legend.to_extras()
            return to_glb(doc, WriteOptions(compress=True))

        seconds, glb = best_of(1, animate)
        animated = sum(1 for s in doc.structures if s.uptake is not None)
        row.update({"animate_s": seconds, "glb_bytes": len(glb), "animated_structures": animated,
                    "within_phone_budget": len(glb) <= PROFILES["phone"].max_bytes})
        print(f"{row['tracer']:<15} {seconds:10.2f} {len(glb) / 1e6:8.2f} {animated:9d} "
              f"{'yes' if row['within_phone_budget'] else 'NO':>12}")

    out = {"anatomy_s": anatomy_s, "anatomy_bytes": len(base.glb), "voxel_mm": args.voxel, "tracers": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

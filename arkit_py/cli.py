"""The ``arkit`` command: a thin shell over the library.

Every ArkitError becomes one line on stderr and exit code 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import __version__
from .cli_common import write_atomic
from .errors import ArkitError, InputError

DEFAULT_INPUT = "phantom:mird-adult"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


class Progress:
    """Step names with elapsed seconds on stderr, unless quiet."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, step: str) -> None:
        if not self.quiet:
            print(f"arkit: {step} ({time.perf_counter() - self.start:.1f} s)", file=sys.stderr, flush=True)


def cmd_hologram(args: argparse.Namespace) -> int:
    from .scene.hologram import HologramOptions, build_hologram
    from .sources.load import load_segmentation, source_name

    progress = Progress(args.quiet or args.json)
    uptake = _uptake_options(args)  # bad tracer options fail before any reading or meshing
    t = time.perf_counter()
    # an RTSTRUCT is drawn on the grid of the image it comes with: --reference, else the CT, else the PET
    from .tracer.inputs import is_pet

    reference = args.reference or args.ct or (args.tracer if args.tracer and is_pet(args.tracer) else None)
    seg = load_segmentation(args.input, labels=args.labels, reference=reference)
    if args.ct:
        from .sources.body import add_body_from_ct, read_ct

        try:
            seg = add_body_from_ct(seg, read_ct(args.ct))
        except InputError as error:
            raise InputError(args.ct, error.problem) if error.path is None else error from None
    read_s = time.perf_counter() - t
    progress("read " + ("the phantom" if args.input.startswith("phantom:") else
                        "the sample" if args.input.startswith("sample:") else "the label volume"))
    if args.triangles is not None and args.triangles < 100:
        raise InputError(args.input, f"--triangles must be at least 100, got {args.triangles}")
    options = HologramOptions(
        profile=args.profile, triangles=args.triangles, structures=_csv(args.structures or ""),
        systems=_csv(args.systems or ""), compress=not args.no_compress,
        source=source_name(args.input),
        uptake=uptake,
    )
    result = build_hologram(seg, options, progress=progress, spec=args.input)
    usdz = None
    if args.usdz:
        from .scene.usdz import to_usdz

        progress("usdz")
        usdz = to_usdz(result.document)
    write_atomic(args.output, result.glb)
    if usdz is not None:
        write_atomic(args.usdz, usdz)
    report = {"output": args.output, **result.report}
    report["seconds"] = {"read": round(read_s, 3), **report["seconds"]}
    if args.json:
        print(json.dumps(report, indent=2))
    elif not args.quiet:
        print(f"arkit: wrote {args.output}: {report['draw_calls']} structures, {report['triangles']:,} triangles, "
              f"{report['bytes'] / 1e6:.2f} MB", file=sys.stderr)
    return 0


def _uptake_options(args: argparse.Namespace):
    """--tracer and its options -> UptakeOptions (None without --tracer); the options are
    parsed by :mod:`arkit_py.tracer.options`, as a lesson's are."""
    from .tracer.options import uptake_fields

    tracer_only = {"activity": args.activity, "until": args.until, "window": args.window, "nuclide": args.nuclide,
                   "voiding": args.voiding, "quantity": args.quantity, "weight": args.weight, "bids": args.bids,
                   "per-vertex": args.per_vertex or None, "height": args.height}
    if not args.tracer:
        given = [k for k, v in tracer_only.items() if v is not None]
        if given:
            raise InputError(None, f"--{given[0]} needs --tracer")
        return None
    from .scene.uptake import UptakeOptions
    from .sources.dicom.files import parse_spec
    from .tracer.inputs import resolve_tracer

    tracer = resolve_tracer(args.tracer)  # an unknown tracer fails before any meshing
    if tracer.kind.model:
        tracer.read()
    elif not os.path.exists(parse_spec(args.tracer)[0]):  # a file, or a DICOM folder / zip (DIR?series=N)
        raise InputError(args.tracer, "no such file or folder")
    if args.per_vertex and not tracer.kind.pet:
        raise InputError(args.tracer, "--per-vertex needs a PET as --tracer (a dynamic NIfTI, or a DICOM series)")
    fields = uptake_fields({
        "activity": args.activity or None, "until": args.until or None, "clip": args.clip, "window": args.window,
        "quantity": args.quantity, "voiding": args.voiding, "nuclide": args.nuclide, "weight": args.weight,
        "height": args.height, "sex": args.sex, "bids": args.bids, "per_vertex": args.per_vertex, "unit": args.unit,
        "decay_corrected": args.decay_corrected, "curves_decay_corrected": args.curves_decay_corrected,
    })
    return UptakeOptions(tracer=args.tracer, **fields)


def cmd_preview(args: argparse.Namespace) -> int:
    from .preview import run_preview

    if not os.path.isfile(args.glb):
        raise InputError(args.glb, "no such file")
    run_preview(args.glb, host=args.host, port=args.port, open_browser=args.open)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arkit", description="Anatomy and nuclear-medicine teaching with AR holograms.")
    parser.add_argument("--version", action="version", version=f"arkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    h = sub.add_parser("hologram", help="turn a segmentation (or the built-in phantom) into a GLB hologram")
    h.add_argument("input", nargs="?", default=DEFAULT_INPUT,
                   help="NIfTI/NRRD/.seg.nrrd label map, TotalSegmentator folder, DICOM SEG/RTSTRUCT, or "
                        "phantom:mird-adult[?voxel=2&sex=female&walls=1], or sample:abdomen-ct (a real CT's "
                        "61 structures)")
    h.add_argument("-o", "--output", required=True, help="the .glb to write")
    h.add_argument("--ct", help="a CT (NIfTI or DICOM) of the same patient: adds the body outline (skin) when the "
                                "segmentation has none, aligned through both grids' geometry")
    h.add_argument("--reference", help="the image series an RTSTRUCT is drawn on (DICOM folder/zip, DIR?series=N, "
                                       "or NIfTI; default: the series of its frame of reference beside it)")
    h.add_argument("--labels", help="label table naming and colouring labels (.ctbl, ITK-SNAP, CSV, JSON, "
                                    "or 'totalsegmentator')")
    h.add_argument("--profile", choices=("phone", "hololens", "desktop"), default="phone",
                   help="device budget: phone 100k triangles, hololens 50k, desktop 400k")
    h.add_argument("--triangles", type=int, help="triangle budget (overrides the profile's)")
    h.add_argument("--structures", help="comma-separated structures to include, e.g. liver,kidney_left")
    h.add_argument("--systems", help="comma-separated systems to include, e.g. digestive,urinary")
    h.add_argument("--no-compress", action="store_true", help="plain GLB for viewers without meshopt (Blender, Slicer)")
    h.add_argument("--tracer", help="colour uptake over time: a library tracer (fdg, mdp, ...), a tracer .yaml, a "
                                    "curves .csv, or a PET: .nii.gz with its PET-BIDS .json, or a DICOM series "
                                    "(folder, .zip, DIR?series=N)")
    h.add_argument("--bids", help="PET-BIDS sidecar of a dynamic PET (default: beside it)")
    h.add_argument("--per-vertex", action="store_true",
                   help="dynamic PET: colour every vertex (sampled inside the surface), one target per frame (<= 24)")
    h.add_argument("--activity", help="administered activity, e.g. 370MBq (default: the tracer's)")
    h.add_argument("--until", help="real time span to animate, e.g. 120min (default: the tracer's)")
    h.add_argument("--clip", default="12s", help="playback length of the whole span (default 12s)")
    h.add_argument("--window", help="colour window MIN:MAX of the coloured quantity, e.g. 0:5 (values are clipped)")
    h.add_argument("--quantity", choices=("concentration", "suv", "sul"),
                   help="colour by kBq/mL, SUV (body weight) or SUL (lean body mass) (default: the tracer's)")
    h.add_argument("--height", help="height for SUL, e.g. 175cm")
    h.add_argument("--sex", choices=("male", "female"), default="male",
                   help="sex for SUL and the reference body weight (default male)")
    h.add_argument("--decay-corrected", action="store_true", help="colour decay-corrected concentration")
    h.add_argument("--voiding", help="bladder voiding interval, e.g. 2h, or 'none'")
    h.add_argument("--weight", help="body weight for SUV, e.g. 70kg (default: ICRP 89 reference adult)")
    h.add_argument("--nuclide", help="nuclide of a curves .csv, e.g. F-18")
    h.add_argument("--unit", default="MBq", help="unit of a curves .csv (MBq, kBq, mCi, Bq/mL, kBq/mL ...)")
    h.add_argument("--curves-decay-corrected", action="store_true", help="the curves .csv values are decay-corrected")
    h.add_argument("--usdz", help="also write a USDZ for iOS AR Quick Look")
    h.add_argument("--quiet", action="store_true", help="no progress on stderr")
    h.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    h.set_defaults(func=cmd_hologram)

    p = sub.add_parser("preview", help="show a GLB in the browser (a local static page; no network)")
    p.add_argument("glb")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--open", action="store_true", help="open the system browser")
    p.set_defaults(func=cmd_preview)

    from .cli_dicom import register as add_dicom
    from .cli_lesson import add_parser as add_lesson
    from .cli_phantom import register as add_phantom
    from .cli_server import add_parser as add_server
    from .cli_tracer import add_parser as add_tracer

    add_tracer(sub)
    add_lesson(sub)
    add_server(sub)
    add_dicom(sub)
    add_phantom(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] in (["serve"], ["demo"]):
        # the server is cooperative (gevent): patch the standard library before it is used
        from gevent import monkey

        monkey.patch_all()
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        return args.func(args)
    except ArkitError as error:
        print(f"arkit: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``arkit phantom import icrp110 PATH``: the ICRP Publication 110 adult phantoms from the
user's own copy into arkit's data folder (``phantoms/icrp110.py``), after which
``phantom:icrp110-male`` and ``phantom:icrp110-female`` work wherever a phantom does."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser("phantom", help="phantoms: import the ICRP 110 adults from your copy")
    ps = p.add_subparsers(dest="phantom_command", required=True)
    i = ps.add_parser("import", help="read, check and store a phantom from your own files")
    i.add_argument("kind", choices=("icrp110",), help="icrp110: the ICRP Publication 110 adult male and female")
    i.add_argument("path", help="the folder with your copy: ICRP's AM/AM.dat + AM_organs.dat (AF the same), or "
                                "Geant4's ICRP110_HumanPhantoms data (AM_slice<N>.g4dat with P110_data_V1.2)")
    i.add_argument("--data", help="arkit's data folder (default: ARKIT_DATA_DIR, else the user data folder)")
    i.add_argument("--json", action="store_true", help="print what was stored as JSON")
    i.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from .phantoms.icrp110 import import_icrp110
    from .tracer.dose import reference_masses

    reference = {sex: {name: m.grams(sex) for name, m in reference_masses().items() if m.grams(sex)}
                 for sex in ("male", "female")}
    done = import_icrp110(args.path, data_dir=args.data, reference_g=reference)
    if args.json:
        print(json.dumps(done, indent=2))
        return 0
    for sex, d in done.items():
        shape = " x ".join(map(str, d["shape"]))
        voxel = " x ".join(f"{v:g}" for v in d["voxel_mm"])
        print(f"phantom:icrp110-{sex}: {shape} voxels of {voxel} mm, {d['mass_kg']:.1f} kg, from the {d['read']}; "
              f"stored in {d['stored']}")
    return 0

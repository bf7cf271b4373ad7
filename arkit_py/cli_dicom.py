"""``arkit dicom ls PATH [--json]``: the DICOM objects in a folder, a .zip or a file.

One line per object: its number (what ``PATH?series=N`` selects), kind, modality, size
(columns x rows x slices, and frames), spacing in mm (slices from their positions), the frame of
reference as an 8-digit hash (objects on one frame of reference share it), and for a PET
whether an SUV can be computed from its tags (and what is missing), for a SEG its segment
count, for an RTSTRUCT its ROI count. Then the number of non-DICOM files skipped. Nothing
identifying is printed: no names, IDs, dates, institutions, descriptions or UIDs.
"""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    """Add ``arkit dicom ...`` to the top-level subparsers."""
    d = subparsers.add_parser("dicom", help="DICOM folders, zips and files: what is in them")
    ds = d.add_subparsers(dest="dicom_command", required=True)
    p = ds.add_parser("ls", help="list the image series, SEGs and RTSTRUCTs (no patient data is shown)")
    p.add_argument("path", help="a folder (searched recursively), a .zip or a DICOM file")
    p.add_argument("--json", action="store_true",
                   help="print {objects: [...], skipped: N, unreadable: N} as JSON")
    p.set_defaults(func=cmd_ls)


def _spacing(row: dict) -> str:
    values = row.get("spacing_mm")
    return " x ".join(f"{v:.4g}" for v in values) if values else ""


def _size(row: dict) -> str:
    kind = row["kind"]
    if kind == "seg":
        n = row.get("segments") or 0
        return f"{n} segment{'s' if n != 1 else ''}"
    if kind == "rtstruct":
        n = row.get("rois") or 0
        return f"{n} ROI{'s' if n != 1 else ''}"
    if kind == "other":
        return row.get("sop_class", "")
    size = row.get("size", "")
    if row.get("frames", 1) > 1:
        size += f", {row['frames']} frames"
    return size


def _notes(row: dict) -> str:
    notes = []
    if row.get("problem"):
        notes.append(f"cannot be read: {row['problem']}")
    if "suv_ready" in row:
        notes.append("SUV-ready" if row["suv_ready"] else "not SUV-ready: no " + ", no ".join(row["suv_missing"]))
    if row.get("resampled"):
        notes.append(row["resampled"])
    if row.get("compression"):
        notes.append(row["compression"])
    if row.get("duplicate_files"):
        notes.append(f"{row['duplicate_files']} duplicate files ignored")
    return "; ".join(notes)


def cmd_ls(args: argparse.Namespace) -> int:
    from .sources.dicom.files import scan

    listing = scan(args.path)
    rows = [{k: v for k, v in row.items() if k != "text"} for row in listing.rows()]
    if args.json:
        print(json.dumps({"objects": rows, "skipped": listing.skipped, "unreadable": listing.unreadable}, indent=2))
        return 0
    if rows:
        table = [("#", "kind", "modality", "size", "spacing mm", "FoR", "")]
        for row in rows:
            table.append((str(row["index"]), row["kind"], row.get("modality") or "-", _size(row), _spacing(row),
                          row.get("frame_of_reference") or "-", _notes(row)))
        widths = [max(len(r[c]) for r in table) for c in range(len(table[0]) - 1)]
        for r in table:
            print(("  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1]).rstrip())
    n = len(rows)
    summary = f"{n} object{'s' if n != 1 else ''}" if n else "no DICOM objects"
    if listing.skipped:
        summary += f"; {listing.skipped} non-DICOM file{'s' if listing.skipped != 1 else ''} skipped"
    if listing.unreadable:
        summary += f"; {listing.unreadable} unreadable DICOM file{'s' if listing.unreadable != 1 else ''}"
    print(summary)
    if n > 1:
        print(f"choose one with {args.path}?series=N")
    return 0

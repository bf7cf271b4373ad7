"""The geometry of a DICOM image series, from its headers alone: slices sorted by their
position along the slice normal (never by file name or InstanceNumber), the slice spacing
measured between positions (not SliceThickness), small gaps planned for resampling, tilt,
mixed sizes and duplicate positions refused, the frames of a dynamic PET grouped (see
``series`` for the voxel axes and the affine).

``describe(obj)`` gives the listing fields (``arkit dicom ls``); ``_plan(obj)`` the plan
``series.read_image_series`` reads by. It needs the scan's records only as annotations, so
``files`` (which describes what it lists) and ``series`` both import this module and it
imports neither.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ...errors import InputError
from ..segmentation import held_warnings, warn

if TYPE_CHECKING:
    from .files import DicomFile, DicomObject, Frame

log = logging.getLogger("arkit_py.sources.dicom.series")

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

#: Positions this far off a regular grid (fraction of the spacing) are taken as regular.
REGULAR_TOLERANCE = 0.01
#: Gaps this far from the median gap (fraction) are resampled; farther ones refused.
RESAMPLE_TOLERANCE = 0.10
#: In-plane drift of the slice positions allowed, as a fraction of the smaller pixel spacing.
TILT_TOLERANCE = 0.1
#: Orientation cosines that differ by less than this are one orientation (the scan groups
#: files within half of it of a group's first orientation).
ORIENTATION_TOLERANCE = 2e-3


@dataclass
class _Plan:
    grid: list[list[tuple[DicomFile, Frame]]]  # [frame t][slice k], sorted
    rows: int
    columns: int
    affine: np.ndarray
    spacing: tuple[float, float, float]
    slices: int  # output slices (after resampling)
    weights: list[tuple[int, float]] | None = None  # resampling: output k -> (source a, weight of a+1)
    resampled: dict | None = None
    frame_times_s: np.ndarray | None = None
    frame_durations_s: np.ndarray | None = None
    frame_reference_times_s: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _plan(obj: DicomObject) -> _Plan:
    where = obj.shown
    if obj.kind != "image":
        what = {"seg": "a SEG", "rtstruct": "an RTSTRUCT"}.get(obj.kind, "not pixel data")
        raise InputError(where, f"is {what}, not an image series")
    entries: list[tuple[DicomFile, Frame]] = []
    for f in obj.files:
        if f.samples_per_pixel != 1:
            raise InputError(f.shown, f"{f.samples_per_pixel} samples per pixel ({f.photometric or 'colour'}): "
                                      "a colour image, not modality values")
        if f.bits_allocated not in (8, 16, 32):
            raise InputError(f.shown, f"BitsAllocated {f.bits_allocated}: only 8, 16 and 32-bit pixels are read")
        if not f.rows or not f.columns:
            raise InputError(f.shown, "no Rows/Columns")
        if f.number_of_frames > 1 and not f.enhanced:
            raise InputError(f.shown, f"{f.number_of_frames} frames without per-frame positions (a classic "
                                      "multi-frame image such as NM or cine): not a volume arkit can place")
        if len(f.frames) != f.number_of_frames:
            raise InputError(f.shown, f"NumberOfFrames is {f.number_of_frames} but the per-frame functional "
                                      f"groups describe {len(f.frames)}")
        entries.extend((f, fr) for fr in f.frames)
    sizes = Counter((f.columns, f.rows) for f, _ in entries)
    if len(sizes) > 1:
        parts = ", ".join(f"{_count(n, 'slice')} {c}x{r}" for (c, r), n in sizes.most_common())
        raise InputError(where, f"mixed image sizes: {parts}")
    (columns, rows), = sizes
    for _f, fr in entries:
        for value, name in ((fr.position, "ImagePositionPatient"), (fr.orientation, "ImageOrientationPatient"),
                            (fr.spacing, "PixelSpacing")):
            if value is None:
                frame = f" (frame {fr.number + 1})" if f.number_of_frames > 1 else ""
                raise InputError(f.shown, f"no valid {name}{frame}: not a slice of a volume")
    orientation = np.array(entries[0][1].orientation, dtype=np.float64)
    for _f, fr in entries:
        if np.max(np.abs(np.array(fr.orientation) - orientation)) > ORIENTATION_TOLERANCE:
            raise InputError(where, "mixed slice orientations (ImageOrientationPatient "
                                    f"{_vec(orientation)} and {_vec(fr.orientation)})")
    row, col = orientation[:3], orientation[3:]
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if abs(nr - 1) > 0.01 or abs(nc - 1) > 0.01 or abs(float(row @ col)) > 0.01:
        raise InputError(where, f"ImageOrientationPatient {_vec(orientation)} is not two perpendicular unit vectors")
    row, col = row / nr, col / nc
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    pixel = np.array(entries[0][1].spacing, dtype=np.float64)  # (between rows, between columns)
    if not ((pixel > 0).all() and (pixel < 1e5).all()):
        raise InputError(entries[0][0].shown, f"PixelSpacing {_vec(pixel)} is not a positive size in mm")
    for _f, fr in entries:
        if np.max(np.abs(np.array(fr.spacing) - pixel)) > 1e-4 * max(pixel):
            raise InputError(where, f"mixed pixel spacings ({_vec(pixel)} and {_vec(fr.spacing)} mm)")

    positions = np.array([fr.position for _, fr in entries], dtype=np.float64)
    if np.abs(positions).max() > 1e7:
        raise InputError(where, "ImagePositionPatient beyond 10 km from the origin: not positions in mm")
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    entries = [entries[i] for i in order]
    positions, along = positions[order], along[order]

    # slices at one position: cluster, then frames of a dynamic PET or a refusal
    gaps = np.diff(along)
    eps = min(0.01, 0.01 * float(gaps.max())) if len(gaps) and gaps.max() > 0 else 0.01
    starts = np.concatenate([[0], np.flatnonzero(gaps > eps) + 1]) if len(gaps) else np.array([0])
    clusters = [list(range(a, b)) for a, b in zip(starts, list(starts[1:]) + [len(entries)])]
    grid: list[list[tuple[DicomFile, Frame]]]
    plan_times: dict = {}
    if any(len(c) > 1 for c in clusters):
        grid, plan_times = _frames(obj, entries, clusters, along)
    else:
        grid = [entries]
    unique = np.array([along[c[0]] for c in clusters])
    first = positions[clusters[0][0]]

    # gantry tilt: the positions must lie on the line through the first along the normal
    offsets = positions - first
    inplane = offsets - np.outer(offsets @ normal, normal)
    drift = np.linalg.norm(inplane, axis=1)
    worst = int(np.argmax(drift))
    limit = max(0.01, TILT_TOLERANCE * float(pixel.min()))
    if drift[worst] > limit:
        distance = abs(float(offsets[worst] @ normal))
        angle = math.degrees(math.atan2(drift[worst], distance)) if distance > 0 else 90.0
        raise InputError(where, f"gantry tilt or sheared stack: the slice positions move {drift[worst]:.2f} mm across "
                                f"the image plane over {distance:.1f} mm along the slice normal ({angle:.1f} degrees); "
                                "only stacks whose slices follow their normal are read (reslice it first, e.g. "
                                "dcm2niix corrects gantry tilt)")

    notes: list[str] = []
    weights = None
    resampled = None
    k = len(unique)
    if k == 1:
        f0 = entries[0][0]
        dk = f0.spacing_between_slices or f0.slice_thickness or 1.0
        if not (dk > 0):
            dk = 1.0
        n_out = 1
        notes.append(f"one slice: slice spacing {dk:g} mm from "
                     + ("SpacingBetweenSlices" if f0.spacing_between_slices else
                        "SliceThickness" if f0.slice_thickness else "a default"))
    else:
        extent = float(unique[-1] - unique[0])
        dk = extent / (k - 1)
        residual = np.abs(unique - (unique[0] + dk * np.arange(k)))
        n_out = k
        if residual.max() > REGULAR_TOLERANCE * dk:
            g = np.diff(unique)
            median = float(np.median(g))
            dev = np.abs(g - median) / median
            bad = int(np.argmax(dev))
            if dev[bad] >= RESAMPLE_TOLERANCE:
                raise InputError(where, f"irregular slice spacing: {g[bad]:.3g} mm between slices {bad + 1} and "
                                        f"{bad + 2} of {k} (sorted along the normal) where the spacing is "
                                        f"{median:.3g} mm, off by {100 * dev[bad]:.0f} % (at most "
                                        f"{100 * RESAMPLE_TOLERANCE:.0f} % is resampled): a missing or extra slice?")
            n_out = max(2, round(extent / median) + 1)
            dk = extent / (n_out - 1)
            targets = unique[0] + dk * np.arange(n_out)
            weights = []
            for t in targets:
                a = int(np.clip(np.searchsorted(unique, t, side="right") - 1, 0, k - 2))
                w = float(np.clip((t - unique[a]) / (unique[a + 1] - unique[a]), 0.0, 1.0))
                weights.append((a, w))
            resampled = {"from_slices": k, "to_slices": n_out, "spacing_mm": dk,
                         "largest_gap_deviation": float(dev[bad]), "max_position_error_mm": float(residual.max())}
            warn(log, "%s: irregular slice spacing (gaps %.4g to %.4g mm): resampled onto %d slices %.4g mm apart "
                      "by linear interpolation", where, float(g.min()), float(g.max()), n_out, dk)
    dc, dr = float(pixel[1]), float(pixel[0])
    lps = np.column_stack([row * dc, col * dr, normal * dk])
    affine = np.eye(4)
    affine[:3, :3] = LPS_TO_RAS @ lps
    affine[:3, 3] = LPS_TO_RAS @ first
    return _Plan(grid=grid, rows=rows, columns=columns, affine=affine, spacing=(dc, dr, dk), slices=n_out,
                 weights=weights, resampled=resampled, notes=notes, **plan_times)


def _frames(obj: DicomObject, entries, clusters, along):
    """Slices sharing positions -> the frames of a dynamic PET ([t][k] entries, times)."""
    where = obj.shown
    shared = max(clusters, key=len)
    example = float(along[shared[0]])
    kind = obj.modality or "this"
    if obj.modality != "PT":
        raise InputError(where, f"{len(shared)} slices share one position ({example:.2f} mm along the slice normal) "
                                f"in a {kind} series: duplicate files, or several acquisitions under one series UID")
    counts = {len(c) for c in clusters}
    if len(counts) != 1:
        raise InputError(where, f"a dynamic PET whose slices are not all in every frame (between {min(counts)} "
                                f"and {max(counts)} per position)")
    n_frames = counts.pop()

    def key_of(name):
        def key(fr: Frame):
            value = getattr(fr, name)
            if value is None:
                return None
            return value if name == "temporal_index" else round(value * 1000.0)
        return key

    for name in ("temporal_index", "time_s", "reference_time_s"):
        key = key_of(name)
        keys = [key(entries[i][1]) for i in range(len(entries))]
        if any(v is None for v in keys):
            continue
        values = sorted(set(keys))
        if len(values) != n_frames:
            continue
        if all(sorted(keys[i] for i in c) == values for c in clusters):
            break
    else:
        raise InputError(where, f"{n_frames} PET slices share each position but neither TemporalPositionIndex, "
                                "AcquisitionTime nor FrameReferenceTime tells their frames apart")
    slot = {v: t for t, v in enumerate(values)}
    grid: list[list] = [[None] * len(clusters) for _ in range(n_frames)]
    for k, c in enumerate(clusters):
        for i in c:
            grid[slot[keys[i]]][k] = entries[i]
    heads = [frame[0][1] for frame in grid]
    times: dict = {}
    starts = [min((e[1].time_s for e in frame if e[1].time_s is not None), default=None) for frame in grid]
    durations = [h.duration_s for h in heads]
    if all(d is not None for d in durations):
        times["frame_durations_s"] = np.array(durations, dtype=np.float64)
    if all(s is not None for s in starts) and len({round(s * 1000) for s in starts}) == n_frames:
        times["frame_times_s"] = np.array(starts, dtype=np.float64) - starts[0]
    elif "frame_durations_s" in times:
        times["frame_times_s"] = np.concatenate([[0.0], np.cumsum(times["frame_durations_s"][:-1])])
    refs = [h.reference_time_s for h in heads]
    if all(r is not None for r in refs) and not any(f.enhanced for f in obj.files):
        times["frame_reference_times_s"] = np.array(refs, dtype=np.float64)
    return grid, times


def _vec(values) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in values) + ")"


def describe(obj: DicomObject) -> dict:
    """Listing fields of an image series from its headers: size ``columns x rows x
    slices``, frames, spacing in mm (slice spacing from the positions), or ``problem``: why
    it cannot be read as a volume."""
    with held_warnings() as held:
        try:
            plan = _plan(obj)
        except InputError as error:
            held.clear()
            first = obj.files[0]
            row = {"problem": error.problem}
            if first.columns and first.rows:
                row.update(columns=first.columns, rows=first.rows, size=f"{first.columns}x{first.rows}")
            return row
        held.clear()
    out = {"columns": plan.columns, "rows": plan.rows, "slices": plan.slices, "frames": len(plan.grid),
           "size": f"{plan.columns}x{plan.rows}x{plan.slices}", "spacing_mm": [round(v, 4) for v in plan.spacing]}
    if plan.resampled:
        out["resampled"] = f"irregular spacing, resampled to {plan.resampled['to_slices']} slices"
    return out

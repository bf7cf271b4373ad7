"""A DICOM image series (or one enhanced multi-frame image) -> :class:`ImageVolume`.

Voxel axes, as nibabel and dcm2niix lay a DICOM slice out: ``i`` runs along a row of the
image (the direction of the first ImageOrientationPatient cosine, across the columns; its
step is PixelSpacing[1], the spacing between columns), ``j`` runs down the rows (the second
cosine; PixelSpacing[0]), ``k`` along the slice normal ``row x column`` with slices sorted by
their position on it, lowest first. So ``data[i, j, k]`` is pixel (row j, column i) of the
k-th slice, and the affine (voxel index -> RAS mm) is::

    [ F r dc   F c dr   F n dk   F p0 ]       F = diag(-1, -1, 1): DICOM patient LPS -> RAS
    [   0        0        0       1   ]

with r, c the row and column cosines, n = r x c, dc/dr the column/row spacings, dk the slice
spacing and p0 the ImagePositionPatient of the first slice. The determinant is positive.
``data`` is Fortran-ordered (each slice is contiguous, as it is stored).

Sorting and spacing come from geometry only: slices are ordered by ``position . n``, never
by file name or InstanceNumber; the slice spacing is measured between positions (not
SliceThickness, which overlapping reconstructions exceed). Positions up to 1 % of a spacing
off a regular grid count as regular. Larger deviations, every gap within 10 % of the median
gap, are resampled onto a regular grid by linear interpolation between neighbouring slices
(a warning says so); beyond 10 % the series is refused with the numbers (a missing slice).
Positions that drift across the image plane (gantry tilt, a sheared stack) by more than a
tenth of a pixel are refused. Slices at one position are the frames of a dynamic PET
(grouped by TemporalPositionIndex / ImageIndex, AcquisitionTime, or FrameReferenceTime:
the first that gives every position once per frame) and refused in any other series. Mixed
sizes, orientations and pixel spacings are refused.

Values: stored pixels x RescaleSlope + RescaleIntercept, per slice (per frame for enhanced
images). ``int16`` when every slope and intercept is a whole number and every rescaled
value fits; otherwise ``float32``. Native (uncompressed little-endian) pixel data is read
straight from the offset the scan found; compressed transfer syntaxes decode through
pydicom's decoders, pylibjpeg first (JPEG 2000 with pylibjpeg-openjpeg, JPEG and JPEG-LS
with pylibjpeg-libjpeg); a missing decoder is an InputError naming the transfer syntax and
what to install.

Metadata carries physics only: units, rescale type, CorrectedImage, DecayCorrection,
SeriesType, the radionuclide half-life, SliceThickness, frame durations and reference
times, decay factors, and what resampling was done. No UID, name, date or description.
"""

from __future__ import annotations

import logging
import math
import struct
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ...errors import InputError
from ..memory import check_fits
from ..segmentation import held_warnings, warn
from .files import (
    NATIVE_LITTLE_ENDIAN,
    DicomFile,
    DicomObject,
    Frame,
    _reason,
    _ts_name,
    read_dataset,
    ts_label,
)

log = logging.getLogger(__name__)

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

#: Compressed transfer syntax -> what to install when no decoder is.
_PACKAGES = {
    **{uid: "pylibjpeg pylibjpeg-openjpeg" for uid in (
        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93",
        "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203")},
    **{uid: "pylibjpeg pylibjpeg-libjpeg" for uid in (
        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81")},
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle",
}
_PYDICOM_NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


@dataclass
class ImageVolume:
    """An image series in modality units.

    data : (I, J, K) array, or (I, J, K, T) for a dynamic PET; int16 where that is lossless,
        else float32; values after RescaleSlope/Intercept (HU for CT, the PET's Units).
    affine : (4, 4) float64, voxel index (i, j, k, 1) -> RAS mm (see the module notes for
        which DICOM direction each axis follows).
    modality : the DICOM Modality (CT, MR, PT, ...) or None.
    frame_times_s : (T,) start of each frame, seconds after the start of the first (from
        the acquisition times; else summed frame durations); None for one frame or when
        the header gives no times.
    frame_durations_s : (T,) frame lengths in seconds, or None.
    metadata : physics only (see the module notes).
    """

    data: np.ndarray
    affine: np.ndarray
    modality: str | None
    frame_times_s: np.ndarray | None = None
    frame_durations_s: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel size in mm along i, j, k."""
        return tuple(float(v) for v in np.linalg.norm(self.affine[:3, :3], axis=0))  # type: ignore[return-value]


# -- geometry -----------------------------------------------------------------------------------

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
    for f, fr in entries:
        for value, name in ((fr.position, "ImagePositionPatient"), (fr.orientation, "ImageOrientationPatient"),
                            (fr.spacing, "PixelSpacing")):
            if value is None:
                frame = f" (frame {fr.number + 1})" if f.number_of_frames > 1 else ""
                raise InputError(f.shown, f"no valid {name}{frame}: not a slice of a volume")
    orientation = np.array(entries[0][1].orientation, dtype=np.float64)
    for f, fr in entries:
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
    for f, fr in entries:
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


# -- reading ------------------------------------------------------------------------------------

def read_image_series(obj: DicomObject) -> ImageVolume:
    """Read an image series (see the module notes); InputError, one line naming the file or
    the series, for anything that cannot be read."""
    with held_warnings():
        plan = _plan(obj)
        n_frames = len(plan.grid)
        shape = (plan.columns, plan.rows, plan.slices) + ((n_frames,) if n_frames > 1 else ())
        check_fits(obj.shown, shape, 4)  # float32 at most (int16 when lossless)
        _check_decoders(obj)
        data = _read(obj, plan)
        if n_frames > 1:
            data = data.transpose(3, 2, 1, 0)  # (T, K, J, I) C-order -> (I, J, K, T) F-order
        else:
            data = data[0].transpose(2, 1, 0)
        return ImageVolume(data=data, affine=plan.affine, modality=obj.modality,
                           frame_times_s=plan.frame_times_s if n_frames > 1 else None,
                           frame_durations_s=plan.frame_durations_s, metadata=_metadata(obj, plan))


def _metadata(obj: DicomObject, plan: _Plan) -> dict:
    first = obj.files[0]
    meta = dict(first.physics)
    if first.slice_thickness:
        meta["slice_thickness_mm"] = first.slice_thickness
    frames = [fr for f in obj.files for fr in f.frames]
    slopes = {fr.slope for fr in frames}
    intercepts = {fr.intercept for fr in frames}
    meta["rescale_per_slice"] = len(slopes) > 1 or len(intercepts) > 1
    ts = sorted({f.transfer_syntax for f in obj.files if f.transfer_syntax})
    if ts:
        meta["transfer_syntax"] = ", ".join(_ts_name(t) for t in ts)
    if plan.frame_reference_times_s is not None:
        meta["frame_reference_times_s"] = plan.frame_reference_times_s
    decay = [frame[0][1].decay_factor for frame in plan.grid]
    if all(d is not None for d in decay):
        meta["decay_factors"] = np.array(decay, dtype=np.float64)
    if plan.resampled:
        meta["resampled"] = dict(plan.resampled)
    if plan.notes:
        meta["notes"] = list(plan.notes)
    return meta


def _check_decoders(obj: DicomObject) -> None:
    for ts in sorted({f.transfer_syntax for f in obj.files if f.transfer_syntax}):
        if ts in _PYDICOM_NATIVE:
            continue
        f = next(f for f in obj.files if f.transfer_syntax == ts)
        decoder = _decoder(f)
        if decoder is None:
            raise InputError(f.shown, f"pixel data in {ts_label(ts)}, which pydicom cannot decode")
        if not decoder.is_available:
            raise InputError(f.shown, _missing_decoder(ts))


def _decoder(f: DicomFile):
    from pydicom.pixels import get_decoder  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return get_decoder(f.transfer_syntax)
        except (NotImplementedError, ValueError, TypeError):
            return None


def _missing_decoder(ts: str) -> str:
    package = _PACKAGES.get(ts, "pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg")
    return f"pixel data compressed as {ts_label(ts)} and no decoder for it is installed: pip install {package}"


class _Pixels:
    """Stored pixel arrays of the files of one series, (frames, rows, columns) each."""

    def __init__(self, open_, obj: DicomObject):
        self.open_ = open_
        self.cache: dict[int, np.ndarray] = {}
        self.remaining = Counter()
        self.buffer: np.ndarray | None = None

    def frame(self, f: DicomFile, number: int) -> np.ndarray:
        if f.number_of_frames == 1:
            return self._read(f, reuse=True)[0]
        key = id(f)
        if key not in self.cache:
            self.cache[key] = self._read(f, reuse=False)
            self.remaining[key] = f.number_of_frames
        arr = self.cache[key][number]
        self.remaining[key] -= 1
        if self.remaining[key] <= 0:
            del self.cache[key]  # the returned view keeps its frames alive while needed
        return arr

    def _read(self, f: DicomFile, *, reuse: bool) -> np.ndarray:
        with self.open_(f) as stream:
            if f.pixel_offset is not None and f.transfer_syntax in NATIVE_LITTLE_ENDIAN:
                return self._native(stream, f, reuse)
            return self._decoded(stream, f)

    def _native(self, stream, f: DicomFile, reuse: bool) -> np.ndarray:
        implicit = NATIVE_LITTLE_ENDIAN[f.transfer_syntax]
        try:
            stream.seek(f.pixel_offset)
            head = stream.read(8 if implicit else 12)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise InputError(f.shown, f"cannot be read ({_reason(error)})") from None
        if len(head) < (8 if implicit else 12) or head[:4] != b"\xe0\x7f\x10\x00" \
                or (not implicit and head[4:6] not in (b"OB", b"OW")):
            raise InputError(f.shown, "changed since it was scanned (no pixel data where it was)")
        (length,) = struct.unpack("<I", head[4:8] if implicit else head[8:12])
        dtype = np.dtype(("<i" if f.pixel_representation else "<u") + str(f.bits_allocated // 8))
        shape = (f.number_of_frames, f.rows, f.columns)
        need = int(np.prod(shape)) * dtype.itemsize
        if length == 0xFFFFFFFF:
            raise InputError(f.shown, "encapsulated (compressed) pixel data in an uncompressed transfer syntax")
        if length < need:
            raise InputError(f.shown, f"pixel data is truncated: {length:,} bytes where "
                                      f"{f.columns}x{f.rows}x{f.number_of_frames} {f.bits_allocated}-bit pixels "
                                      f"need {need:,}")
        if reuse and self.buffer is not None and self.buffer.shape == shape and self.buffer.dtype == dtype:
            arr = self.buffer
        else:
            arr = np.empty(shape, dtype=dtype)
            if reuse:
                self.buffer = arr
        view = memoryview(arr).cast("B")
        got = 0
        try:
            while got < need:
                n = stream.readinto(view[got:])
                if not n:
                    break
                got += n
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise InputError(f.shown, f"pixel data cannot be read ({_reason(error)})") from None
        if got < need:
            raise InputError(f.shown, f"pixel data is truncated: the file ends {need - got:,} bytes early")
        _sign_extend(arr, f)
        return arr

    def _decoded(self, stream, f: DicomFile) -> np.ndarray:
        ds = read_dataset(stream, f, pixels=True)
        if f.raw and "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
            implicit, little = getattr(ds, "original_encoding", (True, True))
            ds.file_meta.TransferSyntaxUID = ("1.2.840.10008.1.2" if implicit else
                                              "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
        decoder = _decoder(f) if f.transfer_syntax not in _PYDICOM_NATIVE and f.transfer_syntax else None
        plugin = "pylibjpeg" if decoder is not None and "pylibjpeg" in decoder.available_plugins else ""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.pixel_array_options(decoding_plugin=plugin)
                arr = ds.pixel_array
        except Exception as error:  # noqa: BLE001 (decoders fail on hostile data in many ways)
            text = _reason(error)
            if "missing dependencies" in text or "plugins" in text.lower() and "available" in text.lower():
                raise InputError(f.shown, _missing_decoder(f.transfer_syntax or "")) from None
            raise InputError(f.shown, f"pixel data cannot be decoded ({_ts_name(f.transfer_syntax)}: {text})") from None
        arr = np.asarray(arr)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.shape != (f.number_of_frames, f.rows, f.columns):
            raise InputError(f.shown, f"pixel data decodes to shape {arr.shape}, the header says "
                                      f"{f.number_of_frames}x{f.rows}x{f.columns}")
        if arr.dtype.kind not in "iu":
            raise InputError(f.shown, f"{arr.dtype} pixel data: only integer pixels are read")
        return arr


def _sign_extend(arr: np.ndarray, f: DicomFile) -> None:
    """Signed pixels stored in fewer bits than allocated: fill the unused high bits with the
    sign bit (in place)."""
    bits = f.bits_stored or f.bits_allocated
    if f.pixel_representation and bits < f.bits_allocated:
        shift = f.bits_allocated - bits
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)


_INT16 = (-32768, 32767)


def _read(obj: DicomObject, plan: _Plan) -> np.ndarray:
    """The rescaled voxels as (T, K, J, I) C-order."""
    frames = [fr for f in obj.files for fr in f.frames]
    integral = plan.weights is None and all(
        float(fr.slope).is_integer() and float(fr.intercept).is_integer() for fr in frames)
    shape = (len(plan.grid), plan.slices, plan.rows, plan.columns)
    buf = np.empty(shape, dtype=np.int16 if integral else np.float32)
    with obj.opener() as open_:
        pixels = _Pixels(open_, obj)
        if plan.weights is None:
            for t, frame in enumerate(plan.grid):
                for k, (f, fr) in enumerate(frame):
                    raw = pixels.frame(f, fr.number)
                    buf = _put(buf, (t, k), raw, fr, f)
            return buf
        for t, frame in enumerate(plan.grid):
            cache: dict[int, np.ndarray] = {}

            def source(a, frame=frame, cache=cache):
                if a not in cache:
                    f, fr = frame[a]
                    raw = pixels.frame(f, fr.number)
                    out = np.empty(raw.shape, dtype=np.float32)
                    _rescale_float(raw, fr, out)
                    for old in [key for key in cache if key < a - 1]:
                        del cache[old]
                    cache[a] = out
                return cache[a]

            for k, (a, w) in enumerate(plan.weights):
                lo, hi = source(a), source(a + 1)
                np.multiply(lo, np.float32(1.0 - w), out=buf[t, k])
                buf[t, k] += np.float32(w) * hi
    return buf


def _put(buf: np.ndarray, at: tuple[int, int], raw: np.ndarray, fr: Frame, f: DicomFile) -> np.ndarray:
    """Write one rescaled slice into ``buf``; an int16 ``buf`` becomes float32 (returned)
    the first time a slice does not fit."""
    if buf.dtype == np.int16:
        slope, intercept = int(fr.slope), int(fr.intercept)
        lo, hi = _stored_range(f)
        ends = (lo * slope + intercept, hi * slope + intercept)
        if not (_INT16[0] <= min(ends) and max(ends) <= _INT16[1]):
            lo, hi = int(raw.min()), int(raw.max())
            ends = (lo * slope + intercept, hi * slope + intercept)
        if _INT16[0] <= min(ends) and max(ends) <= _INT16[1]:
            if slope == 1:
                np.add(raw, np.int32(intercept), out=buf[at], casting="unsafe")
            else:
                np.copyto(buf[at], raw.astype(np.int32) * slope + intercept, casting="unsafe")
            return buf
        buf = buf.astype(np.float32)
    _rescale_float(raw, fr, buf[at])
    return buf


def _rescale_float(raw: np.ndarray, fr: Frame, out: np.ndarray) -> None:
    if fr.slope == 1.0:
        np.copyto(out, raw, casting="unsafe")
    else:
        np.multiply(raw, np.float32(fr.slope), out=out, casting="unsafe")
    if fr.intercept != 0.0:
        out += np.float32(fr.intercept)


def _stored_range(f: DicomFile) -> tuple[int, int]:
    """Bounds of the stored values: signed pixels are sign-extended from BitsStored; the
    unused high bits of unsigned ones are not masked, so they count."""
    if f.pixel_representation:
        bits = min(f.bits_stored or f.bits_allocated, f.bits_allocated)
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << f.bits_allocated) - 1

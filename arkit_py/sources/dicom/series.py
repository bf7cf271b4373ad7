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
import struct
import warnings
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ...errors import InputError
from ..memory import check_fits
from ..segmentation import held_warnings
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
from .geometry import LPS_TO_RAS, _Plan, _plan  # noqa: F401 (LPS_TO_RAS: part of this module's story)

log = logging.getLogger(__name__)

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

"""DICOM files in a folder tree, a ``.zip`` or one file, grouped into objects.

:func:`scan` reads headers only (``stop_before_pixels``) and groups the files into objects:

=========  ==================================================================================
kind       what it is, and what groups its files
=========  ==================================================================================
image      files with pixel data (CT, MR, PT, ...): one object per SeriesInstanceUID, frame of
           reference and image orientation (a localizer series with three planes is three
           objects)
seg        Segmentation Storage (1.2.840.10008.5.1.4.1.1.66.4): one object per instance
rtstruct   RT Structure Set Storage (1.2.840.10008.5.1.4.1.1.481.3): one object per instance
other      everything else (SR, RT plan, presentation states, ...): per series and SOP class
=========  ==================================================================================

The SOP class comes from (0008,0016), else from the file meta (0002,0002): TotalSegmentator's
real CT series carries an empty (0008,0016). Files without a DICOM header (no ``DICM`` at
byte 128 and no plausible first element either) are skipped and counted; ``force=True`` is
used only for a file whose first bytes are a group 0002/0008 element (a DICOM stream
without its preamble). A DICOMDIR is skipped too. DICOM files that fail to parse are counted
as unreadable.

Objects are ordered by kind (image, seg, rtstruct, other), modality, then the SHA-256 of the
series UID (and of the frame of reference, orientation and instance), never by file name,
and numbered from 1: the index ``arkit dicom ls`` prints and ``PATH?series=N`` selects.

Privacy: no UID, name, ID, date, institution or description is kept. Records hold SHA-256
digests of the UIDs they group by (:func:`uid_hash`; matching a SEG to its series compares
digests), the listing shows a frame of reference as the first 8 hex digits of its digest.
Acquisition times are kept as numbers only to order and space dynamic frames; what leaves
the reader is relative seconds. File names appear in error messages only, as the user's
own paths.

A ``.zip`` is read as hostile: at most :data:`MAX_MEMBERS` members, each at most
:data:`MAX_MEMBER_BYTES` and the whole at most ``ARKIT_MAX_DICOM_ZIP_BYTES`` (default
:data:`MAX_ZIP_BYTES`) uncompressed as declared (zipfile never inflates past a member's
declared size), no member path leaving the archive (absolute, ``..``, backslashes, drive
letters), no links, no encrypted or duplicate members. Members are streamed from the
archive; nothing is extracted to disk, and archives inside it (or inside a folder) are not
opened. Folder scans follow no symbolic links to folders and
read regular files only (never a FIFO or device).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import logging
import math
import os
import re
import stat
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ...errors import InputError
from ..segmentation import warn

log = logging.getLogger(__name__)

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
DICOMDIR_STORAGE = "1.2.840.10008.1.3.10"

#: Kinds in listing order.
KINDS = ("image", "seg", "rtstruct", "other")

#: Transfer syntaxes whose pixel data is stored as plain little-endian arrays (read by offset).
NATIVE_LITTLE_ENDIAN = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}  # uid -> implicit VR

MAX_FILES = 200_000
MAX_MEMBERS = 200_000
MAX_MEMBER_BYTES = 4 << 30
MAX_ZIP_BYTES = 64 << 30
MAX_RATIO = 2000.0  # declared uncompressed / compressed, for members over 1 MiB

_PIXEL_TAGS_LE = {b"\xe0\x7f\x10\x00": "pixel", b"\xe0\x7f\x08\x00": "float", b"\xe0\x7f\x09\x00": "float"}
_PIXEL_TAGS_BE = {b"\x7f\xe0\x00\x10": "pixel", b"\x7f\xe0\x00\x08": "float", b"\x7f\xe0\x00\x09": "float"}
_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB", b"OD",
        b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM", b"UC", b"UI",
        b"UL", b"UN", b"UR", b"US", b"UT", b"UV"}
_SERIES_SPEC = re.compile(r"^(?P<path>.*)\?series=(?P<n>[^&?]*)$", re.DOTALL)


def uid_hash(uid: str | None) -> str:
    """The SHA-256 hex digest of a UID (stripped of padding); '' for an empty or missing UID
    hashes like ''."""
    return hashlib.sha256((uid or "").strip().strip("\0").encode("ascii", "replace")).hexdigest()


def short_hash(digest: str | None) -> str | None:
    """The 8-hex-digit form of a digest shown in listings."""
    return digest[:8] if digest else None


# -- records -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One 2-D image of a file (the file itself, or one frame of a multi-frame file).

    position : ImagePositionPatient (LPS mm) of the first transmitted pixel, or None.
    orientation : ImageOrientationPatient, the row then column direction cosines (LPS).
    spacing : PixelSpacing as stored: (between rows, between columns) in mm.
    slope, intercept : the modality rescale of this frame.
    time_s : acquisition start (seconds on an arbitrary epoch: only differences mean anything).
    duration_s, reference_time_s : ActualFrameDuration / FrameAcquisitionDuration and
        FrameReferenceTime, in seconds.
    temporal_index : TemporalPositionIndex, or the time slot derived from a classic PET's
        ImageIndex; None when absent.
    """

    number: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    spacing: tuple[float, float] | None
    slope: float = 1.0
    intercept: float = 0.0
    time_s: float | None = None
    duration_s: float | None = None
    reference_time_s: float | None = None
    temporal_index: int | None = None
    decay_factor: float | None = None


@dataclass(eq=False)
class DicomFile:
    """What a scan keeps of one DICOM file: geometry, pixel format and physics; UIDs only
    as SHA-256 digests."""

    name: str  # path inside the folder or archive, '/'-separated
    shown: str  # how messages name it
    kind: str
    sop_class: str
    modality: str | None
    transfer_syntax: str | None
    series_key: str = field(repr=False)
    instance_key: str = field(repr=False)
    for_key: str | None = field(repr=False)
    raw: bool = False  # no preamble / file meta: read with force=True
    pixel_offset: int | None = None  # byte offset of a native (7FE0,0010) element
    has_pixels: bool = False
    rows: int | None = None
    columns: int | None = None
    number_of_frames: int = 1
    samples_per_pixel: int = 1
    bits_allocated: int | None = None
    bits_stored: int | None = None
    pixel_representation: int = 0
    photometric: str | None = None
    frames: tuple[Frame, ...] = ()
    enhanced: bool = False
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    segments: int | None = None
    rois: int | None = None
    physics: dict = field(default_factory=dict)
    suv_missing: tuple[str, ...] | None = None  # PET only: what an SUV needs and is not there
    size: int = 0
    crc: int | None = None  # zip members: the CRC-32 the archive declares


# -- sources: a folder, a zip, a single file ------------------------------------------------

class _Source:
    """Where the files are; ``opener()`` gives a function name -> binary stream."""

    def __init__(self, path: str, kind: str, root: str):
        self.path, self.kind, self.root = path, kind, root

    def shown(self, name: str) -> str:
        if self.kind == "zip":
            return f"{self.path}:{name}"
        if self.kind == "file":
            return self.path
        return os.path.join(self.path, *name.split("/"))

    @contextlib.contextmanager
    def opener(self) -> Iterator[Callable[[DicomFile], io.BufferedIOBase]]:
        if self.kind != "zip":
            def open_file(f: DicomFile):
                full = self.root if self.kind == "file" else os.path.join(self.root, *f.name.split("/"))
                try:
                    return open(full, "rb")
                except OSError as error:
                    raise InputError(f.shown, f"cannot be read ({error.strerror or error})") from None
            yield open_file
            return
        try:
            zf = zipfile.ZipFile(self.root)
        except (OSError, zipfile.BadZipFile, NotImplementedError, ValueError, EOFError) as error:
            raise InputError(self.path, f"cannot be read again ({_reason(error)})") from None
        with zf:
            def open_member(f: DicomFile):
                try:
                    info = zf.getinfo(f.name)
                except KeyError:
                    raise InputError(f.shown, "is no longer in the archive") from None
                if info.file_size != f.size or info.CRC != f.crc:
                    raise InputError(f.shown, "changed since the archive was scanned")
                try:
                    return zf.open(info)
                except (zipfile.BadZipFile, RuntimeError, OSError, NotImplementedError, ValueError,
                        zlib.error) as error:
                    raise InputError(f.shown, f"cannot be read from the archive ({_reason(error)})") from None
            yield open_member


# -- objects and listings ---------------------------------------------------------------------

@dataclass(eq=False)
class DicomObject:
    """One image series, SEG, RTSTRUCT or other object of a scan.

    index : 1-based, as listed. shown : how messages name it (``PATH`` or ``PATH?series=N``).
    files : its DICOM files, sorted by name (the order means nothing: readers sort by
        geometry). ``summary`` holds the listing fields (see :meth:`Listing.rows`).
    series_hash, frame_of_reference_hash : SHA-256 digests of the UIDs.
    """

    index: int
    kind: str
    modality: str | None
    files: list[DicomFile]
    shown: str
    series_hash: str = field(repr=False)
    frame_of_reference_hash: str | None = field(repr=False, default=None)
    duplicates: int = 0  # files dropped as copies of another (same SOP instance)
    summary: dict = field(default_factory=dict)
    source: _Source | None = field(default=None, repr=False)

    def opener(self):
        """``with obj.opener() as open_: stream = open_(file)``: binary streams of its files
        (the caller closes each; the archive of a zip stays open for the block)."""
        return self.source.opener()

    def read_dataset(self, file: DicomFile | None = None, *, pixels: bool = True):
        """The pydicom Dataset of one of its files (the first by default), read in full or
        up to the pixel data; InputError when it cannot be parsed. For the readers of this
        package (SEG, RTSTRUCT, SUV): the dataset holds everything the file does, so only
        what they interpret may leave the package."""
        f = file or self.files[0]
        with self.opener() as open_, open_(f) as stream:
            return read_dataset(stream, f, pixels=pixels)

    @property
    def label(self) -> str:
        """``2 SEG 5 segments``: what listings and choice errors say about it."""
        return f"{self.index} {self.summary.get('text', self.kind)}"


@dataclass
class Listing:
    """A scan: the objects found, and the counts of what was skipped.

    path : as the user gave it. skipped : files that are not DICOM (or a DICOMDIR).
    unreadable : DICOM files that could not be parsed (``problems`` has (name, reason)).
    """

    path: str
    objects: list[DicomObject]
    skipped: int = 0
    unreadable: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        """``3 objects: 1 CT 512x512x20, 2 SEG 5 segments, 3 RTSTRUCT 4 ROIs``."""
        n = len(self.objects)
        return f"{n} object{'s' if n != 1 else ''}: " + ", ".join(o.label for o in self.objects)

    def rows(self) -> list[dict]:
        """The listing fields of every object (what ``arkit dicom ls --json`` prints)."""
        return [{"index": o.index, **o.summary} for o in self.objects]

    def select(self, series: int | None = None, *, want: str | None = None) -> DicomObject:
        """Object ``series`` (1-based), or without a number the only object (``want``:
        'image', 'seg' or 'rtstruct' narrows the candidates to that kind); InputError
        listing the choices when there are several or none."""
        if want is not None and want not in KINDS:
            raise ValueError(f"want must be one of {KINDS}, got {want!r}")
        wanted = {"image": "an image series", "seg": "a SEG", "rtstruct": "an RTSTRUCT",
                  "other": "a DICOM object"}.get(want or "", "a DICOM object")
        if not self.objects:
            extra = f" ({self._skipped_text()})" if self.skipped or self.unreadable else ""
            raise InputError(self.path, f"no DICOM objects found{extra}")
        if series is not None:
            if not 1 <= series <= len(self.objects):
                raise InputError(self.path, f"there is no series {series}: {self.describe()}; "
                                            f"choose with {self.path}?series=N")
            obj = self.objects[series - 1]
            if want is not None and obj.kind != want:
                raise InputError(obj.shown, f"is {_a(obj.kind)}, not {wanted}: {self.describe()}")
            return self._chosen(obj)
        candidates = [o for o in self.objects if want is None or o.kind == want]
        if len(candidates) == 1:
            return self._chosen(candidates[0])
        if not candidates:
            raise InputError(self.path, f"no {wanted[wanted.index(' ') + 1:]} here: {self.describe()}")
        listed = f"{len(candidates)} {'objects' if want in (None, 'other') else KIND_PLURAL[want]}: " \
                 + ", ".join(o.label for o in candidates)
        raise InputError(self.path, f"{listed}; choose with {self.path}?series=N")

    def _chosen(self, obj: DicomObject) -> DicomObject:
        if self.unreadable:
            name, why = self.problems[0]
            warn(log, "%s: %s (%s: %s); a series that one of them belongs to is read without it", self.path,
                 self._skipped_text(), name, why)
        return obj

    def _skipped_text(self) -> str:
        parts = []
        if self.skipped:
            parts.append(f"{self.skipped} non-DICOM file{'s' if self.skipped != 1 else ''} skipped")
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable DICOM file{'s' if self.unreadable != 1 else ''}")
        return ", ".join(parts)


KIND_PLURAL = {"image": "image series", "seg": "SEGs", "rtstruct": "RTSTRUCTs", "other": "objects"}


def _a(kind: str) -> str:
    return {"image": "an image series", "seg": "a SEG", "rtstruct": "an RTSTRUCT"}.get(kind, "another DICOM object")


def parse_spec(spec: str | os.PathLike) -> tuple[str, int | None]:
    """``PATH`` or ``PATH?series=N`` -> (PATH, N or None)."""
    text = os.fspath(spec)
    m = _SERIES_SPEC.match(text)
    if m is None:
        return text, None
    n = m.group("n").strip()
    if not n.isdigit() or int(n) < 1:
        raise InputError(m.group("path"), f"?series= takes an object number from 1 (as arkit dicom ls lists), "
                                          f"got {n!r}")
    return m.group("path"), int(n)


def is_dicom_file(path: str) -> bool:
    """A ``.dcm`` name, or the DICM marker after the 128-byte preamble."""
    if path.lower().endswith(".dcm"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(132)[128:132] == b"DICM"
    except OSError:
        return False


def holds_dicom(path: str) -> bool:
    """Whether a file is DICOM, or a folder tree holds a DICOM file (the first one found,
    in sorted order, decides)."""
    if not os.path.isdir(path):
        return os.path.isfile(path) and is_dicom_file(path)
    for folder, dirs, names in os.walk(path):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            try:
                regular = stat.S_ISREG(os.lstat(full).st_mode)  # never a device, a FIFO or a link
            except OSError:
                continue
            if regular and is_dicom_file(full):
                return True
    return False


def select(spec: str | os.PathLike, *, want: str | None = None) -> DicomObject:
    """``PATH`` or ``PATH?series=N`` (folder, .zip or file) -> one object (see
    :meth:`Listing.select`)."""
    path, series = parse_spec(spec)
    return scan(path).select(series, want=want)


# -- scanning ---------------------------------------------------------------------------------

def scan(path: str | os.PathLike) -> Listing:
    """Read the headers of every file under ``path`` (a folder, a ``.zip`` or one file) and
    group them into objects. InputError when ``path`` is missing or a refused archive."""
    shown = os.fspath(path)
    if not os.path.exists(shown):
        raise InputError(shown, "no such file or folder")
    candidates: list[tuple[str, Callable[[], io.BufferedIOBase], int, int | None]] = []
    if os.path.isdir(shown):
        source = _Source(shown, "dir", shown)
        for name, full, size in _walk(shown):
            candidates.append((name, (lambda full=full: open(full, "rb")), size, None))  # noqa: SIM115 (closed by _scan_one)
    elif shown.lower().endswith(".zip") or (not _looks_dicom_file(shown) and zipfile.is_zipfile(shown)):
        zf, infos = _zip_members(shown)
        source = _Source(shown, "zip", shown)
        for info in infos:
            candidates.append((info.filename, (lambda info=info: zf.open(info)), info.file_size, info.CRC))
    else:
        source = _Source(shown, "file", shown)
        candidates.append((os.path.basename(shown), (lambda: open(shown, "rb")),  # noqa: SIM115 (closed by _scan_one)
                           os.path.getsize(shown), None))
    records: list[DicomFile] = []
    skipped = unreadable = 0
    problems: list[tuple[str, str]] = []
    try:
        for name, opener, size, crc in candidates:
            try:
                record = _scan_one(opener, name, source.shown(name), size, crc)
            except _NotDicom:
                skipped += 1
                continue
            except _Unreadable as error:
                unreadable += 1
                problems.append((name, str(error)))
                continue
            records.append(record)
    finally:
        if source.kind == "zip":
            zf.close()
    objects = _group(records, source)
    return Listing(shown, objects, skipped, unreadable, problems)


class _NotDicom(Exception):
    pass


class _Unreadable(Exception):
    pass


def _walk(root: str) -> Iterator[tuple[str, str, int]]:
    """(relative '/' name, full path, size) of the regular files under ``root``, in sorted
    order; symbolic links to folders are not followed."""
    count = 0
    for folder, dirs, files in os.walk(root, onerror=None, followlinks=False):
        dirs.sort()
        for fname in sorted(files):
            full = os.path.join(folder, fname)
            try:
                st = os.stat(full)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            count += 1
            if count > MAX_FILES:
                raise InputError(root, f"more than {MAX_FILES:,} files: point at the series' own folder")
            yield os.path.relpath(full, root).replace(os.sep, "/"), full, st.st_size


def _zip_members(path: str) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The open archive and its file members after every check; InputError for a refused
    archive (then it is closed)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, NotImplementedError, ValueError, EOFError) as error:
        raise InputError(path, f"not a readable zip ({_reason(error)})") from None
    try:
        return zf, _checked_members(path, zf.infolist())
    except BaseException:
        zf.close()
        raise


def _checked_members(path: str, infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    limit = int(os.environ.get("ARKIT_MAX_DICOM_ZIP_BYTES", MAX_ZIP_BYTES))
    if len(infos) > MAX_MEMBERS:
        raise InputError(path, f"more than {MAX_MEMBERS:,} members")
    seen: set[str] = set()
    total = 0
    files = []
    for info in infos:
        name = info.filename
        why = _unsafe_member(name)
        if why:
            raise InputError(path, f"refused member {name!r}: {why}")
        mode = (info.external_attr >> 16) & 0o170000
        if info.create_system == 3 and mode == stat.S_IFLNK:
            raise InputError(path, f"refused member {name!r}: a symbolic link")
        if name in seen:
            raise InputError(path, f"refused member {name!r}: it appears twice")
        seen.add(name)
        if info.is_dir():
            continue
        if info.create_system == 3 and mode and mode != stat.S_IFREG:
            raise InputError(path, f"refused member {name!r}: not a regular file")
        if info.flag_bits & 0x1:
            raise InputError(path, f"refused member {name!r}: encrypted")
        if info.file_size > MAX_MEMBER_BYTES:
            raise InputError(path, f"refused member {name!r}: {info.file_size:,} bytes, over the "
                                   f"{MAX_MEMBER_BYTES:,} byte limit")
        if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise InputError(path, f"refused member {name!r}: suspicious compression ratio "
                                   f"(over {MAX_RATIO:g}:1)")
        total += info.file_size
        if total > limit:
            raise InputError(path, f"unpacks to more than {limit:,} bytes (ARKIT_MAX_DICOM_ZIP_BYTES)")
        files.append(info)
    return files


def _unsafe_member(name: str) -> str | None:
    if not name or "\\" in name or "\0" in name:
        return "a path with backslashes or NUL bytes"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    parts = name.rstrip("/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a path that leaves the archive ('..' or empty parts)"
    return None


def _looks_dicom_file(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return _sniff(f.read(132)) is not None
    except OSError:
        return False


def _sniff(head: bytes) -> str | None:
    """'part10' (DICM at 128), 'raw' (starts with a plausible group 0002/0008 element), or
    None (not DICOM)."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "part10"
    if len(head) < 8:
        return None
    group, element = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008) or element > 0x1200:
        return None
    if head[4:6] in _VRS:
        return "raw"
    (length,) = struct.unpack("<I", head[4:8])
    return "raw" if length < 256 else None


def read_dataset(stream, f: DicomFile, *, pixels: bool = True):
    """Parse a DICOM stream (pydicom warnings silenced); InputError naming the file."""
    import pydicom  # noqa: PLC0415
    from pydicom.errors import InvalidDicomError  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(stream, stop_before_pixels=not pixels, force=f.raw)
        except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError, OverflowError, struct.error,
                AttributeError, IndexError, NotImplementedError, UnicodeError, OSError, zipfile.BadZipFile,
                zlib.error) as error:
            raise InputError(f.shown, f"cannot be parsed as DICOM ({_reason(error)})") from None


def _scan_one(opener, name: str, shown: str, size: int, crc: int | None) -> DicomFile:
    import pydicom  # noqa: PLC0415

    try:
        stream = opener()
    except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, ValueError, zlib.error) as error:
        raise _Unreadable(f"cannot be opened ({_reason(error)})") from None
    with stream:
        try:
            head = stream.read(132)
            how = _sniff(head)
            if how is None:
                raise _NotDicom()
            stream.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(stream, stop_before_pixels=True, force=how == "raw")
                after = stream.tell()
                peek = stream.read(4)
                return _record(ds, name, shown, how == "raw", after, peek, size, crc)
        except _NotDicom:
            raise
        except Exception as error:  # noqa: BLE001 (a hostile file may break the parser in any way)
            raise _Unreadable(f"cannot be parsed as DICOM ({_reason(error)})") from None


def _record(ds, name, shown, raw, after, peek, size, crc) -> DicomFile:
    meta = getattr(ds, "file_meta", None)
    sop_class = _text(ds, "SOPClassUID") or (_text(meta, "MediaStorageSOPClassUID") if meta is not None else None) or ""
    instance = _text(ds, "SOPInstanceUID") or (_text(meta, "MediaStorageSOPInstanceUID") if meta is not None else None)
    if sop_class == DICOMDIR_STORAGE or "DirectoryRecordSequence" in ds:
        raise _NotDicom()
    if not sop_class:
        raise _Unreadable("no SOP Class UID in the dataset or the file meta")
    ts = _text(meta, "TransferSyntaxUID") if meta is not None else None
    if ts is None:
        encoding = getattr(ds, "original_encoding", None) or (None, True)
        little = encoding[1] is not False
    else:
        little = ts != "1.2.840.10008.1.2.2"
    tags = _PIXEL_TAGS_LE if little else _PIXEL_TAGS_BE
    pixel_kind = tags.get(peek)
    if pixel_kind is None and ts == "1.2.840.10008.1.2.1.99":  # deflated: positions are not file offsets
        pixel_kind = "pixel" if "Rows" in ds and "Columns" in ds else None
    has_pixels = pixel_kind is not None
    offset = after if pixel_kind == "pixel" and ts in NATIVE_LITTLE_ENDIAN and not raw else None
    if sop_class == SEG_STORAGE:
        kind = "seg"
    elif sop_class == RTSTRUCT_STORAGE:
        kind = "rtstruct"
    elif has_pixels:
        kind = "image"
    else:
        kind = "other"
    modality = _code(ds, "Modality")
    for_uid = _text(ds, "FrameOfReferenceUID")
    if for_uid is None and kind == "rtstruct":
        refs = _seq(ds, "ReferencedFrameOfReferenceSequence")
        for_uid = _text(refs[0], "FrameOfReferenceUID") if refs else None
    rec = DicomFile(
        name=name, shown=shown, kind=kind, sop_class=sop_class, modality=modality, transfer_syntax=ts,
        series_key=uid_hash(_text(ds, "SeriesInstanceUID")), instance_key=uid_hash(instance) if instance else "",
        for_key=uid_hash(for_uid) if for_uid else None, raw=raw, pixel_offset=offset, has_pixels=has_pixels,
        rows=_int(ds, "Rows"), columns=_int(ds, "Columns"), number_of_frames=max(1, _int(ds, "NumberOfFrames") or 1),
        samples_per_pixel=_int(ds, "SamplesPerPixel") or 1, bits_allocated=_int(ds, "BitsAllocated"),
        bits_stored=_int(ds, "BitsStored"), pixel_representation=_int(ds, "PixelRepresentation") or 0,
        photometric=_code(ds, "PhotometricInterpretation"), size=size, crc=crc,
    )
    if kind == "seg":
        rec.segments = len(_seq(ds, "SegmentSequence"))
    elif kind == "rtstruct":
        rec.rois = len(_seq(ds, "StructureSetROISequence"))
    if kind == "image":
        _image_fields(ds, rec)
    elif kind == "seg":
        rec.enhanced = "PerFrameFunctionalGroupsSequence" in ds
    return rec


def _image_fields(ds, rec: DicomFile) -> None:
    rec.slice_thickness = _float(ds, "SliceThickness")
    rec.spacing_between_slices = _float(ds, "SpacingBetweenSlices")
    physics = {}
    for key, kw in (("units", "Units"), ("rescale_type", "RescaleType"), ("decay_correction", "DecayCorrection"),
                    ("image_type", "ImageType"), ("corrected_image", "CorrectedImage"), ("series_type", "SeriesType")):
        value = _codes(ds, kw)
        if value:
            physics[key] = value[0] if key in ("units", "rescale_type", "decay_correction") else tuple(value)
    rp = _seq(ds, "RadiopharmaceuticalInformationSequence")
    half = _float(rp[0], "RadionuclideHalfLife") if rp else None
    if half:
        physics["radionuclide_half_life_s"] = half
    rec.physics = physics
    if rec.modality == "PT":
        rec.suv_missing = _suv_missing(ds, rp)
    per = _seq(ds, "PerFrameFunctionalGroupsSequence")
    if per:
        rec.enhanced = True
        shared = _seq(ds, "SharedFunctionalGroupsSequence")
        rec.frames = tuple(_enhanced_frame(i, item, shared[0] if shared else None, ds) for i, item in enumerate(per))
        if rec.slice_thickness is None:
            rec.slice_thickness = _group_float(per[0], shared[0] if shared else None, "PixelMeasuresSequence",
                                               "SliceThickness")
        return
    slope = _float(ds, "RescaleSlope")
    intercept = _float(ds, "RescaleIntercept")
    temporal = None
    if (_int(ds, "NumberOfTimeSlices") or 1) > 1:
        index, per_frame = _int(ds, "ImageIndex"), _int(ds, "NumberOfSlices")
        if index and per_frame:
            temporal = (index - 1) // per_frame
    duration = _float(ds, "ActualFrameDuration")
    reference = _float(ds, "FrameReferenceTime")
    frame = Frame(
        number=0, position=_vector(ds, "ImagePositionPatient", 3), orientation=_vector(ds, "ImageOrientationPatient", 6),
        spacing=_vector(ds, "PixelSpacing", 2), slope=1.0 if slope is None else slope,
        intercept=0.0 if intercept is None else intercept,
        time_s=_datetime_s(_text(ds, "AcquisitionDateTime"), _text(ds, "AcquisitionDate"), _text(ds, "AcquisitionTime")),
        duration_s=None if duration is None else duration / 1000.0,
        reference_time_s=None if reference is None else reference / 1000.0,
        temporal_index=temporal, decay_factor=_float(ds, "DecayFactor"))
    if rec.number_of_frames > 1:
        # classic multi-frame (NM, cine): frames share the one position; the reader refuses them
        rec.frames = tuple(Frame(number=i, position=frame.position, orientation=frame.orientation,
                                 spacing=frame.spacing, slope=frame.slope, intercept=frame.intercept)
                           for i in range(rec.number_of_frames))
    else:
        rec.frames = (frame,)


def _enhanced_frame(number: int, item, shared, ds) -> Frame:
    slope = _group_float(item, shared, "PixelValueTransformationSequence", "RescaleSlope")
    intercept = _group_float(item, shared, "PixelValueTransformationSequence", "RescaleIntercept")
    if slope is None:
        slope = _float(ds, "RescaleSlope")
    if intercept is None:
        intercept = _float(ds, "RescaleIntercept")
    content = _seq(item, "FrameContentSequence")
    content = content[0] if content else None
    duration = _float(content, "FrameAcquisitionDuration") if content is not None else None
    time_s = _datetime_s(_text(content, "FrameAcquisitionDateTime"), None, None) if content is not None else None
    reference = None
    if content is not None:
        ref = _datetime_s(_text(content, "FrameReferenceDateTime"), None, None)
        reference = None if ref is None else ref  # absolute: the reader takes differences
    temporal = _int(content, "TemporalPositionIndex") if content is not None else None
    return Frame(
        number=number,
        position=_group_vector(item, shared, "PlanePositionSequence", "ImagePositionPatient", 3),
        orientation=_group_vector(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient", 6),
        spacing=_group_vector(item, shared, "PixelMeasuresSequence", "PixelSpacing", 2),
        slope=1.0 if slope is None else slope, intercept=0.0 if intercept is None else intercept,
        time_s=time_s, duration_s=None if duration is None else duration / 1000.0, reference_time_s=reference,
        temporal_index=temporal)


def _suv_missing(ds, rp) -> tuple[str, ...]:
    """What an SUVbw needs from a PET header and is not there (presence checks only)."""
    missing = []
    units = (_code(ds, "Units") or "").upper()
    if units not in ("BQML", "CNTS", "GML"):
        missing.append(f"Units BQML/CNTS/GML (has {units})" if units else "Units BQML/CNTS/GML")
    if not _text(ds, "DecayCorrection"):
        missing.append("DecayCorrection")
    item = rp[0] if rp else None
    if item is None:
        missing.append("RadiopharmaceuticalInformationSequence")
    else:
        if not _float(item, "RadionuclideTotalDose"):
            missing.append("RadionuclideTotalDose")
        if not (_text(item, "RadiopharmaceuticalStartDateTime") or _text(item, "RadiopharmaceuticalStartTime")):
            missing.append("RadiopharmaceuticalStartTime")
    weight = _float(ds, "PatientWeight")
    if not weight or weight <= 0:
        missing.append("PatientWeight")
    return tuple(missing)


# -- grouping ----------------------------------------------------------------------------------

_ORIENTATION_TOLERANCE = 1e-3


def _group(records: list[DicomFile], source: _Source) -> list[DicomObject]:
    groups: dict[tuple, list[DicomFile]] = {}
    orientations: dict[tuple, list[tuple[float, ...] | None]] = {}
    for rec in records:
        if rec.kind == "image":
            base = (rec.series_key, rec.for_key or "")
            ori = rec.frames[0].orientation if rec.frames else None
            known = orientations.setdefault(base, [])
            slot = None
            for n, o in enumerate(known):
                if (o is None and ori is None) or (o is not None and ori is not None and
                                                   max(abs(a - b) for a, b in zip(o, ori)) <= _ORIENTATION_TOLERANCE):
                    slot = n
                    break
            if slot is None:
                known.append(ori)
                slot = len(known) - 1
            key = ("image", *base, slot)
        elif rec.kind in ("seg", "rtstruct"):
            key = (rec.kind, rec.series_key, rec.instance_key or rec.name)
        else:
            key = ("other", rec.series_key, rec.sop_class, rec.modality or "")
        groups.setdefault(key, []).append(rec)

    def order(item):
        key, files = item
        kind = key[0]
        ori = ""
        if kind == "image":
            o = orientations[(key[1], key[2])][key[3]]
            ori = "none" if o is None else ",".join(f"{v:.3f}" for v in o)
        digest = hashlib.sha256("|".join([key[1], str(key[2]), ori, *(str(k) for k in key[3:])]).encode()).hexdigest()
        return (KINDS.index(kind), files[0].modality or "", digest)

    objects = []
    multi = len(groups) > 1
    for index, (key, files) in enumerate(sorted(groups.items(), key=order), start=1):
        files.sort(key=lambda f: f.name)
        kept, seen, duplicates = [], set(), 0
        for f in files:
            if f.instance_key and f.instance_key in seen:
                duplicates += 1
                continue
            seen.add(f.instance_key)
            kept.append(f)
        obj = DicomObject(index=index, kind=key[0], modality=kept[0].modality, files=kept,
                          shown=f"{source.path}?series={index}" if multi else source.path,
                          series_hash=key[1], frame_of_reference_hash=kept[0].for_key, duplicates=duplicates,
                          source=source)
        obj.summary = _summary(obj)
        objects.append(obj)
    return objects


def _summary(obj: DicomObject) -> dict:
    """The listing fields of an object (no UIDs, names, dates or descriptions)."""
    first = obj.files[0]
    row: dict = {"kind": obj.kind, "modality": obj.modality, "files": len(obj.files),
                 "frame_of_reference": short_hash(obj.frame_of_reference_hash)}
    if obj.duplicates:
        row["duplicate_files"] = obj.duplicates
    ts = sorted({f.transfer_syntax for f in obj.files if f.transfer_syntax})
    if ts and any(t not in NATIVE_LITTLE_ENDIAN for t in ts):
        row["compression"] = ", ".join(_ts_name(t) for t in ts)
    modality = obj.modality or "DICOM"
    if obj.kind == "image":
        from .geometry import describe  # noqa: PLC0415 (the plan of an image series)

        row.update(describe(obj))
        size = row.get("size")
        text = f"{modality} {size}" if size else f"{modality} image"
        if row.get("frames", 1) > 1:
            text += f", {row['frames']} frames"
        row["text"] = text
        if obj.modality == "PT":
            missing = sorted({m for f in obj.files for m in (f.suv_missing or ())})
            row["suv_ready"] = not missing
            if missing:
                row["suv_missing"] = missing
    elif obj.kind == "seg":
        row["segments"] = first.segments
        row["frames"] = first.number_of_frames
        if first.columns and first.rows:
            row["size"] = f"{first.columns}x{first.rows}"
        row["text"] = f"SEG {first.segments} segment{'s' if first.segments != 1 else ''}"
    elif obj.kind == "rtstruct":
        row["rois"] = first.rois
        row["text"] = f"RTSTRUCT {first.rois} ROI{'s' if first.rois != 1 else ''}"
    else:
        name = _sop_name(first.sop_class)
        row["sop_class"] = name
        row["text"] = f"{modality} ({name})"
    return row


def _standard_uid(uid: str | None):
    """The pydicom UID of a UID from the DICOM standard's registry, or None (a private or
    malformed value, which is never echoed)."""
    from pydicom.uid import UID  # noqa: PLC0415

    if not uid or not re.fullmatch(r"[0-9]+(\.[0-9]+)*", uid) or len(uid) > 64:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = UID(uid)
        name = value.name
    return value if name and name != uid and not name[:1].isdigit() and uid.startswith("1.2.840.10008.") else None


def _sop_name(uid: str) -> str:
    value = _standard_uid(uid)
    return value.name if value is not None else "unknown SOP class"


def _ts_name(uid: str | None) -> str:
    """A transfer syntax's name, or 'an unknown transfer syntax'."""
    value = _standard_uid(uid)
    return value.name if value is not None and value.is_transfer_syntax else "an unknown transfer syntax"


def ts_label(uid: str | None) -> str:
    """``JPEG 2000 Image Compression (Lossless Only) (1.2.840.10008.1.2.4.90)`` for a standard
    transfer syntax, else 'an unknown transfer syntax' (header text is never echoed)."""
    value = _standard_uid(uid)
    if value is None or not value.is_transfer_syntax:
        return "an unknown transfer syntax"
    return f"{value.name} ({uid})"


# -- header values ------------------------------------------------------------------------------

def _reason(error: BaseException) -> str:
    """A short, printable reason for a failure, with quoted text (values from a header)
    blanked: pydicom's messages can quote what a damaged file holds."""
    text = str(error).strip()
    text = text.splitlines()[0] if text else ""
    text = re.sub(r"b?'[^']*'?|b?\"[^\"]*\"?", "'...'", text)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)[:120]
    return text or type(error).__name__


def _value(ds, keyword):
    if ds is None:
        return None
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 (a malformed value may fail to convert in many ways)
        return None
    if value is None or value == "":
        return None
    return value


def _seq(ds, keyword) -> list:
    value = _value(ds, keyword)
    try:
        return list(value) if value is not None else []
    except TypeError:
        return []


def _text(ds, keyword) -> str | None:
    value = _value(ds, keyword)
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else None
        if value is None:
            return None
    text = str(value).strip().strip("\0").strip()
    return text or None


_CODE = re.compile(r"[A-Za-z0-9_ ]{1,16}")


def _code(ds, keyword) -> str | None:
    """A code string (CS-like: letters, digits, '_' and spaces, at most 16) or None: the
    only header text that may leave these modules (Modality, Units, ...), so a damaged
    length can never carry the rest of a header out with it."""
    codes = _codes(ds, keyword)
    return codes[0] if codes else None


def _codes(ds, keyword) -> list[str]:
    values = _texts(ds, keyword)
    if not all(_CODE.fullmatch(v) for v in values):
        return []
    return values


def _texts(ds, keyword) -> list[str]:
    value = _value(ds, keyword)
    if value is None:
        return []
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        value = [value]
    return [str(v).strip() for v in value if str(v).strip()]


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _float(ds, keyword) -> float | None:
    value = _value(ds, keyword)
    if value is None:
        return None
    if not isinstance(value, (str, bytes)) and hasattr(value, "__len__"):
        if len(value) == 0:
            return None
        value = value[0]
    return _number(value)


def _int(ds, keyword) -> int | None:
    number = _float(ds, keyword)
    if number is None or number != int(number):
        return None
    return int(number)


def _vector(ds, keyword, n):
    value = _value(ds, keyword)
    if value is None:
        return None
    try:
        items = list(value)
    except TypeError:
        return None
    if len(items) != n:
        return None
    numbers = [_number(v) for v in items]
    return None if any(v is None for v in numbers) else tuple(numbers)


def _group_item(item, shared, sequence):
    for where in (item, shared):
        seq = _seq(where, sequence)
        if seq:
            return seq[0]
    return None


def _group_vector(item, shared, sequence, keyword, n):
    found = _group_item(item, shared, sequence)
    return _vector(found, keyword, n) if found is not None else None


def _group_float(item, shared, sequence, keyword):
    for where in (item, shared):
        seq = _seq(where, sequence)
        if seq:
            value = _float(seq[0], keyword)
            if value is not None:
                return value
    return None


def _tm_seconds(text: str | None) -> float | None:
    """DICOM TM (``HHMMSS.FFFFFF``, also the old ``HH:MM:SS``) -> seconds after midnight."""
    if not text:
        return None
    t = text.strip().replace(":", "")
    m = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?", t)
    if not m:
        return None
    h, mi, s, frac = m.groups()
    value = int(h) * 3600 + int(mi or 0) * 60 + int(s or 0) + (float(frac) if frac else 0.0)
    return value if 0 <= value < 86400 + 1 else None


def _da_days(text: str | None) -> int | None:
    if not text:
        return None
    t = text.strip().replace(".", "").replace("-", "")
    try:
        return _dt.date(int(t[:4]), int(t[4:6]), int(t[6:8])).toordinal() if len(t) == 8 else None
    except ValueError:
        return None


def _datetime_s(dt: str | None, date: str | None, time: str | None) -> float | None:
    """Seconds on a fixed epoch from a DT, else DA + TM, else TM alone (then only the time of
    day: frames across midnight come out wrong, as nothing tells them apart)."""
    if dt:
        t = re.split(r"[+-]", dt.strip(), maxsplit=1)[0] if len(dt.strip()) > 8 else dt.strip()
        days = _da_days(t[:8])
        tod = _tm_seconds(t[8:]) if len(t) > 8 else 0.0
        if days is not None and tod is not None:
            return days * 86400.0 + tod
    tod = _tm_seconds(time)
    if tod is None:
        return None
    days = _da_days(date)
    return (days or 0) * 86400.0 + tod

"""NIfTI label maps (``.nii``, ``.nii.gz``) -> :class:`Segmentation`, and the checks every
reader shares: label data to the smallest unsigned dtype, the affine, the segments.

The voxel order is kept as stored; the affine is the one nibabel picks (sform, else qform,
else the zooms), voxel -> RAS mm. Label names come from a label table in the header
extension (the Caret/Workbench XML that TotalSegmentator writes) when there is one. No
other header text (``descrip``, ``db_name``, ``aux_file``, ``intent_name``) is read.
"""

from __future__ import annotations

import logging
import os
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np

from ..errors import InputError
from ..structures import lookup
from .labeltables import LabelTable
from .memory import check_fits
from .segmentation import Segment, Segmentation, held_warnings, warn

log = logging.getLogger(__name__)

#: NIfTI spatial units -> mm.
_UNITS_MM = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}

#: Voxels handled at a time when float data is checked and converted.
_SLAB_VOXELS = 1 << 22


def read_nifti(path: str | os.PathLike, *, labels: LabelTable | None = None,
               default_labels: LabelTable | None = None) -> Segmentation:
    """Read a NIfTI-1/2 label map.

    labels : names (and colours) that override the file's own, by label value.
    default_labels : names for labels the file does not name itself (a TotalSegmentator
        table for its multi-label output without a header label map).
    Returns a one-layer Segmentation; the affine is voxel -> RAS mm. Warnings (no
    orientation, a malformed label table) are logged only when the read succeeds.
    """
    with held_warnings():
        img, shape = open_nifti(path)
        affine = check_affine(nifti_affine(img), path)
        names = caret_label_table(img.header)
        raw, slope, inter = nifti_data(img, path, shape)
        layer = label_array(raw, path, slope=slope, inter=inter)
        del raw, img
        return assemble(path, [layer], affine, names=names, labels=labels, default_labels=default_labels)


# -- NIfTI pieces (also used by the TotalSegmentator folder reader) --------------------------

def _nib():
    import nibabel as nib  # noqa: PLC0415 (keeps `import arkit_py` light)

    return nib


def _read_errors() -> tuple[type[BaseException], ...]:
    from nibabel.filebasedimages import ImageFileError  # noqa: PLC0415
    from nibabel.spatialimages import HeaderDataError  # noqa: PLC0415

    return (OSError, EOFError, ValueError, zlib.error, struct.error, ImageFileError, HeaderDataError)


def load_nifti_header(path: str | os.PathLike):
    """The NIfTI image of ``path`` with its header read (no voxel data yet); InputError
    when the file is missing, unreadable or not NIfTI."""
    nib = _nib()
    if not os.path.isfile(path):
        raise InputError(path, "no such file")
    try:
        img = nib.load(os.fspath(path))
    except _read_errors() as exc:
        raise InputError(path, f"not a readable NIfTI file ({_reason(exc)})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(path, f"not a NIfTI image (read as {type(img).__name__})")
    return img


def open_nifti(path: str | os.PathLike):
    """Load a NIfTI header (no voxel data yet) and check it describes a 3D label volume
    that fits in memory. Returns (image, 3D shape)."""
    img = load_nifti_header(path)
    dtype = img.header.get_data_dtype()
    if dtype.kind not in "biuf":
        raise InputError(path, f"not a label map: voxels are {_dtype_name(dtype)}, expected integer labels")
    full = tuple(int(n) for n in img.header.get_data_shape())
    shape = spatial_shape(full, path)
    check_fits(path, shape, dtype.itemsize + 2)  # the stored data and the label array coexist
    return img, shape


def spatial_shape(full: tuple[int, ...], path) -> tuple[int, int, int]:
    """A shape with 2 or 3 axes (trailing axes of length 1 allowed) -> 3 axes."""
    shape = list(full)
    while len(shape) > 3 and shape[-1] == 1:
        shape.pop()
    if len(shape) > 3:
        raise InputError(path, f"{len(full)}D data (shape {_x(full)}): expected one 3D label volume")
    shape += [1] * (3 - len(shape))
    if min(shape) < 1:
        raise InputError(path, f"empty volume (shape {_x(full)})")
    return tuple(shape)  # type: ignore[return-value]


def nifti_affine(img) -> np.ndarray:
    """Voxel -> RAS mm: nibabel's affine (sform, else qform, else zooms) scaled to mm.
    Its warning is held inside a ``held_warnings`` read (logged if the read succeeds)."""
    hdr = img.header
    if int(hdr["sform_code"]) == 0 and int(hdr["qform_code"]) == 0:
        warn(log, "NIfTI header has no orientation (sform and qform codes are 0): "
                    "using the voxel sizes with nibabel's default axes")
    affine = np.array(img.affine, dtype=np.float64)
    unit = hdr.get_xyzt_units()[0]
    scale = _UNITS_MM.get(unit, 1.0)
    if scale != 1.0:
        affine[:3, :] *= scale
    return affine


def nifti_data(img, path, shape) -> tuple[np.ndarray, float, float]:
    """The stored voxel values (unscaled, the file's dtype) reshaped to ``shape``, with the
    header's scale slope and intercept (1, 0 when unscaled)."""
    proxy = img.dataobj
    slope = float(getattr(proxy, "slope", 1.0))
    inter = float(getattr(proxy, "inter", 0.0))
    try:
        raw = np.asarray(proxy.get_unscaled())
    except _read_errors() as exc:
        raise InputError(path, f"corrupt or truncated voxel data ({_reason(exc)})") from None
    if not (np.isfinite(slope) and np.isfinite(inter)):
        raise InputError(path, "non-finite scale slope or intercept in the header")
    return raw.reshape(shape, order="F" if raw.flags.f_contiguous else "C"), slope, inter


def caret_label_table(header) -> LabelTable:
    """Label names from a Caret/Connectome Workbench XML label table in a NIfTI header
    extension (TotalSegmentator writes one since v2), or {} when there is none.

    The colours of such a table are kept only for names the structure table does not know:
    TotalSegmentator cycles 12 primary colours through its classes, which say nothing.
    """
    table: LabelTable = {}
    for ext in getattr(header, "extensions", ()):
        # nibabel >= 5.3: .content is always the raw bytes; get_content() may decode them.
        content = ext.content if hasattr(type(ext), "content") else ext.get_content()
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray)) or b"<LabelTable" not in content:
            continue
        try:
            root = ET.fromstring(bytes(content).rstrip(b"\x00 \t\r\n"))
        except ET.ParseError as exc:
            warn(log, "ignoring a NIfTI header extension with a malformed label table (%s)", exc)
            continue
        for element in root.iter("Label"):
            try:
                key = int(element.get("Key", ""))
            except ValueError:
                continue
            name = (element.text or "").strip()
            if key <= 0 or not name or key in table:
                continue
            color = None
            if not lookup(name).known:
                try:
                    rgb = tuple(float(element.get(c, "nan")) for c in ("Red", "Green", "Blue"))
                    if all(0.0 <= v <= 1.0 for v in rgb):
                        color = rgb
                except ValueError:
                    pass
            table[key] = (name, color)  # type: ignore[assignment]
    return table


# -- shared by every reader -------------------------------------------------------------------

def label_array(raw: np.ndarray, path, *, slope: float = 1.0, inter: float = 0.0) -> np.ndarray:
    """Stored voxel values -> a new C-ordered uint8 (labels <= 255) or uint16 array.

    raw : (I, J, K) any real dtype, the values as stored; ``value = raw * slope + inter``.
    Float values must be whole numbers (within 1e-3), finite and >= 0; labels above 65535
    are refused. Float data is checked and converted in slabs, never copied whole as float64.
    """
    kind = raw.dtype.kind
    if kind not in "biuf":
        raise InputError(path, f"not a label map: voxels are {_dtype_name(raw.dtype)}, expected integer labels")
    if raw.size == 0:
        raise InputError(path, f"empty volume (shape {_x(raw.shape)})")
    if kind == "b":
        raw = raw.view(np.uint8)
        kind = "u"
    exact = kind in "ui" and slope == 1.0 and inter == 0.0
    step = max(1, _SLAB_VOXELS // max(1, int(np.prod(raw.shape[1:]))))
    slabs = [slice(s, s + step) for s in range(0, raw.shape[0], step)]

    def values(sl):
        v = raw[sl]
        if exact:
            return v
        if slope != 1.0 or inter != 0.0:
            v = v * slope + inter
        return v

    if exact:
        lo, hi = int(raw.min()), int(raw.max())
    else:
        lo, hi = np.inf, -np.inf
        for sl in slabs:
            v = values(sl)
            if not np.isfinite(v).all():
                raise InputError(path, "not a label map: voxel values include NaN or infinity")
            off = np.abs(v - np.rint(v))
            if off.max() > 1e-3:
                bad = v.flat[int(np.argmax(off))]
                raise InputError(path, f"not a label map: voxel values are not whole numbers (e.g. {bad:g})")
            lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
        lo, hi = int(round(lo)), int(round(hi))
    if lo < 0:
        raise InputError(path, f"negative label values (minimum {lo})")
    if hi > 65535:
        raise InputError(path, f"label values up to 65535 are supported, found {hi}")
    out = np.empty(raw.shape, dtype=np.uint8 if hi <= 255 else np.uint16)
    if exact:
        np.copyto(out, raw, casting="unsafe")
    else:
        for sl in slabs:
            out[sl] = np.rint(values(sl))
    return out


def check_affine(affine, path) -> np.ndarray:
    """A (4, 4) float64 copy of ``affine``, or InputError if it is non-finite or singular."""
    a = np.array(affine, dtype=np.float64)
    if a.shape != (4, 4):
        raise InputError(path, f"affine must be 4x4, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(path, "non-finite affine (NaN or infinity in the voxel-to-world matrix)")
    m = a[:3, :3]
    norms = np.linalg.norm(m, axis=0)
    if norms.min() <= 0 or abs(np.linalg.det(m)) / np.prod(norms) < 1e-6:
        raise InputError(path, "singular affine: the voxel axes do not span 3D space")
    a[3] = (0.0, 0.0, 0.0, 1.0)
    return a


def present_labels(layer: np.ndarray) -> np.ndarray:
    """The non-zero labels with at least one voxel, sorted (bincount over slabs; no sort
    of the volume)."""
    total = np.zeros(1, dtype=np.int64)
    flat = layer.ravel(order="K")  # a view when the layer is contiguous in either order
    for start in range(0, flat.size, _SLAB_VOXELS):
        counts = np.bincount(flat[start:start + _SLAB_VOXELS])
        if len(counts) > len(total):
            total = np.pad(total, (0, len(counts) - len(total)))
        total[: len(counts)] += counts
    found = np.flatnonzero(total)
    return found[found > 0]


def assemble(path, layers: list[np.ndarray], affine, *, names: LabelTable | None = None,
             named_layers: dict[int, int] | None = None, labels: LabelTable | None = None,
             default_labels: LabelTable | None = None,
             present: dict[int, int] | None = None) -> Segmentation:
    """Build the Segmentation every reader returns.

    layers : list of (I, J, K) uint8/uint16 label arrays, labels unique across layers.
    names : the file's own label names; ``labels`` override them, ``default_labels`` fill
        labels neither names. A label nobody names is ``label_<n>``.
    named_layers : layer of each named label (for named labels without voxels).
    present : label -> layer when the caller already knows which labels have voxels.
    Segments are made for labels with voxels and for labels the file names; a volume without
    a labelled voxel is an InputError.
    """
    affine = check_affine(affine, path)
    if present is None:
        present = {}
        for index, layer in enumerate(layers):
            for label in present_labels(layer):
                present[int(label)] = index
    if not present:
        raise InputError(path, "empty segmentation: no voxel has a non-zero label")
    names, labels, default_labels = names or {}, labels or {}, default_labels or {}
    named_layers = named_layers or {}
    segments: dict[int, Segment] = {}
    for label in sorted(set(present) | set(names)):
        name, color = labels.get(label) or names.get(label) or default_labels.get(label) or (f"label_{label}", None)
        layer = present.get(label, named_layers.get(label, 0))
        segments[label] = Segment(label, lookup(name, color), layer)
    unnamed = [label for label in present if label not in names and label not in labels and label not in default_labels]
    if len(unnamed) >= 10 and not names and max(unnamed) <= 117:
        warn(log, "%s: labels have no names; for TotalSegmentator output pass labels='totalsegmentator' "
                 "(--labels totalsegmentator)", path, level=logging.INFO)
    return Segmentation(layers=layers, affine=affine, segments=segments)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.names:
        return "RGB/structured values"
    return {"c": "complex numbers", "V": "raw bytes", "U": "text", "S": "text", "O": "objects"}.get(dtype.kind, str(dtype))


def _x(shape) -> str:
    return "x".join(str(int(n)) for n in shape)

"""One entry point for every label volume: :func:`load_segmentation`.

Readers register in :data:`READERS` (file name ending -> reader, longest ending first), so a
new format is one function and one line. A folder is a TotalSegmentator mask folder;
``phantom:...`` is the built-in phantom, ``sample:...`` a real body that ships with arkit.

Every reader has the signature ``reader(path, *, labels=None, default_labels=None) ->
Segmentation``: ``labels`` names (and colours) labels over the file's own names,
``default_labels`` only names labels the file leaves unnamed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import InputError
from .labeltables import LabelTable, is_shipped, read_label_table
from .nifti import read_nifti
from .nrrd import read_nrrd
from .segmentation import Segmentation, held_warnings, relabel
from .totalseg import read_mask_folder

Reader = Callable[..., Segmentation]

#: (file name ending, reader), matched case-insensitively, longest ending first.
READERS: list[tuple[str, Reader]] = [
    (".seg.nrrd", read_nrrd),
    (".nii.gz", read_nifti),
    (".nii", read_nifti),
    (".nrrd", read_nrrd),
    (".nhdr", read_nrrd),
]

PHANTOM_PREFIX = "phantom:"
SAMPLE_PREFIX = "sample:"


def is_builtin(spec: str) -> bool:
    """``spec`` names a body that ships with arkit (the phantom, a sample), not a file."""
    return spec.startswith((PHANTOM_PREFIX, SAMPLE_PREFIX))


def _builtin_reader(spec: str):
    """(parse_spec, read) of a built-in body: ICRP 110, the MIRD phantom or a sample."""
    if spec.startswith("phantom:icrp110-"):  # imported by the user (arkit phantom import)
        from ..phantoms import icrp110

        return icrp110.parse_spec, icrp110.phantom_from_spec
    if spec.startswith(PHANTOM_PREFIX):
        from ..phantoms import mird  # noqa: PLC0415 (the phantom is heavy)

        return mird.parse_spec, mird.phantom_from_spec
    from . import samples

    return samples.parse_spec, samples.sample_from_spec


def check_builtin(spec: str) -> None:
    """Refuse a bad ``phantom:...`` or ``sample:...`` spec (InputError) without reading it."""
    _builtin_reader(spec)[0](spec)


def source_name(spec: str) -> str:
    """What a hologram may say its input was: the built-in body's name, never a file name
    (a file name can identify a patient)."""
    if spec.startswith(PHANTOM_PREFIX):
        return spec.split("?", 1)[0] if spec.startswith("phantom:icrp110-") else "phantom:mird-adult"
    if spec.startswith(SAMPLE_PREFIX):
        return spec.split("?", 1)[0]
    return "label map"


def reader_for(path: str | os.PathLike) -> Reader:
    """The reader for a file name, or InputError naming the formats understood."""
    name = os.fspath(path).lower()
    for ending, reader in sorted(READERS, key=lambda item: -len(item[0])):
        if name.endswith(ending):
            return reader
    endings = ", ".join(e for e, _ in READERS)
    raise InputError(path, f"unknown volume format: expected {endings} or a folder of TotalSegmentator masks")


def load_segmentation(spec: str, *, labels: str | None = None, reference: str | None = None) -> Segmentation:
    """Read a label volume.

    spec : a file (``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.seg.nrrd``), a folder of
        TotalSegmentator masks, a DICOM SEG or RTSTRUCT (a file, or in a folder or ``.zip``;
        ``PATH?series=N`` chooses among several), ``phantom:...`` (the built-in phantom) or
        ``sample:...`` (a real body that ships with arkit, ``sources/samples.py``).
    reference : for an RTSTRUCT, the image series (DICOM spec or NIfTI) whose grid it is
        drawn on (default: the series of its frame of reference beside it, else its contours').
    labels : a label table file (3D Slicer ``.ctbl``/``.txt``, ITK-SNAP ``.txt``/``.label``,
        ``.csv``, ``.json``) whose names and colours override the file's, or
        ``totalsegmentator`` for TotalSegmentator's v2 ``total`` numbering. TotalSegmentator
        writes its own label table into its NIfTI headers; that table is kept over the
        shipped one, as it says which task numbered the file.
    Returns a Segmentation, affine voxel -> RAS mm. Raises InputError for bad input; the
    readers' warnings are logged only when the whole read succeeds (a failing read prints
    its one-line error alone).
    """
    with held_warnings():
        return _load(os.fspath(spec), labels, reference)


def _load(spec: str, labels: str | None, reference: str | None = None) -> Segmentation:
    table: LabelTable | None = None
    defaults: LabelTable | None = None
    if labels is not None:
        if is_shipped(labels):
            defaults = read_label_table(labels)
        else:
            table = read_label_table(labels)

    if is_builtin(spec):
        seg = _builtin_reader(spec)[1](spec)
        return relabel(seg, table) if table else seg

    from .dicom.labels import looks_like_dicom, read_dicom_labels

    if looks_like_dicom(spec):  # a SEG or RTSTRUCT, in a folder, a zip or a file (DIR?series=N)
        return read_dicom_labels(spec, labels=table, reference=reference)
    if os.path.isdir(spec):
        reader: Reader = read_mask_folder
    elif not os.path.exists(spec):
        raise InputError(spec, "no such file or folder")
    else:
        reader = reader_for(spec)
    return reader(spec, labels=table, default_labels=defaults)

"""A DICOM label source for ``load_segmentation``: a SEG or an RTSTRUCT found in a folder, a
``.zip`` or a file (``PATH?series=N`` chooses among several, as ``arkit dicom ls`` numbers
them).

An RTSTRUCT is drawn on the grid of its image series: ``reference`` when given (a DICOM
series spec or a NIfTI), else the one image series of the same frame of reference found next
to it (a CT before other modalities), else a grid built from its own contours.
"""

from __future__ import annotations

import os

from ...errors import InputError
from ..segmentation import Segmentation
from .files import DicomObject, holds_dicom, parse_spec, scan


def looks_like_dicom(spec: str) -> bool:
    """Whether a label source spec names DICOM: ``?series=``, a ``.zip`` or ``.dcm``, a file
    with the DICM marker, or a folder holding no NIfTI masks."""
    path, series = parse_spec(spec)
    if series is not None:
        return True
    lower = path.lower()
    if lower.endswith((".zip", ".dcm")):
        return True
    if os.path.isdir(path):
        from ..totalseg import mask_files

        if mask_files(path):
            return False
        return holds_dicom(path)
    if not lower.endswith((".nii", ".nii.gz", ".nrrd", ".nhdr")):
        return holds_dicom(path)
    return False


def read_dicom_labels(spec: str, *, labels=None, default_labels=None, reference=None) -> Segmentation:
    """The Segmentation of the SEG or RTSTRUCT that ``spec`` names (``labels``: a label table
    whose names and colours override the object's; ``default_labels`` is not used: DICOM
    objects name their segments)."""
    from ..segmentation import relabel
    from .rtstruct import read_rtstruct
    from .seg import read_dicom_seg

    path, series = parse_spec(spec)
    listing = scan(path)
    if series is not None:
        obj = listing.select(series)
    else:
        candidates = [o for o in listing.objects if o.kind in ("seg", "rtstruct")]
        if len(candidates) == 1:
            obj = candidates[0]
        elif not candidates:
            images = [o for o in listing.objects if o.kind == "image"]
            hint = " (an image series is used with --ct, or as --tracer for a PET)" if images else ""
            raise InputError(path, f"no DICOM SEG or RTSTRUCT here: {listing.describe()}{hint}")
        else:
            raise InputError(path, f"{len(candidates)} label objects: " + ", ".join(o.label for o in candidates)
                             + f"; choose with {path}?series=N")
    if obj.kind == "image":
        raise InputError(obj.shown, f"is {obj.label.split(' ', 1)[1]}, an image series, not a segmentation: "
                                    "give a SEG or RTSTRUCT (an image is used with --ct, or as --tracer for a PET)")
    if obj.kind == "seg":
        seg = read_dicom_seg(obj.shown, dataset=obj.read_dataset())
    elif obj.kind == "rtstruct":
        grid = _reference_grid(reference, listing, obj)
        seg = read_rtstruct(obj.shown, dataset=obj.read_dataset(), reference=grid)
    else:
        raise InputError(obj.shown, "is neither a SEG nor an RTSTRUCT")
    return relabel(seg, labels) if labels else seg


class _Grid:
    def __init__(self, shape, affine):
        self.shape, self.affine = tuple(int(n) for n in shape[:3]), affine


def _reference_grid(reference, listing, obj: DicomObject) -> _Grid | None:
    from .series import read_image_series

    if reference is not None:
        spec = os.fspath(reference)
        if spec.lower().endswith((".nii", ".nii.gz")):
            from ..nifti import check_affine, load_nifti_header, nifti_affine

            img = load_nifti_header(spec)  # a CT, or a 4-D PET: the grid of its first three axes
            return _Grid(img.shape[:3], check_affine(nifti_affine(img), spec))
        from .files import select

        volume = read_image_series(select(spec, want="image"))
        return _Grid(volume.data.shape, volume.affine)
    same = [o for o in listing.objects if o.kind == "image" and o.frame_of_reference_hash
            and o.frame_of_reference_hash == obj.frame_of_reference_hash]
    if not same:
        return None
    same.sort(key=lambda o: (o.modality != "CT", o.index))
    volume = read_image_series(same[0])
    return _Grid(volume.data.shape, volume.affine)

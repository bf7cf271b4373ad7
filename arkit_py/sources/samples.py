"""Real bodies that ship with arkit: ``sample:<name>`` wherever a label volume is read.

``sample:abdomen-ct`` is TotalSegmentator's example: a real, anonymised CT of the lower
chest to the pelvis (3 mm voxels) with its 61-label TotalSegmentator v2 ``total`` output,
from the TotalSegmentator repository (Apache-2.0; the files and their notice are in
``arkit_py/data/samples/abdomen-ct/``, see docs/data-sources.md#samples). The body outline
comes from the CT (as ``--ct`` does), so the hologram has a body around its organs;
``sample:abdomen-ct?body=0`` leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qsl

from ..errors import InputError
from .segmentation import Segmentation


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    labels: str  # the file's label table (a shipped table's name)
    segmentation: str  # file names in the sample's folder
    ct: str | None
    attribution: str


SAMPLES = {
    "abdomen-ct": Sample(
        "abdomen-ct", "a real abdominal CT (lower chest to pelvis, 3 mm) and its 61 TotalSegmentator structures",
        "totalsegmentator", "segmentation.nii.gz", "ct.nii.gz",
        "CT and segmentation: TotalSegmentator example (Wasserthal et al., Radiology: AI 2023), "
        "github.com/wasserth/TotalSegmentator, Apache-2.0"),
}


def folder(name: str):
    return resources.files("arkit_py") / "data" / "samples" / name


def parse_spec(spec: str) -> tuple[Sample, bool]:
    """(the sample, with its body outline?) of ``sample:<name>[?body=0|1]``."""
    name, _, query = spec.removeprefix("sample:").partition("?")
    if name not in SAMPLES:
        raise InputError(spec, f"unknown sample {name!r}: the samples are {', '.join(sorted(SAMPLES))}")
    body = True
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key != "body" or value not in ("0", "1"):
            raise InputError(spec, f"unknown sample option {key}={value}: the only option is body=0|1")
        body = value == "1"
    return SAMPLES[name], body


def sample_from_spec(spec: str) -> Segmentation:
    from .body import add_body_from_ct, read_ct
    from .labeltables import read_label_table
    from .nifti import read_nifti

    sample, body = parse_spec(spec)
    root = folder(sample.name)
    with resources.as_file(root / sample.segmentation) as path:
        seg = read_nifti(str(path), default_labels=read_label_table(sample.labels))
    if body and sample.ct:
        with resources.as_file(root / sample.ct) as path:
            seg = add_body_from_ct(seg, read_ct(str(path)))
    return seg

"""Generated label volumes for the reader tests, with known answers.

puts every label where it was generated; names become canonical; bad input is an
InputError that starts with the path.

Generated volumes hold three balls whose RAS centres are known: label 1 on the patient's
right (RAS +x), label 2 superior (+z), label 3 anterior (+y). In RAS+ (nibabel's
convention, and NIfTI's) x grows toward the patient's Right, y toward Anterior, z toward
Superior. A reader is right when the voxel centroid of each label, mapped through the
affine it returns, lands on the ball's centre.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from arkit_py.errors import InputError
from arkit_py.sources.load import load_segmentation

CENTRES = {1: (40.0, 0.0, 0.0), 2: (0.0, 0.0, 40.0), 3: (0.0, 40.0, 0.0)}
RADIUS = 14.0
HALF_EXTENT = 62.0  # mm covered around the origin along every world direction


def rotation(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, dtype=float)
    axis /= np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


#: name -> (3, 3) linear part of voxel -> RAS (columns = world step of each voxel axis).
ORIENTATIONS = {
    "ras_identity": np.diag([3.0, 3.0, 3.0]),
    "flipped": np.diag([-3.0, 3.0, -3.0]),
    "permuted": np.array([[0.0, 3.0, 0.0], [0.0, 0.0, -3.0], [3.0, 0.0, 0.0]]),  # i -> S, j -> R, k -> P
    "anisotropic": np.diag([2.0, 3.5, 5.0]),
    "oblique": rotation((1.0, 2.0, 3.0), 0.5) @ np.diag([2.5, 3.0, 4.0]),
}


def grid(linear: np.ndarray) -> tuple[tuple[int, int, int], np.ndarray]:
    """A shape and a 4x4 affine (voxel -> RAS mm) whose grid covers +-HALF_EXTENT mm around
    the origin, centred on it."""
    linear = np.asarray(linear, dtype=float)
    # A box of any orientation contains the ball of its smallest half-width.
    spacing = np.linalg.norm(linear, axis=0)
    shape = tuple(int(np.ceil(2 * HALF_EXTENT / s)) + 1 for s in spacing)
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ ((np.array(shape) - 1) / 2.0)
    return shape, affine  # type: ignore[return-value]


def ball_labels(shape, affine, centres=CENTRES, radius=RADIUS, dtype=np.uint8) -> np.ndarray:
    """(I, J, K) labels: each ball's voxels (centre within ``radius`` mm) carry its label."""
    ijk = np.indices(shape, dtype=np.float64).reshape(3, -1)
    ras = affine[:3, :3] @ ijk + affine[:3, 3:4]
    out = np.zeros(int(np.prod(shape)), dtype=dtype)
    for label, centre in centres.items():
        inside = np.sum((ras - np.asarray(centre)[:, None]) ** 2, axis=0) <= radius ** 2
        out[inside] = label
    return out.reshape(shape)


def ras_centroids(seg) -> dict[int, np.ndarray]:
    """label -> RAS centroid (mm) of its voxels, through the segmentation's affine."""
    out = {}
    for layer in seg.layers:
        for label in np.unique(layer):
            if label == 0:
                continue
            ijk = np.argwhere(layer == label).mean(axis=0)
            out[int(label)] = seg.affine[:3, :3] @ ijk + seg.affine[:3, 3]
    return out


def assert_centres(seg, expected: dict[int, tuple[float, float, float]], spacing) -> None:
    got = ras_centroids(seg)
    tol = 0.5 * float(np.max(spacing))
    for label, centre in expected.items():
        assert label in got, f"label {label} missing"
        np.testing.assert_allclose(got[label], centre, atol=tol, err_msg=f"label {label}")
    # The anatomical facts behind the numbers.
    if {1, 2, 3} <= set(expected) and expected == CENTRES:
        assert got[1][0] > 20 and abs(got[1][1]) < 5  # right: +R
        assert got[2][2] > 20  # superior: +S
        assert got[3][1] > 20  # anterior: +A


def lps_header(affine: np.ndarray) -> dict:
    """NRRD geometry fields for a RAS affine, written in LPS space."""
    flip = np.diag([-1.0, -1.0, 1.0])
    return {
        "space": "left-posterior-superior",
        "space directions": (flip @ affine[:3, :3]).T,
        "space origin": flip @ affine[:3, 3],
    }


def ras_header(affine: np.ndarray) -> dict:
    return {"space": "right-anterior-superior", "space directions": affine[:3, :3].T, "space origin": affine[:3, 3]}


def caret_xml(label_map: dict[int, str]) -> bytes:
    """The XML TotalSegmentator (nifti_ext_header.add_label_map_to_nifti) puts in the NIfTI
    header extension (code 0): a Caret label table, colours cycling through 12 primaries."""
    colors = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255],
              [255, 128, 0], [255, 0, 128], [128, 255, 128], [0, 128, 255], [128, 128, 128], [185, 170, 155]]
    body = "".join(
        f'<Label Key="{k}" Red="{colors[k % 12][0] / 255}" Green="{colors[k % 12][1] / 255}" '
        f'Blue="{colors[k % 12][2] / 255}" Alpha="1"><![CDATA[{v}]]></Label>\n'
        for k, v in label_map.items())
    xml = ('<?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  <Date><![CDATA[2013-07-14T05:45:09]]></Date>'
           '   <VolumeInformation Index="0">   <LabelTable>\n' + body + '\n  </LabelTable>  <StudyMetaDataLinkSet>'
           '  </StudyMetaDataLinkSet>  <VolumeType><![CDATA[Label]]></VolumeType>   </VolumeInformation>'
           '</CaretExtension>\n              ')
    return xml.encode("utf-8")



def spacing_of(affine) -> np.ndarray:
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)


def save_nifti(path, data, affine, *, extension: bytes | None = None, descrip: str = "") -> None:
    img = nib.Nifti1Image(data, affine)
    if extension is not None:
        img.header.extensions.append(nib.nifti1.Nifti1Extension(0, extension))
    if descrip:
        img.header["descrip"] = descrip.encode()
    nib.save(img, str(path))


def expect_input_error(path, *words, labels=None) -> InputError:
    with pytest.raises(InputError) as info:
        load_segmentation(str(path), labels=labels)
    text = str(info.value)
    assert text.startswith(str(path)), text
    for word in words:
        assert word in text.lower(), text
    return info.value


def _nifti(path, data, affine=None):
    save_nifti(path, data, np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine)


def _some_labels(dtype=np.uint8):
    data = np.zeros((6, 6, 6), dtype)
    data[2:4, 2:4, 2:4] = 1
    return data

def write_masks(folder, shape, affine, masks: dict[str, dict], dtype=np.uint8):
    folder.mkdir()
    for name, centres in masks.items():
        data = (ball_labels(shape, affine, centres={1: list(centres.values())[-1]}) if centres
                else np.zeros(shape, np.uint8))
        save_nifti(folder / f"{name}.nii.gz", data.astype(dtype), affine)

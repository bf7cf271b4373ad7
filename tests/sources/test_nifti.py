"""The NIfTI reader: labels land where they were generated in every orientation, units,
scaled integers, no header text kept (see tests/sources/volumes.py for the known answers)."""

from __future__ import annotations

import tracemalloc

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from arkit_py.errors import InputError
from arkit_py.sources import nifti
from arkit_py.sources.load import load_segmentation
from tests.sources.volumes import (
    CENTRES,
    ORIENTATIONS,
    assert_centres,
    ball_labels,
    grid,
    save_nifti,
    spacing_of,
)

# -- NIfTI ------------------------------------------------------------------------------------

@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_nifti_puts_labels_where_they_were_generated(tmp_path, orientation, dtype):
    shape, affine = grid(ORIENTATIONS[orientation])
    data = ball_labels(shape, affine).astype(dtype)
    path = tmp_path / "labels.nii.gz"
    save_nifti(path, data, affine)

    seg = load_segmentation(str(path))

    assert seg.shape == shape  # the voxel order is kept
    np.testing.assert_allclose(seg.affine, affine, atol=1e-4)
    assert len(seg.layers) == 1 and seg.layers[0].dtype == np.uint8
    np.testing.assert_array_equal(seg.layers[0], data)
    assert_centres(seg, CENTRES, spacing_of(affine))
    assert sorted(seg.segments) == [1, 2, 3]
    assert [s.structure.name for s in seg.segments.values()] == ["label_1", "label_2", "label_3"]
    assert all(s.structure.system == "other" and s.layer == 0 for s in seg.segments.values())


def test_nifti_qform_only_and_uncompressed(tmp_path):
    shape, affine = grid(ORIENTATIONS["permuted"])
    affine[:3, 3] += (5.0, -7.0, 11.0)
    data = ball_labels(shape, affine)
    img = nib.Nifti1Image(data, None)
    img.set_qform(affine, code=1)
    img.set_sform(None, code=0)
    path = tmp_path / "qform.nii"
    nib.save(img, str(path))

    seg = load_segmentation(str(path))

    np.testing.assert_allclose(seg.affine, affine, atol=1e-4)
    assert_centres(seg, CENTRES, spacing_of(affine))


def test_nifti_in_metres_is_read_in_mm(tmp_path):
    shape, affine = grid(ORIENTATIONS["anisotropic"])
    data = ball_labels(shape, affine)
    metres = affine.copy()
    metres[:3] /= 1000.0
    img = nib.Nifti1Image(data, metres)
    img.header.set_xyzt_units(xyz="meter")
    path = tmp_path / "metres.nii.gz"
    nib.save(img, str(path))

    seg = load_segmentation(str(path))

    np.testing.assert_allclose(seg.affine, affine, atol=1e-3)
    assert_centres(seg, CENTRES, spacing_of(affine))


def test_nifti_scaled_integers_are_labels_after_scaling(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    data = ball_labels(shape, affine).astype(np.int16)
    img = nib.Nifti1Image(data, affine)
    img.header.set_data_dtype(np.int16)
    path = tmp_path / "scaled.nii"
    nib.save(img, str(path))
    # Rewrite the header with scl_slope = 100, scl_inter = 0 over the same stored integers.
    raw = bytearray(path.read_bytes())
    hdr = nib.Nifti1Header.from_fileobj(__import__("io").BytesIO(bytes(raw[:348])))
    hdr["scl_slope"], hdr["scl_inter"] = 100.0, 0.0
    raw[:348] = hdr.binaryblock
    path.write_bytes(bytes(raw))
    assert nib.load(str(path)).dataobj.slope == 100.0

    seg = load_segmentation(str(path))

    assert seg.layers[0].dtype == np.uint16
    assert sorted(seg.segments) == [100, 200, 300]
    assert_centres(seg, {100 * k: v for k, v in CENTRES.items()}, spacing_of(affine))


def test_nifti_labels_above_255_become_uint16(tmp_path):
    shape, affine = grid(ORIENTATIONS["flipped"])
    data = ball_labels(shape, affine, centres={1000: CENTRES[1], 7: CENTRES[2]}, dtype=np.int32)
    path = tmp_path / "big.nii.gz"
    save_nifti(path, data, affine)

    seg = load_segmentation(str(path))

    assert seg.layers[0].dtype == np.uint16
    np.testing.assert_array_equal(seg.layers[0], data)
    assert sorted(seg.segments) == [7, 1000]


def test_nifti_keeps_no_header_text_or_file_name(tmp_path):
    shape, affine = grid(ORIENTATIONS["ras_identity"])
    path = tmp_path / "doe_john_19700101.nii.gz"
    save_nifti(path, ball_labels(shape, affine), affine, descrip="Patient John Doe MRN 12345")

    seg = load_segmentation(str(path))

    for segment in seg.segments.values():
        text = f"{segment.structure.name} {segment.structure.display} {segment.structure.aliases}".lower()
        assert "doe" not in text and "john" not in text and "12345" not in text


def test_float_labels_are_converted_in_slabs_not_copied_as_float64(monkeypatch):
    monkeypatch.setattr(nifti, "_SLAB_VOXELS", 4096)
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 40, size=(64, 64, 64)).astype(np.float32)
    tracemalloc.start()
    try:
        out = nifti.label_array(raw, "x.nii")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(out, raw)
    assert out.dtype == np.uint8
    # The uint8 result plus slab temporaries; a whole float32/float64 copy would exceed this.
    assert peak < out.nbytes + raw.nbytes // 2, peak


@settings(max_examples=60, deadline=None, derandomize=True)
@given(hnp.arrays(np.int32, hnp.array_shapes(min_dims=3, max_dims=3, max_side=6), elements=st.integers(0, 70000)),
       st.sampled_from(["int", "float"]))
def test_label_array_keeps_every_value(raw, kind):
    data = raw.astype(np.float32) if kind == "float" else raw
    hi = int(raw.max())
    if hi > 65535:
        with pytest.raises(InputError, match="65535"):
            nifti.label_array(data, "x")
        return
    out = nifti.label_array(data, "x")
    assert out.dtype == (np.uint8 if hi <= 255 else np.uint16)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, raw)



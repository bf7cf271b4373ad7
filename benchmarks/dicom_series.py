"""Benchmark: reading a DICOM CT series with arkit against SimpleITK's ImageSeriesReader.

The series: 512 x 512 x 300 slices, int16 stored values (PixelRepresentation 1, RescaleIntercept
-1024), uncompressed Explicit VR Little Endian, 0.8 mm pixels, 1.25 mm slices, one file per
slice with shuffled file names, written with pydicom into a temporary folder (about 150 MB)
from a seeded generator. Both readers start from the folder path:

arkit
    ``read_image_series(select(folder))``: scan the headers, sort by position, read.
simpleitk
    ``ImageSeriesReader.GetGDCMSeriesFileNames(folder)`` (GDCM's scanner and sorter), then
    ``SetFileNames`` and ``Execute()``.

Each runs three times, interleaved, in this process; the best time counts (the files are in
the page cache after the first run of either). The voxels and the geometry of the two
results are compared (SimpleITK gives LPS origin and direction; the voxel values must be
equal). Target (from the brief): arkit no slower than 1.5x SimpleITK.

Run ``python benchmarks/dicom_series.py`` (needs SimpleITK: ``pip install -e '.[bench]'``;
about 15 seconds). ``--json PATH`` also writes the results; ``--slices N`` for a smaller
series.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):
    if str(path) not in sys.path:
        sys.path.append(str(path))  # appended so PYTHONPATH can point arkit_py elsewhere

COLUMNS = ROWS = 512
SLICES = 300
PIXEL_MM = 0.8
SLICE_MM = 1.25
SEED = 20240611
TARGET_RATIO = 1.5
REPEAT = 3


def write_series(folder: Path, slices: int, seed: int = SEED) -> None:
    """A CT-like series: an elliptic body of soft tissue with noise, in air, one file per slice."""
    import pydicom  # noqa: F401 (the writer below needs it)
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(seed)
    series, study, frame = generate_uid(), generate_uid(), generate_uid()
    r, c = np.ogrid[:ROWS, :COLUMNS]
    names = rng.permutation(slices)
    for k in range(slices):
        body = ((c - 256) / 220.0) ** 2 + ((r - 270) / (150.0 + 40 * np.sin(k / 40))) ** 2 <= 1.0
        stored = np.where(body, 1024 + 40, 24).astype(np.int16) + rng.integers(-20, 21, (ROWS, COLUMNS), dtype=np.int16)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = CTImageStorage
        ds.Modality = "CT"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID = "Bench^Mark", "BENCH"
        ds.InstanceNumber = int(names[k]) + 1
        ds.ImagePositionPatient = [f"{-204.4:.4f}", f"{-230.0:.4f}", f"{-400.0 + k * SLICE_MM:.4f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.PixelSpacing = [f"{PIXEL_MM:g}", f"{PIXEL_MM:g}"]
        ds.SliceThickness = f"{SLICE_MM:g}"
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", "-1024", "HU"
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = ROWS, COLUMNS
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = stored.astype("<i2").tobytes()
        ds.save_as(folder / f"IM{int(names[k]):05d}", enforce_file_format=True)


def read_arkit(folder: Path):
    from arkit_py.sources.dicom.files import select
    from arkit_py.sources.dicom.series import read_image_series

    return read_image_series(select(folder))


def read_simpleitk(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(names)
    return reader.Execute()


def compare(volume, image) -> dict:
    """Voxels and geometry of the two results: arkit (I, J, K) RAS against SimpleITK (LPS)."""
    import SimpleITK as sitk

    theirs = sitk.GetArrayViewFromImage(image).transpose(2, 1, 0)  # (K, J, I) -> (I, J, K)
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    direction = np.array(image.GetDirection()).reshape(3, 3)
    affine = np.eye(4)
    affine[:3, :3] = lps_to_ras @ direction @ np.diag(image.GetSpacing())
    affine[:3, 3] = lps_to_ras @ np.array(image.GetOrigin())
    return {"shape_equal": tuple(theirs.shape) == tuple(volume.data.shape),
            "max_abs_voxel_diff": float(np.max(np.abs(theirs.astype(np.float64) - volume.data)))
            if theirs.shape == volume.data.shape else None,
            "max_abs_affine_diff": float(np.max(np.abs(affine - volume.affine))),
            "arkit_dtype": str(volume.data.dtype), "simpleitk_pixel_type": image.GetPixelIDTypeAsString()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slices", type=int, default=SLICES)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    try:
        import SimpleITK as sitk
    except ImportError:
        print("needs SimpleITK: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    from hologram import machine

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="arkit-dicom-bench-") as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        write_series(folder, args.slices)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"CT {COLUMNS}x{ROWS}x{args.slices} int16, {size / 1e6:.0f} MB in {args.slices} files, "
              f"written in {time.perf_counter() - t:.1f} s", flush=True)
        runs: dict[str, list[float]] = {"arkit": [], "simpleitk": []}
        results = {}
        import arkit_py.sources.dicom.series  # noqa: F401 (imports outside the clock, as SimpleITK's)

        for _ in range(args.repeat):
            for name, fn in (("arkit", read_arkit), ("simpleitk", read_simpleitk)):
                results[name] = None  # the previous result's memory is given back first
                t = time.perf_counter()
                results[name] = fn(folder)
                runs[name].append(time.perf_counter() - t)
        check = compare(results["arkit"], results["simpleitk"])
    best = {name: min(times) for name, times in runs.items()}
    ratio = best["arkit"] / best["simpleitk"]
    report = {"config": {"columns": COLUMNS, "rows": ROWS, "slices": args.slices, "pixel_mm": PIXEL_MM,
                         "slice_mm": SLICE_MM, "seed": SEED, "repeat": args.repeat, "bytes": size},
              "seconds": best, "runs": runs, "ratio_arkit_over_simpleitk": ratio, "check": check,
              "target": {"target": f"arkit <= {TARGET_RATIO:g} x SimpleITK", "met": ratio <= TARGET_RATIO},
              "machine": dict(machine(), simpleitk=sitk.Version_VersionString())}
    report["total_seconds"] = time.perf_counter() - started
    for name in ("arkit", "simpleitk"):
        print(f"  {name:10s} {best[name]:7.3f} s  (runs {', '.join(f'{r:.3f}' for r in runs[name])})")
    print(f"  ratio arkit / SimpleITK: {ratio:.2f}")
    print(f"  check: shapes equal {check['shape_equal']}, max |voxel diff| {check['max_abs_voxel_diff']}, "
          f"max |affine diff| {check['max_abs_affine_diff']:.2g} mm ({check['arkit_dtype']} vs "
          f"{check['simpleitk_pixel_type']})")
    print(f"{'PASS   ' if report['target']['met'] else 'NOT MET'}  {report['target']['target']}: {ratio:.2f}x")
    m = report["machine"]
    print(f"machine: {m['cpu_count']} CPUs ({m.get('cpu_model', '')}), Python {m['python']}, numpy {m['numpy']}, "
          f"SimpleITK {m['simpleitk']}; load average {os.getloadavg()[0]:.2f}; total {report['total_seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=float) + "\n")
        print(f"results: {os.path.relpath(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

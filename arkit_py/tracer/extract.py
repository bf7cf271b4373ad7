"""Time-activity curves measured in a dynamic PET: the mean concentration of every labelled
structure in every frame, and samples just inside structure surfaces.

Reading (:func:`read_dynamic_pet`): a DICOM PET series (a folder, ``.zip``, ``.dcm`` or DICM
file, ``PATH?series=N``: :mod:`arkit_py.sources.dicom.pet` reads it, Units BQML only; frame
times are the injection-to-scan-start delay plus each frame's start; DecayCorrection START
values are converted to injection as a sidecar's ImageDecayCorrectionTime is, ADMIN values
are already, NONE values are not decay-corrected), or a 3D or 4D NIfTI (the fourth axis is
time) and its PET-BIDS JSON sidecar, by default the file beside it with ``.json`` in place of
``.nii``/``.nii.gz``. Fields used (all times in seconds relative to ``TimeZero``):

=========================  ================================================================
``FrameTimesStart``        start of each frame; required when there is more than one frame
``FrameDuration``          length of each frame; required likewise
``InjectionStart``         time of injection; frame times are made relative to it
``Units``                  ``Bq/mL``, ``kBq/mL``, ``MBq/mL`` (any concentration pint reads)
``ImageDecayCorrected``    whether the values are decay-corrected
``ImageDecayCorrectionTime``  the time they are corrected to; other than injection, the
                           values are converted so they are decay-corrected to injection
``TracerRadionuclide``     ``F18``, ``18F``, ``68Ga``, ... -> ``F-18``, ``Ga-68``
``InjectedRadioactivity``  with ``InjectedRadioactivityUnits``: kept in ``meta`` for SUVs
=========================  ================================================================

Measuring (:func:`extract_curves`): labels on another voxel grid are resampled to the PET
grid by nearest neighbour through the two affines (each PET voxel centre takes the label
of the label voxel it falls in), then one ``np.bincount`` per frame over the labelled PET
voxels gives every structure's sum at once.

Frames: all affines are voxel index -> RAS mm; frame times are seconds after injection.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..sources.memory import check_fits
from ..sources.nifti import _read_errors, _reason, check_affine, load_nifti_header, nifti_affine
from ..sources.segmentation import Segmentation
from ..units import UnitError, parse_quantity, unit_factor
from .curves import Curves

log = logging.getLogger(__name__)

#: Default depth of :func:`sample_inward`, in PET voxels along the normal.
INWARD_DEPTH_VOXELS = 1.5

#: Decay-correction times closer than this to injection count as injection (seconds).
_SAME_TIME_S = 1e-3

#: Largest label value looked up through a dense table (larger ones use a search).
_DENSE_LABELS = 1 << 20


@dataclass
class DynamicPet:
    """A dynamic (or static, T = 1) PET.

    frames : (T, I, J, K) float32, Bq/mL.
    affine : (4, 4) float, voxel index (i, j, k, 1) -> RAS mm, shared by all frames.
    frame_start_s, frame_duration_s : (T,) float, seconds; starts are relative to injection
        (negative for a frame that began before it).
    decay_corrected : whether the values are decay-corrected to the time of injection.
    nuclide : ``F-18``, ``Ga-68``, ... or None when not known.
    source : the file name as the user gave it (for messages), or None.
    meta : ``warnings`` and ``notes`` (lists of str) from reading, ``units`` as written,
        ``injected_bq`` when the sidecar gives it.
    """

    frames: np.ndarray
    affine: np.ndarray
    frame_start_s: np.ndarray
    frame_duration_s: np.ndarray
    decay_corrected: bool = False
    nuclide: str | None = None
    source: str | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if getattr(self.frames, "ndim", 0) != 4:
            raise ValueError(f"DynamicPet: frames must be (T, I, J, K), got shape {np.shape(self.frames)}")
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"DynamicPet: affine must be 4x4, got shape {self.affine.shape}")
        self.frame_start_s = np.asarray(self.frame_start_s, dtype=np.float64).reshape(-1)
        self.frame_duration_s = np.asarray(self.frame_duration_s, dtype=np.float64).reshape(-1)
        t = self.frames.shape[0]
        for name in ("frame_start_s", "frame_duration_s"):
            if len(getattr(self, name)) != t:
                raise ValueError(f"DynamicPet: {name} must have one value per frame ({t}), "
                                 f"got {len(getattr(self, name))}")

    @property
    def mid_times_s(self) -> np.ndarray:
        """(T,) float, the middle of each frame in seconds after injection."""
        return self.frame_start_s + 0.5 * self.frame_duration_s

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.frames.shape[1:])  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        return abs(float(np.linalg.det(self.affine[:3, :3]))) / 1000.0


# --- reading -------------------------------------------------------------------------------

def read_dynamic_pet(path: str | os.PathLike, bids: str | os.PathLike | Mapping | None = None, *,
                     nuclide: str | None = None) -> DynamicPet:
    """Read a PET: a 3D or 4D NIfTI and its PET-BIDS sidecar (see ``_read_dynamic_pet``), or
    a DICOM PET series (a folder, ``.zip``, ``.dcm`` or DICM file, ``PATH?series=N``; see
    :func:`dynamic_pet_from_dicom`). The reader's warnings are told only when the read
    succeeds.

    bids : the sidecar of a NIfTI; must be None for DICOM (its tags give timing and units).
    nuclide : DICOM only: the nuclide to check RadionuclideHalfLife against when the header
        names none (``F-18``).
    """
    from ..sources.dicom.pet import looks_like_dicom_image
    from ..sources.segmentation import held_warnings

    name = os.fspath(path)
    if looks_like_dicom_image(name):
        if bids is not None:
            raise InputError(name, "--bids is for a NIfTI PET: a DICOM PET takes its timing, units and decay "
                                   "correction from its own tags")
        from ..sources.dicom.pet import read_dicom_pet

        return dynamic_pet_from_dicom(read_dicom_pet(name, nuclide=nuclide))
    with held_warnings():
        return _read_dynamic_pet(path, bids)


def dynamic_pet_from_dicom(dicom) -> DynamicPet:
    """A :class:`~arkit_py.sources.dicom.pet.DicomPet` as a DynamicPet: values decay-corrected
    to the scan start (DecayCorrection START) are converted so they are decay-corrected to
    injection, exactly as a sidecar's ImageDecayCorrectionTime other than injection is (times
    2^(delay / T1/2), with the header's half-life, the one the scanner corrected with); ADMIN
    values are already; NONE values are not decay-corrected.

    ``meta``: ``units`` (BQML), ``warnings``, ``notes``, ``dicom`` True, ``delay_s``,
    ``half_life_s``, ``decay_corrected_to`` (as stored: injection, scan_start or None), and
    when known ``injected_bq``, ``weight_kg``, ``suv_factor`` (the tags' factor, per stored
    Bq/mL), ``suv_per_bq_ml`` (SUVbw per Bq/mL of the returned values once decay-corrected to
    injection), or ``suv_problem`` (why there is no SUV).
    """
    frames = dicom.frames
    notes = list(dicom.notes)
    k = 1.0
    if dicom.decay_corrected_to == "scan_start" and abs(dicom.delay_s) > _SAME_TIME_S:
        k = _to_injection(dicom.delay_s, dicom.half_life_s)
        np.multiply(frames, k, out=frames, casting="same_kind")
        notes.append(f"values were decay-corrected to the scan start, {dicom.delay_s:g} s after injection; multiplied "
                     f"by {k:.6g} ({dicom.nuclide or f'half-life {dicom.half_life_s:g} s'}) so they are "
                     "decay-corrected to injection")
    meta = {"units": "BQML", "warnings": list(dicom.warnings), "notes": notes, "dicom": True,
            "delay_s": float(dicom.delay_s), "half_life_s": dicom.half_life_s,
            "decay_corrected_to": dicom.decay_corrected_to}
    if dicom.injected_bq is not None:
        meta["injected_bq"] = float(dicom.injected_bq)
    if dicom.weight_kg is not None:
        meta["weight_kg"] = float(dicom.weight_kg)
    if dicom.suv_factor is not None:
        meta["suv_factor"] = float(dicom.suv_factor)
        meta["suv_per_bq_ml"] = float(dicom.suv_factor) / k
    elif dicom.decay_corrected_to is None and dicom.weight_kg and dicom.injected_bq:
        meta["suv_per_bq_ml"] = 1000.0 * dicom.weight_kg / dicom.injected_bq
    if dicom.suv_problem and "suv_per_bq_ml" not in meta:
        meta["suv_problem"] = dicom.suv_problem
    return DynamicPet(frames, dicom.affine, dicom.frame_start_s, dicom.frame_duration_s,
                      dicom.decay_corrected_to is not None, dicom.nuclide, source=dicom.source, meta=meta)


def _to_injection(after_s: float, half_life_s: float) -> float:
    """The factor that turns values decay-corrected to ``after_s`` seconds after injection
    into values decay-corrected to injection: 2^(after / T1/2)."""
    return 2.0 ** (after_s / half_life_s)


def _read_dynamic_pet(path: str | os.PathLike, bids: str | os.PathLike | Mapping | None = None) -> DynamicPet:
    """Read a 3D or 4D PET NIfTI and its PET-BIDS sidecar.

    path : ``.nii`` or ``.nii.gz``; a 3D image is one frame.
    bids : the sidecar: a JSON file, or its content as a mapping. None looks for the JSON
        beside ``path`` and goes without one (one frame at t = 0, Bq/mL, not
        decay-corrected, each assumption noted in ``meta['warnings']``) when there is none.
    Returns a DynamicPet in Bq/mL with frame times relative to injection. Values
    decay-corrected to another time than injection are converted to injection.
    Raises InputError (``<path>: <problem>``) for anything unreadable or inconsistent.
    """
    name = os.fspath(path)
    img = load_nifti_header(name)
    dtype = img.header.get_data_dtype()
    if dtype.kind not in "biuf":
        raise InputError(name, f"voxels are {dtype} (expected numbers: a PET in Bq/mL)")
    full = tuple(int(n) for n in img.header.get_data_shape())
    shape = list(full)
    while len(shape) > 4 and shape[-1] == 1:
        shape.pop()
    if len(shape) not in (3, 4) or min(shape) < 1:
        raise InputError(name, f"shape {'x'.join(map(str, full))}: expected a 3D PET or a 4D dynamic PET "
                               f"(x, y, z, time)")
    n_frames = shape[3] if len(shape) == 4 else 1
    check_fits(name, shape, 4 + dtype.itemsize)
    affine = check_affine(nifti_affine(img), name)

    sidecar, sidecar_name = _sidecar(name, bids)
    warnings: list[str] = []
    notes: list[str] = []
    info = _read_sidecar(sidecar, sidecar_name or name, n_frames, warnings, notes)

    try:
        data = np.asarray(img.get_fdata(dtype=np.float32))
    except _read_errors() as exc:
        raise InputError(name, f"corrupt or truncated voxel data ({_reason(exc)})") from None
    data = data.reshape(shape[:3] + [n_frames], order="F" if data.flags.f_contiguous else "C")
    frames = np.empty((n_frames, *shape[:3]), dtype=np.float32)
    bad = 0
    for t in range(n_frames):
        np.multiply(data[..., t], info["scale"][t], out=frames[t], casting="same_kind")
        finite = np.isfinite(frames[t])
        if not finite.all():
            bad += int(finite.size - np.count_nonzero(finite))
            frames[t][~finite] = 0.0
    del data, img
    if bad:
        warnings.append(f"{bad:,} voxels are NaN or infinite; they count as 0 Bq/mL")
    for text in warnings:
        log.warning("%s: %s", name, text)
    meta = {"units": info["units"], "warnings": warnings, "notes": notes}
    if info.get("injected_bq") is not None:
        meta["injected_bq"] = info["injected_bq"]
    return DynamicPet(frames, affine, info["start"], info["duration"], info["decay_corrected"], info["nuclide"],
                      source=name, meta=meta)


def _sidecar(name: str, bids) -> tuple[Mapping | None, str | None]:
    """The sidecar mapping and the name to put in its errors."""
    if isinstance(bids, Mapping):
        return bids, None
    if bids is None:
        lower = name.lower()
        stem = next((name[: -len(e)] for e in (".nii.gz", ".nii") if lower.endswith(e)), None)
        if stem is None or not os.path.isfile(stem + ".json"):
            return None, None
        bids = stem + ".json"
    json_name = os.fspath(bids)
    from ..yamlio import YamlProblem, load_json

    try:
        with open(json_name, encoding="utf-8-sig") as f:
            content = load_json(f.read(10_000_001))
    except FileNotFoundError:
        raise InputError(json_name, "no such file (the PET-BIDS sidecar)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(json_name, f"cannot read the sidecar ({_reason(exc)})") from None
    except YamlProblem as exc:
        raise InputError(json_name, f"line {exc.line}: {exc.problem}") from None
    if not isinstance(content, dict):
        raise InputError(json_name, "the sidecar must be a JSON object")
    return content, json_name


def _read_sidecar(sidecar: Mapping | None, name: str, n_frames: int, warnings: list[str],
                  notes: list[str]) -> dict:
    """Timing, unit scale, decay correction and nuclide from the sidecar (or defaults)."""
    s = sidecar or {}
    if sidecar is None:
        warnings.append("no PET-BIDS sidecar (.json)")

    # timing
    starts, durations = s.get("FrameTimesStart"), s.get("FrameDuration")
    if starts is None or durations is None:
        if n_frames > 1:
            missing = " and ".join(k for k in ("FrameTimesStart", "FrameDuration") if s.get(k) is None)
            raise InputError(name, f"{n_frames} frames without timing: the sidecar needs {missing} (seconds)")
        starts, durations = [0.0], [0.0]
        warnings.append("no frame timing: the single frame is placed at t = 0")
    start = _numbers(starts, "FrameTimesStart", n_frames, name)
    duration = _numbers(durations, "FrameDuration", n_frames, name)
    if np.any(duration < 0):
        i = int(np.flatnonzero(duration < 0)[0])
        raise InputError(name, f"FrameDuration: negative duration {duration[i]:g} s (frame {i + 1})")
    if n_frames > 1 and np.any(duration == 0):
        i = int(np.flatnonzero(duration == 0)[0])
        raise InputError(name, f"FrameDuration: frame {i + 1} lasts 0 s")
    mid = start + 0.5 * duration
    if np.any(np.diff(mid) <= 0):
        i = int(np.flatnonzero(np.diff(mid) <= 0)[0]) + 1
        raise InputError(name, f"FrameTimesStart: frame {i + 1} does not come after frame {i}")
    injection = s.get("InjectionStart")
    if injection is None:
        injection = 0.0
        if sidecar is not None:
            warnings.append("no InjectionStart: frame times are taken as seconds after injection")
    injection = _number(injection, "InjectionStart", name)
    start = start - injection
    if start[0] + 0.5 * duration[0] < 0:
        warnings.append(f"the first frame's mid-time is {start[0] + 0.5 * duration[0]:g} s, before injection")

    # units
    units = s.get("Units")
    if units is None:
        units = "Bq/mL"
        if sidecar is not None:
            warnings.append("no Units: values taken as Bq/mL")
    try:
        if not isinstance(units, str):
            raise UnitError(units)
        factor = unit_factor(units, "concentration")
    except UnitError:
        raise InputError(name, f"Units: unknown unit {units!r} (expected a concentration: Bq/mL, kBq/mL or "
                               f"MBq/mL)") from None

    # nuclide
    nuclide = None
    tracer = s.get("TracerRadionuclide")
    if tracer is not None:
        from .decay import normalise_name

        try:
            nuclide = normalise_name(str(tracer))
        except InputError:
            warnings.append(f"TracerRadionuclide {tracer!r} is not a nuclide name; it is left out")

    # decay correction
    scale = np.full(n_frames, factor)
    corrected = s.get("ImageDecayCorrected")
    if corrected is None:
        corrected = False
        if sidecar is not None:
            warnings.append("no ImageDecayCorrected: values taken as not decay-corrected")
    elif isinstance(corrected, str) and corrected.strip().lower() in ("true", "false"):
        corrected = corrected.strip().lower() == "true"
    elif not isinstance(corrected, bool):
        raise InputError(name, f"ImageDecayCorrected must be true or false, got {corrected!r}")
    if corrected:
        when = s.get("ImageDecayCorrectionTime")
        if when is None:
            warnings.append("no ImageDecayCorrectionTime: values taken as decay-corrected to injection")
        else:
            after = _number(when, "ImageDecayCorrectionTime", name) - injection
            if abs(after) > _SAME_TIME_S:
                if nuclide is None:
                    raise InputError(name, f"values are decay-corrected to {after:g} s after injection; converting "
                                           f"them to injection needs the TracerRadionuclide")
                half_life_s = _half_life_s(nuclide, name)
                k = _to_injection(after, half_life_s)
                scale *= k
                notes.append(f"values were decay-corrected to {after:g} s after injection; multiplied by {k:.6g} "
                             f"({nuclide}) so they are decay-corrected to injection")

    info = {"start": start, "duration": duration, "units": units, "scale": scale, "decay_corrected": bool(corrected),
            "nuclide": nuclide, "injected_bq": None}
    if s.get("InjectedRadioactivity") is not None:
        text = f"{s['InjectedRadioactivity']} {s.get('InjectedRadioactivityUnits', 'MBq')}"
        try:
            info["injected_bq"] = parse_quantity(text, "activity")
        except UnitError:
            warnings.append(f"InjectedRadioactivity {text!r} is not an activity; it is left out")
    return info


def _half_life_s(nuclide: str, name: str) -> float:
    from .decay import nuclide as decay_data  # radioactivedecay is slow to import

    try:
        return decay_data(nuclide).half_life_s
    except InputError as exc:
        raise InputError(name, f"TracerRadionuclide: {exc.problem}") from None


def _number(value, key: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(name, f"{key} must be a number of seconds, got {value!r}")
    return float(value)


def _numbers(values, key: str, n: int, name: str) -> np.ndarray:
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise InputError(name, f"{key} must be a list of numbers (seconds), got {values!r}")
    out = np.array([_number(v, key, name) for v in values], dtype=np.float64)
    if len(out) != n:
        raise InputError(name, f"{key} has {len(out)} values but the image has {n} frame{'s' * (n != 1)}")
    return out


# --- measuring -----------------------------------------------------------------------------

def extract_curves(pet: DynamicPet, seg: Segmentation, *, spec: str = "labels", with_max: bool = False) -> Curves:
    """Mean concentration of every labelled structure in every PET frame.

    pet : the PET (frames in Bq/mL, times after injection).
    seg : the labels, on any grid: layers not on the PET grid are resampled to it by
        nearest neighbour (each PET voxel centre takes the label of the label voxel it falls
        in; outside the label grid is background). All layers count, so a PET voxel can
        belong to several overlapping structures.
    spec : how the user named the labels, for messages.
    with_max : also put each structure's largest voxel value per frame in ``meta['max']``
        ((T, regions) float64, Bq/mL, the columns of ``values``).
    Returns Curves with quantity ``concentration`` (Bq/mL), times the frame mid-times,
    one region per structure that has voxels on the PET grid, named by its canonical name
    (two labels with the same name become ``name_<label>``). ``meta`` holds
    ``volumes_ml`` and ``voxels`` (on the PET grid), ``labels`` (region -> label value),
    ``frame_start_s``, ``frame_duration_s``, and ``warnings`` (the PET's, then structures
    left out).
    Raises InputError when the labels and the PET do not overlap.
    """
    if not seg.layers:
        raise ValueError("extract_curves: the segmentation has no label layers")
    warnings = list(pet.meta.get("warnings", ()))
    keys = np.array(sorted(seg.segments), dtype=np.int64)
    where = pet.source or "the PET"

    maps = labels_on_grid(seg.layers, seg.affine, pet.shape, pet.affine)
    if maps is None:
        raise InputError(spec, f"the labels and {where} do not overlap: no PET voxel centre falls inside the "
                               f"label grid (compare the two affines)")
    vox_parts, col_parts = [], []
    for flat in maps:
        vox = np.flatnonzero(flat)
        col = _columns(flat[vox], keys)
        keep = col >= 0
        vox_parts.append(vox[keep])
        col_parts.append(col[keep])
    vox = np.concatenate(vox_parts)
    col = np.concatenate(col_parts)
    if len(vox) == 0:
        raise InputError(spec, f"no labelled voxel falls inside {where}: the labels and the PET do not overlap")

    n_frames = pet.frames.shape[0]
    flat_frames = pet.frames.reshape(n_frames, -1)
    counts = np.bincount(col, minlength=len(keys))
    sums = np.empty((n_frames, len(keys)), dtype=np.float64)
    for t in range(n_frames):
        sums[t] = np.bincount(col, weights=flat_frames[t, vox], minlength=len(keys))

    present = np.flatnonzero(counts)
    for i in np.flatnonzero(counts == 0):
        label = int(keys[i])
        text = f"{seg.segments[label].structure.name} (label {label}) has no voxel on the PET grid; left out"
        log.warning("extract_curves: %s", text)
        warnings.append(text)
    names = _region_names([(int(keys[i]), seg.segments[int(keys[i])].structure.name) for i in present], warnings)
    values = sums[:, present] / counts[present]
    maxima = None
    if with_max:  # voxels sorted by column once; then one reduceat per frame
        order = np.argsort(col, kind="stable")
        sorted_vox = vox[order]
        starts = np.searchsorted(col[order], present)
        maxima = np.empty((n_frames, len(present)), dtype=np.float64)
        for t in range(n_frames):
            maxima[t] = np.maximum.reduceat(flat_frames[t, sorted_vox], starts)
    voxel_ml = pet.voxel_volume_ml
    meta = {
        "unit": "Bq/mL",
        "labels": {n: int(keys[i]) for n, i in zip(names, present)},
        "voxels": {n: int(counts[i]) for n, i in zip(names, present)},
        "volumes_ml": {n: float(counts[i]) * voxel_ml for n, i in zip(names, present)},
        "frame_start_s": pet.frame_start_s.copy(),
        "frame_duration_s": pet.frame_duration_s.copy(),
        "warnings": warnings,
    }
    if maxima is not None:
        meta["max"] = maxima
    return Curves(pet.mid_times_s.astype(np.float64), tuple(names), values, "concentration", pet.decay_corrected,
                  pet.nuclide, meta)


def labels_on_grid(layers: list[np.ndarray], label_affine: np.ndarray, shape: tuple[int, int, int],
                   affine: np.ndarray) -> list[np.ndarray] | None:
    """Label layers resampled by nearest neighbour onto another grid.

    layers : list of (I', J', K') int arrays on the grid of ``label_affine`` (voxel -> RAS mm).
    shape, affine : the target grid, (I, J, K) and voxel -> RAS mm.
    Returns one flat (I*J*K,) array per layer (C order, the layers' dtype): for every target
    voxel centre, the label of the voxel it falls in (index rounded half up), 0 outside the
    label grid. None when no target voxel centre falls inside the label grid.
    """
    source_shape = tuple(layers[0].shape)
    m = np.linalg.inv(np.asarray(label_affine, dtype=np.float64)) @ np.asarray(affine, dtype=np.float64)
    if source_shape == tuple(shape) and np.allclose(m, np.eye(4), rtol=0.0, atol=1e-4):
        return [np.ravel(layer) for layer in layers]
    linear = m[:3, :3]
    big = np.abs(linear) > 1e-9 * np.abs(linear).max()
    if big.sum(0).max() == 1 and big.sum(1).max() == 1 and big.sum() == 3:
        return _on_grid_axis_aligned(layers, m, big, shape)
    return _on_grid_general(layers, m, shape)


def _on_grid_axis_aligned(layers, m, big, shape):
    """Each label axis follows one target axis: one index vector per axis, then one gather."""
    index, inside = [], None
    for a in range(3):
        p = int(np.flatnonzero(big[a])[0])  # the target axis label axis ``a`` follows
        idx = np.floor(m[a, p] * np.arange(shape[p]) + m[a, 3] + 0.5).astype(np.intp)
        ok = (idx >= 0) & (idx < layers[0].shape[a])
        view = [1, 1, 1]
        view[p] = shape[p]
        index.append(np.clip(idx, 0, layers[0].shape[a] - 1).reshape(view))
        ok = ok.reshape(view)
        inside = ok if inside is None else inside & ok
    if not inside.any():
        return None
    out = []
    for layer in layers:
        values = layer[index[0], index[1], index[2]]
        out.append(np.where(inside, values, 0).astype(layer.dtype, copy=False).ravel())
    return out


def _on_grid_general(layers, m, shape, *, slab_voxels: int = 1 << 21):
    """Any affine: label voxel indices computed slab by slab along the first target axis."""
    n = int(np.prod(shape))
    out = [np.zeros(n, dtype=layer.dtype) for layer in layers]
    grids = [np.arange(k, dtype=np.float64) for k in shape]
    plane = shape[1] * shape[2]
    step = max(1, slab_voxels // max(1, plane))
    source = layers[0].shape
    any_inside = False
    for s0 in range(0, shape[0], step):
        i = grids[0][s0:s0 + step, None, None]
        j, k = grids[1][None, :, None], grids[2][None, None, :]
        index, inside = [], None
        for a in range(3):
            idx = np.floor(m[a, 0] * i + m[a, 1] * j + m[a, 2] * k + (m[a, 3] + 0.5)).astype(np.intp)
            ok = (idx >= 0) & (idx < source[a])
            inside = ok if inside is None else inside & ok
            index.append(idx)
        if not inside.any():
            continue
        any_inside = True
        flat = np.flatnonzero(inside)
        picked = [idx[inside] for idx in index]
        for layer, target in zip(layers, out):
            target[s0 * plane + flat] = layer[picked[0], picked[1], picked[2]]
    return out if any_inside else None


def _columns(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Column of each label value in ``keys`` (sorted), -1 for labels not in it."""
    if len(keys) == 0:
        return np.full(len(values), -1, dtype=np.intp)
    top = int(max(int(keys[-1]), int(values.max()) if len(values) else 0))
    if top < _DENSE_LABELS:
        table = np.full(top + 1, -1, dtype=np.intp)
        table[keys] = np.arange(len(keys))
        return table[values]
    pos = np.clip(np.searchsorted(keys, values), 0, len(keys) - 1)
    return np.where(keys[pos] == values, pos, -1)


def _region_names(items: list[tuple[int, str]], warnings: list[str]) -> list[str]:
    """Canonical names, with ``_<label>`` on every name more than one label shares."""
    seen: dict[str, int] = {}
    for _, name in items:
        seen[name] = seen.get(name, 0) + 1
    names = []
    for label, name in items:
        if seen[name] > 1:
            names.append(f"{name}_{label}")
        else:
            names.append(name)
    shared = sorted(n for n, c in seen.items() if c > 1)
    if shared:
        text = f"several labels are named {', '.join(shared)}: their curves are named <name>_<label>"
        log.warning("extract_curves: %s", text)
        warnings.append(text)
    return names


# --- sampling at surfaces ------------------------------------------------------------------

def sample_inward(pet: DynamicPet, points_ras_mm, inward_normals, *, depth_mm: float | None = None) -> np.ndarray:
    """Every frame sampled a little inside a surface, to colour its vertices.

    points_ras_mm : (n, 3) float, RAS mm, points on a structure's surface.
    inward_normals : (n, 3) float, RAS, pointing into the structure (any length > 0).
    depth_mm : how far inside to sample. None (the default) means 1.5 PET voxels along each
        normal (``INWARD_DEPTH_VOXELS``; for anisotropic voxels the voxel's extent along that
        normal).
    Returns (n, T) float64, Bq/mL: trilinear interpolation of each frame at
    point + depth × unit normal; NaN where that falls outside the PET volume (more than
    half a voxel beyond the outer voxel centres).

    Why inside, and why 1.5 voxels: the PET is blurred by the scanner's resolution, so at
    the true edge of a uniform structure it shows about half the concentration (half the
    blur kernel lies outside). Reconstructed PET voxels are usually about half the
    resolution's FWHM, so 1.5 voxels is about 0.75 FWHM, or 1.8 sigma of a Gaussian blur:
    there a plane edge shows about 96 % of the plateau. Going deeper gains little (99 %
    at one FWHM) and would cross the middle of thin structures (a myocardium or bladder
    wall about three voxels thick), where the opposite side's fall-off begins, and moves
    further from the surface the colour belongs to.
    """
    points = np.asarray(points_ras_mm, dtype=np.float64)
    normals = np.asarray(inward_normals, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"sample_inward: points_ras_mm must be (n, 3), got shape {points.shape}")
    if normals.shape != points.shape:
        raise ValueError(f"sample_inward: inward_normals must be {points.shape} like points_ras_mm, "
                         f"got shape {normals.shape}")
    if not (np.isfinite(points).all() and np.isfinite(normals).all()):
        raise ValueError("sample_inward: points_ras_mm and inward_normals must be finite")
    length = np.linalg.norm(normals, axis=1)
    if np.any(length == 0):
        raise ValueError(f"sample_inward: inward_normals has {int(np.sum(length == 0))} zero vector(s)")
    unit = normals / length[:, None]
    inverse = np.linalg.inv(pet.affine)
    step_vox = unit @ inverse[:3, :3].T  # voxel-index displacement per mm along each normal
    if depth_mm is None:
        shift = INWARD_DEPTH_VOXELS * step_vox / np.linalg.norm(step_vox, axis=1)[:, None]
    else:
        if not (math.isfinite(depth_mm) and depth_mm >= 0):
            raise ValueError(f"sample_inward: depth_mm must be a number >= 0, got {depth_mm!r}")
        shift = depth_mm * step_vox
    coords = points @ inverse[:3, :3].T + inverse[:3, 3] + shift  # (n, 3) voxel indices
    n_frames = pet.frames.shape[0]
    out = np.full((len(points), n_frames), np.nan)
    inside = np.all((coords >= -0.5) & (coords <= np.array(pet.shape) - 0.5), axis=1)
    if inside.any():
        from scipy.ndimage import map_coordinates

        c = coords[inside].T
        for t in range(n_frames):
            out[inside, t] = map_coordinates(pet.frames[t], c, order=1, mode="nearest", output=np.float64)
    return out

"""PET images as :class:`DynamicPet`: a NIfTI PET with its PET-BIDS sidecar, or a DICOM PET
series (read by :mod:`arkit_py.sources.dicom.pet`), frames in Bq/mL and frame times in
seconds after injection.

DICOM (:func:`read_dicom_dynamic_pet`): a folder, ``.zip``, ``.dcm`` or DICM file,
``PATH?series=N``; Units BQML only; frame times are the injection-to-scan-start delay plus
each frame's start; DecayCorrection START values are converted to injection as a sidecar's
ImageDecayCorrectionTime is, ADMIN values are already, NONE values are not decay-corrected.

NIfTI (:func:`read_nifti_pet`): a 3D or 4D NIfTI (the fourth axis is time) and its PET-BIDS
JSON sidecar, by default the file beside it with ``.json`` in place of ``.nii``/``.nii.gz``.
Fields used (all times in seconds relative to ``TimeZero``):

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

:func:`is_nifti_pet` and :func:`is_dicom_pet` are the two kinds' matching rules; which reader
a spec goes to is decided once, by the tracer-input registry (:mod:`arkit_py.tracer.inputs`,
whose ``read_pet`` is the PET part of it for callers that only take a PET). Nuclide names and ICRP-107 half-lives come from
:mod:`arkit_py.sources.dicom.suv` (readers do not import the tracer package).

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
from ..units import UnitError, parse_quantity, unit_factor
from .memory import check_fits
from .nifti import _read_errors, _reason, check_affine, load_nifti_header, nifti_affine

log = logging.getLogger(__name__)

#: Decay-correction times closer than this to injection count as injection (seconds).
_SAME_TIME_S = 1e-3

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

def is_nifti_pet(spec: str | os.PathLike) -> bool:
    """A NIfTI PET (``.nii``, ``.nii.gz``), read with its PET-BIDS sidecar."""
    return os.fspath(spec).lower().endswith((".nii", ".nii.gz"))


def is_dicom_pet(spec: str | os.PathLike) -> bool:
    """A DICOM PET series: ``PATH?series=N``, a ``.zip`` or ``.dcm``, a folder holding DICOM,
    or another file with the DICM marker (never a NIfTI name)."""
    from .dicom.pet import looks_like_dicom_image

    return not is_nifti_pet(spec) and looks_like_dicom_image(os.fspath(spec))


def read_nifti_pet(path: str | os.PathLike, bids: str | os.PathLike | Mapping | None = None) -> DynamicPet:
    """Read a 3D or 4D NIfTI PET and its PET-BIDS sidecar (see ``_read_nifti_pet``); the
    reader's warnings are told only when the read succeeds."""
    from .segmentation import held_warnings

    with held_warnings():
        return _read_nifti_pet(path, bids)


def read_dicom_dynamic_pet(path: str | os.PathLike, bids=None, *, nuclide: str | None = None) -> DynamicPet:
    """Read a DICOM PET series (a folder, ``.zip``, ``.dcm`` or DICM file, ``PATH?series=N``;
    see :func:`dynamic_pet_from_dicom`).

    bids : must be None (a DICOM PET's tags give its timing and units).
    nuclide : the nuclide to check RadionuclideHalfLife against when the header names none
        (``F-18``).
    """
    name = os.fspath(path)
    if bids is not None:
        raise InputError(name, "--bids is for a NIfTI PET: a DICOM PET takes its timing, units and decay "
                               "correction from its own tags")
    from .dicom.pet import read_dicom_pet

    return dynamic_pet_from_dicom(read_dicom_pet(name, nuclide=nuclide))


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


def _read_nifti_pet(path: str | os.PathLike, bids: str | os.PathLike | Mapping | None = None) -> DynamicPet:
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
        from .dicom.suv import canonical_nuclide  # the spelling of arkit_py.tracer.decay.normalise_name

        nuclide = canonical_nuclide(str(tracer))
        if nuclide is None:
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
    """The ICRP-107 half-life of a canonical nuclide name (radioactivedecay's, as
    :func:`arkit_py.tracer.decay.nuclide` gives it); stable nuclides have none."""
    from .dicom.suv import icrp_half_life_s  # radioactivedecay is slow to import

    half_life = icrp_half_life_s(nuclide)
    if half_life is None or not math.isfinite(half_life):
        raise InputError(name, f"TracerRadionuclide: nuclide {nuclide!r} is not in ICRP-107")
    return half_life


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

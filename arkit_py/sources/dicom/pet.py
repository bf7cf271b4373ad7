"""A DICOM PET series (static, or dynamic by its frame times) as activity concentrations with
frame times after injection: what ``--tracer PET`` and ``arkit tracer extract PET`` measure.

:func:`read_dicom_pet` takes a folder, a ``.zip`` or a file (``PATH?series=N`` chooses; without
it the one PET image series there is taken, so a PET/CT export needs no number) and returns a
:class:`DicomPet`: the frames in Bq/mL as the scanner stored them, and the physics to place
them in time and to turn them into SUVs. Building the tracer's ``DynamicPet`` (and converting
values decay-corrected to the scan start so they are decay-corrected to injection) is
``arkit_py.tracer.extract``'s job: sources sit below tracer.

Rules (the SUV tags are read by :mod:`.suv`, with its one-line refusals naming the tag):

* Modality (0008,0060) must be PT.
* Units (0054,1001) must be BQML. CNTS (Philips counts) and GML (SUV already) are refused:
  neither is an activity concentration without the vendor's private factors.
* Frame starts after injection = the injection-to-scan-start delay (``suv``'s QIBA rule: the
  series time, or an earlier acquisition time; the injection from
  RadiopharmaceuticalStartDateTime, else RadiopharmaceuticalStartTime) + each frame's start
  relative to the first (from the acquisition times, else the summed ActualFrameDuration).
  A static series is one frame at the scan start lasting its ActualFrameDuration.
* DecayCorrection (0054,1102): START -> the values are decay-corrected to the scan start;
  ADMIN -> to the injection; NONE -> not decay-corrected. The half-life is the header's
  RadionuclideHalfLife (the one the scanner corrected with).
* The SUVbw factor (:func:`.suv.suv_factor`) and the weight and dose are optional for
  activity curves: when they cannot be had, ``suv_problem`` says why, and an SUV is refused
  with that line only when one is asked for.

Nothing identifying leaves: times are differences, messages name the path and tags only.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from ...errors import InputError
from . import suv as _suv
from .files import holds_dicom, parse_spec, scan

log = logging.getLogger(__name__)

#: PET nuclides whose half-life can name a series that names no nuclide (within 0.5 %).
PET_NUCLIDES = ("F-18", "Ga-68", "C-11", "N-13", "O-15", "Rb-82", "Cu-64", "Cu-62", "Zr-89", "I-124", "Y-86",
                "Sc-44", "Tc-99m", "Lu-177", "I-131", "In-111")
_HALF_LIFE_MATCH = 0.005


@dataclass
class DicomPet:
    """A PET series read from DICOM.

    frames : (T, I, J, K) float32, Bq/mL as stored (decay-corrected to ``decay_corrected_to``).
    affine : (4, 4) float64, voxel index -> RAS mm.
    frame_start_s, frame_duration_s : (T,) float64, seconds; starts after injection.
    decay_corrected_to : ``"injection"`` (ADMIN), ``"scan_start"`` (START) or None (NONE).
    delay_s : injection to scan start, seconds.
    nuclide : ``F-18`` etc. (the header's, the one given, or named by the half-life), or None.
    half_life_s : the header's RadionuclideHalfLife (else ICRP-107's for the nuclide).
    injected_bq, weight_kg : RadionuclideTotalDose and PatientWeight, or None when missing.
    suv_factor : the SUVbw factor of the tags (g/mL per stored Bq/mL, :func:`.suv.suv_factor`),
        or None (then ``suv_problem`` says why).
    warnings, notes : lines for the user; nothing identifying.
    source : the spec as shown in messages (``PATH`` or ``PATH?series=N``).
    """

    frames: np.ndarray
    affine: np.ndarray
    frame_start_s: np.ndarray
    frame_duration_s: np.ndarray
    decay_corrected_to: str | None
    delay_s: float
    nuclide: str | None = None
    half_life_s: float | None = None
    injected_bq: float | None = None
    weight_kg: float | None = None
    suv_factor: float | None = None
    suv_problem: str | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str | None = None


_DECAY = {"START": "scan_start", "ADMIN": "injection", "NONE": None}
_NOT_DICOM = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".csv", ".yaml", ".yml", ".json", ".txt")


def looks_like_dicom_image(spec: str | os.PathLike) -> bool:
    """Whether an image spec names DICOM: ``PATH?series=N``, a ``.zip`` or ``.dcm``, a folder
    holding a DICOM file (the first one found decides), or another file with the DICM
    marker. A NIfTI, NRRD, CSV or YAML name never does."""
    text = os.fspath(spec)
    try:
        path, series = parse_spec(text)
    except InputError:
        return True  # a malformed ?series=: the DICOM reader says what is wrong
    if series is not None:
        return True
    lower = path.lower()
    if lower.endswith((".zip", ".dcm")):
        return True
    if lower.endswith(_NOT_DICOM):
        return False
    return holds_dicom(path)


def read_dicom_pet(spec: str | os.PathLike, *, nuclide: str | None = None) -> DicomPet:
    """Read a DICOM PET series (see the module notes).

    spec : a folder, ``.zip`` or file, optionally ``?series=N``; without N the one PET
        image series found is read (several: InputError listing them).
    nuclide : ``F-18`` etc., to check RadionuclideHalfLife against when the header names none.
    InputError, one line naming the path and the tag, for anything that cannot be used.
    """
    from ..segmentation import held_warnings
    from .series import read_image_series

    with held_warnings():
        obj = _select(spec)
        source = obj.shown
        if obj.modality != "PT":
            raise InputError(source, f"is a {obj.modality or 'non-PET'} series, not a PET (Modality PT): give the PET "
                                     "series (arkit dicom ls lists them; PATH?series=N chooses)")
        dss = [obj.read_dataset(f, pixels=False) for f in obj.files]
        _units(dss, source)
        decay = _suv._common(dss, source, "DecayCorrection", lambda ds: _suv._upper(ds, "DecayCorrection"),
                             required=True, why="it says to when the values are decay-corrected")
        if decay not in _DECAY:
            raise InputError(source, f"DecayCorrection {_suv._tag('DecayCorrection')} is {decay!r}: expected START, "
                                     "ADMIN or NONE")
        warnings: list[str] = []
        notes: list[str] = []
        _corrected_image(dss, decay, warnings)
        named = _suv._nuclide(dss, nuclide, warnings)
        items = [_suv._radiopharmaceutical(ds, source) for ds in dss]
        half_life = _suv._half_life(items, source, named, warnings)
        delay = _suv._delay(dss, items, source, half_life, warnings)
        name = named or _nuclide_from_half_life(half_life, warnings)
        weight, injected, problem = _weight_and_dose(dss, items, source)
        factor = None
        if decay == "NONE":
            problem = problem or (f"DecayCorrection {_suv._tag('DecayCorrection')} is NONE: there is no SUV factor "
                                  "of the tags (each frame needs its own decay correction)")
        else:
            try:
                report = _suv.suv_factor(dss, nuclide=nuclide, source=source)
            except InputError as error:
                problem = problem or error.problem
            else:
                factor = report.suv_factor
                warnings.extend([w for w in report.warnings if w not in warnings])

        volume = read_image_series(obj)
        data = volume.data
        n_frames = data.shape[3] if data.ndim == 4 else 1
        if n_frames > 1:
            if volume.frame_times_s is None or volume.frame_durations_s is None:
                missing = "AcquisitionTime (0008,0032)" if volume.frame_times_s is None else \
                    "ActualFrameDuration (0018,1242)"
                raise InputError(source, f"{n_frames} frames but no frame timing: {missing} is missing")
            starts = np.asarray(volume.frame_times_s, dtype=np.float64)
            durations = np.asarray(volume.frame_durations_s, dtype=np.float64)
        else:
            starts = np.zeros(1)
            durations = np.array([_static_duration(dss, source, notes)])
        affine = np.asarray(volume.affine, dtype=np.float64)
        frames = np.empty((n_frames, *data.shape[:3]), dtype=np.float32)
        for t in range(n_frames):
            frames[t] = data[..., t] if data.ndim == 4 else data
        del data, volume
    for text in warnings:
        log.warning("%s: %s", source, text)
    return DicomPet(frames, affine, delay + starts, durations, _DECAY[decay], delay, name, half_life, injected,
                    weight, factor, problem, warnings, notes, source)


def _select(spec):
    """The image series ``spec`` names; without ``?series=`` the only PET image series, or the
    only image series (a CT alone is then refused as not a PET)."""
    path, series = parse_spec(spec)
    listing = scan(path)
    if series is None:
        pets = [o for o in listing.objects if o.kind == "image" and o.modality == "PT"]
        if len(pets) == 1:
            return listing.select(pets[0].index, want="image")
        if len(pets) > 1:
            raise InputError(path, f"{len(pets)} PET series: " + ", ".join(o.label for o in pets)
                             + f"; choose with {path}?series=N")
    return listing.select(series, want="image")


def _units(dss, source) -> None:
    units = _suv._common(dss, source, "Units", lambda ds: _suv._upper(ds, "Units"), required=True,
                         why="it says what the pixel values are (BQML: Bq/mL)")
    tag = _suv._tag("Units")
    if units == "BQML":
        return
    if units == "CNTS":
        raise InputError(source, f"Units {tag} is CNTS (Philips counts), not an activity concentration: arkit reads "
                                 "BQML (Bq/mL) series; export the PET in Bq/mL from the scanner or workstation "
                                 "(arkit tracer suv still gives its SUV factor)")
    if units == "GML":
        raise InputError(source, f"Units {tag} is GML: the values are SUV already, not an activity concentration; "
                                 "export the PET in Bq/mL (BQML)")
    raise InputError(source, f"Units {tag} is {units!r}: expected BQML (Bq/mL)")


def _corrected_image(dss, decay: str, warnings: list[str]) -> None:
    """Warnings when CorrectedImage lacks attenuation or (for START/ADMIN) decay correction."""
    from pydicom.multival import MultiValue

    listed: set[str] = set()
    for ds in dss[:1]:
        values = ds.get("CorrectedImage")
        if values in (None, ""):
            warnings.append("CorrectedImage (0028,0051) is missing: attenuation and decay correction not confirmed")
            return
        many = isinstance(values, (list, tuple, MultiValue))
        listed = {str(v).strip().upper() for v in (values if many else [values])}
    if "ATTN" not in listed:
        warnings.append("CorrectedImage (0028,0051) lacks ATTN: without attenuation correction the values are not "
                        "true activity concentrations")
    if decay != "NONE" and "DECY" not in listed:
        warnings.append(f"CorrectedImage (0028,0051) lacks DECY but DecayCorrection is {decay}; DecayCorrection is "
                        "followed")


def _nuclide_from_half_life(half_life: float, warnings: list[str]) -> str | None:
    """The one PET nuclide whose ICRP-107 half-life is within 0.5 % of the header's."""
    hits = []
    for name in PET_NUCLIDES:
        reference = _suv.icrp_half_life_s(name)
        if reference and abs(half_life / reference - 1) <= _HALF_LIFE_MATCH:
            hits.append(name)
    if len(hits) != 1:
        return None
    warnings.append(f"no nuclide named (RadionuclideCodeSequence): taken as {hits[0]} from RadionuclideHalfLife "
                    f"{half_life:g} s")
    return hits[0]


def _weight_and_dose(dss, items, source) -> tuple[float | None, float | None, str | None]:
    """(PatientWeight kg, RadionuclideTotalDose Bq, why one is unusable or None)."""
    weight = injected = None
    problem = None
    try:
        weight = _suv._common(dss, source, "PatientWeight", lambda ds: _suv._number(ds, "PatientWeight", source),
                              required=True, why="SUVbw is normalised by body weight")
        if not 0 < weight < _suv.MAX_WEIGHT_KG:
            raise InputError(source, f"PatientWeight {_suv._tag('PatientWeight')} is {weight:g} kg: expected a "
                                     f"weight in kg (more than 0, less than {_suv.MAX_WEIGHT_KG:g})")
    except InputError as error:
        weight, problem = None, error.problem
    try:
        injected = _suv._common(items, source, "RadionuclideTotalDose",
                                lambda it: _suv._number(it, "RadionuclideTotalDose", source), required=True,
                                why="the injected activity is needed for SUV")
        if not injected > 0:
            raise InputError(source, f"RadionuclideTotalDose {_suv._tag('RadionuclideTotalDose')} is {injected:g} "
                                     "Bq: expected a positive activity")
    except InputError as error:
        injected, problem = None, problem or error.problem
    return weight, injected, problem


def _static_duration(dss, source, notes: list[str]) -> float:
    """ActualFrameDuration (ms -> s) of a static series; 0 (with a note) when not one value."""
    try:
        ms = _suv._common(dss, source, "ActualFrameDuration", lambda ds: _suv._number(ds, "ActualFrameDuration", source))
    except InputError as error:
        notes.append(f"{error.problem}: the frame is taken to last 0 s at the scan start")
        return 0.0
    if ms is None or not ms >= 0:
        notes.append("no ActualFrameDuration (0018,1242): the frame is taken to last 0 s at the scan start")
        return 0.0
    return ms / 1000.0

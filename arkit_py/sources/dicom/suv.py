"""The SUVbw factor of a PET series from its DICOM headers.

:func:`suv_factor` takes the pydicom Datasets of one PET series (headers are enough) and
returns a :class:`SuvReport` whose ``suv_factor`` turns the series' rescaled pixel values
(stored value x RescaleSlope + RescaleIntercept, slice by slice) into body-weight SUV in g/mL.
For Units BQML that is SUV per Bq/mL: ``weight_g / decayed_bq``.

The rules, as the QIBA FDG-PET SUV profile's vendor-neutral flow chart and the vendors'
conformance statements describe them (restated here, not copied):

* **Preconditions.** CorrectedImage (0028,0051) must list both ATTN (attenuation) and DECY
  (decay) corrections, and DecayCorrection (0054,1102) says to when the images are
  decay-corrected. QIBA's chart covers START (to the start of the acquisition). ADMIN
  (already corrected to the administration) is accepted too: then the dose needs no decay at
  all. NONE is refused: each frame would need its own decay factor over its duration.
* **Units (0054,1001).** BQML: the computation below. CNTS (Philips): the vendor's private
  SUV scale factor (7053,1000) in the "Philips PET Private Group" is the SUVbw factor per
  rescaled count; without it, the activity concentration scale factor (7053,1009) turns
  rescaled counts into Bq/mL and the computation proceeds as for BQML (the factor is then
  SUV per count: ``(7053,1009) x weight_g / decayed_bq``). When both private factors are
  present (CNTS or BQML), their ratio is compared with our own computation and a
  disagreement above 1 % is a warning. GML: the pixels are SUV already (assumed SUVbw);
  the factor is 1, with a warning.
* **Scan start.** SeriesDate/SeriesTime, unless an instance's acquisition
  (AcquisitionDateTime, else AcquisitionDate + AcquisitionTime) is *earlier* than the
  series. Series date and time can be rewritten when a series is re-processed or
  re-exported (a GE post-processed series; Siemens series whose series time is later than
  the start of the first bed), so QIBA then takes GE's private scan date-time
  (0009,100D, "GEMS_PETD_01") when present, and otherwise the earliest acquisition time of
  all instances of the series (all bed positions). (QIBA notes this is wrong for a Siemens
  multi-injection study; nothing in the headers can tell.)
* **Injection.** RadiopharmaceuticalStartDateTime (0018,1078) is preferred; else
  RadiopharmaceuticalStartTime (0018,1072) on the day of the series. Both live in the
  first item of RadiopharmaceuticalInformationSequence (0054,0016).
* **Midnight.** A time without a date is put on the day that makes sense: an acquisition
  time on the day (before, of or after the series) nearest the series time; an injection
  time on the scan's day when it is not later than the scan start, else on the day before
  provided that gives at most 12 h of uptake (a midnight crossing, warned); an injection
  clock time more than 12 h after the scan's is refused as an injection after the scan.
* **Decay.** decayed dose = RadionuclideTotalDose (0018,1074) x 2^(-delay / T1/2), with the
  header's RadionuclideHalfLife (0018,1075) (the scanner decay-corrected with it). The
  half-life is checked against ICRP-107 (radioactivedecay's default data set, the half-lives
  :mod:`arkit_py.tracer.decay` uses; sources sit below tracer, so it is read directly) for the
  nuclide named by RadionuclideCodeSequence (0054,0300) ("^18^Fluorine", or the old
  "F^18^[^18^Fluorine]") or given as ``nuclide=``: more than 1 % apart is a warning. The
  dose is taken as given (QIBA: not corrected for residue in the syringe).
* **Weight.** PatientWeight (0010,1030) in kg, more than 0 and less than 500.

A missing, malformed or inconsistent (differing between instances) tag is refused with
:class:`~arkit_py.errors.InputError`, one line naming the tag. Nothing identifying (names,
IDs, dates, UIDs) goes into the report, its warnings or the messages: only durations and
physics.

>>> from pydicom import Dataset
>>> ds = Dataset()
>>> ds.Modality, ds.Units, ds.DecayCorrection, ds.CorrectedImage = "PT", "BQML", "START", ["ATTN", "DECY"]
>>> ds.SeriesDate, ds.SeriesTime, ds.PatientWeight = "20200101", "100000", 70
>>> rp = Dataset()
>>> rp.RadionuclideTotalDose, rp.RadionuclideHalfLife, rp.RadiopharmaceuticalStartTime = 370e6, 6586.2, "090000"
>>> ds.RadiopharmaceuticalInformationSequence = [rp]
>>> r = suv_factor([ds], nuclide="F-18")
>>> round(r.delay_s), round(r.suv_factor * 370e6 * 2 ** (-3600 / 6586.2) / 70_000, 12)
(3600, 1.0)
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from ...errors import InputError

#: The JSON keys of :meth:`SuvReport.to_json`, in order.
REPORT_KEYS = ("suv_factor", "units", "injected_bq", "decayed_bq", "weight_kg", "delay_s", "half_life_s",
               "nuclide", "warnings")

UNITS_TEXT = {"BQML": "Bq/mL", "CNTS": "counts (Philips CNTS)", "GML": "g/mL (already SUV)"}

HALF_LIFE_TOLERANCE = 0.01  # relative: header vs ICRP-107, and Philips factors vs ours
MAX_WEIGHT_KG = 500.0
MAX_MIDNIGHT_UPTAKE_S = 12 * 3600.0  # an injection time later than the scan's is a crossing only within this
SMALL_DOSE_BQ = 1e6

_ENHANCED_PET = "1.2.840.10008.5.1.4.1.1.130"
_PHILIPS = "Philips PET Private Group"
_GE = "GEMS_PETD_01"
_NO_DATE = date(2000, 1, 1)  # the day undated times are placed on (only differences are used)


@dataclass(frozen=True)
class SuvReport:
    """The SUVbw factor of a PET series and what it was computed from.

    suv_factor : multiply a rescaled pixel value in ``units`` by it to get SUVbw (g/mL);
        for BQML that is per Bq/mL (weight_g / decayed_bq).
    units : the series' DICOM Units (0054,1001): ``BQML``, ``CNTS`` or ``GML``.
    injected_bq : RadionuclideTotalDose, Bq (None when not needed and not given).
    decayed_bq : the dose at the time the images are decay-corrected to (the scan start for
        START, the injection for ADMIN), Bq.
    weight_kg : PatientWeight, kg.
    delay_s : scan start - injection, seconds.
    half_life_s : the half-life used (the header's RadionuclideHalfLife), seconds.
    nuclide : ``F-18`` etc., from RadionuclideCodeSequence or ``nuclide=``; None if unknown.
    warnings : one line each; nothing identifying.
    """

    suv_factor: float
    units: str
    injected_bq: float | None = None
    decayed_bq: float | None = None
    weight_kg: float | None = None
    delay_s: float | None = None
    half_life_s: float | None = None
    nuclide: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """A JSON-ready dict with exactly the keys of :data:`REPORT_KEYS`."""
        out = {key: getattr(self, key) for key in REPORT_KEYS}
        out["warnings"] = list(self.warnings)
        return out

    def format(self) -> str:
        """Human-readable lines (warnings not included: the CLI prints them to stderr)."""
        from ...units import format_activity, format_time

        per = UNITS_TEXT.get(self.units, self.units)
        lines = [f"SUVbw factor {self.suv_factor:.6g} (g/mL per {per}): multiply the rescaled {self.units} voxel "
                 + "values by it"]
        if self.weight_kg is not None:
            lines.append(f"  weight {self.weight_kg:g} kg")
        if self.injected_bq is not None:
            lines.append(f"  injected {format_activity(self.injected_bq)}")
        if self.decayed_bq is not None:
            lines.append(f"  decayed to the images' reference time {format_activity(self.decayed_bq)}")
        if self.delay_s is not None:
            lines.append(f"  injection to scan start {format_time(self.delay_s)} ({self.delay_s:.1f} s)")
        if self.half_life_s is not None:
            lines.append(f"  half-life {self.half_life_s:g} s{f' ({self.nuclide})' if self.nuclide else ''}")
        elif self.nuclide:
            lines.append(f"  nuclide {self.nuclide}")
        return "\n".join(lines)


# -- the public functions ---------------------------------------------------------------------

def suv_factor(datasets, *, nuclide: str | None = None, source: str | os.PathLike | None = None) -> SuvReport:
    """The SUVbw factor of one PET series (see the module docstring for the rules).

    datasets : the pydicom Datasets of the series' instances (one Dataset is accepted too);
        pixel data is not needed.
    nuclide : ``F-18``, ``Ga-68``, ...: the nuclide to check RadionuclideHalfLife against
        when the header does not name one (or names another: then a warning).
    source : the path to name in error messages (the folder or file the user gave).
    InputError (one line naming the tag) when a tag the SUV needs is missing, malformed or
    differs between instances.
    """
    dss = _as_list(datasets, source)
    warnings: list[str] = []
    _modality(dss, source)
    units = _common(dss, source, "Units", lambda ds: _upper(ds, "Units"), required=True,
                    why="it says what the pixel values are")
    if units == "GML":
        warnings.append("Units GML: the pixel values are SUV already (assumed body-weight SUV); the factor is 1")
        return SuvReport(1.0, units, warnings=warnings)
    if units not in ("BQML", "CNTS"):
        raise InputError(source, f"Units {_tag('Units')} is {units!r}: an SUV needs BQML (Bq/mL), CNTS with the "
                                 "Philips private scale factors, or GML")
    decay = _decay_correction(dss, source)
    _corrections(dss, source)
    name = _nuclide(dss, nuclide, warnings)
    if units == "BQML":
        basis = _basis(dss, source, decay, name, warnings)
        _philips_check(dss, source, basis["factor"], warnings, units)
        return SuvReport(basis["factor"], units, basis["injected"], basis["decayed"], basis["weight"],
                         basis["delay"], basis["half_life"], name, warnings)
    return _cnts(dss, source, decay, name, warnings)


def suv_factor_from_json(instances, *, nuclide: str | None = None) -> SuvReport:
    """:func:`suv_factor` of instances given as JSON.

    instances : a list of instances, or a path to a ``.json`` file holding one. An instance
        is either a dict of DICOM keywords (``{"Units": "BQML", "PatientWeight": 65, ...}``;
        the radiopharmaceutical keywords ``Radionuclide*`` / ``Radiopharmaceutical*`` may be
        flat, they go into RadiopharmaceuticalInformationSequence; ``PhilipsPETPrivateGroup``
        holds ``SUVScaleFactor`` (7053,1000) and ``ActivityConcentrationScaleFactor``
        (7053,1009)), or a DICOM JSON model object (``{"00100030": {"vr": ..., "Value": ...}}``).
        Keys that are not DICOM keywords are ignored.
    """
    source = None
    if isinstance(instances, (str, os.PathLike)):
        source = os.fspath(instances)
        try:
            with open(source, encoding="utf-8") as f:
                instances = json.load(f)
        except OSError as error:
            raise InputError(source, f"cannot be read ({error.strerror or error})") from None
        except ValueError as error:
            raise InputError(source, f"is not JSON ({error})") from None
    if isinstance(instances, dict):
        instances = [instances]
    if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
        raise InputError(source, "SUV metadata must be a list of instances (JSON objects)")
    datasets = [dataset_from_json(item, source=source, index=i) for i, item in enumerate(instances)]
    return suv_factor(datasets, nuclide=nuclide, source=source)


def dataset_from_json(item: dict, *, source=None, index: int = 0):
    """One instance dict (keyword style or DICOM JSON model) -> a pydicom Dataset."""
    from pydicom import Dataset
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    if item and all(re.fullmatch(r"[0-9A-Fa-f]{8}", k) for k in item):
        try:
            return Dataset.from_json(item)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as error:
            raise InputError(source, f"instance {index + 1}: not a DICOM JSON object ({error})") from None
    ds, rp = Dataset(), Dataset()

    def put(target, key, value):
        tag = tag_for_keyword(key)
        if tag is None:
            return
        vr = dictionary_VR(tag)
        if vr == "SQ":
            items = value if isinstance(value, list) else [value]
            value = [dataset_from_json(v, source=source, index=index) for v in items if isinstance(v, dict)]
        elif isinstance(value, str):
            value = value.strip()
        try:
            setattr(target, key, value)
        except (ValueError, TypeError, OverflowError) as error:
            raise InputError(source, f"instance {index + 1}: {key} {_tag(key)}: {error}") from None

    for key, value in item.items():
        if key == "PhilipsPETPrivateGroup":
            if isinstance(value, dict) and value:
                block = ds.private_block(0x7053, _PHILIPS, create=True)
                for name, offset in (("SUVScaleFactor", 0x00), ("ActivityConcentrationScaleFactor", 0x09)):
                    if value.get(name) not in (None, ""):
                        block.add_new(offset, "DS", str(value[name]).strip())
        elif key.startswith(("Radiopharmaceutical", "Radionuclide")) and key != "RadiopharmaceuticalInformationSequence":
            put(rp, key, value)
        else:
            put(ds, key, value)
    if len(rp) and "RadiopharmaceuticalInformationSequence" not in ds:
        ds.RadiopharmaceuticalInformationSequence = [rp]
    return ds


def cmd_suv_datasets(datasets, as_json: bool, *, nuclide: str | None = None,
                     source: str | os.PathLike | None = None) -> int:
    """``arkit tracer suv PET [--json]`` once the series is loaded: print the report (JSON,
    or lines with the warnings on stderr as ``arkit: warning: ...``). Returns 0; InputError
    propagates (the CLI prints it as one line, exit code 2)."""
    report = suv_factor(datasets, nuclide=nuclide, source=source)
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    print(report.format())
    for w in report.warnings:
        print(f"arkit: warning: {w}", file=sys.stderr)
    return 0


# -- the pieces -------------------------------------------------------------------------------

def _as_list(datasets, source) -> list:
    from pydicom import Dataset

    if isinstance(datasets, Dataset):
        return [datasets]
    if not isinstance(datasets, Iterable):
        raise TypeError(f"suv_factor: datasets must be pydicom Datasets, got {type(datasets).__name__}")
    dss = list(datasets)
    if not dss:
        raise InputError(source, "no PET instances to compute an SUV from")
    for ds in dss:
        if not isinstance(ds, Dataset):
            raise TypeError(f"suv_factor: datasets must be pydicom Datasets, got {type(ds).__name__}")
    return dss


def _modality(dss, source) -> None:
    for ds in dss:
        if str(ds.get("SOPClassUID", "") or "") == _ENHANCED_PET:
            raise InputError(source, "Enhanced PET Image Storage is not supported for SUV yet (only classic "
                                     "PET Image Storage, one slice a file)")
        modality = _text(ds, "Modality")
        if modality is not None and modality.upper() != "PT":
            raise InputError(source, f"Modality {_tag('Modality')} is {modality!r}: an SUV needs a PET (PT) series")


def _decay_correction(dss, source) -> str:
    decay = _common(dss, source, "DecayCorrection", lambda ds: _upper(ds, "DecayCorrection"), required=True,
                    why="it says to when the images are decay-corrected")
    if decay == "NONE":
        raise InputError(source, f"DecayCorrection {_tag('DecayCorrection')} is NONE: the images are not "
                                 "decay-corrected, so each frame needs its own decay factor over its duration "
                                 "(not done here)")
    if decay not in ("START", "ADMIN"):
        raise InputError(source, f"DecayCorrection {_tag('DecayCorrection')} is {decay!r}: expected START or ADMIN")
    return decay


def _corrections(dss, source) -> None:
    from pydicom.multival import MultiValue

    for ds in dss:
        values = ds.get("CorrectedImage")
        if values is None or values == "":
            raise InputError(source, f"CorrectedImage {_tag('CorrectedImage')} is missing: an SUV needs images "
                                     "corrected for attenuation (ATTN) and decay (DECY)")
        many = isinstance(values, (list, tuple, MultiValue))
        listed = {str(v).strip().upper() for v in (values if many else [values])}
        lacking = [c for c in ("ATTN", "DECY") if c not in listed]
        if lacking:
            raise InputError(source, f"CorrectedImage {_tag('CorrectedImage')} lacks {' and '.join(lacking)}: an "
                                     "SUV needs images corrected for attenuation (ATTN) and decay (DECY)")


def _basis(dss, source, decay: str, name: str | None, warnings: list[str]) -> dict:
    """weight, dose, half-life and delay -> SUVbw factor per Bq/mL. InputError when not possible."""
    weight = _common(dss, source, "PatientWeight", lambda ds: _number(ds, "PatientWeight", source), required=True,
                     why="SUVbw is normalised by body weight")
    if not 0 < weight < MAX_WEIGHT_KG:
        raise InputError(source, f"PatientWeight {_tag('PatientWeight')} is {weight:g} kg: expected a weight in kg "
                                 f"(more than 0, less than {MAX_WEIGHT_KG:g})")
    items = [_radiopharmaceutical(ds, source) for ds in dss]
    if any(len(ds.get("RadiopharmaceuticalInformationSequence", []) or []) > 1 for ds in dss):
        warnings.append("RadiopharmaceuticalInformationSequence has more than one item: the first is used")
    injected = _common(items, source, "RadionuclideTotalDose",
                       lambda it: _number(it, "RadionuclideTotalDose", source), required=True,
                       why="the injected activity is needed for SUV")
    if not injected > 0:
        raise InputError(source, f"RadionuclideTotalDose {_tag('RadionuclideTotalDose')} is {injected:g} Bq: "
                                 "expected a positive activity")
    if injected < SMALL_DOSE_BQ:
        warnings.append(f"RadionuclideTotalDose is only {injected:g} Bq: is it in Bq (not MBq)?")
    half_life = _half_life(items, source, name, warnings)
    if decay == "START":
        delay = _delay(dss, items, source, half_life, warnings)
        decayed = injected * 2.0 ** (-delay / half_life)
    else:  # ADMIN: the images show activity as at the administration
        decayed = injected
        try:
            delay = _delay(dss, items, source, half_life, [])
        except InputError as error:
            delay = None
            warnings.append(f"uptake time not known ({error.problem}); not needed with DecayCorrection ADMIN")
    weight_g = weight * 1000.0
    return {"factor": weight_g / decayed, "injected": injected, "decayed": decayed, "weight": weight,
            "delay": delay, "half_life": half_life}


def _cnts(dss, source, decay, name, warnings) -> SuvReport:
    suv_sf = _common(dss, source, "(7053,1000) SUV scale factor", lambda ds: _private(ds, 0x7053, 0x00, _PHILIPS,
                                                                                      source, "(7053,1000)"))
    acsf = _common(dss, source, "(7053,1009) activity concentration scale factor",
                   lambda ds: _private(ds, 0x7053, 0x09, _PHILIPS, source, "(7053,1009)"))
    for value, label in ((suv_sf, "(7053,1000) SUV scale factor"),
                         (acsf, "(7053,1009) activity concentration scale factor")):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(source, f"Philips {label} is {value:g}: expected a positive number")
    if suv_sf is None and acsf is None:
        raise InputError(source, "Units CNTS needs the Philips private SUV scale factor (7053,1000) or the "
                                 "activity concentration scale factor (7053,1009) (\"Philips PET Private Group\"); "
                                 "neither is there")
    if suv_sf is None:  # counts -> Bq/mL by the vendor's factor, then as for BQML
        basis = _basis(dss, source, decay, name, warnings)
        return SuvReport(acsf * basis["factor"], "CNTS", basis["injected"], basis["decayed"], basis["weight"],
                         basis["delay"], basis["half_life"], name, warnings)
    own: list[str] = []  # the computation's warnings count only when it succeeds
    try:
        basis = _basis(dss, source, decay, name, own)
    except InputError as error:
        basis = None
        if acsf is not None:
            warnings.append(f"the Philips SUV scale factor is used unchecked: {error.problem}")
    else:
        warnings.extend(own)
    if basis is None:
        return SuvReport(suv_sf, "CNTS", nuclide=name, warnings=warnings)
    if acsf is not None:
        ours = acsf * basis["factor"]
        if abs(ours / suv_sf - 1) > HALF_LIFE_TOLERANCE:
            warnings.append(f"the Philips SUV scale factor (7053,1000) {suv_sf:.6g} differs from "
                            f"(7053,1009) x weight / decayed dose = {ours:.6g} by {100 * abs(ours / suv_sf - 1):.2g} %; "
                            "the vendor's factor is used")
    return SuvReport(suv_sf, "CNTS", basis["injected"], basis["decayed"], basis["weight"], basis["delay"],
                     basis["half_life"], name, warnings)


def _philips_check(dss, source, factor: float, warnings: list[str], units: str) -> None:
    """A BQML series that also carries both Philips factors: SUV per count / Bq/mL per count
    is SUV per Bq/mL, which should be ours."""
    try:
        suv_sf = _common(dss, source, "(7053,1000)", lambda ds: _private(ds, 0x7053, 0x00, _PHILIPS, source,
                                                                         "(7053,1000)"))
        acsf = _common(dss, source, "(7053,1009)", lambda ds: _private(ds, 0x7053, 0x09, _PHILIPS, source,
                                                                       "(7053,1009)"))
    except InputError:
        return
    if not (suv_sf and acsf) or suv_sf <= 0 or acsf <= 0:
        return
    theirs = suv_sf / acsf
    if abs(theirs / factor - 1) > HALF_LIFE_TOLERANCE:
        warnings.append(f"the Philips private factors give {theirs:.6g} g/mL per Bq/mL, {units} tags give "
                        f"{factor:.6g} ({100 * abs(theirs / factor - 1):.2g} % apart); the standard tags are used")


def _radiopharmaceutical(ds, source):
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    if not seq:
        raise InputError(source, f"RadiopharmaceuticalInformationSequence {_tag('RadiopharmaceuticalInformationSequence')} "
                                 "is missing: it holds the injected dose, its time and the half-life")
    return seq[0]


def _half_life(items, source, name, warnings) -> float:
    half_life = _common(items, source, "RadionuclideHalfLife", lambda it: _number(it, "RadionuclideHalfLife", source))
    reference = icrp_half_life_s(name) if name else None
    if half_life is None:
        if reference is None:
            raise InputError(source, f"RadionuclideHalfLife {_tag('RadionuclideHalfLife')} is missing and no nuclide "
                                     "is named (RadionuclideCodeSequence or --nuclide)")
        warnings.append(f"RadionuclideHalfLife is missing: the ICRP-107 half-life of {name} ({reference:g} s) is used")
        return reference
    if not (math.isfinite(half_life) and half_life > 0):
        raise InputError(source, f"RadionuclideHalfLife {_tag('RadionuclideHalfLife')} is {half_life:g} s: expected "
                                 "a positive number of seconds")
    if reference is None:
        warnings.append("no nuclide named (RadionuclideCodeSequence): RadionuclideHalfLife was not checked against "
                        "ICRP-107")
    elif abs(half_life / reference - 1) > HALF_LIFE_TOLERANCE:
        warnings.append(f"RadionuclideHalfLife {half_life:g} s differs from the ICRP-107 half-life of {name} "
                        f"({reference:g} s) by {100 * abs(half_life / reference - 1):.3g} %; the header's is used")
    return half_life


# -- the nuclide ------------------------------------------------------------------------------

#: Element names as DICOM code meanings spell them (CID 18 and 4020 radionuclides) -> symbols.
_ELEMENTS = {
    "hydrogen": "H", "carbon": "C", "nitrogen": "N", "oxygen": "O", "fluorine": "F", "sodium": "Na",
    "phosphorus": "P", "potassium": "K", "scandium": "Sc", "titanium": "Ti", "chromium": "Cr", "manganese": "Mn",
    "iron": "Fe", "cobalt": "Co", "copper": "Cu", "zinc": "Zn", "gallium": "Ga", "germanium": "Ge", "arsenic": "As",
    "selenium": "Se", "bromine": "Br", "krypton": "Kr", "rubidium": "Rb", "strontium": "Sr", "yttrium": "Y",
    "zirconium": "Zr", "niobium": "Nb", "technetium": "Tc", "ruthenium": "Ru", "indium": "In", "iodine": "I",
    "xenon": "Xe", "barium": "Ba", "samarium": "Sm", "gadolinium": "Gd", "terbium": "Tb", "holmium": "Ho",
    "ytterbium": "Yb", "lutetium": "Lu", "tantalum": "Ta", "rhenium": "Re", "iridium": "Ir", "gold": "Au",
    "thallium": "Tl", "lead": "Pb", "bismuth": "Bi", "astatine": "At", "radium": "Ra", "actinium": "Ac",
    "thorium": "Th",
}


def nuclide_from_code_meaning(text: str) -> str | None:
    """A RadionuclideCodeSequence code meaning -> ``F-18``; None when it names no nuclide.

    >>> nuclide_from_code_meaning("^18^Fluorine"), nuclide_from_code_meaning("F^18^[^18^Fluorine]")
    ('F-18', 'F-18')
    >>> nuclide_from_code_meaning("^99m^Technetium"), nuclide_from_code_meaning("Ga-68")
    ('Tc-99m', 'Ga-68')
    """
    text = str(text or "").strip()
    m = re.match(r"^([A-Z][a-z]?)\^(\d{1,3}m?)\^", text)  # old CTI/Siemens style: F^18^[^18^Fluorine]
    if m:
        return canonical_nuclide(f"{m.group(1)}-{m.group(2)}")
    m = re.search(r"\^(\d{1,3}m?)\^\s*([A-Za-z]+)", text)  # ^18^Fluorine
    if m and m.group(2).lower() in _ELEMENTS:
        return canonical_nuclide(f"{_ELEMENTS[m.group(2).lower()]}-{m.group(1)}")
    m = re.fullmatch(r"([A-Za-z]+)[-\s]?(\d{1,3}m?)", text)  # Fluorine-18
    if m and m.group(1).lower() in _ELEMENTS:
        return canonical_nuclide(f"{_ELEMENTS[m.group(1).lower()]}-{m.group(2)}")
    return canonical_nuclide(text)


_NAME = re.compile(r"(?:(\d{1,3})(m?)[-\s]?([A-Za-z]{1,2})|([A-Za-z]{1,2})[-\s]?(\d{1,3})(m?))")


def canonical_nuclide(text: str) -> str | None:
    """``18F``, ``F18``, ``f-18``, ``99mTc`` -> ``F-18``, ``Tc-99m`` (the spelling of
    :func:`arkit_py.tracer.decay.normalise_name`); None when it is no such name.

    >>> canonical_nuclide("18F"), canonical_nuclide("tc99m"), canonical_nuclide("FDG")
    ('F-18', 'Tc-99m', None)
    """
    m = _NAME.fullmatch(str(text).strip())
    if not m:
        return None
    mass, meta, symbol = m.group(1, 2, 3) if m.group(1) else (m.group(5), m.group(6), m.group(4))
    return f"{symbol[0].upper()}{symbol[1:].lower()}-{int(mass)}{meta.lower()}"


def icrp_half_life_s(name: str) -> float | None:
    """The ICRP-107 half-life (s) of a canonical nuclide name, None if ICRP-107 lacks it."""
    import radioactivedecay as rd

    try:
        return float(rd.Nuclide(name).half_life("s"))
    except (ValueError, KeyError):
        return None


def _nuclide(dss, given: str | None, warnings: list[str]) -> str | None:
    named = None
    for ds in dss[:1]:
        seq = ds.get("RadiopharmaceuticalInformationSequence") or []
        codes = (seq[0].get("RadionuclideCodeSequence") or []) if seq else []
        meaning = _text(codes[0], "CodeMeaning") if codes else None
        if meaning:
            named = nuclide_from_code_meaning(meaning)
            if named is None:
                warnings.append("RadionuclideCodeSequence names no nuclide arkit knows")
    if given is not None:
        chosen = canonical_nuclide(given)
        if chosen is None or icrp_half_life_s(chosen) is None:
            raise InputError(None, f"nuclide {given!r} is not an ICRP-107 nuclide (write it like F-18 or Ga-68)")
        if named is not None and named != chosen:
            warnings.append(f"nuclide {chosen} was given but the header names {named}; {chosen} is used")
        return chosen
    if named is not None and icrp_half_life_s(named) is None:
        warnings.append(f"the header's nuclide {named} is not in ICRP-107")
        return None
    return named


# -- times ------------------------------------------------------------------------------------

def _delay(dss, items, source, half_life: float, warnings: list[str]) -> float:
    """Seconds from injection to the scan start (QIBA's rule; see the module docstring)."""
    series_date = _common(dss, source, "SeriesDate", lambda ds: _date(ds, "SeriesDate", source))
    series_time = _common(dss, source, "SeriesTime", lambda ds: _time(ds, "SeriesTime", source), required=True,
                          why="it is the scan start")
    dated = series_date is not None
    series = datetime.combine(series_date or _NO_DATE, series_time)
    acquisitions = [a for a in (_acquisition(ds, series, dated, source) for ds in dss) if a is not None]
    scan = series
    if acquisitions and min(acquisitions) < series:
        ge = _common(dss, source, "GE private scan date-time (0009,100D)", lambda ds: _ge_scan(ds, series, dated))
        scan, how = (ge, "GE's private scan date-time (0009,100D)") if ge is not None else \
            (min(acquisitions), "the earliest acquisition time")
        if (series - scan).total_seconds() >= 1.0:
            from ...units import format_time

            warnings.append(f"the acquisition began {format_time((series - scan).total_seconds())} before the "
                            f"SeriesTime (a re-processed series?): the scan start is {how}")
    injection, tag = _injection(items, scan, dated, source, warnings)
    delay = (scan - injection).total_seconds()
    if delay < 0:
        from ...units import format_time

        raise InputError(source, f"{tag} {_tag(tag)} is {format_time(-delay)} after the scan start: the injection "
                                 "must come before the scan")
    if delay > 10 * half_life:
        from ...units import format_time

        warnings.append(f"the uptake time ({format_time(delay)}) is more than 10 half-lives")
    return delay


def _dt_of(ds, keyword: str, source) -> tuple[date | None, time | None] | None:
    text = _text(ds, keyword)
    return None if text is None else _datetime(text, keyword, source)


def _acquisition(ds, series: datetime, dated: bool, source) -> datetime | None:
    text = _text(ds, "AcquisitionDateTime")
    if text:
        d, t = _datetime(text, "AcquisitionDateTime", source)
        if t is not None:
            return datetime.combine(d, t) if dated and d is not None else _nearest(t, series)
    t = _time(ds, "AcquisitionTime", source)
    if t is None:
        return None
    d = _date(ds, "AcquisitionDate", source) if dated else None
    return datetime.combine(d, t) if d is not None else _nearest(t, series)


def _ge_scan(ds, series: datetime, dated: bool) -> datetime | None:
    try:
        element = ds.get_private_item(0x0009, 0x0D, _GE)
    except KeyError:
        return None
    text = _element_text(element.value)
    if not text:
        return None
    try:
        if len(text.split(".")[0]) > 6:
            d, t = _datetime(text, "GE private scan date-time (0009,100D)", None)
        else:
            d, t = None, _parse_time(text, "GE private scan time (0009,100D)", None)
    except InputError:
        return None
    if t is None:
        return None
    return datetime.combine(d, t) if dated and d is not None else _nearest(t, series)


def _injection(items, scan: datetime, dated: bool, source, warnings) -> tuple[datetime, str]:
    parsed = _common(items, source, "RadiopharmaceuticalStartDateTime",
                     lambda it: _dt_of(it, "RadiopharmaceuticalStartDateTime", source))
    clock = _common(items, source, "RadiopharmaceuticalStartTime",
                    lambda it: _time(it, "RadiopharmaceuticalStartTime", source))
    if parsed is not None:
        d, t = parsed
        if t is not None:
            if clock is not None and abs(_seconds_of_day(clock) - _seconds_of_day(t)) > 1.0:
                warnings.append("RadiopharmaceuticalStartTime and RadiopharmaceuticalStartDateTime disagree; the "
                                "DateTime is used")
            if dated and d is not None:
                return datetime.combine(d, t), "RadiopharmaceuticalStartDateTime"
            return _injection_day(t, scan, "RadiopharmaceuticalStartDateTime", source, warnings)
        if clock is None:
            raise InputError(source, f"RadiopharmaceuticalStartDateTime {_tag('RadiopharmaceuticalStartDateTime')} "
                                     "has no time of day and RadiopharmaceuticalStartTime is missing")
    if clock is None:
        raise InputError(source, f"RadiopharmaceuticalStartTime {_tag('RadiopharmaceuticalStartTime')} (and "
                                 "RadiopharmaceuticalStartDateTime) is missing: the injection time is needed to "
                                 "decay the dose")
    return _injection_day(clock, scan, "RadiopharmaceuticalStartTime", source, warnings)


def _injection_day(t: time, scan: datetime, tag: str, source, warnings) -> tuple[datetime, str]:
    """An injection clock time without a usable date: on the scan's day, or across midnight."""
    same_day = datetime.combine(scan.date(), t)
    if same_day <= scan:
        return same_day, tag
    day_before = same_day - timedelta(days=1)
    if (scan - day_before).total_seconds() <= MAX_MIDNIGHT_UPTAKE_S:
        warnings.append(f"{tag} is a later clock time than the scan start: taken as the evening before (the uptake "
                        "crosses midnight)")
        return day_before, tag
    return same_day, tag  # after the scan: refused by the caller


def _nearest(t: time, reference: datetime) -> datetime:
    """``t`` on the day before, of or after ``reference`` that is closest to it."""
    options = [datetime.combine(reference.date() + timedelta(days=k), t) for k in (0, -1, 1)]
    return min(options, key=lambda c: abs((c - reference).total_seconds()))


def _seconds_of_day(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


_TM = re.compile(r"(\d{2})(\d{2})?(\d{2})?(?:\.(\d{1,6}))?")
_DA = re.compile(r"(\d{4})\.?(\d{2})\.?(\d{2})")
_DT = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?")


def _parse_time(text: str, tag: str, source) -> time:
    m = _TM.fullmatch(text.replace(":", ""))
    if m:
        hh, mm, ss = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
        if hh < 24 and mm < 60 and ss <= 60:
            micro = int((m.group(4) or "").ljust(6, "0")) if m.group(4) else 0
            return time(hh, mm, min(ss, 59), micro)
    raise InputError(source, f"{tag} {_tag(tag)} is not a DICOM time (HHMMSS.FFFFFF)")


def _parse_date(text: str, tag: str, source) -> date:
    m = _DA.fullmatch(text)
    try:
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        pass
    raise InputError(source, f"{tag} {_tag(tag)} is not a DICOM date (YYYYMMDD)")


def _datetime(text: str, tag: str, source) -> tuple[date | None, time | None]:
    """A DT value -> (date or None, time or None). A UTC offset is dropped: DICOM times of one
    study are in one local time."""
    m = _DT.fullmatch(text.strip())
    if not m:
        raise InputError(source, f"{tag} {_tag(tag)} is not a DICOM date-time (YYYYMMDDHHMMSS.FFFFFF)")
    year, month, day, hh, mm, ss, frac, _offset = m.groups()
    try:
        d = date(int(year), int(month), int(day)) if month and day else None
        t = time(int(hh), int(mm or 0), min(int(ss or 0), 59), int(frac.ljust(6, "0")) if frac else 0) \
            if hh is not None else None
    except ValueError:
        raise InputError(source, f"{tag} {_tag(tag)} is not a valid DICOM date-time") from None
    return d, t


# -- reading tags -----------------------------------------------------------------------------

def _tag(keyword: str) -> str:
    """``PatientWeight`` -> ``(0010,1030)``; '' for what is not a keyword."""
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(keyword)
    return "" if tag is None else f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _element_text(value) -> str | None:
    from pydicom.multival import MultiValue

    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace").rstrip("\x00")
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0] if len(value) else None
        return _element_text(value)
    text = str(value).strip()
    return text or None


def _text(ds, keyword: str) -> str | None:
    return _element_text(ds.get(keyword))


def _upper(ds, keyword: str) -> str | None:
    text = _text(ds, keyword)
    return None if text is None else text.upper()


def _number(ds, keyword: str, source) -> float | None:
    text = _text(ds, keyword)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(source, f"{keyword} {_tag(keyword)} is not a number") from None
    if not math.isfinite(value):
        raise InputError(source, f"{keyword} {_tag(keyword)} is not a finite number")
    return value


def _time(ds, keyword: str, source) -> time | None:
    text = _text(ds, keyword)
    return None if text is None else _parse_time(text, keyword, source)


def _date(ds, keyword: str, source) -> date | None:
    text = _text(ds, keyword)
    return None if text is None else _parse_date(text, keyword, source)


def _private(ds, group: int, offset: int, creator: str, source, label: str) -> float | None:
    try:
        element = ds.get_private_item(group, offset, creator)
    except KeyError:
        return None
    text = _element_text(element.value)
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(source, f"Philips private tag {label} is not a number") from None


def _common(dss: Sequence, source, name: str, read, *, required: bool = False, why: str = ""):
    """The one value of ``name`` across the instances (None if no instance has it).
    InputError when it is missing from some instances but not others, when the values
    differ, or (``required``) when none has it."""
    values = [read(ds) for ds in dss]
    present = [v for v in values if v is not None]
    label = f"{name} {_tag(name)}".rstrip()
    if not present:
        if required:
            raise InputError(source, f"{label} is missing{': ' + why if why else ''}")
        return None
    if len(present) < len(values):
        raise InputError(source, f"{label} is missing from {len(values) - len(present)} of {len(values)} instances")
    first = present[0]
    for v in present[1:]:
        same = math.isclose(v, first, rel_tol=1e-9) if isinstance(v, float) else v == first
        if not same:
            raise InputError(source, f"{label} differs between the instances of the series")
    return first

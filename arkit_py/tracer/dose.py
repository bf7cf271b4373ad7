"""Teaching dosimetry: a self-dose estimate per source region. A TEACHING APPROXIMATION,
not patient dosimetry.

Each region irradiates only itself (the MIRD schema with the self term alone)::

    D(r) = A0 * a(r) * [E_e + sum_i E_i y_i phi_i] / m(r)

    a(r)     TIAC of the region, hours (x 3600 s)
    E_e      electron energy per decay, MeV (beta, conversion and Auger electrons; ICRP 107),
             all absorbed where it is emitted
    E_i y_i  photon lines, MeV and yield per decay (ICRP 107)
    phi_i    photon self-absorbed fraction of a sphere of the region's volume:
             1 - exp(-mu_en/rho(E_i) * rho * r_mean), r_mean = 4 R / 3 (the mean chord of a
             sphere of radius R), mu_en/rho of liquid water (NIST, table below)
    m(r)     the region's mass (a segmentation's volume x density, or the ICRP 89 reference)

Walled organs (MIRD convention): for a ``<organ>_contents`` region the dose reported is the
wall's: half the contents' electron self-dose (the wall surface sees non-penetrating
radiation from one side only) plus the contents' photon self-dose.

Not included, so the numbers are lower bounds of a different quantity than the published
ones: photons from other organs (cross-dose), the remainder of the body, bone-surface and
red-marrow models, the dynamic bladder (volume changing with filling), effective dose.
Published coefficients in the tracer file are printed beside ours with their status, never
used to judge them.

Reference masses (``data/reference_masses.csv``, docs/data-sources.md#reference-masses) are ICRP 89
as quoted by [A] the JNM table "Reference Masses for Organs of Adults", [B] Turner, *Atoms,
Radiation and Radiation Protection*, Table 16.1, [C] PyTheranostics'
``human_phantom_masses.csv``.

>>> round(mu_en_water(0.1), 5)
0.02546
>>> round(mean_chord_cm(4 / 3 * math.pi), 4)  # a sphere of radius 1 cm
1.3333
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import InputError
from ..structures import lookup
from .decay import MEV_TO_J, Nuclide
from .model import Region, TracerModel, Voiding

APPROXIMATION = ("teaching approximation: self-dose only (each region irradiates only itself; no cross-dose "
                 "from other organs or the rest of the body), photons absorbed as in a water sphere of the "
                 "region's volume; not for patient dosimetry")

# Mass energy-absorption coefficient mu_en/rho of liquid water, cm2/g, against photon energy, MeV:
# Hubbell JH, Seltzer SM, Tables of X-Ray Mass Attenuation Coefficients and Mass Energy-Absorption
# Coefficients (NIST Standard Reference Database 126), Table 4, "Water, Liquid",
# https://physics.nist.gov/PhysRefData/XrayMassCoef/ComTab/water.html. Typed in from memory and
# then checked digit for digit against a third-party copy of that NIST table (the physics module
# of the GitHub project z0gSh1u/crip); the NIST page itself was not opened: verified-secondary.
MU_EN_WATER = (
    (1.0e-3, 4065.0), (1.5e-3, 1372.0), (2.0e-3, 615.2), (3.0e-3, 191.7), (4.0e-3, 81.91),
    (5.0e-3, 41.88), (6.0e-3, 24.05), (8.0e-3, 9.915), (1.0e-2, 4.944), (1.5e-2, 1.374),
    (2.0e-2, 0.5503), (3.0e-2, 0.1557), (4.0e-2, 0.06947), (5.0e-2, 0.04223), (6.0e-2, 0.03190),
    (8.0e-2, 0.02597), (0.10, 0.02546), (0.15, 0.02764), (0.20, 0.02967), (0.30, 0.03192),
    (0.40, 0.03279), (0.50, 0.03299), (0.60, 0.03284), (0.80, 0.03206), (1.0, 0.03103),
    (1.25, 0.02965), (1.5, 0.02833), (2.0, 0.02608), (3.0, 0.02281), (4.0, 0.02066),
    (5.0, 0.01915), (6.0, 0.01806), (8.0, 0.01658), (10.0, 0.01566), (15.0, 0.01441),
    (20.0, 0.01382),
)
MU_EN_SOURCE = {
    "citation": "Hubbell & Seltzer, NIST X-Ray Mass Energy-Absorption Coefficients, Table 4, Water, Liquid",
    "url": "https://physics.nist.gov/PhysRefData/XrayMassCoef/ComTab/water.html",
    "status": "verified-secondary",
    "note": "checked against a third-party copy of the NIST table (GitHub z0gSh1u/crip), not the NIST page",
}

# The urinary bladder contents when no segmentation gives them: the cavity of the MIRD
# phantom's bladder, an ellipsoid of semi-axes 4.706, 3.206, 3.206 cm (docs/data-sources.md#mird-phantom,
# as in Geant4's G4MIRDUrinaryBladder.cc): 202.6 mL; derived. No ICRP 89 reference mass of the
# bladder contents was found (docs/data-sources.md#reference-masses).
BLADDER_CONTENTS_ML = 4.0 / 3.0 * math.pi * 4.706 * 3.206 * 3.206

# published units we can set beside mGy/MBq (equivalent dose: w_R = 1 for photons and electrons)
_UNIT_TO_MGY_PER_MBQ = {"mGy/MBq": 1.0, "Gy/GBq": 1.0, "mSv/MBq": 1.0, "Sv/GBq": 1.0, "rad/mCi": 10.0 / 37.0}
_ORGAN_QUANTITIES = ("absorbed dose", "equivalent dose")


# -- physics ------------------------------------------------------------------------------


def mu_en_water(energy_mev):
    """mu_en/rho of liquid water (cm2/g) at ``energy_mev`` (scalar or array, MeV), log-log
    interpolated in the NIST table; below 1 keV the 1 keV value, above 20 MeV the 20 MeV one."""
    e = np.log([row[0] for row in MU_EN_WATER])
    mu = np.log([row[1] for row in MU_EN_WATER])
    x = np.log(np.clip(np.asarray(energy_mev, dtype=np.float64), MU_EN_WATER[0][0], MU_EN_WATER[-1][0]))
    out = np.exp(np.interp(x, e, mu))
    return float(out) if out.ndim == 0 else out


def mean_chord_cm(volume_ml: float) -> float:
    """Mean chord length (cm) of a sphere of ``volume_ml`` (mL = cm3): 4 R / 3 (Cauchy: 4 V / S)."""
    if not volume_ml > 0:
        raise ValueError(f"mean_chord_cm: volume_ml must be positive, got {volume_ml!r}")
    return 4.0 / 3.0 * (3.0 * volume_ml / (4.0 * math.pi)) ** (1.0 / 3.0)


def photon_self_absorbed_fraction(energy_mev, mass_g: float, density_g_ml: float = 1.04):
    """Fraction of photon energy absorbed in a sphere of ``mass_g`` grams and density
    ``density_g_ml`` (g/mL), emitted uniformly inside it: 1 - exp(-mu_en/rho * rho * r_mean).
    In [0, 1); it grows with the mass. Scalar or array like ``energy_mev`` (MeV)."""
    if not (mass_g > 0 and density_g_ml > 0):
        raise ValueError(f"photon_self_absorbed_fraction: mass_g and density_g_ml must be positive, "
                         f"got {mass_g!r}, {density_g_ml!r}")
    r = mean_chord_cm(mass_g / density_g_ml)
    return 1.0 - np.exp(-np.asarray(mu_en_water(energy_mev)) * density_g_ml * r)


@dataclass(frozen=True)
class SelfS:
    """Self-dose per decay (a MIRD self S value), Gy per (Bq s), split by radiation."""

    electron_gy: float
    photon_gy: float
    photon_absorbed_fraction: float  # energy-weighted mean over the photon lines (0 without photons)

    @property
    def total_gy(self) -> float:
        return self.electron_gy + self.photon_gy


def self_s_value(mass_g: float, *, electron_mev: float, photon_lines=(), density_g_ml: float = 1.04) -> SelfS:
    """Self S value of a region of ``mass_g`` grams for a nuclide emitting ``electron_mev``
    (MeV per decay, absorbed locally) and ``photon_lines`` ((MeV, yield per decay), ...)."""
    if not mass_g > 0:
        raise ValueError(f"self_s_value: mass_g must be positive, got {mass_g!r}")
    kg = mass_g / 1000.0
    electron = electron_mev * MEV_TO_J / kg
    lines = np.asarray(photon_lines, dtype=np.float64).reshape(-1, 2)
    emitted = float(np.sum(lines[:, 0] * lines[:, 1])) if len(lines) else 0.0
    if emitted > 0:
        phi = photon_self_absorbed_fraction(lines[:, 0], mass_g, density_g_ml)
        absorbed = float(np.sum(lines[:, 0] * lines[:, 1] * phi))
    else:
        absorbed = 0.0
    return SelfS(electron, absorbed * MEV_TO_J / kg, absorbed / emitted if emitted > 0 else 0.0)


# -- masses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionMass:
    """The mass a region's dose is divided by, and where it comes from. ``grams`` is None
    when there is none (``reason`` says why)."""

    grams: float | None
    source: str
    status: str
    density_g_ml: float = 1.04
    reason: str = ""


@dataclass(frozen=True)
class ReferenceMass:
    organ: str
    male_g: float | None
    female_g: float | None
    status: str
    source: str

    def grams(self, sex: str) -> float | None:
        return self.male_g if sex == "male" else self.female_g


@lru_cache(maxsize=1)
def reference_masses() -> dict[str, ReferenceMass]:
    """ICRP 89 adult reference masses (g) by organ (canonical structure name where one
    exists), from ``data/reference_masses.csv``."""
    text = resources.files("arkit_py.data").joinpath("reference_masses.csv").read_text(encoding="utf-8")
    rows = {}
    for row in csv.DictReader(text.splitlines()):
        rows[row["organ"]] = ReferenceMass(
            row["organ"], float(row["male_g"]) if row["male_g"] else None,
            float(row["female_g"]) if row["female_g"] else None, row["status"], row["source"])
    return rows


def _check_sex(sex: str) -> None:
    if sex not in ("male", "female"):
        raise ValueError(f"sex must be 'male' or 'female', got {sex!r}")


def _density(names) -> float:
    names = list(names)
    return lookup(names[0]).density_g_ml if names else 1.04


def _wall_of(region_id: str) -> str | None:
    return region_id[: -len("_contents")] if region_id.endswith("_contents") else None


def masses_from_reference(model: TracerModel, sex: str = "male") -> dict[str, RegionMass]:
    """Region -> ICRP 89 reference mass: the row named like the region, else the sum of the
    rows of its structures (then of its fallback structures); a region of bones only takes
    the whole skeleton; bladder contents without a row take the MIRD phantom's cavity."""
    _check_sex(sex)
    table = reference_masses()
    out = {}
    for region in model.regions.values():
        out[region.id] = _reference_mass(region, table, sex)
    return out


def _reference_mass(region: Region, table: dict[str, ReferenceMass], sex: str) -> RegionMass:
    label = f"ICRP 89 reference adult {sex}"
    if region.remainder:
        return RegionMass(None, "", "", reason="the remainder of the body: its activity is spread over many tissues")
    if region.id in table and table[region.id].grams(sex):
        row = table[region.id]
        return RegionMass(row.grams(sex), f"{label}: {row.organ} {row.grams(sex):g} g", row.status,
                          _density(region.structures))
    # a contents region's fallback is the whole hollow organ, whose reference row is the wall
    for names in (region.structures,) if _wall_of(region.id) else (region.structures, region.fallback):
        rows = [table[s] for s in names if s in table and table[s].grams(sex)]
        if rows:
            grams = sum(r.grams(sex) for r in rows)
            parts = " + ".join(f"{r.organ} {r.grams(sex):g}" for r in rows)
            return RegionMass(grams, f"{label}: {parts} g", _weakest(r.status for r in rows),
                              _density(r.organ for r in rows))
    if region.structures and all(lookup(s).system == "skeletal" for s in region.structures) and "skeleton" in table:
        row = table["skeleton"]
        return RegionMass(row.grams(sex), f"{label}: whole skeleton {row.grams(sex):g} g (bone and marrow)",
                          row.status, _density(region.structures))
    if region.id == "urinary_bladder_contents":
        density = lookup("urinary_bladder_contents").density_g_ml
        return RegionMass(BLADDER_CONTENTS_ML * density,
                          f"MIRD phantom bladder cavity {BLADDER_CONTENTS_ML:.1f} mL x {density:g} g/mL "
                          "(no reference contents mass found; docs/data-sources.md#reference-masses)", "derived", density)
    names = ", ".join(region.structures if _wall_of(region.id) else region.structures + region.fallback)
    return RegionMass(None, "", "", reason=f"no reference mass for {names or region.id} in data/reference_masses.csv")


_STATUS_ORDER = ("user", "unverified", "secondary-code", "derived", "verified-secondary", "verified-primary")


def _weakest(statuses) -> str:
    statuses = list(statuses)
    return min(statuses, key=lambda s: _STATUS_ORDER.index(s) if s in _STATUS_ORDER else 0)


def masses_from_volumes(model: TracerModel, volumes_ml: dict[str, float],
                        densities: dict[str, float] | None = None) -> dict[str, RegionMass]:
    """Region -> mass from a segmentation: the volumes (mL) of the region's structures
    present in ``volumes_ml`` (else of its fallback structures) times their densities (g/mL;
    default the structure table's), summed."""
    densities = densities or {}
    out = {}
    for region in model.regions.values():
        if region.remainder:
            out[region.id] = RegionMass(None, "", "", reason="the remainder of the body: its activity is spread "
                                                               "over many tissues")
            continue
        names = [s for s in region.structures if volumes_ml.get(s, 0) > 0]
        fallback = not names
        if fallback:
            names = [s for s in region.fallback if volumes_ml.get(s, 0) > 0]
        if not names:
            listed = ", ".join(region.structures + region.fallback)
            out[region.id] = RegionMass(None, "", "", reason=f"none of its structures ({listed}) is in the segmentation")
            continue
        volume = sum(volumes_ml[s] for s in names)
        grams = sum(volumes_ml[s] * densities.get(s, lookup(s).density_g_ml) for s in names)
        rho = grams / volume
        note = " (fallback structure: the whole organ, wall included)" if fallback and _wall_of(region.id) else ""
        out[region.id] = RegionMass(grams, f"segmentation: {volume:.4g} mL ({', '.join(names)}) x {rho:.3g} g/mL"
                                           f"{note}", "derived", rho)
    return out


# -- doses ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoseRow:
    """Our estimate for one source region, with the published values for the same organ.

    organ : the target named like the tracer file's ``published`` rows: the region's ID,
        or for ``<organ>_contents`` the wall (``urinary_bladder``).
    Doses are mGy per MBq administered (``mgy`` at the given activity); None without a mass.
    """

    region: str
    organ: str
    display: str
    tiac_h: float
    mass_g: float | None
    mass_source: str
    mass_status: str
    method: str
    electron_mgy_per_mbq: float | None = None
    photon_mgy_per_mbq: float | None = None
    photon_absorbed_fraction: float | None = None
    mgy_per_mbq: float | None = None
    mgy: float | None = None
    comparable: bool = True
    reason: str = ""
    published: tuple[dict, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["published"] = [dict(p) for p in self.published]
        return out


def _display(name: str) -> str:
    s = lookup(name)
    return s.display if s.known else name.replace("_", " ").capitalize()


def _published_for(model: TracerModel, organ: str, sex: str | None) -> tuple[dict, ...]:
    rows = []
    for p in model.published:
        if p.get("organ") != organ or p.get("quantity") not in _ORGAN_QUANTITIES:
            continue
        if sex is not None and p.get("sex") not in (None, sex):
            continue
        rows.append(_with_mgy(p))
    return tuple(rows)


def _with_mgy(p: dict) -> dict:
    """A published row with its value in mGy/MBq beside it (None for a unit we do not know)."""
    factor = _UNIT_TO_MGY_PER_MBQ.get(str(p.get("unit", "")).replace(" ", ""))
    value = p.get("value")
    return {**p, "mgy_per_mbq": value * factor if factor is not None and isinstance(value, (int, float)) else None}


def absorbed_doses(model: TracerModel, tiac_h: dict[str, float], masses_g: dict[str, RegionMass | float | None], *,
                   activity_bq: float | None = None, sex: str | None = None) -> list[DoseRow]:
    """Self-dose per region (a teaching approximation; see the module docstring).

    tiac_h : region -> TIAC in hours (``model.tiac_regions()`` or fitted curves).
    masses_g : region -> RegionMass (``masses_from_reference`` / ``masses_from_volumes``) or
        plain grams; a region missing or None gets no dose (``comparable: False``).
    activity_bq : administered activity for the ``mgy`` column (default the tracer's).
    sex : keep only published rows for this sex (and those without one).
    """
    n: Nuclide = model.nuclide
    if activity_bq is None and model.activity is not None:
        activity_bq = model.activity.value
    if activity_bq is not None and not activity_bq > 0:
        raise ValueError(f"absorbed_doses: activity_bq must be positive, got {activity_bq!r}")
    rows = []
    for rid, tiac in tiac_h.items():
        region = model.regions.get(rid) or Region(rid, (rid,))
        if not (math.isfinite(tiac) and tiac >= 0):
            raise InputError(None, f"dose: the TIAC of {rid} must be a finite number >= 0, got {tiac!r}")
        wall = _wall_of(rid)
        organ = wall or rid
        if wall:
            display = f"{_display(wall)} wall (from contents)"
        else:
            display = region.display or _display(rid)
        mass = masses_g.get(rid)
        if isinstance(mass, (int, float)):
            mass = RegionMass(float(mass), "given", "user", _density(region.structures))
        published = _published_for(model, organ, sex)
        method = ("wall from contents (MIRD): half the contents' electron dose + their photon dose"
                  if wall else "self-dose")
        if mass is None or mass.grams is None:
            reason = mass.reason if mass is not None else "no mass given"
            rows.append(DoseRow(rid, organ, display, tiac, None, "", "", method, comparable=False,
                                reason=f"no mass: {reason}", published=published))
            continue
        if not mass.grams > 0:
            raise InputError(None, f"dose: the mass of {rid} must be positive, got {mass.grams!r} g")
        s = self_s_value(mass.grams, electron_mev=n.electron_mev, photon_lines=n.photon_lines,
                         density_g_ml=mass.density_g_ml)
        per_mbq = tiac * 3600.0 * 1e6 * 1000.0  # decays per MBq x (mGy per Gy)
        electron = s.electron_gy * per_mbq * (0.5 if wall else 1.0)
        photon = s.photon_gy * per_mbq
        total = electron + photon
        comparable, reason = True, ""
        if region.structures and all(lookup(s).system == "skeletal" for s in region.structures):
            comparable, reason = False, ("the mean over the whole skeleton (bone and marrow); published values "
                                         "for bone seekers are for bone surfaces or red marrow, which need a "
                                         "skeletal model")
        rows.append(DoseRow(rid, organ, display, tiac, mass.grams, mass.source, mass.status, method, electron,
                            photon, s.photon_absorbed_fraction, total,
                            total * activity_bq / 1e6 if activity_bq is not None else None,
                            comparable, reason, published))
    return rows


def _curves_model(tiac_h: dict[str, float], nuclide_name: str) -> TracerModel:
    """A stand-in model for TIACs from a curves file: each column is one structure."""
    regions = {}
    for rid in tiac_h:
        s = lookup(rid)
        remainder = s.system == "body" or rid in ("other", "remainder", "rest_of_body")
        regions[rid] = Region(rid, () if remainder else (s.name,), (), remainder, s.display if s.known else rid)
    return TracerModel("curves", "curves file", nuclide_name, regions, {}, Voiding(None, None), [], {})


def report(model: TracerModel | None, tiac_h: dict[str, float], *, activity_bq: float | None = None,
           sex: str = "male", volumes_ml: dict[str, float] | None = None,
           densities: dict[str, float] | None = None, nuclide: Nuclide | str | None = None) -> dict:
    """A JSON-ready teaching dose report: rows per region (``DoseRow.to_dict``), the
    published values that match no region, and the caveats.

    model : the tracer model; None for TIACs of a curves file (then ``nuclide`` is needed and
        each TIAC key is taken as a structure name).
    volumes_ml : structure volumes of a segmentation; masses from them, otherwise ICRP 89.
    """
    _check_sex(sex)
    if model is None:
        if nuclide is None:
            raise InputError(None, "dose from a curves file needs its nuclide (e.g. --nuclide F-18)")
        from .decay import nuclide as get_nuclide

        name = nuclide.name if isinstance(nuclide, Nuclide) else get_nuclide(str(nuclide)).name
        model = _curves_model(tiac_h, name)
    if volumes_ml:
        masses = masses_from_volumes(model, volumes_ml, densities)
        mass_basis = "segmentation volumes x densities"
    else:
        masses = masses_from_reference(model, sex)
        mass_basis = f"ICRP 89 reference adult {sex} (docs/data-sources.md#reference-masses)"
    rows = absorbed_doses(model, tiac_h, masses, activity_bq=activity_bq, sex=sex)
    if activity_bq is None and model.activity is not None:
        activity_bq = model.activity.value
    matched = {r.organ for r in rows}
    other = [_with_mgy(p) for p in model.published
             if not (p.get("organ") in matched and p.get("quantity") in _ORGAN_QUANTITIES)
             and p.get("sex") in (None, sex) and p.get("quantity") != "TIAC"]  # TIACs: `tracer show`
    n = model.nuclide
    return {
        "tracer": model.id, "name": model.name, "nuclide": n.name, "activity_bq": activity_bq, "sex": sex,
        "approximation": APPROXIMATION,
        "masses": mass_basis,
        "decay_data": {"electron_mev_per_decay": n.electron_mev, "photon_mev_per_decay": n.photon_mev,
                       "source": "ICRP 107 (arkit_py.tracer.decay)"},
        "mu_en": MU_EN_SOURCE,
        "rows": [r.to_dict() for r in rows],
        "published_unmatched": other,
        "not_included": ["cross-dose between organs and from the rest of the body",
                         "bone-surface and red-marrow models", "the dynamic bladder model (volume changes)",
                         "effective dose (tissue weighting)"],
    }


def published_comparison(model: TracerModel, tiac_h: dict[str, float] | None = None, *,
                         sex: str = "male") -> dict[str, float]:
    """Organ -> our mGy/MBq (ICRP 89 masses) for the comparable rows, to print beside the
    tracer file's published values."""
    tiac_h = model.tiac_regions() if tiac_h is None else tiac_h
    rows = absorbed_doses(model, tiac_h, masses_from_reference(model, sex), sex=sex)
    return {r.organ: r.mgy_per_mbq for r in rows if r.comparable and r.mgy_per_mbq is not None}


def _g(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def format_report(rep: dict) -> str:
    """The report as text: ours beside the published values, with every caveat."""
    activity = rep.get("activity_bq")
    at = f"{activity / 1e6:g} MBq" if activity else None
    lines = [f"Teaching dose estimate: {rep['tracer']} ({rep['name']}), {rep['nuclide']}"
             + (f", {at} administered" if at else ""),
             f"  {rep['approximation'].upper()[:1]}{rep['approximation'][1:]}.",
             f"  masses: {rep['masses']}",
             f"  photon absorption: mu_en/rho of water, {rep['mu_en']['citation']} [{rep['mu_en']['status']}]",
             ""]
    width = max([len(r["display"] or r["organ"]) for r in rep["rows"]] + [10])
    head = f"  {'organ':<{width}}  {'TIAC h':>8}  {'mass g':>8}  {'mGy/MBq':>9}" + (f"  {'mGy':>9}" if at else "")
    lines += [head, "  " + "-" * (len(head) - 2)]
    for r in rep["rows"]:
        name = r["display"] or r["organ"]
        line = (f"  {name:<{width}}  {r['tiac_h']:8.4g}  {_g(r['mass_g'], 4):>8}  {_g(r['mgy_per_mbq']):>9}"
                + (f"  {_g(r['mgy']):>9}" if at else ""))
        lines.append(line)
        if r["mass_g"] is not None:
            lines.append(f"  {'':<{width}}    mass: {r['mass_source']} [{r['mass_status']}]; {r['method']}; "
                         f"electrons {_g(r['electron_mgy_per_mbq'])}, photons {_g(r['photon_mgy_per_mbq'])} mGy/MBq "
                         f"(photon fraction absorbed {_g(r['photon_absorbed_fraction'], 2)})")
        if not r["comparable"]:
            lines.append(f"  {'':<{width}}    not comparable: {r['reason']}")
        for p in r["published"]:
            label = p.get("label") or p.get("organ")
            lines.append(f"  {'':<{width}}    published ({label}): {p.get('value')} {p.get('unit')}  "
                         f"{p.get('source')} [{p.get('status')}]  (printed beside ours, not asserted)")
    if rep["published_unmatched"]:
        lines += ["", "  published values with no matching region here (not asserted):"]
        for p in rep["published_unmatched"]:
            label = p.get("label") or p.get("organ") or ""
            lines.append(f"    {p.get('quantity')} {label}: {p.get('value')} {p.get('unit')}  {p.get('source')} "
                         f"[{p.get('status')}]")
    lines += ["", "  not included: " + "; ".join(rep["not_included"])]
    return "\n".join(lines)

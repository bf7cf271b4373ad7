"""Tracer uptake on the hologram: which structure holds how much, when, and in what colour.

Steps (``apply_uptake``)::

    tracer model or curves -> activity per region over time -> split onto structures by
    mass -> coloured quantity (kBq/mL or SUV) per structure -> Uptake on each node and
    the Legend on the document (the glTF writer turns them into the palette morph)

A region maps onto the structures its tracer file names (split by mass, so they share one
concentration); the remainder maps onto the body, whose volume for that purpose is the
body's minus every structure that holds its own region. Structures without uptake keep
their anatomical material.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..structures import lookup
from ..tracer import inputs
from ..tracer.curves import Curves, read_curves_csv
from ..tracer.decay import nuclide as get_nuclide
from ..tracer.model import library_ids, load_tracer
from ..tracer.regions import assign_regions, held_structures, holding_volume, model_regions
from .document import Document, Legend, Material, Uptake
from .palette import UPTAKE_PALETTE

REFERENCE_BODY_G = {"male": 73_000.0, "female": 60_000.0}  # ICRP 89 (docs/data-sources.md)


@dataclass(frozen=True)
class UptakeOptions:
    """How a tracer colours a hologram.

    tracer : library ID (``fdg``), a tracer ``.yaml`` or a curves ``.csv``.
    window : (min, max) of the coloured quantity; values outside are clipped.
    clip_s : playback seconds for the whole real span (120 min -> 12 s by default).
    """

    tracer: str
    activity_bq: float | None = None
    until_s: float | None = None
    step_s: float | None = None
    window: tuple[float, float] | None = None
    quantity: str | None = None  # "concentration", "suv" or "sul"; default: the tracer's
    clip_s: float = 12.0
    voiding_s: float | None = None  # None: the tracer's interval
    no_voiding: bool = False
    decay_corrected: bool = False  # colour decay-corrected concentration
    unit: str = "MBq"  # values of a curves file
    nuclide: str | None = None  # nuclide of a curves file
    curves_decay_corrected: bool = False
    body_weight_g: float | None = None  # for SUV; default the ICRP 89 reference adult
    sex: str = "male"
    height_cm: float | None = None  # for SUL (lean body mass, James)
    bids: str | None = None  # PET-BIDS sidecar of a dynamic PET (default: beside it)
    per_vertex: bool = False  # dynamic PET: colour every vertex (meshes up to MAX_VERTEX_MESH)


MAX_VERTEX_MESH = 20_000  # vertices; bigger meshes keep one colour per structure
MAX_FRAMES = 24  # morph targets per per-vertex mesh


def is_pet(spec: str) -> bool:
    """A PET to measure: a NIfTI (with its PET-BIDS sidecar) or a DICOM PET series (a folder
    holding DICOM, a ``.zip`` or ``.dcm``, a DICM file, ``PATH?series=N``)."""
    return inputs.is_pet(spec)


def _region_table() -> dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]]:
    """Region IDs of every library tracer -> (structures, fallback, remainder), so a curves
    file written by ``simulate`` (columns = regions) maps back onto structures."""
    table: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {}
    for tracer_id in library_ids():
        for r in load_tracer(tracer_id).regions.values():
            table.setdefault(r.id, (r.structures, r.fallback, r.remainder))
    for name in ("other", "remainder", "rest_of_body", "body"):
        table.setdefault(name, ((), (), True))
    return table


def _present(doc: Document) -> tuple[dict[str, tuple[float, float]], str | None]:
    present, body = {}, None
    for s in doc.structures:
        if "label" not in s.extras:
            continue
        volume = float(s.extras.get("volume_ml", 0.0))
        if s.system == "body":
            body = s.name
        present[s.name] = (volume, lookup(s.name).density_g_ml)
    return present, body


def apply_uptake(doc: Document, options: UptakeOptions, *, seg=None, gltf_to_ras=None) -> dict:
    """Set ``Uptake`` on the structures that hold activity and ``doc.legend``; returns a
    report (tracer, nuclide and its ICRP-107 half_life_s, activity_bq, structures, unmapped
    regions, legend).

    seg : the Segmentation the hologram was built from (needed for a dynamic PET).
    gltf_to_ras : (4, 4) scene -> RAS mm (needed for ``per_vertex``).
    """
    spec = options.tracer
    present, body = _present(doc)
    pet = None
    pet_weight_g = None
    source = inputs.resolve_tracer(spec)  # the tracer-input registry: a PET, curves or a model
    if source.kind.pet:
        if seg is None:
            raise ValueError("apply_uptake: a dynamic PET needs the segmentation (seg=)")
        from ..tracer.extract import extract_curves

        dicom = source.kind.name == "dicom-pet"
        pet = source.read(bids=options.bids, nuclide=options.nuclide if dicom else None)
        curves = extract_curves(pet, seg, spec=spec)
        nuclide_name = options.nuclide or pet.nuclide
        if not nuclide_name:
            where = "DICOM header names no nuclide (RadionuclideCodeSequence)" if dicom else \
                "sidecar names no TracerRadionuclide"
            raise InputError(spec, f"the PET {where}; give the nuclide (--nuclide, or nuclide: in a lesson; e.g. F-18)")
        nuclide_name = get_nuclide(nuclide_name).name
        if len(curves.times_s) == 1:  # a static PET: its one frame held from start to end
            curves = _held_frame(curves, pet)
        curves = curves.physical(get_nuclide(nuclide_name).decay_constant)
        curves.times_s = np.maximum(curves.times_s, 0.0)
        regions = {name: ((name,), (), False) for name in curves.regions}
        activity = options.activity_bq or pet.meta.get("injected_bq")
        if pet.meta.get("weight_kg"):
            pet_weight_g = 1000.0 * float(pet.meta["weight_kg"])
        tracer_name = "DICOM PET" if dicom else "dynamic PET"
        quantity = options.quantity or "concentration"
        window = options.window
    elif source.kind.name == "curves":
        curves, regions, nuclide_name, activity = _from_curves(spec, options)
        tracer_name = "curves file"
        quantity = options.quantity or "concentration"
        window = options.window
    else:
        model = source.read()
        if options.no_voiding:
            model = model.with_voiding(None)
        elif options.voiding_s is not None:
            model = model.with_voiding(options.voiding_s)
        activity = options.activity_bq or (model.activity.value if model.activity else 370e6)
        until = options.until_s or model.until_s
        step = options.step_s or until / 48
        times = model.sample_times(until, step, void_gap_s=max(1.0, until * 1e-4))
        curves = model.simulate(activity, times)
        regions = model_regions(model)
        nuclide_name, tracer_name = model.nuclide_name, model.id
        quantity = options.quantity or model.quantity
        window = options.window or model.window
    if quantity not in ("concentration", "suv", "sul"):
        raise InputError(spec, f"the quantity must be concentration, suv or sul, got {quantity!r}")
    n = get_nuclide(nuclide_name)
    until_s = float(curves.times_s[-1])
    if options.until_s:
        until_s = min(until_s, options.until_s)
    keep = curves.times_s <= until_s + 1e-9
    times = curves.times_s[keep]
    values = curves.values[keep]
    if len(times) < 2:
        raise InputError(spec, "fewer than two samples in the chosen time span")

    assignment = assign_regions(regions, present, body)
    held = held_structures(regions, assignment)
    per_structure: dict[str, dict] = {}
    for j, region in enumerate(curves.regions):
        parts = assignment.get(region, [])
        for name, share in parts:
            volume = holding_volume(name, regions[region][2], present, held)
            if curves.quantity == "activity":
                act = values[:, j] * share
                conc = act / volume
            else:  # concentration curves: the activity follows from the structure's volume
                conc = values[:, j]
                act = conc * present[name][0]
            entry = per_structure.setdefault(name, {"activity": np.zeros(len(times)), "conc": np.zeros(len(times)),
                                                    "region": region})
            entry["activity"] = entry["activity"] + act
            entry["conc"] = entry["conc"] + conc
    if not per_structure:
        raise InputError(spec, "no region of this tracer maps onto a structure of this hologram")

    decay_corrected = options.decay_corrected or quantity in ("suv", "sul")
    lam = n.decay_constant
    # SUV: the weight given, else the PET's PatientWeight, else the ICRP 89 reference adult
    weight = options.body_weight_g or pet_weight_g or REFERENCE_BODY_G.get(options.sex, REFERENCE_BODY_G["male"])
    if quantity in ("suv", "sul") and activity is None:
        raise InputError(spec, f"{quantity.upper()} needs the administered activity (--activity)")
    if quantity == "sul":
        from ..tracer.suv import lean_body_mass_kg

        if options.height_cm is None:
            raise InputError(spec, "SUL needs the height (--height, e.g. 175cm) for the lean body mass")
        try:
            weight = 1000.0 * lean_body_mass_kg(weight / 1000.0, options.height_cm, options.sex)
        except ValueError as error:
            raise InputError(spec, f"SUL: {error}") from None

    def colour_quantity(conc_bq_ml: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Physical Bq/mL at times t -> the coloured quantity."""
        conc = conc_bq_ml * (np.exp(lam * t) if decay_corrected else 1.0)
        # SUV or SUL (1 g = 1 mL; weight is the lean body mass for SUL) or kBq/mL
        return conc * weight / activity if quantity in ("suv", "sul") else conc / 1000.0

    coloured = {name: colour_quantity(e["conc"], times) for name, e in per_structure.items()}
    if window is None:
        peak = max(float(v.max()) for v in coloured.values())
        window = (0.0, _nice(0.5 * peak if peak > 0 else 1.0))
    vmin, vmax = float(window[0]), float(window[1])
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmax > vmin):
        raise InputError(spec, f"the window must be min:max with max > min, got {vmin:g}:{vmax:g}")
    unit = "g/mL" if quantity in ("suv", "sul") else "kBq/mL"
    doc.legend = Legend(quantity, unit, vmin, vmax, UPTAKE_PALETTE, float(options.clip_s), until_s,
                        decay_corrected)
    doc.clip_name = f"uptake_0_{_span_name(until_s)}"
    for s in doc.structures:
        if s.name in per_structure:
            e = per_structure[s.name]
            s.uptake = Uptake(times.copy(), coloured[s.name], e["activity"], e["region"])
            # vertex colours carry the palette; unlit keeps the colours' meaning exact
            s.material = Material(s.material.name, (1.0, 1.0, 1.0), s.material.alpha, unlit=True)
    per_vertex = []
    if options.per_vertex:
        if pet is None:
            raise InputError(spec, "--per-vertex needs a PET (a .nii/.nii.gz or DICOM PET tracer)")
        if gltf_to_ras is None:
            raise ValueError("apply_uptake: per_vertex needs gltf_to_ras")
        per_vertex = _vertex_uptake(doc, pet, np.asarray(gltf_to_ras, dtype=np.float64), colour_quantity,
                                    get_nuclide(nuclide_name).decay_constant)
    unmapped = sorted(r for r in curves.regions if not assignment.get(r))
    return {
        "tracer": tracer_name, "nuclide": nuclide_name, "half_life_s": n.half_life_s, "activity_bq": activity,
        "structures": sorted(per_structure), "unmapped_regions": unmapped,
        "legend": doc.legend.to_extras(),
        "per_vertex": per_vertex,
        "weight_g": weight if quantity in ("suv", "sul") else None,
    }


def _held_frame(curves: Curves, pet) -> Curves:
    """One frame -> two samples with its values, at its start and its end (at least 1 s
    later), so a static PET colours the hologram over its frame."""
    start = float(pet.frame_start_s[0])
    end = start + max(float(pet.frame_duration_s[0]), 1.0)
    return Curves(np.array([start, end]), curves.regions, np.repeat(curves.values[:1], 2, axis=0), curves.quantity,
                  curves.decay_corrected, curves.nuclide, dict(curves.meta))


def _vertex_uptake(doc: Document, pet, to_ras: np.ndarray, colour_quantity, lam: float) -> list[str]:
    """Colour every vertex of the structures with uptake (meshes up to MAX_VERTEX_MESH
    vertices) from PET frames sampled along the inward normal; at most MAX_FRAMES frames."""
    from ..tracer.extract import sample_inward

    t_all = np.maximum(np.asarray(pet.mid_times_s, dtype=np.float64), 0.0)
    frames = np.unique(np.round(np.linspace(0, len(t_all) - 1, min(MAX_FRAMES, len(t_all)))).astype(int))
    t = t_all[frames]
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise InputError(pet.source if hasattr(pet, "source") else "PET", "frame mid-times must increase for --per-vertex")
    linear = to_ras[:3, :3]
    done = []
    for s in doc.structures:
        if s.uptake is None or len(s.geometry.positions) > MAX_VERTEX_MESH or s.geometry.normals is None:
            continue
        points = s.geometry.positions.astype(np.float64) @ linear.T + to_ras[:3, 3]
        inward = -(s.geometry.normals.astype(np.float64) @ linear.T)
        samples = sample_inward(pet, points, inward)[:, frames]  # (n, F) Bq/mL as the image stores it
        mean = np.interp(t, s.uptake.times_s, s.uptake.activity_bq) / max(float(s.extras.get("volume_ml", 0)), 1e-9)
        if getattr(pet, "decay_corrected", False):
            samples = samples * np.exp(-lam * t)[None, :]  # physical, as colour_quantity expects
        samples = np.where(np.isfinite(samples), samples, mean[None, :])
        values = np.stack([colour_quantity(samples[:, f], np.full(len(samples), t[f])) for f in range(len(t))], 1)
        s.uptake = Uptake(s.uptake.times_s, s.uptake.values, s.uptake.activity_bq, s.uptake.region,
                          vertex_values=values, frame_times_s=t.copy())
        done.append(s.name)
    return done


def _from_curves(spec: str, options: UptakeOptions):
    if not options.nuclide:
        raise InputError(spec, "a curves file needs its nuclide (--nuclide, or nuclide: in a lesson; e.g. F-18)")
    n = get_nuclide(options.nuclide)
    curves: Curves = read_curves_csv(spec, unit=options.unit, decay_corrected=options.curves_decay_corrected,
                                     nuclide=n.name)
    curves = curves.physical(n.decay_constant)
    known = _region_table()
    regions = {}
    renamed = []
    for column in curves.regions:
        if column in known:
            regions[column] = known[column]
            renamed.append(column)
            continue
        try:
            structure = lookup(column)
        except KeyError:
            structure = None
        name = structure.name if structure is not None else column
        regions[name] = ((name,), (), name == "body")
        renamed.append(name)
    curves = Curves(curves.times_s, tuple(renamed), curves.values, curves.quantity, curves.decay_corrected,
                    curves.nuclide, curves.meta)
    if curves.quantity == "concentration" and options.quantity == "suv" and not options.activity_bq:
        raise InputError(spec, "SUV from concentration curves needs --activity")
    return curves, regions, n.name, options.activity_bq


def _nice(x: float) -> float:
    """A round number at or above x (1, 2, 2.5, 5 x 10^k)."""
    e = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= x:
            return m * e
    return 10 * e


def _span_name(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:g}d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}min"


# -- the palette morph ----------------------------------------------------------------


def hat_weights(u: np.ndarray, stops: int = 8) -> np.ndarray:
    """(k, stops) weights that blend the palette stops into the colour at u in [0, 1]:
    at most two non-zero, summing to 1 (linear interpolation between stops)."""
    x = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0) * (stops - 1)
    i = np.minimum(np.floor(x).astype(int), stops - 2)
    f = x - i
    w = np.zeros((len(x), stops))
    rows = np.arange(len(x))
    w[rows, i] = 1.0 - f
    w[rows, i + 1] += f
    return w


def keyframes(uptake: Uptake, legend: Legend) -> tuple[np.ndarray, np.ndarray]:
    """(clip times (k,), weights (k, targets)) of one structure: a key at every sample and at
    every palette-stop crossing (including the window's ends, where clipping starts), so
    that linear interpolation of the weights reproduces palette(value(t)) exactly for the
    piecewise-linear interpolant of the samples. Per-vertex uptake has one target per
    frame: a key at every frame with that frame's weight 1 (colours blend between frames)."""
    if uptake.vertex_values is not None:
        t = np.asarray(uptake.frame_times_s, dtype=np.float64)
        return t * legend.clip_s / legend.real_s, np.eye(len(t))
    t = np.asarray(uptake.times_s, dtype=np.float64)
    v = np.asarray(uptake.values, dtype=np.float64)
    stops = len(legend.palette) - 1
    s = (v - legend.vmin) / (legend.vmax - legend.vmin) * stops  # unclipped stop coordinate
    extra = []
    for i in range(len(t) - 1):
        a, b = s[i], s[i + 1]
        if a == b:
            continue
        lo, hi = min(a, b), max(a, b)
        for level in range(max(0, math.floor(lo) + 1), min(stops, math.ceil(hi) - 1) + 1):
            if lo < level < hi:
                extra.append(t[i] + (level - a) / (b - a) * (t[i + 1] - t[i]))
    times = np.unique(np.concatenate([t, np.asarray(extra, dtype=np.float64)]))
    u = legend.u(np.interp(times, t, v))
    clip = times * legend.clip_s / legend.real_s
    return clip, hat_weights(u, len(legend.palette))

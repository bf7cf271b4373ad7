"""A lesson hologram's ``ct:`` and ``pet:`` as the bundle carries them: read (or made from the
body, for ``synthetic``), then packed into the hologram's frame by ``scene.volumes``.

The PET's values reach the client with two factors per frame: ``to_display`` takes the
stored Bq/mL to the hologram's coloured quantity (its legend: kBq/mL physical or
decay-corrected, or SUV), so the slice and the organs share one palette and one window;
``suv_per_bq_ml`` to the body-weight SUV a tap reports (null when the activity is unknown).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArkitError
from ..scene.volumes import PET_FRAMES, Packed, frame_times, pack_volumes

DEFAULT_FWHM_MM = 5.0  # a clinical PET's resolution (docs/tracers.md#a-synthetic-pet)


def hologram_volumes(src, hid: str, seg, result, uptake) -> Packed:
    """The packed volumes of hologram ``hid`` (``result`` its build, ``seg`` its body)."""
    h = src.data["holograms"][hid]
    profile = h.get("profile", "phone")
    lo, hi = result.document.bounds()
    arkit = result.document.scene_extras["arkit"]
    to_ras = np.asarray(arkit["gltf_to_ras_mm"], dtype=np.float64)
    tracer = result.report.get("tracer")
    ct = None
    if "ct" in h:
        if h["ct"] == "synthetic":
            from ..sources.synthetic_ct import synthetic_ct

            ct = (synthetic_ct(seg), seg.affine, "synthetic")
        else:
            from ..sources.body import read_ct

            try:
                volume = read_ct(str(src.folder / h["ct"]))
            except ArkitError as error:
                raise src.error(("holograms", hid, "ct"), str(error)) from None
            ct = (volume.data, volume.affine, "CT")
    pet = None
    if "pet" in h:
        pet = _synthetic_pet(src, hid, seg, uptake, tracer, profile) if h["pet"] == "synthetic" \
            else _pet_file(src, hid, uptake, tracer, profile)
    display = _display(arkit.get("legend"), pet)
    return pack_volumes(lo=lo, hi=hi, to_ras=to_ras, profile=profile, ct=ct, pet=pet, display=display)


def _factors(tracer: dict | None, legend: dict | None, t_s: float, *, stored_decay_corrected: bool,
             injected_bq: float | None, weight_g: float, half_life_s: float | None) -> tuple[float | None, float | None]:
    """(to_display, suv_per_bq_ml) of a frame at ``t_s`` whose values are physical Bq/mL, or
    decay-corrected to injection when ``stored_decay_corrected``."""
    lam = math.log(2.0) / half_life_s if half_life_s else 0.0
    to_injection = 1.0 if stored_decay_corrected else math.exp(lam * t_s)  # stored -> decay-corrected
    physical = math.exp(-lam * t_s) if stored_decay_corrected else 1.0  # stored -> physical
    suv = to_injection * weight_g / injected_bq if injected_bq else None
    if legend is None:
        return physical / 1000.0, suv
    if legend["quantity"] in ("suv", "sul"):
        return (to_injection * tracer["weight_g"] / tracer["activity_bq"]) if tracer and tracer.get("weight_g") else suv, suv
    return (to_injection if legend.get("decay_corrected") else physical) / 1000.0, suv


def _weight_g(uptake, pet_meta: dict | None = None) -> float:
    from ..scene.uptake import REFERENCE_BODY_G

    if uptake is not None and uptake.body_weight_g:
        return float(uptake.body_weight_g)
    if pet_meta and pet_meta.get("weight_kg"):
        return 1000.0 * float(pet_meta["weight_kg"])
    sex = uptake.sex if uptake is not None else "male"
    return REFERENCE_BODY_G.get(sex, REFERENCE_BODY_G["male"])


def _synthetic_pet(src, hid: str, seg, uptake, tracer: dict | None, profile: str) -> dict:
    from ..tracer.inputs import load_tracer
    from ..tracer.synthetic import synthetic_pet

    where = ("holograms", hid, "pet")
    try:
        model = load_tracer(uptake.tracer)
    except ArkitError as error:
        raise src.error(where, str(error)) from None
    if uptake.no_voiding:
        model = model.with_voiding(None)
    elif uptake.voiding_s:
        model = model.with_voiding(uptake.voiding_s)
    until = uptake.until_s or model.until_s
    activity = tracer["activity_bq"] if tracer else (uptake.activity_bq or 370e6)
    legend = tracer.get("legend") if tracer else None
    weight = _weight_g(uptake)
    frames, to_display, suv = [], [], []
    for t in frame_times(until, PET_FRAMES[profile]):
        frame = synthetic_pet(seg, model, t, activity_bq=activity, fwhm_mm=DEFAULT_FWHM_MM)
        frames.append((t, frame.data, frame.affine))
        d, s = _factors(tracer, legend, t, stored_decay_corrected=False, injected_bq=activity, weight_g=weight,
                        half_life_s=model.nuclide.half_life_s)
        to_display.append(d)
        suv.append(s)
    return {"frames": frames, "to_display": to_display, "suv_per_bq_ml": suv, "source": "synthetic",
            "fwhm_mm": DEFAULT_FWHM_MM}


def _pet_file(src, hid: str, uptake, tracer: dict | None, profile: str) -> dict:
    from ..tracer.decay import nuclide as get_nuclide
    from ..tracer.inputs import read_pet

    h = src.data["holograms"][hid]
    try:
        pet = read_pet(str(src.folder / h["pet"]), nuclide=h.get("nuclide"))
    except ArkitError as error:
        raise src.error(("holograms", hid, "pet"), str(error)) from None
    n = len(pet.mid_times_s)
    chosen = np.unique(np.round(np.linspace(0, n - 1, min(PET_FRAMES[profile], n))).astype(int))
    name = (tracer or {}).get("nuclide") or pet.nuclide
    half_life = (tracer or {}).get("half_life_s") or (get_nuclide(name).half_life_s if name else None)
    injected = (tracer or {}).get("activity_bq") or pet.meta.get("injected_bq") or \
        (uptake.activity_bq if uptake is not None else None)
    legend = tracer.get("legend") if tracer else None
    weight = _weight_g(uptake, pet.meta)
    frames, to_display, suv = [], [], []
    for i in chosen:
        t = float(max(pet.mid_times_s[i], 0.0))
        frames.append((t if n > 1 else None, pet.frames[i], pet.affine))
        d, s = _factors(tracer, legend, t, stored_decay_corrected=pet.decay_corrected, injected_bq=injected,
                        weight_g=weight, half_life_s=half_life)
        to_display.append(d)
        suv.append(s)
    return {"frames": frames, "to_display": to_display, "suv_per_bq_ml": suv, "source": "PET"}


def _display(legend: dict | None, pet: dict | None) -> dict | None:
    """The PET's colour scale: the hologram's legend, or (no tracer) 0 to half the PET's
    99.9th percentile in kBq/mL, in the uptake palette."""
    if pet is None:
        return None
    if legend is not None:
        return {k: legend[k] for k in ("quantity", "unit", "min", "max", "palette")}
    from ..scene.palette import UPTAKE_PALETTE
    from ..scene.uptake import _nice

    peak = max(float(np.percentile(d, 99.9)) * f for (_, d, _), f in zip(pet["frames"], pet["to_display"]))
    return {"quantity": "concentration", "unit": "kBq/mL", "min": 0.0, "max": _nice(peak if peak > 0 else 1.0),
            "palette": [[round(float(c), 6) for c in stop] for stop in UPTAKE_PALETTE]}


__all__ = ["DEFAULT_FWHM_MM", "hologram_volumes"]

"""Standardized uptake values: SUV normalised by body weight (SUV_bw) and by lean body
mass (SUL), as plain functions on numbers or numpy arrays.

SUV = C × W / A: C the image concentration (Bq/mL), W the body weight (or lean body mass)
in grams with 1 g taken as 1 mL, A the injected activity (Bq) at the reference time of the
image. A uniform distribution of the whole injected activity gives SUV = 1.

Decay: an image that is *not* decay-corrected shows activity as it was at scan time, so
the injected activity is decayed to scan time too, A = A_inj × 2^(−t/T½). An image
decay-corrected to injection already shows activity as at injection, so A = A_inj.

>>> C = 370e6 / 70_000          # 370 MBq spread evenly over 70 kg, as at injection
>>> suv_bw(C, 70_000, 370e6, t_s=3600, half_life_s=6586.2, decay_corrected_image=True)
1.0
>>> C_at_scan = C * 2 ** (-3600 / 6586.2)   # the same, seen 1 h later without correction
>>> round(suv_bw(C_at_scan, 70_000, 370e6, t_s=3600, half_life_s=6586.2, decay_corrected_image=False), 12)
1.0
>>> round(lean_body_mass_kg(70, 175, "male"), 1), round(lean_body_mass_kg(70, 175, "female"), 1)
(57.8, 51.2)
"""

from __future__ import annotations

import math

import numpy as np

SEXES = ("male", "female")

#: James (1976) lean body mass: LBM = a W − b (W/H)², W kg, H cm.
_JAMES = {"male": (1.10, 120.0), "female": (1.07, 148.0)}


def suv_bw(concentration_bq_ml, weight_g: float, injected_bq: float, *, t_s: float, half_life_s: float,
           decay_corrected_image: bool):
    """Body-weight SUV of an image concentration.

    concentration_bq_ml : float or (...) array, Bq/mL, as the image shows it.
    weight_g : body weight in grams (1 g is taken as 1 mL).
    injected_bq : injected activity in Bq, at the time of injection.
    t_s : time of the image after injection, seconds (for a dynamic frame, its mid-time).
    half_life_s : physical half-life of the nuclide, seconds.
    decay_corrected_image : True when the image is decay-corrected to the time of
        injection; False when it shows the activity present at ``t_s``.
    Returns SUV (dimensionless): a float for a scalar, an array of the input's shape
    otherwise.

    >>> suv_bw(10_000.0, 80_000, 400e6, t_s=0, half_life_s=6586.2, decay_corrected_image=False)
    2.0
    >>> suv_bw(np.array([5_000.0, 10_000.0]), 80_000, 400e6, t_s=0, half_life_s=6586.2,
    ...        decay_corrected_image=True)
    array([1., 2.])
    """
    _positive("weight_g", weight_g)
    _positive("injected_bq", injected_bq)
    _positive("half_life_s", half_life_s)
    if not math.isfinite(t_s) or t_s < 0:
        raise ValueError(f"suv_bw: t_s must be a time after injection (>= 0 s), got {t_s!r}")
    activity = injected_bq if decay_corrected_image else injected_bq * 2.0 ** (-t_s / half_life_s)
    return _result(np.asarray(concentration_bq_ml, dtype=np.float64) * (weight_g / activity))


def lean_body_mass_kg(weight_kg: float, height_cm: float, sex: str) -> float:
    """Lean body mass by James' formula: male 1.10 W − 120 (W/H)², female 1.07 W − 148 (W/H)²
    (W in kg, H in cm).

    The formula peaks and then falls with weight (for a man of 175 cm it is largest at
    140 kg), so it understates the lean mass of very obese patients, and it reaches zero
    at twice that weight (:func:`sul` then refuses).

    >>> round(lean_body_mass_kg(70, 175, "male"), 2)
    57.8
    >>> round(lean_body_mass_kg(70, 175, "female"), 2)
    51.22
    """
    _positive("weight_kg", weight_kg)
    _positive("height_cm", height_cm)
    if sex not in _JAMES:
        raise ValueError(f"lean_body_mass_kg: sex must be one of {SEXES}, got {sex!r}")
    a, b = _JAMES[sex]
    return a * weight_kg - b * (weight_kg / height_cm) ** 2


def sul(concentration_bq_ml, weight_kg: float, height_cm: float, sex: str, injected_bq: float, *, t_s: float,
        half_life_s: float, decay_corrected_image: bool):
    """SUV normalised by lean body mass (SUL): :func:`suv_bw` with James' lean body mass
    (:func:`lean_body_mass_kg`) in place of the body weight.

    Arguments as :func:`suv_bw`, but the patient is given as weight in kg, height in cm and
    sex (``"male"`` or ``"female"``).

    >>> C = 370e6 / 57_800          # 370 MBq spread evenly over a 57.8 kg lean mass
    >>> round(sul(C, 70, 175, "male", 370e6, t_s=0, half_life_s=6586.2, decay_corrected_image=True), 12)
    1.0
    """
    lbm_kg = lean_body_mass_kg(weight_kg, height_cm, sex)
    if lbm_kg <= 0:
        raise ValueError(f"sul: James' lean body mass is not positive for weight_kg={weight_kg!r}, "
                         f"height_cm={height_cm!r} (the formula fails at extreme weight for height)")
    return suv_bw(concentration_bq_ml, lbm_kg * 1000.0, injected_bq, t_s=t_s, half_life_s=half_life_s,
                  decay_corrected_image=decay_corrected_image)


def _positive(name: str, value) -> None:
    try:
        ok = math.isfinite(value) and value > 0
    except TypeError:
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not ok:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def _result(values: np.ndarray):
    return float(values) if values.ndim == 0 else values

"""Time-integrated activity coefficients (TIACs, hours) from measured curves.

As clinical dosimetry tools do (OLINDA/EXM's curve fitting, MIRD Pamphlet 16): each
region's physical activity is fitted with sums of one to three exponentials,

=========================  ============================================  ==========
method                     A(t)                                          parameters
=========================  ============================================  ==========
mono-exponential           a e^(-k t)                                    2
bi-exponential             a1 e^(-k1 t) + a2 e^(-k2 t)                   4
uptake-clearance           a (e^(-k1 t) - e^(-k2 t)), k2 > k1            3
bi-exponential uptake      (a1 e^(-k1 t) + a2 e^(-k2 t)) (1 - e^(-ku t))   5
=========================  ============================================  ==========

every rate at least the physical decay constant (a region cannot lose activity more slowly
than the nuclide decays). Families are tried from the fewest parameters up; the first whose
relative RMS residual is within 0.5 % wins (noise-free data: the simplest exact model),
otherwise the corrected Akaike criterion (AICc) chooses. The curve is integrated from 0 to
infinity in closed form (sums of a / k). A region whose fits are poor (or that
has too few samples) falls back to trapezoids from the first sample with a physical-decay
tail after the last, as OLINDA's "trapezoid + physical decay" option. The method is
reported per region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .curves import Curves, check_curves
from .decay import Nuclide

TRAPEZOID = "trapezoid+physical-tail"
MIN_R2 = 0.98


@dataclass
class RegionTiac:
    region: str
    tiac_h: float
    method: str
    detail: dict = field(default_factory=dict)


def _model(kind: str, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    if kind == "mono-exponential":
        return p[0] * np.exp(-p[1] * t)
    if kind == "bi-exponential":
        return p[0] * np.exp(-p[1] * t) + p[2] * np.exp(-p[3] * t)
    if kind == "uptake-clearance":
        return p[0] * (np.exp(-p[1] * t) - np.exp(-(p[1] + p[2]) * t))
    if kind == "bi-exponential uptake":
        return (p[0] * np.exp(-p[1] * t) + p[2] * np.exp(-p[3] * t)) * (1.0 - np.exp(-p[4] * t))
    raise ValueError(kind)


def _integral(kind: str, p: np.ndarray) -> float:
    """Closed-form integral from 0 to infinity (time unit of the fit)."""
    if kind == "mono-exponential":
        return p[0] / p[1]
    if kind == "bi-exponential":
        return p[0] / p[1] + p[2] / p[3]
    if kind == "uptake-clearance":
        return p[0] / p[1] - p[0] / (p[1] + p[2])
    if kind == "bi-exponential uptake":
        return p[0] / p[1] + p[2] / p[3] - p[0] / (p[1] + p[4]) - p[2] / (p[3] + p[4])
    raise ValueError(kind)


_PARAMS = {"mono-exponential": 2, "uptake-clearance": 3, "bi-exponential": 4, "bi-exponential uptake": 5}
_RATES = {"mono-exponential": [1], "bi-exponential": [1, 3], "uptake-clearance": [1], "bi-exponential uptake": [1, 3]}
EXACT_RMS = 0.005


def _starts(kind: str, lam: float, ymax: float) -> list[np.ndarray]:
    """Initial guesses over a grid of half-times (hours)."""
    half = [0.5, 3.0, 20.0, 150.0]
    ks = [lam + math.log(2) / h for h in half]
    out = []
    if kind == "mono-exponential":
        out = [np.array([ymax, k]) for k in ks]
    elif kind == "uptake-clearance":
        out = [np.array([ymax * 1.5, k, d]) for k in ks for d in (math.log(2) / 0.25, math.log(2) / 2.0)]
    elif kind == "bi-exponential":
        out = [np.array([ymax / 2, k1, ymax / 2, k2]) for i, k1 in enumerate(ks) for k2 in ks[:i]]
    elif kind == "bi-exponential uptake":
        out = [np.array([ymax, k1, ymax, k2, math.log(2) / 0.5]) for i, k1 in enumerate(ks) for k2 in ks[:i]]
    return out


def _fit(kind: str, t: np.ndarray, y: np.ndarray, lam: float):
    """Best (params, rss) of one family; residuals are relative (weights 1/max(y, 1e-4 ymax))."""
    from scipy.optimize import least_squares

    ymax = float(y.max())
    w = 1.0 / np.maximum(y, 1e-4 * ymax)
    n = _PARAMS[kind]
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    for i in _RATES[kind]:
        lo[i] = lam
        hi[i] = lam + 200.0
    if kind in ("uptake-clearance", "bi-exponential uptake"):
        lo[-1], hi[-1] = 1e-6, 200.0
    best = None
    for p0 in _starts(kind, lam, ymax):
        p0 = np.clip(p0, lo + 1e-12, np.where(np.isfinite(hi), hi - 1e-12, p0 + 1))
        try:
            r = least_squares(lambda p: (_model(kind, p, t) - y) * w, p0, bounds=(lo, hi), method="trf",
                              x_scale="jac", max_nfev=2000, xtol=1e-14, ftol=1e-14, gtol=1e-14)
        except (ValueError, np.linalg.LinAlgError):
            continue
        rss = float(np.sum(r.fun**2))
        if np.all(np.isfinite(r.x)) and (best is None or rss < best[1]):
            best = (r.x, rss)
    return best


def integrate_region(times_s: np.ndarray, activity: np.ndarray, nuclide: Nuclide) -> tuple[float, str, dict]:
    """(integral of the physical activity in value x hours, method, detail) for one curve."""
    t = np.asarray(times_s, dtype=np.float64) / 3600.0
    y = np.asarray(activity, dtype=np.float64)
    lam = nuclide.decay_constant * 3600.0
    if np.all(y == 0):
        return 0.0, "zero", {}
    ymax = float(y.max())
    yn = y / ymax
    candidates = []
    n = len(t)
    chosen = None
    for kind, p in _PARAMS.items():
        if n < p + 1:
            continue
        fitted = _fit(kind, t, yn, lam)
        if fitted is None:
            continue
        params, rss = fitted
        aicc = (n * math.log(max(rss, n * 1e-14) / n) + 2 * p + 2 * p * (p + 1) / (n - p - 1)) if n > p + 1 else math.inf
        pred = _model(kind, params, t)
        ss_tot = float(np.sum((yn - yn.mean()) ** 2)) or 1.0
        r2 = 1.0 - float(np.sum((pred - yn) ** 2)) / ss_tot
        entry = (aicc, kind, params, r2, math.sqrt(rss / n))
        if _integral(kind, params) <= 0 or r2 < MIN_R2:
            continue
        candidates.append(entry)
        if entry[4] <= EXACT_RMS:
            chosen = entry
            break
    if chosen is None and candidates:
        chosen = min(candidates, key=lambda c: (c[0], c[4]))
    if chosen is not None:
        aicc, kind, params, r2, rms = chosen
        detail = {"r2": round(r2, 6), "relative_rms": round(rms, 6),
                  "effective_half_lives_h": [round(math.log(2) / params[i], 4) for i in _RATES[kind]]}
        return _integral(kind, params) * ymax, kind, detail
    return _trapezoid(t, y, lam), TRAPEZOID, {"reason": "too few samples" if n < 3 else "no good fit"}


def _trapezoid(t: np.ndarray, y: np.ndarray, lam: float) -> float:
    """Trapezoids over the samples; before the first sample, a line from 0 (rising curve)
    or the first value held (falling curve); after the last, physical decay only."""
    area = float(np.sum((y[1:] + y[:-1]) * np.diff(t) / 2)) if len(t) > 1 else 0.0
    if t[0] > 0:
        rising = len(y) > 1 and y[1] > y[0]
        area += t[0] * (y[0] / 2 if rising else y[0])
    return area + float(y[-1]) / lam


def tiac_from_curves(curves: Curves, nuclide: Nuclide, activity_bq: float, *, source: str = "curves") -> list[RegionTiac]:
    """TIACs (hours) of measured activity curves for an administered ``activity_bq``.

    The curves must have finite times from 0 to at most 10 years (``curves.MAX_TIME_S``) and
    finite values >= 0 (InputError naming ``source`` otherwise), whoever built them."""
    check_curves(curves, source)
    if curves.quantity != "activity":
        raise InputError(source, "TIACs need activity curves (MBq, mCi, ...), not concentrations; give --unit "
                                 "for an activity unit")
    if activity_bq <= 0:
        raise ValueError("tiac_from_curves: activity_bq must be positive")
    physical = curves.physical(nuclide.decay_constant)
    out = []
    for i, region in enumerate(curves.regions):
        integral, method, detail = integrate_region(physical.times_s, physical.values[:, i], nuclide)
        out.append(RegionTiac(region, integral / activity_bq, method, detail))
    return out

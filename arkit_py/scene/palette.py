"""The uptake palette: 8 stops whose lightness rises with the value.

Built in OKLab (Ottosson 2020, a perceptual colour space): lightness climbs evenly from
0.55 to 0.97 while the hue turns from blue through magenta and orange to pale yellow, so
"more" always reads as "brighter", also in greyscale and for the common colour-vision
deficiencies (lightness alone orders the stops). The darkest stop is a clear blue with a
relative luminance of about 0.15, not black: additive displays (HoloLens) draw black as
see-through, and a structure with little uptake must stay visible.

>>> stops = uptake_palette()
>>> stops.shape
(8, 3)
>>> bool(all(np.diff(relative_luminance(stops)) > 0))
True
"""

from __future__ import annotations

import math

import numpy as np

_L = np.linspace(0.55, 0.97, 8)
_HUE_DEG = np.array([255.0, 290.0, 330.0, 10.0, 40.0, 65.0, 85.0, 100.0])
_CHROMA = np.array([0.15, 0.16, 0.17, 0.17, 0.16, 0.15, 0.13, 0.09])

_LMS_TO_RGB = np.array([
    [4.0767416621, -3.3077115913, 0.2309699292],
    [-1.2684380046, 2.6097574011, -0.3413193965],
    [-0.0041960863, -0.7034186147, 1.7076147010],
])
_LAB_TO_LMS = np.array([
    [1.0, 0.3963377774, 0.2158037573],
    [1.0, -0.1055613458, -0.0638541728],
    [1.0, -0.0894841775, -1.2914855480],
])


def oklch_to_linear_srgb(lightness: float, chroma: float, hue_deg: float) -> np.ndarray:
    """(3,) linear sRGB of an OKLCh colour (may fall outside [0, 1])."""
    h = math.radians(hue_deg)
    lab = np.array([lightness, chroma * math.cos(h), chroma * math.sin(h)])
    lms = (_LAB_TO_LMS @ lab) ** 3
    return _LMS_TO_RGB @ lms


def _in_gamut(lightness: float, chroma: float, hue: float) -> np.ndarray:
    """The colour, with chroma lowered (bisection) until it fits sRGB."""
    lo, hi = 0.0, chroma
    rgb = oklch_to_linear_srgb(lightness, chroma, hue)
    if np.all((rgb >= 0) & (rgb <= 1)):
        return rgb
    for _ in range(40):
        mid = (lo + hi) / 2
        rgb = oklch_to_linear_srgb(lightness, mid, hue)
        if np.all((rgb >= 0) & (rgb <= 1)):
            lo = mid
        else:
            hi = mid
    return np.clip(oklch_to_linear_srgb(lightness, lo, hue), 0.0, 1.0)


def uptake_palette() -> np.ndarray:
    """(8, 3) float64 linear RGB stops, rounded to 6 decimals (what the files store)."""
    stops = np.array([_in_gamut(L, c, h) for L, c, h in zip(_L, _CHROMA, _HUE_DEG)])
    return np.round(stops, 6)


def relative_luminance(linear_rgb) -> np.ndarray:
    """Rec. 709 relative luminance of linear RGB."""
    return np.asarray(linear_rgb, dtype=np.float64) @ np.array([0.2126, 0.7152, 0.0722])


def linear_to_srgb(c) -> np.ndarray:
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


UPTAKE_PALETTE = uptake_palette()

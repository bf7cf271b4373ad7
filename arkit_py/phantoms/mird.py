"""The MIRD / Cristy-Eckerman (ORNL) stylized adult phantom, voxelized at any voxel size.

Every organ is a predicate on points of the MIRD frame (cm; origin at the centre of the
trunk's base, +x patient's left, +y posterior, +z up), written from the quadric
definitions listed in docs/data-sources.md (ORNL adult parameter set,
ORDOSE-1996 values as quoted by Fulea's two public code bases, re-checked by Monte Carlo).
The MIRD frame maps to RAS mm as R = -10 x, A = -10 y, S = 10 z.

Choices where the sources leave things open (docs/pipeline.md#the-built-in-phantom):

* Head: the MIRD-5 head without a neck (the option whose parts are
  mutually consistent): elliptic cylinder (7, 10) for 70 <= z <= 85.5 plus a half-ellipsoid cap of
  height 8.5 (top at 94 cm), with the MIRD-5 brain (6, 9, 6.5) centred at z = 86.5 and
  the cranium as the shell between the ellipsoid (6.8, 9.8, 8.3) centred at z = 85.5 and
  the brain (Geant4 ``human_phantom`` encoding). The ORDOSE-1996 neck, as it can be read,
  leaves part of the thyroid and upper spine outside the body.
* Facial skeleton: the ORNL elliptic half-ring (a1 7, b1 9, d 1.4) between z = 74 and
  84.73 cm (CT + z1 .. CT + z5), outside the cranium. The ORNL report's intermediate
  planes are not public, so its volume (~256 cm3) is below the published 305 cm3.
* Spine: the ORNL column (z 22 .. 80.54); where its top meets the cranium the cranium wins.
* Hollow organs (stomach, colon, urinary bladder, gallbladder, heart) are solid by default;
  ``walls=1`` adds their contents as separate structures (heart contents: recalled, not
  seen in a primary source).
* Sex: ``male`` adds the testes in the ORNL genital region; ``female`` adds ovaries, uterus
  and breasts. Densities are the ORNL ones: soft tissue 1.04, lung 0.296, bone 1.40 g/mL.
* The esophagus is solid (thoracic tube (1.17, 0.42) plus the ORNL abdominal segment).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..sources.segmentation import Segment, Segmentation
from ..structures import lookup

Predicate = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

# Body extents in the MIRD frame (cm).
X_RANGE = (-20.0, 20.0)
Y_RANGE = (-13.1, 10.0)  # breasts reach y = -13.01
Z_RANGE = (-80.0, 94.0)


@dataclass(frozen=True)
class Part:
    """One labelled region: ``inside(x, y, z)`` on broadcastable arrays (cm, MIRD frame),
    tested only inside ``bbox`` = ((x0, x1), (y0, y1), (z0, z1)).

    published_ml : the published (ORDOSE) volume where one exists for *this* definition,
        with ``verified`` True when it was read in a primary or secondary source
        (docs/data-sources.md#mird-phantom).
    """

    name: str
    bbox: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    inside: Predicate
    published_ml: float | None = None
    verified: bool = False
    sex: str | None = None  # None = both
    walls_only: bool = False  # a contents structure, present with walls=1


def _sq(a):
    return a * a


def _ellipsoid(a, b, c, x0=0.0, y0=0.0, z0=0.0) -> Predicate:
    return lambda x, y, z: _sq((x - x0) / a) + _sq((y - y0) / b) + _sq((z - z0) / c) <= 1.0


def _box_e(a, b, c, x0=0.0, y0=0.0, z0=0.0, m=0.05):
    return ((x0 - a - m, x0 + a + m), (y0 - b - m, y0 + b + m), (z0 - c - m, z0 + c + m))


# --- body envelope -------------------------------------------------------------------

def _trunk(x, y, z):
    return (_sq(x / 20.0) + _sq(y / 10.0) <= 1.0) & (z >= 0.0) & (z <= 70.0)


def _head(x, y, z):
    ring = _sq(x / 7.0) + _sq(y / 10.0)
    cyl = (ring <= 1.0) & (z >= 70.0) & (z <= 85.5)
    cap = (ring + _sq((z - 85.5) / 8.5) <= 1.0) & (z > 85.5)
    return cyl | cap


def _legs(x, y, z):
    return (z >= -80.0) & (z <= 0.0) & (x * x + y * y <= np.abs(x) * 20.0 * (1.0 + z / 100.0))


def _male_genital_region(x, y, z):
    r = 0.5 * 20.0 * (1.0 + z / 100.0)
    return ((z >= -(2 * 2.3 + 0.2)) & (z <= 0.0) & (np.abs(x) <= r) & (y >= -r) & (y <= 0.0)
            & (_sq(x + r) + y * y >= r * r) & (_sq(x - r) + y * y >= r * r))


# --- skeleton --------------------------------------------------------------------------

def _leg_bone(side: int) -> Predicate:
    def inside(x, y, z):
        h = 80.0 - 0.2
        centre = side * (10.0 + 8.0 * z / h)
        radius = 3.5 + z * (3.5 - 1.0) / h
        return (z >= -h) & (z <= 0.0) & (_sq(x - centre) + y * y <= radius * radius)
    return inside


def _arm_bone(side: int) -> Predicate:
    a, b, x0, z2 = 1.4, 2.7, 18.4, 69.0

    def inside(x, y, z):
        xs = side * x
        return ((z >= 0.0) & (z <= z2)
                & (_sq((xs - x0 + (z - z2) * a / (2 * z2)) / a) + _sq(y / b) <= _sq((z2 + z) / (2 * z2))))
    return inside


def _pelvis(x, y, z):
    outer = _sq(x / 12.0) + _sq((y + 3.0) / 12.0) <= 1.0
    inner = _sq(x / 11.3) + _sq((y + 3.8) / 11.3) >= 1.0
    return (z >= 0.0) & (z <= 22.0) & (y >= -3.0) & outer & inner & ((z > 14.0) | (y <= 5.0))


def _cranium_outer(x, y, z):
    return _sq(x / 6.8) + _sq(y / 9.8) + _sq((z - 85.5) / 8.3) <= 1.0


_brain = _ellipsoid(6.0, 9.0, 6.5, 0.0, 0.0, 86.5)


def _cranium(x, y, z):
    return _cranium_outer(x, y, z) & ~_brain(x, y, z)


def _spine(x, y, z):
    return ((z >= 22.0) & (z <= 80.54) & (_sq(x / 2.0) + _sq((y - 5.5) / 2.5) <= 1.0)
            & ~_cranium_outer(x, y, z))


def _ribs(x, y, z):
    z1, c = 35.1, 1.4
    band = np.floor((z - z1) / c)
    return ((z >= z1) & (z <= 67.3) & (np.mod(band, 2) == 0)
            & (_sq(x / 17.0) + _sq(y / 9.8) <= 1.0) & (_sq(x / 16.5) + _sq(y / 9.3) >= 1.0))


def _clavicle(side: int) -> Predicate:
    y0, z1, big_r, r, cot1, cot2 = 11.1, 68.25, 20.0, 0.7883, 7.0342, 0.89415

    def inside(x, y, z):
        xs = side * x
        with np.errstate(divide="ignore", invalid="ignore"):
            cot = (y0 - y) / xs
        rho = np.sqrt(x * x + _sq(y - y0))
        return ((xs > 0) & (y < 0.0) & (cot >= cot2) & (cot <= cot1)
                & (_sq(z - z1) + _sq(big_r - rho) <= r * r))
    return inside


def _scapula(side: int) -> Predicate:
    def inside(x, y, z):
        xs = side * x
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = y / xs
        return ((z >= 50.9) & (z <= 67.3) & (xs > 0) & (y > 0.0) & (slope > 0.25) & (slope < 0.8)
                & (_sq(x / 19.0) + _sq(y / 9.8) <= 1.0) & (_sq(x / 17.0) + _sq(y / 9.8) > 1.0))
    return inside


def _facial(x, y, z):
    return ((y <= 0.0) & (z >= 74.0) & (z <= 84.73)
            & (_sq(x / 7.0) + _sq(y / 9.0) <= 1.0) & (_sq(x / 5.6) + _sq(y / 7.6) >= 1.0)
            & ~_cranium_outer(x, y, z))


# --- organs ----------------------------------------------------------------------------

def _thyroid(x, y, z):
    ct, c, y0, r_in, r_out = 70.0, 5.0, -4.0, 1.0, 2.2
    h = z - ct
    rho2 = x * x + _sq(y - y0)
    tau = np.where(h <= 0.25 * c,
                   1.0 + ((math.sqrt(2) - 2) / 2) * h / (0.25 * c),
                   (2 * math.sqrt(2) - 1) / 3 + ((2 - math.sqrt(2)) / 2) * h / (0.75 * c))
    return ((h >= 0.0) & (h <= c) & (rho2 >= r_in * r_in) & (rho2 <= r_out * r_out) & (y <= y0)
            & (_sq(y - y0 - np.abs(x)) >= 2.0 * tau * tau * rho2))


def _lung(side: int) -> Predicate:
    def inside(x, y, z):
        body = (_sq((x - side * 8.5) / 5.0) + _sq(y / 7.5) + _sq((z - 43.5) / 24.0) <= 1.0) & (z >= 43.5)
        if side < 0:  # right lung: notch for the heart
            cut = (z >= 46.0) & (z <= 54.0) & (y < 1.5) & (x > -5.4)
        else:
            cut = (z >= 43.5) & (z <= 55.0) & (y < 1.0) & (x < 8.0)
        return body & ~cut
    return inside


_HEART_A = np.array([[0.6751, -0.4727, -0.5664], [-0.4640, 0.3249, -0.8241], [0.5736, 0.8191, 0.0]])


def _heart_parts(shrink: bool) -> Predicate:
    vx, avy, lavz, ravz, ax = 8.6, 5.0, 3.1, 7.0, 5.4
    tlvw, trvw, tax = 1.3, 0.6, 0.3

    def inside(x, y, z):
        dx, dy, dz = x - 1.0, y + 1.8, z - 50.0
        x1 = _HEART_A[0, 0] * dx + _HEART_A[0, 1] * dy + _HEART_A[0, 2] * dz
        y1 = _HEART_A[1, 0] * dx + _HEART_A[1, 1] * dy + _HEART_A[1, 2] * dz
        z1 = _HEART_A[2, 0] * dx + _HEART_A[2, 1] * dy + _HEART_A[2, 2] * dz

        def ell(a, b, c):
            return _sq(x1 / a) + _sq(y1 / b) + _sq(z1 / c) <= 1.0

        if not shrink:
            lv = (x1 >= 0) & ell(vx, avy, lavz)
            rv = (x1 >= 0) & (z1 < 0) & ell(vx, avy, ravz)
            la = (x1 < 0) & np.where(z1 >= 0, ell(ax, avy, lavz), ell(ax, avy, lavz - tlvw + tax))
            ra = (x1 < 0) & (z1 < 0) & ell(ax, avy, ravz)
            return lv | rv | la | ra
        lv_outer = ell(vx, avy, lavz)
        lv = (x1 >= 0) & ell(vx - tlvw, avy - tlvw, lavz - tlvw)
        rv = (x1 >= 0) & (z1 < 0) & ell(vx - trvw, avy - trvw, ravz - trvw) & ~lv_outer
        la_outer = np.where(z1 >= 0, ell(ax, avy, lavz), ell(ax, avy, lavz - tlvw + tax))
        la = (x1 < 0) & np.where(z1 >= 0, ell(ax - tax, avy - tax, lavz - tax), ell(ax - tax, avy - tax, lavz - tlvw))
        ra = (x1 < 0) & (z1 < 0) & ell(ax - tax, avy - tax, ravz - tax) & ~la_outer
        return lv | rv | la | ra
    return inside


def _liver(x, y, z):
    return ((z >= 27.0) & (z <= 43.0) & (_sq(x / 16.5) + _sq(y / 8.0) <= 1.0)
            & (x / 35.0 + y / 45.0 - z / 43.0 <= -1.0))


_GB_A = np.array([[0.9615, 0.0, -0.2748], [-0.0574, 0.9779, -0.2008], [0.2687, 0.2090, 0.9403]])


def _gallbladder(r2: float) -> Predicate:
    s, h = 0.2275, 8.0

    def inside(x, y, z):
        dx, dy, dz = x + 4.5, y + 3.2, z - 30.0
        x1 = _GB_A[0, 0] * dx + _GB_A[0, 1] * dy + _GB_A[0, 2] * dz
        y1 = _GB_A[1, 0] * dx + _GB_A[1, 1] * dy + _GB_A[1, 2] * dz
        z1 = _GB_A[2, 0] * dx + _GB_A[2, 1] * dy + _GB_A[2, 2] * dz
        rr = x1 * x1 + y1 * y1
        dome = (z1 < 0) & (rr + z1 * z1 <= r2 * r2)
        cone = (z1 >= 0) & (z1 <= h) & (rr <= _sq(r2 - s * z1))
        return dome | cone
    return inside


def _asc_colon(d: float = 0.0) -> Predicate:
    return lambda x, y, z: ((z >= 14.45) & (z <= 24.0)
                            & (_sq((x + 8.5) / (2.5 - d)) + _sq((y + 2.36) / (2.5 - d)) <= 1.0))


def _trans_colon(d: float = 0.0) -> Predicate:
    return lambda x, y, z: ((x >= -10.5) & (x <= 10.5)
                            & (_sq((y + 2.36) / (2.5 - d)) + _sq((z - 25.5) / (1.5 - d)) <= 1.0))


def _desc_colon(d: float = 0.0) -> Predicate:
    z1, z2 = 8.72, 24.0

    def inside(x, y, z):
        x0 = 9.25 + 0.78 * (z - z2) / (z2 - z1)
        y0 = 2.5 * (z1 - z) / (z2 - z1)
        return (z >= z1) & (z <= z2) & (_sq((x - x0) / (1.88 - d)) + _sq((y - y0) / (2.13 - d)) <= 1.0)
    return inside


def _sigmoid(d: float = 0.0) -> Predicate:
    a = 1.57 - d

    def inside(x, y, z):
        upper = ((x >= 3.0) & (z <= 8.72)
                 & (_sq((np.sqrt(_sq(x - 3.0) + _sq(z - 8.72)) - 5.72) / a) + _sq(y / a) <= 1.0))
        lower = ((x <= 3.0) & (z >= 0.0)
                 & (_sq((np.sqrt(_sq(x - 3.0) + z * z) - 3.0) / a) + _sq(y / a) <= 1.0))
        return upper | lower
    return inside


_colon_asc, _colon_trans, _colon_desc = _asc_colon(), _trans_colon(), _desc_colon()


def _small_bowel(x, y, z):
    region = ((y >= -4.86) & (y <= 2.2) & (z >= 17.0) & (z <= 27.0)
              & (_sq(x / 11.3) + _sq((y + 3.8) / 11.3) <= 1.0))
    return region & ~_colon_asc(x, y, z) & ~_colon_trans(x, y, z) & ~_colon_desc(x, y, z)


_ESO_E = np.array([[0.736084, -0.604969, -0.303634], [0.634945, 0.772557, 0.0], [0.234575, -0.192791, 0.952789]])


def _esophagus(x, y, z):
    y0 = 2.575
    thoracic = (z >= 43.0) & (z <= 70.0) & (_sq(x / 1.17) + _sq((y - y0) / 0.42) <= 1.0)
    dx, dy, dz = x, y - y0, z - 42.3
    xp = _ESO_E[0, 0] * dx + _ESO_E[0, 1] * dy + _ESO_E[0, 2] * dz
    yp = _ESO_E[1, 0] * dx + _ESO_E[1, 1] * dy + _ESO_E[1, 2] * dz
    zp = _ESO_E[2, 0] * dx + _ESO_E[2, 1] * dy + _ESO_E[2, 2] * dz
    abdominal = (xp >= 0.1) & (xp <= 7.8) & (yp * yp + zp * zp <= 0.49)
    return thoracic | abdominal


def _pancreas(x, y, z):
    return ((x >= -1.0) & (_sq((x + 1.0) / 16.0) + _sq(y / 1.2) + _sq((z - 37.0) / 3.3) <= 1.0)
            & ((x < 3.0) | (z >= 37.0)))


def _kidney(side: int) -> Predicate:
    return lambda x, y, z: ((side * x >= 3.0)
                            & (_sq((x - side * 6.0) / 4.5) + _sq((y - 6.0) / 1.5) + _sq((z - 32.5) / 5.5) <= 1.0))


def _adrenal(side: int) -> Predicate:
    theta = side * math.radians(52.0)
    c, s = math.cos(theta), math.sin(theta)

    def inside(x, y, z):
        dx, dy = x - side * 3.5, y - 5.0
        x1 = dx * c + dy * s
        y1 = -dx * s + dy * c
        return (z >= 38.0) & (_sq(x1 / 1.5) + _sq(y1 / 0.5) + _sq((z - 38.0) / 5.0) <= 1.0)
    return inside


def _uterus(x, y, z):
    return (y >= -4.62) & (_sq(x / 2.62) + _sq((y + 2.0) / 5.22) + _sq((z - 14.0) / 1.57) <= 1.0)


def _breast(side: int) -> Predicate:
    ell = _ellipsoid(4.95, 4.35, 4.15, side * 10.0, -8.66, 52.0)
    return lambda x, y, z: ell(x, y, z) & ~(_sq(x / 20.0) + _sq(y / 10.0) <= 1.0)


def _testes(x, y, z):
    return ((_ellipsoid(1.3, 1.5, 2.3, 1.3, -8.0, -2.3)(x, y, z))
            | (_ellipsoid(1.3, 1.5, 2.3, -1.3, -8.0, -2.3)(x, y, z)))


def _ovaries(x, y, z):
    return _ellipsoid(1.0, 0.5, 2.0, 6.0, 0.0, 15.0)(x, y, z) | _ellipsoid(1.0, 0.5, 2.0, -6.0, 0.0, 15.0)(x, y, z)


def _bladder(d: float = 0.0) -> Predicate:
    return _ellipsoid(4.958 - d, 3.458 - d, 3.458 - d, 0.0, -4.5, 8.0)


_TRUNK_BOX = ((-20.0, 20.0), (-10.0, 10.0), (0.0, 70.0))
_HEAD_BOX = ((-7.0, 7.0), (-10.0, 10.0), (70.0, 94.0))
_LEGS_BOX = ((-20.0, 20.0), (-10.0, 10.0), (-80.0, 0.0))

# Body regions first, then skeleton, then organs; later parts overwrite earlier ones.
# Organs do not overlap one another (a pairwise Monte-Carlo check in tests/phantoms).
BODY_PARTS: tuple[Part, ...] = (
    Part("body", _LEGS_BOX, _legs, 20800, True),
    Part("body", _TRUNK_BOX, _trunk, 44000, True),
    Part("body", _HEAD_BOX, _head),
    Part("body", ((-10.0, 10.0), (-10.0, 0.0), (-5.0, 0.0)), _male_genital_region, sex="male"),
)

PARTS: tuple[Part, ...] = (
    Part("leg_bones_left", ((0.5, 13.6), (-3.6, 3.6), (-79.9, 0.0)), _leg_bone(1)),
    Part("leg_bones_right", ((-13.6, -0.5), (-3.6, 3.6), (-79.9, 0.0)), _leg_bone(-1)),
    Part("arm_bones_left", ((16.2, 20.0), (-2.8, 2.8), (0.0, 69.1)), _arm_bone(1)),
    Part("arm_bones_right", ((-20.0, -16.2), (-2.8, 2.8), (0.0, 69.1)), _arm_bone(-1)),
    Part("pelvis", ((-12.1, 12.1), (-3.1, 9.1), (0.0, 22.1)), _pelvis, 606, True),
    Part("rib_cage", ((-17.1, 17.1), (-9.9, 9.9), (35.0, 67.4)), _ribs, 694, True),
    Part("clavicula_left", ((0.0, 21.0), (-11.0, 0.1), (67.3, 69.2)), _clavicle(1)),
    Part("clavicula_right", ((-21.0, 0.0), (-11.0, 0.1), (67.3, 69.2)), _clavicle(-1)),
    Part("scapula_left", ((0.0, 19.1), (0.0, 9.9), (50.8, 67.4)), _scapula(1)),
    Part("scapula_right", ((-19.1, 0.0), (0.0, 9.9), (50.8, 67.4)), _scapula(-1)),
    Part("skull", ((-6.9, 6.9), (-9.9, 9.9), (77.1, 93.9)), _cranium, 846.6),
    Part("facial_skeleton", ((-7.1, 7.1), (-9.1, 0.1), (73.9, 84.8)), _facial),
    Part("spine", ((-2.1, 2.1), (2.9, 8.1), (21.9, 80.6)), _spine),
    Part("brain", _box_e(6.0, 9.0, 6.5, 0, 0, 86.5), _brain, 1470.27),
    Part("thyroid_gland", ((-2.3, 2.3), (-6.3, -3.9), (69.9, 75.1)), _thyroid, 19.9, True),
    Part("thymus", _box_e(1.5, 0.8, 4.0, 0, -7.3, 57.0), _ellipsoid(1.5, 0.8, 4.0, 0, -7.3, 57.0), 20.1, True),
    Part("lung_left", ((3.4, 13.6), (-7.6, 7.6), (43.4, 67.6)), _lung(1)),
    Part("lung_right", ((-13.6, -3.4), (-7.6, 7.6), (43.4, 67.6)), _lung(-1)),
    Part("heart", ((-8.0, 10.5), (-11.0, 6.0), (41.0, 59.5)), _heart_parts(False), 740, True),
    Part("esophagus", ((-1.3, 6.3), (-2.8, 3.1), (39.2, 70.1)), _esophagus),
    Part("liver", ((-16.6, 16.6), (-8.1, 8.1), (26.9, 43.1)), _liver, 1830, True),
    Part("gallbladder", ((-9.0, 0.0), (-7.0, 1.0), (27.0, 39.0)), _gallbladder(2.12), 63.7, True),
    Part("stomach", _box_e(4.0, 3.0, 8.0, 8.0, -4.0, 35.0), _ellipsoid(4.0, 3.0, 8.0, 8.0, -4.0, 35.0), 402, True),
    Part("pancreas", ((-1.1, 15.1), (-1.3, 1.3), (33.6, 40.4)), _pancreas, 90.7, True),
    Part("spleen", _box_e(3.5, 2.0, 6.0, 11.0, 3.0, 37.0), _ellipsoid(3.5, 2.0, 6.0, 11.0, 3.0, 37.0), 176, True),
    Part("kidney_left", ((2.9, 10.6), (4.4, 7.6), (26.9, 38.1)), _kidney(1)),
    Part("kidney_right", ((-10.6, -2.9), (4.4, 7.6), (26.9, 38.1)), _kidney(-1)),
    Part("adrenal_gland_left", ((1.9, 5.1), (3.5, 6.5), (37.9, 43.1)), _adrenal(1)),
    Part("adrenal_gland_right", ((-5.1, -1.9), (3.5, 6.5), (37.9, 43.1)), _adrenal(-1)),
    Part("small_bowel", ((-11.4, 11.4), (-4.9, 2.3), (16.9, 27.1)), _small_bowel, 1060, True),
    Part("colon_ascending", ((-11.1, -5.9), (-4.9, 0.2), (14.4, 24.1)), _colon_asc, 187.5, True),
    Part("colon_transverse", ((-10.6, 10.6), (-4.9, 0.2), (23.9, 27.1)), _colon_trans, 248, True),
    Part("colon_descending", ((6.5, 11.2), (-4.8, 2.3), (8.6, 24.1)), _colon_desc, 191.9, True),
    Part("colon_sigmoid", ((-1.6, 10.4), (-1.6, 1.6), (-0.1, 8.8)), _sigmoid(), 106, True),
    Part("urinary_bladder", _box_e(4.958, 3.458, 3.458, 0, -4.5, 8.0), _bladder(), 248.4),
    Part("testes", ((-2.7, 2.7), (-9.6, -6.4), (-4.7, 0.1)), _testes, 37.6, True, sex="male"),
    Part("ovaries", ((-7.1, 7.1), (-0.6, 0.6), (12.9, 17.1)), _ovaries, 8.38, True, sex="female"),
    Part("uterus", ((-2.7, 2.7), (-4.7, 3.3), (12.3, 15.7)), _uterus, 76, True, sex="female"),
    Part("breast_left", ((5.0, 15.0), (-13.1, -4.2), (47.8, 56.2)), _breast(1), sex="female"),
    Part("breast_right", ((-15.0, -5.0), (-13.1, -4.2), (47.8, 56.2)), _breast(-1), sex="female"),
    # contents of hollow organs (walls=1); drawn over their organ, so the organ keeps its wall
    Part("stomach_contents", _box_e(3.4, 2.4, 7.4, 8.0, -4.0, 35.0),
         _ellipsoid(4.0 - 0.613, 3.0 - 0.613, 8.0 - 0.613, 8.0, -4.0, 35.0), walls_only=True),
    Part("urinary_bladder_contents", _box_e(4.71, 3.21, 3.21, 0, -4.5, 8.0), _bladder(0.252), walls_only=True),
    Part("gallbladder_contents", ((-9.0, 0.0), (-7.0, 1.0), (27.0, 39.0)), _gallbladder(2.0), walls_only=True),
    Part("colon_ascending_contents", ((-11.1, -5.9), (-4.9, 0.2), (14.4, 24.1)), _asc_colon(0.7085), walls_only=True),
    Part("colon_transverse_contents", ((-10.6, 10.6), (-4.9, 0.2), (23.9, 27.1)), _trans_colon(0.527), walls_only=True),
    Part("colon_descending_contents", ((6.5, 11.2), (-4.8, 2.3), (8.6, 24.1)), _desc_colon(0.54), walls_only=True),
    Part("colon_sigmoid_contents", ((-1.6, 10.4), (-1.6, 1.6), (-0.1, 8.8)), _sigmoid(0.66), walls_only=True),
    Part("heart_contents", ((-8.0, 10.5), (-11.0, 6.0), (41.0, 59.5)), _heart_parts(True), walls_only=True),
)

OPTIONS = {"voxel": 2.0, "sex": "male", "walls": 0}


def parts_for(sex: str = "male", walls: bool = False) -> list[Part]:
    """The organ and skeleton parts present for a sex and wall option, in drawing order."""
    return [p for p in PARTS if (p.sex in (None, sex)) and (walls or not p.walls_only)]


def parse_spec(spec: str) -> dict:
    """``phantom:mird-adult?voxel=2&sex=female&walls=1`` -> options (voxel in mm)."""
    parts = urlsplit(spec)
    name = (parts.path or "mird-adult") if parts.scheme == "phantom" else None
    if name != "mird-adult":
        raise InputError(spec, "unknown phantom (the built-in one is phantom:mird-adult)")
    options = dict(OPTIONS)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in OPTIONS:
            raise InputError(spec, f"unknown phantom option {key!r} (options: voxel, sex, walls)")
        options[key] = value
    try:
        options["voxel"] = float(options["voxel"])
    except ValueError:
        raise InputError(spec, f"voxel must be a number of mm, got {options['voxel']!r}") from None
    if not 0.25 <= options["voxel"] <= 20:
        raise InputError(spec, f"voxel must be between 0.25 and 20 mm, got {options['voxel']:g}")
    if options["sex"] not in ("male", "female"):
        raise InputError(spec, f"sex must be male or female, got {options['sex']!r}")
    if str(options["walls"]) not in ("0", "1", "false", "true"):
        raise InputError(spec, f"walls must be 0 or 1, got {options['walls']!r}")
    options["walls"] = str(options["walls"]) in ("1", "true")
    return options


def grid(voxel_mm: float) -> tuple[tuple[int, int, int], np.ndarray]:
    """The phantom's voxel grid: shape (I, J, K) along R, A, S and its voxel -> RAS affine.

    Voxel centres are symmetric about the midsagittal plane (x = 0 falls on a voxel face).
    """
    v = voxel_mm / 10.0  # cm
    nx = int(math.ceil((X_RANGE[1] - X_RANGE[0]) / v)) + 2
    ny = int(math.ceil((Y_RANGE[1] - Y_RANGE[0]) / v)) + 2
    nz = int(math.ceil((Z_RANGE[1] - Z_RANGE[0]) / v)) + 2
    nx += nx % 2
    # R = -x: R runs from -X_RANGE[1]; A = -y runs from -Y_RANGE[1]; S = z from Z_RANGE[0].
    r0 = -(nx / 2) * v
    a0 = -Y_RANGE[1] - v
    s0 = Z_RANGE[0] - v
    affine = np.array([
        [voxel_mm, 0, 0, (r0 + v / 2) * 10],
        [0, voxel_mm, 0, (a0 + v / 2) * 10],
        [0, 0, voxel_mm, (s0 + v / 2) * 10],
        [0, 0, 0, 1.0],
    ])
    return (nx, ny, nz), affine


def _axis_centres(n: int, start_mm: float, voxel_mm: float) -> np.ndarray:
    return (start_mm + voxel_mm * np.arange(n)) / 10.0  # cm


def _bbox_indices(labels: np.ndarray, affine: np.ndarray, part: Part, margin: int = 0):
    """Index ranges of the voxels whose centres lie in ``part.bbox`` (grown by ``margin``
    voxels), and the voxel centre coordinates (cm, MIRD frame) along each axis."""
    v = affine[0, 0]
    r = _axis_centres(labels.shape[0], affine[0, 3], v)  # R in cm
    a = _axis_centres(labels.shape[1], affine[1, 3], v)
    s = _axis_centres(labels.shape[2], affine[2, 3], v)
    (x0, x1), (y0, y1), (z0, z1) = part.bbox
    i = np.flatnonzero((-r >= x0) & (-r <= x1))  # x = -R, y = -A
    j = np.flatnonzero((-a >= y0) & (-a <= y1))
    k = np.flatnonzero((s >= z0) & (s <= z1))
    if not (len(i) and len(j) and len(k)):
        return None
    box = tuple(slice(max(ix[0] - margin, 0), min(ix[-1] + 1 + margin, n))
                for ix, n in zip((i, j, k), labels.shape))
    return box, (-r[box[0]], -a[box[1]], s[box[2]])


def _mask(part: Part, x: np.ndarray, y: np.ndarray, z: np.ndarray, chunk_voxels: int = 1 << 21) -> np.ndarray:
    """Centre-sampled mask of ``part`` on the grid x (I,) y (J,) z (K,), in slabs of k."""
    out = np.empty((len(x), len(y), len(z)), dtype=bool)
    step = max(1, chunk_voxels // (len(x) * len(y)))
    for k0 in range(0, len(z), step):
        zz = z[None, None, k0:k0 + step]
        out[:, :, k0:k0 + step] = part.inside(x[:, None, None], y[None, :, None], zz)
    return out


_SUB = 3  # sub-samples per axis for the partial volume of boundary voxels


def _fill(labels: np.ndarray, affine: np.ndarray, part: Part, value: int, *, exact: bool) -> None:
    """Set ``labels`` to ``value`` on the voxels of ``part``.

    With ``exact``, the voxel set keeps the part's volume: voxels deep inside are taken,
    and of the voxels along the boundary (within one voxel of it) those with the largest
    partial volume (3 x 3 x 3 sub-samples) are taken until the count matches the summed
    partial volumes. Plain centre sampling gains or loses up to half a voxel per cutting
    plane (the small intestine's slab loses 2 % at 2 mm); this does not.
    """
    found = _bbox_indices(labels, affine, part, margin=1 if exact else 0)
    if found is None:
        return
    box, (x, y, z) = found
    mask = _mask(part, x, y, z)
    if exact and mask.any():
        inner = ndimage.binary_erosion(mask)
        edge = ndimage.binary_dilation(mask) & ~inner
        ii, jj, kk = np.nonzero(edge)
        v = affine[0, 0] / 10.0
        offsets = (np.arange(_SUB) + 0.5) / _SUB - 0.5
        ox, oy, oz = (o.ravel() * v for o in np.meshgrid(offsets, offsets, offsets, indexing="ij"))
        fraction = np.zeros(len(ii))
        for start in range(0, len(ii), 1 << 16):
            sl = slice(start, start + (1 << 16))
            px = x[ii[sl], None] - ox  # x = -R: a step of +R is -x; symmetric offsets make it moot
            py = y[jj[sl], None] - oy
            pz = z[kk[sl], None] + oz
            fraction[sl] = part.inside(px, py, pz).mean(axis=1)
        take = int(round(fraction.sum()))
        order = np.argsort(-fraction, kind="stable")[:take]
        mask = inner
        mask[ii[order], jj[order], kk[order]] = True
    labels[box][mask] = value


def voxelize(voxel_mm: float = 2.0, *, sex: str = "male", walls: bool = False, exact: bool = True) -> Segmentation:
    """The phantom as a Segmentation on its RAS-aligned grid (label 1 = body filler).

    exact : keep each organ's analytic volume in its voxel count (see ``_fill``); False
        samples voxel centres only.
    """
    shape, affine = grid(voxel_mm)
    labels = np.zeros(shape, dtype=np.uint8)
    segments = {1: Segment(1, lookup("body"))}
    for part in BODY_PARTS:
        if part.sex in (None, sex):
            _fill(labels, affine, part, 1, exact=False)
    values: dict[str, int] = {}
    for part in parts_for(sex, walls):
        value = values.setdefault(part.name, len(values) + 2)
        segments[value] = Segment(value, lookup(part.name))
        _fill(labels, affine, part, value, exact=exact)
    return Segmentation([labels], affine, segments, body_label=1)


def phantom_from_spec(spec: str) -> Segmentation:
    """``phantom:mird-adult?voxel=2&sex=female`` -> Segmentation."""
    options = parse_spec(spec)
    shape, _ = grid(options["voxel"])
    from ..sources.memory import check_fits  # noqa: PLC0415 (keeps import light)

    check_fits(spec, shape, 1)
    return voxelize(options["voxel"], sex=options["sex"], walls=options["walls"])


def monte_carlo_volume(part: Part, n: int = 10_000_000, seed: int = 0, batch: int = 1_000_000) -> tuple[float, float]:
    """A part's volume (mL) and its 1-sigma error by uniform sampling of its bounding box."""
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1), (z0, z1) = part.bbox
    box = (x1 - x0) * (y1 - y0) * (z1 - z0)
    hits = 0
    for start in range(0, n, batch):
        m = min(batch, n - start)
        x = rng.uniform(x0, x1, m)
        y = rng.uniform(y0, y1, m)
        z = rng.uniform(z0, z1, m)
        hits += int(np.count_nonzero(part.inside(x, y, z)))
    p = hits / n
    return box * p, box * math.sqrt(p * (1 - p) / n)

"""Closed-form truths for tests: distances to ellipsoids, mesh volumes and closure, and the
FDG model's plasma curve and trapped fractions."""

from __future__ import annotations

import numpy as np


def ellipsoid_distance(points: np.ndarray, centre, axes, iterations: int = 80) -> np.ndarray:
    """Euclidean distance from each point to an axis-aligned ellipsoid's surface
    (bisection on the Lagrange parameter, as in Eberly's 'Distance from a point to an
    ellipse, an ellipsoid, or a hyperellipsoid')."""
    a = np.asarray(axes, dtype=np.float64)
    y = np.abs(np.asarray(points, dtype=np.float64) - np.asarray(centre, dtype=np.float64))
    a2 = a * a
    lo = np.full(len(y), -a2.min() * (1 - 1e-12))
    hi = np.full(len(y), a.max() * np.linalg.norm(y, axis=1) + a2.max())
    for _ in range(iterations):
        t = 0.5 * (lo + hi)
        f = (((a * y) / (t[:, None] + a2)) ** 2).sum(axis=1) - 1.0
        lo = np.where(f > 0, t, lo)
        hi = np.where(f > 0, hi, t)
    t = 0.5 * (lo + hi)
    x = a2 * y / (t[:, None] + a2)
    return np.linalg.norm(y - x, axis=1)


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->", a, np.cross(b, c))) / 6.0


def is_closed(faces: np.ndarray) -> bool:
    """Every directed edge is matched by its reverse: a closed, consistently oriented
    surface (possibly touching itself at edges)."""
    f = np.asarray(faces, dtype=np.int64)
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    forward = np.sort(e[:, 0] * (f.max() + 1) + e[:, 1])
    backward = np.sort(e[:, 1] * (f.max() + 1) + e[:, 0])
    return bool(np.array_equal(forward, backward))


def surface_samples(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Vertices and face centroids: points spread over a mesh."""
    v = np.asarray(vertices, dtype=np.float64)
    return np.concatenate([v, v[faces].mean(axis=1)])


def dense_samples(vertices: np.ndarray, faces: np.ndarray, n: int = 8) -> np.ndarray:
    """Points on a barycentric grid of n steps over every triangle: nearest-point queries
    against them approximate point-to-surface distances to within the grid's spacing."""
    v = np.asarray(vertices, dtype=np.float64)
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = i + j <= n
    u, w = i[keep] / n, j[keep] / n
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    pts = a[:, None] + u[None, :, None] * (b - a)[:, None] + w[None, :, None] * (c - a)[:, None]
    return pts.reshape(-1, 3)


# Feng et al. 1993 FDG plasma curve after the bolus (docs/data-sources.md#fdg), per minute.
FENG_A2, FENG_A3, FENG_L2, FENG_L3 = 21.88, 20.81, 0.1191, 0.01043
F18_HALF_LIFE_S = 6586.2


def feng_plasma(t_s) -> np.ndarray:
    """The decay-corrected plasma curve, 1 at t = 0: w_f exp(-l2 t) + w_s exp(-l3 t)."""
    t = np.asarray(t_s, dtype=np.float64) / 60.0
    wf = FENG_A2 / (FENG_A2 + FENG_A3)
    return wf * np.exp(-FENG_L2 * t) + (1 - wf) * np.exp(-FENG_L3 * t)


def fdg_trapped(t_s, final: float, *, decay_corrected: bool = True) -> np.ndarray:
    """A structure that traps FDG from the plasma and ends with ``final`` of the activity
    (decay-corrected): final x (integral of the plasma curve to t) / (its integral to
    infinity). Physical activity adds F-18 decay."""
    t = np.asarray(t_s, dtype=np.float64) / 60.0
    wf = FENG_A2 / (FENG_A2 + FENG_A3)
    area = wf * (1 - np.exp(-FENG_L2 * t)) / FENG_L2 + (1 - wf) * (1 - np.exp(-FENG_L3 * t)) / FENG_L3
    out = final * area / (wf / FENG_L2 + (1 - wf) / FENG_L3)
    return out if decay_corrected else out * 2 ** (-t * 60.0 / F18_HALF_LIFE_S)


def fdg_trapped_tiac_h(final: float) -> float:
    """The TIAC (h) of such a structure: (final / area) x the decay-weighted area / lambda."""
    lam = np.log(2) / (F18_HALF_LIFE_S / 60.0)
    wf = FENG_A2 / (FENG_A2 + FENG_A3)
    area = wf / FENG_L2 + (1 - wf) / FENG_L3
    weighted = wf / (FENG_L2 + lam) + (1 - wf) / (FENG_L3 + lam)
    return float(final / area * weighted / lam / 60.0)

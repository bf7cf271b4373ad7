"""Closed-form truths for tests: distances to ellipsoids, mesh volumes and closure."""

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

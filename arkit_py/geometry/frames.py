"""The one place where coordinates change frame.

RAS mm (every reader's output) -> glTF scene metres::

    X = -R / 1000   (+X = patient's left)
    Y =  S / 1000   (+Y = superior)
    Z =  A / 1000   (+Z = anterior: the patient faces the viewer)

then shifted so the origin is the bottom-centre of the exported structures' bounding box.
``gltf_to_ras_mm`` gives the inverse as a 4x4 matrix for column vectors.

>>> ras_to_gltf(np.array([[10.0, 20.0, 30.0]]))
array([[-0.01,  0.03,  0.02]])
>>> m = gltf_to_ras_mm(np.zeros(3))
>>> (np.array(m) @ np.array([-0.01, 0.03, 0.02, 1.0]))[:3]
array([10., 20., 30.])
>>> bool(np.linalg.det(RAS_TO_GLTF) > 0)  # a rotation: triangle winding is kept
True
"""

from __future__ import annotations

import numpy as np

RAS_TO_GLTF = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # rows: X, Y, Z from (R, A, S)


def ras_to_gltf(points_mm: np.ndarray) -> np.ndarray:
    """(n, 3) RAS mm -> (n, 3) glTF metres (before the origin shift)."""
    return (np.asarray(points_mm, dtype=np.float64) @ RAS_TO_GLTF.T) * 0.001


def bottom_centre(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The origin of an asset with bounds ``lo``..``hi`` (glTF frame): centre in X and Z,
    the lowest point in Y."""
    return np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])


def gltf_to_ras_mm(origin: np.ndarray) -> list[list[float]]:
    """4x4 row-major matrix M with ras_mm = M @ [x, y, z, 1] for scene coordinates
    (x, y, z) of an asset whose glTF positions were shifted by ``-origin``."""
    linear = np.linalg.inv(RAS_TO_GLTF) * 1000.0  # [[-1000,0,0],[0,0,1000],[0,1000,0]]
    m = np.eye(4)
    m[:3, :3] = linear
    m[:3, 3] = linear @ np.asarray(origin, dtype=np.float64)
    return [[float(round(v, 9)) + 0.0 for v in row] for row in m]

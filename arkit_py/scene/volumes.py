"""CT and PET volumes packed with a hologram for the fused slice (docs/hologram-format.md#volumes).

A hologram with ``ct:`` or ``pet:`` carries its volumes resampled into the hologram's own
frame: an axis-aligned grid in glTF metres over the hologram's bounding box (i along +X,
the patient's left; j along +Y, superior; k along +Z, anterior), so that a client's texture
coordinate is a scale and a shift of the position it draws. Each volume (each PET frame) is
one gzip NRRD of unsigned 16-bit integers with ``value = raw * scale + offset``; its
``space directions`` and ``space origin`` are RAS mm, so the asset opens where it belongs in
3D Slicer or any NRRD reader. No float data: phones (iOS) cannot filter float textures
linearly, and 8 bits are too few (an 8-bit PET scaled to its bladder leaves the liver a
handful of levels; an 8-bit CT over -1000..3000 HU steps 16 HU inside a 400 HU window).

The voxel budget (2 bytes a voxel, summed over the CT and every PET frame) is the
profile's: ``BUDGET_BYTES``. The grid is isotropic, its spacing the smallest that fits the
budget and no finer than the source needs (``CT_FLOOR_MM``, ``PET_FLOOR_MM``). A source
finer than the grid is smoothed first (Gaussian, sigma 0.4 of the ratio, per axis) so the
coarser grid does not alias it; then trilinear interpolation through both affines.

A synthetic PET is dynamic: ``PET_FRAMES`` frames at times spaced by a constant ratio from
1/32 of the hologram's tracer span to its end, each the tracer model's concentrations at
that time blurred to the scanner's resolution (``tracer.synthetic``). A PET file keeps up to
``PET_FRAMES`` of its frames (evenly chosen), at their mid times.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np

BUDGET_BYTES = {"phone": 4 << 20, "hololens": 4 << 20, "desktop": 32 << 20}
PET_FRAMES = {"phone": 4, "hololens": 4, "desktop": 8}
CT_FLOOR_MM = 1.0  # no CT grid finer than this
PET_FLOOR_MM = 2.0  # a PET's resolution is ~5 mm FWHM: finer grids add bytes, not detail
CT_OFFSET = -1024  # raw 0 = -1024 HU: air (-1000) and every tissue fit, up to 64511 HU
MEDIA_TYPE = "application/x-nrrd"
FIRST_FRAME = 1 / 32  # of the tracer span: the first synthetic frame


@dataclass
class Grid:
    """An isotropic grid in the hologram's frame: ``shape`` (I, J, K) voxels of ``spacing_m``
    whose outer box starts at ``box_min`` (glTF metres)."""

    shape: tuple[int, int, int]
    spacing_m: float
    box_min: np.ndarray

    @property
    def box_max(self) -> np.ndarray:
        return self.box_min + self.spacing_m * np.asarray(self.shape, dtype=np.float64)

    @property
    def voxels(self) -> int:
        return int(np.prod(self.shape))

    def centres_gltf(self) -> np.ndarray:
        """(N, 3) voxel centres in glTF metres, i fastest (NRRD's and a 3D texture's order)."""
        axes = [self.box_min[a] + self.spacing_m * (np.arange(n) + 0.5) for a, n in enumerate(self.shape)]
        k, j, i = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        return np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)


def grid_for(lo, hi, voxels: int, floor_mm: float) -> Grid:
    """The grid over the box ``lo``..``hi`` (glTF m) with at most ``voxels`` voxels and a
    spacing of at least ``floor_mm``, centred on the box."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    size = np.maximum(hi - lo, 1e-3)
    s = max(floor_mm / 1000.0, float(np.cbrt(np.prod(size) / max(voxels, 1))))
    while True:
        shape = tuple(int(max(1, math.ceil(v / s - 1e-9))) for v in size)
        if int(np.prod(shape)) <= voxels or s > 10:
            break
        s *= 1.01  # rounding up each axis can overshoot: widen until it fits
    centre = (lo + hi) / 2
    box_min = centre - s * np.asarray(shape, dtype=np.float64) / 2
    return Grid(shape, s, box_min)


def resample(data: np.ndarray, affine: np.ndarray, grid: Grid, to_ras: np.ndarray, *, outside: float) -> np.ndarray:
    """``data`` (voxel -> RAS mm by ``affine``) at the grid's voxel centres: (I, J, K)
    float32, ``outside`` beyond the source."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    data = np.asarray(data, dtype=np.float32)
    affine = np.asarray(affine, dtype=np.float64)
    src_mm = np.linalg.norm(affine[:3, :3], axis=0)
    ratio = grid.spacing_m * 1000.0 / np.maximum(src_mm, 1e-6)
    sigma = np.where(ratio > 1.25, 0.4 * ratio, 0.0)
    if np.any(sigma > 0):
        data = gaussian_filter(data, sigma, mode="nearest", truncate=3.0)
    to_voxel = np.linalg.inv(affine) @ np.asarray(to_ras, dtype=np.float64)
    out = np.empty(grid.voxels, dtype=np.float32)
    centres = grid.centres_gltf()
    step = 1 << 20
    for start in range(0, len(centres), step):  # bounded memory for big grids
        p = centres[start:start + step]
        ijk = p @ to_voxel[:3, :3].T + to_voxel[:3, 3]
        out[start:start + step] = map_coordinates(data, ijk.T, order=1, mode="constant", cval=outside)
    return out.reshape(grid.shape[::-1]).transpose(2, 1, 0)  # (K, J, I) i-fastest -> (I, J, K)


def nrrd_bytes(raw: np.ndarray, grid: Grid, to_ras: np.ndarray, content: str) -> bytes:
    """A gzip NRRD of ``raw`` (I, J, K) uint16 with RAS space directions and origin."""
    import nrrd

    m = np.asarray(to_ras, dtype=np.float64)
    directions = (m[:3, :3] * grid.spacing_m).T  # row a: the RAS step of voxel axis a
    origin = m[:3, :3] @ (grid.box_min + grid.spacing_m / 2) + m[:3, 3]
    header = {"space": "right-anterior-superior", "space directions": np.round(directions, 6),
              "space origin": np.round(origin, 6), "kinds": ["domain"] * 3, "encoding": "gzip",
              "content": content}
    buf = io.BytesIO()
    nrrd.write(buf, np.asarray(raw, dtype="<u2"), header, compression_level=6, index_order="F")
    return buf.getvalue()


@dataclass
class Packed:
    """The volumes of one hologram: ``meta`` as lesson.json carries it (assets named by
    their digests) and ``files`` digest -> NRRD bytes."""

    meta: dict = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, data: bytes) -> dict:
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        self.files[digest] = data
        return {"path": f"assets/{digest}.nrrd", "sha256": digest, "size": len(data), "type": MEDIA_TYPE}


def _box(grid: Grid, to_ras: np.ndarray) -> dict:
    """The grid as lesson.json gives it: its box in the hologram's frame and in RAS mm."""
    m = np.asarray(to_ras, dtype=np.float64)
    corners = np.array([[x, y, z] for x in (grid.box_min[0], grid.box_max[0]) for y in (grid.box_min[1], grid.box_max[1])
                        for z in (grid.box_min[2], grid.box_max[2])]) @ m[:3, :3].T + m[:3, 3]
    return {"shape": list(grid.shape), "spacing_m": round(grid.spacing_m, 9),
            "box_min": [round(float(v), 9) for v in grid.box_min],
            "box_max": [round(float(v), 9) for v in grid.box_max],
            "ras_min": [round(float(v), 3) for v in corners.min(0)],
            "ras_max": [round(float(v), 3) for v in corners.max(0)]}


def frame_times(until_s: float, n: int) -> list[float]:
    """``n`` synthetic PET times from ``until_s * FIRST_FRAME`` to ``until_s``, a constant
    ratio apart (kinetics are fastest early)."""
    if n == 1:
        return [float(until_s)]
    first = until_s * FIRST_FRAME
    return [float(round(first * (until_s / first) ** (i / (n - 1)), 3)) for i in range(n)]


def pack_volumes(*, lo, hi, to_ras, profile: str, ct=None, pet=None, display=None) -> Packed:
    """Pack ``ct`` (``(data HU, affine)``) and ``pet`` (``{"frames": [(time_s, data Bq/mL,
    affine)], "to_display": [..], "suv_per_bq_ml": [..], ...}``) over the hologram box
    ``lo``..``hi`` (glTF m) for ``profile``. ``display`` is the PET's colour scale
    ``{quantity, unit, window}`` (the hologram's legend, or a window of its own)."""
    packed = Packed()
    budget = BUDGET_BYTES[profile] // 2  # voxels of 2 bytes
    n_pet = len(pet["frames"]) if pet else 0
    ct_voxels = budget // 2 if ct is not None and pet else budget
    pet_voxels = (budget - (ct_voxels if ct is not None else 0)) // max(n_pet, 1)
    if ct is not None:
        grid = grid_for(lo, hi, ct_voxels, CT_FLOOR_MM)
        hu = resample(ct[0], ct[1], grid, to_ras, outside=-1000.0)
        raw = np.clip(np.rint(hu) - CT_OFFSET, 0, 65535).astype(np.uint16)
        asset = packed.add(nrrd_bytes(raw, grid, to_ras, "CT, HU = raw - 1024"))
        packed.meta["ct"] = {"unit": "HU", "scale": 1.0, "offset": float(CT_OFFSET), "source": ct[2], **_box(grid, to_ras),
                             "frames": [{"time_s": None, "asset": asset}]}
    if pet:
        grid = grid_for(lo, hi, pet_voxels, PET_FLOOR_MM)
        values = [np.maximum(resample(d, a, grid, to_ras, outside=0.0), 0.0) for _, d, a in pet["frames"]]
        peak = max(float(v.max()) for v in values)
        scale = peak / 65535.0 if peak > 0 else 1.0
        frames = []
        for i, ((t, _, _), v) in enumerate(zip(pet["frames"], values)):
            raw = np.clip(np.rint(v / scale), 0, 65535).astype(np.uint16)
            asset = packed.add(nrrd_bytes(raw, grid, to_ras, f"PET, Bq/mL = raw * {scale:.9g}"))
            frames.append({"time_s": None if t is None else round(float(t), 3), "asset": asset,
                           "to_display": _sig(pet["to_display"][i]), "suv_per_bq_ml": _sig(pet["suv_per_bq_ml"][i])})
        packed.meta["pet"] = {"unit": "Bq/mL", "scale": float(f"{scale:.9g}"), "offset": 0.0, "source": pet["source"],
                              **_box(grid, to_ras), "frames": frames, "display": display,
                              **({"fwhm_mm": pet["fwhm_mm"]} if pet.get("fwhm_mm") is not None else {})}
    return packed


def _sig(value):
    return None if value is None else float(f"{float(value):.9g}")


def voxel_bytes(meta: dict) -> int:
    """The bytes a client holds for the volumes of ``meta`` (2 per voxel per frame)."""
    return sum(2 * int(np.prod(v["shape"])) * len(v["frames"]) for v in meta.values())


__all__ = ["BUDGET_BYTES", "CT_OFFSET", "Grid", "MEDIA_TYPE", "PET_FRAMES", "Packed", "frame_times", "grid_for",
           "nrrd_bytes", "pack_volumes", "resample", "voxel_bytes"]

"""A PET with a known truth: a label volume filled with a tracer model's activity
concentrations at one time, blurred by a scanner's resolution (``arkit tracer pet``).

Each structure's concentration is the one its hologram is coloured with (the same region
to structure assignment, shares by mass, and the body's remainder spread over the envelope
less the structures that hold their own region: ``tracer.regions.assign_regions``), in Bq/mL at
that time: what a scanner reports for a frame decay-corrected to its start. Then, in order:

- optional noise, a teaching stand-in for counting statistics: each voxel scaled by
  ``1 + noise * N(0, 1)`` (clipped at 0), seeded, before the blur (so it is correlated
  over about a resolution element, as a reconstructed image's is);
- a Gaussian blur of ``fwhm_mm`` (sigma = FWHM / 2.3548 per axis in voxels, from the grid's
  own spacing, so anisotropic voxels blur alike in mm), zero outside the grid.

The sidecar is PET-BIDS, so ``arkit hologram BODY --tracer pet.nii.gz`` and ``arkit tracer
extract`` read it back: one frame at the given time, Units Bq/mL, decay-corrected to the
scan start, the nuclide, the injected activity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..sources.segmentation import Segmentation
from .kinetics import TracerModel
from .regions import assign_regions, held_structures, holding_volume, model_regions

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # 2.3548


@dataclass
class SyntheticPet:
    data: np.ndarray  # (I, J, K) float32, Bq/mL
    affine: np.ndarray  # voxel -> RAS mm (the label volume's)
    truth: dict[str, float]  # structure -> its concentration before blur and noise, Bq/mL
    sidecar: dict = field(default_factory=dict)


def spacing_mm(affine: np.ndarray) -> np.ndarray:
    """The length in mm of one voxel step along each voxel axis."""
    return np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3], axis=0)


def structure_concentrations(seg: Segmentation, model: TracerModel, at_s: float,
                             activity_bq: float) -> tuple[dict[str, float], str | None, set[str]]:
    """(structure -> Bq/mL at ``at_s``, the body's name, the structures holding their own
    region), as the hologram's colouring assigns them."""
    from ..structures import lookup

    counts = seg.voxel_counts()
    vv = seg.voxel_volume_ml
    present: dict[str, tuple[float, float]] = {}
    for label, segment in seg.segments.items():
        n = counts.get(label, 0)
        if n:
            name = segment.structure.name
            volume = present.get(name, (0.0, 0.0))[0] + n * vv
            present[name] = (volume, lookup(name).density_g_ml)
    body = seg.segments[seg.body_label].structure.name if seg.body_label in seg.segments else None
    envelope = sum(v for v, _ in present.values())
    if body is not None:  # the body's volume is its envelope, as the hologram's body mesh encloses
        present[body] = (envelope, present.get(body, (0.0, 1.0))[1])
    regions = model_regions(model)
    assignment = assign_regions(regions, present, body)
    held = held_structures(regions, assignment)
    times = model.sample_times(at_s, at_s / 48.0, void_gap_s=max(1.0, at_s * 1e-4))
    curves = model.simulate(activity_bq, times)
    last = int(np.argmin(np.abs(curves.times_s - at_s)))
    conc: dict[str, float] = {}
    for j, region in enumerate(curves.regions):
        for name, share in assignment.get(region, []):
            volume = holding_volume(name, regions[region][2], present, held)
            conc[name] = conc.get(name, 0.0) + float(curves.values[last, j]) * share / volume
    return conc, body, held


def synthetic_pet(seg: Segmentation, model: TracerModel, at_s: float, *, activity_bq: float | None = None,
                  fwhm_mm: float = 5.0, noise: float = 0.0, seed: int = 0) -> SyntheticPet:
    """The PET of ``seg`` under ``model`` at ``at_s`` seconds after administration."""
    from scipy.ndimage import gaussian_filter

    if not at_s > 0:
        raise ValueError("synthetic_pet: the time must be after administration")
    if not fwhm_mm >= 0 or not noise >= 0:
        raise ValueError("synthetic_pet: fwhm_mm and noise must not be negative")
    activity = float(activity_bq or (model.activity.value if model.activity else 370e6))
    conc, body, held = structure_concentrations(seg, model, at_s, activity)
    data = np.zeros(seg.shape, dtype=np.float32)
    remainder = conc.get(body, 0.0) if body is not None else 0.0
    for layer in seg.layers:  # the envelope first: every labelled voxel not held elsewhere is the body's
        if remainder:
            data[layer > 0] = remainder
    for label, segment in sorted(seg.segments.items()):
        name = segment.structure.name
        if name in held and name in conc:
            data[seg.layers[segment.layer] == label] = conc[name]
    if noise > 0:
        rng = np.random.default_rng(seed)
        data *= np.clip(1.0 + noise * rng.standard_normal(data.shape), 0.0, None).astype(np.float32)
    if fwhm_mm > 0:
        sigma = fwhm_mm / FWHM_PER_SIGMA / spacing_mm(seg.affine)
        data = gaussian_filter(data, sigma, mode="constant", cval=0.0, truncate=4.0).astype(np.float32)
    n = model.nuclide
    sidecar = {
        "Modality": "PT",
        "Manufacturer": "arkit (synthetic PET)",
        "TracerName": model.name,
        "TracerRadionuclide": n.name.replace("-", ""),
        "InjectedRadioactivity": round(activity / 1e6, 6),
        "InjectedRadioactivityUnits": "MBq",
        "Units": "Bq/mL",
        "TimeZero": "00:00:00",
        "InjectionStart": 0,
        "ScanStart": at_s,
        # one instantaneous frame: the concentrations at at_s (its middle is at_s)
        "FrameTimesStart": [at_s - 0.5],
        "FrameDuration": [1.0],
        "ImageDecayCorrected": True,
        "ImageDecayCorrectionTime": at_s,  # the values are the concentrations at at_s
        "ReconMethodName": "none: synthetic, from a compartment model",
        "ReconFilterType": "Gaussian" if fwhm_mm > 0 else "none",
        "ReconFilterSize": fwhm_mm,
        "AttenuationCorrection": "none (synthetic)",
        "arkit": {"tracer": model.id, "time_s": at_s, "fwhm_mm": fwhm_mm, "noise": noise, "seed": seed,
                  "truth_bq_per_ml": {k: round(v, 6) for k, v in sorted(conc.items())}},
    }
    return SyntheticPet(data, np.asarray(seg.affine, dtype=np.float64), conc, sidecar)


__all__ = ["FWHM_PER_SIGMA", "SyntheticPet", "spacing_mm", "structure_concentrations", "synthetic_pet"]

"""A CT for a body without scans: each structure's CT number from its mass density,
HU = 1000 (rho - 1) (water 0, air outside the body -1000), for the fused PET/CT slice.

A teaching approximation: CT numbers follow the attenuation of the scanner's beam, which the
mass density sets for soft tissue and lung (electron densities within a few % of it) but not
for bone, whose calcium adds photoelectric absorption. With the structure table's densities
(ICRP 89: soft tissues 1.04 -> +40 HU, lungs 0.296 -> -704 HU, the skeleton's average 1.4
with marrow -> +400 HU) soft tissue and lung sit where a real CT puts them and bone reads like
trabecular bone, below cortical bone's +1000 and more.
"""

from __future__ import annotations

import numpy as np

from ..structures import lookup
from .segmentation import Segmentation

AIR_HU = -1000


def hounsfield(density_g_ml: float) -> int:
    """The CT number of a tissue of mass density ``density_g_ml``, clipped to [-1000, 3071]."""
    return int(np.clip(round(1000.0 * (float(density_g_ml) - 1.0)), AIR_HU, 3071))


def synthetic_ct(seg: Segmentation) -> np.ndarray:
    """(I, J, K) int16 HU on the segmentation's grid: air outside every label, then each
    label's structure (layers in order, later ones over earlier)."""
    out = np.full(seg.shape, AIR_HU, dtype=np.int16)
    for label, segment in sorted(seg.segments.items(), key=lambda kv: (kv[0] != seg.body_label, kv[0])):
        out[seg.layers[segment.layer] == label] = hounsfield(lookup(segment.structure.name).density_g_ml)
    return out


__all__ = ["AIR_HU", "hounsfield", "synthetic_ct"]

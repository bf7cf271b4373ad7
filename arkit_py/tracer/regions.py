"""Which structures hold a tracer region's activity: shares by mass (the hologram's colours
and the synthetic PET assign alike)."""

from __future__ import annotations


def assign_regions(regions: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]],
                   present: dict[str, tuple[float, float]], body: str | None) -> dict[str, list[tuple[str, float]]]:
    """Region -> [(structure, share of the region's activity)], shares by mass.

    present : structure name -> (volume mL, density g/mL) of the structures in the hologram.
    body : the name of the body envelope node (the remainder's home), if any.
    """
    out: dict[str, list[tuple[str, float]]] = {}
    for rid, (structures, fallback, remainder) in regions.items():
        if remainder:
            out[rid] = [(body, 1.0)] if body else []
            continue
        names = [s for s in structures if s in present] or [s for s in fallback if s in present]
        mass = {s: present[s][0] * present[s][1] for s in names}
        total = sum(mass.values())
        out[rid] = [(s, mass[s] / total) for s in names] if total > 0 else []
    return out


__all__ = ["assign_regions"]

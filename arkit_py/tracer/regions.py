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



def model_regions(model) -> dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]]:
    """Region ID -> (structures, fallback, remainder) of a TracerModel."""
    return {r.id: (r.structures, r.fallback, r.remainder) for r in model.regions.values()}


def held_structures(regions: dict, assignment: dict[str, list[tuple[str, float]]]) -> set[str]:
    """The structures that hold a region of their own (not the remainder)."""
    return {s for rid, parts in assignment.items() for s, _ in parts if not regions[rid][2]}


def holding_volume(name: str, remainder: bool, present: dict[str, tuple[float, float]], held: set[str]) -> float:
    """The volume (mL) over which ``name`` spreads its region's activity: its own, or for the
    remainder the body's envelope less every structure holding a region of its own (at least
    5 % of the envelope)."""
    volume = present[name][0]
    if remainder:
        volume = max(volume - sum(present[s][0] for s in held if s != name), 0.05 * volume)
    return volume


__all__ = ["assign_regions", "held_structures", "holding_volume", "model_regions"]

"""A slice plane through a hologram's CT and PET, as a lesson step and the lecturer's control
action give it (``slice`` in lesson.yaml, ``{"action": "slice"}``, ``slice`` in the live state).

Either a standard plane, ``{axis: axial|coronal|sagittal, at_mm}`` (RAS millimetres along the
axis the plane is normal to: axial at a height S, coronal at A, sagittal at R), or a free one,
``{normal: [x, y, z], point: [x, y, z]}`` (RAS; the normal is made a unit vector). Both take
``blend`` (0 = CT only, 1 = PET only, linear between; default 0.5) and ``ct_window`` (a CT
preset: soft_tissue, lung or bone). ``normalise_slice`` checks one and returns its canonical
form; a problem is a ``SliceError`` naming the field.
"""

from __future__ import annotations

import math

AXES = {"sagittal": 0, "coronal": 1, "axial": 2}  # the RAS axis each plane is normal to
CT_WINDOWS = {"soft_tissue": (40.0, 400.0), "lung": (-600.0, 1500.0), "bone": (400.0, 1800.0)}  # level, width HU
REACH_MM = 3000.0  # beyond any body
KEYS = ("axis", "at_mm", "normal", "point", "blend", "ct_window")


class SliceError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _number(value, field: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SliceError(field, "must be a number")
    if not lo <= value <= hi:
        raise SliceError(field, f"must be between {lo:g} and {hi:g}, got {value:g}")
    return float(value)


def _vector(value, field: str) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise SliceError(field, "must be three numbers [x, y, z] (RAS)")
    return [_number(v, f"{field}[{i}]", -REACH_MM, REACH_MM) for i, v in enumerate(value)]


def normalise_slice(obj) -> dict:
    """The canonical slice of ``obj``: ``{axis, at_mm, blend, ct_window}`` or ``{normal,
    point, blend, ct_window}``; SliceError for anything else."""
    if not isinstance(obj, dict):
        raise SliceError(None, "a slice is {axis, at_mm} or {normal, point}, with blend and ct_window")
    extra = [k for k in obj if k not in KEYS]
    if extra:
        raise SliceError(str(extra[0])[:40], f"unknown field {str(extra[0])[:40]!r} (known: {', '.join(KEYS)})")
    out: dict = {}
    if "axis" in obj or "at_mm" in obj:
        if "normal" in obj or "point" in obj:
            raise SliceError("normal", "give axis and at_mm, or normal and point, not both")
        if obj.get("axis") not in AXES:
            raise SliceError("axis", f"must be one of {', '.join(AXES)}")
        if "at_mm" not in obj:
            raise SliceError("at_mm", "where along the axis, in RAS mm (e.g. at_mm: -120)")
        out["axis"] = obj["axis"]
        out["at_mm"] = _number(obj["at_mm"], "at_mm", -REACH_MM, REACH_MM)
    elif "normal" in obj or "point" in obj:
        normal = _vector(obj.get("normal"), "normal")
        length = math.sqrt(sum(v * v for v in normal))
        if length < 1e-9:
            raise SliceError("normal", "must not be zero")
        out["normal"] = [round(v / length, 9) for v in normal]
        out["point"] = _vector(obj.get("point"), "point")
    else:
        raise SliceError(None, "a slice is {axis, at_mm} or {normal, point}")
    out["blend"] = _number(obj.get("blend", 0.5), "blend", 0.0, 1.0)
    window = obj.get("ct_window", "soft_tissue")
    if window not in CT_WINDOWS:
        raise SliceError("ct_window", f"must be one of {', '.join(CT_WINDOWS)}")
    out["ct_window"] = window
    return out


__all__ = ["AXES", "CT_WINDOWS", "SliceError", "normalise_slice"]

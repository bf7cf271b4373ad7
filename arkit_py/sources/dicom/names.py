"""ROI and segment names (RTSTRUCT ``ROIName``, DICOM-SEG ``SegmentLabel``) -> canonical
structures.

The structure table's own names, display names and aliases come first
(:func:`arkit_py.structures.lookup`). On top of them, the habits of radiotherapy planning
systems: the side as a prefix or suffix word (``Lt Lung``, ``Lung_L``, ``Kidney_R``,
``RtKidney``) and a few RT words for the body outline (``External``, ``Outer Contour``) and
the cord (``SpinalCord``, ``Cord``). A name nothing knows keeps a clean snake_case name
(its side moved to the end: ``Parotid_L`` -> ``parotid_left``) with system ``other``.

>>> canonical_name("Lt Lung"), canonical_name("Rt Kidney"), canonical_name("External")
('lung_left', 'kidney_right', 'body')
>>> s = structure_for("GTV_Mass"); s.name, s.system
('gtv_mass', 'other')
"""

from __future__ import annotations

import re

from ...structures import Structure, lookup, slug

Color = tuple[float, float, float]

_LEFT = frozenset({"l", "lt", "lft", "left"})
_RIGHT = frozenset({"r", "rt", "rgt", "right"})

#: RT planning words the structure table does not list (slugs -> canonical names).
RT_WORDS = {
    "external": "body",
    "ext": "body",
    "external_contour": "body",
    "outer_contour": "body",
    "body_contour": "body",
    "body_outline": "body",
    "patient_outline": "body",
    "outline": "body",
    "skin_contour": "body",
    "spinalcord": "spinal_cord",
    "cord": "spinal_cord",
}

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def canonical_name(text: str) -> str:
    """The canonical structure name for an ROI or segment name (``"Lung_L"`` ->
    ``lung_left``); a clean snake_case name for names nothing knows."""
    return structure_for(text).name


def structure_for(text: str, color: Color | None = None) -> Structure:
    """The Structure for an ROI or segment name: the table's (with ``color`` when given)
    or a new ``other`` structure named by the cleaned name."""
    text = str(text)
    for candidate in _candidates(text):
        found = lookup(candidate, color)
        if found.known:
            return found
    name = _sided(slug(text)) or _sided(slug(_CAMEL.sub("_", text))) or slug(text)
    display = re.sub(r"\s+", " ", text).strip() or name
    return Structure(name, display, "other", tuple(color) if color else (0.75, 0.75, 0.75), 1.04, (), known=False)


def _candidates(text: str):
    """Names to try against the table, most literal first."""
    forms = [slug(text)]
    camel = slug(_CAMEL.sub("_", text))
    if camel != forms[0]:
        forms.append(camel)
    for key in forms:
        yield key
        if key in RT_WORDS:
            yield RT_WORDS[key]
        sided = _sided(key)
        if sided:
            base, side = sided.rsplit("_", 1)
            base = RT_WORDS.get(base) or base
            yield f"{base}_{side}"
            yield f"{side}_{base}"


def _sided(key: str) -> str | None:
    """``lt_lung`` / ``lung_l`` / ``left_lung`` -> ``lung_left``; None without a side word
    at either end."""
    words = key.split("_")
    if len(words) < 2:
        return None
    for index in (0, -1):
        word = words[index]
        side = "left" if word in _LEFT else "right" if word in _RIGHT else None
        if side:
            rest = words[1:] if index == 0 else words[:-1]
            return "_".join(rest + [side])
    return None

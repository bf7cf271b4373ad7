"""The contract of ``lesson.json`` inside a bundle, checked wherever a bundle is read
(upload, ``arkit serve --lessons``, ``arkit lesson inspect``).

lesson.json is lesson.yaml normalised (docs/lesson-format.md): the same fields, plus what the
build adds. Its JSON Schema is derived here from the lesson schema, so the two never drift:

- top level: ``schema_version`` (required) and ``thumbnail`` (an asset);
- each hologram: ``assets`` {glb, usdz?}, ``structures``, ``profile`` (required), ``display``,
  with a tracer ``legend`` and ``tracer_facts``, and with ``ct:`` or ``pet:`` the packed ``volumes``;
- each step: ``hologram`` (required), ``time.start_s`` / ``time.end_s``;
- a numeric quiz: ``answer_kind``, ``answer_value`` and one of ``tolerance_value`` /
  ``tolerance_relative`` (required: the server grades with them).

Then the checks a schema cannot make: every step's hologram exists, every structure a step
or quiz names is in its hologram, quiz ids are unique, choice answers are options, times are
in order, and the assets named are in the bundle. Every problem is one ``LessonError``:
``<bundle>: lesson.json: steps[2].quiz: missing field 'answer_kind'``.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from functools import lru_cache

from ..errors import LessonError
from ..units import KINDS
from .source import SCHEMA_VERSION, field_name, schema

_HEX64 = "^[0-9a-f]{64}$"
_ASSET = {
    "type": "object", "additionalProperties": False, "required": ["path", "sha256", "size", "type"],
    "properties": {"path": {"type": "string", "pattern": r"^assets/[0-9a-f]{64}\.(glb|usdz|png|nrrd)$"},
                   "sha256": {"type": "string", "pattern": _HEX64},
                   "size": {"type": "integer", "minimum": 0},
                   "type": {"enum": ["model/gltf-binary", "model/vnd.usdz+zip", "image/png", "application/x-nrrd"]}},
}
_NUMBER = {"type": "number"}
_FACTOR = {"type": ["number", "null"], "exclusiveMinimum": 0}
_VEC3 = {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "number"}}
_VOLUME = {  # one packed volume (scene/volumes.py): a grid in the hologram's frame, frames of NRRD
    "type": "object", "additionalProperties": False,
    "required": ["unit", "scale", "offset", "source", "shape", "spacing_m", "box_min", "box_max", "ras_min", "ras_max",
                 "frames"],
    "properties": {
        "unit": {"enum": ["HU", "Bq/mL"]}, "scale": {"type": "number", "exclusiveMinimum": 0}, "offset": _NUMBER,
        "source": {"enum": ["synthetic", "CT", "PET"]}, "fwhm_mm": {"type": "number", "minimum": 0},
        "shape": {"type": "array", "minItems": 3, "maxItems": 3,
                  "items": {"type": "integer", "minimum": 1, "maximum": 2048}},
        "spacing_m": {"type": "number", "exclusiveMinimum": 0}, "box_min": _VEC3, "box_max": _VEC3,
        "ras_min": _VEC3, "ras_max": _VEC3,
        "frames": {"type": "array", "minItems": 1, "maxItems": 64, "items": {
            "type": "object", "additionalProperties": False, "required": ["time_s", "asset"],
            "properties": {"time_s": {"type": ["number", "null"]}, "asset": _ASSET,
                           "to_display": _FACTOR, "suv_per_bq_ml": _FACTOR}}},
        "display": {"type": ["object", "null"]},
    },
}
_SHORT = {"type": "string", "maxLength": 200}
_LEGEND = {
    "type": "object", "additionalProperties": False, "required": ["quantity", "unit", "min", "max"],
    "properties": {"quantity": _SHORT, "unit": _SHORT, "min": _NUMBER, "max": _NUMBER, "scale": _SHORT,
                   "clip_s": {"type": "number", "exclusiveMinimum": 0}, "real_s": {"type": "number", "exclusiveMinimum": 0},
                   "decay_corrected": {"type": "boolean"},
                   "palette": {"type": "array", "maxItems": 256,
                               "items": {"type": "array", "minItems": 3, "maxItems": 4, "items": _NUMBER}}},
}
_TRACER_FACTS = {
    "type": "object", "additionalProperties": False,
    "properties": {"tracer": _SHORT, "nuclide": _SHORT, "half_life_s": {"type": ["number", "null"]},
                   "activity_bq": {"type": ["number", "null"]}},
}


@lru_cache(maxsize=1)
def bundle_schema() -> dict:
    """The JSON Schema of lesson.json: the lesson schema plus the normalised fields."""
    s = copy.deepcopy(schema())
    s["title"] = "arkit lesson.json (the normalised lesson inside a bundle)"
    s["required"] = s["required"] + ["schema_version"]
    s["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    s["properties"]["thumbnail"] = _ASSET
    hologram = s["$defs"]["hologram"]
    hologram["required"] = hologram["required"] + ["assets", "structures", "profile"]
    hologram["properties"].update({
        "assets": {"type": "object", "additionalProperties": False, "required": ["glb"],
                   "properties": {"glb": _ASSET, "usdz": _ASSET}},
        "display": {"type": "object", "additionalProperties": _SHORT},
        "legend": _LEGEND,
        "tracer_facts": _TRACER_FACTS,
        "volumes": {"type": "object", "additionalProperties": False, "properties": {"ct": _VOLUME, "pet": _VOLUME}},
    })
    step = s["$defs"]["step"]
    step["required"] = step["required"] + ["hologram"]
    step["properties"]["time"]["properties"].update({"start_s": {"type": "number", "minimum": 0},
                                                     "end_s": {"type": "number", "minimum": 0}})
    for branch in s["$defs"]["quiz"]["allOf"]:
        if branch["if"]["properties"]["kind"].get("const") == "numeric":
            then = branch["then"]
            then["required"] = then["required"] + ["answer_kind", "answer_value"]
            then["properties"].update({
                "answer_kind": {"enum": list(KINDS)}, "answer_value": _NUMBER,
                "tolerance_value": {"type": "number", "minimum": 0},
                "tolerance_relative": {"type": "number", "minimum": 0, "maximum": 1},
            })
            then["oneOf"] = [{"required": ["tolerance_value"]}, {"required": ["tolerance_relative"]}]
    return s


def step_names(step: dict) -> Iterator[tuple[tuple, str]]:
    """(field path within the step, structure name) of every structure a step names."""
    for key in ("visible", "highlighted", "translucent"):
        for j, name in enumerate(step.get(key, [])):
            yield (key, j), name
    for j, label in enumerate(step.get("labels", [])):
        yield ("labels", j, "structure"), label["structure"]
    quiz = step.get("quiz") or {}
    if quiz.get("kind") in ("identify", "order"):
        for j, name in enumerate(quiz["answer"]):
            yield ("quiz", "answer", j), name
    target = (step.get("framing") or {}).get("target")
    if target and target != "whole":
        yield ("framing", "target"), target


def asset_paths(lesson: dict) -> list[str]:
    """The bundle paths of every asset lesson.json names (holograms, thumbnail)."""
    out = [a["path"] for h in lesson.get("holograms", {}).values() for a in (h.get("assets") or {}).values()]
    out += [f["asset"]["path"] for h in lesson.get("holograms", {}).values()
            for v in (h.get("volumes") or {}).values() for f in v["frames"]]
    if lesson.get("thumbnail"):
        out.append(lesson["thumbnail"]["path"])
    return out


def check_lesson_json(lesson, shown: str, files: set[str] | None = None) -> None:
    """Raise LessonError ``<shown>: lesson.json: <field>: <problem>`` unless ``lesson`` keeps
    the contract; ``files``: the bundle's member paths, to check the assets named."""
    from jsonschema import Draft202012Validator

    from .source import _schema_errors_for, _schema_problem

    def fail(where: tuple, problem: str) -> LessonError:
        return LessonError(f"lesson.json: {field_name(where)}: {problem}", path=shown)

    if not isinstance(lesson, dict):
        raise fail((), "must be an object")
    try:
        errors = _schema_errors_for(Draft202012Validator(bundle_schema()), lesson)
    except RecursionError:
        raise fail((), "nested too deeply") from None
    for error in errors:
        where, problem = _schema_problem(error)
        raise fail(where, problem)
    holograms = lesson["holograms"]
    quiz_ids: dict[str, int] = {}
    for i, step in enumerate(lesson["steps"]):
        hid = step["hologram"]
        if hid not in holograms:
            raise fail(("steps", i, "hologram"), f"unknown hologram {hid!r}")
        names = set(holograms[hid]["structures"])
        for where, name in step_names(step):
            if not name.startswith("system:") and name not in names:
                raise fail(("steps", i) + where, f"{name!r} is not in hologram {hid!r}")
        time = step.get("time") or {}
        if "end_s" in time and not time["end_s"] > time.get("start_s", 0.0):
            raise fail(("steps", i, "time", "end_s"), "must come after start_s")
        quiz = step.get("quiz")
        if not quiz:
            continue
        where = ("steps", i, "quiz")
        if quiz["id"] in quiz_ids:
            raise fail(where + ("id",), f"quiz id {quiz['id']!r} is already used in step {quiz_ids[quiz['id']]}")
        quiz_ids[quiz["id"]] = i
        answer = quiz.get("answer")
        if quiz["kind"] == "choice" and (any(a >= len(quiz["options"]) for a in answer) or len(set(answer)) != len(answer)):
            raise fail(where + ("answer",), "choice answers are distinct option numbers")
        if quiz["kind"] == "order" and len(set(answer)) != len(answer):
            raise fail(where + ("answer",), "a structure is listed twice")
        if quiz["kind"] == "numeric":
            for key in ("answer_value", "tolerance_value", "tolerance_relative"):
                if key in quiz and not math.isfinite(quiz[key]):
                    raise fail(where + (key,), "must be a finite number")
    if files is not None:
        for path in asset_paths(lesson):
            if path not in files:
                raise fail(("holograms",), f"names {path!r}, which is not in the bundle")


def load_lesson_json(data: bytes, shown: str, files: set[str] | None = None) -> dict:
    """Parse and check lesson.json bytes (LessonError on any problem)."""
    try:
        lesson = json.loads(data, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise LessonError("lesson.json is not JSON", path=shown) from None
    except RecursionError:
        raise LessonError("lesson.json is nested too deeply", path=shown) from None
    if not isinstance(lesson, dict) or lesson.get("schema_version") != SCHEMA_VERSION:
        version = lesson.get("schema_version") if isinstance(lesson, dict) else None
        raise LessonError(f"unknown schema version {version!r} in lesson.json (this arkit reads {SCHEMA_VERSION})",
                          path=shown)
    check_lesson_json(lesson, shown, files)
    return lesson


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")

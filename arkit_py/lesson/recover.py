"""A lesson.yaml from a built lesson.json: what the studio edits when a library lesson came
as a bundle (a folder of bundles, an upload) and its source is not on the server.

Everything the build adds is dropped (assets, structure lists, display names, legends,
times in seconds, parsed quiz answers, the schema version); what the lecturer wrote comes
back in the schema's key order. A hologram built from files says only "label map" or "CT"
in a bundle (file names never enter one): its source is left so, and validation points at
it until the lecturer uploads the files again.
"""

from __future__ import annotations

import copy

import yaml

from .source import schema

_HOLOGRAM_ADDED = ("assets", "structures", "display", "legend", "tracer_facts")
_QUIZ_ADDED = ("answer_value", "answer_kind", "tolerance_relative", "tolerance_value")


def _ordered(data: dict, keys: list[str]) -> dict:
    out = {k: data[k] for k in keys if k in data}
    out.update({k: v for k, v in data.items() if k not in out})
    return out


def source_from_lesson(lesson: dict) -> dict:
    """The lesson as written (YAML data) from its lesson.json."""
    d = copy.deepcopy(lesson)
    for key in ("schema_version", "thumbnail"):
        d.pop(key, None)
    for h in d.get("holograms", {}).values():
        for key in _HOLOGRAM_ADDED:
            h.pop(key, None)
    first = next(iter(d.get("holograms", {})), None)
    for step in d.get("steps", []):
        step.pop("narration_html", None)
        if step.get("hologram") == first:
            step.pop("hologram")
        time = step.get("time")
        if time:
            time.pop("start_s", None)
            time.pop("end_s", None)
            if time.get("play") is False:
                time.pop("play")
        quiz = step.get("quiz")
        if quiz:
            for key in _QUIZ_ADDED:
                quiz.pop(key, None)
    s = schema()
    d = _ordered(d, list(s["properties"]))
    step_keys = list(s["$defs"]["step"]["properties"])
    d["steps"] = [_ordered(step, step_keys) for step in d.get("steps", [])]
    return d


def yaml_text(data: dict) -> str:
    """Lesson data as lesson.yaml text (block style, the keys in their order)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


def yaml_from_lesson(lesson: dict) -> str:
    return ("# Recovered by the arkit studio from the built lesson (its lesson.yaml was not on the server).\n"
            + yaml_text(source_from_lesson(lesson)))


__all__ = ["source_from_lesson", "yaml_from_lesson", "yaml_text"]

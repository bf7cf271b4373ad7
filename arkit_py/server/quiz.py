"""The quiz rules: what a student may see of a quiz, what counts as an answer of each kind,
and which answers are right. No database, no Flask.

Kinds (docs/lesson-format.md): ``identify`` (a structure of the step's hologram),
``choice`` (one or more option numbers), ``order`` (every item once, in order) and
``numeric`` (a number with its unit, within the quiz's tolerance).
"""

from __future__ import annotations

import hashlib
import json
import math

from ..errors import SessionError
from ..units import UnitError, parse_quantity, parse_typed

ANSWER_FIELDS = ("answer", "answer_value", "answer_kind", "tolerance", "tolerance_value", "tolerance_relative",
                 "explanation")


def strip_answers(lesson: dict, revealed: set[str] | None = None) -> dict:
    """The lesson as a student may see it: quiz answers removed except for revealed quizzes."""
    revealed = revealed or set()
    out = json.loads(json.dumps(lesson))
    for step in out.get("steps", []):
        quiz = step.get("quiz")
        if quiz and quiz.get("id") not in revealed:
            for key in ANSWER_FIELDS:
                quiz.pop(key, None)
    for step, original in zip(out.get("steps", []), lesson.get("steps", [])):
        quiz = original.get("quiz")
        if quiz and quiz.get("kind") == "order" and quiz["id"] not in revealed:
            # students get the items to order, shuffled by a fixed seed (not the answer order)
            items = sorted(quiz["answer"], key=lambda s: hashlib.sha256((quiz["id"] + s).encode()).hexdigest())
            step["quiz"]["items"] = items
    return out


def grade(quiz: dict, value) -> bool | None:
    """Whether ``value`` answers ``quiz`` correctly (None: not gradable)."""
    kind = quiz.get("kind")
    if kind == "identify":
        return isinstance(value, str) and value in quiz["answer"]
    if kind == "choice":
        chosen = value if isinstance(value, list) else [value]
        return sorted(chosen) == sorted(quiz["answer"])
    if kind == "order":
        return isinstance(value, list) and value == quiz["answer"]
    if kind == "numeric":
        if not isinstance(value, str):
            value = f"{value}"
        try:
            got = parse_quantity(value, quiz["answer_kind"])
        except UnitError:
            return False
        target = quiz["answer_value"]
        if "tolerance_relative" in quiz:
            return abs(got - target) <= quiz["tolerance_relative"] * abs(target) + 1e-12
        return abs(got - target) <= quiz.get("tolerance_value", 0.0) + 1e-12 * max(1.0, abs(target))
    return None


def validate_answer(quiz: dict, value, structures: set[str]) -> object:
    """The answer in canonical form, or SessionError ``bad_answer``."""
    kind = quiz["kind"]
    if kind == "identify":
        if not isinstance(value, str) or value not in structures:
            raise SessionError("bad_answer", "an identify answer is a structure of the hologram")
        return value
    if kind == "choice":
        chosen = value if isinstance(value, list) else [value]
        if not chosen or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(quiz["options"])
                                 for i in chosen) or len(set(chosen)) != len(chosen):
            raise SessionError("bad_answer", "a choice answer is one or more option numbers")
        return sorted(chosen)
    if kind == "order":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) \
                or sorted(value) != sorted(quiz["answer"]):
            raise SessionError("bad_answer", "an order answer lists every item once")
        return value
    if kind == "numeric":
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or len(str(value)) > 64:
            raise SessionError("bad_answer", "a numeric answer is a number with its unit, e.g. 370 MBq")
        text = str(value)
        try:
            got, got_kind = parse_typed(text)
        except UnitError as error:
            raise SessionError("bad_answer", str(error)) from None
        want = quiz["answer_kind"]
        if got_kind != want:
            expected = "a plain number (no unit)" if want == "dimensionless" else \
                f"{'an' if want[0] in 'aeiou' else 'a'} {want.replace('_', ' ')} with its unit"
            raise SessionError("bad_answer", f"the answer is {expected}")
        if not math.isfinite(got):
            raise SessionError("bad_answer", "not a finite number")
        return text
    raise SessionError("bad_answer", "unknown quiz kind")


__all__ = ["ANSWER_FIELDS", "grade", "strip_answers", "validate_answer"]

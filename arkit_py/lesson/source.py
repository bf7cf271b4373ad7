"""Reading ``lessons/<id>/lesson.yaml``: the JSON Schema, then the checks a schema cannot
make, with every problem located in the file.

An error names the file, line, column and field and suggests a fix::

    lessons/fdg/lesson.yaml:14:5: steps[2].visible: unknown structure 'livr' (did you mean 'liver'?)

``load_lesson(folder)`` returns a ``LessonSource``: the data as written, its positions and
the normalised form that goes into ``lesson.json`` (quantities also in internal units).
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from ..errors import InputError, LessonError
from ..sources.labeltables import is_shipped
from ..sources.load import check_builtin, is_builtin
from ..structures import SYSTEMS, slug, table
from ..units import UnitError, parse_quantity, parse_typed
from ..yamlio import YamlProblem, load_yaml

SCHEMA_VERSION = 1
MAX_LESSON_BYTES = 1_000_000


@lru_cache(maxsize=1)
def schema() -> dict:
    """The lesson JSON Schema shipped in the package (``arkit_py/lesson/lesson.schema.json``)."""
    return json.loads((resources.files("arkit_py") / "lesson" / "lesson.schema.json").read_text(encoding="utf-8"))


@dataclass
class LessonSource:
    folder: Path
    path: Path  # lesson.yaml
    data: dict  # as written (YAML -> Python)
    positions: dict = field(default_factory=dict)  # path tuple -> (line, column), 1-based
    normalised: dict = field(default_factory=dict)
    tracers: dict = field(default_factory=dict)  # hologram ID -> its TracerInput (arkit_py.tracer.inputs)

    @property
    def id(self) -> str:
        return self.data["id"]

    def error(self, where: tuple, problem: str) -> LessonError:
        line, column = locate(self.positions, where)
        return LessonError(problem, path=display_path(self.path), line=line, column=column, field=field_name(where))


def display_path(path: Path) -> str:
    """The path as a person would type it: relative to the working folder when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def field_name(where: tuple) -> str:
    """('steps', 2, 'visible') -> 'steps[2].visible'."""
    out = ""
    for part in where:
        if part == "__key__":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(part)):
            out += f"[{str(part)!r}]"  # an odd key: quoted, so the message stays readable
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def locate(positions: dict, where: tuple) -> tuple[int, int]:
    """The position of ``where`` or of its nearest ancestor that has one."""
    where = tuple(where)
    while where not in positions and where:
        where = where[:-1]
    return positions.get(where, (1, 1))


# -- YAML with positions --------------------------------------------------------------


def _positions(node, where=(), out=None) -> dict:
    """Path tuple -> (line, column) of every value in a composed YAML tree (1-based)."""
    out = {} if out is None else out
    out[where] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _positions(value_node, where + (key,), out)
            out[where + (key,)] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
            out[where + (key, "__key__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, where + (i,), out)
    return out


def read_yaml(text: str, shown: str) -> tuple[dict, dict]:
    """(data, positions) of a lesson.yaml text; the one YAML reader (``arkit_py.yamlio``)
    refuses aliases, deep nesting and repeated keys with their line and column."""
    try:
        data, node = load_yaml(text)
    except YamlProblem as error:
        raise LessonError(error.problem, path=shown, line=error.line, column=error.column) from None
    if not isinstance(data, dict) or node is None:
        raise LessonError("a lesson must be a mapping (id, title, steps, ...)", path=shown, line=1, column=1)
    return data, _positions(node)


# -- schema errors in plain words -------------------------------------------------------


def _schema_problem(error) -> tuple[tuple, str]:
    """(where, problem) of one jsonschema error, in words a lecturer understands."""
    where = tuple(error.absolute_path)
    v = error.validator
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return where, f"missing field {missing!r}"
    if v == "additionalProperties":
        known = sorted((error.schema.get("properties") or {}).keys())
        extra = [k for k in error.instance if k not in known] if isinstance(error.instance, dict) else []
        name = extra[0] if extra else "?"
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
        return where + (name, "__key__"), f"unknown field {name!r}{hint}"
    if v == "enum":
        return where, f"must be one of {', '.join(repr(x) for x in error.validator_value)}, got {error.instance!r}"
    if v == "const":
        return where, f"must be {error.validator_value!r}"
    if v == "type":
        kind = error.validator_value
        kinds = " or ".join(kind) if isinstance(kind, list) else kind
        return where, f"must be {'an' if str(kinds)[0] in 'aeiou' else 'a'} {kinds}, got {type(error.instance).__name__}"
    if v == "pattern":
        hint = {"^[a-z0-9]+(-[a-z0-9]+)*$": "lower-case letters, digits and single hyphens"}.get(error.validator_value,
                                                                                              error.validator_value)
        return where, f"{error.instance!r} is not allowed here ({hint})"
    if v in ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
             "minProperties"):
        words = {"minItems": "at least {} items", "maxItems": "at most {} items", "minLength": "at least {} characters",
                 "maxLength": "at most {} characters", "minimum": "at least {}", "maximum": "at most {}",
                 "exclusiveMinimum": "more than {}", "minProperties": "at least {} entries"}[v]
        return where, f"must have {words.format(error.validator_value)}" if v.endswith(("Items", "Length", "Properties")) \
            else f"must be {words.format(error.validator_value)}, got {error.instance!r}"
    return where, error.message


def _schema_errors(data: dict):
    from jsonschema import Draft202012Validator

    return _schema_errors_for(Draft202012Validator(schema()), data)


def _schema_errors_for(validator, data: dict) -> list:
    """``validator``'s errors on ``data``, the most specific first."""
    errors = list(validator.iter_errors(data))

    def depth(e):
        return (-len(list(e.absolute_path)), [str(p) for p in e.absolute_path])

    # the deepest error first: "steps[2].quiz.answer: ..." says more than "steps[2]: ..."
    out = []
    for e in sorted(errors, key=depth):
        if e.validator in ("allOf", "if", "then") and e.context:
            out += [c for c in e.context]
        else:
            out.append(e)
    return out


# -- the checks a schema cannot make -----------------------------------------------------


def _structure_problem(name: str) -> str | None:
    """Why ``name`` is not a canonical structure or system:<system>; None when it is."""
    if name.startswith("system:"):
        system = name.split(":", 1)[1]
        if system in SYSTEMS:
            return None
        close = difflib.get_close_matches(system, SYSTEMS, n=1)
        return f"unknown system {system!r}" + (f" (did you mean 'system:{close[0]}'?)" if close else "")
    names = table()
    if name in names:
        return None
    key = slug(name)
    for canonical, s in names.items():
        if key == canonical or key in s.aliases or key == slug(s.display):
            return f"{name!r} is not the canonical name (write {canonical!r})"
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f"unknown structure {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")


def _check(src: LessonSource) -> None:
    d = src.data
    if d["id"] != src.folder.name:
        raise src.error(("id",), f"must be the folder name {src.folder.name!r}, got {d['id']!r}")
    if d["review_status"] == "reviewed" and not d.get("reviewed_by"):
        raise src.error(("review_status",), "a reviewed lesson names who reviewed it (reviewed_by)")
    refs = [r["id"] for r in d["references"]]
    for i, r in enumerate(refs):
        if refs.index(r) != i:
            raise src.error(("references", i, "id"), f"reference id {r!r} appears twice")
    holograms = d["holograms"]
    for hid, h in holograms.items():
        base = ("holograms", hid)
        if is_builtin(h["source"]):
            try:
                check_builtin(h["source"])  # the same checks the build makes
            except InputError as error:
                raise src.error(base + ("source",), error.problem) from None
        else:
            _lesson_file(src, base + ("source",), h["source"])
        if "labels" in h:
            if not is_shipped(h["labels"]):  # a shipped table by name (totalsegmentator), else a file
                _lesson_file(src, base + ("labels",), h["labels"])
        if "ct" in h and h["ct"] != "synthetic":
            _lesson_file(src, base + ("ct",), h["ct"])
        if "pet" in h:
            if h["pet"] == "synthetic":
                if "tracer" not in h:
                    raise src.error(base + ("pet",), "a synthetic PET comes from the hologram's tracer: give tracer:")
            else:
                _lesson_file(src, base + ("pet",), h["pet"])
        if "tracer" in h:
            tracer = _lesson_tracer(src, base + ("tracer",), h["tracer"])
            if tracer.kind.name == "curves" and "nuclide" not in h:
                raise src.error(base + ("tracer",), "a curves file needs 'nuclide' (e.g. F-18)")
            if h.get("pet") == "synthetic" and tracer.kind.name not in ("library", "tracer-file"):
                raise src.error(base + ("pet",), "a synthetic PET comes from a tracer model (a library ID or a "
                                "tracer .yaml), not from curves or a PET: give pet: a PET file instead")
            src.tracers[hid] = tracer
        _tracer_fields(src, hid)
        for j, name in enumerate(h.get("structures", [])):
            problem = _structure_problem(name)
            if problem:
                raise src.error(base + ("structures", j), problem)
        if any(k in h for k in _TRACER_ONLY) and "tracer" not in h:
            key = next(k for k in _TRACER_ONLY if k in h)
            raise src.error(base + (key,), "only a hologram with a tracer takes this")
    first = next(iter(holograms))
    quiz_ids: dict[str, int] = {}
    for i, step in enumerate(d["steps"]):
        base = ("steps", i)
        hid = step.get("hologram", first)
        if hid not in holograms:
            close = difflib.get_close_matches(hid, list(holograms), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (holograms: {', '.join(holograms)})"
            raise src.error(base + ("hologram",), f"unknown hologram {hid!r}{hint}")
        for key in ("visible", "highlighted", "translucent"):
            for j, name in enumerate(step.get(key, [])):
                problem = _structure_problem(name)
                if problem:
                    raise src.error(base + (key, j), problem)
        for j, label in enumerate(step.get("labels", [])):
            problem = _structure_problem(label["structure"])
            if problem or label["structure"].startswith("system:"):
                raise src.error(base + ("labels", j, "structure"), problem or "a label pins to a structure, not a system")
        time = step.get("time")
        if time:
            if "tracer" not in holograms[hid]:
                raise src.error(base + ("time",), f"hologram {hid!r} has no tracer: no time to set")
            start = _quantity(src, base + ("time", "start"), time["start"], "time") if "start" in time else 0.0
            if "end" in time:
                end = _quantity(src, base + ("time", "end"), time["end"], "time")
                if end <= start:
                    raise src.error(base + ("time", "end"), "must come after start")
        if "slice" in step:
            from .slicing import SliceError, normalise_slice

            try:
                normalise_slice(step["slice"])
            except SliceError as error:
                raise src.error(base + ("slice",) + ((error.field,) if error.field else ()), error.message) from None
            if "ct" not in holograms[hid] and "pet" not in holograms[hid]:
                raise src.error(base + ("slice",), f"a slice shows a CT or PET: give hologram {hid!r} ct: or pet: "
                                                   "(a file, or synthetic)")
        framing = step.get("framing") or {}
        if "target" in framing and framing["target"] != "whole":
            problem = _structure_problem(framing["target"])
            if problem:
                raise src.error(base + ("framing", "target"), problem + " (or 'whole')")
        quiz = step.get("quiz")
        if quiz:
            q = base + ("quiz",)
            if quiz["id"] in quiz_ids:
                raise src.error(q + ("id",), f"quiz id {quiz['id']!r} is already used in step {quiz_ids[quiz['id']]}")
            quiz_ids[quiz["id"]] = i
            _check_quiz(src, q, quiz)


def _lesson_file(src: LessonSource, where: tuple, name: str) -> Path:
    """A file the lesson names: relative to the lesson folder and inside it (links resolved),
    so a lesson cannot pull in a file from elsewhere on the lecturer's disk."""
    path = _inside(src, where, name)
    try:
        exists = path.exists()
    except (OSError, ValueError) as error:  # a name too long, a NUL written as an escape
        raise src.error(where, f"{name[:80]!r} cannot be a file name ({error.__class__.__name__})") from None
    if not exists:
        raise src.error(where, f"no such file {name!r} (paths are relative to the lesson folder)")
    return path


def _inside(src: LessonSource, where: tuple, name: str) -> Path:
    """``name`` joined to the lesson folder, refused unless it stays inside (links resolved)."""
    if os.path.isabs(name) or re.match(r"^[A-Za-z]:", name):
        raise src.error(where, f"{name!r} is an absolute path (paths are relative to the lesson folder)")
    try:
        path = (src.folder / name.split("?", 1)[0]).resolve()  # DIR?series=N names a DICOM object in DIR
    except (OSError, ValueError, RuntimeError) as error:
        raise src.error(where, f"{name[:80]!r} cannot be a file name ({error.__class__.__name__})") from None
    if path != src.folder and src.folder not in path.parents:
        raise src.error(where, f"{name!r} is outside the lesson folder (paths are relative to it)")
    return path


def _lesson_tracer(src: LessonSource, where: tuple, spec: str):
    """The kind of a hologram's tracer (the tracer-input registry's, files relative to the
    lesson folder); a tracer file or curves file is read as the build will read it, so
    validate refuses what the build would."""
    from ..tracer.inputs import find_tracer
    from ..tracer.tracerfile import is_library_id, library_ids

    if not is_library_id(spec):  # a file: inside the folder before anything looks at the disk
        _inside(src, where, spec)
    try:
        tracer = find_tracer(spec, folder=src.folder)
    except (OSError, ValueError) as error:
        raise src.error(where, f"{spec[:80]!r} cannot be read ({error.__class__.__name__})") from None
    if tracer is None:
        close = difflib.get_close_matches(spec, library_ids(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (library: {', '.join(library_ids())})"
        raise src.error(where, f"unknown tracer {spec!r}{hint}")
    if tracer.kind.file:
        _lesson_file(src, where, spec)
        if not tracer.kind.pet:  # a PET is read when the hologram is built
            try:
                tracer.read()
            except InputError as error:
                raise src.error(where, error.problem) from None
    return tracer


#: The hologram fields that need a tracer, in the order a lesson checks them.
_TRACER_ONLY = ("activity", "until", "clip", "window", "quantity", "voiding")


def _tracer_fields(src: LessonSource, hid: str) -> dict:
    """The hologram's tracer and colour fields parsed as ``arkit hologram`` parses its flags
    (:func:`arkit_py.tracer.options.uptake_fields`): UptakeOptions keyword arguments; a bad
    value is an error at its field (``holograms.fdg.activity: ...``)."""
    from ..tracer.options import SHARED_FIELDS, OptionError, uptake_fields

    h = src.data["holograms"][hid]
    try:
        return uptake_fields({key: h.get(key) for key in SHARED_FIELDS}, name=str)
    except OptionError as error:
        raise src.error(("holograms", hid, error.key), error.field_problem) from None


def uptake_options(src: LessonSource, hid: str):
    """The UptakeOptions of hologram ``hid`` (None without a tracer): its tracer (a file
    joined to the lesson folder) and its fields, parsed by the same code as the CLI's."""
    from ..scene.uptake import UptakeOptions

    if "tracer" not in src.data["holograms"][hid]:
        return None
    tracer = src.tracers.get(hid) or _lesson_tracer(src, ("holograms", hid, "tracer"), src.data["holograms"][hid]["tracer"])
    return UptakeOptions(tracer=tracer.spec, **_tracer_fields(src, hid))


def _quantity(src: LessonSource, where: tuple, text, kind: str, *, positive: bool = False) -> float:
    try:
        value = parse_quantity(text, kind)
    except UnitError as error:
        raise src.error(where, str(error)) from None
    if value < 0 or (positive and value == 0):
        raise src.error(where, f"must be positive, got {text!r}")
    return value


def _check_quiz(src: LessonSource, where: tuple, quiz: dict) -> None:
    kind = quiz["kind"]
    if kind == "identify":
        for j, name in enumerate(quiz["answer"]):
            problem = _structure_problem(name)
            if problem or name.startswith("system:"):
                raise src.error(where + ("answer", j), problem or "identify answers are structures, not systems")
    elif kind == "choice":
        for j, index in enumerate(quiz["answer"]):
            if index >= len(quiz["options"]):
                raise src.error(where + ("answer", j), f"option {index} does not exist (options are numbered from 0 "
                                                       f"to {len(quiz['options']) - 1})")
        if len(set(quiz["answer"])) != len(quiz["answer"]):
            raise src.error(where + ("answer",), "an option is listed twice")
    elif kind == "numeric":
        try:
            value, qkind = parse_typed(quiz["answer"])
        except UnitError as error:
            raise src.error(where + ("answer",), str(error)) from None
        tol = quiz["tolerance"].strip()
        if tol.endswith("%"):
            try:
                rel = parse_quantity(tol, "dimensionless")
            except UnitError as error:
                raise src.error(where + ("tolerance",), str(error)) from None
            if not 0 <= rel < 1:
                raise src.error(where + ("tolerance",), "a relative tolerance is between 0 % and 100 %")
        else:
            try:
                parse_quantity(tol, qkind)
            except UnitError:
                raise src.error(where + ("tolerance",), f"{tol!r} is not {'an' if qkind[0] in 'aeiou' else 'a'} "
                                                        f"{qkind.replace('_', ' ')} like the answer (or give a %)") from None
        del value
    elif kind == "order":
        for j, name in enumerate(quiz["answer"]):
            problem = _structure_problem(name)
            if problem:
                raise src.error(where + ("answer", j), problem)
        if len(set(quiz["answer"])) != len(quiz["answer"]):
            raise src.error(where + ("answer",), "a structure is listed twice")


# -- normalising for lesson.json ----------------------------------------------------------


def _normalise(d: dict, tracers: dict | None = None) -> dict:
    """``tracers``: hologram ID -> its TracerInput (from the checks)."""
    out = copy.deepcopy(d)
    out = {"schema_version": SCHEMA_VERSION, **out}
    first = next(iter(d["holograms"]))
    for hid, h in out["holograms"].items():
        h.setdefault("profile", "phone")
        h.setdefault("usdz", True)
        # file names can identify a patient: they never enter a bundle (docs/security.md)
        if not is_builtin(h["source"]):
            h["source"] = "label map"
        if "labels" in h and not is_shipped(h["labels"]):
            h["labels"] = "label table"
        if "ct" in h and h["ct"] != "synthetic":
            h["ct"] = "CT"
        if "pet" in h and h["pet"] != "synthetic":
            h["pet"] = "PET"
        tracer = (tracers or {}).get(hid)
        if tracer is not None and tracer.kind.shown:  # a tracer file, curves file or PET
            h["tracer"] = tracer.kind.shown
    for step in out["steps"]:
        step.setdefault("hologram", first)
        if "slice" in step:
            from .slicing import normalise_slice

            step["slice"] = normalise_slice(step["slice"])
        time = step.get("time")
        if time:
            if "start" in time:
                time["start_s"] = parse_quantity(time["start"], "time")
            if "end" in time:
                time["end_s"] = parse_quantity(time["end"], "time")
            time.setdefault("play", False)
        quiz = step.get("quiz")
        if quiz and quiz["kind"] == "numeric":
            value, kind = parse_typed(quiz["answer"])
            quiz["answer_value"] = value
            quiz["answer_kind"] = kind
            tol = quiz["tolerance"].strip()
            if tol.endswith("%"):
                quiz["tolerance_relative"] = parse_quantity(tol, "dimensionless")
            else:
                quiz["tolerance_value"] = parse_quantity(tol, kind)
    return out


def load_lesson(folder: str | os.PathLike) -> LessonSource:
    """Read, validate and normalise ``<folder>/lesson.yaml``; LessonError on any problem."""
    folder = Path(folder)
    path = folder / "lesson.yaml"
    shown = display_path(path)
    if not folder.is_dir():
        raise LessonError("no such lesson folder", path=display_path(folder))
    if not path.is_file():
        raise LessonError("no lesson.yaml in this folder (arkit lesson new <id> makes one)", path=display_path(folder))
    if path.stat().st_size > MAX_LESSON_BYTES:
        raise LessonError(f"larger than {MAX_LESSON_BYTES // 1000} kB", path=shown)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise LessonError(f"not UTF-8 text (byte {error.start})", path=shown) from None
    return load_lesson_text(folder, text)


def load_lesson_text(folder: str | os.PathLike, text: str, *, shown: str | None = None) -> LessonSource:
    """Validate and normalise ``text`` as the lesson.yaml of ``folder`` (its files are
    looked up there); LessonError on the first problem."""
    folder = Path(folder)
    path = folder / "lesson.yaml"
    shown = shown or display_path(path)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_LESSON_BYTES:
        raise LessonError(f"larger than {MAX_LESSON_BYTES // 1000} kB", path=shown)
    data, positions = read_yaml(text, shown)
    src = LessonSource(folder.resolve(), path, data, positions)
    for error in _schema_errors(data):
        where, problem = _schema_problem(error)
        raise src.error(where, problem)
    try:
        _check(src)
    except InputError as error:  # e.g. a tracer file that fails to load
        raise src.error(("holograms",), error.problem) from None
    src.normalised = _normalise(data, src.tracers)
    return src


def lesson_problems(folder: str | os.PathLike, text: str, *, shown: str = "lesson.yaml",
                    limit: int = 50) -> tuple[list[LessonError], LessonSource | None]:
    """Every problem of ``text`` a lecturer can fix at once (the studio's validation as
    they type): all schema errors, each located, or else the first problem the checks
    after the schema find. ([], the source) when the lesson is valid."""
    folder = Path(folder)
    try:
        return [], load_lesson_text(folder, text, shown=shown)
    except LessonError as first:
        try:
            data, positions = read_yaml(text, shown)
        except LessonError:
            return [first], None
        src = LessonSource(folder.resolve(), folder / "lesson.yaml", data, positions)
        errors, seen = [], set()
        for error in _schema_errors(data):
            where, problem = _schema_problem(error)
            located = src.error(where, problem)
            key = (located.line, located.column, located.problem)
            if key not in seen:
                seen.add(key)
                errors.append(located)
            if len(errors) >= limit:
                break
        return errors or [first], None

"""Tracer files: reading and checking the YAML that describes a tracer's model.

A tracer file (YAML; the library's are in ``arkit_py/data/tracers/``) names a nuclide, the
source regions and the structures each maps onto, and compartments::

    compartments:
      brain: {region: brain, initial: 0.08, source: icrp128-quoted}
      other_fast:
        region: other
        initial: {value: 0.075, status: derived, note: 0.30 x 0.25}
        half_time: 12 min          # biological, to the compartment named by `to`
        to: bladder
      bladder: {region: urinary_bladder_contents, bladder: true}
    voiding: {interval: 3.5 h, source: icrp53-footnote}

Every parameter carries its source and status (``verified-primary``, ``verified-secondary``,
``derived``, ``unverified``), given beside it or inherited from its compartment and the
source's entry; ``unverified`` parameters are teaching defaults. A lecturer's own file may
start with ``base: fdg`` and override any part (mappings merge key by key).

:func:`is_library_id` and :func:`is_tracer_file` are the two kinds' matching rules in the
tracer-input registry (:mod:`arkit_py.tracer.inputs`, whose ``load_tracer`` reads either);
:func:`read_library_tracer` and :func:`read_tracer_file` are their readers.
The model itself and its maths are in :mod:`arkit_py.tracer.kinetics`.
"""

from __future__ import annotations

import copy
import math
import os
from functools import lru_cache
from importlib import resources

from ..errors import InputError
from ..units import UnitError, parse_quantity
from .curves import MAX_TIME_S, MAX_TIME_TEXT
from .decay import nuclide
from .kinetics import EXCRETED, Compartment, Param, Region, TracerModel, Transfer, Voiding

STATUSES = ("verified-primary", "verified-secondary", "derived", "unverified", "user")
TRACER_IDS = ("fdg", "mdp", "maa", "pertechnetate", "iodide-i131", "dotatate-ga68", "psma617-lu177")


def library_ids() -> list[str]:
    folder = resources.files("arkit_py") / "data" / "tracers"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=32)
def _library_text(tracer_id: str) -> str:
    return (resources.files("arkit_py") / "data" / "tracers" / f"{tracer_id}.yaml").read_text(encoding="utf-8")


def is_library_id(spec: str) -> bool:
    """A library tracer's ID (``fdg``, ``mdp``, ...; :func:`library_ids`)."""
    return str(spec) in library_ids()


def is_tracer_file(spec: str) -> bool:
    """A tracer file: a ``.yaml``/``.yml`` name, or any path with a folder in it."""
    spec = str(spec)
    return spec.endswith((".yaml", ".yml")) or os.path.sep in spec


def read_library_tracer(spec: str) -> TracerModel:
    """The model of a library tracer by ID (``fdg``)."""
    spec = str(spec)
    return _parse(_read_yaml(_library_text(spec), f"{spec} (library)"), f"{spec} (library)", user=False)


def read_tracer_file(spec: str | os.PathLike) -> TracerModel:
    """The model of a tracer file (``my-fdg.yaml``; it may start with ``base: <id>`` and
    override any part of that library tracer)."""
    spec = str(spec)
    try:
        with open(spec, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise InputError(spec, "no such tracer file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(spec, f"cannot read the tracer file ({error.__class__.__name__})") from None
    data = _read_yaml(text, spec)
    base = data.pop("base", None)
    if base is not None:
        if not isinstance(base, str) or base not in library_ids():
            raise InputError(spec, f"base: unknown tracer {base!r} (library: {', '.join(library_ids())})")
        merged = _merge(_read_yaml(_library_text(base), base), data)
        return _parse(merged, spec, user=True, overrides=data)
    return _parse(data, spec, user=True, overrides=None)


def unknown_tracer(spec: str) -> InputError:
    """The error for a spec that is no tracer: the closest library ID, and the library."""
    import difflib

    close = difflib.get_close_matches(spec, library_ids(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InputError(spec, f"unknown tracer{hint}; library: {', '.join(library_ids())}, or a .yaml tracer file")


def _read_yaml(text: str, where: str) -> dict:
    """A tracer file's mapping, read by arkit's one YAML reader (no aliases, bounded nesting,
    no repeated keys; ``arkit_py.yamlio``)."""
    from ..yamlio import YamlProblem, load_yaml

    if len(text) > MAX_TRACER_CHARS:
        raise InputError(where, f"larger than {MAX_TRACER_CHARS // 1000} kB: not a tracer file")
    try:
        data, _ = load_yaml(text)
    except YamlProblem as error:
        raise InputError(where, f"line {error.line}: {error.problem}") from None
    if not isinstance(data, dict):
        raise InputError(where, "a tracer file must be a mapping (id, nuclide, regions, compartments, ...)")
    return data


MAX_TRACER_CHARS = 1_000_000


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _overridden(overrides: dict | None, path: tuple[str, ...]) -> bool:
    node = overrides
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _shown(value) -> str:
    """What a wrong-typed value is, for a message: ``a list``, ``the number 5``, ``nothing``."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value if len(value) <= 40 else value[:37] + '...'!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


SOURCE_FIELDS = ("citation", "status", "url", "where", "note")
PUBLISHED_TEXT = ("quantity", "organ", "region", "label", "unit", "source", "status", "note", "sex")


class _Reader:
    """Reads a tracer file's mapping; every field's type is checked before it is used, and
    any problem is an ``InputError`` ``<file>: <field>: <problem>``."""

    def __init__(self, where: str, sources: dict, user: bool, overrides: dict | None):
        self.where = where
        self.sources = sources
        self.user = user
        self.overrides = overrides
        self.params: list[Param] = []

    def fail(self, field_name: str, problem: str):
        raise InputError(self.where, f"{field_name}: {problem}")

    # -- typed fields ------------------------------------------------------------------

    def mapping(self, value, name: str, what: str, *, optional: bool = False) -> dict:
        """A mapping (None is an empty one when ``optional``)."""
        if value is None and optional:
            return {}
        if not isinstance(value, dict):
            self.fail(name, f"must be a mapping ({what}), got {_shown(value)}")
        return value

    def text(self, value, name: str, *, default: str | None = None, what: str = "text") -> str:
        """A string; None gives ``default`` (a missing field when ``default`` is None)."""
        if value is None and default is not None:
            return default
        if value is None:
            self.fail(name, f"missing ({what})")
        if not isinstance(value, str):
            self.fail(name, f"must be {what}, got {_shown(value)}")
        return value

    def ident(self, value, name: str, what: str = "an ID") -> str:
        """An ID (a key or a reference to one): text or a whole number, not empty."""
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            self.fail(name, f"must be {what} (text), got {_shown(value)}")
        return str(value)

    def items(self, value: dict, name: str, what: str = "an ID") -> list[tuple[str, object]]:
        """(ID, value) of a mapping whose keys are IDs, each ID once."""
        out, seen = [], set()
        for key, item in value.items():
            key = self.ident(key, f"{name}.{key}", what)
            if key in seen:
                self.fail(f"{name}.{key}", "appears twice")
            seen.add(key)
            out.append((key, item))
        return out

    def names(self, value, name: str) -> tuple[str, ...]:
        """A list of structure names (None: none)."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(name, f"must be a list of structure names, got {_shown(value)}")
        for i, s in enumerate(value):
            if not isinstance(s, str) or not s.strip():
                self.fail(f"{name}[{i}]", f"must be a structure name (text), got {_shown(s)}")
        return tuple(value)

    def flag(self, value, name: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            self.fail(name, f"must be true or false, got {_shown(value)}")
        return value

    def number(self, value, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(name, f"must be a finite number, got {_shown(value)}")
        return float(value)

    def context(self, spec: dict, name: str) -> None:
        """The ``source``, ``status`` and ``note`` a mapping gives its parameters."""
        if spec.get("source") is not None:
            self.ident(spec["source"], f"{name}.source", "a source key")
        for key in ("status", "note"):
            if spec.get(key) is not None:
                self.text(spec[key], f"{name}.{key}")

    # -- parameters --------------------------------------------------------------------

    def param(self, raw, name: str, kind: str, *, context: dict, path: tuple[str, ...], minimum: float | None = 0.0,
              positive: bool = False) -> Param:
        note = ""
        source = context.get("source")
        status = context.get("status")
        value = raw
        if isinstance(raw, dict):
            if "value" not in raw:
                self.fail(name, "a parameter mapping needs 'value'")
            self.context(raw, name)
            value = raw["value"]
            source = raw.get("source", source)
            status = raw.get("status", status)
            note = raw.get("note") or ""
        if value is None:
            self.fail(name, f"no value (give {_EXAMPLE[kind]})")
        try:
            number = parse_quantity(value, kind)
        except UnitError as error:
            self.fail(name, str(error))
        if positive and number <= 0:
            self.fail(name, f"must be positive, got {value!r}")
        if minimum is not None and number < minimum:
            self.fail(name, f"must be at least {minimum}, got {value!r}")
        if self.overrides is not None and _overridden(self.overrides, path):
            source, status = f"lecturer file {os.path.basename(self.where)}", "user"
        if source is None:
            self.fail(name, "no source (give 'source:' beside the value or on its compartment)")
        source = str(source)
        if status is None:
            status = self.sources.get(source, {}).get("status")
        if status is None:
            if self.user:
                status = "user"
            else:
                self.fail(name, f"no status (give 'status:' or a status for source {source!r})")
        if status not in STATUSES:
            self.fail(name, f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        if source not in self.sources and status != "user":
            self.fail(name, f"unknown source {source!r} (list it under 'sources:')")
        p = Param(name, float(number), str(value), source, str(status), note)
        self.params.append(p)
        return p


_EXAMPLE = {"dimensionless": "a fraction such as 0.3", "time": "a time such as 2 h", "activity": "an activity such "
            "as 370 MBq"}


def _read_sources(where: str, raw) -> dict[str, dict]:
    """``sources:``: source key -> mapping of text fields (citation, status, url, where, note)."""
    r = _Reader(where, {}, True, None)
    raw = r.mapping(raw, "sources", "source key -> citation, status, url", optional=True)
    out = {}
    for key, spec in r.items(raw, "sources", "a source key"):
        name = f"sources.{key}"
        spec = r.mapping(spec, name, "citation, status, url, where, note")
        for field_name, value in spec.items():
            if field_name in SOURCE_FIELDS and value is not None:
                r.text(value, f"{name}.{field_name}")
        if spec.get("status") is not None and spec["status"] not in STATUSES:
            r.fail(f"{name}.status", f"unknown status {spec['status']!r} (one of {', '.join(STATUSES)})")
        out[key] = dict(spec)
    return out


def _parse(data: dict, where: str, *, user: bool, overrides: dict | None = None) -> TracerModel:
    """The model of a tracer file's mapping; every field's type and value is checked, so a
    wrong one is an ``InputError`` naming the file and the field before anything uses it."""
    sources = _read_sources(where, data.get("sources"))
    r = _Reader(where, sources, user, overrides)
    for key in ("id", "nuclide", "regions", "compartments"):
        if data.get(key) is None:
            r.fail(key, "missing")
    tracer_id = r.ident(data["id"], "id", "the tracer's ID")
    nuclide_text = r.text(data["nuclide"], "nuclide", what="a nuclide such as F-18")
    try:
        nuclide_name = nuclide(nuclide_text).name
    except InputError as error:
        r.fail("nuclide", error.problem)
    name = r.text(data.get("name"), "name", default=tracer_id)
    description = r.text(data.get("description"), "description", default="")

    regions: dict[str, Region] = {}
    raw_regions = r.mapping(data["regions"], "regions", "region ID -> structures, fallback, remainder, display")
    if not raw_regions:
        r.fail("regions", "must be a non-empty mapping")
    for rid, spec in r.items(raw_regions, "regions", "a region ID"):
        base = f"regions.{rid}"
        spec = r.mapping(spec, base, "structures, fallback, remainder, display", optional=True)
        structures = r.names(spec.get("structures"), f"{base}.structures")
        fallback = r.names(spec.get("fallback"), f"{base}.fallback")
        remainder = r.flag(spec.get("remainder"), f"{base}.remainder")
        display = r.text(spec.get("display"), f"{base}.display", default="")
        if not structures and not remainder:
            r.fail(base, "needs 'structures' or 'remainder: true'")
        regions[rid] = Region(rid, structures, fallback, remainder, display)

    compartments: dict[str, Compartment] = {}
    raw_compartments = r.mapping(data["compartments"], "compartments",
                                 "compartment ID -> region, initial, half_time, to, ...")
    if not raw_compartments:
        r.fail("compartments", "must be a non-empty mapping")
    for cid, spec in r.items(raw_compartments, "compartments", "a compartment ID"):
        base = f"compartments.{cid}"
        if cid == EXCRETED:
            r.fail(base, f"{EXCRETED!r} is reserved (the activity that has left the body)")
        spec = r.mapping(spec, base, "region, initial, half_time, to, ...")
        r.context(spec, base)
        if spec.get("region") is None:
            r.fail(f"{base}.region", "missing (the region the compartment belongs to)")
        region = r.ident(spec["region"], f"{base}.region", "a region ID")
        if region not in regions:
            r.fail(f"{base}.region", f"unknown region {region!r} (regions: {', '.join(regions)})")
        initial = r.param(spec.get("initial", 0.0), f"{base}.initial", "dimensionless", context=spec,
                          path=("compartments", cid, "initial"))
        if initial.value > 1:
            r.fail(f"{base}.initial", f"a fraction must be at most 1, got {initial.text}")
        bladder = r.flag(spec.get("bladder"), f"{base}.bladder")
        if "out" in spec:
            outs = spec["out"]
            if outs is not None and not isinstance(outs, list):
                r.fail(f"{base}.out", f"must be a list of {{to, half_time}}, got {_shown(outs)}")
            outs = outs or []
        elif "half_time" in spec:
            outs = [{"to": spec.get("to", EXCRETED), "half_time": spec["half_time"]}]
        else:
            outs = []
        transfers = []
        for i, o in enumerate(outs):
            one = "out" not in spec
            oname = base if one else f"{base}.out[{i}]"
            if not isinstance(o, dict) or "half_time" not in o:
                r.fail(oname, "needs 'to' and 'half_time'")
            if not one:
                r.context(o, oname)
            target = r.ident(o.get("to", EXCRETED), f"{oname}.to", "a compartment ID or 'excreted'")
            path = ("compartments", cid, "half_time") if one else ("compartments", cid, "out")
            hp = r.param(o["half_time"], f"{oname}.half_time", "time", context={**spec, **o}, path=path, positive=True)
            transfers.append(Transfer(target, hp))
        compartments[cid] = Compartment(cid, region, initial, tuple(transfers), bladder)
    for c in compartments.values():
        for t in c.transfers:
            if t.target != EXCRETED and t.target not in compartments:
                r.fail(f"compartments.{c.id}.to", f"unknown compartment {t.target!r}")
            if t.target == c.id:
                r.fail(f"compartments.{c.id}.to", "a compartment cannot transfer to itself")
    if sum(c.bladder for c in compartments.values()) > 1:
        r.fail("compartments", "at most one compartment is the bladder")
    total = sum(c.initial.value for c in compartments.values())
    if abs(total - 1.0) > 1e-6:
        r.fail("compartments", f"initial fractions must sum to 1 (the administered activity), got {total:.6g}")

    vspec = r.mapping(data.get("voiding"), "voiding", "interval, first, source", optional=True)
    r.context(vspec, "voiding")
    interval = first = None
    if vspec.get("interval") is not None:
        interval = r.param(vspec["interval"], "voiding.interval", "time", context=vspec,
                           path=("voiding", "interval"), positive=True)
    if vspec.get("first") is not None:
        first = r.param(vspec["first"], "voiding.first", "time", context=vspec, path=("voiding", "first"),
                        positive=True)
    activity = None
    if data.get("activity") is not None:
        context = r.mapping(data.get("activity_source"), "activity_source", "source, status", optional=True)
        r.context(context, "activity_source")
        activity = r.param(data["activity"], "activity", "activity", context=context, path=("activity",),
                           positive=True)
    quantity = r.text(data.get("quantity"), "quantity", default="concentration", what="'concentration' or 'suv'")
    if quantity not in ("concentration", "suv"):
        r.fail("quantity", f"must be 'concentration' or 'suv', got {quantity!r}")
    window = data.get("window")
    if window is not None:
        if not isinstance(window, list) or len(window) != 2:
            r.fail("window", f"must be [min, max] with max > min, got {_shown(window)}")
        window = (r.number(window[0], "window[0]"), r.number(window[1], "window[1]"))
        if not window[1] > window[0]:
            r.fail("window", "must be [min, max] with max > min")
    until = 7200.0
    if data.get("until") is not None:
        try:
            until = parse_quantity(data["until"], "time")
        except UnitError as error:
            r.fail("until", str(error))
        if not until > 0:
            r.fail("until", f"must be positive, got {data['until']!r}")
        if until > MAX_TIME_S:
            r.fail("until", f"{data['until']!r} is more than {MAX_TIME_TEXT} after administration")
    published = data.get("published")
    if published is None:
        published = []
    if not isinstance(published, list):
        r.fail("published", f"must be a list of mappings (quantity, value, unit, source, ...), got {_shown(published)}")
    for i, row in enumerate(published):
        pname = f"published[{i}]"
        r.mapping(row, pname, "quantity, organ or region, value, unit, source, status")
        for key in PUBLISHED_TEXT:
            if row.get(key) is not None:
                r.text(row[key], f"{pname}.{key}")
        if "value" in row:
            r.number(row["value"], f"{pname}.value")
    return TracerModel(tracer_id, name, nuclide_name, regions, compartments, Voiding(interval, first), r.params,
                       sources, activity, quantity, window, until, description.strip(), published, where)

"""Lesson bundles (``<id>.arlesson``): building them, and reading them without trusting them.

Layout (DESIGN.md "Lessons and bundles"), a zip holding::

    lesson.json              the normalised lesson (schema_version; fields mirror lesson.yaml;
                             each hologram gains ``assets`` {glb, usdz}, ``structures``,
                             ``display`` and, with a tracer, ``legend`` and ``tracer_facts``
                             {tracer, nuclide, half_life_s, activity_bq}; the lesson a
                             ``thumbnail``; assets each {path, sha256, size, type})
    assets/<sha256>.<ext>    holograms (.glb, .usdz) and the thumbnail (.png), named by content
    manifest.json            {"schema_version": 1, "files": [{"path", "sha256", "size"}]}:
                             lesson.json and the assets, sorted by path (not itself, not the
                             signature)
    signature.json           optional: Ed25519 over the exact manifest.json bytes

Identical inputs give a byte-identical bundle: entries in a fixed order, fixed times and
permissions, JSON with sorted keys. Holograms come from a cache keyed by the hash of their
inputs, options and tool versions, so an edit to the narration rebuilds no hologram.

Reading (``read_bundle``) refuses, with one line, anything that does not match its manifest,
paths that could escape a folder, links, oversize or suspiciously compressed members
(counted while streaming, never trusted from the zip header), unknown schema versions and,
when asked, a missing or untrusted signature. Extraction writes into a temporary folder
next to the target and renames it into place: nothing is left half-written or outside.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import ArkitError, LessonError
from ..fileio import write_atomic
from .lessonjson import check_lesson_json, load_lesson_json, step_names
from .source import SCHEMA_VERSION, LessonSource, display_path, load_lesson

MEDIA_TYPES = {"glb": "model/gltf-binary", "usdz": "model/vnd.usdz+zip", "png": "image/png"}
ASSET_NAME = re.compile(r"^assets/[0-9a-f]{64}\.(glb|usdz|png)$")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_TOTAL_BYTES = int(os.environ.get("ARKIT_MAX_BUNDLE_BYTES", 512 * 1024 * 1024))
MAX_RATIO = 200.0  # uncompressed / compressed, per member
MAX_MEMBERS = 1000
CHUNK = 1 << 16


def _json_bytes(data) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- building ---------------------------------------------------------------------------


@dataclass
class BuildResult:
    bundle: Path
    lesson: dict
    manifest: dict
    built: list[str] = field(default_factory=list)  # holograms built now
    cached: list[str] = field(default_factory=list)  # holograms taken from the cache


def default_cache_dir() -> Path:
    base = os.environ.get("ARKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "arkit")
    return Path(base) / "holograms"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(path)).encode())
                h.update(_file_digest(p).encode())
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def tool_versions() -> dict:
    """Versions that change hologram bytes: arkit and the libraries it builds with."""
    from importlib import metadata

    out = {"arkit": __version__}
    for package in ("numpy", "numba", "scipy", "meshoptimizer", "meshopt", "usd-core", "radioactivedecay"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = None
    # the pipeline's own code and data: an edit there must not reuse stale holograms
    root = Path(__file__).resolve().parent.parent
    pipeline = {"sources", "phantoms", "geometry", "tracer", "scene", "data", "structures.py", "units.py"}
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.suffix in (".py", ".csv", ".yaml") and p.relative_to(root).parts[0] in pipeline and p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    out["arkit_code"] = h.hexdigest()
    return out


def hologram_key(src: LessonSource, hid: str, versions: dict) -> str:
    """The cache key of one hologram: its spec, the content of every input file it names,
    and the tool versions."""
    spec = dict(src.data["holograms"][hid])
    inputs = {}
    for key in ("source", "labels", "tracer", "ct"):
        value = spec.get(key)
        path = src.folder / value.split("?", 1)[0] if value else None
        if value and not value.startswith("phantom:") and path.exists():
            inputs[key] = _file_digest(path)
    blob = json.dumps({"spec": spec, "inputs": inputs, "versions": versions}, sort_keys=True).encode()
    return sha256(blob)


def _build_hologram(src: LessonSource, hid: str, progress=None) -> dict[str, bytes]:
    """GLB (and USDZ) bytes of one hologram of the lesson."""
    from ..scene.hologram import HologramOptions, build_hologram
    from ..scene.uptake import UptakeOptions
    from ..sources.load import load_segmentation
    from ..units import parse_quantity

    h = src.data["holograms"][hid]
    source = h["source"]
    spec = source if source.startswith("phantom:") else str(src.folder / source)
    from ..sources.labeltables import is_shipped

    labels = None if "labels" not in h else h["labels"] if is_shipped(h["labels"]) else str(src.folder / h["labels"])
    try:
        seg = load_segmentation(spec, labels=labels)
    except ArkitError as error:
        raise src.error(("holograms", hid, "source"), str(error)) from None
    if "ct" in h:
        from ..sources.body import add_body_from_ct, read_ct

        try:
            seg = add_body_from_ct(seg, read_ct(str(src.folder / h["ct"])))
        except ArkitError as error:
            raise src.error(("holograms", hid, "ct"), str(error)) from None
    uptake = None
    if "tracer" in h:
        tracer = h["tracer"]
        if tracer.endswith((".yaml", ".yml", ".csv")) or (src.folder / tracer.split("?", 1)[0]).exists():
            tracer = str(src.folder / tracer)  # a tracer file, curves or a PET beside the lesson
        voiding = h.get("voiding")
        uptake = UptakeOptions(
            tracer=tracer,
            activity_bq=parse_quantity(h["activity"], "activity") if "activity" in h else None,
            until_s=parse_quantity(h["until"], "time") if "until" in h else None,
            clip_s=parse_quantity(h.get("clip", "12 s"), "time"),
            window=tuple(h["window"]) if "window" in h else None,
            quantity=h.get("quantity"),
            voiding_s=parse_quantity(voiding, "time") if voiding and voiding.lower() != "none" else None,
            no_voiding=bool(voiding and voiding.lower() == "none"),
            nuclide=h.get("nuclide"),
        )
    options = HologramOptions(profile=h.get("profile", "phone"), structures=tuple(h.get("structures", [])),
                              source="phantom:mird-adult" if source.startswith("phantom:") else "label map",
                              uptake=uptake)
    try:
        result = build_hologram(seg, options, progress=progress, spec=source)
    except ArkitError as error:
        raise src.error(("holograms", hid), str(error)) from None
    from .thumbnail import render_png

    out = {"glb": result.glb, "structures": _structure_names(result.document), "png": render_png(result.document)}
    if h.get("usdz", True):
        from ..scene.usdz import to_usdz

        out["usdz"] = to_usdz(result.document)
    return out


def _structure_names(doc) -> bytes:
    names = []
    for s in doc.structures:
        if "label" in s.extras:
            names.append(s.name)
        names += [m["name"] for m in s.extras.get("merged", [])]
    return json.dumps(sorted(names)).encode()


def _cached_hologram(src: LessonSource, hid: str, cache: Path | None, versions: dict, progress) -> tuple[dict, bool]:
    """(parts, built now?) with parts = {glb, usdz?, structures} bytes."""
    key = hologram_key(src, hid, versions)
    folder = cache / key if cache else None
    want_usdz = src.data["holograms"][hid].get("usdz", True)
    if folder and all((folder / n).is_file() for n in ("hologram.glb", "structures.json", "thumbnail.png")) and \
            (not want_usdz or (folder / "hologram.usdz").is_file()):
        parts = {"glb": (folder / "hologram.glb").read_bytes(),
                 "structures": (folder / "structures.json").read_bytes(),
                 "png": (folder / "thumbnail.png").read_bytes()}
        if want_usdz:
            parts["usdz"] = (folder / "hologram.usdz").read_bytes()
        return parts, False
    parts = _build_hologram(src, hid, progress)
    if folder:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
        try:
            for name, data in (("hologram.glb", parts["glb"]), ("structures.json", parts["structures"]),
                               ("thumbnail.png", parts["png"]), ("hologram.usdz", parts.get("usdz"))):
                if data is not None:
                    (tmp / name).write_bytes(data)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return parts, True


def _glb_facts(glb: bytes) -> dict:
    """What clients and the server need from a hologram without opening it: display names
    of its structures and, for a tracer, its legend (quantity, unit, window, clip_s, real_s)
    and ``tracer_facts`` {tracer, nuclide, half_life_s, activity_bq} (the GLB's
    ``scene.extras.arkit.tracer``; not ``tracer``, which mirrors lesson.yaml)."""
    from ..scene.gltf import read_glb

    gltf, _ = read_glb(glb)
    display = {}
    for node in gltf.get("nodes", []):
        extras = node.get("extras") or {}
        if "label" in extras and "display" in extras:
            display[node["name"]] = extras["display"]
        for member in extras.get("merged", []):
            display[member["name"]] = member.get("display", member["name"])
    out: dict = {"display": dict(sorted(display.items()))}
    arkit = ((gltf.get("scenes") or [{}])[0].get("extras") or {}).get("arkit") or {}
    if "legend" in arkit:
        out["legend"] = arkit["legend"]
    if isinstance(arkit.get("tracer"), dict):
        out["tracer_facts"] = arkit["tracer"]
    return out


def _check_names_present(src: LessonSource, hid_names: dict[str, set[str]]) -> None:
    """Every structure a step names must be in its hologram."""
    for i, step in enumerate(src.normalised["steps"]):
        names = hid_names[step["hologram"]]
        for where, name in step_names(step):
            if not name.startswith("system:") and name not in names:
                raise src.error(("steps", i) + where, f"{name!r} is not in hologram {step['hologram']!r}")


def build_lesson(folder: str | os.PathLike, out_dir: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
                 use_cache: bool = True, thumbnail: bool = True, progress=None) -> BuildResult:
    """Validate ``folder``'s lesson and write ``<out_dir>/<id>.arlesson``."""
    src = load_lesson(folder)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(cache_dir) if cache_dir else (default_cache_dir() if use_cache else None)
    versions = tool_versions()
    lesson = json.loads(json.dumps(src.normalised))
    assets: dict[str, bytes] = {}
    built, cached, names = [], [], {}
    for hid in src.data["holograms"]:
        if progress:
            progress(f"hologram {hid}")
        parts, fresh = _cached_hologram(src, hid, cache, versions, progress=None)
        (built if fresh else cached).append(hid)
        names[hid] = set(json.loads(parts["structures"]))
        entry = lesson["holograms"][hid]
        entry["assets"] = {}
        for ext in ("glb", "usdz"):
            if ext in parts:
                digest = sha256(parts[ext])
                path = f"assets/{digest}.{ext}"
                assets[path] = parts[ext]
                entry["assets"][ext] = {"path": path, "sha256": digest, "size": len(parts[ext]),
                                        "type": MEDIA_TYPES[ext]}
        entry["structures"] = sorted(names[hid])
        entry.update(_glb_facts(parts["glb"]))
        if thumbnail and "thumbnail" not in lesson:
            png = parts["png"]
            digest = sha256(png)
            path = f"assets/{digest}.png"
            assets[path] = png
            lesson["thumbnail"] = {"path": path, "sha256": digest, "size": len(png), "type": MEDIA_TYPES["png"]}
    _check_names_present(src, names)
    check_lesson_json(lesson, display_path(src.path))  # what every reader will check: never build what it refuses
    lesson_bytes = _json_bytes(lesson)
    files = {"lesson.json": lesson_bytes, **assets}
    manifest = {"schema_version": SCHEMA_VERSION,
                "files": [{"path": p, "sha256": sha256(b), "size": len(b)} for p, b in sorted(files.items())]}
    manifest_bytes = _json_bytes(manifest)
    target = out / f"{src.id}.arlesson"
    write_zip(target, [("lesson.json", lesson_bytes), ("manifest.json", manifest_bytes)]
              + sorted((p, b) for p, b in assets.items()))
    return BuildResult(target, lesson, manifest, built, cached)


def write_zip(path: Path, entries: list[tuple[str, bytes]]) -> None:
    """A deterministic zip (fixed order, times, permissions), written atomically."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.create_system = 3
            # compressed assets are stored; JSON is deflated
            info.compress_type = zipfile.ZIP_DEFLATED if name.endswith(".json") else zipfile.ZIP_STORED
            zf.writestr(info, data, compresslevel=9 if name.endswith(".json") else None)
    write_atomic(path, buf.getvalue(), mode=0o644)


# -- reading ----------------------------------------------------------------------------


@dataclass
class Bundle:
    path: Path
    lesson: dict
    manifest: dict
    manifest_bytes: bytes
    files: dict[str, bytes]  # path -> bytes (lesson.json and assets), all checked
    signature: dict | None = None
    signed_by: str | None = None  # key_id of a verified signature


def _safe_name(name: str) -> str | None:
    """Why ``name`` may not be a bundle member path; None when it is fine."""
    if not name or "\\" in name or "\0" in name:
        return "a path with backslashes or NUL bytes"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a path that leaves the bundle ('..' or empty parts)"
    return None


def read_bundle(path: str | os.PathLike, *, require_signature: bool = False, trusted_keys: set[str] | None = None,
                max_total: int = MAX_TOTAL_BYTES, max_ratio: float = MAX_RATIO) -> Bundle:
    """Open and check a bundle; every problem is a LessonError ``<path>: <problem>``."""
    path = Path(path)
    shown = str(path)

    def fail(problem: str) -> LessonError:
        return LessonError(problem, path=shown)

    if not path.is_file():
        raise fail("no such bundle")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise fail(f"not a lesson bundle (not a zip: {error})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise fail(f"more than {MAX_MEMBERS} files")
        seen = set()
        for info in infos:
            why = _safe_name(info.filename)
            if why:
                raise fail(f"refused {info.filename!r}: {why}")
            mode = (info.external_attr >> 16) & 0o170000
            if info.create_system == 3 and mode and mode not in (stat.S_IFREG,):
                kind = "a link" if mode == stat.S_IFLNK else "not a regular file"
                raise fail(f"refused {info.filename!r}: {kind}")
            if info.is_dir():
                raise fail(f"refused {info.filename!r}: a folder entry")
            if info.filename in seen:
                raise fail(f"{info.filename!r} appears twice")
            seen.add(info.filename)
            if info.flag_bits & 0x1:
                raise fail(f"refused {info.filename!r}: encrypted")
        if "manifest.json" not in seen:
            raise fail("no manifest.json")
        budget = [max_total]
        manifest_bytes = _read_member(zf, zf.getinfo("manifest.json"), 1_000_000, max_ratio, budget, fail)
        try:
            manifest = json.loads(manifest_bytes)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise fail("manifest.json is not JSON") from None
        if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
            version = manifest.get("schema_version") if isinstance(manifest, dict) else None
            raise fail(f"unknown schema version {version!r} in manifest.json (this arkit reads {SCHEMA_VERSION})")
        listed = manifest.get("files")
        if not isinstance(listed, list) or not all(
                isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)
                and isinstance(f.get("size"), int) and f["size"] >= 0 for f in listed):
            raise fail("manifest.json: files must be a list of {path, sha256, size}")
        paths = [f["path"] for f in listed]
        if len(set(paths)) != len(paths):
            raise fail("manifest.json lists a file twice")
        for p in paths:
            why = _safe_name(p)
            if why:
                raise fail(f"manifest.json: refused {p!r}: {why}")
            if p != "lesson.json" and not ASSET_NAME.match(p):
                raise fail(f"manifest.json: unexpected file {p!r} (lesson.json and assets/<sha256>.<glb|usdz|png>)")
        if "lesson.json" not in paths:
            raise fail("manifest.json does not list lesson.json")
        extra = sorted(seen - set(paths) - {"manifest.json", "signature.json"})
        if extra:
            raise fail(f"{extra[0]!r} is not in the manifest")
        missing = sorted(set(paths) - seen)
        if missing:
            raise fail(f"{missing[0]!r} is in the manifest but not in the bundle")
        declared = sum(f["size"] for f in listed)
        if declared > max_total:
            raise fail(f"the manifest declares {declared:,} bytes, over the {max_total:,} byte limit")
        files = {}
        for f in listed:
            data = _read_member(zf, zf.getinfo(f["path"]), f["size"], max_ratio, budget, fail, exact=True)
            if sha256(data) != f["sha256"]:
                raise fail(f"{f['path']!r}: its SHA-256 does not match the manifest")
            if f["path"].startswith("assets/") and f["sha256"] != f["path"][7:71]:
                raise fail(f"{f['path']!r}: its name is not its SHA-256")
            files[f["path"]] = data
        signature = None
        if "signature.json" in seen:
            raw = _read_member(zf, zf.getinfo("signature.json"), 100_000, max_ratio, budget, fail)
            try:
                signature = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise fail("signature.json is not JSON") from None
    lesson = load_lesson_json(files["lesson.json"], shown, set(files))
    bundle = Bundle(path, lesson, manifest, manifest_bytes, files, signature)
    from .signing import verify_bundle

    if signature is not None or require_signature:
        bundle.signed_by = verify_bundle(bundle, trusted_keys=trusted_keys, require=require_signature, shown=shown)
    return bundle


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, max_ratio: float, budget: list[int], fail,
                 *, exact: bool = False) -> bytes:
    """A member's bytes, counted while streaming: at most ``limit`` bytes (exactly ``limit``
    when ``exact``), within the bundle's remaining budget and the compression-ratio limit."""
    out = bytearray()
    compressed = max(info.compress_size, 1)
    try:
        with zf.open(info) as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                out += chunk
                if len(out) > limit:
                    raise fail(f"{info.filename!r} is larger than "
                               + ("the manifest says" if exact else f"{limit:,} bytes"))
                if len(out) > budget[0]:
                    raise fail("the bundle unpacks to more than the size limit")
                if info.compress_type != zipfile.ZIP_STORED and len(out) > max_ratio * compressed and len(out) > CHUNK:
                    raise fail(f"{info.filename!r}: suspicious compression ratio (over {max_ratio:g}:1)")
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise fail(f"{info.filename!r} is damaged ({error})") from None
    except RuntimeError as error:  # zipfile: encrypted or unsupported
        raise fail(f"{info.filename!r}: {error}") from None
    if exact and len(out) != limit:
        raise fail(f"{info.filename!r} is {len(out):,} bytes, the manifest says {limit:,}")
    budget[0] -= len(out)
    return bytes(out)


def extract_bundle(bundle: Bundle, target: str | os.PathLike) -> Path:
    """Write a checked bundle's files under ``target`` (created; must not exist): the files
    go to a temporary folder beside it first, then one rename."""
    target = Path(target)
    if target.exists():
        raise LessonError("already exists", path=str(target))
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".arlesson-", dir=parent))
    try:
        for name, data in bundle.files.items():
            dest = (tmp / name).resolve()
            if tmp.resolve() not in dest.parents:
                raise LessonError(f"refused {name!r}: outside the target", path=str(bundle.path))
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        (tmp / "manifest.json").write_bytes(bundle.manifest_bytes)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def sign_bundle(bundle_path: str | os.PathLike, key_path: str | os.PathLike) -> dict:
    """Add (or replace) ``signature.json`` in a checked bundle; returns the signature."""
    from .signing import load_private_key, signature_for

    bundle = read_bundle(bundle_path)
    signature = signature_for(bundle.manifest_bytes, load_private_key(key_path))
    entries = [("lesson.json", bundle.files["lesson.json"]), ("manifest.json", bundle.manifest_bytes)]
    entries += sorted((p, b) for p, b in bundle.files.items() if p != "lesson.json")
    entries.append(("signature.json", (json.dumps(signature, indent=1, sort_keys=True) + "\n").encode()))
    write_zip(Path(bundle_path), entries)
    return signature

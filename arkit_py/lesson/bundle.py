"""Building lesson bundles (``<id>.arlesson``) from a lesson folder, and signing them.

``build_lesson`` validates ``lesson.yaml``, builds (or takes from the cache) each hologram,
and writes the bundle in the format of ``zipformat`` (docs/lesson-format.md). Identical
inputs give a byte-identical bundle. Holograms come from a cache keyed by the hash of their
inputs, options and tool versions, so an edit to the narration rebuilds no hologram.
``sign_bundle`` adds ``signature.json`` (``signing``).

Reading (``reading.read_bundle``) and extraction (``extract.extract_bundle``) live in their
own modules; they are re-exported here, where callers have always found them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import __version__
from ..errors import ArkitError
from ..sources.load import is_builtin, source_name
from .extract import extract_bundle
from .lessonjson import check_lesson_json, step_names
from .reading import Bundle, read_bundle
from .signing import load_private_key, signature_for
from .source import SCHEMA_VERSION, LessonSource, display_path, load_lesson, uptake_options
from .zipformat import CHUNK, MEDIA_TYPES, json_bytes, sha256, write_zip


@dataclass
class BuildResult:
    bundle: Path
    lesson: dict
    manifest: dict
    built: list[str] = field(default_factory=list)  # holograms built now
    cached: list[str] = field(default_factory=list)  # holograms taken from the cache


def default_cache_dir() -> Path:
    """Where built holograms are kept: ``ARKIT_CACHE``, else the platform's user cache folder
    (``~/.cache/arkit`` on Linux, ``~/Library/Caches/arkit`` on macOS, ``%LOCALAPPDATA%\\arkit\\Cache``
    on Windows)."""
    import platformdirs

    base = os.environ.get("ARKIT_CACHE") or platformdirs.user_cache_dir("arkit", appauthor=False)
    return Path(base) / "holograms"


def _file_digest(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files and their names. A file is read once per
    size and modification time: a build asks for the same inputs several times (the
    hologram's cache key, its body's key)."""
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(str(p.relative_to(path)).encode())
                h.update(_file_digest(p).encode())
        return h.hexdigest()
    st = path.stat()
    return _read_digest(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=1024)
def _read_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
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
    inputs = _input_digests(src, spec, ("source", "labels", "tracer", "ct", "pet"))
    blob = json.dumps({"spec": spec, "inputs": inputs, "versions": versions}, sort_keys=True).encode()
    return sha256(blob)


def _input_digests(src: LessonSource, spec: dict, keys: tuple[str, ...]) -> dict:
    """The content digest of each input file the spec names under ``keys``."""
    inputs = {}
    for key in keys:
        value = spec.get(key)
        path = src.folder / value.split("?", 1)[0] if value else None
        if value and not is_builtin(value) and path.exists():
            inputs[key] = _file_digest(path)
    return inputs


def _body_key(src: LessonSource, hid: str) -> str:
    """What a hologram's meshes depend on, from its spec: the body and its input files, the
    structures and the profile (not the tracer). Holograms with one body key share meshes."""
    spec = src.data["holograms"][hid]
    body = {k: spec.get(k) for k in ("source", "labels", "ct", "structures", "profile")}
    if body["ct"] == "synthetic":  # made from this very body for the slice: it adds no outline
        body["ct"] = None
    inputs = _input_digests(src, spec, ("source", "labels", "ct"))
    return sha256(json.dumps({"body": body, "inputs": inputs}, sort_keys=True, default=str).encode())


def _copied(seg):
    """A Segmentation whose layers are this one's, copied."""
    import dataclasses

    return dataclasses.replace(seg, layers=[layer.copy() for layer in seg.layers])


def _build_hologram(src: LessonSource, hid: str, progress=None, cache: Path | None = None,
                    versions: dict | None = None, bodies: dict | None = None) -> dict[str, bytes]:
    """GLB (and USDZ) bytes of one hologram of the lesson; with a cache folder, its meshes
    go through ``<cache>/meshes`` (holograms of one body mesh it once). ``bodies`` (a dict
    the caller keeps) holds the last body read, by body key, so the next hologram of the
    same body copies it instead of reading it again."""
    from ..scene.hologram import HologramOptions, build_hologram
    from ..sources.load import load_segmentation

    h = src.data["holograms"][hid]
    source = h["source"]
    spec = source if is_builtin(source) else str(src.folder / source)
    from ..sources.labeltables import is_shipped

    labels = None if "labels" not in h else h["labels"] if is_shipped(h["labels"]) else str(src.folder / h["labels"])
    body = _body_key(src, hid) if bodies is not None else None
    if body is not None and body in bodies:
        seg = _copied(bodies[body])  # the build edits its layers in place (islands)
    else:
        try:
            seg = load_segmentation(spec, labels=labels)
        except ArkitError as error:
            raise src.error(("holograms", hid, "source"), str(error)) from None
        if "ct" in h and h["ct"] != "synthetic":  # a synthetic CT is made from this very segmentation
            from ..sources.body import add_body_from_ct, read_ct

            try:
                seg = add_body_from_ct(seg, read_ct(str(src.folder / h["ct"])))
            except ArkitError as error:
                raise src.error(("holograms", hid, "ct"), str(error)) from None
        if bodies is not None:
            bodies.clear()  # one body at a time: a label volume can be hundreds of MB
            bodies[body] = _copied(seg)
    uptake = uptake_options(src, hid)  # parsed as `arkit lesson validate` and the CLI parse it
    wanted = h.get("structures", [])  # names, and whole systems as system:<system>
    options = HologramOptions(profile=h.get("profile", "phone"),
                              structures=tuple(n for n in wanted if not n.startswith("system:")),
                              systems=tuple(n.removeprefix("system:") for n in wanted if n.startswith("system:")),
                              source=source_name(source),
                              uptake=uptake)
    try:
        result = build_hologram(seg, options, progress=progress, spec=source,
                                mesh_cache=cache / "meshes" if cache else None,
                                salt=json.dumps(versions or tool_versions(), sort_keys=True))
    except ArkitError as error:
        raise src.error(("holograms", hid), str(error)) from None
    from .thumbnail import render_png

    out = {"glb": result.glb, "structures": _structure_names(result.document), "png": render_png(result.document)}
    if "ct" in h or "pet" in h:  # the fused slice's volumes, in this very hologram's frame
        from .volumes import hologram_volumes

        packed = hologram_volumes(src, hid, seg, result, uptake)
        out["volumes"] = json.dumps(packed.meta, sort_keys=True).encode()
        out["nrrd"] = packed.files
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


def _in_cache(folder: Path | None, want_usdz: bool, want_volumes: bool = False) -> bool:
    """Whether a cache entry holds everything a build takes from it."""
    return bool(folder) and all((folder / n).is_file() for n in ("hologram.glb", "structures.json", "thumbnail.png")) \
        and (not want_usdz or (folder / "hologram.usdz").is_file()) \
        and (not want_volumes or (folder / "volumes.json").is_file())


def _wants(spec: dict) -> tuple[bool, bool]:
    """(USDZ?, volumes?) of a hologram spec."""
    return spec.get("usdz", True), "ct" in spec or "pet" in spec


def _volume_files(meta_bytes: bytes) -> list[str]:
    """The digests of the NRRD files a volumes.json names."""
    return [f["asset"]["sha256"] for v in json.loads(meta_bytes).values() for f in v["frames"]]


def _cached_hologram(src: LessonSource, hid: str, cache: Path | None, versions: dict, progress,
                     bodies: dict | None = None) -> tuple[dict, bool]:
    """(parts, built now?) with parts = {glb, usdz?, structures} bytes. ``bodies`` keeps
    the last body read (see ``_build_hologram``)."""
    key = hologram_key(src, hid, versions)
    folder = cache / key if cache else None
    want_usdz, want_volumes = _wants(src.data["holograms"][hid])
    if _in_cache(folder, want_usdz, want_volumes):
        parts = {"glb": (folder / "hologram.glb").read_bytes(),
                 "structures": (folder / "structures.json").read_bytes(),
                 "png": (folder / "thumbnail.png").read_bytes()}
        if want_usdz:
            parts["usdz"] = (folder / "hologram.usdz").read_bytes()
        if want_volumes:
            parts["volumes"] = (folder / "volumes.json").read_bytes()
            try:
                parts["nrrd"] = {d: (folder / f"{d}.nrrd").read_bytes() for d in _volume_files(parts["volumes"])}
                return parts, False
            except OSError:
                pass  # a damaged entry is built again
        else:
            return parts, False
    parts = _build_hologram(src, hid, progress, cache, versions, bodies)
    if folder:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
        try:
            for name, data in (("hologram.glb", parts["glb"]), ("structures.json", parts["structures"]),
                               ("thumbnail.png", parts["png"]), ("hologram.usdz", parts.get("usdz")),
                               ("volumes.json", parts.get("volumes")),
                               *((f"{d}.nrrd", b) for d, b in parts.get("nrrd", {}).items())):
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


def _check_slices_on_scan(src, lesson: dict) -> None:
    """Refuse a step's slice plane that misses its hologram's CT and PET (it would show nothing)."""
    from .slicing import AXES

    for i, step in enumerate(lesson["steps"]):
        cut = step.get("slice")
        volumes = lesson["holograms"][step["hologram"]].get("volumes")
        if not cut or not volumes:
            continue
        lo = [min(v["ras_min"][a] for v in volumes.values()) for a in range(3)]
        hi = [max(v["ras_max"][a] for v in volumes.values()) for a in range(3)]
        if "axis" in cut:
            a = AXES[cut["axis"]]
            if not lo[a] <= cut["at_mm"] <= hi[a]:
                raise src.error(("steps", i, "slice", "at_mm"),
                                f"the {cut['axis']} plane at {cut['at_mm']:g} mm misses the scan of hologram "
                                f"{step['hologram']!r} ({'RAS'[a]} from {lo[a]:g} to {hi[a]:g} mm)")
        else:
            corners = [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
            side = [sum((c[k] - cut["point"][k]) * cut["normal"][k] for k in range(3)) for c in corners]
            if min(side) > 0 or max(side) < 0:
                raise src.error(("steps", i, "slice", "point"),
                                f"the plane misses the scan of hologram {step['hologram']!r} "
                                f"(RAS {lo[0]:g}..{hi[0]:g}, {lo[1]:g}..{hi[1]:g}, {lo[2]:g}..{hi[2]:g} mm)")


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
        if "volumes" in parts:
            entry["volumes"] = json.loads(parts["volumes"])
            for digest, data in parts["nrrd"].items():
                assets[f"assets/{digest}.nrrd"] = data
        if thumbnail and "thumbnail" not in lesson:
            png = parts["png"]
            digest = sha256(png)
            path = f"assets/{digest}.png"
            assets[path] = png
            lesson["thumbnail"] = {"path": path, "sha256": digest, "size": len(png), "type": MEDIA_TYPES["png"]}
    _check_names_present(src, names)
    _check_slices_on_scan(src, lesson)
    check_lesson_json(lesson, display_path(src.path))  # what every reader will check: never build what it refuses
    lesson_bytes = json_bytes(lesson)
    files = {"lesson.json": lesson_bytes, **assets}
    manifest = {"schema_version": SCHEMA_VERSION,
                "files": [{"path": p, "sha256": sha256(b), "size": len(b)} for p, b in sorted(files.items())]}
    manifest_bytes = json_bytes(manifest)
    target = out / f"{src.id}.arlesson"
    write_zip(target, [("lesson.json", lesson_bytes), ("manifest.json", manifest_bytes)]
              + sorted((p, b) for p, b in assets.items()))
    return BuildResult(target, lesson, manifest, built, cached)


def _build_group_into_cache(group: list[tuple[str, str]], cache: str) -> list[bool]:
    """One job: holograms (lesson folder, hologram id) of one body into the cache, the
    body read once. False for one that fails: the lesson's own build then meets the error
    and reports it where it belongs (the lesson field)."""
    versions, bodies, out = tool_versions(), {}, []
    for folder, hid in group:
        try:
            _cached_hologram(load_lesson(folder), hid, Path(cache), versions, None, bodies=bodies)
            out.append(True)
        except Exception:  # noqa: BLE001 - reported by the build that follows
            out.append(False)
    return out


def default_jobs() -> int:
    """Processes for building holograms: the CPUs this process may use, at most 4 (each
    build holds its label volume and meshes)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def build_lessons(folders, out_dir: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None,
                  use_cache: bool = True, thumbnail: bool = True, jobs: int | None = None,
                  progress=None) -> list[BuildResult]:
    """Build several lessons into ``out_dir``. Every lesson is validated first; then the
    holograms the cache does not hold are built in ``jobs`` processes at once (default
    :func:`default_jobs`), each once even when two lessons share it, and the bundles are
    written from the cache. The bundles are the bytes ``build_lesson`` writes one by one."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    folders = [Path(f) for f in folders]
    sources = [load_lesson(f) for f in folders]  # a bad lesson stops the build before any work
    scratch = None
    if cache_dir:
        cache = Path(cache_dir)
    elif use_cache:
        cache = default_cache_dir()
    else:
        scratch = Path(tempfile.mkdtemp(prefix="arkit-build-"))
        cache = scratch
    try:
        versions = tool_versions()
        todo: dict[str, tuple[str, str]] = {}
        for folder, src in zip(folders, sources):
            for hid, spec in src.data["holograms"].items():
                key = hologram_key(src, hid, versions)
                if key not in todo and not _in_cache(cache / key, *_wants(spec)):
                    todo[key] = (str(folder), hid)
        # the holograms of one body are one job: the body read and meshed once (the mesh
        # cache), the other holograms only coloured and written; bodies in parallel
        bodies: dict[str, list[str]] = {}
        for key, (folder, hid) in todo.items():
            src = sources[folders.index(Path(folder))]
            bodies.setdefault(_body_key(src, hid), []).append(key)
        groups = list(bodies.values())
        done: set[str] = set()

        def finished(group, ok):
            for key, good in zip(group, ok):
                if good:
                    done.add(key)
                if progress:
                    progress(f"{Path(todo[key][0]).name}: hologram {todo[key][1]} built")

        workers = min(len(groups), jobs or default_jobs())
        if workers <= 1:
            for group in groups:
                finished(group, _build_group_into_cache([todo[k] for k in group], str(cache)))
        else:
            # spawn, not fork: the caller may hold threads (numba's, a server's)
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_build_group_into_cache, [todo[k] for k in group], str(cache)): group
                           for group in groups}
                for future in as_completed(futures):
                    finished(futures[future], future.result())
        results = []
        for folder, src in zip(folders, sources):
            result = build_lesson(folder, out_dir, cache_dir=cache, thumbnail=thumbnail, progress=progress)
            for hid in list(result.cached):  # built a moment ago: built, not cached
                if hologram_key(src, hid, versions) in done:
                    result.cached.remove(hid)
                    result.built.append(hid)
            results.append(result)
        return results
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def sign_bundle(bundle_path: str | os.PathLike, key_path: str | os.PathLike) -> dict:
    """Add (or replace) ``signature.json`` in a checked bundle; returns the signature."""
    bundle = read_bundle(bundle_path)
    signature = signature_for(bundle.manifest_bytes, load_private_key(key_path))
    entries = [("lesson.json", bundle.files["lesson.json"]), ("manifest.json", bundle.manifest_bytes)]
    entries += sorted((p, b) for p, b in bundle.files.items() if p != "lesson.json")
    entries.append(("signature.json", (json.dumps(signature, indent=1, sort_keys=True) + "\n").encode()))
    write_zip(Path(bundle_path), entries)
    return signature


__all__ = ["BuildResult", "Bundle", "MEDIA_TYPES", "build_lesson", "build_lessons", "default_cache_dir",
           "default_jobs", "extract_bundle",
           "hologram_key", "read_bundle", "sha256", "sign_bundle", "tool_versions", "write_zip"]

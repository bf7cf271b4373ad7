"""Reading a lesson bundle without trusting it.

``read_bundle`` refuses, with one line (a ``LessonError`` ``<path>: <problem>``), anything
that does not match its manifest, paths that could escape a folder (zip-slip: absolute,
``..``, backslashes, NUL), links and other non-regular members, encrypted or duplicated
members, more than ``MAX_MEMBERS`` files, oversize or suspiciously compressed members
(zip bombs: sizes counted while streaming, never trusted from the zip header, against the
manifest, the bundle's total budget and a per-member compression ratio), unknown schema
versions and, when asked, a missing or untrusted signature. The format itself is in
``zipformat`` (docs/lesson-format.md).
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import LessonError
from .lessonjson import load_lesson_json
from .signing import verify_bundle
from .source import SCHEMA_VERSION
from .zipformat import ASSET_NAME, CHUNK, MAX_MEMBERS, MAX_RATIO, MAX_TOTAL_BYTES, safe_name, sha256


@dataclass
class Bundle:
    path: Path
    lesson: dict
    manifest: dict
    manifest_bytes: bytes
    files: dict[str, bytes]  # path -> bytes (lesson.json and assets), all checked
    signature: dict | None = None
    signed_by: str | None = None  # key_id of a verified signature


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
            why = safe_name(info.filename)
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
            why = safe_name(p)
            if why:
                raise fail(f"manifest.json: refused {p!r}: {why}")
            if p != "lesson.json" and not ASSET_NAME.match(p):
                raise fail(f"manifest.json: unexpected file {p!r} (lesson.json and assets/<sha256>.<glb|usdz|png|nrrd>)")
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


__all__ = ["Bundle", "read_bundle"]

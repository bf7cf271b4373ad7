"""The ``.arlesson`` zip: its layout, its limits, and how its bytes are written.

Layout (docs/lesson-format.md), a zip holding::

    lesson.json              the normalised lesson (schema_version; fields mirror lesson.yaml;
                             each hologram gains ``assets`` {glb, usdz}, ``structures``,
                             ``display`` and, with a tracer, ``legend`` and ``tracer_facts``
                             {tracer, nuclide, half_life_s, activity_bq}; the lesson a
                             ``thumbnail``; assets each {path, sha256, size, type})
    assets/<sha256>.<ext>    holograms (.glb, .usdz), the thumbnail (.png) and the slice's CT and
                             PET volumes (.nrrd, each hologram's ``volumes``), named by content
    manifest.json            {"schema_version": 1, "files": [{"path", "sha256", "size"}]}:
                             lesson.json and the assets, sorted by path (not itself, not the
                             signature)
    signature.json           optional: Ed25519 over the exact manifest.json bytes (``signing``)

Identical inputs give a byte-identical zip: entries in a fixed order, fixed times and
permissions, JSON with sorted keys (``json_bytes``, ``write_zip``). The limits a reader
enforces (``reading``) are here too, beside the format they bound.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import zipfile
from pathlib import Path

from ..fileio import write_atomic

# .nrrd: the CT and PET volumes of a fused slice (docs/hologram-format.md#volumes)
MEDIA_TYPES = {"glb": "model/gltf-binary", "usdz": "model/vnd.usdz+zip", "png": "image/png", "nrrd": "application/x-nrrd"}
ASSET_NAME = re.compile(r"^assets/[0-9a-f]{64}\.(glb|usdz|png|nrrd)$")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_TOTAL_BYTES = int(os.environ.get("ARKIT_MAX_BUNDLE_BYTES", 512 * 1024 * 1024))
MAX_RATIO = 200.0  # uncompressed / compressed, per member
MAX_MEMBERS = 1000
CHUNK = 1 << 16


def json_bytes(data) -> bytes:
    """``data`` as the bundle stores JSON: indented, sorted keys, UTF-8, one final newline."""
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_name(name: str) -> str | None:
    """Why ``name`` may not be a bundle member path; None when it is fine."""
    if not name or "\\" in name or "\0" in name:
        return "a path with backslashes or NUL bytes"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "a path that leaves the bundle ('..' or empty parts)"
    return None


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


__all__ = ["ASSET_NAME", "CHUNK", "MAX_MEMBERS", "MAX_RATIO", "MAX_TOTAL_BYTES", "MEDIA_TYPES", "ZIP_TIME",
           "json_bytes", "safe_name", "sha256", "write_zip"]

"""Unpacking a checked bundle into a folder, all or nothing.

``extract_bundle`` writes the files of a ``Bundle`` that ``read_bundle`` has checked into a
temporary folder beside the target, then renames it into place: nothing is left
half-written, and nothing lands outside the target (every path is resolved and checked
again, whatever ``read_bundle`` already refused).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import LessonError
from .reading import Bundle


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


__all__ = ["extract_bundle"]

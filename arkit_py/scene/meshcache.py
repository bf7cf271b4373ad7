"""The meshes of a segmentation kept on disk, so holograms of one body with different
tracers, windows or timings mesh it once.

The geometry steps (``surfaces``, ``decimation``, ``volume``, ``gather``) depend only on
the label volume after island removal, its affine, the body label, the labels selected and
the steps' options. The key is a hash of exactly those (the voxels themselves, not a file
name) and of a caller's ``salt`` (the tool versions and the pipeline's code), so an entry is
never reused for anything else. An entry is one ``.npz`` written to a temporary file and
renamed: a reader sees a whole entry or none, and two processes writing the same key write
the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..geometry.meshes import StructureMesh
from .document import Document, Step

NAME = "mesh cache"  # loading an entry, timed under this name


def mesh_key(doc: Document, steps: list[Step], salt: str) -> str:
    """The key of ``doc``'s meshes as ``steps`` would build them (after ``islands``)."""
    work = doc.work
    seg = work.segmentation
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps({"salt": salt, "body": seg.body_label, "labels": sorted(work.wanted),
                         "affine": np.asarray(seg.affine, dtype=np.float64).round(12).tolist(),
                         "steps": [[s.name, repr(s.options)] for s in steps],
                         "layers": [[list(layer.shape), str(layer.dtype)] for layer in seg.layers]},
                        sort_keys=True).encode())
    for layer in seg.layers:
        h.update(np.ascontiguousarray(layer).data)
    return h.hexdigest()


def load(folder: Path, key: str, doc: Document) -> bool:
    """Fill ``doc.work`` (meshes, error_mm, triangles_before) from the entry ``key``; False
    when there is none (or it cannot be read: it is then rebuilt)."""
    path = folder / f"{key}.npz"
    try:
        with open(path, "rb") as f, np.load(f) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            vertices, faces = data["vertices"], data["faces"]
            nv, nf = data["nv"], data["nf"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False
    meshes, v0, f0 = {}, 0, 0
    for label, a, b in zip(meta["labels"], nv, nf):
        meshes[int(label)] = StructureMesh(int(label), vertices[v0:v0 + a], faces[f0:f0 + b])
        v0, f0 = v0 + a, f0 + b
    work = doc.work
    work.meshes, work.error_mm, work.triangles_before = meshes, float(meta["error_mm"]), int(meta["triangles_before"])
    return True


def store(folder: Path, key: str, doc: Document) -> None:
    """Write ``doc.work``'s meshes as the entry ``key`` (atomically)."""
    work = doc.work
    labels = sorted(work.meshes)
    meta = {"labels": labels, "error_mm": work.error_mm, "triangles_before": work.triangles_before}
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                     nv=np.array([len(work.meshes[k].vertices) for k in labels], np.int64),
                     nf=np.array([len(work.meshes[k].faces) for k in labels], np.int64),
                     vertices=np.concatenate([work.meshes[k].vertices for k in labels]),
                     faces=np.concatenate([work.meshes[k].faces for k in labels]))
        os.replace(tmp, folder / f"{key}.npz")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def transform(doc: Document, steps: list[Step], folder: Path, salt: str, progress=None) -> bool:
    """Run the geometry ``steps`` on ``doc`` through the cache in ``folder``: the entry's
    meshes when there is one (timed as ``NAME``), else the steps themselves (each timed
    under its own name), then stored. Returns whether the entry was used."""
    key = mesh_key(doc, steps, salt)
    found = []
    doc.transform(Step(NAME, lambda d, _: found.append(load(folder, key, d))), progress=progress)
    if found[0]:
        return True
    del doc.seconds[NAME]
    doc.transform(*steps, progress=progress)
    store(folder, key, doc)
    return False

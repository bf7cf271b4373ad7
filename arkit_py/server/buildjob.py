"""One studio build, in a process of its own (``python -m arkit_py.server.buildjob``): the
server's request threads (cooperative under gevent) never run the pipeline.

    python -m arkit_py.server.buildjob bundle FOLDER OUT CACHE
    python -m arkit_py.server.buildjob hologram FOLDER CACHE HOLOGRAM

It prints one JSON object a line: ``{"progress": 0..1, "step": "..."}`` as the build goes,
then ``{"ok": true, ...}`` (the bundle's path, or the hologram's cache key and facts) or
``{"ok": false, "error": "<one line>"}``. Exit code 0, or 2 for a lesson that does not build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STEP_WORDS = {
    "select": "choosing the structures", "islands": "removing specks", "surfaces": "making the surfaces",
    "decimation": "simplifying the meshes", "volume": "measuring volumes", "gather": "gathering meshes",
    "frame": "placing the body", "normals": "shading", "materials": "colouring", "tracer": "animating the uptake",
    "merge": "merging draw calls", "mesh cache": "making the surfaces", "metadata": "labelling", "write": "writing the GLB",
}


def say(**fields) -> None:
    print(json.dumps(fields), flush=True)


def _hologram(src, hid: str, cache: Path, versions: dict, base: float, share: float, label: str):
    """Build (or take from the cache) one hologram, reporting its steps within [base, base + share]."""
    from ..lesson.bundle import _cached_hologram

    total = len(STEP_WORDS) - (0 if "tracer" in src.data["holograms"][hid] else 1)
    seen = [0]

    def progress(name: str) -> None:
        seen[0] += 1
        say(progress=round(base + share * min(seen[0] / (total + 2), 0.97), 3),
            step=f"{label}: {STEP_WORDS.get(name, name)}")

    say(progress=round(base, 3), step=f"{label}: reading the body")
    parts, _ = _cached_hologram(src, hid, cache, versions, progress)
    return parts


def main(argv: list[str]) -> int:
    from ..errors import ArkitError
    from ..lesson.bundle import build_lesson, hologram_key, tool_versions
    from ..lesson.source import load_lesson

    mode = argv[0]
    try:
        say(progress=0.01, step="checking the lesson")
        folder = Path(argv[1])
        src = load_lesson(folder)
        versions = tool_versions()
        if mode == "hologram":
            cache, hid = Path(argv[2]), argv[3]
            if hid not in src.data["holograms"]:
                raise ArkitError(f"the lesson has no hologram {hid!r}")
            parts = _hologram(src, hid, cache, versions, 0.02, 0.96, f"hologram {hid}")
            from ..lesson.bundle import _glb_facts

            volumes = json.loads(parts["volumes"]) if "volumes" in parts else None  # the slice's CT and PET
            say(ok=True, key=hologram_key(src, hid, versions), structures=json.loads(parts["structures"]),
                **_glb_facts(parts["glb"]), **({"volumes": volumes} if volumes else {}))
            return 0
        out, cache = Path(argv[2]), Path(argv[3])
        ids = list(src.data["holograms"])
        for i, hid in enumerate(ids):
            _hologram(src, hid, cache, versions, 0.02 + 0.85 * i / len(ids), 0.85 / len(ids),
                      f"hologram {hid} ({i + 1} of {len(ids)})")
        say(progress=0.9, step="writing the bundle")
        result = build_lesson(folder, out, cache_dir=cache)
        say(ok=True, bundle=str(result.bundle))
        return 0
    except ArkitError as error:
        say(ok=False, error=str(error).replace(str(Path(argv[1]).resolve()) + "/", "").splitlines()[0][:500])
        return 2
    except MemoryError:
        say(ok=False, error="the build ran out of memory")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

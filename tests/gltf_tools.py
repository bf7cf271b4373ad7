"""Check GLBs as docs/testing.md describes: the Khronos glTF-Validator and a load in three.js
GLTFLoader, both run by Node (``web_ar/tools/validate.mjs``, ``web_ar/tools/inspect.mjs``).

Pass one path for one result, or a list of paths for a list of results from a single Node
process (the suite runs on two cores: batch where you can)::

    report = validate_glb(path)
    assert_valid(report, compressed=False)
    scene = inspect_glb(path)
    [scene["nodes"][i]["extras"] for i, _ in enumerate(scene["nodes"])]

Needs Node and ``web_ar/node_modules`` (``npm ci --prefix web_ar``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEB_AR = REPO / "web_ar"
TOOLS = WEB_AR / "tools"

PathLike = str | os.PathLike

# docs/testing.md: compressed GLBs may carry issues that are not errors, e.g. the validator's
# UNSUPPORTED_EXTENSION info for EXT_meshopt_compression (whose data it does not check).


def _node() -> str:
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise RuntimeError("gltf_tools: Node.js is not installed (need node >= 20.19 on PATH, or NODE=/path/to/node)")
    for package in ("gltf-validator", "three"):
        if not (WEB_AR / "node_modules" / package / "package.json").exists():
            raise RuntimeError(
                f"gltf_tools: {WEB_AR / 'node_modules' / package} is missing: run `npm ci --prefix web_ar`"
            )
    return node


def _run(script: str, paths: PathLike | Sequence[PathLike], timeout: float) -> dict | list[dict]:
    single = isinstance(paths, (str, os.PathLike))
    files = [os.fspath(paths)] if single else [os.fspath(p) for p in paths]
    if not files:
        return []
    for f in files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"gltf_tools: {f}: no such file")
    proc = subprocess.run(
        [_node(), str(TOOLS / script), *[str(Path(f).resolve()) for f in files]],
        cwd=WEB_AR, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"gltf_tools: {script} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"gltf_tools: {script} printed no JSON ({exc}); stderr: {proc.stderr.strip()[-2000:]}") from None
    results = out if len(files) > 1 else [out]
    for f, r in zip(files, results):
        r["file"] = f  # the path as the caller gave it (the tools saw the absolute one)
    return results[0] if single else results


def validate_glb(paths: PathLike | Sequence[PathLike], *, timeout: float = 300) -> dict | list[dict]:
    """The Khronos validator's report for one GLB (a dict) or for several (a list, one Node
    process). A report is the validator's JSON: ``issues.numErrors``, ``numWarnings``,
    ``numInfos``, ``numHints``, ``issues.messages[] {code, severity (0 error, 1 warning,
    2 info, 3 hint), pointer|offset, message}``, ``info {drawCallCount,
    totalTriangleCount, ...}``. A file the validator could not take at all has
    ``{"file", "fatal": message}`` instead; :func:`issue_counts` counts that as an error."""
    return _run("validate.mjs", paths, timeout)


def inspect_glb(paths: PathLike | Sequence[PathLike], *, check: bool = True,
                timeout: float = 300) -> dict | list[dict]:
    """What three.js GLTFLoader makes of one GLB (a dict) or of several (a list, one Node
    process): ``nodes`` (named glTF nodes with ``name``, ``extras``, ``structure``,
    ``meshes`` and a world-space ``bbox``), ``animations`` (``name``, ``duration``,
    ``tracks``), ``scene_extras``, ``structures``, ``triangles``, ``draw_calls`` and the
    scene's world-space ``bbox``; see the header of ``web_ar/tools/inspect.mjs``.

    A file that does not load raises ``RuntimeError`` (with ``check=False`` its result is
    ``{"file", "error": message}`` instead)."""
    results = _run("inspect.mjs", paths, timeout)
    if check:
        for r in results if isinstance(results, list) else [results]:
            if "error" in r:
                raise RuntimeError(r["error"])
    return results


def issue_counts(report: dict) -> tuple[int, int]:
    """(errors, warnings) of a validator report; a file it could not read is one error."""
    if "fatal" in report:
        return 1, 0
    issues = report["issues"]
    return int(issues["numErrors"]), int(issues["numWarnings"])


def _describe(report: dict, severities: set[int]) -> str:
    if "fatal" in report:
        return report["fatal"]
    lines = [
        f"  {m['code']} at {m.get('pointer', m.get('offset', '?'))}: {m['message']}"
        for m in report["issues"]["messages"] if m["severity"] in severities
    ]
    more = len(lines) - 20
    return "\n".join(lines[:20] + ([f"  ... and {more} more"] if more > 0 else []))


def assert_valid(report: dict, compressed: bool) -> None:
    """The policy (docs/testing.md): an uncompressed GLB has 0 errors and 0 warnings; a compressed
    one (EXT_meshopt_compression, whose data the validator cannot check) has 0 errors.
    Fails with the offending messages listed."""
    errors, warnings = issue_counts(report)
    where = report.get("file") or report.get("uri") or "GLB"
    if compressed:
        assert errors == 0, f"{where}: {errors} validator errors\n{_describe(report, {0})}"
    else:
        assert errors == 0 and warnings == 0, (
            f"{where}: {errors} validator errors, {warnings} warnings\n{_describe(report, {0, 1})}"
        )


def uptake_colors(path: PathLike, times: Sequence[float], *, timeout: float = 120) -> dict:
    """Play the GLB's clip in three.js (AnimationMixer) and return each structure's colour
    at the clip ``times`` (see web_ar/tools/uptake_colors.mjs)."""
    proc = subprocess.run(
        [_node(), str(TOOLS / "uptake_colors.mjs"), str(Path(path).resolve()), *[repr(float(t)) for t in times]],
        cwd=WEB_AR, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"gltf_tools: uptake_colors.mjs exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)

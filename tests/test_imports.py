"""The import direction of DESIGN.md: sources -> geometry -> scene -> lesson -> server;
nothing imports server but the CLI; the pipeline never imports Flask."""

from __future__ import annotations

import ast
from pathlib import Path

import arkit_py

ROOT = Path(arkit_py.__file__).parent
LAYERS = ["structures", "errors", "sources", "phantoms", "geometry", "tracer", "scene", "lesson", "server"]
# phantoms produce Segmentations (a source); they sit beside sources
RANK = {"errors": 0, "structures": 0, "sources": 1, "phantoms": 1, "geometry": 2, "tracer": 2,
        "scene": 3, "lesson": 4, "server": 5}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(ROOT.parent).with_suffix("").parts
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level]
                out.append(".".join(base + ((node.module,) if node.module else ())))
            else:
                out.append(node.module or "")
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "arkit_py" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in RANK else None


def violations(here: str, module: str) -> list[str]:
    """Why ``module`` may not be imported from the package part ``here``."""
    target = _layer(module)
    out = []
    if here in RANK and target is not None and RANK[target] > RANK[here]:
        out.append("against the data flow")
    if target == "server" and here not in ("server", "cli", "cli_server"):
        out.append("only the CLI imports the server")
    if module.split(".")[0] in ("flask", "flask_socketio") and here != "server":
        out.append("the pipeline never imports Flask")
    return out


def test_imports_follow_the_data_flow():
    problems = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        here = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for module in _imports(path):
            problems += [f"{rel} imports {module}: {why}" for why in violations(here, module)]
    assert problems == []


def test_the_checker_refuses_wrong_imports():
    assert violations("geometry", "arkit_py.scene.document")
    assert violations("sources", "arkit_py.geometry.surfaces")
    assert violations("scene", "flask")
    assert violations("lesson", "arkit_py.server.app")
    assert violations("cli", "arkit_py.server.app") == []
    assert violations("scene", "arkit_py.geometry.frames") == []

"""The import direction (docs/architecture.md): sources -> geometry -> scene -> lesson -> server;
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


# -- no import cycles, counting imports inside functions ---------------------------------------

def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, modules: set[str]) -> set[str]:
    """The arkit modules ``path`` imports when it runs (at module level or in a function);
    imports under ``if TYPE_CHECKING:`` do not run and do not count. ``from . import x``
    imports the submodule x, not the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            subs = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in modules]
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(module)
    out = set()
    for module in found:
        while module and module not in modules:
            module = module.rpartition(".")[0]
        if module and module != name:
            out.add(module)
    return out


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_no_import_cycles():
    paths = list(ROOT.rglob("*.py"))
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _runtime_imports(p, modules) for p in paths}
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []
    assert import_cycles({"x": {"y"}, "y": {"x"}, "p": {"q"}, "q": {"p"}}) == [["p", "q"], ["x", "y"]]

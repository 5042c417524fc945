"""The backend's modules import one way: no circle among them (counting imports inside
functions too), no plugin, and the SDK never imports the backend."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend" / "axonize_backend"
CORE = ROOT / "src" / "axonize_core"


def _module(path: Path, root: Path, package: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


def _imports(path: Path, module: str) -> set[str]:
    """Every module ``path`` imports, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = {_module(p, root, package): p for p in sorted(root.rglob("*.py"))}
    return {m: {i for i in _imports(p, m) if i in modules and i != m} for m, p in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports, if there is one (depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state and (found := visit(n)):
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_backend_modules_import_each_other_without_a_circle() -> None:
    graph = _graph(BACKEND, "axonize_backend")
    assert {"axonize_backend.app", "axonize_backend.spans", "axonize_backend.otlp"} <= set(graph)
    assert "axonize_backend.schema" in graph["axonize_backend.sql"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_backend_uses_no_plugin_and_the_sdk_not_the_backend() -> None:
    backend = set().union(
        *(_imports(p, _module(p, BACKEND, "axonize_backend")) for p in BACKEND.rglob("*.py"))
    )
    assert "axonize_core.semconv" in backend  # the public SDK modules are allowed
    assert not {i for i in backend if i.split(".")[0] in ("axonize_transformers", "axonize_ollama")}
    core = set().union(*(_imports(p, _module(p, CORE, "axonize_core")) for p in CORE.rglob("*.py")))
    assert not {i for i in core if i.startswith("axonize_backend")}

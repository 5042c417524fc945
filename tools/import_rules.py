"""The project's dependency rules, checked by reading every import (``nox -s lint`` runs it).

1. ``axonize_core`` (and its facade ``axonize``) imports no plugin, no backend, no collector.
2. A plugin imports only ``axonize_core``'s public modules (no ``axonize_core._*``), and no
   other plugin, the backend or the collector.
3. The collector never imports the backend.
4. No two modules of one package import each other in a circle, imports inside functions
   included (they only hide a circle, they do not remove it).

Usage: ``python tools/import_rules.py [ROOT]``; exits 1 and names each broken rule.  Standard
library only, so that it runs before anything is installed.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CORE = ("axonize_core", "axonize")
BACKEND = "axonize_backend"
COLLECTOR = ("collector_processor", "axonize_collector")


@dataclass(frozen=True)
class Package:
    name: str  # top-level import name
    kind: str  # "core", "plugin", "backend", "collector"
    path: Path


@dataclass(frozen=True)
class Import:
    module: str  # importing module, dotted
    target: str  # imported module (or name under a module), dotted
    line: int
    path: Path


def packages(root: Path) -> list[Package]:
    """The project's packages, by where they live."""
    found = []
    for name in CORE:
        if (root / "src" / name).is_dir():
            found.append(Package(name, "core", root / "src" / name))
    for d in sorted((root / "plugins").glob("*/__init__.py")):
        found.append(Package(d.parent.name, "plugin", d.parent))
    for d in sorted((root / "backend").glob("*/__init__.py")):
        found.append(Package(d.parent.name, "backend", d.parent))
    for name in COLLECTOR:
        for base in (root, root / "collector_processor"):
            if (base / name / "__init__.py").is_file():
                found.append(Package(name, "collector", base / name))
    return found


def module_name(pkg: Package, file: Path) -> str:
    rel = file.relative_to(pkg.path).with_suffix("")
    parts = [pkg.name, *rel.parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(pkg: Package) -> Iterator[Import]:
    """Every import in the package, at any depth of the code (functions included)."""
    for file in sorted(pkg.path.rglob("*.py")):
        module = module_name(pkg, file)
        is_pkg = file.name == "__init__.py"
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, alias.name, node.lineno, file)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_pkg, node.module, node.level)
                if base == "__future__":
                    continue
                for alias in node.names:
                    yield Import(module, f"{base}.{alias.name}", node.lineno, file)


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, less the bodies of ``if TYPE_CHECKING:`` (imports for annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _absolute(module: str, is_pkg: bool, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    parts = module.split(".")
    keep = len(parts) - level + (1 if is_pkg else 0)
    return ".".join(parts[:keep] + ([name] if name else []))


def check(root: Path) -> list[str]:
    """Every broken rule, as ``path:line: message``."""
    pkgs = packages(root)
    by_name = {p.name: p for p in pkgs}
    errors: list[str] = []
    graphs: dict[str, dict[str, set[str]]] = {}
    modules: dict[str, set[str]] = {}
    for pkg in pkgs:
        modules[pkg.name] = {module_name(pkg, f) for f in pkg.path.rglob("*.py")}
    for pkg in pkgs:
        graph = graphs.setdefault(pkg.name, {m: set() for m in modules[pkg.name]})
        for imp in imports(pkg):
            top = imp.target.split(".")[0]
            where = f"{imp.path}:{imp.line}"
            other = by_name.get(top)
            if other is not None and other is not pkg:
                message = _forbidden(pkg, other, imp.target)
                if message:
                    errors.append(f"{where}: {imp.module} imports {imp.target}: {message}")
            if top == pkg.name:
                target = _resolve(imp.target, modules[pkg.name])
                if target is not None and target != imp.module:
                    graph[imp.module].add(target)
    for name, graph in graphs.items():
        for cycle in _cycles(graph):
            errors.append(f"{by_name[name].path}: modules import each other in a circle "
                          f"(imports inside functions count): {', '.join(cycle)}")
    return errors


def _forbidden(pkg: Package, other: Package, target: str) -> str:
    if pkg.kind == "core" and other.kind != "core":
        return f"axonize_core imports no {other.kind}"
    if pkg.kind == "plugin":
        if other.kind == "core":
            private = [p for p in target.split(".")[1:] if p.startswith("_")]
            if private and not target.endswith(".__version__"):
                return "plugins use only axonize_core's public plugin API, not its private modules"
            return ""
        return f"a plugin imports no {other.kind}" + (
            " (plugins never import each other)" if other.kind == "plugin" else "")
    if pkg.kind == "collector" and other.kind in ("backend", "plugin"):
        return f"the collector imports no {other.kind}"
    if pkg.kind == "backend" and other.kind == "plugin":
        return "the backend imports no plugin"
    return ""


def _resolve(target: str, known: set[str]) -> str | None:
    """The package module an import refers to: the longest known prefix."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name in known:
            return name
    return None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    errors = check(root)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} dependency rule(s) broken (see tools/import_rules.py)")
        return 1
    print(f"dependency rules hold for {len(packages(root))} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

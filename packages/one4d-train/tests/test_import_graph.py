"""No import circle among the workspace's modules (the five packages under packages/*/src).

The graph is read from the source with `ast`, not by importing anything: an edge A -> B for every
`import`/`from ... import` statement in A that names a project module B, wherever the statement stands
(module level or inside a function: a lazy import that keeps a heavy dependency off the start-up path still
ties the two modules together, and a circle through it is still a circle for a reader). Only imports under
`if TYPE_CHECKING:` are left out, since they never run. Relative imports are resolved; `from pkg import name`
counts as importing `pkg.name` when that is a module, else `pkg`; `import a.b.c` counts as importing the
deepest project module it names.

A second check reads the same graph one level up, each module standing for its package's top-level
part (`one4d_model.models.vae` for `one4d_model.models`): the subpackages of a package (one4d_model's models,
loading, pipelines, viz, cli) depend on one another one way only, so the folders show the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES_DIR = Path(__file__).resolve().parents[2]


def project_modules(packages_dir: Path = PACKAGES_DIR) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of every package's `src/`."""
    modules = {}
    for source in sorted(packages_dir.glob("*/src")):
        for path in sorted(source.rglob("*.py")):
            parts = list(path.relative_to(source).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the statements inside `if TYPE_CHECKING:` blocks (never executed)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for statement in node.body:
                    skipped.update(id(child) for child in ast.walk(statement))
    return skipped


def _deepest_module(name: str, modules: dict[str, Path]) -> str | None:
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that `module` (source at `path`) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets.update(_deepest_module(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            for alias in node.names:
                full = f"{stem}.{alias.name}"
                targets.add(full if full in modules else _deepest_module(stem, modules))
    targets.discard(None)
    targets.discard(module)
    return targets


def import_graph(packages_dir: Path = PACKAGES_DIR) -> dict[str, set[str]]:
    modules = project_modules(packages_dir)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (as a closed path `a -> ... -> a`) per strongly connected component with one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle_in(component, graph) for component in components]


def _circle_in(component: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest circle through the component's first module (breadth-first inside the component)."""
    start = min(component)
    parents = {start: None}
    queue = [start]
    for node in queue:
        for successor in sorted(graph[node] & component):
            if successor == start:
                path = [node]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return [*reversed(path), start]
            if successor not in parents:
                parents[successor] = node
                queue.append(successor)
    raise AssertionError("a strongly connected component without a circle")


def test_finds_circles_through_lazy_imports(tmp_path):
    package = tmp_path / "one4d-x" / "src" / "pkg_x"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text('"""x."""\n')
    (package / "sub" / "__init__.py").write_text('"""sub."""\n')
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (package / "c.py").write_text("import pkg_x.a.thing\n")
    (package / "d.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    from . import a\n")
    graph = import_graph(tmp_path)
    assert graph["pkg_x.a"] == {"pkg_x.sub.b"}
    assert graph["pkg_x.d"] == set()
    assert find_cycles(graph) == [["pkg_x.a", "pkg_x.sub.b", "pkg_x.c", "pkg_x.a"]]
    assert find_cycles(package_graph(graph)) == [["pkg_x.a", "pkg_x.sub", "pkg_x.c", "pkg_x.a"]]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """`graph` with every module replaced by its top-level part (`a.b.c` -> `a.b`), self-edges dropped."""

    def part(module: str) -> str:
        return ".".join(module.split(".")[:2])

    parts: dict[str, set[str]] = {}
    for module, targets in graph.items():
        parts.setdefault(part(module), set()).update(part(t) for t in targets if part(t) != part(module))
    return parts


def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 50, f"found only {len(graph)} modules under {PACKAGES_DIR}"
    cycles = find_cycles(graph)
    if cycles:
        pytest.fail("import circles: " + "; ".join(" -> ".join(cycle) for cycle in cycles))


def test_no_circles_between_subpackages():
    cycles = find_cycles(package_graph(import_graph()))
    if cycles:
        pytest.fail("circles between subpackages: " + "; ".join(" -> ".join(cycle) for cycle in cycles))

"""No import cycle inside `sentiflow`: every import counts, whether at the top of a module,
inside a function or under TYPE_CHECKING, and importing `a.b.c` counts as importing the
packages `a` and `a.b` too (Python runs their `__init__` first). import-linter's contracts in
pyproject.toml add the layering rules; this test is the cycle check on its own."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import sentiflow

ROOT = Path(sentiflow.__file__).parent


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name → (file, whether it is a package's __init__)."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, package)
    return found


def _with_parents(name: str) -> Iterator[str]:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def imports(name: str, path: Path, package: bool, known: set[str]) -> set[str]:
    """The sentiflow modules `name` imports anywhere in its file, with their parent packages."""
    here = name.split(".") if package else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*here[: len(here) - node.level + 1], *filter(None, [base])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    found = {parent for t in targets for parent in _with_parents(t) if parent in known}
    # A package's own parents are imported before it; only edges to others count.
    return found - set(_with_parents(name))


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph`, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_there_is_no_import_cycle() -> None:
    known = modules()
    graph = {
        name: imports(name, path, package, set(known)) for name, (path, package) in known.items()
    }
    assert len(graph) > 100, "the package was not found"
    found = cycle(graph)
    assert found is None, "import cycle: " + " -> ".join(found or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None

"""The shape of the code, checked: no import cycles between headstart modules (function-level and
TYPE_CHECKING imports counted), modules of at most 400 lines, functions of at most 60 (the training
loop excepted), and lazy imports of headstart modules only where start-up time needs them.

import-linter (`make lint`) checks the layers; this walks the source itself, so a cycle hidden in
a function body cannot slip through. Each checker is first shown to catch a planted violation.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "headstart"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_FUNCTIONS_ALLOWED = {
    "headstart.training.loop.train_classifier",  # the loop reads in one sitting
    "headstart.microtasks.migrations.versions.0001_initial.upgrade",  # a schema, written once
}
# Start-up time: `import headstart` and `headstart --help` must not load torch, nor must the task
# service (a project's model rule loads a run when it first needs it), so these import headstart
# modules inside functions or only for type checkers.
LAZY_IMPORTERS = ("headstart", "headstart.microtasks.engine", "headstart.cli")


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def imported_modules(node: ast.AST, known: set[str], importer: str) -> Iterator[str]:
    """The headstart modules an import statement names (`from a import b` names a.b when b is one)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names if alias.name in known)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative import
            package = importer.split(".")[: len(importer.split(".")) - node.level + 1]
            base = ".".join(package + ([base] if base else []))
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in known:
                yield submodule
            elif base in known:
                yield base


def import_graph(root: Path) -> dict[str, set[str]]:
    found = modules(root)
    known = set(found)
    return {
        name: {
            target
            for node in ast.walk(ast.parse(path.read_text()))
            for target in imported_modules(node, known, name)
        }
        - {name}
        for name, path in found.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def long_functions(root: Path) -> list[str]:
    offenders = []
    for name, path in modules(root).items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and f"{name}.{node.name}" not in LONG_FUNCTIONS_ALLOWED:
                    offenders.append(f"{name}.{node.name} ({length} lines)")
    return offenders


def long_modules(root: Path) -> list[str]:
    return [
        f"{name} ({lines} lines)"
        for name, path in modules(root).items()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def hidden_imports(root: Path) -> list[str]:
    """headstart modules imported inside a function or only under TYPE_CHECKING, outside LAZY_IMPORTERS."""
    found = modules(root)
    known = set(found)
    offenders = []
    for name, path in found.items():
        if name in LAZY_IMPORTERS or name.startswith("headstart.cli."):
            continue
        tree = ast.parse(path.read_text())
        hiding = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        hiding += [n for n in ast.walk(tree) if isinstance(n, ast.If) and _is_type_checking(n.test)]
        for block in hiding:
            for node in ast.walk(block):
                offenders += [
                    f"{name} imports {target} (line {node.lineno})"
                    for target in imported_modules(node, known, name)
                ]
    return sorted(set(offenders))


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A tiny package with one of each violation: a cycle through a function-level import, a long
    module, a long function and an import under TYPE_CHECKING."""
    root = tmp_path / "headstart"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from headstart import b\n")
    (root / "b.py").write_text("def late():\n    from headstart.a import x\n")
    body = "\n".join(f"    value_{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (root / "c.py").write_text(f"def long():\n{body}\n" + "\n" * MAX_MODULE_LINES)
    (root / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from headstart import a\n"
    )
    return root


def test_the_checkers_catch_planted_violations(planted: Path) -> None:
    assert find_cycle(import_graph(planted)) == ["headstart.a", "headstart.b", "headstart.a"]
    assert long_functions(planted) == [f"headstart.c.long ({MAX_FUNCTION_LINES + 1} lines)"]
    assert long_modules(planted) == [f"headstart.c ({MAX_FUNCTION_LINES + 1 + MAX_MODULE_LINES} lines)"]
    assert hidden_imports(planted) == [
        "headstart.b imports headstart.a (line 2)",
        "headstart.d imports headstart.a (line 3)",
    ]


def test_no_import_cycle_between_headstart_modules() -> None:
    graph = import_graph(SOURCE)
    assert len(graph) > 80 and sum(map(len, graph.values())) > 200  # the walk really read the package
    assert find_cycle(graph) is None


def test_modules_and_functions_stay_short() -> None:
    assert long_modules(SOURCE) == []
    assert long_functions(SOURCE) == []


def test_headstart_modules_are_imported_at_the_top() -> None:
    assert hidden_imports(SOURCE) == []

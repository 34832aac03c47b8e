"""The shape of the code: package layering, no import cycles, modules of a readable size.

Dependencies point one way: ``microgrid`` (the park's description) ←
``forecasting`` ← ``dispatch`` ← ``service``. Every import counts, those
inside functions and under ``TYPE_CHECKING`` too: a lazy import is still a
dependency a reader has to follow, and a cycle through one is still a cycle.

Known violations that are being removed elsewhere sit in explicit allow-lists
below. Each entry is checked to be still needed: once the code no longer has
it, the test fails until the entry is deleted, so the lists only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The packages, lowest layer first: a module may import only from its own layer or lower ones.
LAYERS = ("microgrid", "forecasting", "dispatch", "service")

MAX_MODULE_LINES = 650

#: Imports from a lower layer into a higher one, allowed for now: (importer, imported module).
ALLOWED_LAYER_VIOLATIONS: set[tuple[str, str]] = set()

#: Imports that close a cycle between modules of one package, allowed until their cycle is removed:
#: (importer, imported module). Without them the module graph must have no cycle.
ALLOWED_CYCLE_IMPORTS: set[tuple[str, str]] = set()

#: Modules over MAX_MODULE_LINES, allowed until they are split (paths relative to the repository).
ALLOWED_LONG_MODULES: set[str] = set()


# --------------------------------------------------------------------------- the import graph


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of ``packages`` under ``root``."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of dotted ``name`` that is one of ``modules`` (``None``: outside them)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that ``module`` imports anywhere in its file (functions included).

    ``from package import name`` counts as an import of ``package.name`` when
    that is a module, else of ``package``; relative imports are resolved
    against the module's package.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(_known(alias.name, modules) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in modules else _known(base, modules))
    found.discard(None)
    found.discard(module)
    return found


def import_graph(root: Path = ROOT, packages: tuple[str, ...] = LAYERS) -> dict[str, set[str]]:
    """Module → the modules of ``packages`` it imports."""
    modules = module_files(root, packages)
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def layer_violations(graph: dict[str, set[str]], layers: tuple[str, ...] = LAYERS) -> set[tuple[str, str]]:
    """Imports of a module from a package above its own."""
    rank = {package: k for k, package in enumerate(layers)}
    return {(module, imported) for module, targets in graph.items() for imported in targets
            if rank[imported.split(".")[0]] > rank[module.split(".")[0]]}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def within_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph's imports between modules of the same top-level package."""
    return {module: {t for t in targets if t.split(".")[0] == module.split(".")[0]}
            for module, targets in graph.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted, in sorted order."""
    reach = {module: _reachable(graph, module) for module in graph}
    components = {frozenset({module} | {other for other in reach[module] if module in reach[other]})
                  for module in graph}
    return sorted(sorted(c) for c in components if len(c) > 1)


# --------------------------------------------------------------------------- the checks on this repository


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_package_imports_only_from_its_own_layer_or_below(graph) -> None:
    found = layer_violations(graph)
    new = sorted(found - ALLOWED_LAYER_VIOLATIONS)
    assert not new, "imports from a higher layer (microgrid ← forecasting ← dispatch ← service): " + \
        ", ".join(f"{a} imports {b}" for a, b in new)
    gone = sorted(ALLOWED_LAYER_VIOLATIONS - found)
    assert not gone, f"no longer needed, remove from ALLOWED_LAYER_VIOLATIONS: {gone}"


def test_the_park_package_imports_nothing_above_it(graph) -> None:
    """The case loader reads and validates: PV, forecasts and plans are computed above it."""
    above = sorted(t for m, targets in graph.items() if m.split(".")[0] == "microgrid" for t in targets
                   if t.split(".")[0] != "microgrid")
    assert above == []


def test_no_import_cycle_within_a_package(graph) -> None:
    local = within_packages(graph)
    allowed_removed = {m: targets - {b for a, b in ALLOWED_CYCLE_IMPORTS if a == m} for m, targets in local.items()}
    cycles = import_cycles(allowed_removed)
    assert not cycles, "import cycles (break them, e.g. move the shared part into its own module): " + \
        "; ".join(" ↔ ".join(c) for c in cycles)
    stale = sorted((a, b) for a, b in ALLOWED_CYCLE_IMPORTS
                   if b not in local.get(a, set()) or a not in _reachable(local, b))
    assert not stale, f"no longer on a cycle, remove from ALLOWED_CYCLE_IMPORTS: {stale}"


def test_no_module_is_longer_than_the_limit() -> None:
    lengths = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
               for path in module_files(ROOT, LAYERS).values()}
    long = {name for name, lines in lengths.items() if lines > MAX_MODULE_LINES}
    new = sorted(long - ALLOWED_LONG_MODULES)
    assert not new, f"modules over {MAX_MODULE_LINES} lines (split them by responsibility): " + \
        ", ".join(f"{name} ({lengths[name]})" for name in new)
    gone = sorted(ALLOWED_LONG_MODULES - long)
    assert not gone, f"no longer over {MAX_MODULE_LINES} lines (or gone), remove from ALLOWED_LONG_MODULES: {gone}"


# --------------------------------------------------------------------------- the checks themselves, by hand


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_graph_sees_lazy_relative_and_from_package_imports(tmp_path: Path) -> None:
    _write(tmp_path, {
        "low/__init__.py": "",
        "low/a.py": "import os\nfrom . import b\n",
        "low/b.py": "def f():\n    from low.c import g\n",
        "low/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub.d import x\n",
        "low/sub/__init__.py": "from ..a import y\n",
        "low/sub/d.py": "import low.sub\nimport high.e.nothing\n",
        "high/__init__.py": "",
        "high/e.py": "from low import a\nimport low.sub.d as d\n",
    })
    graph = import_graph(tmp_path, ("low", "high"))
    assert graph == {
        "low": set(), "low.a": {"low.b"}, "low.b": {"low.c"}, "low.c": {"low.sub.d"}, "low.sub": {"low.a"},
        "low.sub.d": {"low.sub", "high.e"}, "high": set(), "high.e": {"low.a", "low.sub.d"},
    }
    assert layer_violations(graph, ("low", "high")) == {("low.sub.d", "high.e")}
    local = within_packages(graph)
    assert local["low.sub.d"] == {"low.sub"}
    assert import_cycles(local) == [["low.a", "low.b", "low.c", "low.sub", "low.sub.d"]]


def test_cycles_are_the_strongly_connected_components() -> None:
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}, "e": {"a"}, "f": {"f"}}
    assert import_cycles(graph) == [["a", "b"], ["c", "d"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []

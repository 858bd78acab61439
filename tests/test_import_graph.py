"""The package's import graph (every import, lazy ones included) has no cycle, runs down the package's layers (at
most 3 arrows climb back up), hides no dependency behind a ``sys.modules`` lookup, and every module imports on its
own in a fresh interpreter (a cycle that only bites in one import order shows up here, not in the suite's order)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from support.layers import LAYERS, layer_of
from support.shared import REPO

SRC = REPO / "src"
PACKAGE = SRC / "tokcount"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, also those inside functions (a lazy import that closes a cycle is still a cycle,
    only hidden until the function runs), except ``if TYPE_CHECKING:`` blocks (annotations only)."""
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            typing_only.update(id(n) for n in ast.walk(node))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in typing_only]


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The package modules an import statement loads (``from .x import y`` loads ``x.y`` when that is a module)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in MODULES}
    is_package = MODULES[module].name == "__init__.py"
    if node.level:
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    out = set()
    for alias in node.names:
        sub = f"{prefix}.{alias.name}"
        if sub in MODULES:
            out.add(sub)
        elif prefix in MODULES:
            out.add(prefix)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = set().union(*(_targets(name, n) for n in _imports(tree))) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_real_edges() -> None:
    graph = import_graph()
    assert "tokcount.renderers" in graph["tokcount.count"]
    assert "tokcount.token_count" in graph["tokcount.dialects._api"]
    assert "tokcount.renderers.openai.framing" in graph["tokcount.renderers.openai.renderer"]
    # and the finder finds a cycle when there is one
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_import_graph_is_acyclic() -> None:
    assert find_cycle(import_graph()) is None


def test_engine_result_is_not_imported_from_the_facade() -> None:
    """``Count`` lives in token_count.py; nothing inside the package imports it back from count.py."""
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[-1] == "count" and \
                    any(a.name == "Count" for a in node.names):
                raise AssertionError(f"{name} imports Count from {node.module}")


def test_settings_are_the_one_source_of_render_defaults() -> None:
    """The settings define the render bounds' defaults and import nothing of the renderers; the bounds read them
    (issue 24: ``settings`` imported the constants of ``limits``, and ``config`` patched ``limits.default_source``)."""
    graph = import_graph()
    assert not {m for m in graph["tokcount.settings"] if m.startswith("tokcount.renderers")}
    assert "tokcount.settings" in graph["tokcount.renderers.jinja.limits"]
    assert not {m for m in graph["tokcount.settings_in_force"] if m.startswith("tokcount.renderers")}


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    names = list(MODULES)
    script = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    for name in names:
        done = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"


#: the arrows that still climb back up, each with why it stays (at most 3)
KNOWN_UPWARD = {
    # the library facade takes an OpenAI-chat dict as well as a Request: that reading is the openai_chat dialect's
    ("tokcount.count", "tokcount.dialects.openai_chat"),
    # RepoPolicy allows a repo the operator put in the asset directories: asked of assets, lazily, when resolving
    ("tokcount.models.catalog", "tokcount.assets"),
}


def upward_arrows(graph: dict[str, set[str]],
                  layers: tuple[tuple[str, tuple[str, ...]], ...] = LAYERS) -> set[tuple[str, str]]:
    """The imports that climb back up: a module importing one of a layer above its own."""
    return {(a, b) for a, targets in graph.items() for b in targets if layer_of(b, layers) > layer_of(a, layers)}


def test_the_layer_measure_sees_an_upward_arrow() -> None:
    layers = (("top", ("t",)), ("bottom", ("b",)))
    assert upward_arrows({"t": {"b"}, "b": set()}, layers) == set()
    assert upward_arrows({"t": set(), "b": {"t"}, "b.x": {"b"}}, layers) == {("b", "t")}


def test_at_most_three_imports_climb_back_up() -> None:
    """Before issue 24's request-path work: 10 (measured with this table); now the ones in KNOWN_UPWARD."""
    up = upward_arrows(import_graph())
    assert up <= KNOWN_UPWARD, f"new arrows climbing back up: {sorted(up - KNOWN_UPWARD)}"
    assert len(up) <= 3


def test_no_sys_modules_lookups() -> None:
    """A ``sys.modules`` lookup is a dependency the import graph cannot see: pass it down or invert it instead."""
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "modules" and \
                    isinstance(node.value, ast.Name) and node.value.id == "sys":
                raise AssertionError(f"{name}:{node.lineno} looks a module up in sys.modules")

"""The rules of docs/architecture.md that a machine can check, read from the
source: every import (lazy ones included) goes the way the layer table in
docs/architecture.md allows (the table is read from that file, so the two
say the same), no import cycles between modules, no private name or
attribute of one module's objects used from another, Qt only under
canvas_app/ui/, heavy libraries imported lazily."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "insightface", "ray", "dlib", "onnxruntime")
# cv2 does the pixel work of these packages; the editor still opens without it
# (tests/ui/test_editing.py checks sys.modules after opening a window).
CV2_ALLOWED = ("canvas_app.generation", "canvas_app.identity", "canvas_app.media")
# The farm's Ray side: loaded only by canvas_app.farm.ray_dispatcher, after it
# has checked that ray is installed, so nothing else ever imports them eagerly.
RAY_ALLOWED = ("canvas_app.farm.dispatcher", "canvas_app.farm.remote")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(path): path for folder in ("canvas_app", "nodes")
           for path in sorted((ROOT / folder).rglob("*.py"))}


class _Import:
    def __init__(self, module: str, name: str | None, top_level: bool, line: int) -> None:
        self.module, self.name, self.top_level, self.line = module, name, top_level, line


def _imports(path: Path) -> list[_Import]:
    """Every absolute import in a file; top_level is False inside functions
    (lazy imports) and `if TYPE_CHECKING:` blocks are skipped."""
    found: list[_Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            elif isinstance(child, ast.Import):
                found.extend(_Import(alias.name, None, top_level, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level == 0 and child.module:
                    found.extend(_Import(child.module, alias.name, top_level, child.lineno)
                                 for alias in child.names)
            else:
                visit(child, top_level)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return found


IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _target(module: str, name: str | None) -> str | None:
    """The project module an import reaches (a submodule when `name` is one)."""
    if name and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module if module in MODULES else None


def _import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, imports in IMPORTS.items():
        for imp in imports:
            target = _target(imp.module, imp.name)
            # a module importing its own package's __init__ is how packages work
            if target and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in graph[node]:
            if following not in index:
                strong(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            strong(node)
    return found


def test_the_checker_sees_the_whole_program():
    assert "canvas_app.graph.model" in MODULES and "nodes.generate" in MODULES
    assert any(imp.module == "canvas_app.graph.model" for imp in IMPORTS["canvas_app.graph"])
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycles_between_modules_even_through_lazy_imports():
    assert _cycles(_import_graph()) == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


# -- the layer table ---------------------------------------------------------------------
def _layer_table(text: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """From the "## Layers" table: module path prefix -> layer, and layer ->
    what it may import (layer names, or module paths allowed as exceptions)."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    paths: dict[str, str] = {}
    allowed: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("Layer", "") or set(cells[0]) <= {"-"}:
            continue
        layer, modules, _job, imports = cells
        for path in re.findall(r"`([^`]+)`", modules):
            paths[path] = layer
        allowed[layer] = {layer} | {item.strip().strip("`") for item in imports.split(",")}
    return paths, allowed


LAYER_PATHS, LAYER_IMPORTS = _layer_table((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))


def _path_of(module: str) -> str:
    return MODULES[module].relative_to(ROOT).as_posix()


def _layer_of(module: str) -> str | None:
    """The layer of a module: its file, or the longest folder that holds it."""
    path = _path_of(module)
    best = max((prefix for prefix in LAYER_PATHS
                if path == prefix or (prefix.endswith("/") and path.startswith(prefix))),
               key=len, default=None)
    return LAYER_PATHS[best] if best is not None else None


def _layer_violations(imports_by_module: dict[str, list[_Import]]) -> list[str]:
    found = []
    for name, imports in imports_by_module.items():
        layer = _layer_of(name)
        for imp in imports:
            target = _target(imp.module, imp.name)
            if target is None or target == name:
                continue
            allowed = LAYER_IMPORTS.get(layer, set())
            if _layer_of(target) not in allowed and _path_of(target) not in allowed:
                how = "" if imp.top_level else " (lazily)"
                found.append(f"{_path_of(name)}:{imp.line} ({layer}) imports {target} "
                             f"({_layer_of(target)}){how}")
    return found


def test_the_layer_table_covers_every_module():
    assert set(LAYER_IMPORTS) >= {"foundation", "graph", "engine", "services", "nodes", "ui"}
    unplaced = [_path_of(name) for name in MODULES if _layer_of(name) is None]
    assert unplaced == [], "add these to the table in docs/architecture.md"


def test_the_layer_check_catches_what_a_review_found():
    """graph -> media (even lazily) and engine -> ui are refused."""
    lazy_media = {"canvas_app.graph.spec": [_Import("canvas_app.media.images", "image_problem", False, 1)]}
    engine_ui = {"canvas_app.engine.executor": [_Import("canvas_app.ui.run_state", "RunStates", True, 1)]}
    engine_farm = {"canvas_app.engine.child_process": [_Import("canvas_app.farm", "ray_dispatcher",
                                                               False, 1)]}
    for imports in (lazy_media, engine_ui, engine_farm):
        assert len(_layer_violations(imports)) == 1
    allowed = {"canvas_app.ui.run_state": [_Import("canvas_app.engine.events", "NodeResult", True, 1)]}
    assert _layer_violations(allowed) == []


def test_every_import_goes_the_way_the_layer_table_allows():
    assert _layer_violations(IMPORTS) == []


# -- private names -----------------------------------------------------------------------
# Private attributes of other libraries' objects that their documentation tells
# callers to set: diffusers stops a pipeline from a step callback with
# `pipe._interrupt = True` and places inputs on `pipe._execution_device`; the
# standard library's documented `os._exit` ends a process without cleanup.
FOREIGN_PROTOCOL = {"_interrupt", "_execution_device", "_exit"}


def _private_attribute_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """`something._name` where something is not self or cls: a private
    attribute of another object (another module's, unless it is self's)."""
    return [(node.lineno, ast.unparse(node)) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and _private(node.attr)
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            and node.attr not in FOREIGN_PROTOCOL]


def test_the_private_attribute_check_sees_a_read_across_objects():
    tree = ast.parse("def f(window):\n    window.view.minimap._render()\n    self._fine()\n")
    assert _private_attribute_reads(tree) == [(2, "window.view.minimap._render")]


def test_no_private_attribute_of_another_object_is_used():
    found = [f"{path.relative_to(ROOT)}:{line} {text}" for path in MODULES.values()
             for line, text in _private_attribute_reads(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []


def test_no_private_names_cross_a_module():
    crossings = []
    for name, path in MODULES.items():
        modules_by_alias = {}
        for imp in IMPORTS[name]:
            if imp.name is not None and _private(imp.name):
                crossings.append(f"{path.relative_to(ROOT)}:{imp.line} imports {imp.module}.{imp.name}")
            target = _target(imp.module, imp.name)
            if target:
                modules_by_alias[imp.name or imp.module.split(".")[0]] = target
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and _private(node.attr) and \
                    isinstance(node.value, ast.Name) and node.value.id in modules_by_alias:
                crossings.append(f"{path.relative_to(ROOT)}:{node.lineno} uses "
                                 f"{modules_by_alias[node.value.id]}.{node.attr}")
    assert crossings == []


def test_qt_is_imported_only_under_ui():
    outside = [f"{MODULES[name].relative_to(ROOT)}:{imp.line}" for name, imports in IMPORTS.items()
               if not name.startswith("canvas_app.ui") for imp in imports
               if imp.module.split(".")[0] in ("PySide6", "shiboken6")]
    assert outside == []


@pytest.mark.parametrize("library", HEAVY + ("cv2",))
def test_heavy_libraries_are_imported_lazily(library):
    allowed = {"cv2": CV2_ALLOWED, "ray": RAY_ALLOWED}.get(library, ())
    eager = [f"{MODULES[name].relative_to(ROOT)}:{imp.line}" for name, imports in IMPORTS.items()
             for imp in imports if imp.top_level and imp.module.split(".")[0] == library
             and not name.startswith(allowed or "\0")]
    assert eager == []

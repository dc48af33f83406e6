"""The rules of DESIGN.md that a machine can check, read from the source:
no import cycles between modules, no private names imported across modules,
Qt only under canvas_app/ui/, heavy libraries imported lazily."""
from __future__ import annotations

import ast
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

"""Finds node types: every NodeType subclass in the modules of `nodes/`."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

from canvas_app.graph.spec import NodeType


class NodeRegistry:
    def __init__(self) -> None:
        self._types: dict[str, type[NodeType]] = {}

    def register(self, node_class: type[NodeType]) -> type[NodeType]:
        name = node_class.spec.type_name
        existing = self._types.get(name)
        if existing is not None and existing is not node_class:
            raise ValueError(f"node type {name!r} is defined twice: {existing} and {node_class}")
        self._types[name] = node_class
        return node_class

    def discover(self, package_name: str = "nodes") -> "NodeRegistry":
        package = importlib.import_module(package_name)
        for module_info in pkgutil.iter_modules(package.__path__, package_name + "."):
            module = importlib.import_module(module_info.name)
            for _, member in inspect.getmembers(module, inspect.isclass):
                if (issubclass(member, NodeType) and member is not NodeType
                        and member.__module__ == module.__name__ and hasattr(member, "spec")):
                    self.register(member)
        return self

    def get(self, type_name: str) -> type[NodeType] | None:
        return self._types.get(type_name)

    def __contains__(self, type_name: str) -> bool:
        return type_name in self._types

    def names(self) -> list[str]:
        return list(self._types)

    def specs(self):
        return [node_class.spec for node_class in self._types.values()]


_default: NodeRegistry | None = None


def default_registry() -> NodeRegistry:
    """The built-in node types, discovered once."""
    global _default
    if _default is None:
        _default = NodeRegistry().discover("nodes")
    return _default

"""The graph model: nodes with typed ports and params, links, validation."""
from canvas_app.graph.model import Backdrop, Graph, GraphError, Link, Node
from canvas_app.graph.registry import NodeRegistry, default_registry
from canvas_app.graph.spec import (IdentityVerdict, MemoryCost, NodeSpec, NodeType, ParamSpec,
                                   Placement, PortSpec)

__all__ = ["Backdrop", "Graph", "GraphError", "Link", "Node", "NodeRegistry", "IdentityVerdict",
           "MemoryCost", "NodeSpec", "NodeType", "ParamSpec", "Placement", "PortSpec",
           "default_registry"]

"""The graph model: nodes with typed ports and params, links, validation."""
from canvas_app.graph.model import Backdrop, Graph, GraphError, Link, Node
from canvas_app.graph.registry import NodeRegistry, default_registry
from canvas_app.graph.spec import NodeSpec, NodeType, ParamSpec, PortSpec

__all__ = ["Backdrop", "Graph", "GraphError", "Link", "Node", "NodeRegistry", "NodeSpec",
           "NodeType", "ParamSpec", "PortSpec", "default_registry"]

"""Tiny node types for engine tests and benchmarks: numbers instead of video."""
from __future__ import annotations

import time

from canvas_app.errors import BadInput
from canvas_app.graph import NodeRegistry, NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import NUMBER

RUN_COUNTS: dict[str, int] = {}


def _count(ctx) -> None:
    RUN_COUNTS[ctx.node_id] = RUN_COUNTS.get(ctx.node_id, 0) + 1


class Const(NodeType):
    spec = NodeSpec("Const", 1, "Const", outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("value", "float", 1.0),))

    def run(self, inputs, params, ctx):
        _count(ctx)
        return {"value": params["value"]}


class AddOne(NodeType):
    spec = NodeSpec("AddOne", 1, "Add one", inputs=(PortSpec("x", NUMBER),),
                    outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("amount", "float", 1.0),))

    def run(self, inputs, params, ctx):
        _count(ctx)
        return {"value": inputs["x"] + params["amount"]}


class Sum(NodeType):
    spec = NodeSpec("Sum", 1, "Sum", inputs=(PortSpec("values", NUMBER, multiple=True),),
                    outputs=(PortSpec("value", NUMBER),))

    def run(self, inputs, params, ctx):
        _count(ctx)
        return {"value": sum(inputs["values"])}


class Slow(NodeType):
    """Loops with progress (the cancel point) like a renderer does per frame."""

    spec = NodeSpec("Slow", 1, "Slow", inputs=(PortSpec("x", NUMBER, optional=True),),
                    outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("steps", "int", 50), ParamSpec("step_seconds", "float", 0.02)))

    def run(self, inputs, params, ctx):
        _count(ctx)
        for step in range(params["steps"]):
            time.sleep(params["step_seconds"])
            ctx.progress((step + 1) / params["steps"])
        return {"value": (inputs.get("x") or 0) + 1}


class Broken(NodeType):
    spec = NodeSpec("Broken", 1, "Broken", inputs=(PortSpec("x", NUMBER, optional=True),),
                    outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("bad_input", "bool", False),))

    def run(self, inputs, params, ctx):
        _count(ctx)
        if params["bad_input"]:
            raise BadInput("the value is wrong", field="x")
        raise RuntimeError("renderer exploded")


def fake_registry() -> NodeRegistry:
    registry = NodeRegistry()
    for node_class in (Const, AddOne, Sum, Slow, Broken):
        registry.register(node_class)
    return registry

"""Tiny node types for tests and benchmarks: numbers instead of video.

`fake_registry()`: the engine's tests (Const, AddOne, Sum, Loop, Broken).
`registry()`: the editor's execution tests (Source, Slow, Fail, Sink), fast and
deterministic, with progress, previews and failures on demand;
`crash_registry()` adds a node that ends its process.
The engine child process imports these by module name, so editor tests use
`from tests import fake_nodes`."""
from __future__ import annotations

import time

import numpy as np

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


class Loop(NodeType):
    """Loops with progress (the cancel point) like a renderer does per frame."""

    spec = NodeSpec("Loop", 1, "Loop", inputs=(PortSpec("x", NUMBER, optional=True),),
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
    for node_class in (Const, AddOne, Sum, Loop, Broken):
        registry.register(node_class)
    return registry


# -- for the editor's execution tests ---------------------------------------------

class Source(NodeType):
    spec = NodeSpec("Source", 1, "Source", "Inputs", outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("value", "int", 1, minimum=0, maximum=1000),))

    def run(self, inputs, params, ctx):
        return {"value": params["value"]}


class Slow(NodeType):
    """Adds 1 after `steps` steps of `delay` seconds, sending a preview per step."""

    spec = NodeSpec("Slow", 1, "Slow", "Shots", inputs=(PortSpec("value", NUMBER),),
                    outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("steps", "int", 5, minimum=1, maximum=10000),
                            ParamSpec("delay", "float", 0.01, minimum=0.0, maximum=1.0),
                            ParamSpec("label", "str", ""),
                            ParamSpec("step_previews", "bool", False)))

    def run(self, inputs, params, ctx):
        for step in range(params["steps"]):
            time.sleep(params["delay"])
            frame = np.full((36, 64, 3), (step * 20) % 255, dtype=np.uint8)
            ctx.preview(frame, "step" if params["step_previews"] else "frame")
            ctx.progress((step + 1) / params["steps"], f"step {step + 1}")
        return {"value": inputs["value"] + 1}


class Fail(NodeType):
    spec = NodeSpec("Fail", 1, "Fail", "Shots", inputs=(PortSpec("value", NUMBER),),
                    outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("bad_input", "bool", True),))

    def run(self, inputs, params, ctx):
        if params["bad_input"]:
            raise BadInput("the value is not acceptable", node=ctx.node_title, field="value")
        raise RuntimeError("boom")


class Sink(NodeType):
    spec = NodeSpec("Sink", 1, "Sink", "Output", inputs=(PortSpec("values", NUMBER, multiple=True),),
                    outputs=(PortSpec("total", NUMBER),))

    def run(self, inputs, params, ctx):
        return {"total": sum(inputs["values"])}


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for cls in (Source, Slow, Fail, Sink):
        reg.register(cls)
    return reg


class Crash(NodeType):
    """Ends the process it runs in, like a native library crashing."""

    spec = NodeSpec("Crash", 1, "Crash", "Shots", inputs=(PortSpec("value", NUMBER),),
                    outputs=(PortSpec("value", NUMBER),))

    def run(self, inputs, params, ctx):
        import os

        os._exit(3)


def crash_registry() -> NodeRegistry:
    reg = registry()
    reg.register(Crash)
    return reg


class Warns(NodeType):
    """Finishes, with a warning for the user (RunContext.warn)."""

    spec = NodeSpec("Warns", 1, "Warns", inputs=(PortSpec("value", NUMBER),),
                    outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("warning", "str", "check this"),))

    def run(self, inputs, params, ctx):
        ctx.warn(params["warning"])
        return {"value": inputs["value"]}


def warning_registry() -> NodeRegistry:
    reg = registry()
    reg.register(Warns)
    return reg

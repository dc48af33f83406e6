"""Tiny node types for execution tests: fast, deterministic, with progress,
previews and failures on demand."""
from __future__ import annotations

import time

import numpy as np

from canvas_app.errors import BadInput
from canvas_app.graph import NodeRegistry, NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import NUMBER


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

"""Node types that run as farm CPU tasks, for the farm tests. Workers import
this module by name (the tests put its folder on their PYTHONPATH)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import NUMBER


class DiesOnce(NodeType):
    """Its worker process is killed the first time it runs (the marker file
    says whether this is the first time); the retry then finishes."""

    farm_placement = "cpu"
    spec = NodeSpec("DiesOnce", 1, "Dies once", outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("marker", "str", ""),))

    def run(self, inputs, params, ctx):
        marker = Path(params["marker"])
        ctx.progress(0.1, "started")
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)  # as an out-of-memory kill would
        return {"value": 42.0}


class LongShot(NodeType):
    """Works for about `steps` x 20 ms with a cancel point per step, and
    leaves a file behind only if it got to the end."""

    farm_placement = "cpu"
    spec = NodeSpec("LongShot", 1, "Long shot", outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("finished_marker", "str", ""), ParamSpec("steps", "int", 500)))

    def run(self, inputs, params, ctx):
        for step in range(params["steps"]):
            ctx.progress((step + 1) / params["steps"], f"step {step + 1}")
            time.sleep(0.02)
        Path(params["finished_marker"]).write_text("finished")
        return {"value": 1.0}


class GpuShot(NodeType):
    """Placed like a diffusers shot: says which process rendered it, and
    stops at its cancel points (one per step) when asked."""

    farm_placement = "gpu"
    spec = NodeSpec("GpuShot", 1, "GPU shot", outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("take", "int", 0), ParamSpec("steps", "int", 1)))

    def run(self, inputs, params, ctx):
        for step in range(params["steps"]):
            ctx.progress((step + 1) / params["steps"], f"step {step + 1}")
            time.sleep(0.02)
        return {"value": float(os.getpid())}

"""Where each node runs on the farm: the node type says (`NodeType.placement`).

"gpu": on a GPU worker actor (diffusers shots); "cpu": a CPU task anywhere in
the cluster (animatic shots, identities built from references with dlib);
"local": in the process that started the run - nodes that read the user's
files (references, identity files, libraries) or write outputs (Sequence).
Their results reach the workers by content, through the object store.
"""
from __future__ import annotations

from typing import Any

from canvas_app.graph.spec import Placement

GPU, CPU, LOCAL = Placement.GPU, Placement.CPU, Placement.LOCAL


def placement(node_type: Any, params: dict[str, Any]) -> Placement:
    return node_type.placement(params)

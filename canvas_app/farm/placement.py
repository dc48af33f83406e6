"""Where each node runs on the farm.

"gpu": on a GPU worker actor (diffusers shots); "cpu": a CPU task anywhere in
the cluster (animatic shots, identities built from references with dlib);
"local": in the process that started the run - nodes that read the user's
files (references, identity files, libraries) or write outputs (Sequence).
Their results reach the workers by content, through the object store.
"""
from __future__ import annotations

from typing import Any

GPU, CPU, LOCAL = "gpu", "cpu", "local"


def placement(type_name: str, node_type: Any, params: dict[str, Any]) -> str:
    declared = getattr(node_type, "farm_placement", None)  # a node type may say so itself
    if declared in (GPU, CPU, LOCAL):
        return declared
    if type_name == "Generate":
        return GPU if params.get("backend") == "diffusers" else CPU
    if type_name == "Motion":  # no file access: GPU actors keep Wan loaded between shots
        return CPU if params.get("backend") == "animatic" else GPU
    if type_name == "IdentityLock":
        # From references with the embedded encoder: pure computation. A file, a library
        # or insightface packs live on this machine.
        if params.get("source") == "references" and params.get("encoders") == "dlib" \
                and not params.get("save_to_library"):
            return CPU
    return LOCAL

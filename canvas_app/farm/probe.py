"""`python -m canvas_app.farm.probe ADDRESS`: one JSON line saying what the
cluster holds (workers, CPUs, GPUs, busy), or why it cannot be reached.

The editor runs it in a separate process for its farm status line, so the
editor itself never imports ray nor joins the cluster.
"""
from __future__ import annotations

import dataclasses
import json
import sys


def probe(address: str) -> dict:
    from canvas_app.errors import CanvasError
    from canvas_app.farm import cluster

    # A cluster that `--farm ray` / the editor's engine started on this machine is found by
    # Ray's own discovery; probing must never start one of its own.
    target = "auto" if address in cluster.LOCAL else address
    try:
        cluster.require_ray()
        cluster.connect(target)
        return dataclasses.asdict(cluster.status(address))
    except CanvasError as error:
        return {"address": address, "error": str(error)}
    finally:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()


def main() -> int:
    print(json.dumps(probe(sys.argv[1] if len(sys.argv) > 1 else "auto")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

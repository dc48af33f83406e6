"""Executor overhead: a 1,000-node chain of trivial nodes.

Prints JSON lines: per-node overhead of a cold run (every node executes) and
the time of a fully cached re-run. Goals: < 0.2 ms per node, < 50 ms cached.

    python benchmarks/engine.py [--nodes 1000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from canvas_app.engine import Executor  # noqa: E402
from canvas_app.graph import Graph, Link  # noqa: E402
from fake_nodes import fake_registry  # noqa: E402


def chain(count: int) -> Graph:
    graph = Graph(fake_registry())
    previous = graph.add_node("Const", params={"value": 0})
    for _ in range(count - 1):
        node = graph.add_node("AddOne")
        graph.insert_link(Link(previous.id, "value", node.id, "x"))
        previous = node
    return graph


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    graph = chain(args.nodes)
    events = []
    cold, cached = [], []
    for _ in range(args.repeats):
        executor = Executor()
        start = time.perf_counter()
        result = executor.run(graph, listener=events.append)
        cold.append(time.perf_counter() - start)
        assert len(result.executed) == args.nodes
        events.clear()
        start = time.perf_counter()
        result = executor.run(graph, listener=events.append)
        cached.append(time.perf_counter() - start)
        assert not result.executed
        events.clear()
    print(json.dumps({"benchmark": "engine_cold_run", "nodes": args.nodes,
                      "median_seconds": round(statistics.median(cold), 4),
                      "per_node_ms": round(statistics.median(cold) / args.nodes * 1000, 4),
                      "goal_per_node_ms": 0.2}))
    print(json.dumps({"benchmark": "engine_cached_rerun", "nodes": args.nodes,
                      "median_ms": round(statistics.median(cached) * 1000, 2),
                      "goal_ms": 50}))


if __name__ == "__main__":
    main()

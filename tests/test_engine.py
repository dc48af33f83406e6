"""The executor: order, caching by content, cancel, failures, bounded memory."""

import numpy as np
import pytest

import fake_nodes
from canvas_app.engine import CancelToken, Executor, ResultCache, plan
from canvas_app.engine.events import (NodeFailed, NodeFinished, NodeProgress, NodeSkipped,
                                      NodeStarted, RunFinished)
from canvas_app.errors import BadInput
from canvas_app.graph import Graph, Link
from fake_nodes import fake_registry  # noqa: E402


@pytest.fixture(autouse=True)
def reset_counts():
    fake_nodes.RUN_COUNTS.clear()


def diamond():
    """c1 -> a1 -> sum1 <- a2 <- c2 : two branches joined."""
    graph = Graph(fake_registry())
    c1, c2 = graph.add_node("Const", params={"value": 1}), graph.add_node("Const", params={"value": 10})
    a1, a2 = graph.add_node("AddOne"), graph.add_node("AddOne")
    total = graph.add_node("Sum")
    graph.connect(Link(c1.id, "value", a1.id, "x"))
    graph.connect(Link(c2.id, "value", a2.id, "x"))
    graph.connect(Link(a1.id, "value", total.id, "values"))
    graph.connect(Link(a2.id, "value", total.id, "values"))
    return graph


def test_plan_is_topological_and_only_what_is_needed():
    graph = diamond()
    order = plan(graph)
    assert order.index("const1") < order.index("addone1") < order.index("sum1")
    assert plan(graph, ["addone2"]) == ["const2", "addone2"]


def test_run_computes_values():
    result = Executor().run(diamond())
    assert result.status == "done"
    assert result.outputs["sum1"]["value"] == 13


def test_second_run_with_nothing_changed_does_no_work():
    executor, graph = Executor(), diamond()
    executor.run(graph)
    counts = dict(fake_nodes.RUN_COUNTS)
    result = executor.run(graph.snapshot())
    assert fake_nodes.RUN_COUNTS == counts
    assert result.executed == [] and result.cached == set(graph.nodes)
    assert result.outputs["sum1"]["value"] == 13


def test_changed_param_reruns_only_its_downstream():
    executor, graph = Executor(), diamond()
    executor.run(graph)
    graph.set_param("const2", "value", 20)
    result = executor.run(graph)
    assert sorted(result.executed) == ["addone2", "const2", "sum1"]
    assert result.cached == {"const1", "addone1"}
    assert result.outputs["sum1"]["value"] == 23
    graph.set_param("const2", "value", 10)  # back to the old value: all from cache again
    assert Executor.run(executor, graph).executed == []


def test_changed_input_file_invalidates(tmp_path):
    from canvas_app.graph import NodeSpec, NodeType, ParamSpec, PortSpec
    from canvas_app.graph.types import NUMBER

    class FileSize(NodeType):
        spec = NodeSpec("FileSize", 1, "File size", outputs=(PortSpec("value", NUMBER),),
                        params=(ParamSpec("path", "file", ""),))

        def run(self, inputs, params, ctx):
            return {"value": len(open(params["path"], "rb").read())}

    registry = fake_registry()
    registry.register(FileSize)
    graph = Graph(registry)
    data = tmp_path / "data.bin"
    data.write_bytes(b"12345")
    graph.add_node("FileSize", params={"path": str(data)})
    executor = Executor()
    assert executor.run(graph).outputs["filesize1"]["value"] == 5
    data.write_bytes(b"1234567")
    assert executor.run(graph).outputs["filesize1"]["value"] == 7


def test_events_report_progress_and_cache_hits():
    graph = Graph(fake_registry())
    graph.add_node("Loop", params={"steps": 4, "step_seconds": 0.0})
    events = []
    executor = Executor()
    executor.run(graph, listener=events.append)
    assert [type(e) for e in events if isinstance(e, (NodeStarted, NodeFinished))] == \
        [NodeStarted, NodeFinished]
    assert [e.fraction for e in events if isinstance(e, NodeProgress)] == [0.25, 0.5, 0.75, 1.0]
    events.clear()
    executor.run(graph, listener=events.append)
    finished = [e for e in events if isinstance(e, NodeFinished)]
    assert finished[0].cached and not any(isinstance(e, NodeStarted) for e in events)


def test_cancel_stops_inside_a_long_node_and_caches_nothing_partial():
    graph = Graph(fake_registry())
    slow = graph.add_node("Loop", params={"steps": 500, "step_seconds": 0.001})
    token = CancelToken()
    executor = Executor()
    progress = []

    def cancel_midway(event) -> None:  # the user presses Stop while the node runs
        if isinstance(event, NodeProgress):
            progress.append(event.fraction)
            if len(progress) == 10:
                token.cancel()

    result = executor.run(graph, cancel_token=token, listener=cancel_midway)
    assert result.status == "cancelled"
    assert max(progress) < 0.5  # it stopped inside the node, at its next cancel point
    assert fake_nodes.RUN_COUNTS[slow.id] == 1
    assert len(executor.cache) == 0
    # After a cancel the same executor runs the graph normally.
    graph.set_param(slow.id, "steps", 2)
    assert executor.run(graph).status == "done"


def test_failure_names_the_node_and_independent_branches_still_run():
    graph = Graph(fake_registry())
    broken = graph.add_node("Broken", title="Shot 2 renderer")
    after = graph.add_node("AddOne")
    graph.connect(Link(broken.id, "value", after.id, "x"))
    other = graph.add_node("Const", params={"value": 3})
    events = []
    result = Executor().run(graph, listener=events.append)
    assert result.status == "failed" and not result.bad_input
    assert "Shot 2 renderer" in result.failures[broken.id]
    assert "renderer exploded" in result.failures[broken.id]
    assert any(isinstance(e, NodeSkipped) and e.node_id == after.id for e in events)
    assert result.outputs[other.id]["value"] == 3
    assert any(isinstance(e, RunFinished) and e.status == "failed" for e in events)


def test_bad_input_failure_is_flagged_for_exit_code_2():
    graph = Graph(fake_registry())
    graph.add_node("Broken", params={"bad_input": True})
    events = []
    result = Executor().run(graph, listener=events.append)
    assert result.bad_input
    failed = next(e for e in events if isinstance(e, NodeFailed))
    assert failed.bad_input and "field x" in failed.message and "broken1" in failed.message


def test_unconnected_required_input_is_refused_before_running():
    graph = Graph(fake_registry())
    graph.add_node("AddOne", title="Lonely")
    with pytest.raises(BadInput, match="Lonely.*field x.*not connected"):
        Executor().run(graph)
    assert fake_nodes.RUN_COUNTS == {}


def test_cache_memory_is_bounded():
    cache = ResultCache(max_bytes=3 * 1_000_000)
    for index in range(10):
        cache.put(f"k{index}", {"frames": [np.zeros(1_000_000, np.uint8)]})
        assert cache.size_bytes <= cache.max_bytes
    assert len(cache) == 2 and "k9" in cache and "k0" not in cache


def test_disk_cache_serves_a_new_executor_and_ignores_damaged_entries(tmp_path):
    import json as _json

    from canvas_app.engine.disk_cache import DiskCache

    class Persisted(fake_nodes.Const):
        spec = fake_nodes.NodeSpec("Persisted", 1, "Persisted",
                                   outputs=(fake_nodes.PortSpec("value", fake_nodes.NUMBER),),
                                   params=(fake_nodes.ParamSpec("value", "float", 1.0),))

        def save_result(self, outputs, folder):
            (folder / "value.json").write_text(_json.dumps(outputs["value"]))
            return True

        def load_result(self, folder):
            return {"value": _json.loads((folder / "value.json").read_text())}

    registry = fake_registry()
    registry.register(Persisted)
    graph = Graph(registry)
    node = graph.add_node("Persisted", params={"value": 4})
    disk = DiskCache(tmp_path)
    Executor(disk_cache=disk).run(graph)
    result = Executor(disk_cache=disk).run(graph)  # a new session: empty memory cache
    assert result.cached == {node.id} and result.outputs[node.id]["value"] == 4
    assert fake_nodes.RUN_COUNTS[node.id] == 1

    for entry in disk.folder.glob("*/*/value.json"):
        entry.write_text("{not json")
    result = Executor(disk_cache=disk).run(graph)
    assert result.executed == [node.id] and result.outputs[node.id]["value"] == 4


def test_disk_cache_stays_within_its_budget(tmp_path):
    from canvas_app.engine.disk_cache import DiskCache

    class Blob:
        def save_result(self, outputs, folder):
            (folder / "blob.bin").write_bytes(b"x" * 1000)
            return True

    disk = DiskCache(tmp_path, max_bytes=3500)
    for index in range(6):
        assert disk.save(f"{index:02d}" + "k" * 62, Blob(), {})
    kept = list(disk.folder.glob("*/*/blob.bin"))
    assert len(kept) == 3


def test_a_node_failure_message_reads_as_written():
    from canvas_app.errors import NodeFailure

    class OutOfMemory(fake_nodes.Const):
        spec = fake_nodes.NodeSpec("OutOfMemory", 1, "Render",
                                   outputs=(fake_nodes.PortSpec("value", fake_nodes.NUMBER),))

        def run(self, inputs, params, ctx):
            raise NodeFailure("GPU out of memory; try attention slicing")

    registry = fake_registry()
    registry.register(OutOfMemory)
    graph = Graph(registry)
    node = graph.add_node("OutOfMemory")
    graph.add_node("Const")
    result = Executor().run(graph)
    assert result.failures[node.id] == \
        "node 'Render' (outofmemory1): GPU out of memory; try attention slicing"
    assert not result.bad_input and result.outputs["const1"]["value"] == 1.0

"""The executor on a concurrent local dispatcher: independent nodes at the same
time, with the same results, events and rules as one node after another."""
import threading

import pytest

from canvas_app.engine import CancelToken, Executor
from canvas_app.engine.dispatch import LocalDispatcher
from canvas_app.engine.events import NodeFailed, NodeFinished, NodeSkipped, NodeStarted
from canvas_app.graph import Graph, Link, NodeSpec, NodeType, ParamSpec, PortSpec
from canvas_app.graph.types import NUMBER
from fake_nodes import fake_registry

MEETING = threading.Barrier(2, timeout=10)


class Meet(NodeType):
    """Finishes only when another Meet node is running at the same time."""

    spec = NodeSpec("Meet", 1, "Meet", outputs=(PortSpec("value", NUMBER),),
                    params=(ParamSpec("value", "float", 1.0),))

    def run(self, inputs, params, ctx):
        MEETING.wait()
        return {"value": params["value"]}


def shots_graph():
    registry = fake_registry()
    registry.register(Meet)
    graph = Graph(registry)
    first, second = graph.add_node("Meet", params={"value": 1}), graph.add_node("Meet",
                                                                                  params={"value": 2})
    total = graph.add_node("Sum")
    graph.connect(Link(first.id, "value", total.id, "values"))
    graph.connect(Link(second.id, "value", total.id, "values"))
    return graph, total


@pytest.fixture
def pool():
    dispatcher = LocalDispatcher(workers=2)
    yield dispatcher
    dispatcher.shutdown()


def test_independent_nodes_run_at_the_same_time(pool):
    MEETING.reset()
    graph, total = shots_graph()
    events = []
    threads = set()
    result = Executor(dispatcher=pool).run(
        graph, listener=lambda event: (events.append(event), threads.add(threading.get_ident())))
    assert result.status == "done"  # each Meet waited for the other: they overlapped
    assert result.outputs[total.id]["value"] == 3
    assert threads == {threading.get_ident()}  # listeners hear events on the run's thread
    finished = [event.node_id for event in events if isinstance(event, NodeFinished)]
    assert finished[-1] == total.id and len(finished) == 3


def test_second_run_on_the_pool_is_served_from_the_cache(pool):
    MEETING.reset()
    graph, total = shots_graph()
    executor = Executor(dispatcher=pool)
    executor.run(graph)
    again = executor.run(graph)
    assert again.executed == [] and again.outputs[total.id]["value"] == 3


def test_failures_and_skips_follow_the_same_rules_on_the_pool(pool):
    graph = Graph(fake_registry())
    broken, good = graph.add_node("Broken"), graph.add_node("Const", params={"value": 5})
    after_broken, after_good = graph.add_node("AddOne"), graph.add_node("AddOne")
    graph.connect(Link(broken.id, "value", after_broken.id, "x"))
    graph.connect(Link(good.id, "value", after_good.id, "x"))
    events = []
    result = Executor(dispatcher=pool).run(graph, listener=events.append)
    assert result.status == "failed"
    assert "renderer exploded" in result.failures[broken.id]
    assert result.outputs[after_good.id]["value"] == 6
    assert any(isinstance(e, NodeSkipped) and e.node_id == after_broken.id for e in events)
    assert any(isinstance(e, NodeFailed) and e.node_id == broken.id for e in events)


def test_cancel_stops_every_running_node_on_the_pool(pool):
    graph = Graph(fake_registry())
    slow = [graph.add_node("Loop", params={"steps": 2000, "step_seconds": 0.005})
            for _ in range(2)]
    token = CancelToken()
    started = set()

    def listener(event):
        if isinstance(event, NodeStarted):
            started.add(event.node_id)
            if len(started) == 2:
                token.cancel()

    result = Executor(dispatcher=pool).run(graph, listener=listener, cancel_token=token)
    assert result.status == "cancelled"
    assert started == {node.id for node in slow}
    assert result.executed == []

"""The graph refuses bad connections with a reason, in one place."""
import pytest

from canvas_app.graph import Graph, GraphError, Link
from fake_nodes import fake_registry


@pytest.fixture
def graph():
    return Graph(fake_registry())


def test_type_mismatch_is_refused_with_reason():
    graph = Graph()  # the real node types
    prompt = graph.add_node("Prompt")
    lock = graph.add_node("IdentityLock")
    reason = graph.check_connect(Link(prompt.id, "prompt", lock.id, "references"))
    assert "type mismatch" in reason and "prompt" in reason and "images" in reason
    with pytest.raises(GraphError, match="type mismatch"):
        graph.connect(Link(prompt.id, "prompt", lock.id, "references"))
    assert graph.links == []


def test_second_link_into_single_input_is_refused(graph):
    a, b, target = graph.add_node("Const"), graph.add_node("Const"), graph.add_node("AddOne")
    graph.connect(Link(a.id, "value", target.id, "x"))
    assert "already has an input" in graph.check_connect(Link(b.id, "value", target.id, "x"))


def test_multiple_input_accepts_several_links_in_order(graph):
    consts = [graph.add_node("Const") for _ in range(3)]
    total = graph.add_node("Sum")
    for const in reversed(consts):
        graph.connect(Link(const.id, "value", total.id, "values"))
    assert [link.src for link in graph.links_into(total.id)] == [c.id for c in reversed(consts)]


def test_cycles_are_refused(graph):
    a, b, c = graph.add_node("AddOne"), graph.add_node("AddOne"), graph.add_node("AddOne")
    graph.connect(Link(a.id, "value", b.id, "x"))
    graph.connect(Link(b.id, "value", c.id, "x"))
    assert "cycle" in graph.check_connect(Link(c.id, "value", a.id, "x"))
    assert "itself" in graph.check_connect(Link(a.id, "value", a.id, "x"))


def test_unknown_ports_and_nodes_are_named(graph):
    a, b = graph.add_node("Const"), graph.add_node("AddOne")
    assert "no output 'nope'" in graph.check_connect(Link(a.id, "nope", b.id, "x"))
    assert "no input 'y'" in graph.check_connect(Link(a.id, "value", b.id, "y"))
    with pytest.raises(GraphError, match="unknown node type"):
        graph.add_node("Teleport")


def test_param_values_are_checked_against_their_spec():
    graph = Graph()
    prompt = graph.add_node("Prompt")
    with pytest.raises(GraphError, match="field duration: .*below the minimum"):
        graph.set_param(prompt.id, "duration", -1)
    with pytest.raises(GraphError, match="field shot_size: 'huge' is not one of"):
        graph.set_param(prompt.id, "shot_size", "huge")
    graph.set_param(prompt.id, "duration", 3)
    assert graph.nodes[prompt.id].params["duration"] == 3.0


def test_model_events_let_an_editor_mirror_it(graph):
    seen = []
    graph.subscribe(lambda event, payload: seen.append(event))
    a, b = graph.add_node("Const"), graph.add_node("AddOne")
    link = graph.connect(Link(a.id, "value", b.id, "x"))
    graph.set_param(a.id, "value", 5)
    graph.move_node(a.id, (10, 20))
    graph.remove_node(a.id)
    assert seen == ["node_added", "node_added", "link_added", "param_changed", "node_moved",
                    "link_removed", "node_removed"]
    assert link not in graph.links


def test_snapshot_is_independent_of_later_edits(graph):
    node = graph.add_node("Const", params={"value": 2})
    snapshot = graph.snapshot()
    graph.set_param(node.id, "value", 9)
    assert snapshot.nodes[node.id].params["value"] == 2


def test_check_connect_can_ignore_a_link_being_replaced_or_dragged_away(graph):
    a, b, target = graph.add_node("Const"), graph.add_node("Const"), graph.add_node("AddOne")
    old = graph.connect(Link(a.id, "value", target.id, "x"))
    new = Link(b.id, "value", target.id, "x")
    assert "already has an input" in graph.check_connect(new)
    assert graph.check_connect(new, ignoring=[old]) is None
    assert graph.replaced_by(new) == old
    # the other checks still apply with the old link ignored
    c = graph.add_node("AddOne")
    graph.connect(Link(target.id, "value", c.id, "x"))
    assert "cycle" in graph.check_connect(Link(c.id, "value", target.id, "x"), ignoring=[old])


def test_nodes_are_built_checked_before_they_enter_the_graph(graph):
    events = []
    graph.subscribe(lambda event, payload: events.append(event))
    node = graph.build_node("Const", (1, 2), params={"value": 3})
    assert node.params["value"] == 3.0 and node.id not in graph.nodes and events == []
    with pytest.raises(GraphError, match="field value"):
        graph.build_node("Const", params={"value": "three"})
    assert graph.check_param(node.id, "value", 1) == (1, "no node with id 'const1'")
    graph.insert_node(node)
    assert graph.check_param(node.id, "value", "x")[1] is not None
    assert graph.check_param(node.id, "value", 2) == (2.0, None)
    assert graph.new_node_id("Const", taken={"const2"}) == "const3"


def test_metadata_changes_are_events(graph):
    events = []
    graph.subscribe(lambda event, payload: events.append((event, payload)))
    graph.set_metadata("output_dir", "renders")
    graph.set_metadata("output_dir", None)
    assert events == [("metadata_changed", {"key": "output_dir"})] * 2
    assert "output_dir" not in graph.metadata


def test_a_snapshot_with_editor_only_spec_parts_pickles_for_the_engine_process():
    import pickle

    graph = Graph()  # the real node types; their summaries may be lambdas
    graph.add_node("Sequence")
    graph.add_node("Prompt")
    copy = pickle.loads(pickle.dumps(graph.snapshot().nodes))
    assert copy["sequence1"].spec.type_name == "Sequence" and copy["sequence1"].spec.summary is None


def test_link_checks_follow_connects_disconnects_and_direct_list_edits():
    """Checks use an index of links by end; it must follow every way links change."""
    from canvas_app.graph import Graph, GraphError, Link

    graph = Graph()
    a = graph.add_node("Generate", (0, 0))
    b = graph.add_node("Generate", (300, 0))
    c = graph.add_node("Generate", (600, 0))
    ab, bc = Link(a.id, "clip", b.id, "previous"), Link(b.id, "clip", c.id, "previous")
    graph.connect(ab)
    graph.connect(bc)
    assert graph.check_connect(ab) == "these ports are already connected"
    assert "cycle" in graph.check_connect(Link(c.id, "clip", a.id, "previous"))
    assert graph.downstream_ids(a.id) == {b.id, c.id}
    graph.disconnect(bc)
    assert graph.check_connect(Link(c.id, "clip", a.id, "previous")) is None
    assert graph.downstream_ids(a.id) == {b.id}
    graph.links.append(bc)  # behind the graph's back: still seen
    assert "already has an input" in graph.check_connect(Link(a.id, "clip", c.id, "previous"))
    graph.links = []
    assert graph.check_connect(ab) is None and graph.downstream_ids(a.id) == set()
    graph.remove_node(b.id)
    try:
        graph.connect(Link(a.id, "clip", b.id, "previous"))
    except GraphError as error:
        assert "no node" in str(error)
    else:
        raise AssertionError("a link to a removed node was made")

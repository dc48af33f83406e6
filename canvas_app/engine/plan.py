"""Which nodes must run, in which order, and whether they can run at all."""
from __future__ import annotations

from dataclasses import dataclass

from canvas_app.graph.model import Graph


@dataclass(frozen=True)
class Problem:
    node_id: str
    field: str | None
    message: str


def sink_ids(graph: Graph) -> list[str]:
    """Nodes nothing reads from: what 'run everything' means. A placeholder for
    an unknown node type that nothing needs is left out, so one missing type
    does not stop the rest of the project from running."""
    sources = {link.src for link in graph.links}
    return [node_id for node_id, node in graph.nodes.items()
            if node_id not in sources and not node.is_placeholder]


def plan(graph: Graph, targets: list[str] | None = None) -> list[str]:
    """The targets and everything they need, upstream first (Kahn's algorithm).
    Ties go by depth, then by the order nodes appear in the project: every
    input runs before the shots and the cut, so a Reference added last (or
    feeding nothing) does not run after the Sequence; runs stay stable."""
    targets = sink_ids(graph) if targets is None else list(targets)
    feeders: dict[str, list[str]] = {}
    for link in graph.links:
        feeders.setdefault(link.dst, []).append(link.src)
    for target in targets:
        if target not in graph.nodes:
            raise KeyError(f"no node with id {target!r}")
    needed: set[str] = set(targets)
    stack = list(targets)
    while stack:  # everything upstream of the targets, in one walk
        for feeder in feeders.get(stack.pop(), ()):
            if feeder not in needed:
                needed.add(feeder)
                stack.append(feeder)
    position = {node_id: index for index, node_id in enumerate(graph.nodes)}
    incoming = {node_id: 0 for node_id in needed}
    followers: dict[str, list[str]] = {node_id: [] for node_id in needed}
    for link in graph.links:
        if link.src in needed and link.dst in needed:
            incoming[link.dst] += 1
            followers[link.src].append(link.dst)
    depth = {node_id: 0 for node_id in needed}

    def priority(node_id: str) -> tuple[int, int]:
        return depth[node_id], position[node_id]

    ready = sorted((n for n, count in incoming.items() if count == 0), key=priority)
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        newly = []
        for follower in followers[current]:
            depth[follower] = max(depth[follower], depth[current] + 1)
            incoming[follower] -= 1
            if incoming[follower] == 0:
                newly.append(follower)
        if newly:
            ready = sorted(ready + newly, key=priority)
    if len(order) != len(needed) or (graph.nodes and not targets):
        stuck = sorted(set(needed) - set(order)) or sorted(graph.nodes)
        from canvas_app.errors import BadInput

        raise BadInput(f"the graph has a cycle through {', '.join(stuck)}; remove one of its "
                       "links", node=stuck[0])
    return order


def check_runnable(graph: Graph, order: list[str],
                   incoming: dict[str, list] | None = None) -> list[Problem]:
    """Problems that stop a run before it starts: unknown node types and
    required inputs left unconnected."""
    if incoming is None:
        incoming = {}
        for link in graph.links:
            incoming.setdefault(link.dst, []).append(link)
    problems = []
    for node_id in order:
        node = graph.nodes[node_id]
        if node.spec is None:
            problems.append(Problem(node_id, None, f"node type {node.type_name!r} is not "
                                    "installed in this version of canvas-app"))
            continue
        for port in node.spec.inputs:
            if not port.optional and not any(link.dst_port == port.name
                                             for link in incoming.get(node_id, ())):
                problems.append(Problem(node_id, port.name, f"input {port.name!r} is not connected"))
        node_class = graph.registry.get(node.type_name)
        if node_class is not None:
            problems += [Problem(node_id, field, message)
                         for field, message in node_class().check_inputs(node.params)]
    problems += output_name_clashes(graph, order)
    from canvas_app.engine.budget import render_problems

    over_budget = [Problem(*problem) for problem in render_problems(graph, order, incoming)]
    # A cut's checks decode its sound whole: not for a cut the budget already refused.
    problems += over_budget or cut_problems(graph, order, incoming)
    return list(dict.fromkeys(problems))  # a check of the whole cut may repeat a quick one


def cut_problems(graph: Graph, order: list[str], incoming: dict[str, list]) -> list[Problem]:
    """What a cut would refuse of its shots (trims leaving no frames, dissolves
    longer than the shots), from the frames each shot will have (MemoryCost.clip)."""
    from canvas_app.engine.budget import node_costs

    clips = {node_id: cost.clip for node_id, cost in node_costs(graph, order, incoming)}
    problems = []
    for node_id in order:
        node = graph.nodes[node_id]
        node_class = graph.registry.get(node.type_name) if node.spec is not None else None
        shots = [clips.get(link.src) for link in incoming.get(node_id, ())]
        if node_class is None or not shots:
            continue
        try:
            found = node_class().check_cut(node.params, shots)
        except (KeyError, TypeError, ValueError, OverflowError):
            continue  # params the type cannot read: check_param reports them
        problems += [Problem(node_id, field, message) for field, message in found]
    return problems


def output_name_clashes(graph: Graph, order: list[str]) -> list[Problem]:
    """Two nodes writing files of the same name into the output folder (two
    Sequences named `cut` and `cut!`): one export would silently replace the other."""
    owners: dict[str, list[str]] = {}
    for node_id, node in graph.nodes.items():
        node_class = graph.registry.get(node.type_name) if node.spec is not None else None
        name = node_class().output_name(node.params) if node_class is not None else None
        if name:
            owners.setdefault(name, []).append(node_id)
    problems = []
    for node_id in order:
        for name, node_ids in owners.items():
            if node_id in node_ids and len(node_ids) > 1:
                others = ", ".join(graph.nodes[other].title for other in node_ids if other != node_id)
                problems.append(Problem(node_id, "name", f"its files ({name}.*) would replace those "
                                        f"of {others} in the output folder; give it another name"))
    return problems


def content_problems(graph: Graph, order: list[str], project_dir=None) -> list[Problem]:
    """Problems only the inputs' content shows (no face where a face is wanted,
    an identity missing from the library): slower than check_runnable's, asked
    by `validate`; a run meets them when the node runs."""
    from canvas_app.engine.budget import typed_nodes

    problems = []
    for node_id, node, node_class, upstream in typed_nodes(graph, order, graph.links_into):
        problems += [Problem(node_id, field, message) for field, message in
                     node_class().check_content(node.params, upstream, project_dir, node.title)]
    return problems

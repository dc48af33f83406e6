"""How much memory a run's renders will take, checked before anything runs.

A shot's frames are held in memory while it is scored and exported, so the
largest settings in range (4096x4096 at 60 fps for 60 s: 180 GB) could take
the machine down. Each node type says what its result will hold
(`NodeType.memory_cost`, e.g. Generate: width x height x 3 bytes x fps x the
linked prompt's duration; a cut, `NodeType.cut_cost`: its sound, held whole
for as long as the cut lasts); each must fit a per-shot budget (half the
machine's memory, or CANVAS_APP_MAX_SHOT_MB), and all of a run's together a
total one (the machine's memory, or CANVAS_APP_MAX_RUN_MB); otherwise the run
is refused with the node and field to change, by `validate` as by `run`.
"""
from __future__ import annotations

import os

MEGABYTE = 1024 * 1024


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not POSIX: assume a 16 GB machine
        return 16 * 1024 * MEGABYTE


def _budget(variable: str, default: int) -> int:
    try:
        return max(1, int(os.environ[variable])) * MEGABYTE
    except (KeyError, ValueError):
        return default


def typed_nodes(graph, order, links_into):
    """(node id, node, its type's class, upstream) for each node of the plan with a known
    type; upstream: input port -> the params of the nodes linked into it, what a type's
    cost and content checks read (they run before anything has run)."""
    for node_id in order:
        node = graph.nodes[node_id]
        node_class = graph.registry.get(node.type_name) if node.spec is not None else None
        if node_class is None:
            continue
        upstream: dict[str, list[dict]] = {}
        for link in links_into(node_id):
            source = graph.nodes.get(link.src)
            if source is not None:
                upstream.setdefault(link.dst_port, []).append(source.params)
        yield node_id, node, node_class, upstream


def node_costs(graph, order, incoming):
    """(node id, MemoryCost) for each node of the plan whose type names one."""
    for node_id, node, node_class, upstream in typed_nodes(
            graph, order, lambda node_id: incoming.get(node_id, ())):
        try:
            cost = node_class().memory_cost(node.params, upstream)
        except (KeyError, TypeError, ValueError, OverflowError):
            continue  # params the type cannot read: check_param reports them
        if cost is not None:
            yield node_id, cost


def _cut_costs(graph, order, incoming):
    """(node id, MemoryCost) for each node that assembles its input shots into
    one cut (`NodeType.cut_cost`), given how long each input shot lasts (the
    `seconds` of its own MemoryCost)."""
    costs = dict(node_costs(graph, order, incoming))
    seconds = {node_id: cost.seconds for node_id, cost in costs.items() if cost.seconds is not None}
    for node_id in order:
        node = graph.nodes[node_id]
        node_class = graph.registry.get(node.type_name) if node.spec is not None else None
        if node_class is None:
            continue
        sources = [link.src for link in incoming.get(node_id, ())]
        shots = [seconds.get(source, 0.0) for source in sources]
        with_sound = any(costs[source].sound for source in sources if source in costs)
        try:
            cost = node_class().cut_cost(node.params, shots, with_sound)
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        if cost is not None:
            yield node_id, cost


def render_problems(graph, order, incoming) -> list[tuple[str, str, str]]:
    """(node id, field, message) for each shot, and for the run, over budget."""
    # Defaults: half the machine's memory for one shot, all of it for the run.
    per_shot = _budget("CANVAS_APP_MAX_SHOT_MB", physical_memory() // 2)
    per_run = _budget("CANVAS_APP_MAX_RUN_MB", physical_memory())
    problems, total, first = [], 0, None
    for node_id, cost in node_costs(graph, order, incoming):
        first = first or (node_id, cost)
        total += cost.size
        if cost.size > per_shot:
            problems.append((node_id, cost.field, (
                f"the shot would hold {cost.size / MEGABYTE / 1024:.1f} GB of frames in memory, "
                f"more than the {per_shot // MEGABYTE} MB a shot may use; {cost.advice}")))
    for node_id, cost in _cut_costs(graph, order, incoming):
        total += cost.size  # the cut's sound is held whole, for as long as the cut lasts
        if cost.problem or cost.size > per_shot:
            problems.append((node_id, cost.field, cost.problem or (
                f"the cut would last {cost.seconds:.0f} s and its sound would hold "
                f"{cost.size / MEGABYTE / 1024:.1f} GB in memory, more than the "
                f"{per_shot // MEGABYTE} MB allowed; {cost.advice}")))
    if total > per_run and not problems and first is not None:
        node_id, cost = first
        problems.append((node_id, cost.field, (
            f"the run's shots would hold {total / MEGABYTE / 1024:.1f} GB of frames in memory, "
            f"more than the {per_run // MEGABYTE} MB a run may use; lower the shots' sizes, fps "
            f"or durations (CANVAS_APP_MAX_RUN_MB raises the limit)")))
    return problems

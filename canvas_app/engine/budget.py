"""How much memory a run's renders will take, checked before anything runs.

A shot's frames are held in memory while it is scored and exported, so the
largest settings in range (4096x4096 at 60 fps for 60 s: 180 GB) could take
the machine down. Each Generate node's frames (width x height x 3 bytes x
fps x the duration of the Prompt it is linked to) must fit a per-shot budget
(half the machine's memory, or CANVAS_APP_MAX_SHOT_MB), and all of a run's
shots together a total one (the machine's memory, or CANVAS_APP_MAX_RUN_MB); otherwise the run is refused
with the node and field to change, by `validate` as by `run`.
"""
from __future__ import annotations

import math
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


def shot_bytes(width: int, height: int, fps: float, seconds: float) -> int:
    return int(width) * int(height) * 3 * max(1, math.ceil(float(fps) * float(seconds)))


def render_problems(graph, order, incoming) -> list[tuple[str, str, str]]:
    """(node id, field, message) for each shot, and for the run, over budget."""
    # Defaults: half the machine's memory for one shot, all of it for the run.
    per_shot = _budget("CANVAS_APP_MAX_SHOT_MB", physical_memory() // 2)
    per_run = _budget("CANVAS_APP_MAX_RUN_MB", physical_memory())
    problems, total = [], 0
    for node_id in order:
        node = graph.nodes[node_id]
        if node.type_name != "Generate" or node.spec is None:
            continue
        prompt = next((graph.nodes.get(link.src) for link in incoming.get(node_id, ())
                       if link.dst_port == "prompt"), None)
        if prompt is None or not isinstance(prompt.params.get("duration"), (int, float)):
            continue
        try:
            size = shot_bytes(node.params["width"], node.params["height"], node.params["fps"],
                              prompt.params["duration"])
        except (KeyError, TypeError, ValueError, OverflowError):
            continue
        total += size
        if size > per_shot:
            problems.append((node_id, "width", (
                f"the shot would hold {size / MEGABYTE / 1024:.1f} GB of frames in memory, more "
                f"than the {per_shot // MEGABYTE} MB a shot may use; lower its width, height or "
                f"fps, or the prompt's duration")))
    for node_id in order:  # the cut: its sound is held whole, for as long as the cut lasts
        node = graph.nodes[node_id]
        if node.type_name == "Sequence" and node.spec is not None:
            problem, sound = _cut_problem(graph, node, incoming, per_shot)
            total += sound
            if problem:
                problems.append((node_id, "fps", problem))
    if total > per_run and not problems:
        first = next(node_id for node_id in order if graph.nodes[node_id].type_name == "Generate")
        problems.append((first, "width", (
            f"the run's shots would hold {total / MEGABYTE / 1024:.1f} GB of frames in memory, "
            f"more than the {per_run // MEGABYTE} MB a run may use; lower the shots' sizes, fps "
            f"or durations (CANVAS_APP_MAX_RUN_MB raises the limit)")))
    return problems


MAX_CUT_SECONDS = 24 * 3600
SOUND_BYTES_PER_SECOND = 48000 * 2 * 4 * 3  # 48 kHz stereo float32, decoded, resampled, padded


def _cut_problem(graph, node, incoming, per_shot: int) -> tuple[str | None, float]:
    """(why the Sequence's cut cannot be made, bytes its sound takes). Each shot
    lasts at least one frame of the cut, so a tiny fps (0.001) makes a cut of
    hours, and its sound gigabytes, from shots of a second."""
    fps = node.params.get("fps")
    if not isinstance(fps, (int, float)) or not fps > 0:
        return None, 0.0  # 0: the first shot's rate, which its own budget covers
    seconds = 0.0
    for link in incoming.get(node.id, ()):
        generate = graph.nodes.get(link.src)
        prompt = next((graph.nodes.get(feed.src) for feed in incoming.get(link.src, ())
                       if feed.dst_port == "prompt"), None)
        duration = prompt.params.get("duration") if prompt is not None else None
        shot = float(duration) if generate is not None and isinstance(duration, (int, float)) \
            and math.isfinite(duration) else 0.0
        seconds += max(1.0, math.ceil(min(shot * fps, 1e12))) / fps
    if seconds > MAX_CUT_SECONDS:
        return (f"at {fps:g} fps the cut would last {seconds / 3600:.3g} hours (each shot is at "
                f"least one frame long); raise the fps, or set 0 for the first shot's"), 0.0
    sound = seconds * SOUND_BYTES_PER_SECOND if node.params.get("audio") else 0.0
    if sound > per_shot:
        return (f"at {fps:g} fps the cut would last {seconds:.0f} s and its sound would hold "
                f"{sound / MEGABYTE / 1024:.1f} GB in memory, more than the {per_shot // MEGABYTE}"
                f" MB allowed; raise the fps, or set 0 for the first shot's"), sound
    return None, sound

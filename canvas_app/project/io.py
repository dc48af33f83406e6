"""Opening and saving project files. Saving is atomic: a crash mid-save
leaves the previous file intact."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from canvas_app.errors import BadInput
from canvas_app.fileio import atomic_write_text, remove_stale_temp_files
from canvas_app.graph.model import Graph
from canvas_app.graph.registry import NodeRegistry, default_registry
from canvas_app.project.format import LoadIssue, graph_from_dict, graph_to_dict

PROJECT_SUFFIX = ".canvas.json"
ASKS = "the editor asks: "  # ends the message about a path outside an exported graph's folder


def read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise BadInput("project file not found", file=str(path))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BadInput("not a text file", file=str(path)) from None
    except RecursionError:
        raise BadInput("not a project: nested far too deep", file=str(path)) from None
    except OSError as error:
        raise BadInput(f"cannot read it: {error.strerror or error}", file=str(path)) from None
    except json.JSONDecodeError as error:
        raise BadInput(f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}",
                       file=str(path)) from None


def load_project(path: str | Path, registry: NodeRegistry | None = None, *,
                 trust_paths: bool = False) -> tuple[Graph, list[LoadIssue]]:
    """A project file, or the graph inside an exported PNG or video. Such a
    graph is untrusted: the files it names outside its export folder are left
    out (each an error naming it) unless `trust_paths` says the user agreed."""
    from canvas_app.media.exports import provenance

    path = Path(path).resolve()
    registry = registry or default_registry()
    if not provenance.is_media(path):
        return graph_from_dict(read_json(path), registry, path.parent, source=str(path))
    # A PNG or video exported by canvas-app holds the graph that made it.
    data = provenance.graph_in_file(path)
    root = provenance.export_root(path)
    outside: list[LoadIssue] = []
    if not trust_paths:
        data = confine_paths(data, registry, root, str(path), outside)
    graph, issues = graph_from_dict(data, registry, root, source=str(path))
    return graph, outside + issues


def paths_outside(path: str | Path, registry: NodeRegistry | None = None) -> list[str]:
    """The files the graph in an exported PNG or video names outside its export
    folder: what the user is asked about before they are read."""
    issues: list[LoadIssue] = []
    from canvas_app.media.exports import provenance

    path = Path(path).resolve()
    confine_paths(provenance.graph_in_file(path), registry or default_registry(),
                  provenance.export_root(path), str(path), issues)
    return [issue.message.split(ASKS, 1)[1] for issue in issues]


def confine_paths(data: Any, registry: NodeRegistry, root: Path, source: str,
                  issues: list[LoadIssue]) -> Any:
    """`data` with every file path that leads outside `root` (absolute, `..`, or
    a link inside pointing out) removed, and an error for each."""
    from canvas_app.project.format import map_node_paths

    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        return data
    root = root.resolve()

    def confined(node_id: str, field: str, stored: str) -> bool:
        try:
            resolved = (root / stored).resolve()
        except (OSError, RuntimeError, ValueError):
            resolved = None
        if resolved is not None and (resolved == root or root in resolved.parents):
            return True
        shown = stored if len(stored) <= 200 else stored[:200] + "..."
        issues.append(LoadIssue("error", "names a file outside the folder it was exported to "
                                f"({root}); not read. Open it with --trust-paths, or agree when "
                                f"{ASKS}{shown}", node=node_id, field=field, file=source))
        return False

    nodes = []
    for raw in data["nodes"]:
        node_class = registry.get(raw.get("type")) if isinstance(raw, dict) and \
            isinstance(raw.get("type"), str) else None
        if node_class is None or not isinstance(raw.get("params"), dict):
            nodes.append(raw)  # an unknown type is never run: its paths are never read
            continue
        node_id = str(raw.get("id"))
        nodes.append({**raw, "params": map_node_paths(
            node_class.spec, raw["params"], lambda field, stored: stored if not stored or
            confined(node_id, field, stored) else None)})
    return {**data, "nodes": nodes}


def save_project(graph: Graph, path: str | Path) -> None:
    path = Path(path).resolve()
    data = graph_to_dict(graph, path.parent)
    remove_stale_temp_files(path)
    try:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (pasted text): JSON escapes keep it
        text = json.dumps(data, indent=2, ensure_ascii=True) + "\n"
    atomic_write_text(path, text)

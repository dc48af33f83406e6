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


def load_project(path: str | Path, registry: NodeRegistry | None = None
                 ) -> tuple[Graph, list[LoadIssue]]:
    from canvas_app.media.exports import provenance

    path = Path(path).resolve()
    # A PNG or video exported by canvas-app holds the graph that made it.
    data = provenance.graph_in_file(path) if provenance.is_media(path) else read_json(path)
    graph, issues = graph_from_dict(data, registry or default_registry(),
                                    path.parent, source=str(path))
    return graph, issues


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

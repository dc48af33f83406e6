"""The project file format: JSON <-> Graph, with every problem reported.

Loading never raises for problems inside the document: an unknown node type
becomes a placeholder that is written back unchanged, a wrong value falls back
to the param's default, a missing image is kept as written. Each is reported
as a `LoadIssue` naming the node and field. Only a document that is not a
project at all, or comes from a newer format version, is refused.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from canvas_app.errors import BadInput
from canvas_app.graph.model import Backdrop, Graph, Link, Node
from canvas_app.graph.registry import NodeRegistry
from canvas_app.graph.spec import NodeSpec

FORMAT_VERSION = 1
APP_NAME = "canvas-app"


@dataclass(frozen=True)
class LoadIssue:
    severity: str  # "error": the project cannot run as it is; "warning": it can
    message: str
    node: str | None = None
    field: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = [part for part in (
            f"file {self.file}" if self.file else "",
            f"node {self.node}" if self.node else "",
            f"field {self.field}" if self.field else "") if part]
        return f"{self.severity}: {', '.join(where)}: {self.message}" if where else \
            f"{self.severity}: {self.message}"


# -- paths -----------------------------------------------------------------------------
def to_stored_path(path: str, base_dir: Path | None) -> str:
    """Asset paths are stored relative to the project file, with '/'."""
    if not path or base_dir is None:
        return path
    absolute = Path(path)
    if not absolute.is_absolute():
        return PurePosixPath(Path(path).as_posix()).as_posix()
    try:
        relative = os.path.relpath(absolute, base_dir)
    except ValueError:  # another drive on Windows
        return absolute.as_posix()
    return Path(relative).as_posix()


def from_stored_path(path: str, base_dir: Path | None) -> str:
    if not path or base_dir is None or path_problem(path):
        return path
    stored = Path(path)
    if stored.is_absolute():
        return str(stored)
    try:
        return str((base_dir / stored).resolve())
    except (OSError, RuntimeError, ValueError):  # a symlink loop: reported as not found
        return os.path.normpath(base_dir / stored)


MAX_PATH_CHARS = 4096


def path_problem(path: str) -> str | None:
    """Why `path` can never name a file, or None."""
    if "\x00" in path:
        return "the path contains a NUL character"
    if len(path) > MAX_PATH_CHARS or any(len(part) > 255 for part in Path(path).parts):
        return "the path is too long"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "the path is not valid text"
    return None


def _too_deep(value: Any, limit: int = 32) -> bool:
    """Nested more than `limit` lists/objects deep (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in
                         (item.values() if isinstance(item, dict) else item))
    return False


def _map_paths(spec: NodeSpec, params: dict[str, Any], convert) -> dict[str, Any]:
    mapped = copy.deepcopy(params)
    for param in spec.params:
        value = mapped.get(param.name)
        if param.kind == "file" and isinstance(value, str):
            mapped[param.name] = convert(value)
        elif param.kind == "images" and isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    entry["path"] = convert(entry["path"])
    return mapped


def map_node_paths(spec: NodeSpec, params: dict[str, Any], convert) -> dict[str, Any]:
    """A copy of `params` with each file path replaced by convert(field, path);
    a file param converted to None becomes "", an image converted to None is
    dropped from its list."""
    mapped = dict(params)
    for param in spec.params:
        value = mapped.get(param.name)
        if param.kind == "file" and isinstance(value, str):
            converted = convert(param.name, value)
            mapped[param.name] = "" if converted is None else converted
        elif param.kind == "images" and isinstance(value, list):
            entries = []
            for entry in value:
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    converted = convert(param.name, entry["path"])
                    if converted is None:
                        continue
                    entry = {**entry, "path": converted}
                entries.append(entry)
            mapped[param.name] = entries
    return mapped


# -- writing ---------------------------------------------------------------------------
def node_to_dict(node: Node, base_dir: Path | None) -> dict[str, Any]:
    if node.is_placeholder:
        data = copy.deepcopy(node.raw or {})
        data["position"] = list(node.position)
        data["title"] = node.title
        return data
    return {
        "id": node.id,
        "type": node.type_name,
        "type_version": node.type_version,
        "title": node.title,
        "position": [round(node.position[0], 2), round(node.position[1], 2)],
        "params": _map_paths(node.spec, node.params, lambda p: to_stored_path(p, base_dir)),
    }


def link_to_dict(link: Link) -> dict[str, str]:
    return {"src": link.src, "src_port": link.src_port, "dst": link.dst, "dst_port": link.dst_port}


def graph_to_dict(graph: Graph, base_dir: Path | None, node_ids: set[str] | None = None
                  ) -> dict[str, Any]:
    """The whole project, or (with node_ids) a fragment for the clipboard that
    holds those nodes and only the links among them."""
    nodes = [node for node in graph.nodes.values() if node_ids is None or node.id in node_ids]
    links = [link for link in graph.links
             if node_ids is None or (link.src in node_ids and link.dst in node_ids)]
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "app": APP_NAME,
        "nodes": [node_to_dict(node, base_dir) for node in nodes],
        "links": [link_to_dict(link) for link in links],
    }
    if node_ids is None:
        data["backdrops"] = [{"id": b.id, "title": b.title, "rect": list(b.rect), "color": b.color}
                             for b in graph.backdrops.values()]
        data["metadata"] = copy.deepcopy(graph.metadata)
    return data


# -- reading ---------------------------------------------------------------------------
def graph_from_dict(data: Any, registry: NodeRegistry, base_dir: Path | None,
                    source: str = "project") -> tuple[Graph, list[LoadIssue]]:
    if not isinstance(data, dict) or not isinstance(data.get("nodes", []), list):
        raise BadInput("not a canvas-app project (expected a JSON object with a nodes list)",
                       file=source)
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadInput("missing or invalid format_version", file=source, field="format_version")
    if version > FORMAT_VERSION:
        raise BadInput(f"this project was saved by a newer canvas-app (format version {version}; "
                       f"this version reads up to {FORMAT_VERSION}). Update canvas-app to open it.",
                       file=source, field="format_version")

    issues: list[LoadIssue] = []
    graph = Graph(registry)
    for index, raw in enumerate(data.get("nodes", [])):
        node = _node_from_dict(raw, index, registry, base_dir, source, graph, issues)
        if node is not None:
            graph.nodes[node.id] = node

    for field in ("links", "backdrops"):
        if not isinstance(data.get(field, []), list):
            issues.append(LoadIssue("error", f"{field} must be a list; ignored", file=source,
                                    field=field))
            data = {**data, field: []}
    for index, raw in enumerate(data.get("links", []) or []):
        link = _link_from_dict(raw, index, graph, source, issues)
        if link is not None:
            graph.insert_link(link)  # keeps the graph's link index current: no rescan per link

    for index, raw in enumerate(data.get("backdrops", []) or []):
        try:
            rect = tuple(float(v) for v in raw["rect"])
            if len(rect) != 4 or not all(math.isfinite(v) for v in rect):
                raise ValueError
            graph.backdrops[str(raw["id"])] = Backdrop(id=str(raw["id"]),
                                                       title=str(raw.get("title", "")),
                                                       rect=rect, color=str(raw.get("color", "#3a4a5a")))
        except (KeyError, TypeError, ValueError, OverflowError):
            issues.append(LoadIssue("warning", f"backdrop {index + 1} is malformed and was dropped",
                                    file=source, field="backdrops"))
    metadata = data.get("metadata", {})
    if isinstance(metadata, dict) and _too_deep(metadata):
        issues.append(LoadIssue("warning", "metadata nested far too deep; dropped", file=source,
                                field="metadata"))
        metadata = {}
    graph.metadata = metadata if isinstance(metadata, dict) else {}
    return graph, issues


def _node_from_dict(raw: Any, index: int, registry: NodeRegistry, base_dir: Path | None,
                    source: str, graph: Graph, issues: list[LoadIssue]) -> Node | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"] \
            or raw["id"].encode("utf-8", "replace").decode("utf-8") != raw["id"]:
        issues.append(LoadIssue("error", f"node {index + 1} has no id and was dropped", file=source))
        return None
    node_id = raw["id"]
    if node_id in graph.nodes:
        issues.append(LoadIssue("error", "duplicate node id; the second one was dropped",
                                node=node_id, file=source))
        return None
    type_name = str(raw.get("type", ""))
    title = str(raw.get("title") or node_id)
    printable = title.encode("utf-8", "replace").decode("utf-8")
    if printable != title:  # a lone surrogate cannot be written into exports or reports
        issues.append(LoadIssue("warning", "the title held an invalid character; replaced",
                                node=node_id, field="title", file=source))
        title = printable
    position = _position(raw.get("position"))
    node_class = registry.get(type_name)
    if node_class is None and _too_deep(raw):  # kept as written, it would be copied recursively
        issues.append(LoadIssue("error", f"unknown node type {type_name!r} nested far too deep; "
                                "dropped", node=node_id, file=source))
        return None
    if node_class is None:
        issues.append(LoadIssue("warning", f"unknown node type {type_name!r}: kept as a placeholder "
                                "(it is saved back unchanged but cannot run)", node=node_id, file=source))
        return Node(id=node_id, type_name=type_name, type_version=_int(raw.get("type_version"), 0),
                    title=title, position=position, params={}, spec=None, raw=copy.deepcopy(raw))

    spec = node_class.spec
    stored_version = _int(raw.get("type_version"), spec.version)
    params_in = raw.get("params", {})
    if not isinstance(params_in, dict):
        issues.append(LoadIssue("error", "params must be an object; defaults used", node=node_id,
                                field="params", file=source))
        params_in = {}
    if _too_deep(params_in):
        issues.append(LoadIssue("error", "params are nested far too deep; defaults used",
                                node=node_id, field="params", file=source))
        params_in = {}
    if stored_version != spec.version:
        migrate = getattr(node_class, "migrate", None)
        if stored_version < spec.version and migrate is not None:
            params_in = migrate(copy.deepcopy(params_in), stored_version)
        elif stored_version > spec.version:
            issues.append(LoadIssue("warning", f"saved by a newer {type_name} (version {stored_version},"
                                    f" this program has {spec.version}); unknown fields are dropped",
                                    node=node_id, file=source))

    params = spec.default_params()
    absolute = _map_paths(spec, params_in, lambda p: from_stored_path(p, base_dir))
    for name, value in absolute.items():
        param = spec.param(name)
        if param is None:
            issues.append(LoadIssue("warning", f"unknown field {name!r} ignored", node=node_id,
                                    field=name, file=source))
            continue
        checked, reason = param.check(value)
        if reason:
            issues.append(LoadIssue("error", f"{reason}; using the default {param.default!r}",
                                    node=node_id, field=name, file=source))
            continue
        params[name] = checked
    for param in spec.params:  # report missing asset files with the path as written
        value = params.get(param.name)
        paths = [value] if param.kind == "file" and value else \
            [entry["path"] for entry in value] if param.kind == "images" else []
        for path in paths:
            problem = path_problem(path)
            if problem is None:
                try:
                    if not Path(path).exists():
                        problem = "file not found"
                    elif not Path(path).is_file():
                        problem = "not a regular file"
                except (OSError, ValueError):
                    problem = "file not found"
            if problem:
                shown = path if len(path) <= 200 else path[:200] + "..."
                issues.append(LoadIssue("error", f"{problem}: {shown!a}" if problem !=
                                        "file not found" else f"file not found: {shown}",
                                        node=node_id, field=param.name, file=source))
    return Node(id=node_id, type_name=type_name, type_version=spec.version, title=title,
                position=position, params=params, spec=spec)


def _link_from_dict(raw: Any, index: int, graph: Graph, source: str,
                    issues: list[LoadIssue]) -> Link | None:
    try:
        link = Link(str(raw["src"]), str(raw["src_port"]), str(raw["dst"]), str(raw["dst_port"]))
    except (KeyError, TypeError):
        issues.append(LoadIssue("error", f"link {index + 1} is malformed and was dropped",
                                file=source, field="links"))
        return None
    src, dst = graph.nodes.get(link.src), graph.nodes.get(link.dst)
    if src is None or dst is None:
        issues.append(LoadIssue("error", f"link {link} names a missing node and was dropped",
                                file=source, field="links"))
        return None
    if src.is_placeholder or dst.is_placeholder:
        return link  # cannot be checked; kept so the placeholder round-trips
    reason = graph.check_connect(link)
    if reason:
        issues.append(LoadIssue("error", f"link {link} dropped: {reason}", node=link.dst,
                                file=source, field=link.dst_port))
        return None
    return link


def _position(value: Any) -> tuple[float, float]:
    try:
        x, y = float(value[0]), float(value[1])
        return (x, y) if math.isfinite(x) and math.isfinite(y) else (0.0, 0.0)
    except (TypeError, ValueError, IndexError, KeyError, OverflowError):
        return (0.0, 0.0)


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default

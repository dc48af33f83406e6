"""Names people read: titles for copies, links described by node titles."""
from __future__ import annotations

import re

_TRAILING_NUMBER = re.compile(r"^(.*?)(\s*)(\d+)$")


def copy_title(title: str, taken: set[str]) -> str:
    """The title for a copy, numbered as Nuke does: the trailing number goes
    up to the next free one ("Render Shot 4" -> "Render Shot 5"), a title
    without one gets " 2", " 3"..."""
    if title not in taken:
        return title
    match = _TRAILING_NUMBER.match(title.strip())
    if match and match.group(1):
        stem, separator, index = match.group(1), match.group(2), int(match.group(3)) + 1
    else:
        stem, separator, index = title.strip(), " ", 2
    while f"{stem}{separator}{index}" in taken:
        index += 1
    return f"{stem}{separator}{index}"


def describe_link(graph, link) -> str:
    """'Identity Lock.identity → Render Shot 4.identity': titles, not ids."""
    def end(node_id: str, port: str) -> str:
        node = graph.nodes.get(node_id)
        return f"{node.title if node is not None else node_id}.{port}"
    return f"{end(link.src, link.src_port)} → {end(link.dst, link.dst_port)}"

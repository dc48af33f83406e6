"""Errors that reach the user. Each says which file, node and field is wrong.

`BadInput` is the user's to fix (the CLI exits 2); `NodeFailure` is a failure
while running (exit 1). Neither should ever show a traceback to the user.
"""
from __future__ import annotations


class CanvasError(Exception):
    pass


class BadInput(CanvasError):
    """Input the user can fix: a bad file, a missing face, a wrong value."""

    def __init__(self, message: str, *, file: str | None = None, node: str | None = None,
                 field: str | None = None, node_id: str | None = None) -> None:
        self.file = file
        self.node = node  # the node as the user knows it (its label)
        self.node_id = node_id  # the graph's id of that node, when known (the editor marks it)
        self.field = field
        super().__init__(message)

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.node:
            where.append(f"node {self.node}")
        if self.field:
            where.append(f"field {self.field}")
        base = super().__str__()
        return f"{', '.join(where)}: {base}" if where else base


class NodeFailure(CanvasError):
    """A node failed while running for a reason that is not bad input."""

    def __init__(self, message: str, *, node: str | None = None) -> None:
        self.node = node
        super().__init__(message)

    def __str__(self) -> str:
        base = super().__str__()
        return f"node {self.node}: {base}" if self.node else base

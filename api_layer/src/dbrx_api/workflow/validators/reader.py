"""What the readers of one document share: the `Context` (issues, positions of model paths, sweeping of
unread subtrees), list `Item`s, and the path and description helpers used in messages.

The sections themselves are read by the pydantic input models (`inputs`, over `lenient`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dbrx_api.workflow.models.issues import IssueCollector, SourcePos
from dbrx_api.workflow.models.raw import RawMap, RawNode, RawScalar, RawSeq


def child(path: str, key: str) -> str:
    """`path.key`, or `key` at the root."""
    return f"{path}.{key}" if path else key


def describe(node: RawNode) -> str:
    """A short description of what a node is, for type-mismatch messages."""
    if isinstance(node, RawMap):
        return "a mapping"
    if isinstance(node, RawSeq):
        return "a list"
    if node.kind == "bool" and not node.verbatim:
        return "a TRUE/FALSE cell"
    if node.kind == "date" and not node.verbatim:
        return "a date cell"
    return f'"{node.text.strip()[:60]}"'


def where(path: str, pos: SourcePos) -> str:
    """`path (line 12)` or `path (sheet!A2)`, used inside messages that point at another entry."""
    if pos.sheet is not None and pos.row is not None:
        return f"{path} ({pos.sheet} row {pos.row})"
    if pos.line is not None:
        return f"{path} (line {pos.line})"
    return path


@dataclass(frozen=True, slots=True)
class Item:
    """One list item: its node, model path and position."""

    node: RawNode
    path: str
    pos: SourcePos


class Context:
    """State shared by the readers of one document."""

    def __init__(self, issues: IssueCollector, *, allow_local_urls: bool = False) -> None:
        self.issues = issues
        self.allow_local_urls = allow_local_urls
        self.positions: dict[str, SourcePos] = {}

    def remember(self, path: str, pos: SourcePos) -> None:
        """Record where a model path sits in the file (for later, e.g. live, issues)."""
        self.positions.setdefault(path, pos)

    def error(
        self,
        code: str,
        path: str,
        msg: str,
        pos: SourcePos,
        *,
        input_value: object = None,
        hint: str | None = None,
    ) -> None:
        """Record an error."""
        self.issues.error(code, path, msg, pos, input_value=input_value, hint=hint)

    def warning(
        self,
        code: str,
        path: str,
        msg: str,
        pos: SourcePos,
        *,
        input_value: object = None,
        hint: str | None = None,
    ) -> None:
        """Record a warning."""
        self.issues.warning(code, path, msg, pos, input_value=input_value, hint=hint)

    def sweep(self, node: RawNode, path: str) -> None:
        """Report unreadable cells (formulas, error values) inside a subtree that is otherwise not read."""
        if isinstance(node, RawScalar):
            if node.kind == "invalid" and node.problem is not None:
                self.error(node.problem[0], path, node.problem[1], node.pos, input_value=node.text)
        elif isinstance(node, RawSeq):
            for index, item in enumerate(node.items):
                self.sweep(item, f"{path}[{index}]")
        else:
            for key, entry in node.entries.items():
                self.sweep(entry.value, child(path, key))

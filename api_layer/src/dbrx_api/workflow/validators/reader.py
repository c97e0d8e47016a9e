"""Typed reading of the located tree (stage 2: keys, types, required fields, enums, lengths).

`FieldReader` reads one mapping entry against its list of known fields: it reports unknown keys (with a
"did you mean"), alias conflicts and deprecated keys once, then hands out typed values. Every converter reports
its own issue at the field's path and position and returns None, and remembers the field as *bad*, so later
cross-reference checks can skip what depends on it instead of piling up follow-up errors.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from dbrx_api.workflow.models.issues import IssueCollector, SourcePos
from dbrx_api.workflow.models.raw import RawMap, RawNode, RawScalar, RawSeq, split_list_text
from dbrx_api.workflow.models.suggest import closest
from dbrx_api.workflow.validators.fields import FieldError


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

    def field_error(self, exc: FieldError, path: str, pos: SourcePos, input_value: object) -> None:
        """Record a `FieldError` raised by a rule of `fields`."""
        self.error(exc.code, path, exc.msg, pos, input_value=input_value, hint=exc.hint)

    def scalar(self, node: RawNode, path: str, expected: str) -> RawScalar | None:
        """The node as a scalar, or None after reporting `type_mismatch` (or the cell's own problem)."""
        if isinstance(node, RawScalar):
            if node.kind == "invalid":
                code, msg = node.problem or ("type_mismatch", "the value cannot be read.")
                self.error(code, path, msg, node.pos, input_value=node.text)
                return None
            return node
        self.error("type_mismatch", path, f"expected {expected}, got {describe(node)}.", node.pos)
        self.sweep(node, path)
        return None

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

    def items(self, node: RawNode, path: str) -> list[Item] | None:
        """A list: a sequence, or one string of items separated by commas or line breaks (§2.2)."""
        if isinstance(node, RawSeq):
            items = [
                Item(item, f"{path}[{index}]", item.pos) for index, item in enumerate(node.items)
            ]
            for item in items:
                self.remember(item.path, item.pos)
            return items
        if isinstance(node, RawMap):
            self.error("type_mismatch", path, "expected a list, got a mapping.", node.pos)
            self.sweep(node, path)
            return None
        scalar = self.scalar(node, path, "a list")
        if scalar is None:
            return None
        if scalar.is_null:
            return []
        if scalar.kind != "str":
            return [Item(scalar, f"{path}[0]", scalar.pos)]
        return [
            Item(RawScalar(text=text, kind="str", pos=scalar.pos), f"{path}[{index}]", scalar.pos)
            for index, text in enumerate(split_list_text(scalar.text))
        ]

    def item_text(self, item: Item, expected: str, *, names: bool = False) -> str | None:
        """Trimmed text of a list item: ``""`` for a blank item (dropped), None after a reported issue."""
        scalar = self.scalar(item.node, item.path, expected)
        if scalar is None:
            return None
        if scalar.is_null:
            return ""
        if not scalar.verbatim and (scalar.kind == "bool" or (names and scalar.kind == "date")):
            self.error(
                "type_mismatch",
                item.path,
                f"expected {expected}, got {describe(scalar)}.",
                item.pos,
            )
            return None
        return scalar.text.strip()


class FieldReader:
    """Reads one mapping against its known fields; see the module docstring."""

    def __init__(
        self,
        ctx: Context,
        node: RawMap,
        path: str,
        known: Collection[str],
        *,
        aliases: Mapping[str, str] | None = None,
        deprecated: Collection[str] = (),
        ignored: Collection[str] = (),
        ignored_code: str = "ignored_in_delete",
    ) -> None:
        self.ctx = ctx
        self.node = node
        self.path = path
        self.pos = node.pos
        self.entries: dict[str, tuple[RawNode, str]] = {}
        self.bad: set[str] = set()
        aliases = aliases or {}
        ctx.remember(path, node.pos)
        for key, entry in node.entries.items():
            canonical = aliases.get(key, key)
            key_path = child(path, key)
            if key in deprecated:
                ctx.warning(
                    "field_deprecated",
                    key_path,
                    f'"{key}" is deprecated and was ignored.',
                    entry.key_pos,
                    input_value=key,
                )
                ctx.sweep(entry.value, key_path)
                continue
            if canonical in ignored:
                ctx.warning(
                    ignored_code,
                    key_path,
                    f'"{key}" is ignored by the DELETE strategy (only names are read).',
                    entry.key_pos,
                    input_value=key,
                )
                ctx.sweep(entry.value, key_path)
                continue
            if canonical not in known:
                suggestion = closest(key, [*known, *aliases])
                ctx.error(
                    "unknown_field",
                    key_path,
                    f'unknown field "{key}"'
                    + (f'; did you mean "{suggestion}"?' if suggestion else "."),
                    entry.key_pos,
                    input_value=key,
                    hint=suggestion,
                )
                ctx.sweep(entry.value, key_path)
                continue
            if canonical in self.entries:
                first_node, _ = self.entries[canonical]
                if not _same_value(first_node, entry.value):
                    alias = (
                        key
                        if key != canonical
                        else next(k for k, v in aliases.items() if v == canonical)
                    )
                    ctx.error(
                        "alias_conflict",
                        path,
                        f'"{canonical}" and "{alias}" are both set and differ; keep one.',
                        entry.key_pos,
                    )
                    self.bad.add(canonical)
                continue
            self.entries[canonical] = (entry.value, key_path)
            ctx.remember(key_path, _value_pos(entry.value, entry.key_pos))

    # ---------------------------------------------------------------- access

    def has(self, key: str) -> bool:
        """The key is given with a non-null value (valid or not)."""
        taken = self.entries.get(key)
        return taken is not None and not (isinstance(taken[0], RawScalar) and taken[0].is_null)

    def path_of(self, key: str) -> str:
        """Model path of a field (the alias actually written, when one was used)."""
        taken = self.entries.get(key)
        return taken[1] if taken else child(self.path, key)

    def pos_of(self, key: str) -> SourcePos:
        """Position of a field's value, or of the entry when the field is absent."""
        taken = self.entries.get(key)
        return taken[0].pos if taken else self.pos

    def node_of(self, key: str) -> RawNode | None:
        """The raw node of a non-null field that is not already known to be bad."""
        if key in self.bad or not self.has(key):
            return None
        return self.entries[key][0]

    def missing(self, key: str, explanation: str = "") -> None:
        """Report a required field: `required` when absent, `empty_value` when blank."""
        self.bad.add(key)
        if key in self.entries:
            self.ctx.error("empty_value", self.path_of(key), "must not be empty.", self.pos_of(key))
        else:
            self.ctx.error(
                "required",
                child(self.path, key),
                f'field "{key}" is required{explanation}.',
                self.pos,
            )

    def fail(
        self, key: str, code: str, msg: str, *, input_value: object = None, hint: str | None = None
    ) -> None:
        """Report an issue on a field and mark it bad."""
        self.bad.add(key)
        self.ctx.error(
            code, self.path_of(key), msg, self.pos_of(key), input_value=input_value, hint=hint
        )

    def fail_field(self, key: str, exc: FieldError, input_value: object) -> None:
        """Report a `FieldError` on a field and mark it bad."""
        self.fail(key, exc.code, exc.msg, input_value=input_value, hint=exc.hint)

    def _scalar(self, key: str, expected: str) -> RawScalar | None:
        node = self.node_of(key)
        if node is None:
            return None
        scalar = self.ctx.scalar(node, self.path_of(key), expected)
        if scalar is None:
            self.bad.add(key)
        return scalar

    # ---------------------------------------------------------------- typed values

    def name_text(self, key: str, *, required: bool = False, explanation: str = "") -> str | None:
        """Text of a name field (rule N is checked by the caller); Excel booleans and dates are refused."""
        scalar = self._scalar(key, "a name")
        if scalar is None:
            if required and key not in self.bad:
                self.missing(key, explanation)
            return None
        if not scalar.verbatim and scalar.kind in {"bool", "date"}:
            self.fail(
                key,
                "type_mismatch",
                f"expected a name, got {describe(scalar)}.",
                input_value=scalar.text,
            )
            return None
        return scalar.text.strip()

    def items(self, key: str) -> list[Item] | None:
        """List items of a field; None when absent or unreadable, [] when given empty."""
        node = self.node_of(key)
        if node is None:
            return None
        items = self.ctx.items(node, self.path_of(key))
        if items is None:
            self.bad.add(key)
        return items


def _same_value(left: RawNode, right: RawNode) -> bool:
    if isinstance(left, RawScalar) and isinstance(right, RawScalar):
        return left.text.strip() == right.text.strip()
    return False


def _value_pos(node: RawNode, fallback: SourcePos) -> SourcePos:
    pos = node.pos
    return pos if pos.line is not None or pos.sheet is not None else fallback

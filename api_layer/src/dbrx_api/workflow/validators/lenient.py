"""Pydantic input models over the located tree: lenient field types, and one index from error locations to
file positions.

A section's input model (`inputs.py`) is validated against the section's `RawMap`, its values still located
`RawScalar`/`RawSeq`/`RawMap` nodes. The `BeforeValidator`s below read the nodes as docs/SHAREPACK.md §2.2 allows (any case, lists as
comma-separated text, Excel cells) and raise `PydanticCustomError`s that carry the docs/SHAREPACK.md §13.2 issue codes. `run`
turns pydantic's errors into issues: the error location becomes the model path (`metadata.approver[0]`) and
`PathIndex` gives its YAML line/column or Excel cell. Warnings have no place in a pydantic error, so validators
hand them to `warn` (through the validation context) with their location relative to the section.

Sections nest: a field validator reads a nested mapping (a share's pipelines, a pipeline's schedule) with
`nested`, which runs `run` on it at its own path, so each section keeps its known fields, aliases and
explanations; the outer field then fails with `reported()` when the nested section had errors. Rules across the
fields of one section (the D2D/D2O rules, defaults depending on other fields) are wrap model validators
(`model_rules`), which still see the fields that validated when others did not. An `Outcome` is what a section
read gives the cross-reference checks (`crossref`) and the assembly: the model, the fields that validated, those
that did not, and where each field was written.

The validators read located scalars rather than plain Python values, since a located scalar knows whether an
Excel cell was typed (a TRUE/FALSE or date cell is not text), which plain Python values cannot say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate

from pydantic import (
    BaseModel,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from dbrx_api.workflow.models.issues import IssueCollector, SourcePos
from dbrx_api.workflow.models.raw import RawMap, RawNode, RawScalar, RawSeq, split_list_text
from dbrx_api.workflow.models.suggest import closest
from dbrx_api.workflow.validators.fields import (
    FieldError,
    check_email,
    check_ip,
    check_name,
    check_principal,
    check_text,
)


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

    def __init__(self, issues: IssueCollector) -> None:
        self.issues = issues
        self.positions: dict[str, SourcePos] = {}

    def remember(self, path: str, pos: SourcePos) -> None:
        """Record where a model path sits in the file (for later, e.g. live, issues)."""
        self.positions.setdefault(path, pos)

    def error(self, code: str, path: str, msg: str, pos: SourcePos, **extra: Any) -> None:
        """Record an error (`extra`: the `input_value` and `hint` of `IssueCollector.error`)."""
        self.issues.error(code, path, msg, pos, **extra)

    def warning(self, code: str, path: str, msg: str, pos: SourcePos, **extra: Any) -> None:
        """Record a warning (`extra` as for `error`)."""
        self.issues.warning(code, path, msg, pos, **extra)

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


Loc = tuple[str | int, ...]
_INTEGER = re.compile(r"[+-]?\d+")
_INTEGRAL_FLOAT = re.compile(r"[+-]?\d+\.0*")
_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})


def issue(
    code: str, msg: str, *, input_value: object = None, hint: str | None = None, **extra: Any
) -> PydanticCustomError:
    """A pydantic error carrying an issue code (the message is kept verbatim in the context)."""
    return PydanticCustomError(
        code, "{msg}", {"msg": msg, "input": input_value, "hint": hint, **extra}
    )


def placed(exc: PydanticCustomError, pos: SourcePos) -> PydanticCustomError:
    """`exc` reported at `pos` instead of its location's value (a mapping key, a value not indexed)."""
    return PydanticCustomError(exc.type, exc.message_template, {**(exc.context or {}), "pos": pos})


def checked[**P, T](
    check: Callable[Concatenate[str, P], T], written: str, *args: P.args, **kwargs: P.kwargs
) -> T:
    """`check(written, ...)` of `fields`, its `FieldError` raised as a pydantic error about `written`."""
    try:
        return check(written, *args, **kwargs)
    except FieldError as exc:
        raise issue(exc.code, exc.msg, input_value=written, hint=exc.hint) from None


def report(ctx: Context, exc: PydanticCustomError, path: str, node: RawNode) -> None:
    """Report an error raised outside a model (a list item read on its own) at `path` and the node."""
    extra = exc.context or {}
    ctx.error(
        exc.type,
        path,
        extra["msg"],
        node.pos,
        input_value=extra.get("input"),
        hint=extra.get("hint"),
    )
    if extra.get("sweep"):
        ctx.sweep(node, path)


def warn(info: ValidationInfo, code: str, loc: Loc, msg: str, **kwargs: Any) -> None:
    """Report a warning at `loc` (relative to the section) from inside a validator."""
    info.context["warn"](code, loc, msg, **kwargs)  # type: ignore[index]


def first_time(info: ValidationInfo, seen: set[str], key: str, loc: Loc, shown: str) -> bool:
    """True the first time `key` is met in a list (and remember it); a repeat warns `duplicate_entry` at `loc`."""
    if key in seen:
        warn(
            info,
            "duplicate_entry",
            loc,
            f'"{shown}" is listed twice; the duplicate was dropped.',
            input_value=shown,
        )
        return False
    seen.add(key)
    return True


@dataclass(frozen=True, slots=True)
class AliasConflict:
    """Stands for a field written under two aliases with different values (reported as `alias_conflict`)."""

    canonical: str
    alias: str
    key: str


# ------------------------------------------------------------------------------------------ scalars


def scalar(node: object, expected: str) -> RawScalar:
    """The node as a readable scalar; raises `type_mismatch` (or the cell's own problem) otherwise."""
    if isinstance(node, AliasConflict):
        raise issue(
            "alias_conflict",
            f'"{node.canonical}" and "{node.alias}" are both set and differ; keep one.',
            at_key=node.key,
        )
    if isinstance(node, RawScalar):
        if node.kind == "invalid":
            code, msg = node.problem or ("type_mismatch", "the value cannot be read.")
            raise issue(code, msg, input_value=node.text)
        return node
    assert isinstance(node, RawMap | RawSeq)  # noqa: S101 - the index only holds located nodes
    raise issue("type_mismatch", f"expected {expected}, got {describe(node)}.", sweep=True)


def text(max_len: int, *, required: bool = False) -> Callable[[object], str | None]:
    """Trimmed text (any scalar's source text, line endings made `\\n`); blank is absent or `empty_value`."""

    def convert(node: object) -> str | None:
        value = scalar(node, "text")
        if value.is_null:
            if required:
                raise issue("empty_value", "must not be empty.")
            return None
        if value.kind == "bool" and not value.verbatim:
            raise issue(
                "type_mismatch", f"expected text, got {describe(value)}.", input_value=value.text
            )
        result = checked(check_text, value.text.replace("\r\n", "\n").replace("\r", "\n").strip())
        if len(result) > max_len:
            raise issue(
                "too_long",
                f"{len(result):,} characters, limit {max_len:,}.".replace(",", " "),
                input_value=result,
            )
        return result

    return convert


def enum(values: tuple[str, ...], *, required: bool = False) -> Callable[[object], str | None]:
    """One of `values` in any case, in its canonical spelling."""

    def convert(node: object) -> str | None:
        if node is None:  # a default validated
            return None
        value = scalar(node, f"one of {', '.join(values)}")
        if value.is_null:
            if required:
                raise issue("empty_value", "must not be empty.")
            return None
        written = value.text.strip()
        for choice in values:
            if written.lower() == choice.lower():
                return choice
        raise issue(
            "enum_invalid",
            f'"{written}" is not one of {", ".join(values)}.',
            input_value=written,
            hint=closest(written, values),
        )

    return convert


def name_text(node: object) -> str:
    """Trimmed text of a required name field; blank, Excel TRUE/FALSE and date cells refused."""
    value = scalar(node, "a name")
    if value.is_null:
        raise issue("empty_value", "must not be empty.")
    if not value.verbatim and value.kind in {"bool", "date"}:
        raise issue(
            "type_mismatch", f"expected a name, got {describe(value)}.", input_value=value.text
        )
    return value.text.strip()


def name(*, lower: bool = True) -> Callable[[object], str]:
    """A required name (rule N), lower-cased unless `lower` is False."""

    def convert(node: object) -> str:
        written = checked(check_name, name_text(node))
        return written.lower() if lower else written

    return convert


def integer(low: int, high: int | None, unit: str = "") -> Callable[[object], int | None]:
    """An integer (YAML integer, numeric text, integral Excel number) within [low, high] (no upper bound: None)."""

    def convert(node: object) -> int | None:
        value = scalar(node, "an integer")
        if value.is_null:
            return None
        written = value.text.strip()
        if value.kind == "int":
            written = written.replace("_", "")
        if value.kind == "bool" or not (
            _INTEGER.fullmatch(written) or _INTEGRAL_FLOAT.fullmatch(written)
        ):
            what = f"an integer number of {unit}" if unit else "an integer"
            raise issue(
                "type_mismatch", f"expected {what}, got {describe(value)}.", input_value=value.text
            )
        number = int(written.split(".", 1)[0])
        if number < low or (high is not None and number > high):
            bounds = f"{low}-{high}" if high is not None else f"at least {low}"
            raise issue(
                "value_out_of_range", f"{number} is outside {bounds}.", input_value=value.text
            )
        return number

    return convert


def boolean(node: object) -> bool | None:
    """true/false, yes/no, y/n, on/off, 1/0 in any case; Excel TRUE/FALSE or 1/0."""
    value = scalar(node, "true or false")
    if value.is_null:
        return None
    written = value.text.strip().lower()
    if value.kind in {"str", "bool", "int"} and written in _TRUE:
        return True
    if value.kind in {"str", "bool", "int"} and written in _FALSE:
        return False
    raise issue(
        "type_mismatch", f"expected true or false, got {describe(value)}.", input_value=value.text
    )


# ------------------------------------------------------------------------------------------ lists


def list_items(node: object) -> list[RawNode] | None:
    """A list (docs/SHAREPACK.md §2.2): a sequence, or one string of items separated by commas or line breaks; None when null."""
    if isinstance(node, RawSeq):
        return list(node.items)
    if isinstance(node, RawMap):
        raise issue("type_mismatch", "expected a list, got a mapping.", sweep=True)
    value = scalar(node, "a list")
    if value.is_null:
        return None
    if value.kind != "str":
        return [value]
    return [RawScalar(text=item, kind="str", pos=value.pos) for item in split_list_text(value.text)]


def item_text(node: object, expected: str, *, names: bool = False) -> str:
    """Trimmed text of a list item, ``""`` when blank; an Excel TRUE/FALSE cell (and date cell, for `names`) is
    refused."""
    value = scalar(node, expected)
    if value.is_null:
        return ""
    if not value.verbatim and (value.kind == "bool" or (names and value.kind == "date")):
        raise issue("type_mismatch", f"expected {expected}, got {describe(value)}.")
    return value.text.strip()


@dataclass(frozen=True, slots=True)
class Failed:
    """A list item whose error the item validator raises at the item's own index."""

    error: PydanticCustomError


def failed_item(value: object) -> object:
    """Item validator of the lists read by a list validator: raises the error kept for the item."""
    if isinstance(value, Failed):
        raise value.error
    return value


def read_items(node: object, read: Callable[[int, RawNode], object]) -> list[object] | None:
    """The values `read` gives the items of a list (None when the list is null); an error it raises is kept as
    `Failed`, for the item validator to report at the item's index."""
    items = list_items(node)
    if items is None:
        return None
    values: list[object] = []
    for index, item in enumerate(items):
        try:
            values.append(read(index, item))
        except PydanticCustomError as exc:
            values.append(Failed(exc))
    return values


def kept_items(
    node: object, handler: ValidatorFunctionWrapHandler, read: Callable[[int, RawNode], object]
) -> list[Any] | None:
    """`read_items` validated by `handler` (each failed item reported), blank values dropped."""
    values = read_items(node, read)
    return None if values is None else [value for value in handler(values) if value]


def empty_declarative(key: str) -> PydanticCustomError:
    """`empty_list` for the declarative list `key` (written, but with no item)."""
    message = f"a declarative list cannot be empty; omit it, or list items in {key}_to_remove."
    return issue("empty_list", message)


def principals(
    *, required: bool, emails_only: bool = False, max_entries: int | None = None
) -> Callable[[object, ValidatorFunctionWrapHandler, ValidationInfo], list[str] | None]:
    """Wrap validator of a principal list (docs/SHAREPACK.md §2.4) of `Annotated[str, BeforeValidator(failed_item)]`.

    Reads the items, drops blanks and duplicates (with a warning), lets pydantic report each unreadable item at
    its index, then checks the list as a whole. Emails are lower-cased, group names kept as written.
    """
    expected = "an email address" if emails_only else "an email or group name"

    def validate(
        node: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> list[str] | None:
        seen: set[str] = set()

        def read(index: int, item: RawNode) -> str:
            written = item_text(item, expected)
            if not written:
                return ""
            if emails_only:
                value = checked(check_email, written)
            else:
                value = checked(check_principal, written)[0]
            if not first_time(info, seen, value.lower(), (str(info.field_name), index), written):
                return ""
            return value

        kept = kept_items(node, handler, read)
        if not kept and required:
            raise issue("empty_value", "must not be empty.")
        if kept and max_entries is not None and len(kept) > max_entries:
            raise issue("too_long", f"{len(kept)} entries, limit {max_entries}.")
        return kept

    return validate


def ip_list(
    *, declarative: bool
) -> Callable[[object, ValidatorFunctionWrapHandler, ValidationInfo], list[str] | None]:
    """Wrap validator of an IP allowlist of `Annotated[str, BeforeValidator(failed_item)]`: canonical networks,
    host bits cleared (warning), duplicates dropped (warning); a declarative list may not be empty."""

    def validate(
        node: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> list[str] | None:
        seen: set[str] = set()

        def read(index: int, item: RawNode) -> str:
            written = item_text(item, "an IP address or CIDR")
            if not written:
                return ""
            canonical, normalised = checked(check_ip, written)
            loc = (str(info.field_name), index)
            if normalised:
                warn(
                    info,
                    "ip_normalised",
                    loc,
                    f'"{written}" has host bits set; it was read as the network {canonical}.',
                    input_value=written,
                    hint=canonical,
                )
            if not first_time(info, seen, canonical, loc, written):
                return ""
            return canonical

        kept = kept_items(node, handler, read)
        if kept == [] and declarative:
            raise empty_declarative(str(info.field_name))
        return kept

    return validate


# ------------------------------------------------------------------------------------------ the index


@dataclass(slots=True)
class PathIndex:
    """Model path -> located node and key position, for one section of the document."""

    nodes: dict[str, RawNode] = field(default_factory=dict)
    keys: dict[str, SourcePos] = field(default_factory=dict)
    written: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, node: RawNode, path: str, ctx: Context, quiet: Collection[str] = ()) -> None:
        """Index `node` at `path`, its entries and their list items, and remember their positions (not those of
        the `quiet` keys)."""
        self.nodes[path] = node
        ctx.remember(path, node.pos)
        if not isinstance(node, RawMap):
            return
        for key, entry in node.entries.items():
            key_path = child(path, key)
            self.nodes[key_path] = entry.value
            self.keys[key_path] = entry.key_pos
            if key in quiet:
                continue
            pos = entry.value.pos
            ctx.remember(key_path, pos if pos.line is not None or pos.sheet else entry.key_pos)
            if isinstance(entry.value, RawSeq):
                for index, item in enumerate(entry.value.items):
                    self.nodes[f"{key_path}[{index}]"] = item
                    ctx.remember(f"{key_path}[{index}]", item.pos)

    def pos(self, path: str, base: str) -> SourcePos:
        """Position of `path`, or of its nearest indexed parent (a list item written as text: the text)."""
        current = path
        while current not in self.nodes and len(current) > len(base):
            current = current[: max(current.rfind("."), current.rfind("["))]
        return self.nodes[current].pos if current in self.nodes else self.nodes[base].pos


EMPTY_INDEX = PathIndex()  # the index of an outcome that keeps none (never added to)


def path_of(base: str, loc: Loc) -> str:
    """The model path of a pydantic error location under `base`."""
    path = base
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else child(path, part)
    return path


@dataclass(frozen=True, slots=True)
class Section:
    """What `run` needs to know of a section's input model beyond pydantic's errors."""

    known: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)
    explanations: Mapping[str, str] = field(default_factory=dict)
    deprecated: tuple[str, ...] = ()
    # fields (and their aliases) warned about and not read: the DELETE shape
    ignored: tuple[str, ...] = ()
    # the field naming the entry (for duplicate names and the locator)
    name: str | None = None


@dataclass(slots=True)
class Located:
    """A canonical value with the model path and file position it was read from."""

    value: str
    path: str
    pos: SourcePos


@dataclass(slots=True)
class Outcome[M: BaseModel]:
    """A validated section at `path` (its mapping at `pos`): the model (None after an error), the fields that did
    validate, those that did not, the index of the section's paths, and the entry's name when it has one."""

    model: M | None
    values: dict[str, Any]
    bad: set[str]
    index: PathIndex
    aliases: Mapping[str, str]
    path: str
    pos: SourcePos
    name: Located | None = None

    @classmethod
    def scalar(cls, values: dict[str, Any], at: Located) -> Outcome[M]:
        """An entry written as one scalar (an asset or, in the DELETE shape, a name alone), read to `values`."""
        return cls(None, values, set(), PathIndex(), {}, at.path, at.pos, at)

    def path_of(self, key: str) -> str:
        """Model path of a field as written (the alias, when one was used)."""
        written = next(
            (k for k in self.index.written.get(self.path, ()) if self.aliases.get(k, k) == key), key
        )
        return child(self.path, written)

    def pos_of(self, key: str) -> SourcePos:
        """Position of a field's value, or of the entry when the field is absent."""
        return self.index.pos(self.path_of(key), self.path)

    def located(self, key: str) -> Located | None:
        """A field that validated to a non-empty text, with its model path and position."""
        value = self.values.get(key)
        if not value:
            return None
        return Located(value, self.path_of(key), self.pos_of(key))


REPORTED = "reported"


def reported() -> PydanticCustomError:
    """Fails a field whose own issues were already reported (a nested section read by `nested`)."""
    return issue(REPORTED, "")


def nested[M: BaseModel](
    info: ValidationInfo,
    model: type[M],
    section: Section,
    node: RawMap,
    loc: Loc,
    context: dict[str, Any] | None = None,
) -> Outcome[M]:
    """Validate a nested section (`node` at `loc` relative to the section being validated) with `run`: its
    issues are reported at once, with the nested section's own known fields, aliases and explanations."""
    outer: dict[str, Any] = info.context  # type: ignore[assignment]
    return run(outer["ctx"], model, section, node, path_of(outer["base"], loc), context)


def entries(info: ValidationInfo, node: object, key: str) -> list[Item] | None:
    """The items of the list field `key` being validated, with their model paths and positions (None when null)."""
    items = list_items(node)
    if items is None:
        return None
    list_path = path_of(info.context["base"], (key,))  # type: ignore[index]
    return [Item(item, f"{list_path}[{index}]", item.pos) for index, item in enumerate(items)]


def mappings[M: BaseModel](
    info: ValidationInfo,
    node: object,
    what: str,
    model: type[M],
    section: Section,
    *,
    bad: bool = False,
) -> list[Outcome[M]] | None:
    """The entries of the list field being validated, each a mapping read as a nested `model`; an entry that is
    no mapping is reported (and with `bad`, marks the list bad while the other entries are kept)."""
    key = str(info.field_name)
    found = entries(info, node, key)
    if found is None:
        return None
    context: dict[str, Any] = info.context  # type: ignore[assignment]
    ctx: Context = context["ctx"]
    result: list[Outcome[M]] = []
    for item in found:
        if isinstance(item.node, RawMap):
            result.append(run(ctx, model, section, item.node, item.path))
            continue
        ctx.error(
            "type_mismatch",
            item.path,
            f"expected a {what} entry (a mapping with name, ...), got {describe(item.node)}.",
            item.pos,
        )
        ctx.sweep(item.node, item.path)
        if bad:
            context["bad"].add(key)
    return result


def report_at(info: ValidationInfo, exc: PydanticCustomError, loc: Loc, node: RawNode) -> None:
    """Report `exc` at `loc` (relative to the section being validated) and `node`, for an error deeper than the
    field that finds it (the field then fails with `reported()`)."""
    context: dict[str, Any] = info.context  # type: ignore[assignment]
    report(context["ctx"], exc, path_of(context["base"], loc), node)


@dataclass(slots=True)
class Rules:
    """What a model's cross-field rules see: the entries as written, the fields that validated, those that did
    not (`bad`), and where the section is; `fail` adds an error, raised with pydantic's own."""

    data: Mapping[str, object]
    values: dict[str, Any]
    bad: set[str]
    base: str
    context: dict[str, Any]
    errors: list[InitErrorDetails] = field(default_factory=list)
    changed: dict[str, Any] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        """The field is written with a non-null value (valid or not)."""
        node = self.data.get(key)
        return node is not None and not (isinstance(node, RawScalar) and node.is_null)

    def fail(self, loc: Loc, code: str, msg: str, *, input_value: object = None) -> None:
        """An error at `loc` (relative to the section; `()` is the section itself)."""
        self.errors.append(
            InitErrorDetails(type=issue(code, msg, input_value=input_value), loc=loc, input=None)
        )

    def warn(self, code: str, loc: Loc, msg: str, **kwargs: Any) -> None:
        """A warning at `loc` (relative to the section)."""
        self.context["warn"](code, loc, msg, **kwargs)

    def set(self, key: str, value: object) -> None:
        """Give a field the value a rule decides (a default depending on other fields); the model gets it too."""
        self.values[key] = value
        self.changed[key] = value


def model_rules(rules: Callable[[Rules], None]) -> Any:
    """The wrap model validator of a section whose fields obey `rules`: it validates the fields, then applies
    `rules` even when some fields failed (a rule checks only the fields that validated), and raises pydantic's
    errors and the rules' together."""

    def validate(
        cls: type[BaseModel],  # noqa: ARG001 - named `cls`, pydantic makes it a classmethod
        data: object,
        handler: ValidatorFunctionWrapHandler,
        info: ValidationInfo,
    ) -> BaseModel:
        try:
            result: BaseModel | None = handler(data)
            errors: list[InitErrorDetails] = []
        except ValidationError as exc:
            result = None
            errors = [_again(error) for error in exc.errors(include_url=False)]
        context: dict[str, Any] = info.context  # type: ignore[assignment]
        found = Rules(
            data if isinstance(data, dict) else {},
            context["values"],
            {str(error["loc"][0]) for error in errors if error["loc"]},
            context["base"],
            context,
        )
        rules(found)
        if errors or found.errors:
            raise ValidationError.from_exception_data("rules", [*errors, *found.errors])
        assert result is not None  # noqa: S101 - no error means the handler returned
        for key, value in found.changed.items():
            setattr(result, key, value)
        return result

    return model_validator(mode="wrap")(validate)


def _again(error: ErrorDetails) -> InitErrorDetails:
    """A caught pydantic error, to be raised again."""
    extra = error.get("ctx") or {}
    if "msg" in extra:
        return InitErrorDetails(
            type=PydanticCustomError(error["type"], "{msg}", extra), loc=error["loc"], input=None
        )
    details = InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"])
    if extra:
        details["ctx"] = extra
    return details


def run[M: BaseModel](
    ctx: Context,
    model: type[M],
    section: Section,
    node: RawMap,
    base: str,
    context: dict[str, Any] | None = None,
) -> Outcome[M]:
    """Validate `node` against `model`; report every error and warning at its path and position."""
    context = {**(context or {}), "values": {}, "ctx": ctx, "base": base}
    ignored = [key for key in node.entries if section.aliases.get(key, key) in section.ignored]
    data = _resolve_aliases(node, section.aliases, ignored)
    # the second of two equal aliases, deprecated and ignored keys are not remembered
    index = PathIndex()
    index.add(node, base, ctx, quiet={*section.deprecated, *(set(node.entries) - set(data))})

    def report_warning(
        code: str,
        loc: Loc,
        msg: str,
        *,
        pos_loc: Loc | None = None,
        pos: SourcePos | None = None,
        input_value: object = None,
        hint: str | None = None,
    ) -> None:
        path = path_of(base, loc)
        if pos is None:
            pos = index.pos(path_of(base, pos_loc if pos_loc is not None else loc), base)
        ctx.warning(code, path, msg, pos, input_value=input_value, hint=hint)

    for key in [key for key in data if key in section.deprecated] + ignored:
        data.pop(key, None)
        key_path = child(base, key)
        code, message = (
            (
                "ignored_in_delete",
                f'"{key}" is ignored by the DELETE strategy (only names are read).',
            )
            if key in ignored
            else ("field_deprecated", f'"{key}" is deprecated and was ignored.')
        )
        ctx.warning(code, key_path, message, index.keys[key_path], input_value=key)
        ctx.sweep(index.nodes[key_path], key_path)
    # Unknown keys are reported but do not fail the model (its model validators still run), as in docs/SHAREPACK.md §13.
    for key in [key for key in data if key not in section.known and key not in section.aliases]:
        del data[key]
        _report_error(ctx, index, section, base, {"type": "extra_forbidden", "loc": (key,)})
    index.written[base] = tuple(data)
    context["warn"] = report_warning
    bad: set[str] = set()
    context["bad"] = bad  # a validator may mark its field bad while keeping its value
    try:
        result: M | None = model.model_validate(data, context=context)
    except ValidationError as exc:
        result = None
        for error in exc.errors(include_url=False):
            _report_error(ctx, index, section, base, error)
            if error["loc"] and error["type"] != "extra_forbidden":
                bad.add(section.aliases.get(str(error["loc"][0]), str(error["loc"][0])))
    outcome = Outcome(result, context["values"], bad, index, section.aliases, base, node.pos)
    if section.name is not None:
        outcome.name = outcome.located(section.name)
    return outcome


def _resolve_aliases(
    node: RawMap, aliases: Mapping[str, str], ignored: Collection[str]
) -> dict[str, object]:
    """The entries not `ignored` as pydantic input: of two aliases of one field, equal values keep the first
    written, different values become an `AliasConflict` reported at the mapping."""
    data: dict[str, object] = {
        key: entry.value for key, entry in node.entries.items() if key not in ignored
    }
    for alias, canonical in aliases.items():
        if alias not in data or canonical not in data:
            continue
        keys = list(data)
        first, second = (
            (canonical, alias) if keys.index(canonical) < keys.index(alias) else (alias, canonical)
        )
        left, right = data[first], data.pop(second)
        if not (
            isinstance(left, RawScalar)
            and isinstance(right, RawScalar)
            and left.text.strip() == right.text.strip()
        ):
            data[first] = AliasConflict(canonical, alias, second)
    return data


def _report_error(
    ctx: Context, index: PathIndex, section: Section, base: str, error: Mapping[str, Any]
) -> None:
    loc: Loc = tuple(error["loc"])
    path = path_of(base, loc)
    kind = error["type"]
    extra = error.get("ctx") or {}
    if kind == "missing":
        key = str(loc[-1])
        explanation = section.explanations.get(key, "")
        ctx.error(
            "required", path, f'field "{key}" is required{explanation}.', index.pos(base, base)
        )
    elif kind == "extra_forbidden":
        key = str(loc[-1])
        suggestion = closest(key, [*section.known, *section.aliases])
        ctx.error(
            "unknown_field",
            path,
            f'unknown field "{key}"' + (f'; did you mean "{suggestion}"?' if suggestion else "."),
            index.keys.get(path, index.pos(path, base)),
            input_value=key,
            hint=suggestion,
        )
        ctx.sweep(index.nodes[path], path)
    elif kind == REPORTED:
        pass
    elif "at_key" in extra:
        ctx.error(kind, base, extra["msg"], index.keys[child(base, extra["at_key"])])
    elif "msg" in extra:
        ctx.error(
            kind,
            path,
            extra["msg"],
            extra.get("pos") or index.pos(path, base),
            input_value=extra.get("input"),
            hint=extra.get("hint"),
        )
        if extra.get("sweep") and path in index.nodes:
            ctx.sweep(index.nodes[path], path)
    else:  # a pydantic check no lenient type should leave to pydantic
        ctx.error("type_mismatch", path, f"{error['msg']}.", index.pos(path, base))

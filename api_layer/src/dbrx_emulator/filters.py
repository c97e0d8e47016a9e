"""Filter grammars of the pipelines API and page tokens that remember their filters (docs/EMULATOR.md §6.1, §7.6).

* `parse_pipeline_filter` — the `list_pipelines` filter: exactly one of `name LIKE '<pattern>'` (SQL LIKE: `%` any
  sequence, `_` any one character, `''` a quote) or `notebook = '<path>'`. Composite filters are refused.
* `parse_event_filter` — the `list_pipeline_events` filter: a conjunction (`AND`) of `level = '…'`,
  `level in ('…', …)`, `id = '…'`, `timestamp <op> '<RFC 3339>'`, `update_id = '…'`, `event_type = '…'`,
  `event_type in ('…', …)`. Anything else (an `OR`, `origin.update_id`, an unknown field) is a 400 "Invalid filter".
* `StickyPager` — keyset page tokens that carry the filters they were issued for, so a follow-up page may repeat the
  original filters (the SDK does, trap 5) or omit them (a client that sends only `page_token`); a follow-up that
  sends *different* filters is a 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbrx_emulator.clock import parse_rfc3339
from dbrx_emulator.errors import invalid

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<op>>=|<=|!=|<>|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # string | op | punct | word
    text: str  # a string literal without quotes (and with '' unescaped)


def _tokens(text: str) -> list[_Tok] | None:
    """Tokens of a filter, or None when something does not tokenize."""
    out: list[_Tok] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            return None
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        out.append(_Tok(kind, value))
        position = match.end()
    return out


# ------------------------------------------------------------------------------------------ pipelines list


def like_regex(pattern: str, *, case_insensitive: bool) -> re.Pattern[str]:
    """A compiled regex for a SQL LIKE pattern (`%` any sequence, `_` one character, everything else literal)."""
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    flags = re.DOTALL | (re.IGNORECASE if case_insensitive else 0)
    return re.compile("".join(parts), flags)


@dataclass(frozen=True)
class PipelineFilter:
    """A parsed `list_pipelines` filter: `kind` is `name_like` or `notebook`."""

    kind: str
    value: str


def parse_pipeline_filter(text: str | None) -> PipelineFilter | None:
    """Parse the `list_pipelines` filter (None when absent or blank); 400 for anything unsupported."""
    if text is None or not text.strip():
        return None
    tokens = _tokens(text)
    if tokens is not None and len(tokens) == 3 and tokens[2].kind == "string":
        field, operator, value = tokens
        field_name = field.text.lower() if field.kind == "word" else ""
        is_like = operator.kind == "word" and operator.text.upper() == "LIKE"
        if field_name == "name" and is_like:
            return PipelineFilter("name_like", value.text)
        if field_name == "notebook" and operator.kind == "op" and operator.text == "=":
            return PipelineFilter("notebook", value.text)
    raise invalid(
        f"Invalid filter '{text}': supported filters are name LIKE '<pattern>' and notebook='<path>' "
        "(composite filters are not supported)."
    )


# ------------------------------------------------------------------------------------------ events


_EVENT_FIELD_OPS = {
    "level": {"=", "in"},
    "id": {"="},
    "timestamp": {"=", ">", ">=", "<", "<="},
    "update_id": {"="},
    "event_type": {"=", "in"},
}


@dataclass(frozen=True)
class EventCondition:
    """One condition of an events filter; `values` holds one value except for `in`."""

    field: str
    op: str
    values: tuple[str, ...]
    timestamp_ms: int | None = None  # for timestamp conditions


@dataclass(frozen=True)
class EventFilter:
    """A conjunction of conditions; helpers give the bounds the listing can use to skip work."""

    conditions: tuple[EventCondition, ...]

    def update_id(self) -> str | None:
        """The update the filter pins (`update_id = '…'`), if any."""
        for condition in self.conditions:
            if condition.field == "update_id":
                return condition.values[0]
        return None

    def time_bounds(self) -> tuple[int | None, int | None]:
        """Inclusive (lowest, highest) timestamps any matching event can have."""
        low: int | None = None
        high: int | None = None
        for c in self.conditions:
            if c.timestamp_ms is None:
                continue
            ts = c.timestamp_ms
            if c.op in (">", ">=", "="):
                bound = ts + 1 if c.op == ">" else ts
                low = bound if low is None else max(low, bound)
            if c.op in ("<", "<=", "="):
                bound = ts - 1 if c.op == "<" else ts
                high = bound if high is None else min(high, bound)
        return low, high

    def values_of(self, field: str) -> frozenset[str] | None:
        """The allowed values of `level`/`event_type` (intersection of its conditions), or None (any)."""
        allowed: frozenset[str] | None = None
        for c in self.conditions:
            if c.field == field:
                values = frozenset(v.upper() if field == "level" else v for v in c.values)
                allowed = values if allowed is None else allowed & values
        return allowed

    def matches(self, event: Mapping[str, Any], timestamp_ms: int) -> bool:
        """Whether an event (rendered, without `details` encoding concerns) satisfies every condition."""
        for c in self.conditions:
            if c.field == "timestamp":
                assert c.timestamp_ms is not None  # noqa: S101 - set by the parser for this field
                if not _compare(timestamp_ms, c.op, c.timestamp_ms):
                    return False
                continue
            if c.field == "update_id":
                actual = str(event.get("origin", {}).get("update_id", ""))
            elif c.field == "level":
                actual = str(event.get("level", "")).upper()
            else:
                actual = str(event.get(c.field, ""))
            wanted = {v.upper() for v in c.values} if c.field == "level" else set(c.values)
            if actual not in wanted:
                return False
        return True


def _compare(left: int, op: str, right: int) -> bool:
    if op == "=":
        return left == right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "<":
        return left < right
    return left <= right


def _invalid_filter(text: str, why: str) -> Exception:
    return invalid(f"Invalid filter '{text}': {why}")


def parse_event_filter(text: str | None) -> EventFilter:
    """Parse an events filter (an empty filter matches everything); 400 "Invalid filter" otherwise."""
    if text is None or not text.strip():
        return EventFilter(())
    tokens = _tokens(text)
    if tokens is None:
        raise _invalid_filter(text, "it cannot be parsed")
    conditions: list[EventCondition] = []
    position = 0
    while True:
        condition, position = _event_condition(text, tokens, position)
        conditions.append(condition)
        if position == len(tokens):
            return EventFilter(tuple(conditions))
        token = tokens[position]
        if token.kind != "word" or token.text.upper() != "AND":
            raise _invalid_filter(
                text, f"expected AND, found '{token.text}' (only AND conjunctions are supported)"
            )
        position += 1


def _event_condition(text: str, tokens: list[_Tok], position: int) -> tuple[EventCondition, int]:
    if position + 1 >= len(tokens):
        raise _invalid_filter(text, "incomplete condition")
    field_token = tokens[position]
    if field_token.kind != "word" or field_token.text.lower() not in _EVENT_FIELD_OPS:
        raise _invalid_filter(
            text,
            f"unsupported field '{field_token.text}' (supported: {', '.join(_EVENT_FIELD_OPS)})",
        )
    field = field_token.text.lower()
    op_token = tokens[position + 1]
    op = op_token.text.lower() if op_token.kind == "word" else op_token.text
    if op not in _EVENT_FIELD_OPS[field]:
        raise _invalid_filter(text, f"operator '{op_token.text}' is not supported for {field}")
    if op == "in":
        values, position = _in_list(text, tokens, position + 2)
    else:
        value_token = tokens[position + 2] if position + 2 < len(tokens) else None
        if value_token is None or value_token.kind != "string":
            raise _invalid_filter(text, f"{field} {op} needs a quoted value")
        values, position = (value_token.text,), position + 3
    timestamp_ms = None
    if field == "timestamp":
        try:
            timestamp_ms = parse_rfc3339(values[0])
        except ValueError:
            raise _invalid_filter(text, f"'{values[0]}' is not an RFC 3339 timestamp") from None
    return EventCondition(field, op, values, timestamp_ms), position


def _in_list(text: str, tokens: list[_Tok], position: int) -> tuple[tuple[str, ...], int]:
    if position >= len(tokens) or tokens[position].text != "(":
        raise _invalid_filter(text, "in needs a parenthesised list of quoted values")
    values: list[str] = []
    position += 1
    while True:
        if position >= len(tokens) or tokens[position].kind != "string":
            raise _invalid_filter(text, "in needs a parenthesised list of quoted values")
        values.append(tokens[position].text)
        position += 1
        if position < len(tokens) and tokens[position].text == ",":
            position += 1
            continue
        if position < len(tokens) and tokens[position].text == ")":
            return tuple(values), position + 1
        raise _invalid_filter(text, "unterminated in list")


# ------------------------------------------------------------------------------------------ page tokens


@dataclass(frozen=True)
class PageRequest:
    """The effective filters of a list request and where its page starts (None: at the beginning)."""

    filters: dict[str, Any]
    position: Any


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


class StickyPager:
    """Keyset page tokens that carry their operation and filters (base64url JSON, opaque to clients)."""

    def __init__(self, operation: str) -> None:
        self.operation = hashlib.sha256(operation.encode()).hexdigest()[:8]

    def request(self, token: str | None, sent: Mapping[str, Any]) -> PageRequest:
        """Effective filters and position of a request.

        `sent` holds the filters present on this request (None for an absent one). With a token, absent filters
        come from the token; present ones must equal the token's (400 otherwise).
        """
        if token is None or token == "":
            return PageRequest(dict(sent), None)
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            operation, remembered, position = data["o"], data["q"], data["p"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise invalid(f"Invalid page token '{token}'.") from None
        if operation != self.operation or not isinstance(remembered, dict):
            raise invalid(f"Invalid page token '{token}': it was issued by another operation.")
        effective = dict(remembered)
        for name, value in sent.items():
            if value is None:
                continue
            if _freeze(value) != _freeze(remembered.get(name)):
                raise invalid(
                    f"The page token does not match the request: {name} differs from the request that "
                    "issued the token."
                )
        return PageRequest(effective, _freeze(position))

    def token(self, filters: Mapping[str, Any], position: Any) -> str:
        """A token for the page after `position`, remembering `filters`."""
        raw = json.dumps(
            {"o": self.operation, "q": dict(filters), "p": position}, separators=(",", ":")
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def page_after[K](
    keys: Sequence[K],
    start: int,
    size: int,
    accept: Callable[[K], bool] | None = None,
    stop: int | None = None,
) -> tuple[list[K], bool]:
    """Up to `size` accepted keys from `keys[start:stop]` and whether another accepted key follows.

    Stops at the first accepted key beyond the page, so an unfiltered page costs O(size).
    """
    chosen: list[K] = []
    for index in range(start, len(keys) if stop is None else stop):
        key = keys[index]
        if accept is not None and not accept(key):
            continue
        if len(chosen) == size:
            return chosen, True
        chosen.append(key)
    return chosen, False

"""Shared response conventions: timestamps, list envelopes, literal name filters (docs/API.md §1.6, §1.7)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypedDict

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and `Z`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2026-03-01T10:15:30.123Z"}
    ),
]


def enum_text(value: object) -> str | None:
    """The wire text of an SDK enum member (or any value), None when absent."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def from_epoch_ms(value: int | str | None) -> datetime | None:
    """Databricks epoch milliseconds (number or numeric string) to an aware datetime."""
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


# `epoch_ms_text`: integer arithmetic gives the text of `from_epoch_ms`'s float division only while the division
# is exact to well under a microsecond (|seconds| < 2**32, i.e. 1833-2106); beyond, the float path itself is used.
_EXACT_MS = 2**32 * 1000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(60))
_THREE_DIGITS = tuple(f"{n:03d}" for n in range(1000))
_DAY_TEXT: dict[
    int, str
] = {}  # days since the epoch -> "YYYY-MM-DD"; a list spans few distinct days
_DAY_TEXT_MAX = 4096


_MS_TEXT: dict[
    int | str, str
] = {}  # epoch_ms_text's answers: a workspace's timestamps recur in every listing
_MS_TEXT_MAX = 16_384


def epoch_ms_text(value: int | str | None) -> str | None:
    """`format_timestamp(from_epoch_ms(value))`, the same text, about ten times faster (docs/API.md §1.6).

    The pass-through lists format two timestamps per item, which through `datetime` cost more CPU than the
    rest of a 1,000-item listing. The objects of a workspace keep their creation and update times from one
    listing to the next, so each text is kept (up to `_MS_TEXT_MAX`, then forgotten at once); a new one is
    computed in integers, with the calendar day formatted once per distinct day.
    """
    if value is None or value == "":
        return None
    text = _MS_TEXT.get(value)
    if text is None:
        if len(_MS_TEXT) >= _MS_TEXT_MAX:
            _MS_TEXT.clear()
        text = _MS_TEXT[value] = _epoch_ms_text(int(value))
    return text


def _epoch_ms_text(ms: int) -> str:
    if not -_EXACT_MS < ms < _EXACT_MS:
        return format_timestamp(datetime.fromtimestamp(ms / 1000, tz=UTC))
    seconds, millis = divmod(ms, 1000)
    days, second_of_day = divmod(seconds, 86_400)
    day = _DAY_TEXT.get(days)
    if day is None:
        if len(_DAY_TEXT) >= _DAY_TEXT_MAX:
            _DAY_TEXT.clear()
        day = _DAY_TEXT[days] = date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
    hours, second_of_hour = divmod(second_of_day, 3600)
    minutes, secs = divmod(second_of_hour, 60)
    return f"{day}T{_TWO_DIGITS[hours]}:{_TWO_DIGITS[minutes]}:{_TWO_DIGITS[secs]}.{_THREE_DIGITS[millis]}Z"


def to_epoch_ms(value: datetime) -> int:
    """An aware datetime to Databricks epoch milliseconds."""
    return int(value.timestamp() * 1000)


def from_rfc3339(value: str | None) -> datetime | None:
    """Parse an RFC 3339 string as Databricks returns it (`…Z`), None when absent or unparsable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rfc3339_text(value: str | None) -> str | None:
    """`format_timestamp(from_rfc3339(value))` for the pass-through lists: None when absent or unparsable."""
    parsed = from_rfc3339(value)
    return None if parsed is None else format_timestamp(parsed)


class ResponseModel(BaseModel):
    """Base of every response model: snake_case, unknown input ignored, optional fields present as null."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)


class RequestModel(BaseModel):
    """Base of every request body: unknown keys are errors (422 `extra_forbidden`), types are exact.

    Strict: the body must match its JSON Schema, so `"3600"` is not an integer and `"yes"` not a boolean
    (pydantic's lax mode would coerce both). Enum fields opt out with `Field(strict=False)`, since FastAPI
    validates the decoded JSON in Python mode, where a strict enum accepts only enum instances.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


def _integral_number(value: object) -> object:
    # JSON Schema counts 3.0 as an integer; strict mode would refuse the float, lax mode would take "3" too.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Last in an integer member's `Annotated[int, Field(...), INTEGRAL_FLOATS]` (constraints first, or pydantic
# renders them as `ge`/`le` instead of `minimum`/`maximum` inside `anyOf`): JSON Schema semantics under strict
# models, i.e. `3` and `3.0` are accepted, `"3"` and `true` are not.
INTEGRAL_FLOATS = BeforeValidator(_integral_number)


class ListEnvelope(ResponseModel):
    """`{"items", "count", "total", "next_offset"}` (docs/API.md §1.7)."""

    count: int
    total: int
    next_offset: int | None = None


class DeleteResult(ResponseModel):
    name: str
    deleted: bool = True


# ------------------------------------------------------------------------------------------ names

# Characters that change what a URL path addresses (docs/API.md §1.6): `/` splits segments, `?` starts the query,
# `#` the fragment, and `%` begins an escape. A name holding one can never be sent to Databricks as written.
URL_RESERVED_CHARS = "/?#%"


def describe_char(char: str) -> str:
    """How an offending character is named in a message: `'#'`, or `U+0000` when it cannot be shown."""
    if char.isprintable() and not char.isspace():
        return f"'{char}'"
    if char == " ":
        return "' ' (U+0020)"
    return f"U+{ord(char):04X}"


def reserved_name_problem(value: str) -> str | None:
    """Why `value` cannot be one segment of a Databricks URL path (None when it can); names the offending character.

    The rule every addressed name follows (UC securables, pipelines, jobs): no `/ ? # %`, no control character,
    no leading or trailing whitespace, and not the dot segments `.` or `..` (docs/API.md §1.6).
    """
    for char in value:
        if char in URL_RESERVED_CHARS or unicodedata.category(char) == "Cc":
            return f"must not contain {describe_char(char)}"
    if value != value.strip():
        return "must not start or end with whitespace"
    if value in (".", ".."):
        return f"must not be '{value}'"
    return None


# '.', '/', '?', '#', '%', C0/C1 controls and space, DEL, and the other characters Python's `\s` matches, spelt out
# so that the class means the same in Python and in ECMA-262 (the regex dialect of JSON Schema `pattern`).
_UC_NAME_FORBIDDEN_CHARS = (
    r"./?#%\x00-\x20\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
_UC_NAME_FORBIDDEN = re.compile(f"[{_UC_NAME_FORBIDDEN_CHARS}]")
# JSON Schema `pattern` of a Unity Catalog name: the characters `uc_name_problem` rejects, so the OpenAPI
# document states the rule that the validators apply (length is `minLength`/`maxLength`).
UC_NAME_PATTERN = f"^[^{_UC_NAME_FORBIDDEN_CHARS}]+$"
# JSON Schema `pattern` of a pipeline or job name (`reserved_name_problem`): spaces and dots are allowed inside,
# whitespace is not at either end, and `.`/`..` alone are dot segments. `\s` differs slightly between Python and
# ECMA-262 (the validator uses `str.strip`); the difference is in rare Unicode spaces only.
PIPELINE_NAME_PATTERN = r"^(?!\.{1,2}$)(?!\s)(?!.*\s$)[^/?#%\x00-\x1f\x7f-\x9f]+$"


def uc_name_problem(value: str) -> str | None:
    """Why `value` is not a valid Unity Catalog securable name (None when valid); names the offending character."""
    if not 1 <= len(value) <= 255:
        return "must be 1-255 characters"
    problem = reserved_name_problem(value)
    if problem:
        return problem
    found = _UC_NAME_FORBIDDEN.search(value)
    if found:
        return f"must not contain {describe_char(found.group())}"
    return None


def uc_full_name_problem(value: str, parts: int) -> str | None:
    """Why `value` is not a `parts`-part dotted Unity Catalog name (None when valid)."""
    pieces = value.split(".")
    if len(pieces) != parts:
        shape = ".".join(["catalog", "schema", "table"][:parts])
        return f"must have the form {shape}"
    for piece in pieces:
        problem = uc_name_problem(piece)
        if problem:
            return f"part '{piece}' {problem}"
    return None


# ------------------------------------------------------------------------------------------ list slicing


class ListQuery(BaseModel):
    """The common list parameters: literal case-insensitive prefix/contains, limit and offset."""

    model_config = ConfigDict(frozen=True)

    prefix: str | None = Field(None, min_length=1, max_length=255)
    contains: str | None = Field(None, min_length=1, max_length=255)
    limit: int | None = Field(None, ge=1, le=10_000)
    offset: int = Field(0, ge=0)

    def matches(self, name: str) -> bool:
        """Literal (never wildcard) case-insensitive prefix and substring tests."""
        lowered = name.lower()
        if self.prefix is not None and not lowered.startswith(self.prefix.lower()):
            return False
        return self.contains is None or self.contains.lower() in lowered


class Envelope(TypedDict):
    count: int
    total: int
    next_offset: int | None


def slice_page[T](
    items: Sequence[T],
    query: ListQuery,
    *,
    name_of: Callable[[T], str],
    sort_key: Callable[[T], Any] | None = None,
) -> tuple[list[T], Envelope]:
    """Filter by name, sort (name ascending, case-insensitive, unless `sort_key`), apply offset/limit.

    Returns the page and the envelope members `count`, `total`, `next_offset`.
    """
    if query.prefix is None and query.contains is None:
        matching = list(items)
    else:
        matching = [item for item in items if query.matches(name_of(item))]
    matching.sort(key=sort_key or (lambda item: name_of(item).lower()))
    total = len(matching)
    end = total if query.limit is None else min(total, query.offset + query.limit)
    page = matching[query.offset : end]
    next_offset = end if end < total else None
    return page, Envelope(count=len(page), total=total, next_offset=next_offset)


def list_body(
    items: Sequence[dict[str, Any]],
    query: ListQuery,
    *,
    name_key: str = "name",
    sort_key: Callable[[dict[str, Any]], Any] | None = None,
) -> bytes:
    """The JSON body of a pass-through list (docs/API.md §1.7): `items` already shaped as the documented summary
    (members in the model's order), filtered, sorted and sliced as `slice_page` does, serialised once.

    The bytes are the ones FastAPI writes for the list's response model (compact, UTF-8); tests compare both.
    """
    page, envelope = slice_page(
        items, query, name_of=lambda item: item[name_key], sort_key=sort_key
    )
    return orjson.dumps({"items": page, **envelope})

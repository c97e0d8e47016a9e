"""Token hygiene and access review models (docs/API.md §16): the expiring-token report and the access view."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import ResponseModel, Timestamp, format_timestamp

# The look-ahead windows accepted, as one pattern (the OpenAPI document states the same): days `30`/`30d`, hours
# `12h`, or the ISO 8601 durations `P30D` and `PT12H`. The digit counts bound the window (9,999 days).
WINDOW_PATTERN = r"^(?:(\d{1,4})[dD]?|(\d{1,5})[hH]|[pP](\d{1,4})[dD]|[pP][tT](\d{1,5})[hH])$"
_WINDOW = re.compile(WINDOW_PATTERN)


def _window(value: object) -> timedelta:
    """The window a query value names (see WINDOW_PATTERN)."""
    match = _WINDOW.match(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "duration_invalid",
            "expected days ('30', '30d'), hours ('12h') or an ISO 8601 duration ('P30D', 'PT12H')",
        )
    days, hours, iso_days, iso_hours = match.groups()
    if days or iso_days:
        return timedelta(days=int(days or iso_days))
    return timedelta(hours=int(hours or iso_hours))


ExpiryWindow = Annotated[
    timedelta,
    PlainValidator(_window),
    WithJsonSchema(
        {"type": "string", "pattern": WINDOW_PATTERN, "examples": ["30d", "P30D", "12h"]}
    ),
]
"""A look-ahead window: days or hours written short, or an ISO 8601 duration of days or hours."""

ReportFormat = Literal["json", "csv"]

# RFC 3339 §5.6 `date-time`: a full date and time with an offset; fractions beyond microseconds are cut.
_AS_OF = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})?$"
)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
AS_OF_EXAMPLE = "2026-03-01T10:15:30Z"
AS_OF_MAX_LENGTH = 64


def parse_as_of(value: object) -> datetime:
    """An `as_of` query value as an aware UTC datetime: RFC 3339 with `Z` or a `±hh:mm` offset, nothing looser.

    A value without offset (or a date alone) is refused rather than read as UTC: an audit answer for the wrong
    instant would look right (docs/API.md §16.2).

    Raises:
        PydanticCustomError: `timestamp_invalid` for a malformed or naive value.
    """
    text = value if isinstance(value, str) else str(value)
    match = _AS_OF.match(text) if len(text) <= AS_OF_MAX_LENGTH else None
    if match is None and _AS_OF.match(text.replace(" ", "+")):
        raise PydanticCustomError(
            "timestamp_invalid",
            "'{value}' has a space where its offset's '+' should be: write '+' as %2B in a URL query",
            {"value": text[:64]},
        )
    if match is None or match.group(4) is None:
        naive = match is not None or _DATE_ONLY.match(text) is not None
        message = (
            "'{value}' has no UTC offset: add Z or ±hh:mm (e.g. {example})"
            if naive
            else "'{value}' is not an RFC 3339 timestamp with offset (e.g. {example})"
        )
        raise PydanticCustomError(
            "timestamp_invalid", message, {"value": text[:64], "example": AS_OF_EXAMPLE}
        )
    day, clock, fraction, offset = match.groups()
    fraction_text = f".{fraction[:6]}" if fraction else ""
    offset_text = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}{fraction_text}{offset_text}")
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise PydanticCustomError(
            "timestamp_invalid",
            "'{value}' is not a valid date and time (e.g. {example})",
            {"value": text[:64], "example": AS_OF_EXAMPLE},
        ) from None


AsOf = Annotated[
    datetime,
    PlainValidator(parse_as_of),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "maxLength": AS_OF_MAX_LENGTH,
            "examples": [AS_OF_EXAMPLE],
        }
    ),
]
"""An instant of the past, RFC 3339 with offset (`as_of` of docs/API.md §16.2)."""


class TokenReportItem(ResponseModel):
    """One bearer token of an open-sharing recipient (never its activation link)."""

    recipient: str
    token_id: str | None = None
    created_at: Timestamp | None = None
    expiration_time: Timestamp | None = None
    days_left: float | None = Field(
        None,
        description="Days until expiry (negative: expired), one decimal; null when it never expires",
    )
    activated: bool = Field(description="False while the activation link has not been used")
    shares: list[str] = Field(default_factory=list)


class TokenReport(ResponseModel):
    """Every token of every open-sharing recipient, soonest expiry first."""

    generated_at: Timestamp
    expiring_within_days: float | None = None
    items: list[TokenReportItem]


AccessSource = Literal["live", "recorded"]
"""Where an access answer comes from: the workspace now, or the share packs' SCD2 history (docs/API.md §16.2)."""


class AccessEntry(ResponseModel):
    """One object a recipient can read (or could, at `as_of`) through one share."""

    recipient: str
    share: str
    object: str = Field(
        description="The share's object: the asked table itself, or the schema shared whole"
    )
    type: str
    shared_as: str | None = Field(None, description="The name the recipient sees")
    via: Literal["object", "schema"] | None = Field(
        None,
        description="With `object`: whether the share holds the table itself or its whole schema",
    )
    source: AccessSource = Field(
        "live", description="`live`: read from the workspace now; `recorded`: from the history"
    )
    share_pack_id: UUID | None = Field(
        None, description="`recorded` entries: the share pack that managed the share at `as_of`"
    )


HISTORY_NOTE = (
    "Only shares managed by share packs are recorded: shares, objects and grants made by hand (outside any pack) "
    "cannot be answered from history, and a change made by hand to a managed share is seen only once a pack run "
    "records it. Ask without as_of for the live view."
)


class AccessCoverage(ResponseModel):
    """What a `recorded` answer can and cannot cover."""

    scope: Literal["pack_managed_shares"] = Field(
        "pack_managed_shares",
        description="The history holds the shares share packs managed, nothing else",
    )
    shares: list[str] = Field(
        description="Every share recorded in the workspace at `as_of` (whatever the filters)"
    )
    recorded_since: Timestamp | None = Field(
        None,
        description="The earliest recorded share version in the workspace; null when none was ever recorded",
    )
    note: str = HISTORY_NOTE


class AccessView(ResponseModel):
    """Who can read what now (read live), or who could at `as_of` (recorded); narrowed to one recipient and/or
    one table when asked."""

    source: AccessSource = "live"
    as_of: Timestamp | None = Field(
        None, description="The instant a `recorded` answer describes (UTC); null when live"
    )
    recipient: str | None = None
    object: str | None = None
    coverage: AccessCoverage | None = Field(
        None, description="With `as_of`: what the history covers; null when live"
    )
    entries: list[AccessEntry]


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """RFC 4180 CSV with a header line; timestamps as in JSON, None as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else _cell(v) for v in row])
    return out.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return value


def token_report_csv(report: TokenReport) -> str:
    """The report as CSV (one line per token; shares joined by `;`)."""
    header = (
        "recipient",
        "token_id",
        "created_at",
        "expiration_time",
        "days_left",
        "activated",
        "shares",
    )
    return csv_text(
        header,
        (
            (
                i.recipient,
                i.token_id,
                i.created_at,
                i.expiration_time,
                i.days_left,
                i.activated,
                i.shares,
            )
            for i in report.items
        ),
    )


def access_csv(view: AccessView) -> str:
    """One line per entry; `source` is the last column (added after the first six, which keep their order)."""
    return csv_text(
        ("recipient", "share", "object", "type", "shared_as", "via", "source"),
        (
            (e.recipient, e.share, e.object, e.type, e.shared_as, e.via, e.source)
            for e in view.entries
        ),
    )


def access_csv_filename(view: AccessView) -> str:
    """`access.csv` for the live view, `access-as-of-<yyyymmddThhmmssZ>.csv` for a recorded one."""
    if view.as_of is None:
        return "access.csv"
    return f"access-as-of-{view.as_of.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}.csv"

"""Token hygiene and access review models (docs/API.md §16): the expiring-token report and the access view."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

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


class AccessEntry(ResponseModel):
    """One object a recipient can read through one share."""

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


class AccessView(ResponseModel):
    """Who can read what now, read live; narrowed to one recipient and/or one table when asked."""

    source: Literal["live"] = "live"
    recipient: str | None = None
    object: str | None = None
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
    """One line per entry."""
    return csv_text(
        ("recipient", "share", "object", "type", "shared_as", "via"),
        ((e.recipient, e.share, e.object, e.type, e.shared_as, e.via) for e in view.entries),
    )

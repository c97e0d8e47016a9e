"""Token hygiene and access review models (docs/API.md §16): the expiring-token report and the access view."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from dbrx_api.schemas.common import ResponseModel, Timestamp, format_timestamp

_SHORT_DURATION = re.compile(r"^\s*(\d{1,5})\s*([dhDH]?)\s*$")
MAX_WINDOW = timedelta(days=3650)


def _window(value: object) -> object:
    """`30d`, `12h`, a bare number of days, or an ISO 8601 duration (`P30D`, `PT12H`, left to pydantic)."""
    if isinstance(value, str):
        short = _SHORT_DURATION.match(value)
        if short:
            amount, unit = int(short.group(1)), short.group(2).lower()
            return timedelta(hours=amount) if unit == "h" else timedelta(days=amount)
        if not value.strip().upper().startswith("P"):
            raise PydanticCustomError(
                "duration_invalid",
                "expected a number of days ('30', '30d'), hours ('12h') or an ISO 8601 duration ('P30D')",
            )
    return value


def _bounded(value: timedelta) -> timedelta:
    if value < timedelta(0) or value > MAX_WINDOW:
        raise PydanticCustomError("duration_invalid", "expected a window between 0 and 3650 days")
    return value


ExpiryWindow = Annotated[timedelta, BeforeValidator(_window), AfterValidator(_bounded)]
"""A look-ahead window: days or hours written short, or an ISO 8601 duration."""

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


class AccessObject(ResponseModel):
    """An object of a share as a recipient reads it."""

    name: str
    type: str
    shared_as: str | None = None


class AccessShare(ResponseModel):
    """A share a recipient can read, with its objects."""

    share: str
    objects: list[AccessObject]


class RecipientAccess(ResponseModel):
    """What one recipient can read now (read live)."""

    recipient: str
    source: Literal["live"] = "live"
    shares: list[AccessShare]


class ObjectReader(ResponseModel):
    """A recipient that can read an object, the share it reads it through and how (the table or its schema)."""

    recipient: str
    share: str
    via: Literal["object", "schema"]


class ObjectAccess(ResponseModel):
    """Who can read one object now (read live)."""

    object: str
    source: Literal["live"] = "live"
    readers: list[ObjectReader]


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


def recipient_access_csv(access: RecipientAccess) -> str:
    """One line per object the recipient can read."""
    return csv_text(
        ("recipient", "share", "object", "type", "shared_as"),
        (
            (access.recipient, s.share, o.name, o.type, o.shared_as)
            for s in access.shares
            for o in s.objects
        ),
    )


def object_access_csv(access: ObjectAccess) -> str:
    """One line per recipient and share through which it reads the object."""
    return csv_text(
        ("object", "recipient", "share", "via"),
        ((access.object, r.recipient, r.share, r.via) for r in access.readers),
    )

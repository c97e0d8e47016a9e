"""Access review pieces without a server (docs/API.md §16.2): the `as_of` parser, the one object-matching rule
shared by the live and the recorded view, and the CSV shape."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from pydantic_core import PydanticCustomError

from dbrx_api.dltshr.access import exposure
from dbrx_api.schemas.access import (
    AccessCoverage,
    AccessEntry,
    AccessView,
    access_csv,
    access_csv_filename,
    parse_as_of,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T10:15:30Z", datetime(2026, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2026-03-01t10:15:30z", datetime(2026, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2026-03-01T12:15:30+02:00", datetime(2026, 3, 1, 10, 15, 30, tzinfo=UTC)),
        ("2026-03-01T05:15:30.5-05:00", datetime(2026, 3, 1, 10, 15, 30, 500000, tzinfo=UTC)),
        # nanoseconds are cut to microseconds, not rounded into the next second
        ("2026-03-01T10:15:30.999999999Z", datetime(2026, 3, 1, 10, 15, 30, 999999, tzinfo=UTC)),
        ("2026-03-01T10:15:30-00:00", datetime(2026, 3, 1, 10, 15, 30, tzinfo=UTC)),
    ],
)
def test_as_of_reads_rfc3339_with_offset_as_utc(text: str, expected: datetime) -> None:
    parsed = parse_as_of(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-03-01T10:15:30", "no UTC offset"),
        ("2026-03-01", "no UTC offset"),
        ("2026-03-01T10:15:30 02:00", "%2B"),
        ("2026-03-01T25:00:00Z", "not a valid date and time"),
        ("1709288130", "not an RFC 3339 timestamp"),
        ("", "not an RFC 3339 timestamp"),
        ("2026-03-01T10:15:30+0200", "not an RFC 3339 timestamp"),
    ],
)
def test_as_of_refuses_naive_and_malformed_values(text: str, says: str) -> None:
    with pytest.raises(PydanticCustomError) as caught:
        parse_as_of(text)
    assert caught.value.type == "timestamp_invalid"
    assert says in caught.value.message()


@pytest.mark.parametrize(
    ("name", "kind", "table", "via"),
    [
        ("main.sales.orders", "TABLE", "MAIN.Sales.Orders", "object"),
        ("main.sales.v_orders", "VIEW", "main.sales.v_orders", "object"),
        ("main.sales", "SCHEMA", "main.sales.orders", "schema"),
        ("MAIN.SALES", "schema", "main.sales.orders", "schema"),
        ("main.sales", "TABLE", "main.sales.orders", None),  # a name like a schema is not a schema
        ("main.sales.orders", "TABLE", "main.sales.orders_eu", None),
        ("main.sales_eu", "SCHEMA", "main.sales.orders", None),
        ("main.sales.orders", None, "main.sales.orders", "object"),
    ],
)
def test_one_matching_rule_for_object(
    name: str, kind: str | None, table: str, via: str | None
) -> None:
    assert exposure(name, kind, table) == via


def test_the_csv_keeps_its_columns_and_adds_source_last() -> None:
    at = datetime(2026, 3, 1, 10, 15, 30, 123456, tzinfo=UTC)
    entry = AccessEntry(
        recipient="acme",
        share="sales",
        object="main.sales",
        type="SCHEMA",
        via="schema",
        source="recorded",
        share_pack_id=uuid4(),
    )
    recorded = AccessView(
        source="recorded",
        as_of=at,
        coverage=AccessCoverage(shares=["sales"]),
        entries=[entry],
    )
    rows = list(csv.reader(io.StringIO(access_csv(recorded))))
    assert rows == [
        ["recipient", "share", "object", "type", "shared_as", "via", "source"],
        ["acme", "sales", "main.sales", "SCHEMA", "", "schema", "recorded"],
    ]
    assert access_csv_filename(recorded) == "access-as-of-20260301T101530Z.csv"
    assert access_csv_filename(AccessView(entries=[])) == "access.csv"
    assert recorded.model_dump(mode="json")["as_of"] == "2026-03-01T10:15:30.123Z"

"""The pieces of the pass-through list bodies: timestamps, enums and the envelope (docs/API.md §1.6, §1.7)."""

from __future__ import annotations

from enum import Enum

from hypothesis import given
from hypothesis import strategies as st

from dbrx_api.passthrough import enum_values, known_enum
from dbrx_api.schemas.common import (
    ListQuery,
    epoch_ms_text,
    format_timestamp,
    from_epoch_ms,
    from_rfc3339,
    list_body,
    rfc3339_text,
)
from dbrx_api.schemas.shares import ShareList, ShareSummary

# Years 1 to 9999: beyond ±2**32 s the text comes from the float path itself, inside from integer arithmetic.
EPOCH_MS = st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999)


@given(EPOCH_MS)
def test_epoch_ms_text_is_the_documented_timestamp(value: int) -> None:
    expected = format_timestamp(from_epoch_ms(value))  # type: ignore[arg-type]
    assert epoch_ms_text(value) == expected
    assert epoch_ms_text(str(value)) == expected  # Databricks sends some int64 as strings


def test_epoch_ms_text_edges() -> None:
    assert epoch_ms_text(None) is None
    assert epoch_ms_text("") is None
    assert epoch_ms_text(0) == "1970-01-01T00:00:00.000Z"
    assert epoch_ms_text(-1) == "1969-12-31T23:59:59.999Z"
    assert epoch_ms_text(1772360130123) == "2026-03-01T10:15:30.123Z"
    for value in (2**32 * 1000 - 1, 2**32 * 1000, -(2**32) * 1000, 253402300799999):
        assert epoch_ms_text(value) == format_timestamp(from_epoch_ms(value))  # type: ignore[arg-type]


def test_rfc3339_text() -> None:
    assert rfc3339_text(None) is None
    assert rfc3339_text("not a time") is None
    assert rfc3339_text("2026-03-01T10:15:30.123456Z") == "2026-03-01T10:15:30.123Z"
    value = "2026-03-01T11:15:30+01:00"
    assert rfc3339_text(value) == format_timestamp(from_rfc3339(value))  # type: ignore[arg-type]


class _Colour(Enum):
    RED = "RED"
    GREEN = "GREEN"


def test_known_enum_reads_unknown_and_empty_values_as_null() -> None:
    values = enum_values(_Colour)
    assert known_enum("RED", values) == "RED"
    assert known_enum("red", values) is None
    assert known_enum("BLUE", values) is None
    assert known_enum("", values) is None
    assert known_enum(None, values) is None
    assert known_enum(["RED"], values) is None


def test_list_body_is_the_models_json_for_every_slice() -> None:
    items = [
        {
            "name": name,
            "owner": None,
            "comment": "é\n\u2028",
            "storage_root": None,
            "created_at": "2026-03-01T10:15:30.123Z",
            "updated_at": None,
            "created_by": None,
            "updated_by": None,
        }
        for name in ("b_share", "A_share", "c_share", "a_other")
    ]
    for query in (
        ListQuery(),
        ListQuery(prefix="A"),
        ListQuery(contains="SHARE", limit=2),
        ListQuery(limit=2, offset=1),
        ListQuery(offset=9),
    ):
        body = list_body(items, query)
        model = ShareList.model_validate_json(body)
        assert [ShareSummary.model_validate(item) for item in model.items] == model.items
        assert body == model.model_dump_json().encode()
    assert [
        item["name"]
        for item in ShareList.model_validate_json(list_body(items, ListQuery())).model_dump()[
            "items"
        ]
    ] == [
        "a_other",
        "A_share",
        "b_share",
        "c_share",
    ]

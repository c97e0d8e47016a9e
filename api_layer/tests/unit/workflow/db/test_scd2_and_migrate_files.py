"""Pure parts of the persistence layer: canonical JSON, migration files, statement splitting, cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbrx_api.errors import ValidationFailed
from dbrx_api.workflow.db import migrate, scd2, views
from dbrx_api.workflow.db.migrate import MigrationError
from dbrx_api.workflow.db.repositories.version_status import (
    ALLOWED_TRANSITIONS,
    Status,
    allowed_from,
)


class Color(Enum):
    RED = "red"


def test_canonical_json_rules() -> None:
    ts = datetime(2026, 3, 1, 10, 12, 44, 120_999, tzinfo=timezone(timedelta(hours=1)))
    value = {
        "b": [3, 1],
        "a": None,
        "c": {"z": 1, "y": None},
        "t": ts,
        "u": uuid.UUID(int=1),
        "e": Color.RED,
        "s": {2, 1},
    }
    assert scd2.canonical_json(value) == (
        '{"b":[3,1],"c":{"z":1},"e":"red","s":[1,2],"t":"2026-03-01T09:12:44.120Z",'
        '"u":"00000000-0000-0000-0000-000000000001"}'
    )
    with pytest.raises(ValueError, match="naive"):
        scd2.canonical_json(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(TypeError):
        scd2.canonical_json(object())


@given(st.lists(st.text(max_size=5), max_size=8))
def test_sorted_set_is_order_insensitive(values: list[str]) -> None:
    assert scd2.sorted_set(values) == scd2.sorted_set(list(reversed(values)))
    assert scd2.record_hash({"x": scd2.sorted_set(values)}) == scd2.record_hash(
        {"x": scd2.sorted_set(sorted(values))}
    )


def test_adding_an_absent_optional_key_keeps_the_hash() -> None:
    assert scd2.record_hash({"a": 1}) == scd2.record_hash({"a": 1, "new_column": None})
    assert scd2.record_hash({"a": 1}) != scd2.record_hash({"a": 2})


def test_shipped_migrations_and_expected_version() -> None:
    files = migrate.discover()
    assert [m.version for m in files] == list(range(1, len(files) + 1))
    assert files[-1].version == migrate.EXPECTED_SCHEMA_VERSION
    assert all(m.transactional for m in files)


def test_discover_rejects_bad_names_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "V0001__a.sql").write_text("SELECT 1;")
    (tmp_path / "V01__b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="named"):
        migrate.discover(tmp_path)
    (tmp_path / "V01__b.sql").unlink()
    (tmp_path / "V0001__c.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError) as raised:
        migrate.discover(tmp_path)
    assert raised.value.code == "migration_invalid"


def test_no_transaction_marker(tmp_path: Path) -> None:
    (tmp_path / "V0002__idx.sql").write_text(
        "-- migrate: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (c);\n"
    )
    (tmp_path / "V0003__plain.sql").write_text(
        "-- a comment\n-- migrate: no-transaction\nSELECT 1;\n"
    )
    two, three = migrate.discover(tmp_path)
    assert not two.transactional
    assert three.transactional  # the marker counts only on the first line


def test_split_statements_respects_quotes_comments_and_dollar_quotes() -> None:
    script = """
    -- header; with a semicolon
    CREATE INDEX CONCURRENTLY a ON t (c);
    INSERT INTO t VALUES ('x;y', 'it''s; fine');
    /* block; comment */
    CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
    SELECT "weird;name" FROM t
    """
    statements = migrate.split_statements(script)
    assert len(statements) == 4
    assert statements[1].endswith("'it''s; fine')")
    assert "$body$ SELECT 1; $body$" in statements[2]
    assert statements[3] == 'SELECT "weird;name" FROM t'


def test_cursor_round_trip_and_rejection() -> None:
    at = datetime(2026, 3, 2, 7, 0, 3, 511_123, tzinfo=UTC)
    pack = uuid.uuid4()
    assert views.decode_cursor(views.encode_cursor(at, pack)) == (at, pack)
    for bad in ("", "abc", "eyJ1IjoxfQ", views.encode_cursor(at, pack)[:-3]):
        with pytest.raises(ValidationFailed):
            views.decode_cursor(bad)


def test_transition_table() -> None:
    assert allowed_from(Status.SUPERSEDED) == {"QUEUED", "PENDING_APPROVAL"}
    assert allowed_from(Status.QUEUED) == {
        "VALIDATED",
        "IN_PROGRESS",
        "COMPLETED",
        "FAILED",
        "PENDING_APPROVAL",  # an approver approved
    }
    assert allowed_from(Status.PENDING_APPROVAL) == {"VALIDATED", "IN_PROGRESS"}
    assert allowed_from(Status.REJECTED) == {"VALIDATED", "PENDING_APPROVAL"}
    assert (Status.QUEUED, Status.COMPLETED) not in ALLOWED_TRANSITIONS

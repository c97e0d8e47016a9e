"""Migration runner against a real PostgreSQL (docs/WORKFLOW.md §5.5)."""

from __future__ import annotations

import dataclasses
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from dbrx_api.workflow.db import migrate, scd2
from dbrx_api.workflow.db.migrate import MigrationError, apply_migrations, migration_status
from dbrx_api.workflow.db.repositories import _resources, recipients
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {
    "schema_migrations",
    "share_packs",
    "pack_version_status",
    "status_transitions",
    "recipients",
    "shares",
    "pipelines",
    "token_rotation_claims",
    "version_actions",
    "provisioning_runs",
    "provisioning_steps",
    "audit_trail",
    "application_logs",
    "version_approvals",
    "share_pack_owners",
    "share_pack_owner_changes",
}
# The shipped migrations, and the number a test's own extra migration takes after them.
SHIPPED = [m.version for m in migrate.discover()]
NEXT = SHIPPED[-1] + 1


def _copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    target.mkdir()
    for path in migrate.MIGRATIONS_DIR.glob("V*.sql"):
        shutil.copy(path, target / path.name)
    return target


def test_apply_creates_every_table_and_is_idempotent(make_database: Callable[[], str]) -> None:
    url = make_database()
    first = apply_migrations(url)
    second = apply_migrations(url)
    assert first.applied_now == SHIPPED
    assert second.applied_now == []
    assert second.already_applied == SHIPPED
    with psycopg.connect(url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'deltashare'"
            )
        }
        rows = conn.execute(
            "SELECT version, name, checksum, applied_by FROM deltashare.schema_migrations"
        ).fetchall()
        version = migrate.schema_version(conn)
    assert tables == EXPECTED_TABLES
    assert [(r[0], r[1]) for r in rows] == [(m.version, m.name) for m in migrate.discover()]
    assert rows[0][1] == "init"
    assert rows[0][2] == migrate.discover()[0].checksum
    assert rows[0][3]
    assert version == migrate.EXPECTED_SCHEMA_VERSION
    assert migration_status(url).ok


def test_lock_key_function_matches_the_hand_written_migration_key(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT deltashare.lock_key('migrations', '-') = hashtextextended('deltashare:migrations:-', 0)"
        ).fetchone()
    assert row == (True,)


def test_checksum_mismatch_stops_and_status_reports_it(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    directory = _copy_migrations(tmp_path)
    apply_migrations(url, directory=directory)
    (directory / "V0001__init.sql").write_text(
        (directory / "V0001__init.sql").read_text() + "\n-- edited after release\n"
    )
    with pytest.raises(MigrationError) as raised:
        apply_migrations(url, directory=directory)
    assert raised.value.code == "migration_checksum_mismatch"
    status = migration_status(url, directory=directory)
    assert status.mismatched == [1]
    assert not status.ok
    assert migrate.main(["status", "--database-url", url]) == 0  # the shipped file still matches


def test_status_cli_exits_non_zero_when_pending(
    make_database: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = make_database()
    assert migrate.main(["status", "--database-url", url]) == 1
    assert f"pending:    {SHIPPED}" in capsys.readouterr().out
    assert migrate.main(["apply", "--database-url", url]) == 0
    assert migrate.main(["status", "--database-url", url]) == 0


def test_no_transaction_migration_and_newer_database(
    make_database: Callable[[], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_database()
    directory = _copy_migrations(tmp_path)
    (directory / f"V{NEXT:04d}__concurrent_index.sql").write_text(
        "-- migrate: no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_action ON deltashare.audit_trail (action);\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS logs_level ON deltashare.application_logs (level);\n"
    )
    report = apply_migrations(url, directory=directory)
    assert report.applied_now == [*SHIPPED, NEXT]
    with psycopg.connect(url) as conn:
        indexes = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'deltashare'"
            )
        }
    assert {"audit_action", "logs_level"} <= indexes
    # The shipped code does not know that migration: a newer database is accepted with a warning (rolling
    # deployment).
    older = apply_migrations(url)
    assert older.applied_now == []
    assert older.unknown == [NEXT]
    assert "newer release" in caplog.text


def test_failing_migration_rolls_back_completely(
    make_database: Callable[[], str], tmp_path: Path
) -> None:
    url = make_database()
    directory = _copy_migrations(tmp_path)
    (directory / f"V{NEXT:04d}__broken.sql").write_text(
        "CREATE TABLE deltashare.half_done (id int);\nSELECT * FROM deltashare.does_not_exist;\n"
    )
    with pytest.raises(psycopg.errors.UndefinedTable):
        apply_migrations(url, directory=directory)
    with psycopg.connect(url) as conn:
        leftover = conn.execute("SELECT to_regclass('deltashare.half_done')").fetchone()
        applied = [r[0] for r in conn.execute("SELECT version FROM deltashare.schema_migrations")]
    assert leftover == (None,)
    assert applied == SHIPPED


def test_concurrent_appliers_apply_each_version_once(make_database: Callable[[], str]) -> None:
    url = make_database()
    reports: list[migrate.MigrationReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def run() -> None:
        barrier.wait()
        try:
            reports.append(apply_migrations(url, lock_timeout_s=60, poll_s=0.05))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(len(r.applied_now) for r in reports) == [0, 0, 0, 0, 0, len(SHIPPED)]
    with psycopg.connect(url) as conn:
        count = conn.execute("SELECT count(*) FROM deltashare.schema_migrations").fetchone()
    assert count == (len(SHIPPED),)


def test_lock_timeout_when_another_instance_keeps_the_lock(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtextextended('deltashare:migrations:-', 0))")
        with pytest.raises(MigrationError) as raised:
            apply_migrations(url, lock_timeout_s=0.5, poll_s=0.1)
    assert raised.value.code == "migration_lock_timeout"


def _recorded_without(
    url: str, tmp_path: Path, migration: str, column: str
) -> tuple[RecipientRecord, scd2.Scd2Result]:
    """A recipient recorded by the code before `migration` (its row has no `column`), then every migration applied."""
    directory = _copy_migrations(tmp_path)
    (directory / migration).unlink()
    apply_migrations(url, directory=directory)
    record = RecipientRecord(
        workspace_url="https://adb-1.7.azuredatabricks.net",
        recipient_name="acme",
        recipient_type="D2O",
        created_by_pack=True,
        description="partner",
        ip_access_list=("10.0.0.0/8",),
    )
    with psycopg.connect(url, row_factory=dict_row) as conn:
        before = _resources.fields_of(record)  # the content columns, as the repository writes them
        del before[column]  # what the code before the migration wrote
        before["ip_access_list"] = list(record.ip_access_list)
        key = {
            "workspace_url": before.pop("workspace_url"),
            "recipient_name": before.pop("recipient_name"),
        }
        first = scd2.scd2_write(
            conn,
            recipients.TABLE,
            key,
            before,
            changed_by="w",
            reason="provisioned",
            bookkeeping={"source_version": 1, "source_run_id": None},
        )
    apply_migrations(url)
    return record, first


@pytest.mark.parametrize(
    ("migration", "column", "declared"),
    [
        ("V0004__recipient_properties.sql", "properties", {}),
        (
            "V0005__token_rotation_policy.sql",
            "token_rotation_policy",
            {"rotate_before_expiry_days": 14, "grace_hours": 24},
        ),
    ],
)
def test_a_new_recipient_column_keeps_recipients_recorded_before_it_unchanged(
    make_database: Callable[[], str],
    tmp_path: Path,
    migration: str,
    column: str,
    declared: dict[str, object],
) -> None:
    """A recipient recorded before the migration that added `column` is, after it, the same version to a record
    without the field (NULL stays out of `record_hash`); declaring it, even empty, makes a new version."""
    url = make_database()
    record, first = _recorded_without(url, tmp_path, migration, column)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        same = recipients.record(conn, record, changed_by="w")
        changes: dict[str, Any] = {column: declared}
        managed = recipients.record(conn, dataclasses.replace(record, **changes), changed_by="w")
    assert (same.changed, same.row["record_hash"]) == (False, first.row["record_hash"])
    assert same.row[column] is None
    assert (managed.changed, managed.version, managed.row[column]) == (True, 2, declared)

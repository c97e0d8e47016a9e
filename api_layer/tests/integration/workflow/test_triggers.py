"""Database-enforced invariants: allowed transitions (I7) and append-only history (I11)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from dbrx_api.workflow.db.connection import DictConnection
from dbrx_api.workflow.db.repositories import (
    application_logs,
    audit_trail,
    provisioning_runs,
    provisioning_steps,
    recipients,
    version_status,
)
from dbrx_api.workflow.db.repositories.application_logs import LogRow
from dbrx_api.workflow.db.repositories.audit_trail import AuditEntry
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.db.repositories.version_status import ALLOWED_TRANSITIONS, Status
from fixtures.postgres import StoredPack

pytestmark = pytest.mark.integration

STATUSES = [s.value for s in Status]


def _refused(
    conn: DictConnection,
    error: type[Exception],
    statement: str | sql.Composed,
    params: tuple[object, ...] = (),
) -> None:
    with pytest.raises(error), conn.transaction():
        conn.execute(statement, params)


def test_sql_transition_table_equals_the_python_table(pg: DictConnection) -> None:
    pairs = [(None, t) for t in STATUSES] + list(itertools.product(STATUSES, STATUSES))
    allowed_in_sql = {
        (f, t)
        for f, t in pairs
        if pg.execute("SELECT deltashare.is_allowed_transition(%s, %s) AS ok", (f, t)).fetchone()[
            "ok"
        ]  # type: ignore[index]
    }
    assert allowed_in_sql == set(ALLOWED_TRANSITIONS)
    assert len(allowed_in_sql) == 19  # V0007: QUEUED and PENDING_APPROVAL -> WITHDRAWN


def test_i7_forbidden_update_is_rejected_by_the_trigger(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    pack = store_pack()
    assert pack.status == Status.QUEUED
    # QUEUED -> COMPLETED skips IN_PROGRESS: not in docs/WORKFLOW.md §4.3.
    _refused(
        pg,
        psycopg.errors.CheckViolation,
        "UPDATE deltashare.pack_version_status SET status = 'COMPLETED' WHERE share_pack_id = %s AND version = %s",
        (pack.share_pack_id, pack.version),
    )
    _refused(
        pg,
        psycopg.errors.CheckViolation,
        "INSERT INTO deltashare.status_transitions (share_pack_id, version, from_status, to_status, at, actor) "
        "VALUES (%s, %s, 'QUEUED', 'COMPLETED', now(), 'test')",
        (pack.share_pack_id, pack.version),
    )
    # The repository refuses the same pair before sending anything.
    with pytest.raises(ValueError, match="forbidden status transition"):
        version_status.transition(
            pg,
            pack.share_pack_id,
            pack.version,
            Status.COMPLETED,
            from_statuses=[Status.QUEUED],
            at=datetime.now(UTC),
            actor="test",
        )
    # An allowed pair passes the trigger.
    assert (
        version_status.transition(
            pg, pack.share_pack_id, pack.version, Status.FAILED, at=datetime.now(UTC), actor="test"
        )
        is not None
    )


def test_status_rows_start_received_and_are_never_deleted(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    pack = store_pack()
    _refused(
        pg,
        psycopg.errors.RestrictViolation,
        "DELETE FROM deltashare.pack_version_status WHERE share_pack_id = %s",
        (pack.share_pack_id,),
    )
    again = store_pack(pack_key=None)
    _refused(
        pg,
        psycopg.errors.UniqueViolation,
        "INSERT INTO deltashare.pack_version_status (share_pack_id, version, status, updated_at) "
        "VALUES (%s, %s, 'RECEIVED', now())",
        (again.share_pack_id, again.version),
    )


def test_i11_append_only_tables(pg: DictConnection, store_pack: Callable[..., StoredPack]) -> None:
    pack = store_pack()
    audit_trail.record(
        pg,
        AuditEntry(
            actor_id="u",
            actor_kind="user",
            source="api",
            action="share.create",
            entity_type="share",
            entity_key="s",
            outcome="succeeded",
        ),
    )
    application_logs.insert_many(
        pg, [LogRow(at=datetime.now(UTC), level="INFO", logger="t", message="m")]
    )
    for table in ("status_transitions", "audit_trail", "application_logs"):
        name = sql.Identifier(table)
        _refused(
            pg,
            psycopg.errors.RestrictViolation,
            sql.SQL("UPDATE deltashare.{} SET at = now()").format(name),
        )
        _refused(
            pg, psycopg.errors.RestrictViolation, sql.SQL("DELETE FROM deltashare.{}").format(name)
        )
    assert pg.execute(
        "SELECT count(*) AS n FROM deltashare.status_transitions WHERE share_pack_id = %s",
        (pack.share_pack_id,),
    ).fetchone() == {"n": 3}


def test_i11_runs_and_steps_close_once(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    pack = store_pack()
    run_id = uuid.uuid4()
    started = datetime.now(UTC)
    provisioning_runs.start(
        pg,
        run_id=run_id,
        share_pack_id=pack.share_pack_id,
        version=pack.version,
        attempt=1,
        worker_id="w",
        strategy="NEW",
        started_at=started,
    )
    step_id = provisioning_steps.start(
        pg,
        run_id=run_id,
        seq=1,
        step_key="recipient:a",
        resource_type="recipient",
        resource_name="a",
        action="create",
    )
    # Only closing columns may change, and only while open.
    _refused(
        pg,
        psycopg.errors.RestrictViolation,
        "UPDATE deltashare.provisioning_runs SET worker_id = 'x'",
    )
    _refused(
        pg,
        psycopg.errors.RestrictViolation,
        "UPDATE deltashare.provisioning_steps SET ended_at = now(), outcome = 'SUCCEEDED', resource_name = 'b'",
    )
    assert provisioning_steps.close(
        pg, step_id, outcome="SUCCEEDED", databricks_ids={"recipient_id": "r1"}
    )
    assert not provisioning_steps.close(pg, step_id, outcome="FAILED")
    assert provisioning_runs.close(
        pg, run_id, outcome="COMPLETED", ended_at=started + timedelta(seconds=1), mutating_calls=1
    )
    assert not provisioning_runs.close(
        pg, run_id, outcome="FAILED", ended_at=started + timedelta(seconds=2)
    )
    _refused(
        pg,
        psycopg.errors.RestrictViolation,
        "UPDATE deltashare.provisioning_runs SET outcome = 'FAILED'",
    )
    _refused(pg, psycopg.errors.RestrictViolation, "DELETE FROM deltashare.provisioning_steps")
    _refused(pg, psycopg.errors.RestrictViolation, "DELETE FROM deltashare.provisioning_runs")
    run = provisioning_runs.get(pg, run_id)
    assert run is not None
    assert run.outcome == "COMPLETED"
    assert run.mutating_calls == 1


def test_i11_scd2_rows_only_close_once(pg: DictConnection) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    record = RecipientRecord(
        workspace_url=workspace, recipient_name="a", recipient_type="D2D", created_by_pack=True
    )
    recipients.record(pg, record, changed_by="t")
    _refused(
        pg,
        psycopg.errors.RestrictViolation,
        "UPDATE deltashare.recipients SET description = 'x' WHERE workspace_url = %s",
        (workspace,),
    )
    _refused(
        pg,
        psycopg.errors.RestrictViolation,
        "DELETE FROM deltashare.recipients WHERE workspace_url = %s",
        (workspace,),
    )
    recipients.record(
        pg,
        RecipientRecord(
            workspace_url=workspace, recipient_name="a", recipient_type="D2D", created_by_pack=False
        ),
        changed_by="t",
    )
    # The closed row cannot be re-opened or closed again.
    _refused(
        pg,
        psycopg.errors.RestrictViolation,
        "UPDATE deltashare.recipients SET effective_to = 'infinity', is_current = true "
        "WHERE workspace_url = %s AND version = 1",
        (workspace,),
    )


def test_log_retention_purge_is_the_only_delete(pg: DictConnection) -> None:
    now = datetime.now(UTC)
    marker = uuid.uuid4().hex
    application_logs.insert_many(
        pg,
        [
            LogRow(at=now - timedelta(days=40), level="INFO", logger="t", message=marker),
            LogRow(at=now - timedelta(days=1), level="INFO", logger="t", message=marker),
        ],
    )
    assert application_logs.purge(pg, before=now - timedelta(days=30)) >= 1
    remaining = pg.execute(
        "SELECT count(*) AS n FROM deltashare.application_logs WHERE message = %s", (marker,)
    ).fetchone()
    assert remaining == {"n": 1}
    # The purge flag is transaction-local and switched off again: a plain delete is still refused.
    _refused(
        pg,
        psycopg.errors.RestrictViolation,
        "DELETE FROM deltashare.application_logs WHERE message = %s",
        (marker,),
    )

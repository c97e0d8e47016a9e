"""SCD2 writer against real PostgreSQL: invariant I1 and point-in-time reads (docs/WORKFLOW.md §5.2, §13)."""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from dbrx_api.workflow.db import scd2
from dbrx_api.workflow.db.connection import DictConnection, Pool, transaction
from dbrx_api.workflow.db.repositories import recipients, shares
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.db.repositories.records import run_writes
from dbrx_api.workflow.db.repositories.shares import ShareRecord

pytestmark = pytest.mark.integration


def _assert_history_invariants(
    conn: DictConnection, table: str, key_sql: str, params: tuple[Any, ...]
) -> list[dict[str, Any]]:
    """I1 for one key: one current row, versions 1..n, ranges chained without gap or overlap."""
    rows = conn.execute(
        f"SELECT * FROM deltashare.{table} WHERE {key_sql} ORDER BY version",  # noqa: S608 - test constants
        params,
    ).fetchall()
    assert [r["version"] for r in rows] == list(range(1, len(rows) + 1))
    assert sum(r["is_current"] for r in rows) == (1 if rows else 0)
    if rows:
        assert rows[-1]["is_current"]
    for older, newer in itertools.pairwise(rows):
        assert older["effective_to"] == newer["effective_from"]
        assert older["effective_from"] < older["effective_to"]
        assert not older["is_current"]
    return rows


def _recipient(
    workspace: str, name: str, ips: list[str], comment: str | None = None
) -> RecipientRecord:
    return RecipientRecord(
        workspace_url=workspace,
        recipient_name=name,
        recipient_type="D2O",
        created_by_pack=True,
        description=comment,
        ip_access_list=ips,
    )


def test_write_noop_close_and_history(pg: DictConnection) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    first = recipients.record(
        pg, _recipient(workspace, "Acme", ["10.0.0.1", "10.0.0.0/24"]), changed_by="worker:w"
    )
    # Same content with the IPs in another order and the name in another case: no new version.
    same = recipients.record(
        pg, _recipient(workspace, "ACME", ["10.0.0.0/24", "10.0.0.1"]), changed_by="worker:w"
    )
    second = recipients.record(
        pg, _recipient(workspace, "acme", ["10.0.0.1"]), changed_by="worker:w"
    )
    assert first.changed
    assert first.version == 1
    assert not same.changed
    assert same.record_id == first.record_id
    assert second.changed
    assert second.version == 2
    assert second.previous_record_id == first.record_id
    rows = _assert_history_invariants(
        pg, "recipients", "workspace_url = %s AND recipient_name = %s", (workspace, "acme")
    )
    assert [r["ip_access_list"] for r in rows] == [["10.0.0.0/24", "10.0.0.1"], ["10.0.0.1"]]
    assert rows[0]["effective_to"] == second.at  # closed at the new version's single timestamp
    assert rows[1]["record_hash"] == second.record_hash != first.record_hash


def test_soft_delete_and_recreate_and_point_in_time(pg: DictConnection) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    pack_id = uuid.uuid4()
    created = shares.record(
        pg,
        ShareRecord(
            workspace_url=workspace,
            share_name="Sales",
            created_by_pack=True,
            share_pack_id=pack_id,
            assets=[{"name": "c.s.b", "type": "TABLE"}, {"name": "c.s.a", "type": "TABLE"}],
            recipients=["Zeta", "alpha"],
        ),
        changed_by="worker:w",
        source_version=1,
    )
    t_created = created.at
    deleted = shares.soft_delete(pg, workspace, "sales", changed_by="worker:w", source_version=2)
    again = shares.soft_delete(pg, workspace, "SALES", changed_by="worker:w")
    assert deleted is not None
    assert deleted.changed
    assert deleted.row["is_deleted"]
    assert again is not None
    assert not again.changed
    assert shares.soft_delete(pg, workspace, "never-recorded", changed_by="worker:w") is None
    assert shares.get_current(pg, workspace, "sales") is None
    assert shares.get_current(pg, workspace, "sales", include_deleted=True) is not None
    recreated = shares.record(
        pg,
        ShareRecord(
            workspace_url=workspace,
            share_name="sales",
            created_by_pack=False,
            share_pack_id=pack_id,
        ),
        changed_by="worker:w",
        reason="adopted",
    )
    assert recreated.version == 3
    assert not recreated.row["is_deleted"]
    rows = _assert_history_invariants(
        pg, "shares", "workspace_url = %s AND share_name = %s", (workspace, "sales")
    )
    assert rows[0]["assets"] == [
        {"name": "c.s.a", "type": "TABLE"},
        {"name": "c.s.b", "type": "TABLE"},
    ]
    assert rows[0]["recipients"] == ["alpha", "zeta"]
    assert rows[0]["source_version"] == 1
    assert rows[1]["source_version"] == 2
    at_creation = shares.as_of(pg, workspace, t_created)
    at_deletion = shares.as_of(pg, workspace, deleted.at)
    now = shares.as_of(pg, workspace, datetime.now(UTC))
    assert [r.version for r in at_creation] == [1]
    assert at_deletion == []  # deleted versions are not "shared"
    assert [r.change_reason for r in now] == ["adopted"]
    assert shares.list_current(pg, share_pack_id=pack_id, created_by_pack=True) == []
    assert [r.share_name for r in shares.list_current(pg, share_pack_id=pack_id)] == ["sales"]


def test_second_current_row_is_rejected_by_the_partial_unique_index(pg: DictConnection) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    recipients.record(pg, _recipient(workspace, "acme", []), changed_by="worker:w")
    with pytest.raises(psycopg.errors.UniqueViolation), pg.transaction():
        pg.execute(
            "INSERT INTO deltashare.recipients (workspace_url, recipient_name, created_by_pack, recipient_type, "
            "version, effective_from, is_current, record_hash, changed_by, change_reason) "
            "VALUES (%s, 'acme', true, 'D2O', 99, clock_timestamp(), true, 'x', 'test', 'test')",
            (workspace,),
        )


def _write_in_own_transaction(pool: Pool, workspace: str, name: str, comment: str) -> bool:
    with pool.connection() as conn, conn.transaction():
        return recipients.record(
            conn, _recipient(workspace, name, [], comment), changed_by="t"
        ).changed


def _run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            target(index)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_i1_sixteen_threads_random_contents_on_a_few_keys(pg_pool: Pool) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    keys = ["k1", "k2", "k3"]
    comments = ["a", "b", "c"]  # few values: many writes repeat the current content
    changed_writes: dict[str, int] = dict.fromkeys(keys, 0)
    guard = threading.Lock()

    def worker(index: int) -> None:
        rng = random.Random(index)
        for _ in range(25):
            key = rng.choice(keys)
            if _write_in_own_transaction(pg_pool, workspace, key, rng.choice(comments)):
                with guard:
                    changed_writes[key] += 1

    assert _run_threads(16, worker) == []
    with pg_pool.connection() as conn:
        for key in keys:
            rows = _assert_history_invariants(
                conn, "recipients", "workspace_url = %s AND recipient_name = %s", (workspace, key)
            )
            assert len(rows) == changed_writes[key]
            # An equal-hash write created no row: consecutive versions always differ.
            for older, newer in itertools.pairwise(rows):
                assert older["record_hash"] != newer["record_hash"]


def test_fifty_concurrent_writers_on_one_key(pg_pool: Pool) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"

    def worker(index: int) -> None:
        assert _write_in_own_transaction(pg_pool, workspace, "hot", f"content {index}")

    assert _run_threads(50, worker) == []
    with pg_pool.connection() as conn:
        rows = _assert_history_invariants(
            conn, "recipients", "workspace_url = %s AND recipient_name = %s", (workspace, "hot")
        )
    assert len(rows) == 50
    assert sorted(r["description"] for r in rows) == sorted(f"content {i}" for i in range(50))


class Scd2Machine(RuleBasedStateMachine):
    """Any sequence of writes and soft deletes keeps I1; identical writes create nothing."""

    pool: Pool

    def __init__(self) -> None:
        super().__init__()
        self.workspace = f"https://adb-{uuid.uuid4().hex[:8]}.azuredatabricks.net"
        self.model: dict[str, list[tuple[str | None, bool]]] = {}

    @rule(name=st.sampled_from(["r1", "r2"]), comment=st.sampled_from([None, "x", "y"]))
    def write(self, name: str, comment: str | None) -> None:
        with self.pool.connection() as conn, conn.transaction():
            result = recipients.record(
                conn, _recipient(self.workspace, name, [], comment), changed_by="t"
            )
        history = self.model.setdefault(name, [])
        expected_change = not history or history[-1] != (comment, False)
        assert result.changed == expected_change
        if expected_change:
            history.append((comment, False))

    @rule(name=st.sampled_from(["r1", "r2"]))
    def delete(self, name: str) -> None:
        with self.pool.connection() as conn, conn.transaction():
            result = recipients.soft_delete(conn, self.workspace, name, changed_by="t")
        history = self.model.get(name)
        if not history:
            assert result is None
            return
        assert result is not None
        assert result.changed == (not history[-1][1])
        if result.changed:
            history.append((history[-1][0], True))

    @invariant()
    def tables_match_the_model(self) -> None:
        with self.pool.connection() as conn:
            for name, history in self.model.items():
                rows = _assert_history_invariants(
                    conn,
                    "recipients",
                    "workspace_url = %s AND recipient_name = %s",
                    (self.workspace, name),
                )
                assert [(r["description"], r["is_deleted"]) for r in rows] == history


def test_scd2_state_machine(pg_pool: Pool) -> None:
    Scd2Machine.pool = pg_pool
    machine = Scd2Machine.TestCase
    machine.settings = settings(
        max_examples=15,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine().runTest()


def test_canonical_hash_is_stable_across_equivalent_contents(pg: DictConnection) -> None:
    ts = datetime(2026, 3, 1, 9, 12, 44, 120_000, tzinfo=UTC)
    a = scd2.record_hash({"when": ts, "tags": {"b": 1, "a": None}, "ids": {3, 1, 2}})
    b = scd2.record_hash({"ids": frozenset({2, 3, 1}), "tags": {"b": 1}, "when": ts.astimezone()})
    assert a == b
    row = pg.execute("SELECT %s::timestamptz AS ts", (ts,)).fetchone()
    assert row is not None
    assert scd2.canonical_json(row["ts"]) == '"2026-03-01T09:12:44.120Z"'


def _write_of(workspace: str, name: str, comment: str) -> Any:
    return recipients.write_of(
        _recipient(workspace, name, [], comment), changed_by="worker:w", reason="provisioned"
    )


def test_batched_writes_in_pipeline_mode_record_what_one_by_one_writes_would(
    pg_pool: Pool,
) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    with transaction(pg_pool) as conn:
        for name in ("same", "changed"):
            recipients.record(conn, _recipient(workspace, name, [], "v1"), changed_by="w")

    with transaction(pg_pool, pipelined=True) as conn:
        run_writes(
            conn,
            [
                _write_of(workspace, "same", "v1"),  # unchanged: no version
                _write_of(workspace, "changed", "v2"),  # closes v1, inserts v2
                _write_of(workspace, "new", "v1"),  # first version
                _write_of(workspace, "changed", "v3"),  # the same key again: a second round
            ],
        )

    with pg_pool.connection() as conn:
        histories = {
            name: _assert_history_invariants(
                conn, "recipients", "workspace_url = %s AND recipient_name = %s", (workspace, name)
            )
            for name in ("same", "changed", "new")
        }
    assert [r["description"] for r in histories["same"]] == ["v1"]
    assert [r["description"] for r in histories["changed"]] == ["v1", "v2", "v3"]
    assert [r["description"] for r in histories["new"]] == ["v1"]


def test_concurrent_batches_over_the_same_keys_neither_deadlock_nor_break_i1(
    pg_pool: Pool,
) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    keys = ["k1", "k2", "k3", "k4"]

    def worker(index: int) -> None:
        rng = random.Random(index)
        for round_number in range(5):
            batch = rng.sample(
                keys, len(keys)
            )  # each batch in its own order: the locks are taken sorted
            with transaction(pg_pool, pipelined=True) as conn:
                run_writes(
                    conn, [_write_of(workspace, k, f"{index}-{round_number}") for k in batch]
                )

    assert _run_threads(8, worker) == []
    with pg_pool.connection() as conn:
        for key in keys:
            rows = _assert_history_invariants(
                conn, "recipients", "workspace_url = %s AND recipient_name = %s", (workspace, key)
            )
            assert len(rows) == 40  # every batch changed every key


def test_other_writes_see_the_record_writes_given_before_them(pg_pool: Pool) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    seen: list[str | None] = []

    def reads_first(
        conn: Any,
    ) -> None:  # e.g. a version action marked done after its recipient is recorded
        current = recipients.get_current(conn, workspace, "first")
        seen.append(current.description if current is not None else None)

    with transaction(pg_pool, pipelined=True) as conn:
        run_writes(
            conn,
            [
                _write_of(workspace, "first", "v1"),
                reads_first,
                _write_of(workspace, "second", "v1"),
            ],
        )

    assert seen == ["v1"]
    with pg_pool.connection() as conn:
        assert recipients.get_current(conn, workspace, "second") is not None

"""The sweeper (docs/WORKFLOW.md §8.7): lost messages, dead runs, leadership, retention."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from dbrx_api.settings import WorkflowSettings
from dbrx_api.workflow.db import operations, scd2
from dbrx_api.workflow.db.connection import Pool
from dbrx_api.workflow.db.repositories import provisioning_runs, version_status
from dbrx_api.workflow.queue.in_process import InProcessQueue
from dbrx_api.workflow.queue.sweeper import Sweeper
from fixtures.postgres import StoredPack

pytestmark = pytest.mark.integration


def _sweeper(
    pool: Pool, settings: WorkflowSettings, queue: InProcessQueue, **sweeper: float
) -> Sweeper:
    merged = settings.model_copy(update={"sweeper": settings.sweeper.model_copy(update=sweeper)})
    return Sweeper(pool=pool, queue=queue, settings=merged, sweeper_id="test")


def _age_next_visible(pool: Pool, pack: StoredPack, seconds: float) -> None:
    with pool.connection() as conn, conn.transaction():
        assert version_status.set_next_visible(
            conn, pack.share_pack_id, pack.version, at=scd2.clock(conn) - timedelta(seconds=seconds)
        )


def _messages(queue: InProcessQueue) -> dict[tuple[str, int], dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while batch := queue.receive(32, 60):
        bodies.extend(json.loads(m.body) for m in batch)
    return {(b["share_pack_id"], b["version"]): b for b in bodies}


def test_lost_message_is_resent_after_the_grace(
    pg_pool: Pool, workflow_settings: WorkflowSettings, store_pack: Callable[..., StoredPack]
) -> None:
    lost = store_pack()
    fresh = store_pack()  # its message may still be on its way: not re-sent
    _age_next_visible(pg_pool, lost, 601)
    queue = InProcessQueue("sweep")
    report = _sweeper(pg_pool, workflow_settings, queue, requeue_grace_s=600).sweep_once()
    assert report.led
    assert (lost.share_pack_id, lost.version) in report.resent
    assert (fresh.share_pack_id, fresh.version) not in report.resent
    sent = _messages(queue)
    assert sent[(str(lost.share_pack_id), lost.version)]["attempt"] == 1  # attempts (0) + 1
    with pg_pool.connection() as conn:
        row = version_status.get(conn, lost.share_pack_id, lost.version)
        now = scd2.clock(conn)
    assert row is not None
    assert row.next_visible_at is not None
    assert now - row.next_visible_at < timedelta(seconds=30)
    # Marked as re-sent: the next sweep leaves it alone.
    again = _sweeper(pg_pool, workflow_settings, queue, requeue_grace_s=600).sweep_once()
    assert (lost.share_pack_id, lost.version) not in again.resent


def test_startup_sweep_resends_every_queued_version(
    pg_pool: Pool, workflow_settings: WorkflowSettings, store_pack: Callable[..., StoredPack]
) -> None:
    queued = store_pack()
    pending = store_pack(approver_status="pending")
    queue = InProcessQueue("startup")  # an in-memory queue that just started empty
    report = _sweeper(pg_pool, workflow_settings, queue, requeue_grace_s=600).sweep_once(
        startup=True
    )
    assert (queued.share_pack_id, queued.version) in report.resent
    assert (pending.share_pack_id, pending.version) not in report.resent
    assert (str(queued.share_pack_id), queued.version) in _messages(queue)


def test_dead_run_is_recovered_only_when_its_lock_is_free(
    pg_pool: Pool,
    pg_url: str,
    workflow_settings: WorkflowSettings,
    store_pack: Callable[..., StoredPack],
) -> None:
    alive = store_pack()
    dead = store_pack()
    claims = {}
    for pack in (alive, dead):
        with pg_pool.connection() as conn, conn.transaction():
            attempt = operations.claim_version(
                conn,
                pack.share_pack_id,
                pack.version,
                worker_id="gone:1:1",
                run_id=uuid.uuid4(),
                lease_s=0.05,
            )
        assert attempt.claim is not None
        claims[pack.share_pack_id] = attempt.claim
    time.sleep(0.2)
    queue = InProcessQueue("dead")
    with psycopg.connect(pg_url, autocommit=True) as live_worker:
        live_worker.execute(
            "SELECT pg_advisory_lock(deltashare.lock_key('provision', %s))",
            (str(alive.share_pack_id),),
        )
        report = _sweeper(pg_pool, workflow_settings, queue, lease_grace_s=0).sweep_once()
    assert (dead.share_pack_id, dead.version) in report.recovered
    assert (alive.share_pack_id, alive.version) not in report.recovered
    with pg_pool.connection() as conn:
        dead_status = version_status.get(conn, dead.share_pack_id, dead.version)
        alive_status = version_status.get(conn, alive.share_pack_id, alive.version)
        dead_run = provisioning_runs.get(conn, claims[dead.share_pack_id].run_id)
    assert dead_status is not None
    assert dead_status.status == "QUEUED"
    assert dead_status.lease_owner is None
    assert alive_status is not None
    assert alive_status.status == "IN_PROGRESS"
    assert dead_run is not None
    assert dead_run.outcome == "ABANDONED"
    sent = _messages(queue)
    assert sent[(str(dead.share_pack_id), dead.version)]["attempt"] == 2
    assert (str(alive.share_pack_id), alive.version) not in sent


def test_only_the_leader_sweeps_and_logs_are_purged_once_a_day(
    pg_pool: Pool, pg_url: str, workflow_settings: WorkflowSettings
) -> None:
    queue = InProcessQueue("leader")
    sweeper = _sweeper(pg_pool, workflow_settings, queue)
    with psycopg.connect(pg_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(deltashare.lock_key('sweeper', '-'))")
        assert not sweeper.sweep_once().led
    first = sweeper.sweep_once()
    second = sweeper.sweep_once()
    assert first.led
    assert first.purged_logs is not None
    assert second.led
    assert second.purged_logs is None


def test_sweeper_thread_runs_the_startup_sweep(
    pg_pool: Pool, workflow_settings: WorkflowSettings, store_pack: Callable[..., StoredPack]
) -> None:
    queued = store_pack()
    queue = InProcessQueue("thread")
    sweeper = _sweeper(pg_pool, workflow_settings, queue, interval_s=0.1)
    sweeper.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and queue.approximate_counts()[0] == 0:
            time.sleep(0.05)
    finally:
        sweeper.stop()
    assert (str(queued.share_pack_id), queued.version) in _messages(queue)

"""Repositories, lifecycle operations and read models against real PostgreSQL."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from dbrx_api.errors import ValidationFailed
from dbrx_api.workflow.db import operations, scd2, views
from dbrx_api.workflow.db.connection import DictConnection, Pool
from dbrx_api.workflow.db.operations import Claim, RunFigures
from dbrx_api.workflow.db.repositories import (
    audit_trail,
    pipelines,
    provisioning_runs,
    provisioning_steps,
    recipients,
    share_packs,
    shares,
    status_transitions,
    version_actions,
    version_status,
)
from dbrx_api.workflow.db.repositories.audit_trail import AuditEntry
from dbrx_api.workflow.db.repositories.pipelines import PipelineRecord
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.db.repositories.shares import ShareRecord
from fixtures.postgres import StoredPack, pack_input, store_pack_version

pytestmark = pytest.mark.integration


def _claimed(pg: DictConnection, pack: StoredPack) -> Claim:
    """Claim the pack's version for worker `w` (it must be claimable)."""
    claim = operations.claim_version(
        pg, pack.share_pack_id, pack.version, worker_id="w", run_id=uuid.uuid4(), lease_s=60
    ).claim
    assert claim is not None
    return claim


def _transitions(
    pg: DictConnection, pack: StoredPack, version: int | None = None
) -> list[tuple[str | None, str]]:
    rows = status_transitions.list_for_version(pg, pack.share_pack_id, version or pack.version)
    return [(r.from_status, r.to_status) for r in rows]


def test_upload_admission_per_approver_status(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    queued = store_pack(approver_status="approved")
    pending = store_pack(approver_status="request_more_info")
    rejected = store_pack(approver_status="declined")
    assert (queued.status, pending.status, rejected.status) == (
        "QUEUED",
        "PENDING_APPROVAL",
        "REJECTED",
    )
    assert _transitions(pg, queued) == [
        (None, "RECEIVED"),
        ("RECEIVED", "VALIDATED"),
        ("VALIDATED", "QUEUED"),
    ]
    row = version_status.get(pg, queued.share_pack_id, queued.version)
    assert row is not None
    assert row.next_visible_at == row.updated_at
    transitions = status_transitions.list_for_version(pg, queued.share_pack_id, queued.version)
    assert len({t.at for t in transitions}) == 1  # one timestamp for the whole upload transaction
    assert transitions[-1].reason == "approved"


def test_new_version_supersedes_waiting_older_versions(pg: DictConnection, pg_pool: Pool) -> None:
    key = f"retail/{uuid.uuid4().hex[:8]}/jane.doe@example.com"
    v1 = store_pack_version(
        pg_pool, pack_input(pack_key=key, approver_status="pending", config={"n": 1})
    )
    v2 = store_pack_version(
        pg_pool, pack_input(pack_key=key, approver_status="approved", config={"n": 2})
    )
    v3 = store_pack_version(
        pg_pool, pack_input(pack_key=key, approver_status="approved", config={"n": 3})
    )
    same = store_pack_version(
        pg_pool, pack_input(pack_key=key, approver_status="approved", config={"n": 3})
    )
    assert (v1.version, v2.version, v3.version) == (1, 2, 3)
    assert v1.share_pack_id == v2.share_pack_id == v3.share_pack_id == same.share_pack_id
    assert not same.created
    assert same.version == 3
    assert same.status == "QUEUED"
    statuses = {
        v: getattr(version_status.get(pg, v1.share_pack_id, v), "status", None) for v in (1, 2, 3)
    }
    assert statuses == {1: "SUPERSEDED", 2: "SUPERSEDED", 3: "QUEUED"}
    assert _transitions(pg, v1, 1)[-1] == ("PENDING_APPROVAL", "SUPERSEDED")
    versions = share_packs.list_versions(pg, v1.share_pack_id)
    for older, newer in itertools.pairwise(versions):
        assert older.effective_to == newer.effective_from
    assert share_packs.has_newer_version(pg, v1.share_pack_id, 2)
    assert not share_packs.has_newer_version(pg, v1.share_pack_id, 3)
    assert share_packs.config_as_of(pg, v1.share_pack_id, versions[1].effective_from) == {
        "version": 2,
        "config": {"n": 2},
    }


def test_concurrent_uploads_of_one_pack_serialise(pg_pool: Pool) -> None:
    key = f"retail/{uuid.uuid4().hex[:8]}/jane.doe@example.com"
    results: list[StoredPack] = []
    barrier = threading.Barrier(8)

    def upload(index: int) -> None:
        barrier.wait()
        results.append(
            store_pack_version(pg_pool, pack_input(pack_key=key, config={"n": index % 6}))
        )

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 8
    pack_id = results[0].share_pack_id
    with pg_pool.connection() as conn:
        rows = conn.execute(
            "SELECT v.version, s.status FROM deltashare.share_packs v JOIN deltashare.pack_version_status s "
            "USING (share_pack_id, version) WHERE share_pack_id = %s ORDER BY v.version",
            (pack_id,),
        ).fetchall()
    assert [r["version"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["status"] for r in rows].count("QUEUED") == 1
    assert rows[-1]["status"] == "QUEUED"
    assert len(rows) == sum(r.created for r in results)


def test_rerun_only_from_completed_or_failed(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    pack = store_pack()
    now = scd2.clock(pg)
    assert operations.rerun_version(pg, pack.share_pack_id, pack.version, at=now, actor="u") is None
    attempt = operations.claim_version(
        pg, pack.share_pack_id, pack.version, worker_id="h:1:1", run_id=uuid.uuid4(), lease_s=60
    )
    assert attempt.claim is not None
    assert operations.fail_run(
        pg,
        attempt.claim,
        error={"code": "boom", "message": "it broke", "step": "share:s"},
        figures=RunFigures(),
    )
    failed = version_status.get(pg, pack.share_pack_id, pack.version)
    assert failed is not None
    assert failed.error == {
        "code": "boom",
        "message": "it broke",
        "step": "share:s",
    }
    rerun = operations.rerun_version(
        pg, pack.share_pack_id, pack.version, at=scd2.clock(pg), actor="u"
    )
    assert rerun is not None
    assert rerun.status == "QUEUED"
    assert rerun.error is None
    assert rerun.from_status == "FAILED"
    assert rerun.attempts == 1


def test_claim_outcomes_and_takeover(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    pack = store_pack(strategy="UPDATE")
    first = operations.claim_version(
        pg,
        pack.share_pack_id,
        pack.version,
        worker_id="h:1:1",
        run_id=uuid.uuid4(),
        lease_s=60,
        queue_message_id="m1",
        dequeue_count=1,
    )
    assert first.claim is not None
    claim = first.claim
    assert (claim.attempt, claim.strategy, claim.first_provisioned_at) == (
        1,
        "UPDATE",
        claim.claimed_at,
    )
    row = version_status.get(pg, pack.share_pack_id, pack.version)
    assert row is not None
    assert row.lease_owner == "h:1:1"
    assert row.lease_expires_at == claim.claimed_at + timedelta(seconds=60)
    step_id = provisioning_steps.start(
        pg,
        run_id=claim.run_id,
        seq=1,
        step_key="recipient:r",
        resource_type="recipient",
        resource_name="r",
        action="create",
    )
    # The first worker "dies"; whoever holds the pack lock next sees IN_PROGRESS and takes over.
    second = operations.claim_version(
        pg, pack.share_pack_id, pack.version, worker_id="h:2:1", run_id=uuid.uuid4(), lease_s=60
    )
    assert second.claim is not None
    assert second.abandoned_runs == [claim.run_id]
    assert second.claim.attempt == 2
    assert second.claim.first_provisioned_at == claim.first_provisioned_at  # T is set once
    old_run = provisioning_runs.get(pg, claim.run_id)
    assert old_run is not None
    assert old_run.outcome == "ABANDONED"
    old_step = provisioning_steps.list_for_run(pg, claim.run_id)
    assert [s.outcome for s in old_step] == ["INTERRUPTED"]
    assert old_step[0].step_id == step_id
    # The dead worker's late outcome is refused by the ownership guard.
    assert not operations.complete_run(pg, claim, figures=RunFigures())
    assert operations.complete_run(
        pg,
        second.claim,
        figures=RunFigures(read_calls=3, mutating_calls=0, summary={"unchanged": 4}),
        status_detail="unchanged 4",
    )
    final = version_status.get(pg, pack.share_pack_id, pack.version)
    assert final is not None
    assert final.status == "COMPLETED"
    assert final.lease_owner is None
    assert _transitions(pg, pack)[3:] == [
        ("QUEUED", "IN_PROGRESS"),
        ("IN_PROGRESS", "QUEUED"),
        ("QUEUED", "IN_PROGRESS"),
        ("IN_PROGRESS", "COMPLETED"),
    ]
    runs = provisioning_runs.list_for_version(pg, pack.share_pack_id, pack.version)
    assert [r.outcome for r in runs] == ["ABANDONED", "COMPLETED"]
    assert runs[0].queue_message_id == "m1"


def test_claim_of_an_older_version_supersedes_it(pg: DictConnection, pg_pool: Pool) -> None:
    key = f"retail/{uuid.uuid4().hex[:8]}/jane.doe@example.com"
    v1 = store_pack_version(pg_pool, pack_input(pack_key=key, config={"n": 1}))
    with pg_pool.connection() as conn, conn.transaction():  # v1 runs, then v2 is stored meanwhile
        running = operations.claim_version(
            conn, v1.share_pack_id, 1, worker_id="h:1:1", run_id=uuid.uuid4(), lease_s=60
        )
    assert running.claim is not None
    store_pack_version(pg_pool, pack_input(pack_key=key, config={"n": 2}))
    # Its worker died: the takeover must not restart a version that a newer one replaced.
    attempt = operations.claim_version(
        pg, v1.share_pack_id, 1, worker_id="h:2:1", run_id=uuid.uuid4(), lease_s=60
    )
    assert attempt.claim is None
    assert attempt.reason == "superseded"
    assert getattr(version_status.get(pg, v1.share_pack_id, 1), "status", None) == "SUPERSEDED"


def test_retry_and_interrupt_requeue(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    pack = store_pack()
    claim = _claimed(pg, pack)
    assert operations.retry_run(
        pg,
        claim,
        backoff_s=45,
        error={"code": "upstream_unavailable", "message": "503"},
        figures=RunFigures(),
    )
    row = version_status.get(pg, pack.share_pack_id, pack.version)
    assert row is not None
    assert row.status == "QUEUED"
    assert row.lease_owner is None
    assert row.next_visible_at == row.updated_at + timedelta(seconds=45)
    claim2 = _claimed(pg, pack)
    assert claim2.attempt == 2
    assert operations.interrupt_run(pg, claim2, reason="shutdown")
    runs = provisioning_runs.list_for_version(pg, pack.share_pack_id, pack.version)
    assert [(r.outcome, r.error_code) for r in runs] == [
        ("RETRY", "upstream_unavailable"),
        ("INTERRUPTED", "interrupted"),
    ]
    assert (
        operations.last_error_text(pg, pack.share_pack_id, pack.version) == "interrupted: shutdown"
    )
    assert _transitions(pg, pack)[-1] == ("IN_PROGRESS", "QUEUED")


def test_record_closed_many_inserts_every_step_in_order_like_record_closed(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    pack = store_pack()
    claim = _claimed(pg, pack)
    provisioning_steps.record_closed(
        pg,
        run_id=claim.run_id,
        seq=1,
        step_key="recipient:r",
        resource_type="recipient",
        resource_name="r",
        action="noop",
        outcome="NOOP",
        databricks_ids={"recipient": "r"},
        detail={"unchanged": True},
    )
    provisioning_steps.record_closed_many(
        pg,
        [
            provisioning_steps.ClosedStep(
                run_id=claim.run_id,
                seq=seq,
                step_key=f"share:s{seq}",
                resource_type="share",
                resource_name=f"s{seq}",
                action="noop",
                outcome="NOOP",
                databricks_ids={"share": f"s{seq}"} if seq == 2 else None,
            )
            for seq in (2, 3)
        ],
    )

    steps = provisioning_steps.list_for_run(pg, claim.run_id)

    assert [(s.seq, s.step_key, s.outcome, s.action) for s in steps] == [
        (1, "recipient:r", "NOOP", "noop"),
        (2, "share:s2", "NOOP", "noop"),
        (3, "share:s3", "NOOP", "noop"),
    ]
    assert steps[1].step_id < steps[2].step_id
    assert [s.databricks_ids for s in steps] == [{"recipient": "r"}, {"share": "s2"}, None]
    assert all(s.started_at is not None and s.ended_at is not None for s in steps)
    assert provisioning_steps.counts(pg, claim.run_id)["noop"] == 3
    with pytest.raises(ValueError, match="running step"):
        provisioning_steps.record_closed_many(
            pg,
            [
                provisioning_steps.ClosedStep(
                    run_id=claim.run_id,
                    seq=4,
                    step_key="share:s4",
                    resource_type="share",
                    resource_name="s4",
                    action="create",
                    outcome="RUNNING",
                )
            ],
        )


def test_create_intents_and_version_actions(
    pg: DictConnection, store_pack: Callable[..., StoredPack]
) -> None:
    pack = store_pack()
    claim = _claimed(pg, pack)
    dead_step = provisioning_steps.start(
        pg,
        run_id=claim.run_id,
        seq=3,
        step_key="pipeline:p",
        resource_type="pipeline",
        resource_name="p",
        action="create",
    )
    done_step = provisioning_steps.start(
        pg,
        run_id=claim.run_id,
        seq=1,
        step_key="recipient:r",
        resource_type="recipient",
        resource_name="r",
        action="create",
    )
    provisioning_steps.close(pg, done_step, outcome="SUCCEEDED")
    provisioning_steps.record_closed(
        pg,
        run_id=claim.run_id,
        seq=2,
        step_key="share:s",
        resource_type="share",
        resource_name="s",
        action="noop",
        outcome="NOOP",
    )
    intents = provisioning_steps.find_unresolved_create_intents(
        pg,
        share_pack_id=pack.share_pack_id,
        workspace_url="https://adb-1.1.azuredatabricks.net",
        resource_type="pipeline",
        resource_name="p",
    )
    assert [(i.step_id, i.run_id, i.version) for i in intents] == [
        (dead_step, claim.run_id, pack.version)
    ]
    assert (
        provisioning_steps.find_unresolved_create_intents(
            pg,
            share_pack_id=pack.share_pack_id,
            workspace_url="https://adb-1.1.azuredatabricks.net",
            resource_type="recipient",
            resource_name="r",
        )
        == []
    )
    assert (
        provisioning_steps.find_unresolved_create_intents(
            pg,
            share_pack_id=pack.share_pack_id,
            workspace_url="https://other.azuredatabricks.net",
            resource_type="pipeline",
            resource_name="p",
        )
        == []
    )
    assert provisioning_steps.counts(pg, claim.run_id) == {
        "total": 3,
        "succeeded": 1,
        "noop": 1,
        "failed": 0,
        "skipped": 0,
    }
    key = version_actions.rotate_token_key("acme")
    first = version_actions.record_intent(
        pg,
        share_pack_id=pack.share_pack_id,
        version=pack.version,
        action_key=key,
        run_id=claim.run_id,
    )
    second = version_actions.record_intent(
        pg,
        share_pack_id=pack.share_pack_id,
        version=pack.version,
        action_key=key,
        run_id=uuid.uuid4(),
    )
    assert second.intent_at == first.intent_at
    assert second.run_id == claim.run_id
    assert version_actions.mark_done(
        pg,
        share_pack_id=pack.share_pack_id,
        version=pack.version,
        action_key=key,
        result={"outcome": "rotated", "token_id": "t2"},
        run_id=claim.run_id,
    )
    assert not version_actions.mark_done(
        pg,
        share_pack_id=pack.share_pack_id,
        version=pack.version,
        action_key=key,
        result={"outcome": "already_rotated"},
        run_id=claim.run_id,
    )
    stored = version_actions.get(pg, pack.share_pack_id, pack.version, key)
    assert stored is not None
    assert stored.result == {"outcome": "rotated", "token_id": "t2"}


def test_pipeline_record_keeps_key_order_and_sorts_sets(pg: DictConnection) -> None:
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    record = PipelineRecord(
        workspace_url=workspace,
        pipeline_name="Sales_PL",
        share_name="Sales",
        created_by_pack=True,
        source_table="c.s.t",
        target_catalog="c",
        target_schema="s",
        target_table="t",
        scd_type="2",
        serverless=True,
        continuous=False,
        library_path="/lib.py",
        key_columns=["id", "day"],
        notifications=["b@x.com", "a@x.com"],
        tags={"team": "x"},
        schedule_job_id=12,
        cron="0 0 * * * ?",
    )
    first = pipelines.record(pg, record, changed_by="w")
    reordered = pipelines.record(pg, PipelineRecord.from_row(first.row), changed_by="w")
    assert not reordered.changed
    assert first.row["pipeline_key"] == "sales_pl"
    assert first.row["pipeline_name"] == "Sales_PL"
    assert first.row["key_columns"] == ["id", "day"]
    assert first.row["notifications"] == ["a@x.com", "b@x.com"]
    assert [
        r.pipeline_key
        for r in pipelines.list_current(pg, workspace_url=workspace, share_name="SALES")
    ] == ["sales_pl"]


def test_access_as_of_reads_the_share_rows_valid_at_the_instant(pg: DictConnection) -> None:
    """docs/API.md §16.2: half-open validity, deleted shares and deleted recipients left out, one workspace."""
    workspace = f"https://adb-{uuid.uuid4().hex[:6]}.azuredatabricks.net"
    pack_id = uuid.uuid4()
    orders = {"name": "main.sales.orders", "type": "TABLE", "shared_as": "sales.orders"}

    def share(name: str, readers: list[str], url: str = workspace) -> scd2.Scd2Result:
        record = ShareRecord(
            workspace_url=url,
            share_name=name,
            created_by_pack=True,
            share_pack_id=pack_id,
            assets=[orders],
            recipients=readers,
        )
        return shares.record(pg, record, changed_by="w")

    first = share("Sales", ["acme", "BETA"])
    share("sales", ["other"], url=f"{workspace}.other")  # another workspace: never in the answer
    beta = RecipientRecord(
        workspace_url=workspace, recipient_name="beta", recipient_type="D2O", created_by_pack=True
    )
    recipients.record(pg, beta, changed_by="w")
    beta_gone = recipients.soft_delete(pg, workspace, "beta", changed_by="w")
    assert beta_gone is not None
    second = share("sales", ["acme"])
    dropped = share("old", ["acme"])
    dropped_gone = shares.soft_delete(pg, workspace, "old", changed_by="w")
    assert dropped_gone is not None

    def readers(at: datetime) -> dict[str, list[str]]:
        return {s.share_name: s.readers for s in views.access_as_of(pg, workspace, at).shares}

    tick = timedelta(microseconds=1)
    assert readers(first.at - tick) == {}
    assert readers(first.at) == {"sales": ["acme", "beta"]}  # effective_from is inclusive
    assert readers(beta_gone.at - tick) == {"sales": ["acme", "beta"]}
    assert readers(beta_gone.at) == {"sales": ["acme"]}  # a deleted recipient reads nothing
    assert readers(dropped.at) == {"old": ["acme"], "sales": ["acme"]}
    assert readers(dropped_gone.at) == {
        "sales": ["acme"]
    }  # effective_to is exclusive; deleted rows skipped
    latest = views.access_as_of(pg, workspace, second.at)
    assert latest.recorded_since == first.at
    assert [(s.share_name, s.share_pack_id, s.assets) for s in latest.shares] == [
        ("sales", pack_id, [orders])
    ]
    nothing = views.access_as_of(pg, f"{workspace}.none", second.at)
    assert (nothing.recorded_since, nothing.shares) == (None, [])


def test_audit_values_are_redacted(pg: DictConnection) -> None:
    audit_id = audit_trail.record(
        pg,
        AuditEntry(
            actor_id="u-1",
            actor_kind="user",
            source="api",
            action="recipient.create",
            entity_type="recipient",
            entity_key="acme",
            outcome="succeeded",
            new_values={
                "name": "acme",
                "activation_link": "https://x/retrieve?token=abc",
                "tokens": [{"token": "t"}],
            },
        ),
    )
    rows = audit_trail.list_for_entity(pg, "recipient", "acme")
    stored = next(r for r in rows if r.audit_id == audit_id)
    assert stored.new_values == {
        "name": "acme",
        "activation_link": "[redacted]",
        "tokens": [{"token": "[redacted]"}],
    }
    assert "abc" not in str(stored)


def test_status_view_list_and_history(pg_pool: Pool) -> None:
    requester = f"user-{uuid.uuid4().hex[:6]}"
    key = f"retail/{uuid.uuid4().hex[:8]}/jane.doe@example.com"
    meta = {"approver": ["john@example.com"]}
    a1 = store_pack_version(
        pg_pool, pack_input(pack_key=key, config={"metadata": meta, "n": 1}, requested_by=requester)
    )
    others = [
        store_pack_version(pg_pool, pack_input(requested_by=requester, approver_status="pending"))
        for _ in range(4)
    ]
    a2 = store_pack_version(
        pg_pool, pack_input(pack_key=key, config={"metadata": meta, "n": 2}, requested_by=requester)
    )
    with pg_pool.connection() as conn, conn.transaction():
        claim = operations.claim_version(
            conn, a2.share_pack_id, 2, worker_id="w", run_id=uuid.uuid4(), lease_s=60
        ).claim
        assert claim is not None
        provisioning_steps.record_closed(
            conn,
            run_id=claim.run_id,
            seq=1,
            step_key="share:s",
            resource_type="share",
            resource_name="s",
            action="noop",
            outcome="NOOP",
        )
        operations.complete_run(
            conn, claim, figures=RunFigures(summary={"warnings": [{"type": "w1"}]})
        )
    with pg_pool.connection() as conn:
        status = views.status_view(conn, a1.share_pack_id)
        assert views.status_view(conn, uuid.uuid4()) is None
        assert status is not None
        assert status["current_version"] == 2
        assert status["status"] == "COMPLETED"
        assert status["last_completed_version"] == 2
        assert status["governance"] == {
            "approver_status": "approved",
            "approver": ["john@example.com"],
            "servicenow": "RITM0012345",
        }
        assert status["requested_by"] == {"id": requester, "name": "Jane Doe"}
        assert status["latest_run"]["steps"] == {
            "total": 1,
            "succeeded": 0,
            "noop": 1,
            "failed": 0,
            "skipped": 0,
        }
        assert status["warnings"] == [{"type": "w1"}]
        versions = share_packs.list_versions(conn, a1.share_pack_id)
        assert status["created_at"] == versions[0].effective_from

        # Keyset paging by the uploader, newest status change first, 2 per page.
        seen: list[uuid.UUID] = []
        cursor = None
        while True:
            page = views.list_status_views(
                conn, requested_by=requester.upper(), limit=2, cursor=cursor
            )
            seen.extend(item["share_pack_id"] for item in page.items)
            assert all("steps" not in (item["latest_run"] or {}) for item in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert len(seen) == 5
        assert len(set(seen)) == 5
        assert seen[0] == a1.share_pack_id  # its last status change is the newest
        assert seen[1:] == [o.share_pack_id for o in reversed(others)]
        pending = views.list_status_views(
            conn, requested_by=requester, statuses=["PENDING_APPROVAL"]
        )
        assert {i["share_pack_id"] for i in pending.items} == {o.share_pack_id for o in others}
        late = views.list_status_views(conn, requested_by=requester, since=status["updated_at"])
        assert [i["share_pack_id"] for i in late.items] == [a1.share_pack_id]
        with pytest.raises(ValidationFailed) as raised:
            views.list_status_views(conn, cursor="not-a-cursor")
        assert raised.value.extra["errors"][0]["loc"] == ["query", "cursor"]
        with pytest.raises(ValidationFailed):
            views.list_status_views(conn, limit=501)

        history = views.history_view(conn, a1.share_pack_id, include_config=True)
        assert views.history_view(conn, uuid.uuid4()) is None
    assert history is not None
    assert [v["version"] for v in history["versions"]] == [1, 2]
    v1, v2 = history["versions"]
    assert v1["effective_to"] == v2["effective_from"]
    assert v2["effective_to"] is None
    assert v1["config"] == {"metadata": meta, "n": 1}
    assert [t["to_status"] for t in v1["transitions"]] == [
        "RECEIVED",
        "VALIDATED",
        "QUEUED",
        "SUPERSEDED",
    ]
    assert [t["to_status"] for t in v2["transitions"]][-2:] == ["IN_PROGRESS", "COMPLETED"]
    assert v1["runs"] == []
    assert [s["step_key"] for s in v2["runs"][0]["steps"]] == ["share:s"]


def test_now_is_after_versions(pg: DictConnection) -> None:
    assert scd2.clock(pg) <= datetime.now(UTC) + timedelta(seconds=5)

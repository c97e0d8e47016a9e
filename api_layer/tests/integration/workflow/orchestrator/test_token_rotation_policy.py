"""Token rotation policies applied by the sweep against real PostgreSQL and the emulator (docs/WORKFLOW.md §9.6, §10).

The sample pack's D2O recipient `acme_external` has `token_expiry: 90`: its token expires 90 days after the version is
provisioned. A policy with a lead time of 100 days makes it due at once, one of 30 days leaves it alone. The emulator
runs on the real clock (fixtures.orchestrator), so Databricks token times and PostgreSQL times agree.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dbrx_api.main import create_app
from dbrx_api.monitoring import Metrics
from dbrx_api.monitoring.metrics import AlertType, Tags
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.repositories import audit_trail, recipients, token_rotation_claims
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_api.workflow.queue.in_process import InProcessQueue
from dbrx_api.workflow.queue.sweeper import Sweeper, SweepReport
from dbrx_api.workflow.service import get_history
from dbrx_api.workflow.token_rotation import RotationSweepReport, sweep_token_rotations
from dbrx_emulator.testing import Emu
from fixtures.api import api_settings_for
from fixtures.orchestrator import load_yaml, provision, sample_pack, store_yaml, unique_requestor
from fixtures.postgres import StoredPack

pytestmark = pytest.mark.integration

_ACME_TAIL = "    token_rotation: false\n"
DUE = "    token_rotation: {rotate_before_expiry_days: 100, grace_hours: 6}\n"
NOT_DUE = "    token_rotation: {rotate_before_expiry_days: 30, grace_hours: 6}\n"
HOUR = timedelta(hours=1)


def with_policy(url: str, policy: str | None, *, requestor: str = "jane.doe@example.com") -> str:
    """The sample pack whose `acme_external` carries `policy` (None: the one-shot `token_rotation: false`)."""
    text = sample_pack(url, requestor=requestor)
    assert text.count(_ACME_TAIL) == 1
    return text if policy is None else text.replace(_ACME_TAIL, policy)


class RecordingMetrics(Metrics):
    """Keeps every counter increment (name, tags)."""

    def __init__(self) -> None:
        self.counted: list[tuple[str, dict[str, str | int]]] = []
        self.events: list[tuple[str, str, str]] = []

    def increment(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        """Remember the increment."""
        self.counted.append((name, dict(tags or {})))

    def event(
        self, title: str, text: str, *, alert_type: AlertType = "info", tags: Tags | None = None
    ) -> None:
        """Remember the event."""
        self.events.append((alert_type, title, text))


@pytest.fixture
def metrics(orch_ctx: WorkflowContext) -> RecordingMetrics:
    recording = RecordingMetrics()
    orch_ctx.metrics = recording
    return recording


@pytest.fixture
def api(orch_emu: Emu) -> Iterator[TestClient]:
    """The API aimed at the real-clock emulator (the token report reads the workspace live)."""
    app = create_app(api_settings_for(orch_emu.url, orch_emu.token))
    with TestClient(app, headers={"X-Workspace-URL": orch_emu.url}) as client:
        yield client


def provisioned(ctx: WorkflowContext, text: str) -> StoredPack:
    stored = store_yaml(ctx.pool, text)
    assert provision(ctx, stored).outcome.result == "COMPLETED"
    return stored


def live_tokens(emu: Emu, name: str = "acme_external") -> dict[str, datetime]:
    info = emu.workspace_client().recipients.get(name)
    return {
        str(t.id): datetime.fromtimestamp((t.expiration_time or 0) / 1000, UTC)
        for t in info.tokens or []
    }


def in_parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; their results in order (an exception fails the test)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def sweeper(ctx: WorkflowContext, sweeper_id: str) -> Sweeper:
    """A sweeper of its own (its own session-lock connection) running the rotation sweep on `ctx`."""
    return Sweeper(
        pool=ctx.pool,
        queue=InProcessQueue("work"),
        settings=ctx.settings.workflow,
        sweeper_id=sweeper_id,
        rotation_sweep=lambda performer: sweep_token_rotations(ctx, performed_by=performer),
    )


def _row(ctx: WorkflowContext, url: str) -> RecipientRecord:
    with ctx.pool.connection() as conn:
        row = recipients.get_current(conn, url, "acme_external")
    assert row is not None
    return row


def test_two_workers_rotate_a_due_token_exactly_once_and_the_report_shows_both_tokens(
    orch_ctx: WorkflowContext, orch_emu: Emu, metrics: RecordingMetrics, api: TestClient
) -> None:
    url = orch_emu.url
    stored = provisioned(orch_ctx, with_policy(url, DUE))
    row = _row(orch_ctx, url)
    assert row.token_rotation_policy == {"rotate_before_expiry_days": 100, "grace_hours": 6}
    assert row.token_rotated_at is None
    (old_id,) = live_tokens(orch_emu)

    # Two workers whose sweeps overlap (the rotation answers slowly): the sweeper lock lets one lead.
    orch_emu.set_latency(per_operation={"recipients.rotate_token": {"fixed_ms": 400}})
    orch_emu.reset_stats()
    reports: list[SweepReport] = in_parallel(
        sweeper(orch_ctx, "w1").sweep_once, sweeper(orch_ctx, "w2").sweep_once
    )
    assert sorted(r.led for r in reports) == [False, True]
    assert orch_emu.count("recipients.rotate_token") == 1
    assert orch_emu.count("recipients.get") == 1  # one read of the one policy recipient
    (led,) = [r for r in reports if r.led]
    assert isinstance(led.token_rotations, RotationSweepReport)
    assert led.token_rotations.rotated == [f"{url}/acme_external"]

    tokens = live_tokens(orch_emu)
    (new_id,) = set(tokens) - {old_id}
    now = datetime.now(UTC)
    assert abs(tokens[old_id] - (now + 6 * HOUR)) < timedelta(minutes=2)  # the grace
    assert tokens[new_id] > now + timedelta(days=89)

    # The expiring-token report: the new token with its new expiry, the old one ending with the grace.
    report = api.get("/tokens", params={"recipient": "acme_external"})
    assert report.status_code == 200, report.text
    items = {i["token_id"]: i for i in report.json()["items"]}
    assert set(items) == {old_id, new_id}
    assert items[old_id]["days_left"] == pytest.approx(0.25, abs=0.05)
    assert items[new_id]["days_left"] > 89
    assert items[new_id]["activated"] is False
    # The new activation link is available to a writer, live, until the partner activates.
    detail = api.get("/recipients/acme_external", params={"include_activation_link": "true"})
    assert detail.status_code == 200, detail.text
    link = detail.json()["activation_link"]
    assert link

    # Recorded once: claim done, a new recipients version with token_rotated_at, one audit row, one metric.
    with orch_ctx.pool.connection() as conn:
        (claim,) = token_rotation_claims.list_for_recipient(conn, url, "acme_external")
        history = conn.execute(
            "SELECT version, token_rotated_at, change_reason, token_rotation_policy "
            "FROM deltashare.recipients WHERE workspace_url = %s AND recipient_name = 'acme_external' "
            "ORDER BY version",
            (url,),
        ).fetchall()
        audits = [
            a
            for a in audit_trail.list_for_entity(conn, "recipient", "acme_external")
            if a.action == "recipient.rotate_token"
        ]
        stored_text = json.dumps(
            [
                conn.execute("SELECT * FROM deltashare.token_rotation_claims").fetchall(),
                conn.execute("SELECT * FROM deltashare.recipients").fetchall(),
                conn.execute("SELECT * FROM deltashare.audit_trail").fetchall(),
            ],
            default=str,
        )
    assert (claim.token_id, claim.done_at is not None) == (old_id, True)
    assert (claim.result or {})["outcome"] == "rotated"
    assert ((claim.result or {})["token_id"], (claim.result or {})["previous_token_id"]) == (
        new_id,
        old_id,
    )
    assert [h["change_reason"] for h in history] == ["provisioned", "token_rotated"]
    assert history[-1]["token_rotated_at"] is not None
    assert history[-1]["token_rotation_policy"] == history[0]["token_rotation_policy"]
    (audit,) = audits
    assert (audit.actor_kind, audit.source, audit.outcome) == (
        "system",
        "workflow",
        "succeeded",
    )
    assert audit.new_values["token_id"] == new_id
    assert metrics.counted == [("token_rotation.sweep", {"result": "rotated"})]
    ((alert_type, title, text),) = metrics.events
    assert (alert_type, title) == ("success", "DeltaShare rotated a recipient token")
    assert "acme_external" in text
    assert old_id not in text
    assert new_id not in text
    # The pack's history lists the rotation (GET /workflow/sharepack/{id}/history).
    history_view = get_history(orch_ctx, str(stored.share_pack_id), include_config=False)
    (entry,) = history_view.token_rotations
    assert (entry.recipient, entry.outcome, entry.previous_token_id, entry.token_id) == (
        "acme_external",
        "rotated",
        old_id,
        new_id,
    )
    assert entry.performed_by in ("sweeper:w1", "sweeper:w2")
    # The activation link is a secret: nowhere in the database.
    assert link not in stored_text
    assert "retrieve_config" not in stored_text

    # The next sweep: the new token is due at once (lead 100 days > its 90-day life). Rotating it would issue
    # another token due at once, every sweep: refused, said, and no call.
    orch_emu.reset_stats()
    again = sweep_token_rotations(orch_ctx, performed_by="w3")
    assert again.lead_exceeds_lifetime == [f"{url}/acme_external"]
    assert orch_emu.count("recipients.rotate_token") == 0
    assert [event[:2] for event in metrics.events][1] == (
        "warning",
        "DeltaShare will not rotate a recipient token: the policy's lead time is not shorter than the token's life",
    )


def test_a_lead_longer_than_the_token_life_rotates_once_and_then_refuses_instead_of_every_sweep(
    orch_ctx: WorkflowContext, orch_emu: Emu, metrics: RecordingMetrics
) -> None:
    # No grace: the old token ends at the rotation, so only the policy's own token is left to look at.
    url = orch_emu.url
    provisioned(
        orch_ctx,
        with_policy(url, "    token_rotation: {rotate_before_expiry_days: 100, grace_hours: 0}\n"),
    )
    (old_id,) = live_tokens(orch_emu)
    orch_emu.reset_stats()
    first = sweep_token_rotations(orch_ctx, performed_by="w1")
    assert first.rotated == [f"{url}/acme_external"]  # the token from before the policy's rotations
    assert orch_emu.count("recipients.rotate_token") == 1
    for attempt in ("w2", "w3"):
        later = sweep_token_rotations(orch_ctx, performed_by=attempt)
        assert (later.rotated, later.lead_exceeds_lifetime) == ([], [f"{url}/acme_external"])
    assert orch_emu.count("recipients.rotate_token") == 1
    (new_id,) = {t for t, expires in live_tokens(orch_emu).items() if expires > datetime.now(UTC)}
    assert new_id != old_id
    assert [m for m in metrics.counted if m[1]["result"] == "lead_exceeds_lifetime"] == [
        ("token_rotation.sweep", {"result": "lead_exceeds_lifetime"})
    ] * 2


def test_the_claim_alone_keeps_concurrent_sweeps_to_one_rotation(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    """Without the sweeper lock (two processes both believing they lead): the PostgreSQL claim decides."""
    url = orch_emu.url
    provisioned(orch_ctx, with_policy(url, DUE))
    orch_emu.set_latency(per_operation={"recipients.rotate_token": {"fixed_ms": 400}})
    orch_emu.reset_stats()
    first, second = in_parallel(
        lambda: sweep_token_rotations(orch_ctx, performed_by="p1"),
        lambda: sweep_token_rotations(orch_ctx, performed_by="p2"),
    )
    assert orch_emu.count("recipients.rotate_token") == 1
    outcomes = sorted(
        (
            "rotated"
            if r.rotated
            else "claimed_elsewhere"
            if r.claimed_elsewhere
            else "blocked"
            if r.blocked
            else "other"
        )
        for r in (first, second)
    )
    # The loser either lost the claim, or read after the rotation and found two active tokens.
    assert outcomes in (["claimed_elsewhere", "rotated"], ["blocked", "rotated"])
    with orch_ctx.pool.connection() as conn:
        claims = token_rotation_claims.list_for_recipient(conn, url, "acme_external")
        versions = conn.execute(
            "SELECT count(*) AS n FROM deltashare.recipients WHERE workspace_url = %s "
            "AND change_reason = 'token_rotated'",
            (url,),
        ).fetchone()
    (claim,) = claims
    assert claim.done_at is not None
    assert versions is not None
    assert versions["n"] == 1


def test_not_due_makes_no_call_and_plan_shows_the_upcoming_rotation(
    orch_ctx: WorkflowContext, orch_emu: Emu, metrics: RecordingMetrics
) -> None:
    url = orch_emu.url
    text = with_policy(url, NOT_DUE)
    provisioned(orch_ctx, text)
    (token_id,) = live_tokens(orch_emu)
    expires = live_tokens(orch_emu)[token_id]

    orch_emu.reset_stats()
    report = sweep_token_rotations(orch_ctx, performed_by="w1")
    assert (report.checked, report.not_due, report.rotated) == (1, [f"{url}/acme_external"], [])
    assert orch_emu.count("recipients.get") == 1
    assert orch_emu.mutating_total() == 0
    assert metrics.counted == []

    # The sweeper runs the rotation sweep at most every token_rotation_sweep_interval_s (per instance); 0 is off.
    one = sweeper(orch_ctx, "w1")
    orch_emu.reset_stats()
    assert one.sweep_once().token_rotations is not None
    assert one.sweep_once().token_rotations is None  # inside the interval (default one hour)
    assert orch_emu.count("recipients.get") == 1
    off = sweeper(orch_ctx, "w2")
    off.settings = off.settings.model_copy(update={"token_rotation_sweep_interval_s": 0})
    assert off.sweep_once().token_rotations is None

    plan = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()
    (upcoming,) = plan["token_rotations"]
    assert upcoming["recipient"] == "acme_external"
    assert upcoming["token_id"] == token_id
    assert upcoming["policy"] == {"rotate_before_expiry_days": 30, "grace_hours": 6}
    assert upcoming["lead_exceeds_lifetime"] is False  # 30 days before the end of a 90-day token
    assert (upcoming["due"], upcoming["blocked"]) == (False, False)
    expires_at = datetime.fromisoformat(upcoming["expires_at"])
    rotate_at = datetime.fromisoformat(upcoming["rotate_at"])
    assert abs(expires_at - expires) < timedelta(seconds=1)
    assert rotate_at == expires_at - timedelta(days=30)
    # The plan of a due policy says so.
    due_plan = plan_pack(orch_ctx, load_yaml(with_policy(url, DUE)), principal_id="u").body()
    assert [(u["token_id"], u["due"]) for u in due_plan["token_rotations"]] == [(token_id, True)]


def test_no_policy_or_d2d_is_ignored(orch_ctx: WorkflowContext, orch_emu: Emu) -> None:
    url = orch_emu.url
    provisioned(
        orch_ctx, with_policy(url, None)
    )  # acme_external: one-shot false; partner_analytics: D2D
    orch_emu.reset_stats()
    report = sweep_token_rotations(orch_ctx, performed_by="w1")
    assert report.checked == 0
    assert orch_emu.count("recipients.get") == 0
    assert orch_emu.mutating_total() == 0
    plan = plan_pack(orch_ctx, load_yaml(with_policy(url, None)), principal_id="u").body()
    assert plan["token_rotations"] == []


def test_a_crashed_claimer_is_taken_over_and_its_done_rotation_is_recorded_without_a_call(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    url = orch_emu.url
    provisioned(orch_ctx, with_policy(url, DUE, requestor=unique_requestor()))
    (old_id,) = live_tokens(orch_emu)

    # A worker claimed the token and died before calling Databricks: its lease expires, the next sweep rotates.
    with orch_ctx.pool.connection() as conn:
        taken = token_rotation_claims.claim(
            conn,
            workspace_url=url,
            recipient_name="acme_external",
            token_id=old_id,
            share_pack_id=None,
            token_expires_at=None,
            claimed_by="dead-worker",
            lease_s=0,
        )
    assert taken is not None
    time.sleep(0.05)
    orch_emu.reset_stats()
    report = sweep_token_rotations(orch_ctx, performed_by="w1")
    assert report.rotated == [f"{url}/acme_external"]
    assert orch_emu.count("recipients.rotate_token") == 1
    with orch_ctx.pool.connection() as conn:
        (claim,) = token_rotation_claims.list_for_recipient(conn, url, "acme_external")
    assert (claim.attempts, claim.claimed_by, (claim.result or {})["outcome"]) == (
        2,
        "w1",
        "rotated",
    )


def test_a_rotation_whose_answer_was_lost_is_recorded_by_the_next_sweep_without_a_second_call(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    url = orch_emu.url
    provisioned(orch_ctx, with_policy(url, NOT_DUE.replace("30", "100")))
    (old_id,) = live_tokens(orch_emu)
    # Databricks rotates, the answer never arrives (sent once: the SDK does not replay it).
    orch_emu.add_fault(operation="recipients.rotate_token", kind="applied_response_lost", times=1)
    orch_emu.reset_stats()
    first = sweep_token_rotations(orch_ctx, performed_by="w1")
    assert first.failed == [f"{url}/acme_external"]
    assert orch_emu.count("recipients.rotate_token") == 1
    assert len(live_tokens(orch_emu)) == 2  # it did rotate

    # The failed claimer gave its lease up; the next sweep finds the token created after the claim: no call.
    orch_emu.reset_stats()
    second = sweep_token_rotations(orch_ctx, performed_by="w2")
    assert second.already_rotated == [f"{url}/acme_external"]
    assert orch_emu.count("recipients.rotate_token") == 0
    with orch_ctx.pool.connection() as conn:
        (claim,) = token_rotation_claims.list_for_recipient(conn, url, "acme_external")
    assert claim.token_id == old_id
    assert (claim.result or {})["outcome"] == "already_rotated"
    assert _row(orch_ctx, url).token_rotated_at is not None

"""One managing pack per resource, and adopted resources released (or, with destroy_adopted, removed) by their
pack's DELETE (docs/WORKFLOW.md §9.8, docs/WORKFLOW.md §9.10): real PostgreSQL, the emulator and the real SDK."""

from __future__ import annotations

import pytest
from databricks.sdk.service.sharing import AuthenticationType, IpAccessList

from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.connection import Pool
from dbrx_api.workflow.db.repositories import audit_trail, provisioning_steps, recipients, shares
from dbrx_api.workflow.db.repositories.audit_trail import StoredAudit
from dbrx_api.workflow.db.repositories.provisioning_steps import StepRecord
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.models.errors import SharePackInvalid
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import (
    RunReport,
    load_yaml,
    provision,
    requeue,
    store_yaml,
    unique_requestor,
    views_pack,
)
from fixtures.postgres import StoredPack

pytestmark = pytest.mark.integration


def _delete_views_pack(
    url: str, *, requestor: str, recipient: str, share: str, destroy_adopted: bool = False
) -> str:
    metadata = views_pack(url, {share: ["main.sales.v_orders"]}, requestor=requestor)
    metadata = metadata.split("\nrecipient:")[0].replace("strategy: UPDATE", "strategy: DELETE")
    if destroy_adopted:
        metadata = metadata.replace("\n  servicenow:", "\n  destroy_adopted: true\n  servicenow:")
    return metadata + f"\nrecipient: [{recipient}]\nshare:\n  - {share}\n"


def _store_as_admin(pool: Pool, text: str) -> StoredPack:
    """Store a version uploaded by an admin (a DELETE runs without waiting for an approver)."""
    return store_yaml(pool, text, actor="admin-1")


def _one_share_pack(url: str, share: str, recipient: str) -> str:
    """A pack of its own requestor sharing one view with one recipient."""
    return views_pack(
        url, {share: ["main.sales.v_orders"]}, recipients=(recipient,), requestor=unique_requestor()
    )


def _provisioned(ctx: WorkflowContext, url: str, share: str, recipient: str) -> StoredPack:
    """`_one_share_pack` stored by an admin and provisioned."""
    stored = _store_as_admin(ctx.pool, _one_share_pack(url, share, recipient))
    assert provision(ctx, stored).outcome.result == "COMPLETED"
    return stored


def _after_refusal(
    ctx: WorkflowContext, url: str, recipient: str, report: RunReport, pack: StoredPack
) -> tuple[RecipientRecord | None, list[StepRecord], list[StoredAudit]]:
    """What a refused run left: the recipient's record, the run's steps and the pack's failed audit rows."""
    with ctx.pool.connection() as conn:
        return (
            recipients.get_current(conn, url, recipient),
            provisioning_steps.list_for_run(conn, report.claim.run_id),
            [
                a
                for a in audit_trail.list_for_pack(conn, pack.share_pack_id)
                if a.outcome == "failed"
            ],
        )


@pytest.mark.parametrize("destroy_adopted", [False, True])
def test_delete_releases_what_the_pack_adopted_unless_told_to_destroy_it(
    orch_ctx: WorkflowContext, orch_emu: Emu, destroy_adopted: bool
) -> None:
    ws = orch_emu.workspace_client()
    # Live before any pack: a bearer-token recipient and a share, managed by nobody.
    ws.recipients.create(
        "adopted_partner",
        AuthenticationType.TOKEN,
        comment="created by hand",
        ip_access_list=IpAccessList(allowed_ip_addresses=["192.0.2.0/24"]),
    )
    ws.shares.create("adopted_share", comment="created by hand")
    requestor = unique_requestor()
    text = views_pack(
        orch_emu.url,
        {"adopted_share": ["main.sales.v_orders"]},
        recipients=("adopted_partner",),
        requestor=requestor,
    )

    # The plan shows the take-over as `adopt`.
    changes = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()["changes"]
    adopt = {(c["resource_type"], c["name"]) for c in changes if c["action"] == "adopt"}
    assert {("recipient", "adopted_partner"), ("share", "adopted_share")} <= adopt

    stored = _store_as_admin(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    with orch_ctx.pool.connection() as conn:
        recipient_row = recipients.get_current(conn, orch_emu.url, "adopted_partner")
        share_row = shares.get_current(conn, orch_emu.url, "adopted_share")
    for row in (recipient_row, share_row):
        assert row is not None
        assert row.share_pack_id == stored.share_pack_id
        assert row.created_by_pack is False
        assert row.change_reason == "adopted"

    for row in (recipient_row, share_row):
        assert row is not None
        assert row.adopted is True

    deletion = _store_as_admin(
        orch_ctx.pool,
        _delete_views_pack(
            orch_emu.url,
            requestor=requestor,
            recipient="adopted_partner",
            share="adopted_share",
            destroy_adopted=destroy_adopted,
        ),
    )
    assert deletion.share_pack_id == stored.share_pack_id
    orch_emu.reset_stats()
    report = provision(orch_ctx, deletion)

    assert report.outcome.result == "COMPLETED", report.outcome
    live_shares = {s.name for s in ws.shares.list_shares()}
    live_recipients = {r.name for r in ws.recipients.list()}
    if destroy_adopted:
        assert "adopted_share" not in live_shares
        assert "adopted_partner" not in live_recipients
    else:
        # Released: left in place, untouched, managed by nobody.
        assert orch_emu.mutating_total() == 0
        assert "adopted_share" in live_shares
        assert "adopted_partner" in live_recipients
    warnings = (report.outcome.summary or {}).get("warnings", [])
    assert not [w for w in warnings if w["type"] == "delete_not_recorded"]
    with orch_ctx.pool.connection() as conn:
        assert recipients.list_current(conn, share_pack_id=stored.share_pack_id) == []
        assert shares.list_current(conn, share_pack_id=stored.share_pack_id) == []
        gone = recipients.get_current(conn, orch_emu.url, "adopted_partner", include_deleted=True)
    assert gone is not None
    assert gone.is_deleted is True
    assert gone.change_reason == ("deleted" if destroy_adopted else "released")
    # A re-run finds the rows closed and makes no call.
    if not destroy_adopted:
        requeue(orch_ctx.pool, deletion)
        again = provision(orch_ctx, deletion)
        assert again.outcome.result == "COMPLETED"
        assert orch_emu.mutating_total() == 0


def test_pack_declaring_another_packs_resources_is_rejected_before_storing(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    first = _provisioned(orch_ctx, orch_emu.url, "first_share", "first_partner")
    second_text = _one_share_pack(orch_emu.url, "first_share", "first_partner")

    with pytest.raises(SharePackInvalid) as raised:
        plan_pack(orch_ctx, load_yaml(second_text), principal_id="user-2")

    issues = raised.value.issues
    assert [(i.type, i.loc) for i in issues] == [
        ("resource_managed_by_other_pack", "recipient[0]"),
        ("resource_managed_by_other_pack", "share[0]"),
    ]
    assert all(i.line is not None for i in issues)
    assert all(str(first.share_pack_id) in i.msg for i in issues)
    # Offline validation reads no database and still passes.
    offline = plan_pack(orch_ctx, load_yaml(second_text), principal_id="user-2", offline=True)
    assert offline.valid is True


def test_worker_refuses_to_take_over_another_packs_resource(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    first = _provisioned(orch_ctx, orch_emu.url, "race_share", "race_partner")
    # A second pack stored past validation (two uploads raced) declares the same recipient.
    second = _store_as_admin(
        orch_ctx.pool, _one_share_pack(orch_emu.url, "race_share_two", "race_partner")
    )
    orch_emu.reset_stats()

    report = provision(orch_ctx, second)

    assert report.outcome.result == "FAILED", report.outcome
    assert report.outcome.error_code == "resource_managed_by_other_pack"
    assert str(first.share_pack_id) in (report.outcome.error_message or "")
    assert orch_emu.count("recipients.update") == 0
    row, steps, failed_audit = _after_refusal(
        orch_ctx, orch_emu.url, "race_partner", report, second
    )
    assert row is not None
    assert row.share_pack_id == first.share_pack_id
    failed = {s.step_key: s.error_code for s in steps if s.outcome == "FAILED"}
    assert failed == {"recipient:race_partner": "resource_managed_by_other_pack"}
    assert all(a.entity_key == "race_partner" for a in failed_audit)


def test_worker_refuses_to_update_another_packs_resource_before_any_call(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    first = _provisioned(orch_ctx, orch_emu.url, "race_update_share", "race_update_partner")
    # A second pack stored past validation declares the same recipient with another IP list: an update, whose
    # re-read of the record happens with its intent, before the call.
    second = _store_as_admin(
        orch_ctx.pool,
        _one_share_pack(orch_emu.url, "race_update_share_two", "race_update_partner").replace(
            "192.0.2.0/24", "198.51.100.0/24"
        ),
    )
    orch_emu.reset_stats()

    report = provision(orch_ctx, second)

    assert report.outcome.result == "FAILED", report.outcome
    assert report.outcome.error_code == "resource_managed_by_other_pack"
    assert orch_emu.count("recipients.update") == 0
    row, steps, failed_audit = _after_refusal(
        orch_ctx, orch_emu.url, "race_update_partner", report, second
    )
    assert row is not None
    assert row.share_pack_id == first.share_pack_id
    assert list(row.ip_access_list) == ["192.0.2.0/24"]
    failed = {s.step_key: (s.action, s.error_code) for s in steps if s.outcome == "FAILED"}
    assert failed == {"recipient:race_update_partner": ("update", "resource_managed_by_other_pack")}
    assert [a.entity_key for a in failed_audit] == ["race_update_partner"]

"""Recipient properties managed by a pack against the emulator (docs/SHAREPACK.md §5.1, docs/WORKFLOW.md §9.3, §11).

Set on create, changed and removed with the one `recipients.update` of the recipient, nothing sent on a re-run,
recorded in the SCD2 row, a hand change reported by drift; a recipient whose pack has no `properties` is left alone.
"""

from __future__ import annotations

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import SecurablePropertiesKvPairs

from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.repositories import recipients
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.orchestrator.drift import detect_drift
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import (
    load_yaml,
    provision,
    requeue,
    sample_pack,
    store_yaml,
)

pytestmark = pytest.mark.integration

_ACME_TAIL = "    token_rotation: false\n"


def with_acme_properties(url: str, block: str) -> str:
    """The sample pack whose D2O recipient acme_external declares `block` (YAML lines under `properties:`)."""
    text = sample_pack(url)
    assert text.count(_ACME_TAIL) == 1
    return text.replace(_ACME_TAIL, _ACME_TAIL + block)


FIRST = "    properties:\n      country: DE\n      tier: gold\n      region: emea\n"
SECOND = (
    "    properties: {country: DE, tier: platinum, sla: 99.9}\n"  # tier changed, region removed
)
EMPTY = "    properties: {}\n"


def live_properties(ws: WorkspaceClient, name: str) -> dict[str, str]:
    info = ws.recipients.get(name)
    return dict(info.properties_kvpairs.properties or {}) if info.properties_kvpairs else {}


def recorded(ctx: WorkflowContext, url: str, name: str) -> RecipientRecord:
    with ctx.pool.connection() as conn:
        (row,) = recipients.list_current(conn, workspace_url=url, names=[name])
    return row


def test_properties_set_changed_removed_recorded_and_drift_checked(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    url = orch_emu.url
    ws = orch_emu.workspace_client()

    # 1. Created with its properties, in the create call itself.
    first = store_yaml(orch_ctx.pool, with_acme_properties(url, FIRST))
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    assert live_properties(ws, "acme_external") == {
        "country": "DE",
        "region": "emea",
        "tier": "gold",
    }
    assert orch_emu.count("recipients.update") == 0
    assert recorded(orch_ctx, url, "acme_external").properties == {
        "country": "DE",
        "region": "emea",
        "tier": "gold",
    }
    # the recipient without `properties` records none: not managed
    assert recorded(orch_ctx, url, "partner_analytics").properties is None

    # 2. The plan of the next version shows the one change; applying it sends exactly one update.
    changed = with_acme_properties(url, SECOND)
    orch_emu.reset_stats()
    plan = plan_pack(orch_ctx, load_yaml(changed), principal_id="user-1").body()
    assert orch_emu.mutating_total() == 0
    (acme,) = [c for c in plan["changes"] if c["name"] == "acme_external"]
    assert acme["diff"] == {
        "properties": {"set": {"sla": "99.9", "tier": "platinum"}, "remove": ["region"]}
    }
    # Removing a property can take rows away from a recipient's partition filters: destructive (docs/GOVERNANCE.md §1.3).
    assert plan["approval"]["destructive_changes"] == [
        "remove region from properties of recipient acme_external"
    ]
    second = store_yaml(orch_ctx.pool, changed)
    orch_emu.reset_stats()
    report = provision(orch_ctx, second)
    assert report.outcome.result == "COMPLETED", report.outcome
    assert orch_emu.mutating_total() == 1
    (update,) = orch_emu.calls("recipients.update")
    assert update["body"] == {
        "properties_kvpairs": {"properties": {"country": "DE", "sla": "99.9", "tier": "platinum"}}
    }
    assert live_properties(ws, "acme_external") == {
        "country": "DE",
        "sla": "99.9",
        "tier": "platinum",
    }
    row = recorded(orch_ctx, url, "acme_external")
    assert (row.version, row.properties) == (
        2,
        {"country": "DE", "sla": "99.9", "tier": "platinum"},
    )

    # 3. A re-run changes nothing.
    requeue(orch_ctx.pool, second)
    orch_emu.reset_stats()
    rerun = provision(orch_ctx, second)
    assert rerun.outcome.result == "COMPLETED"
    assert orch_emu.mutating_total() == 0
    assert recorded(orch_ctx, url, "acme_external").version == 2

    # 4. A hand change is drift; one on a recipient whose pack does not manage properties is not.
    ws.recipients.update(
        "acme_external",
        properties_kvpairs=SecurablePropertiesKvPairs(
            properties={"country": "FR", "tier": "platinum"}
        ),
    )
    ws.recipients.update(
        "partner_analytics",
        properties_kvpairs=SecurablePropertiesKvPairs(properties={"owner": "by-hand"}),
    )
    body = detect_drift(orch_ctx, url).body()
    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    drifted = items[("recipient", "acme_external")]
    assert drifted["state"] == "drifted"
    assert drifted["differences"] == [
        {
            "field": "properties",
            "recorded": {"country": "DE", "sla": "99.9", "tier": "platinum"},
            "live": {"country": "FR", "tier": "platinum"},
        }
    ]
    assert items[("recipient", "partner_analytics")]["state"] == "in_sync"


def test_an_empty_map_removes_every_property_and_built_in_ones_are_ignored(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    url = orch_emu.url
    ws = orch_emu.workspace_client()
    first = store_yaml(orch_ctx.pool, with_acme_properties(url, FIRST))
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    # A built-in `databricks.*` property (which Databricks keeps, and does not list) is no difference.
    ws.recipients.update(
        "acme_external",
        properties_kvpairs=SecurablePropertiesKvPairs(
            properties={
                "country": "DE",
                "region": "emea",
                "tier": "gold",
                "databricks.accountId": "a-1",
            }
        ),
    )
    requeue(orch_ctx.pool, first)
    orch_emu.reset_stats()
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    assert orch_emu.mutating_total() == 0

    emptied = store_yaml(orch_ctx.pool, with_acme_properties(url, EMPTY))
    orch_emu.reset_stats()
    assert provision(orch_ctx, emptied).outcome.result == "COMPLETED"
    (update,) = orch_emu.calls("recipients.update")
    assert update["body"] == {"properties_kvpairs": {}}  # the SDK's form of an empty map
    assert live_properties(ws, "acme_external") == {}
    assert recorded(orch_ctx, url, "acme_external").properties == {}

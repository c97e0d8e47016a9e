"""`plan_pack` against the emulator: exactly the differences, read-only (docs/WORKFLOW.md §10, I2)."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import sql

from dbrx_api.errors import ForbiddenError
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import load_yaml, provision, sample_pack, second_version, store_yaml

pytestmark = pytest.mark.integration


def table_rows(ctx: WorkflowContext) -> dict[str, int]:
    counts: dict[str, int] = {}
    with ctx.pool.connection() as conn:
        for table in (
            "share_packs",
            "pack_version_status",
            "provisioning_runs",
            "recipients",
            "shares",
        ):
            row = conn.execute(
                sql.SQL("SELECT count(*) AS n FROM deltashare.{}").format(sql.Identifier(table))
            ).fetchone()
            assert row is not None
            counts[table] = int(row["n"])
    return counts


def changes_by_key(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["resource_type"], c["name"]): c for c in body["changes"]}


def test_plan_of_a_partly_applied_pack_lists_exactly_the_differences(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, sample_pack(orch_emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    rows = table_rows(orch_ctx)
    orch_emu.reset_stats()

    result = plan_pack(orch_ctx, load_yaml(second_version(orch_emu.url)), principal_id="user-1")

    body = result.body()
    assert body["valid"] is True, body["errors"]
    assert orch_emu.mutating_total() == 0
    assert result.mutating_calls == 0
    assert table_rows(orch_ctx) == rows  # nothing stored
    pack = body["pack"]
    assert pack["share_pack_id"] == str(stored.share_pack_id)
    assert pack["current_version"] == 1
    assert pack["would_create_version"] is True
    assert pack["would_queue"] is True
    changed = {key: c for key, c in changes_by_key(body).items() if c["action"] != "no_op"}
    assert {key: c["action"] for key, c in changed.items()} == {
        ("recipient", "beta_partner"): "create",
        ("token", "acme_external"): "rotate_token",
        ("share_objects", "sales_share"): "update",
        ("share_grants", "finance_share"): "update",
        ("pipeline", "sales_order_items_pl"): "update",
        ("schedule", "sales_orders_pl_schedule"): "update",
        ("schedule", "sales_order_items_pl_schedule"): "create",
    }
    objects = changed[("share_objects", "sales_share")]["diff"]
    assert objects["add"] == []
    assert objects["remove"] == []
    assert objects["update"] == [
        {
            "name": "main.sales.v_orders",
            "fields": {"comment": {"from": "Aggregated view", "to": "Orders per region"}},
        }
    ]
    assert changed[("share_grants", "finance_share")]["diff"] == {
        "add": ["beta_partner"],
        "remove": [],
    }
    assert changed[("pipeline", "sales_order_items_pl")]["diff"] == {
        "continuous": {"from": True, "to": False}
    }
    schedule = changed[("schedule", "sales_orders_pl_schedule")]["diff"]
    assert set(schedule) == {"schedule"}
    assert schedule["schedule"]["to"]["cron"] == "0 30 3 * * ?"
    assert changed[("recipient", "beta_partner")]["after"]["ip_access_list"] == ["192.0.2.0/24"]
    assert body["summary"] == {
        "create": 2,
        "update": 4,
        "delete": 0,
        "no_op": len(body["changes"]) - 7,
        "rotate_token": 1,
        "mutating_calls": 7,
    }
    assert [c["seq"] for c in body["changes"]] == list(range(1, len(body["changes"]) + 1))
    # Applying the version makes exactly the calls the plan announced.
    orch_emu.reset_stats()
    second = store_yaml(orch_ctx.pool, second_version(orch_emu.url))
    assert provision(orch_ctx, second).outcome.result == "COMPLETED"
    assert orch_emu.mutating_total() == body["summary"]["mutating_calls"]


def test_plan_of_the_applied_version_lists_only_no_ops(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    text = sample_pack(orch_emu.url)
    stored = store_yaml(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    orch_emu.reset_stats()

    body = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()

    assert body["valid"] is True
    assert {c["action"] for c in body["changes"]} == {"no_op"}
    assert body["summary"]["mutating_calls"] == 0
    assert body["pack"]["would_create_version"] is False
    assert body["pack"]["would_queue"] is True  # COMPLETED: an identical upload re-runs it
    assert orch_emu.mutating_total() == 0


def test_plan_of_a_new_pack_reports_live_check_failures(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    text = sample_pack(orch_emu.url).replace(
        "main.sales.order_items\n", "main.sales.no_such_table\n"
    )
    text = text.replace(
        "source_asset: main.sales.order_items", "source_asset: main.sales.no_such_table"
    )

    body = plan_pack(orch_ctx, load_yaml(text), principal_id="user-1").body()

    assert body["valid"] is False
    assert {e["type"] for e in body["errors"]} == {"asset_not_found"}
    assert body["pack"]["share_pack_id"] is None
    assert body["pack"]["current_version"] is None
    assert body["changes"] == []
    assert orch_emu.mutating_total() == 0


def test_offline_plan_reads_nothing(orch_ctx: WorkflowContext, orch_emu: Emu) -> None:
    body = plan_pack(
        orch_ctx, load_yaml(sample_pack(orch_emu.url)), principal_id="user-1", offline=True
    ).body()

    assert set(body) == {"valid", "pack", "errors", "warnings"}
    assert orch_emu.stats()["total"] == 0


def test_plan_for_a_workspace_outside_the_allowlist_is_refused(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    text = sample_pack(orch_emu.url).replace(orch_emu.url, "https://adb-9.9.azuredatabricks.net")

    with pytest.raises(ForbiddenError) as caught:
        plan_pack(orch_ctx, load_yaml(text), principal_id="user-1")

    assert caught.value.code == "workspace_not_allowed"
    assert orch_emu.stats()["total"] == 0

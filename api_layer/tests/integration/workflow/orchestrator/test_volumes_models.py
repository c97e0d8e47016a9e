"""A pack sharing a table (with its pipeline), a volume and a registered model, provisioned, re-run, changed,
planned and drift-checked against the emulator (docs/SHAREPACK.md §7, docs/WORKFLOW.md §9, §11)."""

from __future__ import annotations

import pytest
from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.orchestrator.drift import detect_drift
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import (
    SAMPLE_PACK,
    load_yaml,
    provision,
    requeue,
    seed_with_volumes_and_models,
    store_yaml,
)

pytestmark = pytest.mark.integration

TABLE = SharedDataObjectDataObjectType.TABLE
VOLUME = SharedDataObjectDataObjectType.VOLUME
MODEL = SharedDataObjectDataObjectType.MODEL


def ml_pack(url: str, *, volume: bool = True) -> str:
    """One D2O recipient and `ml_share`: a table fed by a pipeline, a volume (unless `volume` is False), a model."""
    text = SAMPLE_PACK.split("\nrecipient:")[0].format(
        url=url, requestor="jane.doe@example.com", org=""
    )
    return text + (
        "\nrecipient:\n"
        "  - name: acme_external\n    type: D2O\n    recipient: data-ops@example.com\n"
        "    recipient_ips: [203.0.113.0/24]\n"
        "\nshare:\n"
        "  - name: ml_share\n"
        "    share_assets:\n"
        "      - main.sales.orders\n"
        + ("      - {name: main.sales.landing, type: VOLUME}\n" if volume else "")
        + "      - {name: main.sales.churn, type: MODEL, comment: Churn scores}\n"
        "    recipients: [acme_external]\n"
        "    delta_share: {ext_catalog_name: share_cat, ext_schema_name: sales_ext, "
        "create_schema_if_missing: true}\n"
        "    pipelines:\n"
        "      - name_prefix: ml_orders_pl\n"
        "        source_asset: main.sales.orders\n"
        '        scd_type: "1"\n'
        "        schedule: continuous\n"
    )


@pytest.fixture
def emu(orch_emu: Emu) -> Emu:
    orch_emu.reset(seed=seed_with_volumes_and_models(), random_seed=0)
    return orch_emu


def _objects(emu: Emu) -> dict[str, SharedDataObject]:
    info = emu.workspace_client().shares.get("ml_share", include_shared_data=True)
    return {obj.name or "": obj for obj in info.objects or []}


def test_table_volume_and_model_are_shared_with_their_types_and_aliases_then_a_rerun_changes_nothing(
    orch_ctx: WorkflowContext, emu: Emu
) -> None:
    stored = store_yaml(orch_ctx.pool, ml_pack(emu.url))

    report = provision(orch_ctx, stored)

    assert report.outcome.result == "COMPLETED", report.outcome
    objects = _objects(emu)
    assert {
        name: (o.data_object_type, o.shared_as, o.string_shared_as) for name, o in objects.items()
    } == {
        "main.sales.orders": (TABLE, "sales.orders", None),
        "main.sales.landing": (VOLUME, None, "sales.landing"),
        "main.sales.churn": (MODEL, None, "sales.churn"),
    }
    assert objects["main.sales.churn"].comment == "Churn scores"
    # Each declared volume / model read once, never as a table; one shares.update adds all three objects.
    assert emu.count("volumes.read") == 1
    assert emu.count("registered_models.get") == 1
    assert [c["path"] for c in emu.calls(operation="tables.get")] == [
        "/api/2.1/unity-catalog/tables/main.sales.orders"
    ]
    (objects_call,) = [c for c in emu.calls(operation="shares.update") if c["body"].get("updates")]
    assert sorted(
        (u["action"], u["data_object"]["name"], u["data_object"]["data_object_type"])
        for u in objects_call["body"]["updates"]
    ) == [
        ("ADD", "main.sales.churn", "MODEL"),
        ("ADD", "main.sales.landing", "VOLUME"),
        ("ADD", "main.sales.orders", "TABLE"),
    ]

    emu.reset_stats()
    requeue(orch_ctx.pool, stored)
    again = provision(orch_ctx, stored)

    assert again.outcome.result == "COMPLETED"
    assert emu.mutating_total() == 0
    assert again.outcome.mutating_calls == 0


def test_removing_the_volume_from_the_declarative_list_is_one_remove(
    orch_ctx: WorkflowContext, emu: Emu
) -> None:
    first = store_yaml(orch_ctx.pool, ml_pack(emu.url))
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    emu.reset_stats()
    without = ml_pack(emu.url, volume=False)

    planned = plan_pack(orch_ctx, load_yaml(without), principal_id="user-1").body()
    changed = {
        (c["resource_type"], c["name"]): c for c in planned["changes"] if c["action"] != "no_op"
    }
    assert set(changed) == {("share_objects", "ml_share")}
    assert changed[("share_objects", "ml_share")]["diff"] == {
        "add": [],
        "remove": ["main.sales.landing"],
        "update": [],
    }
    assert emu.mutating_total() == 0

    report = provision(orch_ctx, store_yaml(orch_ctx.pool, without))

    assert report.outcome.result == "COMPLETED", report.outcome
    assert emu.mutating_total() == 1
    (call,) = emu.calls(method="PATCH")
    assert call["operation"] == "shares.update"
    assert call["body"]["updates"] == [
        {"action": "REMOVE", "data_object": {"name": "main.sales.landing"}}
    ]
    assert set(_objects(emu)) == {"main.sales.orders", "main.sales.churn"}


def test_a_model_removed_by_hand_is_drift(orch_ctx: WorkflowContext, emu: Emu) -> None:
    stored = store_yaml(orch_ctx.pool, ml_pack(emu.url))
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    clean = detect_drift(orch_ctx, emu.url, share_pack_id=stored.share_pack_id).body()
    assert {(i["resource_type"], i["state"]) for i in clean["items"]} >= {("share", "in_sync")}
    emu.workspace_client().shares.update(
        "ml_share",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.REMOVE,
                data_object=SharedDataObject(name="main.sales.churn"),
            )
        ],
    )
    emu.reset_stats()

    body = detect_drift(orch_ctx, emu.url, share_pack_id=stored.share_pack_id).body()

    assert emu.mutating_total() == 0
    items = {(i["resource_type"], i["name"]): i for i in body["items"]}
    share = items[("share", "ml_share")]
    assert share["state"] == "drifted"
    assert share["differences"] == [
        {
            "field": "objects",
            "unexpected_in_workspace": [],
            "missing_in_workspace": ["main.sales.churn"],
        }
    ]

"""Batched live reads (docs/WORKFLOW.md §9.2, §9.7, issue 16 P2) through the real SDK against the emulator.

The tables of a schema where a pack needs several are read with one `tables.list`; pipelines and schedule jobs
without a recorded id are found in one listing of the workspace each. Each test counts the emulator's calls per
operation and, where the outcome matters, compares it with the per-object reads of before (the reader's listing
methods turned off, so that every table is read with `tables.get` and every name with its filtered list).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.orchestrator import live
from dbrx_api.workflow.orchestrator.live import LiveReader
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import D2D_ORG, SAMPLE_PACK, load_yaml, provision, requeue, store_yaml

pytestmark = pytest.mark.integration

SHARES = ("a", "b")
SOURCES = 2  # CDF tables with a scheduled pipeline per share
VIEWS = 4  # views per share
SPARE = 3  # tables of each schema the pack does not name


def batch_seed() -> dict[str, Any]:
    """The `minimal` seed plus `bulk.s_<share>` schemas: CDF tables `t…`, views `v…` and unnamed tables `x…`."""
    from dbrx_emulator.seed import PACKAGED_SEEDS

    seed: dict[str, Any] = yaml.safe_load(PACKAGED_SEEDS["minimal"].read_text(encoding="utf-8"))
    schemas = []
    for share in SHARES:
        tables: list[dict[str, Any]] = [
            {
                "name": f"t{i}",
                "columns": ["id BIGINT NOT NULL", "amount DECIMAL(10,2)"],
                "properties": {"delta.enableChangeDataFeed": "true"},
            }
            for i in range(SOURCES)
        ]
        tables += [
            {
                "name": f"v{i}",
                "table_type": "VIEW",
                "view_definition": "SELECT 1",
                "columns": ["id BIGINT"],
            }
            for i in range(VIEWS)
        ]
        tables += [{"name": f"x{i}", "columns": ["id BIGINT"]} for i in range(SPARE)]
        schemas.append({"name": f"s_{share}", "tables": tables})
    seed["catalogs"].append({"name": "bulk", "schemas": schemas})
    return seed


def batch_pack(url: str, *, extra_assets: tuple[str, ...] = ()) -> str:
    """Two shares over their `bulk` schema (sources, views, and `main.sales.v_orders`: a lone table of its schema),
    two D2O recipients, a scheduled pipeline per source."""
    text = SAMPLE_PACK.split("\nrecipient:")[0].format(
        url=url, requestor="jane.doe@example.com", org=D2D_ORG
    )
    text += "\nrecipient:\n"
    for name in ("r0", "r1"):
        text += f"  - name: {name}\n    type: D2O\n    recipient: ops@example.com\n"
        text += "    recipient_ips: [192.0.2.0/24]\n"
    text += "share:\n"
    for share in SHARES:
        text += (
            f"  - name: batch_{share}\n    recipients: [r0, r1]\n"
            "    delta_share:\n      ext_catalog_name: share_cat\n"
            f"      ext_schema_name: {share}_ext\n      create_schema_if_missing: true\n"
            "    share_assets:\n"
        )
        text += "".join(f"      - bulk.s_{share}.t{i}\n" for i in range(SOURCES))
        text += "".join(
            f"      - {{name: bulk.s_{share}.v{i}, type: VIEW}}\n" for i in range(VIEWS)
        )
        if share == "a":
            text += "      - {name: main.sales.v_orders, type: VIEW}\n"
            text += "".join(f"      - {{name: {name}, type: VIEW}}\n" for name in extra_assets)
        text += "    pipelines:\n"
        for i in range(SOURCES):
            text += (
                f"      - name_prefix: pl_{share}_{i}\n        source_asset: bulk.s_{share}.t{i}\n"
                "        key_columns: id\n"
                '        schedule: {cron: "0 0 2 * * ?", timezone: UTC}\n'
            )
    return text


MUTATING = frozenset(
    {
        "recipients.create",
        "shares.create",
        "shares.update",
        "shares.update_permissions",
        "schemas.create",
        "pipelines.create",
        "jobs.create",
    }
)


def per_object_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reads of before: no listing is planned, every table and name is read on its own."""
    for method in ("list_schema_tables", "list_pipelines_for", "list_jobs_for"):
        monkeypatch.setattr(LiveReader, method, _no_listing)


def _no_listing(*_args: object, **_kwargs: object) -> None:
    """A listing method that plans nothing."""


def reads(emu: Emu) -> dict[str, int]:
    """Read calls per operation of the Databricks objects a pack names."""
    operations: dict[str, dict[str, Any]] = emu.stats()["operations"]
    return {
        op: int(entry["count"])
        for op, entry in operations.items()
        if op not in MUTATING
        and op.split(".")[0]
        in {"recipients", "shares", "catalogs", "schemas", "tables", "pipelines", "jobs"}
    }


def plan_view(body: dict[str, Any]) -> dict[str, Any]:
    """What a plan decides: validity, issues and changes."""
    return {key: body.get(key) for key in ("valid", "errors", "warnings", "changes")}


def test_first_provisioning_reads_per_schema_and_lists_the_workspace_once(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    orch_emu.reset(seed=batch_seed())
    stored = store_yaml(orch_ctx.pool, batch_pack(orch_emu.url))
    orch_emu.reset_stats()

    report = provision(orch_ctx, stored)

    assert report.outcome.result == "COMPLETED", report.outcome
    assert reads(orch_emu) == {
        "recipients.get": 2,
        "shares.get": 2,
        "catalogs.get": 1,
        "schemas.get": 2,
        "tables.list": 2,  # one per bulk schema: asset types and pipeline sources together
        "tables.get": 1,  # main.sales.v_orders, the only table the pack needs in main.sales
        "pipelines.list_pipelines": 1,  # four names, one unfiltered listing
        "jobs.list": 1,
    }
    (pipelines_list,) = orch_emu.calls("pipelines.list_pipelines")
    assert "filter" not in pipelines_list["query"]
    (jobs_list,) = orch_emu.calls("jobs.list")
    assert "name" not in jobs_list["query"]
    assert all("omit_columns" not in call["query"] for call in orch_emu.calls("tables.list"))
    # recipients, shares, objects, grants and schemas: 2 each; pipelines and jobs: 4 each (unchanged by batching)
    assert orch_emu.mutating_total() == report.outcome.mutating_calls == 5 * 2 + 2 * 4
    # What the run built: every object, pipeline and job of the pack.
    client = orch_emu.workspace_client()
    share = client.shares.get("batch_a", include_shared_data=True)
    objects = sorted(
        (o.name or "", o.data_object_type.value if o.data_object_type else "")
        for o in share.objects or []
    )
    assert objects == sorted(
        [(f"bulk.s_a.t{i}", "TABLE") for i in range(SOURCES)]
        + [(f"bulk.s_a.v{i}", "VIEW") for i in range(VIEWS)]
        + [("main.sales.v_orders", "VIEW")]
    )
    names = sorted(p.name or "" for p in client.pipelines.list_pipelines())
    assert names == ["pl_a_0", "pl_a_1", "pl_b_0", "pl_b_1"]
    assert sorted(job.settings.name or "" for job in client.jobs.list() if job.settings) == [
        f"{name}_schedule" for name in names
    ]

    requeue(orch_ctx.pool, stored)
    orch_emu.reset_stats()
    again = provision(orch_ctx, stored)

    assert again.outcome.result == "COMPLETED", again.outcome
    assert again.outcome.mutating_calls == 0
    assert orch_emu.mutating_total() == 0
    # ids recorded: no listing of pipelines or jobs; the two sources of each schema in one listing
    assert reads(orch_emu) == {
        "recipients.get": 2,
        "shares.get": 2,
        "shares.share_permissions": 2,
        "catalogs.get": 1,
        "schemas.get": 2,
        "tables.list": 2,
        "pipelines.get": 4,
        "jobs.get": 4,
    }


def test_plan_with_listings_equals_plan_with_per_object_reads(
    orch_ctx: WorkflowContext, orch_emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    orch_emu.reset(seed=batch_seed())
    loaded = load_yaml(batch_pack(orch_emu.url, extra_assets=("bulk.s_a.nope",)))

    orch_emu.reset_stats()
    batched = plan_pack(orch_ctx, loaded, principal_id="user-1").body()
    batched_reads = reads(orch_emu)
    with monkeypatch.context() as patched:
        per_object_reads(patched)
        orch_emu.reset_stats()
        single = plan_pack(orch_ctx, loaded, principal_id="user-1").body()
        single_reads = reads(orch_emu)

    assert plan_view(batched) == plan_view(single)
    assert batched["valid"] is False
    assert [e["type"] for e in batched["errors"]] == ["asset_not_found"]
    assert "bulk.s_a.nope" in batched["errors"][0]["msg"]
    # The missing table is absent from its schema's listing, then read alone: the same answer as before.
    assert batched_reads["tables.list"] == 2
    assert batched_reads["tables.get"] == 2  # main.sales.v_orders and bulk.s_a.nope
    assert single_reads["tables.get"] == 2 * (SOURCES + VIEWS) + 2
    assert single_reads["pipelines.list_pipelines"] == single_reads["jobs.list"] == 4
    assert batched_reads["pipelines.list_pipelines"] == batched_reads["jobs.list"] == 1
    assert orch_emu.mutating_total() == 0


def test_a_refused_listing_is_the_same_issue_on_every_table_of_its_schema(
    orch_ctx: WorkflowContext, orch_emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    orch_emu.reset(seed=batch_seed())
    loaded = load_yaml(batch_pack(orch_emu.url))
    refusal = {
        "kind": "error",
        "status": 403,
        "error_code": "PERMISSION_DENIED",
        "message": "User does not have USE SCHEMA on the schema.",
    }

    orch_emu.add_fault(operation="tables.list", **refusal)
    batched = plan_pack(orch_ctx, loaded, principal_id="user-1").body()
    orch_emu.clear_faults()
    with monkeypatch.context() as patched:
        per_object_reads(patched)
        orch_emu.add_fault(operation="tables.get", path_regex="/tables/bulk[.]", **refusal)
        single = plan_pack(orch_ctx, loaded, principal_id="user-1").body()
        orch_emu.clear_faults()

    assert plan_view(batched) == plan_view(single)
    assert {e["type"] for e in batched["errors"]} == {"permission_denied"}
    named = {e["msg"].split('"')[1] for e in batched["errors"]}
    assert named == {
        f"bulk.s_{share}.{table}"
        for share in SHARES
        for table in [*(f"t{i}" for i in range(SOURCES)), *(f"v{i}" for i in range(VIEWS))]
    }


def test_table_listings_follow_pages_within_their_budget(
    orch_ctx: WorkflowContext, orch_emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    orch_emu.reset(seed=batch_seed())
    loaded = load_yaml(batch_pack(orch_emu.url))
    expected = plan_view(plan_pack(orch_ctx, loaded, principal_id="user-1").body())
    assert expected["valid"] is True, expected["errors"]

    # Nine tables per schema, two per page: five pages, within the budget of five (six tables needed).
    monkeypatch.setattr(live, "TABLES_PAGE", 2)
    orch_emu.reset_stats()
    paged = plan_pack(orch_ctx, loaded, principal_id="user-1").body()

    assert plan_view(paged) == expected
    listings = orch_emu.calls("tables.list")
    assert len(listings) == 10
    assert {call["query"]["max_results"] for call in listings} == {"2"}
    assert sum(1 for call in listings if call["query"].get("page_token")) == 8
    assert orch_emu.count("tables.get") == 1  # main.sales.v_orders

    # One per page: the listing stops after five pages (t0, t1, v0, v1, v2); v3 is read alone.
    monkeypatch.setattr(live, "TABLES_PAGE", 1)
    orch_emu.reset_stats()
    stopped = plan_pack(orch_ctx, loaded, principal_id="user-1").body()

    assert plan_view(stopped) == expected
    assert orch_emu.count("tables.list") == 10
    gets = sorted(call["path"].rsplit("/", 1)[-1] for call in orch_emu.calls("tables.get"))
    assert gets == ["bulk.s_a.v3", "bulk.s_b.v3", "main.sales.v_orders"]


def test_a_workspace_listing_past_its_budget_gives_way_to_filtered_lists(
    orch_ctx: WorkflowContext, orch_emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    orch_emu.reset(seed=batch_seed())
    loaded = load_yaml(batch_pack(orch_emu.url))
    client = orch_emu.workspace_client()
    for index in range(4):
        client.jobs.create(name=f"other_{index}")
    expected = plan_view(plan_pack(orch_ctx, loaded, principal_id="user-1").body())
    assert expected["valid"] is True, expected["errors"]

    # Four job names: a listing of more than three pages would cost more than four filtered lists.
    monkeypatch.setattr(live, "JOBS_PAGE", 1)
    orch_emu.reset_stats()
    body = plan_pack(orch_ctx, loaded, principal_id="user-1").body()

    assert plan_view(body) == expected
    listed = orch_emu.calls("jobs.list")
    unfiltered = [call for call in listed if "name" not in call["query"]]
    filtered = sorted(call["query"]["name"] for call in listed if "name" in call["query"])
    assert len(unfiltered) == 3
    assert filtered == sorted(f"pl_{s}_{i}_schedule" for s in SHARES for i in range(SOURCES))
    assert orch_emu.count("pipelines.list_pipelines") == 1


def test_tables_of_a_missing_schema_are_missing_after_one_listing(
    orch_ctx: WorkflowContext, orch_emu: Emu, monkeypatch: pytest.MonkeyPatch
) -> None:
    orch_emu.reset(seed=batch_seed())
    loaded = load_yaml(batch_pack(orch_emu.url, extra_assets=("bulk.gone.v0", "bulk.gone.v1")))

    orch_emu.reset_stats()
    batched = plan_pack(orch_ctx, loaded, principal_id="user-1").body()
    listings = [call["query"]["schema_name"] for call in orch_emu.calls("tables.list")]
    gets = orch_emu.count("tables.get")
    with monkeypatch.context() as patched:
        per_object_reads(patched)
        single = plan_pack(orch_ctx, loaded, principal_id="user-1").body()

    assert plan_view(batched) == plan_view(single)
    assert [e["type"] for e in batched["errors"]] == ["asset_not_found", "asset_not_found"]
    assert sorted(listings) == ["gone", "s_a", "s_b"]  # types only for `gone`: no source there
    assert [
        call["query"].get("omit_columns")
        for call in orch_emu.calls("tables.list")
        if call["query"]["schema_name"] == "gone"
    ] == ["true"]
    assert gets == 1  # main.sales.v_orders only: the schema's 404 answers for both of its tables

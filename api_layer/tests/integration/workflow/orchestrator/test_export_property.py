"""The export round trip as a property over generated workspaces (docs/WORKFLOW.md §15, invariant I13).

Each example builds a workspace by hand in the emulator through the real databricks-sdk — shares of views,
materialized views, streaming tables, schemas and (sometimes) a table without a pipeline, with aliases, history,
comments, partitions; pipelines reading a shared table (SCD type, keys, continuous or a cron schedule job,
notification, tags, description); D2D and D2O recipients with comments, IP lists and properties; grants — then: export → fill the
placeholders → plan (only adopt/no-op, no difference, 0 mutating calls) → apply (0 mutating calls) → export again
(the same YAML and the same workbook bytes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    Partition,
    PartitionValue,
    PartitionValueOp,
    PermissionsChange,
    SecurablePropertiesKvPairs,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectHistoryDataSharingStatus,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dbrx_api.jobs.pipelines import spec_arguments
from dbrx_api.settings import Settings
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.export import ExportRequest, export_workspace
from dbrx_api.workflow.models.pack import CronSchedule, DeltaShare, Pipeline, Share
from dbrx_api.workflow.orchestrator.plan import plan_pack
from dbrx_api.workflow.resources.pipeline import desired_pipeline_spec
from dbrx_api.workflow.resources.schedule import desired_job_settings
from dbrx_emulator.testing import Emu
from fixtures.export import filled, no_changes
from fixtures.orchestrator import load_yaml, provision, seed_with_volumes_and_models, store_yaml

pytestmark = pytest.mark.integration

ORGS = (
    "azure:northeurope:1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d",
    "aws:us-east-1:0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b",
)
# Objects of the `minimal` seed (with volumes and models) a pack can share without a pipeline, with their Databricks object type.
OBJECTS = {
    "main.sales.v_orders": "VIEW",
    "main.sales.daily_sales": "MATERIALIZED_VIEW",
    "main.sales.order_events": "STREAMING_TABLE",
    "main.finance": "SCHEMA",
    "main.sales.customers": "TABLE",  # no pipeline: exported with a warning, the share then explicit
    # Of `seed_with_volumes_and_models`: shared by name, a comment their only option (docs/SHAREPACK.md §7.2).
    "main.sales.landing": "VOLUME",
    "main.sales.churn": "MODEL",
}
IPS = ("192.0.2.0/24", "198.51.100.7", "203.0.113.0/25", "2001:db8::/48")


@dataclass
class RecipientSpec:
    name: str
    d2d: bool
    comment: str | None
    ips: list[str]
    properties: dict[str, str]


@dataclass
class ShareSpec:
    name: str
    comment: str | None
    objects: dict[str, dict[str, Any]]
    grants: list[str] = field(default_factory=list)
    pipeline: dict[str, Any] | None = (
        None  # a hand-made pipeline (and schedule job) reading a shared table
    )


# Tables of the seed with change data feed, one per share index: each may be read by a hand-made pipeline.
PIPELINE_SOURCES = ("main.sales.orders", "main.sales.order_items")
KEYS = {"main.sales.orders": ["order_id"], "main.sales.order_items": ["order_id", "line_no"]}


@st.composite
def pipelines(draw: st.DrawFn, source: str) -> dict[str, Any]:
    """A pipeline as a pack would describe it: SCD type, keys, schedule, notification, tags, description."""
    scd_type = draw(st.sampled_from(["1", "2", "full_refresh"]))
    values: dict[str, Any] = {
        "source_asset": source,
        "scd_type": scd_type,
        "serverless": True,
        "schedule": draw(
            st.just("continuous")
            | st.builds(
                lambda cron, zone: {"cron": cron, "timezone": zone},
                st.sampled_from(["0 0 2 * * ?", "0 30 4 ? * 2-6"]),
                st.sampled_from(["UTC", "Europe/London"]),
            )
        ),
    }
    if scd_type != "full_refresh":
        values["key_columns"] = KEYS[source]
    if draw(st.booleans()):
        values["notification"] = ["ops@example.com"]
    if draw(st.booleans()):
        values["tags"] = {"domain": "sales"}
    if draw(st.booleans()) and values["schedule"] != "continuous":
        values["description"] = "hand-made feed"
    return values


@st.composite
def workspaces(draw: st.DrawFn) -> tuple[list[RecipientSpec], list[ShareSpec]]:
    """A small hand-made workspace: up to 3 recipients (at most one D2D per sharing identifier), 1-2 shares."""
    recipients: list[RecipientSpec] = []
    orgs = list(ORGS)
    for index in range(draw(st.integers(0, 3))):
        d2d = bool(orgs) and draw(st.booleans())
        recipients.append(
            RecipientSpec(
                name=f"r{index}",
                d2d=d2d,
                comment=draw(st.none() | st.sampled_from(["partner", "external consumer"])),
                ips=[] if d2d else draw(st.lists(st.sampled_from(IPS), max_size=3, unique=True)),
                properties=draw(
                    st.dictionaries(
                        st.sampled_from(["country", "tier", "region"]),
                        st.sampled_from(["de", "gold", "emea"]),
                        max_size=2,
                    )
                ),
            )
        )
        if d2d:
            orgs.pop(0)
    shares: list[ShareSpec] = []
    for index in range(draw(st.integers(1, 2))):
        names = draw(st.lists(st.sampled_from(sorted(OBJECTS)), max_size=4, unique=True))
        objects: dict[str, dict[str, Any]] = {}
        for name in names:
            options: dict[str, Any] = {}
            kind = OBJECTS[name]
            if kind in ("VIEW", "MATERIALIZED_VIEW", "STREAMING_TABLE"):
                if draw(st.booleans()):
                    options["shared_as"] = f"alias{index}.{name.rsplit('.', 1)[-1]}_v"
                if draw(st.booleans()):
                    options["history"] = True
            if draw(st.booleans()):
                options["comment"] = f"about {name.rsplit('.', 1)[-1]}"
            objects[name] = options
        grants = draw(st.lists(st.sampled_from([r.name for r in recipients] or ["-"]), unique=True))
        pipeline = None
        if draw(st.booleans()):
            source = PIPELINE_SOURCES[index]
            options = {"history": True} if draw(st.booleans()) else {}
            if source == "main.sales.orders" and draw(st.booleans()):
                options["partitions"] = True
            objects[source] = options
            pipeline = draw(pipelines(source))
        shares.append(
            ShareSpec(
                name=f"s{index}",
                comment=draw(st.none() | st.just("hand share")),
                objects=objects,
                grants=[g for g in grants if g != "-"],
                pipeline=pipeline,
            )
        )
    return recipients, shares


def build_pipeline(
    ws: WorkspaceClient, settings: Settings, share: str, name: str, values: dict[str, Any]
) -> None:
    """A pipeline and its schedule job made through the SDK as a pack would make them (docs/WORKFLOW.md §9.5)."""
    pipeline = Pipeline.model_validate(
        {
            **values,
            "name_prefix": name,
            "target_asset": values["source_asset"].rsplit(".", 1)[-1],
            "schedule": values["schedule"]
            if values["schedule"] == "continuous"
            else CronSchedule(**values["schedule"]),
        }
    )
    holder = Share(
        name=share,
        delta_share=DeltaShare(ext_catalog_name="share_cat", ext_schema_name="sales_ext"),
    )
    spec = desired_pipeline_spec(holder, pipeline, defaults=settings.databricks.pipelines)
    created = ws.pipelines.create(allow_duplicate_names=False, **spec_arguments(spec))
    if pipeline.is_continuous:
        return
    job = desired_job_settings(
        holder, pipeline, created.pipeline_id or "", defaults=settings.databricks.schedules
    )
    ws.jobs.create(
        name=job.name,
        tasks=job.tasks,
        schedule=job.schedule,
        max_concurrent_runs=job.max_concurrent_runs,
        email_notifications=job.email_notifications,
        tags=job.tags,
        description=job.description,
    )


def build(
    ws: WorkspaceClient,
    settings: Settings,
    suffix: str,
    recipients: list[RecipientSpec],
    shares: list[ShareSpec],
) -> list[str]:
    """Create the workspace by hand; the names of the shares made."""
    for r in recipients:
        properties = SecurablePropertiesKvPairs(properties=r.properties) if r.properties else None
        if r.d2d:
            ws.recipients.create(
                f"{r.name}_{suffix}",
                AuthenticationType.DATABRICKS,
                data_recipient_global_metastore_id=ORGS[
                    sum(1 for x in recipients[: recipients.index(r)] if x.d2d)
                ],
                comment=r.comment,
                properties_kvpairs=properties,
            )
        else:
            ws.recipients.create(
                f"{r.name}_{suffix}",
                AuthenticationType.TOKEN,
                comment=r.comment,
                ip_access_list=IpAccessList(allowed_ip_addresses=r.ips) if r.ips else None,
                properties_kvpairs=properties,
            )
    made = []
    for s in shares:
        name = f"{s.name}_{suffix}"
        ws.shares.create(name, comment=s.comment)
        updates = []
        for obj, options in s.objects.items():
            updates.append(
                SharedDataObjectUpdate(
                    action=SharedDataObjectUpdateAction.ADD,
                    data_object=SharedDataObject(
                        name=obj,
                        data_object_type=SharedDataObjectDataObjectType(OBJECTS.get(obj, "TABLE")),
                        shared_as=options.get("shared_as"),
                        history_data_sharing_status=SharedDataObjectHistoryDataSharingStatus.ENABLED
                        if options.get("history")
                        else None,
                        comment=options.get("comment"),
                        partitions=[
                            Partition(
                                values=[
                                    PartitionValue(
                                        name="region", op=PartitionValueOp.EQUAL, value="emea"
                                    )
                                ]
                            )
                        ]
                        if options.get("partitions")
                        else None,
                    ),
                )
            )
        if updates:
            ws.shares.update(name, updates=updates)
        if s.grants:
            ws.shares.update_permissions(
                name,
                changes=[
                    PermissionsChange(principal=f"{g}_{suffix}", add=["SELECT"]) for g in s.grants
                ],
            )
        if s.pipeline is not None:
            build_pipeline(ws, settings, name, f"pl_{s.name}_{suffix}", s.pipeline)
        made.append(name)
    return made


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(workspace=workspaces())
def test_export_round_trip_holds_for_generated_workspaces(
    orch_ctx: WorkflowContext,
    orch_emu: Emu,
    workspace: tuple[list[RecipientSpec], list[ShareSpec]],
) -> None:
    recipients, shares = workspace
    event(f"pipelines: {sum(s.pipeline is not None for s in shares)}")
    event(f"recipients: {len(recipients)}, D2D: {sum(r.d2d for r in recipients)}")
    event(
        "volume or model shared: "
        + str(any(OBJECTS.get(o) in ("VOLUME", "MODEL") for s in shares for o in s.objects))
    )
    orch_emu.reset(seed=seed_with_volumes_and_models(), random_seed=0)
    # Fresh names per example: the database keeps the records of earlier examples' packs.
    suffix = uuid.uuid4().hex[:8]
    names = build(orch_emu.workspace_client(), orch_ctx.settings, suffix, recipients, shares)
    request = ExportRequest(shares=tuple(names))

    first = export_workspace(orch_ctx, orch_emu.url, request)
    assert first.mutating_calls == 0
    text = filled(first.yaml(), requestor=[f"{suffix}@example.com"])
    loaded = load_yaml(text)
    assert {r.name for r in loaded.model.recipient} == {
        f"{g}_{suffix}" for s in shares for g in s.grants
    }
    no_changes(plan_pack(orch_ctx, loaded, principal_id="user-1").body())

    orch_emu.reset_stats()
    stored = store_yaml(orch_ctx.pool, text)
    assert provision(orch_ctx, stored).outcome.result == "COMPLETED"
    assert orch_emu.mutating_total() == 0

    second = export_workspace(orch_ctx, orch_emu.url, request)
    assert second.yaml() == first.yaml()
    assert second.xlsx() == first.xlsx()
    # The same warnings, plus: every exported resource is now the applied pack's.
    assert [w for w in second.warnings if w.code != "export_managed_by_pack"] == first.warnings
    managed = {w.loc for w in second.warnings if w.code == "export_managed_by_pack"}
    assert {f"share[{i}]" for i in range(len(names))} <= managed
    tables = [o for s in shares for o in s.objects if OBJECTS.get(o) == "TABLE"]
    assert bool(tables) == any(w.code == "export_unrepresentable" for w in first.warnings)
    exported = {p.name_prefix for s in loaded.model.share for p in s.pipelines or []}  # type: ignore[union-attr]
    assert exported == {f"pl_{s.name}_{suffix}" for s in shares if s.pipeline is not None}
    assert not [w for w in first.warnings if w.code == "export_pipeline_differs"]

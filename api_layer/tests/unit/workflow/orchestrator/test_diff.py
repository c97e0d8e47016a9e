"""The action graph of a pack against a live state (docs/WORKFLOW.md §9.3): kinds, calls, dependencies, order."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from databricks.sdk.service.catalog import ColumnInfo, TableInfo, TableType
from databricks.sdk.service.jobs import (
    BaseJob,
    CronSchedule,
    Job,
    JobSettings,
    PauseStatus,
    PipelineTask,
    Task,
)
from databricks.sdk.service.pipelines import GetPipelineResponse
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    RecipientInfo,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    ShareInfo,
)

from dbrx_api.settings import DatabricksSettings
from dbrx_api.workflow.db.repositories.pipelines import PipelineRecord
from dbrx_api.workflow.db.repositories.recipients import RecipientRecord
from dbrx_api.workflow.db.repositories.shares import ShareRecord
from dbrx_api.workflow.db.repositories.version_actions import VersionAction
from dbrx_api.workflow.models.pack import SharePack
from dbrx_api.workflow.orchestrator.diff import (
    ActionGraph,
    DiffInputs,
    build_graph,
)
from dbrx_api.workflow.orchestrator.live import LiveReader
from dbrx_api.workflow.orchestrator.records import Recorded
from dbrx_api.workflow.resources.share import object_changes
from dbrx_api.workflow.validators.locator import PackLocator

PACK_ID = uuid.uuid4()
T = datetime(2026, 3, 1, tzinfo=UTC)
SETTINGS = DatabricksSettings.model_validate(
    {"pipelines": {"library_path": "/Workspace/lib/loader.py"}}
)


class FakeReader:
    """The reads `build_graph` makes, answered from dictionaries (absent: None / empty)."""

    def __init__(self) -> None:
        self.recipients: dict[str, RecipientInfo] = {}
        self.shares: dict[str, ShareInfo] = {}
        self.grants: dict[str, frozenset[str]] = {}
        self.tables: dict[str, TableInfo] = {}
        self.schemas: set[str] = set()
        self.pipelines: dict[str, GetPipelineResponse] = {}
        self.jobs: dict[int, Job] = {}

    def recipient(self, name: str) -> RecipientInfo | None:
        return self.recipients.get(name)

    def share(self, name: str) -> ShareInfo | None:
        return self.shares.get(name)

    def share_grants(self, name: str) -> frozenset[str]:
        return self.grants.get(name, frozenset())

    def table(self, name: str) -> TableInfo | None:
        return self.tables.get(name)

    def schema_exists(self, name: str) -> bool:
        return name in self.schemas

    def pipeline(self, pipeline_id: str) -> GetPipelineResponse | None:
        return next((p for p in self.pipelines.values() if p.pipeline_id == pipeline_id), None)

    def pipelines_named(self, name: str) -> list[GetPipelineResponse]:
        return [p for key, p in self.pipelines.items() if key.lower() == name.lower()]

    def job(self, job_id: int) -> Job | None:
        return self.jobs.get(job_id)

    def jobs_named(self, name: str) -> list[BaseJob]:
        return [
            BaseJob(job_id=j.job_id, settings=j.settings)
            for j in self.jobs.values()
            if j.settings and (j.settings.name or "").lower() == name.lower()
        ]


def pack(**changes: Any) -> SharePack:
    document: dict[str, Any] = {
        "metadata": {
            "requestor": ["jane@example.com"],
            "business_line": "Retail",
            "strategy": "UPDATE",
            "delta_share_region": "AM",
            "configurator": ["admins"],
            "approver": ["john@example.com"],
            "executive_team": ["execs"],
            "approver_status": "approved",
            "workspace_url": "https://adb-1.1.azuredatabricks.net",
            "servicenow": "RITM1",
            "contact_email": ["team@example.com"],
        },
        "recipient": [
            {
                "name": "r1",
                "type": "D2O",
                "recipient": ["a@example.com"],
                "recipient_ips": ["10.0.0.0/24"],
            },
        ],
        "share": [
            {
                "name": "s1",
                "share_assets": [{"name": "c.s.t1"}, {"name": "c.s.v1", "type": "VIEW"}],
                "recipients": ["r1"],
                "delta_share": {
                    "ext_catalog_name": "out",
                    "ext_schema_name": "ext",
                    "create_schema_if_missing": True,
                },
                "pipelines": [
                    {
                        "name_prefix": "p1",
                        "source_asset": "c.s.t1",
                        "target_asset": "t1",
                        "key_columns": ["id"],
                        "schedule": {"cron": "0 0 1 * * ?", "timezone": "UTC"},
                    }
                ],
            }
        ],
    }
    document.update(changes)
    return SharePack.model_validate(document)


def graph(
    reader: FakeReader, model: SharePack, recorded: Recorded | None = None, **inputs: Any
) -> ActionGraph:
    reader.tables.setdefault(
        "c.s.t1",
        TableInfo(
            full_name="c.s.t1", table_type=TableType.MANAGED, columns=[ColumnInfo(name="id")]
        ),
    )
    values: dict[str, Any] = {
        "pack": model,
        "reader": cast(LiveReader, reader),
        "recorded": recorded or Recorded(share_pack_id=PACK_ID),
        "resolved_types": {("s1", "c.s.t1"): "TABLE", ("s1", "c.s.v1"): "VIEW"},
        "databricks": SETTINGS,
        "reference_time": T,
        "now": T,
        "locator": PackLocator.from_model(model),
    }
    values.update(inputs)
    return build_graph(DiffInputs(**values))


def kinds(result: ActionGraph) -> dict[str, str]:
    return {action.key: action.kind for action in result.actions}


def test_an_empty_workspace_creates_everything_in_canonical_order() -> None:
    result = graph(FakeReader(), pack())

    assert [(a.seq, a.key, a.kind, a.calls) for a in result.actions] == [
        (1, "recipient:r1", "create", 1),
        (2, "share:s1", "create", 1),
        (3, "share_objects:s1", "update", 1),
        (4, "share_grants:s1", "update", 1),
        (5, "schema:out.ext", "create", 1),
        (6, "pipeline:p1", "create", 1),
        (7, "schedule:p1_schedule", "create", 1),
    ]
    by_key = result.by_key()
    assert by_key["share_grants:s1"].deps == {"share_objects:s1", "recipient:r1"}
    assert by_key["share_objects:s1"].deps == {"share:s1"}
    assert by_key["pipeline:p1"].deps == {"schema:out.ext"}
    assert by_key["schedule:p1_schedule"].deps == {"pipeline:p1"}
    assert result.mutating_calls == 7
    assert result.dependants("share:s1") == {"share_objects:s1", "share_grants:s1"}
    assert {w.type for w in result.warnings} == {"update_created_missing"}


def live_world() -> FakeReader:
    """A workspace matching `pack()` exactly."""
    reader = FakeReader()
    reader.recipients["r1"] = RecipientInfo(
        name="r1",
        authentication_type=AuthenticationType.TOKEN,
        ip_access_list=IpAccessList(allowed_ip_addresses=["10.0.0.0/24"]),
        id="rid",
    )
    reader.shares["s1"] = ShareInfo(
        name="s1",
        objects=[
            SharedDataObject(name="c.s.t1", data_object_type=SharedDataObjectDataObjectType.TABLE),
            SharedDataObject(name="c.s.v1", data_object_type=SharedDataObjectDataObjectType.VIEW),
        ],
    )
    reader.grants["s1"] = frozenset({"r1"})
    reader.schemas.add("out.ext")
    return reader


def test_a_matching_workspace_needs_nothing() -> None:
    reader = live_world()
    first = graph(FakeReader(), pack())
    pipeline_spec = first.by_key()["pipeline:p1"].work.desired
    reader.pipelines["p1"] = GetPipelineResponse(pipeline_id="pid", name="p1", spec=pipeline_spec)
    job_settings = JobSettings(
        name="p1_schedule",
        tasks=[Task(task_key="run_pipeline", pipeline_task=PipelineTask(pipeline_id="pid"))],
        schedule=CronSchedule(
            quartz_cron_expression="0 0 1 * * ?",
            timezone_id="UTC",
            pause_status=PauseStatus.UNPAUSED,
        ),
        max_concurrent_runs=1,
    )
    reader.jobs[5] = Job(job_id=5, settings=job_settings)

    result = graph(reader, pack())

    assert set(kinds(result).values()) == {"noop"}
    assert result.mutating_calls == 0


def test_explicit_lists_change_only_what_they_name() -> None:
    reader = live_world()
    reader.shares["s1"].objects = [
        *(reader.shares["s1"].objects or []),
        SharedDataObject(name="c.s.other", data_object_type=SharedDataObjectDataObjectType.TABLE),
    ]
    reader.grants["s1"] = frozenset({"r1", "someone"})
    model = pack(
        share=[
            {
                "name": "s1",
                "share_assets_to_add": [{"name": "c.s.v2", "type": "VIEW"}],
                "share_assets_to_remove": [{"name": "c.s.v1"}],
                "recipients_to_remove": ["r1"],
            }
        ]
    )

    result = graph(reader, model, resolved_types={("s1", "c.s.v2"): "VIEW"})

    objects = result.by_key()["share_objects:s1"]
    assert objects.diff == {"add": ["c.s.v2"], "remove": ["c.s.v1"], "update": []}
    grants = result.by_key()["share_grants:s1"]
    assert grants.diff == {"add": [], "remove": ["r1"]}  # "someone" is not touched


def test_token_rotation_states() -> None:
    rotating = pack(
        recipient=[
            {"name": "r1", "type": "D2O", "recipient": ["a@example.com"], "token_rotation": True}
        ]
    )
    assert graph(FakeReader(), rotating).by_key()["token:r1"].work.state == "skip_new"
    existing = graph(live_world(), rotating).by_key()["token:r1"]
    assert (existing.kind, existing.calls, existing.deps) == ("rotate_token", 1, {"recipient:r1"})
    done = Recorded(
        share_pack_id=PACK_ID,
        actions={
            "rotate_token:r1": VersionAction(
                PACK_ID, 1, "rotate_token:r1", intent_at=T, run_id=uuid.uuid4(), done_at=T
            )
        },
    )
    assert graph(live_world(), rotating, recorded=done).by_key()["token:r1"].kind == "noop"


def test_a_recorded_pipeline_left_out_of_a_declarative_share_is_deleted_before_its_target_is_reused() -> (
    None
):
    old_row = PipelineRecord(
        workspace_url="https://ws.example",
        pipeline_name="old_pl",
        share_name="s1",
        share_pack_id=PACK_ID,
        created_by_pack=True,
        source_table="c.s.gone",
        target_catalog="out",
        target_schema="ext",
        target_table="t1",
        scd_type="1",
        serverless=True,
        continuous=False,
        library_path="/lib",
        databricks_pipeline_id="old-id",
        schedule_job_id=9,
        schedule_job_created_by_pack=True,
    )
    foreign_row = dataclasses.replace(old_row, pipeline_name="theirs", share_pack_id=uuid.uuid4())
    recorded = Recorded(share_pack_id=PACK_ID, pipelines={"old_pl": old_row, "theirs": foreign_row})

    result = graph(FakeReader(), pack(), recorded=recorded)

    deletion = result.by_key()["delete_pipeline:old_pl"]
    assert (deletion.kind, deletion.calls, deletion.drops_tables) == ("delete", 2, ["out.ext.t1"])
    assert deletion.deps == {"share_objects:s1"}
    assert deletion.seq == len(result.actions)  # deletions come last
    assert "delete_pipeline:old_pl" in result.by_key()["pipeline:p1"].deps  # same target table
    assert (
        "delete_pipeline:theirs" not in result.by_key()
    )  # another pack's pipeline is never deleted


def test_250_new_objects_need_three_calls() -> None:
    model = pack(
        share=[
            {
                "name": "s1",
                "share_assets": [{"name": f"c.s.v{i:03d}", "type": "VIEW"} for i in range(250)],
            }
        ]
    )
    changes = object_changes(model.share[0], [], lambda _share, asset: asset.type or "TABLE")
    assert changes.count() == 250
    assert changes.calls() == 3


def test_leftovers_and_other_packs_are_warned_about() -> None:
    other_pack = uuid.uuid4()
    recorded = Recorded(
        share_pack_id=PACK_ID,
        shares={
            "old_share": ShareRecord(
                workspace_url="https://ws.example",
                share_name="old_share",
                share_pack_id=PACK_ID,
                created_by_pack=True,
            )
        },
        recipients={
            "r1": RecipientRecord(
                workspace_url="https://ws.example",
                recipient_name="r1",
                recipient_type="D2O",
                share_pack_id=other_pack,
                created_by_pack=True,
            )
        },
    )

    result = graph(FakeReader(), pack(), recorded=recorded)

    codes = {(w.type, w.loc) for w in result.warnings}
    assert ("resource_no_longer_in_pack", "share") in codes
    assert ("resource_managed_by_other_pack", "recipient[0]") in codes

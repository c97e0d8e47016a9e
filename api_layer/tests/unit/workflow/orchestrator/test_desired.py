"""Desired state and managed-field comparison (docs/WORKFLOW.md §9.3, §9.5, §9.6; docs/SHAREPACK.md §9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from databricks.sdk.service.jobs import (
    BaseJob,
    CronSchedule,
    JobEmailNotifications,
    JobSettings,
    PauseStatus,
    PipelineTask,
    Task,
)
from databricks.sdk.service.pipelines import GetPipelineResponse, PipelineCluster, PipelineSpec
from databricks.sdk.service.sharing import (
    IpAccessList,
    Partition,
    PartitionValue,
    PartitionValueOp,
    RecipientInfo,
    SecurablePropertiesKvPairs,
    SharedDataObject,
    SharedDataObjectHistoryDataSharingStatus,
)

from dbrx_api.schemas.common import to_epoch_ms
from dbrx_api.schemas.recipients import comparable_ip
from dbrx_api.settings import PipelineDefaults, ScheduleDefaults
from dbrx_api.workflow.db.repositories.pipelines import PipelineRecord
from dbrx_api.workflow.models.pack import Asset, Pipeline, Recipient, Share
from dbrx_api.workflow.resources.pipeline import (
    desired_pipeline_spec,
    drift_differences,
    managed_fields,
    merged_tags,
    pipeline_differences,
    pipeline_update_arguments,
)
from dbrx_api.workflow.resources.recipient import (
    desired_recipient,
    plan_diff,
    recipient_change,
)
from dbrx_api.workflow.resources.schedule import desired_job_settings, job_change
from dbrx_api.workflow.resources.share import (
    asset_key,
    desired_assets,
    option_differences,
    sdk_object,
    shared_as_differs,
)

T = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = T + timedelta(minutes=5)
DEFAULTS = PipelineDefaults(library_path="/Workspace/Shared/lib/cdf_loader.py")


def d2o(**fields: Any) -> Recipient:
    return Recipient.model_validate(
        {"name": "acme", "type": "D2O", "recipient": ["ops@example.com"], **fields}
    )


def live_recipient(ips: list[str] | None = None, **fields: Any) -> RecipientInfo:
    access = IpAccessList(allowed_ip_addresses=ips) if ips is not None else None
    return RecipientInfo(name="acme", ip_access_list=access, **fields)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("198.51.100.7/32", "198.51.100.7"),
        ("203.0.113.9/24", "203.0.113.0/24"),
        ("2001:DB8:1234::/48", "2001:db8:1234::/48"),
        ("not an ip", "not an ip"),
    ],
)
def test_ips_compare_in_canonical_form(raw: str, canonical: str) -> None:
    assert comparable_ip(raw) == canonical


def test_declarative_ips_replace_the_live_list() -> None:
    desired = desired_recipient(
        d2o(recipient_ips=["10.0.0.1", "10.0.1.0/24"]),
        live_recipient(["192.0.2.1"]),
        reference_time=T,
        now=NOW,
    )
    assert desired.fields.ips == ["10.0.0.1", "10.0.1.0/24"]


def test_explicit_ips_change_the_live_list() -> None:
    desired = desired_recipient(
        d2o(recipient_ips_to_add=["10.0.0.1"], recipient_ips_to_remove=["192.0.2.1"]),
        live_recipient(["192.0.2.1/32", "192.0.2.2"]),
        reference_time=T,
        now=NOW,
    )
    assert desired.fields.ips == ["10.0.0.1", "192.0.2.2"]


def test_ips_are_unmanaged_without_any_ip_key() -> None:
    desired = desired_recipient(d2o(), live_recipient(["192.0.2.1"]), reference_time=T, now=NOW)
    assert desired.fields.ips is None
    assert recipient_change(desired.fields, live_recipient(["192.0.2.1"])).empty


def test_equal_lists_in_other_spellings_are_no_change() -> None:
    desired = desired_recipient(
        d2o(recipient_ips=["192.0.2.1", "10.0.0.0/8"]), None, reference_time=T, now=NOW
    )
    assert recipient_change(desired.fields, live_recipient(["10.0.0.0/8", "192.0.2.1/32"])).empty


def test_an_emptied_list_is_a_change_to_empty() -> None:
    desired = desired_recipient(
        d2o(recipient_ips_to_remove=["192.0.2.1"]),
        live_recipient(["192.0.2.1"]),
        reference_time=T,
        now=NOW,
    )
    assert recipient_change(desired.fields, live_recipient(["192.0.2.1"])).ips == []


def test_expiry_is_t_plus_n_days_and_tolerates_a_minute() -> None:
    desired = desired_recipient(d2o(token_expiry=90), None, reference_time=T, now=NOW)
    target = to_epoch_ms(T + timedelta(days=90))
    assert desired.fields.expiration_ms == target
    assert recipient_change(desired.fields, live_recipient(expiration_time=target + 59_000)).empty
    assert (
        recipient_change(
            desired.fields, live_recipient(expiration_time=target + 61_000)
        ).expiration_ms
        == target
    )
    assert recipient_change(desired.fields, live_recipient()).expiration_ms == target


def test_an_elapsed_expiry_is_not_sent() -> None:
    desired = desired_recipient(
        d2o(token_expiry=1), None, reference_time=T, now=T + timedelta(days=2)
    )
    assert desired.fields.expiration_ms is None
    assert desired.expiry_elapsed is True


def test_zero_expiry_is_unmanaged() -> None:
    desired = desired_recipient(d2o(token_expiry=0), None, reference_time=T, now=NOW)
    assert desired.fields.expiration_ms is None
    assert desired.expiry_elapsed is False


def test_comment_is_compared_only_when_given() -> None:
    unmanaged = desired_recipient(d2o(), None, reference_time=T, now=NOW)
    managed = desired_recipient(d2o(description="new"), None, reference_time=T, now=NOW)
    live = live_recipient(comment="old")
    assert recipient_change(unmanaged.fields, live).empty
    assert recipient_change(managed.fields, live).comment == "new"


def _with_properties(properties: dict[str, str] | None) -> RecipientInfo:
    kvpairs = SecurablePropertiesKvPairs(properties=properties) if properties is not None else None
    return live_recipient(properties_kvpairs=kvpairs)


def test_properties_are_compared_only_when_given_and_as_a_whole_map() -> None:
    live = _with_properties({"tier": "gold", "region": "emea"})
    unmanaged = desired_recipient(d2o(), None, reference_time=T, now=NOW)
    assert recipient_change(unmanaged.fields, live).empty
    same = desired_recipient(
        d2o(properties={"region": "emea", "tier": "gold"}), None, reference_time=T, now=NOW
    )
    assert recipient_change(same.fields, live).empty
    changed = desired_recipient(
        d2o(properties={"tier": "platinum"}), None, reference_time=T, now=NOW
    )
    change = recipient_change(changed.fields, live)
    assert change.properties == {"tier": "platinum"}
    assert plan_diff(change, live) == {
        "properties": {"set": {"tier": "platinum"}, "remove": ["region"]}
    }
    emptied = desired_recipient(d2o(properties={}), None, reference_time=T, now=NOW)
    assert recipient_change(emptied.fields, live).properties == {}
    assert recipient_change(emptied.fields, _with_properties(None)).empty


def test_built_in_databricks_properties_are_no_difference() -> None:
    live = _with_properties(
        {"tier": "gold", "databricks.name": "acme", "Databricks.AccountId": "a"}
    )
    desired = desired_recipient(d2o(properties={"tier": "gold"}), None, reference_time=T, now=NOW)
    assert recipient_change(desired.fields, live).empty


# ------------------------------------------------------------------------------------------ share objects


def share(**fields: Any) -> Share:
    """A share; asset lists may be given as plain names."""
    for key in ("share_assets", "share_assets_to_add", "share_assets_to_remove"):
        if key in fields:
            fields[key] = [{"name": a} if isinstance(a, str) else a for a in fields[key]]
    return Share.model_validate({"name": "s", **fields})


def obj(name: str, **fields: Any) -> SharedDataObject:
    return SharedDataObject(name=name, **fields)


def test_declarative_assets_are_the_whole_set() -> None:
    wanted = desired_assets(share(share_assets=["c.s.a", "c.s.b"]), [obj("c.s.a"), obj("c.s.z")])
    assert set(wanted) == {"c.s.a", "c.s.b"}


def test_explicit_assets_keep_the_rest_unmanaged() -> None:
    wanted = desired_assets(
        share(share_assets_to_add=["c.s.b"], share_assets_to_remove=["c.s.z"]),
        [obj("c.s.a"), obj("c.s.z")],
    )
    assert wanted == {"c.s.a": None, "c.s.b": Asset(name="c.s.b")}


def test_an_explicit_addition_with_options_manages_a_present_object() -> None:
    added = Asset(name="c.s.a", comment="hello")
    wanted = desired_assets(share(share_assets_to_add=[added]), [obj("c.s.a")])
    assert wanted == {"c.s.a": added}


def test_notebooks_are_identified_by_their_shared_file_name() -> None:
    assert asset_key(Asset(name="/Workspace/Shared/Report")) == "report"
    assert asset_key(Asset(name="/Workspace/Shared/Report", shared_as="Sales.py")) == "sales.py"


def test_unmanaged_options_and_server_defaults_are_no_difference() -> None:
    live = obj(
        "c.s.t",
        comment="set by hand",
        history_data_sharing_status=SharedDataObjectHistoryDataSharingStatus.DISABLED,
        start_version=3,
    )
    assert option_differences(Asset(name="c.s.t"), live) == {}
    assert (
        option_differences(
            Asset(name="c.s.t", history_data_sharing_status="DISABLED"), obj("c.s.t")
        )
        == {}
    )


def test_managed_option_differences() -> None:
    live = obj(
        "c.s.t",
        partitions=[
            Partition(
                values=[PartitionValue(name="region", op=PartitionValueOp.EQUAL, value="emea")]
            )
        ],
    )
    asset = Asset.model_validate(
        {
            "name": "c.s.t",
            "cdf_enabled": True,
            "partitions": [{"values": [{"name": "region", "op": "EQUAL", "value": "amer"}]}],
        }
    )
    differences = option_differences(asset, live)
    assert set(differences) == {"cdf_enabled", "partitions"}
    assert differences["cdf_enabled"] == {"from": False, "to": True}


def test_same_partitions_are_no_difference() -> None:
    live = obj(
        "c.s.t",
        partitions=[
            Partition(
                values=[PartitionValue(name="region", op=PartitionValueOp.EQUAL, value="emea")]
            )
        ],
    )
    asset = Asset.model_validate(
        {
            "name": "c.s.t",
            "partitions": [{"values": [{"name": "region", "op": "EQUAL", "value": "emea"}]}],
        }
    )
    assert option_differences(asset, live) == {}


def test_shared_as_changes_only_when_given_and_different() -> None:
    live = obj("c.s.t", shared_as="s.t")
    assert not shared_as_differs(Asset(name="c.s.t"), live)
    assert not shared_as_differs(Asset(name="c.s.t", shared_as="S.T"), live)
    assert shared_as_differs(Asset(name="c.s.t", shared_as="x.t"), live)


def test_add_and_update_objects() -> None:
    schema = sdk_object(Asset(name="c.s", shared_as="alias"), "SCHEMA")
    assert (schema.name, schema.shared_as, schema.string_shared_as) == ("c.s", None, "alias")
    notebook = sdk_object(Asset(name="/Workspace/R/report"), "NOTEBOOK_FILE", content="Y29kZQ==")
    assert (notebook.name, notebook.content) == ("report", "Y29kZQ==")
    update = sdk_object(Asset(name="c.s.t", shared_as="s.t", comment="c"), "TABLE", for_update=True)
    assert update.shared_as is None  # an alias cannot be updated in place
    assert update.comment == "c"


# ------------------------------------------------------------------------------------------ pipelines


def pipeline(**fields: Any) -> Pipeline:
    values: dict[str, Any] = {
        "name_prefix": "orders_pl",
        "source_asset": "main.sales.orders",
        "target_asset": "orders",
        "key_columns": ["ORDER_ID"],
        "schedule": {"cron": "0 0 2 * * ?", "timezone": "UTC"},
    }
    values.update(fields)
    return Pipeline.model_validate(values)


def delta_share(**fields: Any) -> Share:
    return share(
        delta_share={"ext_catalog_name": "cat", "ext_schema_name": "ext", "tags": ["cc=1", "gold"]},
        **fields,
    )


def test_tags_merge_with_the_pipeline_winning() -> None:
    assert merged_tags(delta_share(), pipeline(tags={"cc": "2", "domain": "sales"})) == {
        "cc": "2",
        "gold": "",
        "domain": "sales",
    }


def test_pipeline_spec_uses_the_table_spelling_of_key_columns() -> None:
    spec = desired_pipeline_spec(
        delta_share(), pipeline(), defaults=DEFAULTS, source_columns=["order_id", "x"]
    )
    assert spec.configuration is not None
    assert spec.configuration["pipelines.keys"] == "order_id"
    assert (spec.catalog, spec.schema) == ("cat", "ext")


def test_an_equal_spec_has_no_difference_and_unmanaged_keys_are_ignored() -> None:
    desired = desired_pipeline_spec(delta_share(), pipeline(), defaults=DEFAULTS)
    live = PipelineSpec.from_dict(
        {
            **desired.as_dict(),
            "configuration": {**(desired.configuration or {}), "custom.key": "x"},
            "photon": False,
        }
    )
    assert pipeline_differences(desired, live) == {}


def test_managed_field_differences() -> None:
    desired = desired_pipeline_spec(delta_share(), pipeline(), defaults=DEFAULTS)
    live = PipelineSpec.from_dict({**desired.as_dict(), "continuous": True, "tags": {"cc": "1"}})
    assert set(pipeline_differences(desired, live)) == {"continuous", "tags"}


def test_plan_and_drift_name_a_hand_change_by_the_same_managed_field() -> None:
    desired = desired_pipeline_spec(delta_share(), pipeline(), defaults=DEFAULTS)
    fields = managed_fields(desired)
    row = PipelineRecord(
        workspace_url="https://ws.example",
        pipeline_name="p",
        share_name="s",
        created_by_pack=True,
        library_path=DEFAULTS.library_path or "",
        target_catalog=fields["catalog"],
        target_schema=fields["schema"],
        source_table=fields["source_table"],
        target_table=fields["target_table"],
        scd_type=fields["scd_type"],
        key_columns=fields["key_columns"],
        continuous=fields["continuous"],
        serverless=fields["serverless"],
        notifications=fields["notifications"],
        tags=fields["tags"],
    )
    assert drift_differences(row, GetPipelineResponse(spec=desired), DEFAULTS) == []
    configuration = {**(desired.configuration or {}), "pipelines.keys": "other_id"}
    live = PipelineSpec.from_dict(
        {**desired.as_dict(), "configuration": configuration, "serverless": not desired.serverless}
    )
    planned = pipeline_differences(desired, live)
    drifted = drift_differences(row, GetPipelineResponse(spec=live), DEFAULTS)
    assert set(planned) == {item["field"] for item in drifted} == {"key_columns", "serverless"}
    assert planned["key_columns"] == {"from": ["other_id"], "to": fields["key_columns"]}


def test_an_update_resends_the_live_spec_with_managed_fields_replaced() -> None:
    desired = desired_pipeline_spec(delta_share(), pipeline(), defaults=DEFAULTS)
    live_arguments = {
        "name": "orders_pl",
        "target": "old_schema",
        "catalog": "cat",
        "configuration": {"custom.key": "kept", "pipelines.keys": "old"},
        "clusters": [PipelineCluster(label="default", num_workers=3)],
        "photon": False,
        "tags": {"stale": "x"},
    }
    arguments = pipeline_update_arguments(desired, live_arguments)
    assert "target" not in arguments
    assert arguments["schema"] == "ext"
    assert arguments["configuration"]["custom.key"] == "kept"
    assert arguments["configuration"]["pipelines.keys"] == "ORDER_ID"
    assert arguments["clusters"] == live_arguments["clusters"]
    assert arguments["photon"] is False
    assert arguments["tags"] == desired.tags


# ------------------------------------------------------------------------------------------ schedule jobs

SCHEDULES = ScheduleDefaults()


def live_job(**settings: Any) -> BaseJob:
    values: dict[str, Any] = {
        "name": "orders_pl_schedule",
        "tasks": [Task(task_key="run_pipeline", pipeline_task=PipelineTask(pipeline_id="p1"))],
        "schedule": CronSchedule(
            quartz_cron_expression="0 0 2 * * ?",
            timezone_id="UTC",
            pause_status=PauseStatus.UNPAUSED,
        ),
        "max_concurrent_runs": 1,
        "tags": {"cc": "1", "gold": ""},
    }
    values.update(settings)
    return BaseJob(job_id=7, settings=JobSettings(**values))


def test_an_equal_job_needs_no_update() -> None:
    desired = desired_job_settings(delta_share(), pipeline(), "p1", defaults=SCHEDULES)
    equivalent = CronSchedule(
        quartz_cron_expression=" 0  0 2 * * ? ",
        timezone_id="utc",
        pause_status=PauseStatus.UNPAUSED,
    )
    assert job_change(desired, live_job(), SCHEDULES.task_key).empty
    assert job_change(desired, live_job(schedule=equivalent), SCHEDULES.task_key).empty


def test_job_differences_become_settings_and_removals() -> None:
    desired = desired_job_settings(delta_share(), pipeline(), "p2", defaults=SCHEDULES)
    live = live_job(
        email_notifications=JobEmailNotifications(on_failure=["old@example.com"]),
        description="set by hand",
        schedule=CronSchedule(
            quartz_cron_expression="0 0 2 * * ?", timezone_id="UTC", pause_status=PauseStatus.PAUSED
        ),
    )
    change = job_change(desired, live, SCHEDULES.task_key)
    assert set(change.diff) == {"tasks", "schedule", "email_notifications", "description"}
    assert sorted(change.fields_to_remove) == ["description", "email_notifications"]
    assert change.new_settings.schedule is not None
    assert change.new_settings.schedule.pause_status == PauseStatus.UNPAUSED
    assert change.new_settings.tasks is not None
    assert change.new_settings.tasks[0].pipeline_task is not None
    assert change.new_settings.tasks[0].pipeline_task.pipeline_id == "p2"


def test_continuous_pipelines_have_no_job_settings() -> None:
    with pytest.raises(ValueError, match="continuous"):
        desired_job_settings(
            delta_share(), pipeline(schedule="continuous"), "p1", defaults=SCHEDULES
        )

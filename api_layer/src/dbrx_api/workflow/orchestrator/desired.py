"""Desired state of a pack in Databricks terms, and the normalised comparison with live objects (docs/WORKFLOW.md §9.3).

Pure functions: they turn the canonical pack (docs/SHAREPACK.md §5-§9) plus the configured defaults into the values
provisioning sends, and compare only *managed* fields: fields the pack does not set and server-filled fields never
count as differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from databricks.sdk.service.jobs import (
    BaseJob,
    CronSchedule,
    Job,
    JobEmailNotifications,
    JobSettings,
    PauseStatus,
    PipelineTask,
    Task,
)
from databricks.sdk.service.pipelines import PipelineLibrary, PipelineSpec

from dbrx_api.jobs.cron import cron_equal
from dbrx_api.jobs.pipelines import (
    DELETE_EXPR_KEY,
    KEYS_KEY,
    SCD_TYPE_KEY,
    SEQUENCE_BY_KEY,
    SOURCE_TABLE_KEY,
    TARGET_TABLE_KEY,
    build_pipeline_spec,
)
from dbrx_api.schemas.common import enum_text
from dbrx_api.settings import PipelineDefaults, ScheduleDefaults
from dbrx_api.workflow.models.pack import CronSchedule as PackCron
from dbrx_api.workflow.models.pack import Pipeline, Share
from dbrx_api.workflow.validators.fields import is_email, split_tag

# Pack pipelines alert on failures only (docs/WORKFLOW.md §9.5).
FAILURE_ALERTS = ("on-update-failure", "on-update-fatal-failure", "on-flow-failure")
# The configuration keys a pack manages; others (set by hand) are kept on update.
MANAGED_CONFIGURATION_KEYS = (
    SOURCE_TABLE_KEY,
    TARGET_TABLE_KEY,
    SCD_TYPE_KEY,
    KEYS_KEY,
    SEQUENCE_BY_KEY,
    DELETE_EXPR_KEY,
)
SCHEMA_COMMENT = "Created by DeltaShare"


# ------------------------------------------------------------------------------------------ pipelines


@dataclass(frozen=True)
class PipelineTarget:
    """Where a pipeline writes."""

    catalog: str
    schema: str
    table: str

    @property
    def full_name(self) -> str:
        """`catalog.schema.table`."""
        return f"{self.catalog}.{self.schema}.{self.table}"

    @property
    def schema_full_name(self) -> str:
        """`catalog.schema`."""
        return f"{self.catalog}.{self.schema}"


def pipeline_target(share: Share, pipeline: Pipeline) -> PipelineTarget:
    """Target catalog/schema (pipeline override, else `delta_share`) and table (validated offline)."""
    delta = share.delta_share
    catalog = pipeline.ext_catalog_name or (delta.ext_catalog_name if delta else "")
    schema = pipeline.ext_schema_name or (delta.ext_schema_name if delta else "")
    return PipelineTarget(
        catalog=catalog.lower(), schema=schema.lower(), table=pipeline.target_asset.lower()
    )


def merged_tags(share: Share, pipeline: Pipeline) -> dict[str, str]:
    """`delta_share.tags` merged with the pipeline's tags (the pipeline wins); a bare key has an empty value."""
    tags: dict[str, str] = {}
    for item in (share.delta_share.tags if share.delta_share else None) or []:
        key, value = split_tag(item)
        tags[key.strip()] = (value or "").strip()
    tags.update(pipeline.tags or {})
    return tags


def notification_emails(pipeline: Pipeline) -> list[str]:
    """The e-mail entries of `notification` (groups are recorded but never sent)."""
    return [entry for entry in pipeline.notification or [] if is_email(entry)]


def key_columns_as_in_table(keys: Sequence[str], columns: Sequence[str]) -> list[str]:
    """Key columns spelled as the source table spells them (the live checks matched them case-insensitively)."""
    by_lower = {column.lower(): column for column in columns}
    return [by_lower.get(key.lower(), key) for key in keys]


def desired_pipeline_spec(
    share: Share,
    pipeline: Pipeline,
    *,
    defaults: PipelineDefaults,
    source_columns: Sequence[str] = (),
) -> PipelineSpec:
    """The managed specification of a pack pipeline (docs/WORKFLOW.md §9.5)."""
    target = pipeline_target(share, pipeline)
    keys = list(pipeline.key_columns or []) if pipeline.scd_type != "full_refresh" else []
    tags = merged_tags(share, pipeline)
    return build_pipeline_spec(
        name=pipeline.name_prefix,
        catalog=target.catalog,
        schema=target.schema,
        source_table=pipeline.source_asset,
        target_table=target.table,
        scd_type=pipeline.scd_type,
        key_columns=key_columns_as_in_table(keys, source_columns),
        continuous=pipeline.is_continuous,
        serverless=pipeline.serverless,
        notifications=notification_emails(pipeline),
        tags=tags or None,
        defaults=defaults,
        notification_alerts=FAILURE_ALERTS,
        cluster_tags=tags or None,
    )


def _libraries(libraries: Sequence[PipelineLibrary] | None) -> list[tuple[str, str]]:
    refs = []
    for library in libraries or []:
        if library.file is not None:
            refs.append(("file", library.file.path or ""))
        elif library.notebook is not None:
            refs.append(("notebook", library.notebook.path or ""))
        elif library.glob is not None:
            refs.append(("glob", library.glob.include or ""))
    return refs


def _notifications(spec: PipelineSpec) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    return sorted(
        (
            tuple(sorted(email.lower() for email in block.email_recipients or [])),
            tuple(sorted(block.alerts or [])),
        )
        for block in spec.notifications or []
    )


def _managed_configuration(configuration: Mapping[str, str] | None) -> dict[str, str]:
    values = dict(configuration or {})
    return {key: values[key] for key in MANAGED_CONFIGURATION_KEYS if key in values}


def pipeline_differences(desired: PipelineSpec, live: PipelineSpec) -> dict[str, dict[str, Any]]:
    """Managed fields whose live value differs: `{field: {from, to}}` (docs/WORKFLOW.md §9.3)."""
    pairs: dict[str, tuple[Any, Any]] = {
        "catalog": (live.catalog, desired.catalog),
        "schema": (live.schema or live.target, desired.schema),
        "libraries": (_libraries(live.libraries), _libraries(desired.libraries)),
        "root_path": (live.root_path, desired.root_path),
        "configuration": (
            _managed_configuration(live.configuration),
            _managed_configuration(desired.configuration),
        ),
        "continuous": (bool(live.continuous), bool(desired.continuous)),
        "serverless": (bool(live.serverless), bool(desired.serverless)),
        "notifications": (_notifications(live), _notifications(desired)),
        "tags": (dict(live.tags or {}), dict(desired.tags or {})),
    }
    return {
        name: {"from": before, "to": after}
        for name, (before, after) in pairs.items()
        if before != after
    }


def pipeline_update_arguments(
    desired: PipelineSpec, edit_arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """The full edit request: the live specification with every managed field replaced (§9.5).

    Edits replace the whole specification, so unmanaged fields (clusters, photon, channel, other configuration
    keys, …) are re-sent as they are; managed fields the desired state leaves unset are removed.
    """
    arguments = dict(edit_arguments)
    arguments.pop("target", None)
    configuration = {
        key: value
        for key, value in (arguments.get("configuration") or {}).items()
        if key not in MANAGED_CONFIGURATION_KEYS
    }
    configuration.update(desired.configuration or {})
    replaced: dict[str, Any] = {
        "name": desired.name,
        "catalog": desired.catalog,
        "schema": desired.schema,
        "libraries": desired.libraries,
        "root_path": desired.root_path,
        "configuration": configuration,
        "continuous": desired.continuous,
        "serverless": desired.serverless,
        "notifications": desired.notifications,
        "tags": desired.tags,
    }
    for key, value in replaced.items():
        if value is None:
            arguments.pop(key, None)
        else:
            arguments[key] = value
    if not desired.serverless and not arguments.get("clusters") and desired.clusters:
        arguments["clusters"] = desired.clusters
    return arguments


# ------------------------------------------------------------------------------------------ schedules


def schedule_job_name(pipeline: Pipeline, defaults: ScheduleDefaults) -> str:
    """`<name_prefix>_schedule`."""
    return f"{pipeline.name_prefix}{defaults.job_name_suffix}"


def desired_job_settings(
    share: Share, pipeline: Pipeline, pipeline_id: str, *, defaults: ScheduleDefaults
) -> JobSettings:
    """The managed settings of a pipeline's schedule job (docs/WORKFLOW.md §9.5)."""
    schedule = pipeline.schedule
    if not isinstance(schedule, PackCron):
        raise ValueError("continuous pipelines have no schedule job")
    emails = notification_emails(pipeline)
    tags = merged_tags(share, pipeline)
    return JobSettings(
        name=schedule_job_name(pipeline, defaults),
        tasks=[
            Task(
                task_key=defaults.task_key,
                pipeline_task=PipelineTask(pipeline_id=pipeline_id, full_refresh=False),
            )
        ],
        schedule=CronSchedule(
            quartz_cron_expression=schedule.cron,
            timezone_id=schedule.timezone,
            pause_status=PauseStatus.UNPAUSED,
        ),
        max_concurrent_runs=defaults.max_concurrent_runs,
        email_notifications=JobEmailNotifications(on_failure=emails) if emails else None,
        tags=tags or None,
        description=pipeline.description,
    )


def _task_pipeline(settings: JobSettings, task_key: str) -> tuple[str | None, bool]:
    for task in settings.tasks or []:
        if task.task_key == task_key and task.pipeline_task is not None:
            return task.pipeline_task.pipeline_id, bool(task.pipeline_task.full_refresh)
    return None, False


@dataclass(frozen=True)
class JobChange:
    """Differences of a schedule job: the settings to send, the fields to remove, and a readable diff."""

    new_settings: JobSettings
    fields_to_remove: list[str]
    diff: dict[str, dict[str, Any]]

    @property
    def empty(self) -> bool:
        """True when nothing differs."""
        return not self.diff


def job_change(desired: JobSettings, live: BaseJob | Job, task_key: str) -> JobChange:
    """Top-level settings of `live` that differ from `desired` (`jobs.update` merges tasks by key)."""
    current = live.settings or JobSettings()
    diff: dict[str, dict[str, Any]] = {}
    changed: dict[str, Any] = {}
    remove: list[str] = []
    if (current.name or "") != (desired.name or ""):
        diff["name"] = {"from": current.name, "to": desired.name}
        changed["name"] = desired.name
    wanted_pipeline, _ = _task_pipeline(desired, task_key)
    live_pipeline, live_full_refresh = _task_pipeline(current, task_key)
    if live_pipeline != wanted_pipeline or live_full_refresh:
        diff["tasks"] = {"from": live_pipeline, "to": wanted_pipeline}
        changed["tasks"] = desired.tasks
    want_schedule, have_schedule = desired.schedule, current.schedule
    if want_schedule is not None and (
        have_schedule is None
        or not cron_equal(
            have_schedule.quartz_cron_expression or "", want_schedule.quartz_cron_expression
        )
        or (have_schedule.timezone_id or "").lower() != want_schedule.timezone_id.lower()
        or have_schedule.pause_status != PauseStatus.UNPAUSED
    ):
        diff["schedule"] = {
            "from": None
            if have_schedule is None
            else {
                "cron": have_schedule.quartz_cron_expression,
                "timezone": have_schedule.timezone_id,
                "pause_status": enum_text(have_schedule.pause_status),
            },
            "to": {
                "cron": want_schedule.quartz_cron_expression,
                "timezone": want_schedule.timezone_id,
                "pause_status": "UNPAUSED",
            },
        }
        changed["schedule"] = want_schedule
    if (current.max_concurrent_runs or 1) != desired.max_concurrent_runs:
        diff["max_concurrent_runs"] = {
            "from": current.max_concurrent_runs,
            "to": desired.max_concurrent_runs,
        }
        changed["max_concurrent_runs"] = desired.max_concurrent_runs
    live_emails = sorted(
        e.lower()
        for e in (current.email_notifications.on_failure if current.email_notifications else None)
        or []
    )
    wanted_emails = sorted(
        e.lower()
        for e in (desired.email_notifications.on_failure if desired.email_notifications else None)
        or []
    )
    if live_emails != wanted_emails:
        diff["email_notifications"] = {"from": live_emails, "to": wanted_emails}
        if wanted_emails:
            changed["email_notifications"] = desired.email_notifications
        else:
            remove.append("email_notifications")
    live_tags, wanted_tags = dict(current.tags or {}), dict(desired.tags or {})
    if live_tags != wanted_tags:
        diff["tags"] = {"from": live_tags, "to": wanted_tags}
        if wanted_tags:
            changed["tags"] = wanted_tags
        else:
            remove.append("tags")
    if (current.description or "") != (desired.description or ""):
        diff["description"] = {"from": current.description, "to": desired.description}
        if desired.description:
            changed["description"] = desired.description
        else:
            remove.append("description")
    return JobChange(JobSettings(**changed), remove, diff)

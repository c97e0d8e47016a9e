"""The schedule kind in one room: the Databricks job that runs a triggered pack pipeline on its cron
(docs/SHAREPACK.md §8.2; docs/WORKFLOW.md §9.5, §11).

* its desired settings from the canonical pack (`desired_job_settings`, named `<name_prefix>_schedule`);
* its managed fields compared once: plan compares the desired settings with the live job (`job_change`), drift the
  recorded cron, time zone and pipeline (`schedule_differences`);
* its action in the graph, `schedule:<job name>`: create, update the differing settings, or delete the job this
  pack created when the pipeline became continuous; a job found by name (not recorded) is adopted;
* its Databricks calls, through the `jobs.schedules` gateway: a create sent once (never replayed), update, delete;
* its record: the schedule fields of the pipeline's SCD2 row (`db.repositories.pipelines`), written after the
  pipeline step recorded the pipeline itself;
* its pack fields read back from a live job, for the export: a pipeline's whole entry (`exported_pipeline`,
  docs/WORKFLOW.md §15);
* its live check before anything is planned (`check_schedule_job`: no other pipeline's job of its name), run by
  `orchestrator.checks`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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

from dbrx_api.jobs.cron import cron_equal
from dbrx_api.jobs.schedules import sdk_create_job, sdk_update_job
from dbrx_api.schemas.common import enum_text
from dbrx_api.settings import ScheduleDefaults
from dbrx_api.workflow.db.repositories.pipelines import PipelineRecord
from dbrx_api.workflow.models.pack import CronSchedule as PackCron
from dbrx_api.workflow.models.pack import Pipeline, Share, SharePack
from dbrx_api.workflow.orchestrator.actions import (
    Action,
    Adoption,
    AnyAction,
    StepType,
    Verb,
    step_key,
)
from dbrx_api.workflow.orchestrator.live import LiveReader, job_name_of, job_pipeline_id
from dbrx_api.workflow.orchestrator.steps import RunContext, StepFailure, StepResult
from dbrx_api.workflow.resources import Warn
from dbrx_api.workflow.resources.pipeline import (
    PIPELINE,
    PipelineWork,
    delete_job,
    exported_pipeline_fields,
    merged_tags,
    notification_emails,
    write_record,
)
from dbrx_api.workflow.resources.pipeline import RESOURCE_TYPE as PIPELINE_TYPE

if TYPE_CHECKING:
    from uuid import UUID

    from databricks.sdk.service.pipelines import GetPipelineResponse

    from dbrx_api.settings import Settings
    from dbrx_api.workflow.db.connection import DictConnection
    from dbrx_api.workflow.orchestrator.checks import LiveChecker, LiveLookup
    from dbrx_api.workflow.orchestrator.diff import GraphBuilder
    from dbrx_api.workflow.validators.locator import PackLocator

RESOURCE_TYPE = StepType.SCHEDULE  # step key `schedule:<job name>`


# ------------------------------------------------------------------------------------------ desired job


def schedule_job_name(pipeline: Pipeline, suffix: str) -> str:
    """`<name_prefix><suffix>`: `<name_prefix>_schedule` with the default `schedules.job_name_suffix`."""
    return f"{pipeline.name_prefix}{suffix}"


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
        name=schedule_job_name(pipeline, defaults.job_name_suffix),
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


def _task_pipeline(settings: JobSettings | None, task_key: str) -> tuple[str | None, bool]:
    """The pipeline and `full_refresh` of the job's pipeline task `task_key`; a full refresh on every run
    recomputes the target, so plan and drift read it."""
    for task in (settings.tasks if settings else None) or []:
        if task.pipeline_task is not None and task.task_key == task_key:
            return task.pipeline_task.pipeline_id, bool(task.pipeline_task.full_refresh)
    return None, False


def _failure_emails(settings: JobSettings) -> list[str]:
    notifications = settings.email_notifications
    return sorted(e.lower() for e in (notifications.on_failure if notifications else None) or [])


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

    def set_or_remove(name: str, value: Any) -> None:
        """Send a changed field; one the pack empties goes in `fields_to_remove` instead."""
        if value:
            changed[name] = value
        else:
            remove.append(name)

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
    live_emails, wanted_emails = _failure_emails(current), _failure_emails(desired)
    if live_emails != wanted_emails:
        diff["email_notifications"] = {"from": live_emails, "to": wanted_emails}
        set_or_remove("email_notifications", desired.email_notifications if wanted_emails else None)
    live_tags, wanted_tags = dict(current.tags or {}), dict(desired.tags or {})
    if live_tags != wanted_tags:
        diff["tags"] = {"from": live_tags, "to": wanted_tags}
        set_or_remove("tags", wanted_tags)
    if (current.description or "") != (desired.description or ""):
        diff["description"] = {"from": current.description, "to": desired.description}
        set_or_remove("description", desired.description)
    return JobChange(JobSettings(**changed), remove, diff)


# ------------------------------------------------------------------------------------------ executor data


@dataclass
class ScheduleWork:
    """Executor data of a schedule action; `pipeline` is its pipeline's work (its id is known once that ran)."""

    pipeline: PipelineWork
    job: BaseJob | Job | None = None
    job_created_by_pack: bool | None = None
    job_change: JobChange | None = None
    duplicate_jobs: list[int] = field(default_factory=list)
    delete_job_id: int | None = None  # continuous now: the recorded job this pack created goes


# ------------------------------------------------------------------------------------------ plan


def _plan_schedule(graph: GraphBuilder, pipeline: Pipeline, pipeline_work: PipelineWork) -> None:
    """The `schedule:<job name>` action of a pipeline: the recorded job, else the jobs of that name running it."""
    schedules = graph.i.databricks.schedules
    share, row = pipeline_work.share, pipeline_work.previous
    work = ScheduleWork(pipeline_work)
    job_name = schedule_job_name(pipeline, schedules.job_name_suffix)
    path = graph.i.locator.pipeline(pipeline.name_prefix)
    owned_row = row if graph.recorded.owned(row) else None
    recorded_job = owned_row.schedule_job_id if owned_row else None
    recorded_job_created = bool(owned_row and owned_row.schedule_job_created_by_pack)
    deps = {step_key(PIPELINE_TYPE, pipeline.name_prefix)}
    if not isinstance(pipeline.schedule, PackCron):
        if recorded_job is not None and recorded_job_created:
            work.delete_job_id = int(recorded_job)
            graph.add(
                Action(
                    RESOURCE_TYPE,
                    job_name,
                    Verb.DELETE,
                    work,
                    deps=deps,
                    calls=1,
                    reason="the pipeline is continuous now",
                )
            )
        elif recorded_job is not None:
            graph.warn(
                "schedule_job_kept",
                path,
                f"job {recorded_job} was not created by this pack; it is left in place although the pipeline "
                "is continuous now.",
            )
        return
    live_job: BaseJob | Job | None = None
    if recorded_job is not None:
        live_job = graph.reader.job(int(recorded_job))
        if live_job is not None:
            work.job_created_by_pack = recorded_job_created
    if live_job is None:
        running = jobs_running(graph.reader, job_name, pipeline_work.pipeline_id)
        if running:
            live_job = running[0]
            adoption = graph.i.adoption(RESOURCE_TYPE, job_name, running[0].creator_user_name)
            work.job_created_by_pack = adoption.created_by_pack
            work.duplicate_jobs = [job.job_id for job in running[1:] if job.job_id is not None]
    work.job = live_job
    graph.presence_warning("schedule job", job_name, path, exists=live_job is not None)
    after = {"cron": pipeline.schedule.cron, "timezone": pipeline.schedule.timezone}
    if live_job is None:
        graph.add(
            Action(
                RESOURCE_TYPE,
                job_name,
                Verb.CREATE,
                work,
                deps=deps,
                calls=1,
                after=after,
            )
        )
        return
    desired = desired_job_settings(
        share, pipeline, pipeline_work.pipeline_id or "", defaults=schedules
    )
    change = job_change(desired, live_job, schedules.task_key)
    work.job_change = change
    calls = (0 if change.empty else 1) + len(work.duplicate_jobs)
    diff: dict[str, Any] = dict(change.diff)
    if work.duplicate_jobs:
        diff["duplicate_jobs_deleted"] = work.duplicate_jobs
    schedule_action = graph.add(
        Action(
            RESOURCE_TYPE,
            job_name,
            Verb.NOOP if calls == 0 else Verb.UPDATE,
            work,
            deps=deps,
            calls=calls,
            diff=diff or None,
        )
    )
    if recorded_job is None:  # found by name: no pack records this job
        graph.adopting(schedule_action, None, work.job_created_by_pack)


# ------------------------------------------------------------------------------------------ executors


def _delete_duplicates(ctx: RunContext, work: ScheduleWork, job_name: str) -> int:
    """Jobs named like the schedule and running the pipeline besides the kept (lowest) one (docs/WORKFLOW.md §9.5)."""
    if not work.duplicate_jobs:
        return 0
    adoption: Adoption = ctx.adoption(RESOURCE_TYPE, job_name, None)
    identity = ctx.reader.identity()
    calls = 0
    for job_id in work.duplicate_jobs:
        job = ctx.reader.job(job_id)
        if job is None:
            continue
        created_ms = job.created_time or 0
        ours = (job.creator_user_name or "") == identity
        after_intent = adoption.intent_at is not None and created_ms >= int(
            adoption.intent_at.timestamp() * 1000
        )
        if not (ours and after_intent):
            raise StepFailure(
                "schedule_job_conflict",
                f'job "{job_name}" exists more than once ({job_id}) and this pack did not create the copies.',
            )
        delete_job(ctx, job_id)
        calls += 1
    return calls


# ------------------------------------------------------------------------------------------ drift


def schedule_differences(row: PipelineRecord, job: Any, task_key: str) -> list[dict[str, Any]]:
    """Recorded vs live schedule job: the pipeline its task `task_key` runs (without a full refresh), cron,
    timezone, not paused."""
    settings = job.settings
    schedule = settings.schedule if settings else None
    found: list[dict[str, Any]] = []
    # The task the plan reads and sets (`job_change`): a job running the pipeline under another key is changed.
    live_pipeline, live_full_refresh = _task_pipeline(settings, task_key)
    if str(row.databricks_pipeline_id) != (live_pipeline or ""):
        found.append(
            {
                "field": "pipeline_id",
                "recorded": row.databricks_pipeline_id,
                "live": live_pipeline,
            }
        )
    if live_full_refresh:  # the plan sends `full_refresh: false` back (`job_change`)
        found.append({"field": "full_refresh", "recorded": False, "live": True})
    live_cron = schedule.quartz_cron_expression if schedule else None
    if row.cron and not (live_cron and cron_equal(live_cron, str(row.cron))):
        found.append({"field": "cron", "recorded": row.cron, "live": live_cron})
    live_zone = schedule.timezone_id if schedule else None
    if row.timezone and (live_zone or "").lower() != str(row.timezone).lower():
        found.append({"field": "timezone", "recorded": row.timezone, "live": live_zone})
    live_pause = enum_text(schedule.pause_status) if schedule else None
    if schedule is not None and live_pause not in (None, "UNPAUSED"):
        found.append({"field": "pause_status", "recorded": "UNPAUSED", "live": live_pause})
    return found


# ------------------------------------------------------------------------------------------ export


def jobs_running(reader: LiveLookup, job_name: str, pipeline_id: str | None) -> list[BaseJob]:
    """The jobs named `job_name` that run this pipeline, lowest id first: the first is the one a plan adopts and
    the export describes, the others are duplicates."""
    running = [
        job
        for job in reader.jobs_named(job_name)
        if pipeline_id and job_pipeline_id(job) == pipeline_id
    ]
    return sorted(running, key=lambda job: job.job_id or 0)


def running_job(
    reader: LiveLookup, pipeline_name: str, pipeline_id: str, defaults: ScheduleDefaults
) -> BaseJob | None:
    """The job `<name>_schedule` a plan would adopt for this pipeline (`jobs_running`), with settings and tasks."""
    running = jobs_running(reader, f"{pipeline_name}{defaults.job_name_suffix}", pipeline_id)
    return running[0] if running else None


def exported_pipeline(
    reader: LiveReader,
    detail: GetPipelineResponse,
    table: str,
    defaults: ScheduleDefaults,
    warn: Warn,
) -> Pipeline | None:
    """The pack entry of a live pipeline reading `table`, with its schedule job (docs/WORKFLOW.md §15).

    The pipeline's own fields are `pipeline.exported_pipeline_fields`; a triggered pipeline's schedule and
    description are those of its job (`running_job`). None when a pack cannot describe it; a triggered pipeline
    without a scheduled job is left out with a warning (a pack pipeline is continuous or scheduled).
    """
    values = exported_pipeline_fields(detail, table, warn)
    if values is None:
        return None
    if "schedule" not in values:
        name = values["name_prefix"]
        job = running_job(reader, name, detail.pipeline_id or "", defaults)
        settings = job.settings if job is not None else None
        cron = settings.schedule if settings is not None else None
        if settings is None or cron is None or not cron.quartz_cron_expression:
            warn(
                "export_unrepresentable",
                f'pipeline "{name}" is triggered but has no schedule job "{name}{defaults.job_name_suffix}" '
                "running it; a pack pipeline is continuous or scheduled, so it is left out.",
            )
            return None
        values["schedule"] = PackCron(
            cron=cron.quartz_cron_expression, timezone=cron.timezone_id or "UTC"
        )
        if settings.description:
            values["description"] = settings.description
    return Pipeline.model_validate(values)


# ------------------------------------------------------------------------------------------ live checks


def check_schedule_job(
    checker: LiveChecker, pipeline: Pipeline, existing: list[GetPipelineResponse]
) -> None:
    """Stage-5 check of a scheduled pipeline's job (docs/SHAREPACK.md §13.4): a job of its name that this pack did
    not record and that runs another pipeline than `existing` (from `pipeline.check_pipeline`) is a conflict."""
    if len(existing) > 1 or not isinstance(pipeline.schedule, PackCron):
        return  # several pipelines of that name: `check_pipeline` reported it, no job can be told apart
    path = checker.locator.pipeline(pipeline.name_prefix)
    job_name = schedule_job_name(pipeline, checker.job_name_suffix)
    jobs = checker.call("jobs_named", job_name, path, lambda: _named_jobs(checker, job_name)) or []
    pipeline_id = existing[0].pipeline_id if existing else None
    recorded_jobs = set(checker.recorded.job_ids.values())
    for job in jobs:
        if job.job_id in recorded_jobs or (
            pipeline_id is not None and job_pipeline_id(job) == pipeline_id
        ):
            continue
        checker.add(
            "error",
            "schedule_job_conflict",
            path,
            f'job "{job_name_of(job)}" (id {job.job_id}) runs another pipeline.',
            input_value=job_name_of(job),
        )
        break


def _named_jobs(checker: LiveChecker, job_name: str) -> list[BaseJob] | list[Job]:
    """The jobs named `job_name`: the one this pack recorded, read by id (docs/WORKFLOW.md §9.7), else by name."""
    recorded = checker.recorded.job_ids.get(job_name.lower())
    job = checker.lookup.job(recorded) if recorded is not None else None
    return [job] if job is not None else checker.lookup.jobs_named(job_name)


# ------------------------------------------------------------------------------------------ the kind


class ScheduleKind:
    """The schedule job as a `ResourceKind`: its action is `schedule:<job name>`, planned after its pipeline's."""

    resource_type = RESOURCE_TYPE
    action_types = frozenset({RESOURCE_TYPE})

    def plan(self, graph: GraphBuilder) -> None:
        """The schedule of every declared pipeline (the pipeline actions are in the graph already)."""
        pipelines = {
            action.name.lower(): action.work
            for action in graph.actions
            if action.step_type == PIPELINE_TYPE and isinstance(action.work, PipelineWork)
        }
        for share in graph.i.pack.share:
            for pipeline in share.pipelines or []:
                work = pipelines.get(pipeline.name_prefix.lower())
                if work is not None:
                    _plan_schedule(graph, pipeline, work)

    def leftovers(self, graph: GraphBuilder) -> None:
        """Nothing: a schedule goes with its pipeline."""

    def execute(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """The schedule job of a triggered pipeline: create (never replayed), update the differing settings, or
        delete the job this pack created when the pipeline became continuous."""
        work: ScheduleWork = action.work
        owner = work.pipeline
        schedules = ctx.databricks.schedules
        name = owner.pipeline.name_prefix
        job_name = schedule_job_name(owner.pipeline, schedules.job_name_suffix)
        calls = 0
        detail: dict[str, Any] = {}
        record = ctx.recalled(PIPELINE_TYPE, name, PipelineRecord)
        if record is None:
            raise StepFailure("internal_error", f"schedule of {name} without its pipeline record")
        if action.kind == Verb.DELETE:
            if work.delete_job_id is not None:
                delete_job(ctx, work.delete_job_id)
                calls += 1
            record = dataclasses.replace(
                record,
                schedule_job_id=None,
                schedule_job_created_by_pack=None,
                cron=None,
                timezone=None,
            )
        else:
            schedule = owner.pipeline.schedule
            desired = desired_job_settings(
                owner.share, owner.pipeline, owner.pipeline_id or "", defaults=schedules
            )
            job_id: int | None = work.job.job_id if work.job is not None else None
            created_by_pack = bool(work.job_created_by_pack)
            if action.kind == Verb.CREATE or work.job is None:
                job_id = sdk_create_job(ctx.workspace.client, desired, sender=ctx.workspace)
                created_by_pack = True
                calls += 1
            else:
                calls += _delete_duplicates(ctx, work, job_name)
                change = job_change(desired, work.job, schedules.task_key)
                if not change.empty and job_id is not None:
                    sdk_update_job(
                        ctx.workspace.client,
                        job_id,
                        change.new_settings,
                        fields_to_remove=change.fields_to_remove,
                    )
                    calls += 1
                    detail["fields"] = sorted(change.diff)
            record = dataclasses.replace(
                record,
                schedule_job_id=job_id,
                schedule_job_created_by_pack=created_by_pack,
                cron=getattr(schedule, "cron", None),
                timezone=getattr(schedule, "timezone", None),
            )
        ctx.remember(PIPELINE_TYPE, name, record)
        return StepResult.after(
            calls,
            ids={"job_id": record.schedule_job_id} if record.schedule_job_id is not None else None,
            detail=detail,
            writes=[write_record(ctx, record, "provisioned")],
            audit_action=f"schedule.{action.kind}",
        )

    def delete(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """A DELETE pack deletes a schedule job with its pipeline (`delete_pipeline`), never on its own."""
        del ctx
        raise ValueError(f"no DELETE-pack action of its own: {action.key}")

    def locate(self, action: AnyAction, locator: PackLocator) -> str:
        """The `.schedule` of the pipeline's entry."""
        work = action.work
        if isinstance(work, ScheduleWork):
            return f"{locator.pipeline(work.pipeline.pipeline.name_prefix)}.schedule"
        return ""

    def read(self, reader: LiveReader, name: str) -> BaseJob | Job | None:
        """The live job by its recorded id (`name` is the `schedule_job_id`), None when absent."""
        return reader.job(int(name)) if name else None

    def drift(
        self, row: PipelineRecord, pack: SharePack | None, live: BaseJob | Job, settings: Settings
    ) -> list[dict[str, Any]]:
        """Recorded (on the pipeline row) vs live schedule job; its pipeline task is read by the configured
        `task_key`, as the plan reads it."""
        del pack
        return schedule_differences(row, live, settings.databricks.schedules.task_key)

    def recorded(
        self, conn: DictConnection, workspace_url: str, share_pack_id: UUID | None
    ) -> list[PipelineRecord]:
        """The recorded pipelines: a schedule job is recorded on its pipeline's row."""
        return PIPELINE.recorded(conn, workspace_url, share_pack_id)

    def drift_target(self, row: PipelineRecord, settings: Settings) -> tuple[str, str] | None:
        """The job recorded on a pipeline row, read by its id; None for a continuous pipeline (no job)."""
        job_id = row.schedule_job_id
        if job_id is None:
            return None
        return f"{row.pipeline_name}{settings.databricks.schedules.job_name_suffix}", str(job_id)


SCHEDULE = ScheduleKind()

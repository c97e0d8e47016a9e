"""Schedules: the Databricks jobs that run pipelines on a cron (docs/API.md §8, §11.8).

A schedule is a job with at least one `pipeline_task`. Listings read every `jobs.list` page (no cap). Jobs created
here get one task running the pipeline, a Quartz cron with an IANA time zone and `max_concurrent_runs`. Cron and time
zone are validated before any upstream call; `jobs.update` replaces only the top-level `schedule`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import (
    BaseJob,
    CreateResponse,
    CronSchedule,
    Job,
    JobEmailNotifications,
    JobSettings,
    PauseStatus,
    PipelineTask,
    Task,
)

from dbrx_api.errors import (
    AppError,
    ConflictError,
    NotFoundError,
    UpstreamError,
    ValidationFailed,
    is_transport_failure,
    upstream,
)
from dbrx_api.jobs.cron import CronError, cron_equal, validate_quartz, validate_timezone
from dbrx_api.jobs.resolution import (
    PIPELINES_PAGE,
    PIPELINES_PATH,
    PipelineRef,
    job_name,
    jobs_of_pipeline,
    list_pipeline_jobs,
    pipeline_ids_of,
    resolve_pipeline,
    resolve_schedule_job,
)
from dbrx_api.once import DirectSender, OnceSender
from dbrx_api.passthrough import list_all
from dbrx_api.schemas.common import ListQuery, enum_text, from_epoch_ms, slice_page, to_epoch_ms
from dbrx_api.schemas.pipelines import JobRef, KeptJob
from dbrx_api.schemas.schedules import (
    EmailNotifications,
    PipelineSchedules,
    Schedule,
    ScheduleChange,
    ScheduleCreate,
    ScheduleDeleted,
    ScheduleList,
    SchedulePipeline,
    SchedulesDeleted,
)
from dbrx_api.settings import ScheduleDefaults

logger = logging.getLogger(__name__)

_JOBS_CREATE_PATH = "/api/2.2/jobs/create"


# ------------------------------------------------------------------------------------------ gateway
# Each change to a job, written once: the REST service below and the share pack's schedule room
# (workflow/resources/schedule.py) both call these.


def sdk_create_job(
    ws: WorkspaceClient, settings: JobSettings, *, sender: OnceSender | None = None
) -> int:
    """`jobs.create`, sent exactly once (`dbrx_api.once`: a replay would make a second job); the new job's id.

    A lost response leaves as `upstream_unreachable`; the caller looks for the job by name to learn whether it exists.
    """
    with upstream("job", settings.name or ""):
        response = (sender or DirectSender(ws)).post_once(
            "jobs.create", _JOBS_CREATE_PATH, settings.as_dict()
        )
    return CreateResponse.from_dict(response).job_id or 0


def sdk_update_job(
    ws: WorkspaceClient,
    job_id: int,
    new_settings: JobSettings,
    *,
    fields_to_remove: Sequence[str] | None = None,
) -> None:
    """`jobs.update`: replaces the top-level settings given (tasks merged by key), removes `fields_to_remove`."""
    with upstream("job", str(job_id)):
        ws.jobs.update(
            job_id,
            new_settings=new_settings,
            fields_to_remove=list(fields_to_remove) if fields_to_remove else None,
        )


def sdk_delete_job(ws: WorkspaceClient, job_id: int, *, missing_ok: bool = False) -> None:
    """`jobs.delete`; with `missing_ok` a job that no longer exists counts as deleted."""
    try:
        with upstream("job", str(job_id)):
            ws.jobs.delete(job_id)
    except NotFoundError:
        if not missing_ok:
            raise


# ------------------------------------------------------------------------------------------ validation


def _invalid(exc: CronError, field: str) -> ValidationFailed:
    return ValidationFailed(
        f"The request is invalid: body.{field}: {exc.message}",  # the message ends its sentence
        errors=[{"loc": ["body", field], "msg": exc.message, "type": exc.error_type}],
    )


def checked_cron(expression: str, field: str = "cron_expression") -> str:
    """The normalised Quartz expression, or 422 (`cron_not_quartz` with the Quartz equivalent, `cron_invalid`)."""
    try:
        return validate_quartz(expression)
    except CronError as exc:
        raise _invalid(exc, field) from exc


def checked_timezone(value: str, field: str = "timezone") -> str:
    """The canonical IANA time-zone id, or 422 `timezone_invalid`."""
    try:
        return validate_timezone(value)
    except CronError as exc:
        raise _invalid(exc, field) from exc


# ------------------------------------------------------------------------------------------ conversions


def schedule_type(settings: JobSettings | None) -> str:
    """How the job is triggered: `cron`, `trigger` (file arrival, table update, …), `continuous` or `none`."""
    if settings is None:
        return "none"
    if settings.schedule is not None:
        return "cron"
    if settings.trigger is not None:
        return "trigger"
    if settings.continuous is not None:
        return "continuous"
    return "none"


def _pause_status(settings: JobSettings) -> str | None:
    for block in (settings.schedule, settings.trigger, settings.continuous):
        if block is not None:
            return enum_text(block.pause_status)
    return None


def schedule_from_job(
    job: BaseJob | Job, pipeline_names: Mapping[str, str | None] | None = None
) -> Schedule:
    """The API's view of a schedule job; pipeline names come from `pipeline_names` (null when unknown)."""
    settings = job.settings or JobSettings()
    names = pipeline_names or {}
    emails = settings.email_notifications or JobEmailNotifications()
    tasks = settings.tasks or []
    return Schedule.model_validate(
        {
            "job_id": job.job_id or 0,
            "job_name": settings.name or "",
            "pipelines": [
                SchedulePipeline(pipeline_id=pid, name=names.get(pid))
                for pid in pipeline_ids_of(settings)
            ],
            "schedule_type": schedule_type(settings),
            "cron_expression": settings.schedule.quartz_cron_expression
            if settings.schedule
            else None,
            "timezone": settings.schedule.timezone_id if settings.schedule else None,
            "pause_status": _pause_status(settings),
            "max_concurrent_runs": settings.max_concurrent_runs or 1,
            "email_notifications": EmailNotifications(
                on_start=list(emails.on_start or []),
                on_success=list(emails.on_success or []),
                on_failure=list(emails.on_failure or []),
            ),
            "tags": dict(settings.tags or {}),
            "description": settings.description,
            "other_task_count": sum(1 for task in tasks if task.pipeline_task is None),
            "created_time": from_epoch_ms(job.created_time),
            "creator_user_name": job.creator_user_name,
        }
    )


def _sorted(schedules: Iterable[Schedule]) -> list[Schedule]:
    return sorted(schedules, key=lambda s: (s.job_name.lower(), s.job_id))


# ------------------------------------------------------------------------------------------ reads


def list_schedules(ws: WorkspaceClient, query: ListQuery) -> ScheduleList:
    """Every job that runs a pipeline (every `jobs.list` page), with pipeline names from one listing pass.

    Both listings are pass-through reads (`dbrx_api.passthrough`): only the jobs that run a pipeline become SDK
    objects, which `schedule_from_job` reads as the detail endpoints do.
    """
    jobs = list_pipeline_jobs(ws)
    with upstream("pipeline"):
        names: dict[str, str | None] = {
            info["pipeline_id"]: info.get("name")
            for info in list_all(ws, PIPELINES_PATH, "statuses", {"max_results": PIPELINES_PAGE})
            if info.get("pipeline_id")
        }
    schedules = [schedule_from_job(job, names) for job in jobs]
    page, envelope = slice_page(
        schedules,
        query,
        name_of=lambda s: s.job_name,
        sort_key=lambda s: (s.job_name.lower(), s.job_id),
    )
    return ScheduleList(items=page, **envelope)


def list_pipeline_schedules(ws: WorkspaceClient, pipeline: str) -> PipelineSchedules:
    """The schedule jobs of one pipeline (`items: []` when it has none)."""
    ref = resolve_pipeline(ws, pipeline, with_spec=False)
    jobs = jobs_of_pipeline(list_pipeline_jobs(ws), ref.pipeline_id)
    items = _sorted(schedule_from_job(job, {ref.pipeline_id: ref.name}) for job in jobs)
    return PipelineSchedules(
        pipeline_id=ref.pipeline_id,
        pipeline_name=ref.name,
        items=items,
        count=len(items),
        total=len(items),
        next_offset=None,
    )


# ------------------------------------------------------------------------------------------ create


def create_schedule(
    ws: WorkspaceClient, pipeline: str, body: ScheduleCreate, *, defaults: ScheduleDefaults
) -> Schedule:
    """Create a cron job running the pipeline (docs/API.md §8.3).

    Raises:
        ValidationFailed: invalid cron or time zone (before any upstream call).
        ConflictError: `schedule_already_exists` (a job has that name) or `schedule_duplicate_cron` (another job
            already runs this pipeline on the same cron and time zone).
    """
    cron = checked_cron(body.cron_expression)
    timezone = checked_timezone(body.timezone or defaults.default_timezone)
    ref = resolve_pipeline(ws, pipeline, with_spec=False)
    name = body.job_name or f"{ref.name}{defaults.job_name_suffix}"
    with upstream("job", name):
        same_name = [
            job for job in ws.jobs.list(name=name) if job_name(job).lower() == name.lower()
        ]
    if same_name:
        raise ConflictError(
            f"A job named '{name}' already exists (job {same_name[0].job_id}); choose another job_name.",
            code="schedule_already_exists",
            job_id=same_name[0].job_id,
        )
    for job in jobs_of_pipeline(list_pipeline_jobs(ws), ref.pipeline_id):
        current = job.settings.schedule if job.settings else None
        if (
            current is not None
            and cron_equal(current.quartz_cron_expression, cron)
            and (current.timezone_id or "").lower() == timezone.lower()
        ):
            raise ConflictError(
                f"Job '{job_name(job)}' ({job.job_id}) already runs pipeline '{ref.name}' on '{cron}' "
                f"({timezone}).",
                code="schedule_duplicate_cron",
                job_id=job.job_id,
            )
    emails = None
    if body.email_notifications:
        emails = JobEmailNotifications(
            on_failure=list(body.email_notifications), on_success=list(body.email_notifications)
        )
    settings = JobSettings(
        name=name,
        tasks=[
            Task(
                task_key=defaults.task_key,
                pipeline_task=PipelineTask(
                    pipeline_id=ref.pipeline_id, full_refresh=body.full_refresh
                ),
            )
        ],
        schedule=CronSchedule(
            quartz_cron_expression=cron,
            timezone_id=timezone,
            pause_status=PauseStatus.PAUSED if body.paused else PauseStatus.UNPAUSED,
        ),
        max_concurrent_runs=defaults.max_concurrent_runs,
        email_notifications=emails,
        tags=dict(body.tags) if body.tags else None,
        description=body.description,
    )
    started = datetime.now(UTC)
    job_id: int | None
    try:
        job_id = sdk_create_job(ws, settings)
    except AppError as exc:
        if not is_transport_failure(exc):
            raise
        # The request may have been applied before its answer was lost: a job created since then is this one.
        job_id = _created_after(ws, name, ref.pipeline_id, started)
        if job_id is None:
            raise UpstreamError(
                f"Creating job '{name}' could not be confirmed; the workspace was unreachable.",
                code="upstream_unreachable",
            ) from exc
        logger.warning("job creation confirmed by read-back after a transport failure")
    return schedule_from_job(BaseJob(job_id=job_id, settings=settings), {ref.pipeline_id: ref.name})


# Clocks of this service and the workspace may differ a little; a job is "ours" when created after this margin.
_CREATION_CLOCK_SKEW = timedelta(minutes=5)


def _created_after(
    ws: WorkspaceClient, name: str, pipeline_id: str, started: datetime
) -> int | None:
    """The job named `name` running the pipeline, created since `started` (the request whose answer was lost)."""
    threshold = to_epoch_ms(started - _CREATION_CLOCK_SKEW)
    with upstream("job", name):
        found = [
            job
            for job in ws.jobs.list(name=name, expand_tasks=True)
            if job_name(job).lower() == name.lower()
            and pipeline_id in pipeline_ids_of(job.settings)
            and (job.created_time or 0) >= threshold
        ]
    return found[0].job_id if len(found) == 1 else None


# ------------------------------------------------------------------------------------------ setters


def _cron_job(
    ws: WorkspaceClient, pipeline: str, job: str
) -> tuple[PipelineRef, BaseJob | Job, CronSchedule]:
    ref = resolve_pipeline(ws, pipeline, with_spec=False)
    found = resolve_schedule_job(ws, job, ref)
    settings = found.settings or JobSettings()
    if settings.schedule is None:
        raise ConflictError(
            f"Job '{settings.name}' ({found.job_id}) is triggered by "
            f"{schedule_type(settings)}, not by a cron schedule.",
            code="schedule_not_cron",
        )
    return ref, found, settings.schedule


def _change(ws: WorkspaceClient, job: BaseJob | Job, schedule: CronSchedule) -> None:
    sdk_update_job(ws, job.job_id or 0, JobSettings(schedule=schedule))


def _change_result(
    ref: PipelineRef, job: BaseJob | Job, schedule: CronSchedule, changed: bool
) -> ScheduleChange:
    return ScheduleChange.model_validate(
        {
            "pipeline_id": ref.pipeline_id,
            "pipeline_name": ref.name,
            "job_id": job.job_id or 0,
            "job_name": job_name(job),
            "cron_expression": schedule.quartz_cron_expression,
            "timezone": schedule.timezone_id,
            "pause_status": enum_text(schedule.pause_status),
            "changed": changed,
        }
    )


def set_cron(ws: WorkspaceClient, pipeline: str, job: str, cron_expression: str) -> ScheduleChange:
    """Change a schedule's cron, keeping its time zone and pause status; no write when unchanged."""
    cron = checked_cron(cron_expression)
    ref, found, current = _cron_job(ws, pipeline, job)
    changed = not cron_equal(current.quartz_cron_expression, cron)
    schedule = CronSchedule(
        quartz_cron_expression=cron if changed else current.quartz_cron_expression,
        timezone_id=current.timezone_id,
        pause_status=current.pause_status,
    )
    if changed:
        _change(ws, found, schedule)
    return _change_result(ref, found, schedule, changed)


def set_timezone(ws: WorkspaceClient, pipeline: str, job: str, timezone: str) -> ScheduleChange:
    """Change a schedule's time zone, keeping its cron and pause status; no write when unchanged."""
    zone = checked_timezone(timezone)
    ref, found, current = _cron_job(ws, pipeline, job)
    changed = current.timezone_id != zone
    schedule = CronSchedule(
        quartz_cron_expression=current.quartz_cron_expression,
        timezone_id=zone,
        pause_status=current.pause_status,
    )
    if changed:
        _change(ws, found, schedule)
    return _change_result(ref, found, schedule, changed)


# ------------------------------------------------------------------------------------------ delete


def delete_schedule(ws: WorkspaceClient, pipeline: str, job: str) -> ScheduleDeleted:
    """Delete one schedule job after verifying it runs the pipeline."""
    ref = resolve_pipeline(ws, pipeline, with_spec=False)
    found = resolve_schedule_job(ws, job, ref)
    sdk_delete_job(ws, found.job_id or 0)
    return ScheduleDeleted(
        pipeline_id=ref.pipeline_id,
        pipeline_name=ref.name,
        job_id=found.job_id or 0,
        job_name=job_name(found),
    )


def _keep_reason(job: BaseJob, pipeline_id: str) -> str | None:
    """Why a job linked to the pipeline must be kept (it runs more than this pipeline), None to delete it."""
    tasks = (job.settings.tasks if job.settings else None) or []
    others = sum(1 for task in tasks if task.pipeline_task is None)
    foreign = [pid for pid in pipeline_ids_of(job.settings) if pid != pipeline_id]
    reasons = []
    if others:
        reasons.append(f"it also runs {others} task(s) that are not pipeline tasks")
    if foreign:
        reasons.append(f"it also runs pipeline(s) {', '.join(foreign)}")
    return "; ".join(reasons) or None


def applied_text(job: JobRef) -> str:
    """How a completed job deletion is listed in a problem's `applied` member."""
    return f"schedule job {job.job_id} '{job.job_name}' deleted"


def delete_schedule_jobs(
    ws: WorkspaceClient, ref: PipelineRef, jobs: Sequence[BaseJob] | None = None
) -> tuple[list[JobRef], list[KeptJob]]:
    """Delete the jobs that only run this pipeline; report jobs that also run other work as kept.

    A failure part-way carries `applied` (the jobs already deleted); repeating the request completes it.
    """
    linked = jobs_of_pipeline(jobs if jobs is not None else list_pipeline_jobs(ws), ref.pipeline_id)
    deleted: list[JobRef] = []
    kept: list[KeptJob] = []
    for job in sorted(linked, key=lambda j: j.job_id or 0):
        reason = _keep_reason(job, ref.pipeline_id)
        if reason is not None:
            kept.append(KeptJob(job_id=job.job_id or 0, job_name=job_name(job), reason=reason))
            continue
        try:
            sdk_delete_job(ws, job.job_id or 0)
        except AppError as exc:
            if deleted:
                exc.with_extra(applied=[applied_text(d) for d in deleted])
            raise
        deleted.append(JobRef(job_id=job.job_id or 0, job_name=job_name(job)))
    if deleted:
        logger.info(
            "schedule jobs deleted",
            extra={"pipeline_id": ref.pipeline_id, "job_ids": [d.job_id for d in deleted]},
        )
    return deleted, kept


def delete_all_schedules(ws: WorkspaceClient, pipeline: str) -> SchedulesDeleted:
    """Delete every schedule job of a pipeline (jobs running other work are kept and reported)."""
    ref = resolve_pipeline(ws, pipeline, with_spec=False)
    deleted, kept = delete_schedule_jobs(ws, ref)
    return SchedulesDeleted(
        pipeline_id=ref.pipeline_id, pipeline_name=ref.name, deleted=deleted, kept_jobs=kept
    )

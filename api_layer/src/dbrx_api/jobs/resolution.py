"""Exact pipeline and job addressing (docs/API.md §1.9).

A pipeline path value is an id or an exact name. Upstream name filters use SQL `LIKE`, where `_` and `%` are
wildcards, so the filter only narrows the search: the service keeps results whose name *equals* the value.
Jobs are addressed by exact (case-insensitive) name or by numeric id, and must be linked to the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.jobs import BaseJob, Job, JobSettings
from databricks.sdk.service.pipelines import GetPipelineResponse, PipelineStateInfo

from dbrx_api.errors import ConflictError, NotFoundError, upstream
from dbrx_api.passthrough import Item, list_all
from dbrx_api.schemas.paths import path_segment

# Largest page `list_pipelines` accepts (more is an upstream error).
PIPELINES_PAGE = 100
PIPELINES_PATH = "/api/2.0/pipelines"  # the SDK's `pipelines.list_pipelines`
# Largest page `jobs.list` accepts.
JOBS_PAGE = 100
JOBS_PATH = "/api/2.2/jobs/list"  # the SDK's `jobs.list`

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: str) -> bool:
    """Whether `value` has the shape of a pipeline id."""
    return _UUID.match(value) is not None


@dataclass(frozen=True, slots=True)
class PipelineRef:
    """A resolved pipeline: its id and name, and the full `get` response when it was read."""

    pipeline_id: str
    name: str
    detail: GetPipelineResponse | None = None

    def require_detail(self) -> GetPipelineResponse:
        """The `get` response (resolution was asked for it)."""
        if self.detail is None:  # pragma: no cover - a programming error, not a runtime condition
            raise RuntimeError("pipeline resolved without its spec")
        return self.detail


def like_filter(name: str) -> str:
    """The `list_pipelines` filter narrowing the search to `name` (quotes doubled, as SQL literals need)."""
    return "name LIKE '{}'".format(name.replace("'", "''"))


def find_pipelines_by_name(ws: WorkspaceClient, name: str) -> list[PipelineStateInfo]:
    """Every pipeline whose name equals `name` exactly (case-sensitive, wildcards literal).

    One `list_pipelines` pass: filtered with `LIKE` (a superset, because `_` and `%` match other names), or unfiltered
    when the name contains a backslash, whose meaning inside `LIKE` is not specified upstream.
    """
    with upstream("pipeline", name):
        if "\\" in name:
            candidates = ws.pipelines.list_pipelines(max_results=PIPELINES_PAGE)
        else:
            candidates = ws.pipelines.list_pipelines(
                filter=like_filter(name), max_results=PIPELINES_PAGE
            )
        return [info for info in candidates if info.name == name]


def _get_pipeline(ws: WorkspaceClient, pipeline_id: str) -> GetPipelineResponse:
    with upstream("pipeline", pipeline_id):
        return ws.pipelines.get(path_segment(pipeline_id))


def resolve_pipeline(ws: WorkspaceClient, value: str, *, with_spec: bool) -> PipelineRef:
    """Resolve a pipeline path value (id or exact name) to one pipeline.

    A UUID-shaped value is read by id first (one `get`); when that is 404 it is looked up as a name. A name costs one
    `list_pipelines` pass, plus one `get` when `with_spec` is set.

    Raises:
        NotFoundError: `pipeline_not_found` when nothing matches.
        ConflictError: `pipeline_name_ambiguous` when several pipelines carry the name (lists their ids).
    """
    if is_uuid(value):
        try:
            detail = _get_pipeline(ws, value)
        except NotFoundError:
            pass  # not an id: a pipeline may carry this UUID-shaped text as its name
        else:
            return PipelineRef(detail.pipeline_id or value, detail.name or "", detail)
    matches = find_pipelines_by_name(ws, value)
    if not matches:
        raise NotFoundError(
            f"No pipeline has the id or the exact name '{value}'.", code="pipeline_not_found"
        )
    if len(matches) > 1:
        ids = sorted(m.pipeline_id or "" for m in matches)
        raise ConflictError(
            f"{len(matches)} pipelines are named '{value}'; address one by id: {', '.join(ids)}.",
            code="pipeline_name_ambiguous",
            pipeline_ids=ids,
        )
    match = matches[0]
    pipeline_id = match.pipeline_id or ""
    if not with_spec:
        return PipelineRef(pipeline_id, match.name or value)
    detail = _get_pipeline(ws, pipeline_id)
    return PipelineRef(pipeline_id, detail.name or value, detail)


# ------------------------------------------------------------------------------------------ jobs


def pipeline_ids_of(settings: JobSettings | None) -> list[str]:
    """Pipeline ids started by a job's `pipeline_task`s, in task order, without repeats."""
    ids: list[str] = []
    for task in (settings.tasks if settings else None) or []:
        pipeline_id = task.pipeline_task.pipeline_id if task.pipeline_task else None
        if pipeline_id and pipeline_id not in ids:
            ids.append(pipeline_id)
    return ids


def job_name(job: BaseJob | Job) -> str:
    """The job's name ("" when unset)."""
    return (job.settings.name if job.settings else None) or ""


def list_pipeline_jobs(ws: WorkspaceClient) -> list[BaseJob]:
    """Every job of the workspace with at least one `pipeline_task` (all pages; no cap), with its tasks.

    A pass-through read (`dbrx_api.passthrough`) of the pages the SDK's `jobs.list(expand_tasks=True)` requests:
    only the jobs that run a pipeline become SDK `BaseJob`s (its `from_dict`), the others are never converted.
    """
    with upstream("job"):
        jobs = list_all(ws, JOBS_PATH, "jobs", {"expand_tasks": True, "limit": JOBS_PAGE})
    return [BaseJob.from_dict(job) for job in jobs if _runs_a_pipeline(job)]


def _runs_a_pipeline(job: Item) -> bool:
    tasks = (job.get("settings") or {}).get("tasks") or ()
    return any((task.get("pipeline_task") or {}).get("pipeline_id") for task in tasks)


def jobs_of_pipeline(jobs: Iterable[BaseJob], pipeline_id: str) -> list[BaseJob]:
    """The jobs with at least one `pipeline_task` for `pipeline_id`."""
    return [job for job in jobs if pipeline_id in pipeline_ids_of(job.settings)]


def _not_linked(value: str, pipeline: PipelineRef) -> NotFoundError:
    return NotFoundError(
        f"Job '{value}' is not a schedule of pipeline '{pipeline.name}' ({pipeline.pipeline_id}).",
        code="job_not_found",
    )


def resolve_schedule_job(ws: WorkspaceClient, value: str, pipeline: PipelineRef) -> BaseJob | Job:
    """The job named (exactly, case-insensitively) or numbered `value` that schedules `pipeline`.

    Raises:
        NotFoundError: `job_not_found` when the job does not exist or has no `pipeline_task` for the pipeline.
        ConflictError: `job_name_ambiguous` when several linked jobs share the name.
    """
    if value.isdigit():
        with upstream("job", value):
            job = ws.jobs.get(int(value))
        if pipeline.pipeline_id not in pipeline_ids_of(job.settings):
            raise _not_linked(value, pipeline)
        return job
    with upstream("job", value):
        named = [
            job
            for job in ws.jobs.list(name=value, expand_tasks=True)
            if job_name(job).lower() == value.lower()
        ]
    if not named:
        raise NotFoundError(f"No job is named '{value}'.", code="job_not_found")
    linked = jobs_of_pipeline(named, pipeline.pipeline_id)
    if not linked:
        raise _not_linked(value, pipeline)
    if len(linked) > 1:
        ids = sorted(job.job_id or 0 for job in linked)
        raise ConflictError(
            f"{len(linked)} schedules of pipeline '{pipeline.name}' are named '{value}'; address one by id: "
            f"{', '.join(str(i) for i in ids)}.",
            code="job_name_ambiguous",
            job_ids=ids,
        )
    return linked[0]

"""Jobs 2.2 operations (docs/EMULATOR.md §7.7) and the `fire` control helper (docs/EMULATOR.md §10.6).

Every handler first brings the simulation up to the call's time. A missing job or run is 400
INVALID_PARAMETER_VALUE "Job <id> does not exist." (trap 7). `next_page_token` appears only when another page exists
(trap 3: `jobs.get`/`jobs.get_run` loop forever on `""`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from fastapi import APIRouter

from dbrx_emulator.api import ApiCall, ApiRouter, Body, Json
from dbrx_emulator.errors import ApiError, invalid
from dbrx_emulator.filters import StickyPager, page_after
from dbrx_emulator.names import parse_enum
from dbrx_emulator.routes.control import ControlError, RuntimeDep
from dbrx_emulator.sim.jobs import run_json
from dbrx_emulator.state.jobs import JobsState, sync_simulation

router = ApiRouter(prefixes=("/api/2.2/jobs",))
control_router = APIRouter(tags=["jobs"])

MAX_JOBS_PAGE = 100
MAX_RUNS_PAGE = 25
ARRAY_PAGE = 100
RUN_TYPES = frozenset({"JOB_RUN", "WORKFLOW_RUN", "SUBMIT_RUN"})
_FAR = 1 << 62


def _state(call: ApiCall) -> JobsState:
    sync_simulation(call.rt, call.now_ms)
    return call.rt.store.area(JobsState)


def _job_id_from_body(call: ApiCall) -> int:
    return int(call.body.int_("job_id", required=True) or 0)


def _required_query_int(call: ApiCall, name: str) -> int:
    value = call.query.get_int(name)
    if value is None:
        raise invalid(f"Missing required parameter: {name}")
    return value


def _true_or_none(value: bool | None) -> bool | None:
    return True if value else None


# ---------------------------------------------------------------------------------------------- jobs


@router.get("/list", "jobs.list")
def list_jobs(call: ApiCall) -> Json:
    """BaseJob list, newest first; `name` exact and case-insensitive; `expand_tasks`; `limit` 1..100."""
    state = _state(call)
    limit = call.query.get_int("limit")
    if limit is None:
        limit = call.rt.behaviour.page_sizes.jobs
    elif not 1 <= limit <= MAX_JOBS_PAGE:
        raise invalid(f"Invalid value {limit} for limit: it must be between 1 and {MAX_JOBS_PAGE}.")
    offset = call.query.get_int("offset") or 0
    if offset < 0:
        raise invalid(f"Invalid value {offset} for offset: it must not be negative.")
    name = call.query.get_str("name")
    pager = StickyPager(call.operation.id)
    request = pager.request(
        call.query.get_str("page_token"),
        {
            "name": name.lower() if name else None,
            "expand_tasks": _true_or_none(call.query.get_bool("expand_tasks")),
        },
    )
    name_filter = request.filters.get("name")
    expand = bool(request.filters.get("expand_tasks"))
    keys = state.jobs_named(name_filter) if name_filter else state.jobs.keys()
    start = offset if request.position is None else bisect_right(keys, request.position)
    chosen, more = page_after(keys, start, limit)
    body: Json = {
        "jobs": [
            state.base_job_json(state.jobs[k], expand_tasks=expand, page=ARRAY_PAGE) for k in chosen
        ],
        "has_more": more,
    }
    if more:
        body["next_page_token"] = pager.token(request.filters, chosen[-1])
    return body


@router.get("/get", "jobs.get")
def get_job(call: ApiCall) -> Json:
    """Job with `tasks`, `job_clusters`, `parameters`, `environments` paged at 100."""
    state = _state(call)
    job = state.require_job(_required_query_int(call, "job_id"))
    pager = StickyPager(call.operation.id)
    request = pager.request(call.query.get_str("page_token"), {"job_id": job.job_id})
    offset = int(request.position or 0)
    body, more = state.job_json(job, offset=offset, page=ARRAY_PAGE)
    if more:
        body["next_page_token"] = pager.token(request.filters, offset + ARRAY_PAGE)
    return body


@router.post("/create", "jobs.create")
def create_job(call: ApiCall) -> Json:
    """Create a job: `{job_id}`."""
    job = _state(call).create(call.body.data, call.now_ms)
    return {"job_id": job.job_id}


@router.post("/update", "jobs.update")
def update_job(call: ApiCall) -> Json:
    """Merge `new_settings` (tasks/job_clusters by key) after removing `fields_to_remove`."""
    state = _state(call)
    job = state.require_job(_job_id_from_body(call))
    new_settings = call.body.obj("new_settings")
    removals = call.body.str_list("fields_to_remove") or []
    state.update(job, new_settings.data if new_settings else None, removals, call.now_ms)
    return {}


@router.post("/reset", "jobs.reset")
def reset_job(call: ApiCall) -> Json:
    """Replace every setting."""
    state = _state(call)
    job = state.require_job(_job_id_from_body(call))
    new_settings = call.body.obj("new_settings")
    if new_settings is None:
        raise invalid("Missing required field: new_settings")
    state.reset(job, new_settings.data, call.now_ms)
    return {}


@router.post("/delete", "jobs.delete")
def delete_job(call: ApiCall) -> Json:
    """Delete a job and its runs."""
    state = _state(call)
    state.delete(state.require_job(_job_id_from_body(call)))
    return {}


# ---------------------------------------------------------------------------------------------- runs


@router.post("/run-now", "jobs.run_now")
def run_now(call: ApiCall) -> Json:
    """Start a ONE_TIME run: `{run_id, number_in_job}`."""
    state = _state(call)
    job = state.require_job(_job_id_from_body(call))
    run = state.run_now(job, call.body, call.now_ms)
    return {"run_id": run.run_id, "number_in_job": run.number_in_job}


@router.get("/runs/list", "jobs.list_runs")
def list_runs(call: ApiCall) -> Json:
    """BaseRun list, newest start first; `start_time_from`/`start_time_to` inclusive; `limit` 0 (=25)..25."""
    state = _state(call)
    query = call.query
    limit = query.get_int("limit")
    if limit is None:
        limit = call.rt.behaviour.page_sizes.runs
    elif limit == 0:
        limit = MAX_RUNS_PAGE
    elif not 1 <= limit <= MAX_RUNS_PAGE:
        raise invalid(f"Invalid value {limit} for limit: it must be between 0 and {MAX_RUNS_PAGE}.")
    offset = query.get_int("offset") or 0
    if offset < 0:
        raise invalid(f"Invalid value {offset} for offset: it must not be negative.")
    run_type = query.get_str("run_type")
    if run_type is not None:
        run_type = parse_enum(
            run_type, RUN_TYPES, "run_type", strict=call.rt.behaviour.enum_case_strict
        )
    pager = StickyPager(call.operation.id)
    request = pager.request(
        query.get_str("page_token"),
        {
            "job_id": query.get_int("job_id"),
            "active_only": _true_or_none(query.get_bool("active_only")),
            "completed_only": _true_or_none(query.get_bool("completed_only")),
            "run_type": run_type,
            "start_time_from": query.get_int("start_time_from"),
            "start_time_to": query.get_int("start_time_to"),
            "expand_tasks": _true_or_none(query.get_bool("expand_tasks")),
        },
    )
    filters = request.filters
    if filters.get("active_only") and filters.get("completed_only"):
        raise invalid("active_only and completed_only cannot both be true.")
    job_id = filters.get("job_id")
    index = state.require_job(int(job_id)).runs if job_id is not None else state.run_index
    keys = index.keys()
    time_to, time_from = filters.get("start_time_to"), filters.get("start_time_from")
    lo = bisect_left(keys, (-int(time_to), -_FAR)) if time_to is not None else 0
    hi = bisect_right(keys, (-int(time_from), _FAR)) if time_from is not None else len(keys)
    start = (
        lo + offset if request.position is None else max(lo, bisect_right(keys, request.position))
    )
    now = call.now_ms

    def accept(key: Any) -> bool:
        run = index[key]
        if filters.get("run_type") not in (None, "JOB_RUN"):
            return False
        if filters.get("active_only"):
            return run.is_active(now)
        if filters.get("completed_only"):
            return not run.is_active(now)
        return True

    chosen, more = page_after(keys, start, limit, accept, stop=hi)
    expand = bool(filters.get("expand_tasks"))
    runs = []
    for key in chosen:
        run = index[key]
        tasks = run.tasks[:ARRAY_PAGE] if expand else None
        item = run_json(run, now, call.base_url, tasks)
        if expand:
            item["has_more"] = len(run.tasks) > ARRAY_PAGE
        runs.append(item)
    body: Json = {"runs": runs, "has_more": more}
    if more:
        body["next_page_token"] = pager.token(filters, list(chosen[-1]))
    return body


def _run_id_from_body(call: ApiCall) -> int:
    return int(call.body.int_("run_id", required=True) or 0)


@router.post("/runs/cancel", "jobs.cancel_run")
def cancel_run(call: ApiCall) -> Json:
    """Cancel an active run (it ends CANCELED one step later); an ended run is left alone."""
    state = _state(call)
    state.cancel_run(state.require_run(_run_id_from_body(call)), call.now_ms)
    return {}


@router.post("/runs/cancel-all", "jobs.cancel_all_runs")
def cancel_all_runs(call: ApiCall) -> Json:
    """Cancel every active run of `job_id`, or with `all_queued_runs` every queued run."""
    state = _state(call)
    job_id = call.body.int_("job_id")
    queued_only = bool(call.body.bool_("all_queued_runs"))
    if job_id is None and not queued_only:
        raise invalid("Either job_id or all_queued_runs must be given.")
    job = state.require_job(job_id) if job_id is not None else None
    state.cancel_all(job, call.now_ms, queued_only=queued_only and job is None)
    return {}


@router.post("/runs/delete", "jobs.delete_run")
def delete_run(call: ApiCall) -> Json:
    """Delete a run that is no longer active."""
    state = _state(call)
    state.delete_run(state.require_run(_run_id_from_body(call)), call.now_ms)
    return {}


@router.get("/runs/get", "jobs.get_run")
def get_run(call: ApiCall) -> Json:
    """Run with `tasks` paged at 100 (`next_page_token` only when more follow)."""
    state = _state(call)
    run = state.require_run(_required_query_int(call, "run_id"))
    call.query.get_bool("include_history")
    call.query.get_bool("include_resolved_values")
    pager = StickyPager(call.operation.id)
    request = pager.request(call.query.get_str("page_token"), {"run_id": run.run_id})
    offset = int(request.position or 0)
    body = run_json(run, call.now_ms, call.base_url, run.tasks[offset : offset + ARRAY_PAGE])
    if len(run.tasks) > offset + ARRAY_PAGE:
        body["next_page_token"] = pager.token(request.filters, offset + ARRAY_PAGE)
    return body


# ---------------------------------------------------------------------------------------------- control plane


@control_router.post("/jobs/{job_id}/fire")
def fire(job_id: int, rt: RuntimeDep) -> dict[str, Any]:
    """Start one PERIODIC run of the job now, whatever the scheduler says."""
    with rt.lock:
        now = rt.now_ms()
        sync_simulation(rt, now)
        state = rt.store.area(JobsState)
        try:
            job = state.require_job(job_id)
        except ApiError as exc:
            raise ControlError(404, exc.message) from None
        run = state.fire(job, now)
        return {"job_id": job.job_id, "run_id": run.run_id, "number_in_job": run.number_in_job}


__all__ = ["Body", "control_router", "router"]

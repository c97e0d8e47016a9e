"""Pipelines operations (docs/EMULATOR.md §7.6) and their control-plane helpers (docs/EMULATOR.md §10.6).

Every handler first brings the simulation up to the call's time (`sync_simulation`), so states, events and job runs
are evaluated lazily against the clock. Control helpers: `POST /_emulator/pipelines/{id}/next-outcome` scripts
how the next update ends; `GET /_emulator/pipelines/{id}/updates/{update_id}/truth` gives its ground truth.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from dbrx_emulator.api import ApiCall, ApiRouter, Json
from dbrx_emulator.errors import ApiError, invalid
from dbrx_emulator.filters import (
    PipelineFilter,
    StickyPager,
    like_regex,
    page_after,
    parse_event_filter,
    parse_pipeline_filter,
)
from dbrx_emulator.routes.control import ControlError, RuntimeDep, _json, _validate
from dbrx_emulator.runtime import Runtime
from dbrx_emulator.sim.pipelines import Failure, Outcome
from dbrx_emulator.state.jobs import sync_simulation
from dbrx_emulator.state.pipelines import Pipeline, PipelinesState, encode_details

router = ApiRouter(prefixes=("/api/2.0/pipelines",))
control_router = APIRouter(tags=["pipelines"])

MAX_PIPELINES_PAGE = 100
MAX_UPDATES_PAGE = 100
MAX_EVENTS_PAGE = 1000


def _state(call: ApiCall) -> PipelinesState:
    sync_simulation(call.rt, call.now_ms)
    return call.rt.store.area(PipelinesState)


def _page_size(call: ApiCall, default: int, maximum: int) -> int:
    """`max_results`: absent or 0 = server page size; negative or above `maximum` = 400."""
    value = call.query.get_int("max_results")
    if value is None or value == 0:
        return default
    if value < 0 or value > maximum:
        raise invalid(f"Invalid value {value} for max_results: it must be between 1 and {maximum}.")
    return value


def _pipeline(call: ApiCall, state: PipelinesState) -> Pipeline:
    return state.require(call.params["pipeline_id"])


# ---------------------------------------------------------------------------------------------- pipelines


def _id_order(values: list[str]) -> str | None:
    """`asc`/`desc` of an `order_by` list (None when absent); only `id [asc|desc]` is supported."""
    if not values:
        return None
    if len(values) > 1:
        raise invalid("Only one order_by value is supported.")
    words = values[0].split()
    if not words or words[0].lower() != "id" or len(words) > 2:
        raise invalid(f"Invalid order_by '{values[0]}': only 'id asc' and 'id desc' are supported.")
    direction = words[1].lower() if len(words) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise invalid(f"Invalid order_by '{values[0]}': only 'id asc' and 'id desc' are supported.")
    return direction


def _matcher(state: PipelinesState, flt: PipelineFilter | None, case_insensitive: bool) -> Any:
    if flt is None:
        return None
    if flt.kind == "name_like":
        pattern = like_regex(flt.value, case_insensitive=case_insensitive)
        return lambda key: pattern.fullmatch(state.pipelines[key].name) is not None

    def uses_notebook(key: str) -> bool:
        for library in state.pipelines[key].spec.get("libraries") or []:
            for kind in ("notebook", "file"):
                entry = library.get(kind) if isinstance(library, dict) else None
                if isinstance(entry, dict) and entry.get("path") == flt.value:
                    return True
        return False

    return uses_notebook


@router.get("", "pipelines.list_pipelines")
def list_pipelines(call: ApiCall) -> Json:
    """PipelineStateInfo list: `id asc` (or `id desc`), optional LIKE/notebook filter, keyset paging."""
    state = _state(call)
    size = _page_size(call, call.rt.behaviour.page_sizes.pipelines, MAX_PIPELINES_PAGE)
    pager = StickyPager(call.operation.id)
    request = pager.request(
        call.query.get_str("page_token"),
        {
            "filter": call.query.get_str("filter") or None,
            "order": _id_order(call.query.get_list("order_by")),
        },
    )
    filters = {"filter": request.filters.get("filter"), "order": request.filters.get("order")}
    descending = filters["order"] == "desc"
    accept = _matcher(
        state,
        parse_pipeline_filter(filters["filter"]),
        call.rt.behaviour.like_case_insensitive,
    )
    keys = list(reversed(state.pipelines.keys())) if descending else state.pipelines.keys()
    position = request.position
    start = 0
    if position is not None:
        ascending_keys = state.pipelines.keys()
        start = (
            len(ascending_keys) - bisect_left(ascending_keys, position)
            if descending
            else bisect_right(ascending_keys, position)
        )
    chosen, more = page_after(keys, start, size, accept)
    body: Json = {
        "statuses": [state.state_info_json(state.pipelines[k], call.now_ms) for k in chosen]
    }
    if more:
        body["next_page_token"] = pager.token(filters, chosen[-1])
    return body


@router.post("", "pipelines.create")
def create_pipeline(call: ApiCall) -> Json:
    """Create a pipeline (`{pipeline_id}`; `{effective_settings}` for a dry run)."""
    return _state(call).create(call.body, call.now_ms)


@router.get("/{pipeline_id}", "pipelines.get")
def get_pipeline(call: ApiCall) -> Json:
    """GetPipelineResponse."""
    state = _state(call)
    return state.pipeline_json(_pipeline(call, state), call.now_ms)


@router.put("/{pipeline_id}", "pipelines.update")
def update_pipeline(call: ApiCall) -> Json:
    """Edit: the body replaces the whole spec (`expected_last_modified` checked)."""
    state = _state(call)
    state.replace_spec(_pipeline(call, state), call.body, call.now_ms)
    return {}


@router.delete("/{pipeline_id}", "pipelines.delete")
def delete_pipeline(call: ApiCall) -> Json:
    """Delete (cancels an active update; `cascade`, default true, drops the tables it maintains)."""
    state = _state(call)
    cascade = call.query.get_bool("cascade")
    call.query.get_bool("force")
    state.delete(_pipeline(call, state), call.now_ms, cascade=cascade is not False)
    return {}


# ---------------------------------------------------------------------------------------------- updates


@router.post("/{pipeline_id}/updates", "pipelines.start_update")
def start_update(call: ApiCall) -> Json:
    """Start an update (409 while one is active)."""
    state = _state(call)
    update = state.start_update(_pipeline(call, state), call.body, call.now_ms)
    return {"update_id": update.update_id}


@router.post("/{pipeline_id}/stop", "pipelines.stop")
def stop_pipeline(call: ApiCall) -> Json:
    """Stop the active update (no-op when idle)."""
    state = _state(call)
    state.stop(_pipeline(call, state), call.now_ms)
    return {}


@router.get("/{pipeline_id}/updates", "pipelines.list_updates")
def list_updates(call: ApiCall) -> Json:
    """UpdateInfo list, newest first, down to `until_update_id` (inclusive)."""
    state = _state(call)
    pipeline = _pipeline(call, state)
    size = _page_size(call, call.rt.behaviour.page_sizes.updates, MAX_UPDATES_PAGE)
    pager = StickyPager(call.operation.id)
    request = pager.request(
        call.query.get_str("page_token"),
        {"until_update_id": call.query.get_str("until_update_id") or None},
    )
    until_id = request.filters.get("until_update_id")
    stop_index = state.require_update(pipeline, until_id).ordinal - 1 if until_id else 0
    position = request.position  # ordinal of the last update returned
    start_index = len(pipeline.updates) - 1 if position is None else int(position) - 2
    indexes = list(range(start_index, stop_index - 1, -1))
    chosen, more = indexes[:size], len(indexes) > size
    body: Json = {"updates": [state.update_json(pipeline.updates[i], call.now_ms) for i in chosen]}
    if more:
        body["next_page_token"] = pager.token(request.filters, pipeline.updates[chosen[-1]].ordinal)
    return body


@router.get("/{pipeline_id}/updates/{update_id}", "pipelines.get_update")
def get_update(call: ApiCall) -> Json:
    """`{update: UpdateInfo}`."""
    state = _state(call)
    pipeline = _pipeline(call, state)
    update = state.require_update(pipeline, call.params["update_id"])
    return {"update": state.update_json(update, call.now_ms)}


# ---------------------------------------------------------------------------------------------- events


def _timestamp_order(values: list[str]) -> str | None:
    """`asc`/`desc` of the events `order_by` (None when absent)."""
    if not values:
        return None
    if len(values) > 1:
        raise invalid("Only one order_by value is supported.")
    words = values[0].split()
    if not words or words[0].lower() != "timestamp" or len(words) > 2:
        raise invalid(
            f"Invalid order_by '{values[0]}': only 'timestamp asc' and 'timestamp desc' are supported."
        )
    direction = words[1].lower() if len(words) == 2 else "asc"
    if direction not in ("asc", "desc"):
        raise invalid(
            f"Invalid order_by '{values[0]}': only 'timestamp asc' and 'timestamp desc' are supported."
        )
    return direction


@router.get("/{pipeline_id}/events", "pipelines.list_pipeline_events")
def list_pipeline_events(call: ApiCall) -> Json:
    """Events with timestamp ≤ now, filtered and ordered; follow-up pages with or without the filters."""
    state = _state(call)
    pipeline = _pipeline(call, state)
    size = _page_size(call, call.rt.behaviour.page_sizes.events, MAX_EVENTS_PAGE)
    pager = StickyPager(call.operation.id)
    request = pager.request(
        call.query.get_str("page_token"),
        {
            "filter": call.query.get_str("filter") or None,
            "order": _timestamp_order(call.query.get_list("order_by")),
        },
    )
    filters = {
        "filter": request.filters.get("filter"),
        "order": request.filters.get("order") or "desc",
    }
    flt = parse_event_filter(filters["filter"])
    events, last = state.list_events(
        pipeline,
        flt,
        ascending=filters["order"] == "asc",
        after_seq=None if request.position is None else int(request.position),
        size=size,
        now_ms=call.now_ms,
    )
    mode = call.rt.behaviour.event_details
    body: Json = {"events": [encode_details(event, mode) for event in events]}
    if last is not None:
        body["next_page_token"] = pager.token(filters, last)
    return body


# ---------------------------------------------------------------------------------------------- control plane


class NextOutcomeRequest(BaseModel):
    """Body of `POST /_emulator/pipelines/{id}/next-outcome`."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["FAILED", "CANCELED", "COMPLETED"]
    at_phase: Literal["INITIALIZING", "SETTING_UP_TABLES", "RUNNING"] = "RUNNING"
    error_message: str | None = None


def _control_pipeline(rt: Runtime, pipeline_id: str) -> tuple[PipelinesState, Pipeline]:
    now = rt.now_ms()
    sync_simulation(rt, now)
    state = rt.store.area(PipelinesState)
    try:
        return state, state.require(pipeline_id)
    except ApiError as exc:
        raise ControlError(404, exc.message) from None


@control_router.post("/pipelines/{pipeline_id}/next-outcome")
async def next_outcome(pipeline_id: str, request: Request, rt: RuntimeDep) -> dict[str, Any]:
    """Script how the pipeline's next update ends (replaces an earlier script)."""
    body = _validate(NextOutcomeRequest, await _json(request))
    with rt.lock:
        _, pipeline = _control_pipeline(rt, pipeline_id)
        failure = None
        if body.outcome == "FAILED":
            failure = Failure(
                "com.databricks.pipelines.ScriptedFailure",
                body.error_message or "Scripted failure.",
            )
        pipeline.next_outcome = Outcome(body.outcome, body.at_phase, failure)
        return {"pipeline_id": pipeline.pipeline_id, **body.model_dump()}


@control_router.get("/pipelines/{pipeline_id}/updates/{update_id}/truth")
def update_truth(pipeline_id: str, update_id: str, rt: RuntimeDep) -> dict[str, Any]:
    """State, row totals and per-flow rows of one update as the simulator planned them (up to now)."""
    with rt.lock:
        state, pipeline = _control_pipeline(rt, pipeline_id)
        try:
            update = state.require_update(pipeline, update_id)
        except ApiError as exc:
            raise ControlError(404, exc.message) from None
        return state.truth(pipeline, update, rt.now_ms())

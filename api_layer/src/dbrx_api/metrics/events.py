"""Pipeline update events read raw, and the metrics derived from them (docs/API.md §9.1).

The SDK's typed `PipelineEvent` drops `details`, which carries the row metrics, so events are read with
`w.api_client.do`. The first page sends the filter and order; follow-up pages send only `page_token` and
`max_results`. `details` is accepted as an object or as a JSON string.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from databricks.sdk import WorkspaceClient

from dbrx_api.errors import upstream
from dbrx_api.schemas.common import from_rfc3339
from dbrx_api.schemas.metrics import FlowMetrics, RowCounts
from dbrx_api.schemas.paths import path_segment

EVENTS_PAGE = 1000
TERMINAL_UPDATE_STATES = frozenset({"COMPLETED", "FAILED", "CANCELED"})
# `details.flow_progress.metrics` member → RowCounts field
_ROW_METRICS = {
    "num_output_rows": "output",
    "num_upserted_rows": "upserted",
    "num_deleted_rows": "deleted",
}


def events_filter(update_id: str, *, with_flows: bool) -> str:
    """The events filter of one update (`update_progress`, plus `flow_progress` when rows are wanted)."""
    types = "('update_progress', 'flow_progress')" if with_flows else "('update_progress')"
    return "update_id = '{}' AND event_type in {}".format(update_id.replace("'", "''"), types)


@dataclass(frozen=True, slots=True)
class UpdateEvents:
    events: list[dict[str, Any]]
    truncated: bool  # the per-update cap cut the events


def read_update_events(
    ws: WorkspaceClient, pipeline_id: str, update_id: str, *, with_flows: bool, cap: int
) -> UpdateEvents:
    """The events of one update, oldest first, at most `cap` of them (every page up to the cap)."""
    path = f"/api/2.0/pipelines/{path_segment(pipeline_id)}/events"
    query: dict[str, Any] = {
        "filter": events_filter(update_id, with_flows=with_flows),
        "order_by": "timestamp asc",
        "max_results": min(EVENTS_PAGE, cap),
    }
    events: list[dict[str, Any]] = []
    while True:
        with upstream("pipeline", pipeline_id):
            page = ws.api_client.do("GET", path, query=query)
        body = page if isinstance(page, dict) else {}
        events.extend(e for e in body.get("events") or [] if isinstance(e, dict))
        token = body.get("next_page_token")
        if len(events) >= cap:
            return UpdateEvents(events[:cap], truncated=bool(token) or len(events) > cap)
        if not token:
            return UpdateEvents(events, truncated=False)
        query = {"page_token": token, "max_results": min(EVENTS_PAGE, cap - len(events))}


def details_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """`details` as a dict whether it arrived as an object or a JSON string ({} otherwise)."""
    details = event.get("details")
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return {}
    return details if isinstance(details, dict) else {}


def _update_state(event: Mapping[str, Any], details: Mapping[str, Any]) -> str | None:
    progress = details.get("update_progress")
    if isinstance(progress, dict) and progress.get("state"):
        return str(progress["state"]).upper()
    # Fallback: messages read "Update 6a1f… is COMPLETED."
    words = str(event.get("message") or "").strip().rstrip(".").split()
    return words[-1].upper() if words else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _add(total: int | None, value: int | None) -> int | None:
    if value is None:
        return total
    return value if total is None else total + value


@dataclass
class _FlowTotals:
    dataset_name: str | None = None
    status: str | None = None
    counts: dict[str, int | None] = field(
        default_factory=lambda: {"output": None, "upserted": None, "deleted": None, "dropped": None}
    )


@dataclass(frozen=True, slots=True)
class EventSummary:
    end_time: datetime | None
    rows: RowCounts | None
    flows: list[FlowMetrics]
    error_message: str | None


def _error_message(event: Mapping[str, Any]) -> str | None:
    message = str(event.get("message") or "").strip()
    error = event.get("error")
    if isinstance(error, dict):
        exceptions = error.get("exceptions")
        if isinstance(exceptions, list) and exceptions and isinstance(exceptions[0], dict):
            detail = str(exceptions[0].get("message") or "").strip()
            if detail and detail not in message:
                return f"{message}: {detail}" if message else detail
    return message or None


def summarize(events: Iterable[Mapping[str, Any]]) -> EventSummary:
    """End time, row sums, per-flow totals and first error of one update's events.

    Rows are summed over every `flow_progress` event carrying metrics; a count no event carried stays `None`,
    and `rows` is `None` when no event carried any (never a fabricated 0).
    """
    end_time: datetime | None = None
    totals: dict[str, int | None] = {
        "output": None,
        "upserted": None,
        "deleted": None,
        "dropped": None,
    }
    seen_metrics = False
    flows: dict[str, _FlowTotals] = {}
    error_message: str | None = None
    for event in events:
        details = details_of(event)
        event_type = event.get("event_type")
        if str(event.get("level") or "").upper() == "ERROR" and error_message is None:
            error_message = _error_message(event)
        if event_type == "update_progress":
            state = _update_state(event, details)
            if state in TERMINAL_UPDATE_STATES and end_time is None:
                end_time = from_rfc3339(str(event.get("timestamp") or ""))
            continue
        if event_type != "flow_progress":
            continue
        progress = details.get("flow_progress")
        if not isinstance(progress, dict):
            continue
        origin_value = event.get("origin")
        origin: dict[str, Any] = origin_value if isinstance(origin_value, dict) else {}
        flow_name = str(origin.get("flow_name") or "")
        flow = flows.setdefault(flow_name, _FlowTotals()) if flow_name else None
        if flow is not None:
            flow.dataset_name = origin.get("dataset_name") or flow.dataset_name
            flow.status = str(progress.get("status") or flow.status or "") or None
        found: dict[str, int | None] = {}
        metrics = progress.get("metrics")
        if isinstance(metrics, dict):
            for member, key in _ROW_METRICS.items():
                found[key] = _int(metrics.get(member))
        quality = progress.get("data_quality")
        if isinstance(quality, dict):
            found["dropped"] = _int(quality.get("dropped_records"))
        for key, value in found.items():
            if value is None:
                continue
            seen_metrics = True
            totals[key] = _add(totals[key], value)
            if flow is not None:
                flow.counts[key] = _add(flow.counts[key], value)
    rows = RowCounts(**totals) if seen_metrics else None
    flow_metrics = [
        FlowMetrics(
            flow_name=name,
            dataset_name=flow.dataset_name,
            status=flow.status,
            rows_output=flow.counts["output"],
            rows_upserted=flow.counts["upserted"],
            rows_deleted=flow.counts["deleted"],
            dropped_records=flow.counts["dropped"],
        )
        for name, flow in sorted(flows.items())
    ]
    return EventSummary(end_time, rows, flow_metrics, error_message)

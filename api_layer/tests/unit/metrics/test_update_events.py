"""Raw event reading and the metrics derived from events (docs/API.md §9.1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dbrx_api.metrics.events import events_filter, read_update_events, summarize
from fixtures.pipelines import PID, workspace_client


def flow_event(
    flow: str,
    status: str,
    *,
    metrics: dict[str, Any] | None = None,
    dropped: int | None = None,
    as_string: bool = False,
) -> dict[str, Any]:
    progress: dict[str, Any] = {"status": status}
    if metrics is not None:
        progress["metrics"] = metrics
    if dropped is not None:
        progress["data_quality"] = {"dropped_records": dropped}
    details: Any = {"flow_progress": progress}
    return {
        "event_type": "flow_progress",
        "level": "METRICS" if metrics else "INFO",
        "timestamp": "2026-01-01T00:00:05.000Z",
        "origin": {"flow_name": flow, "dataset_name": f"cat.sch.{flow}"},
        "details": json.dumps(details) if as_string else details,
        "message": f"Flow '{flow}' is {status}.",
    }


def update_event(
    state: str, timestamp: str, *, with_details: bool = True, level: str = "INFO"
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_type": "update_progress",
        "level": level,
        "timestamp": timestamp,
        "message": f"Update 6a1f is {state}.",
    }
    if with_details:
        event["details"] = {"update_progress": {"state": state}}
    return event


def test_rows_are_summed_over_flow_events_in_either_details_encoding() -> None:
    summary = summarize(
        [
            update_event("RUNNING", "2026-01-01T00:00:01.000Z"),
            flow_event("orders", "RUNNING"),
            flow_event(
                "orders",
                "COMPLETED",
                metrics={"num_output_rows": 100, "num_upserted_rows": 90, "num_deleted_rows": 10},
                dropped=2,
            ),
            flow_event(
                "lines",
                "COMPLETED",
                metrics={"num_output_rows": "5", "num_upserted_rows": 5, "num_deleted_rows": 0},
                as_string=True,
            ),
            update_event("COMPLETED", "2026-01-01T00:00:09.250Z"),
            update_event("COMPLETED", "2026-01-01T00:00:30.000Z"),
        ]
    )
    assert summary.rows is not None
    assert summary.rows.model_dump() == {"output": 105, "upserted": 95, "deleted": 10, "dropped": 2}
    assert summary.end_time == datetime(2026, 1, 1, 0, 0, 9, 250_000, tzinfo=UTC)
    flows = {f.flow_name: f for f in summary.flows}
    assert flows["orders"].status == "COMPLETED"
    assert flows["orders"].dropped_records == 2
    assert flows["lines"].rows_output == 5
    assert flows["lines"].dropped_records is None
    assert flows["orders"].dataset_name == "cat.sch.orders"


def test_no_metrics_means_null_rows_not_zero() -> None:
    summary = summarize(
        [flow_event("orders", "RUNNING"), update_event("CANCELED", "2026-01-01T00:00:02Z")]
    )
    assert summary.rows is None
    assert summary.end_time is not None


def test_counts_never_reported_stay_null() -> None:
    summary = summarize([flow_event("orders", "RUNNING", metrics={"num_output_rows": 7})])
    assert summary.rows is not None
    assert summary.rows.model_dump() == {
        "output": 7,
        "upserted": None,
        "deleted": None,
        "dropped": None,
    }


def test_terminal_state_from_the_message_when_details_lack_it() -> None:
    summary = summarize([update_event("FAILED", "2026-01-01T00:00:04Z", with_details=False)])
    assert summary.end_time == datetime(2026, 1, 1, 0, 0, 4, tzinfo=UTC)


def test_first_error_message_with_its_exception() -> None:
    failed = update_event("FAILED", "2026-01-01T00:00:04Z", level="ERROR")
    failed["message"] = "Update 6a1f has failed."
    failed["error"] = {
        "exceptions": [{"class_name": "X", "message": "Source table changed schema"}]
    }
    later = update_event("FAILED", "2026-01-01T00:00:05Z", level="ERROR")
    summary = summarize([update_event("RUNNING", "2026-01-01T00:00:01Z"), failed, later])
    assert summary.error_message == "Update 6a1f has failed.: Source table changed schema"


def test_event_pages_send_the_filter_once() -> None:
    ws = workspace_client()
    ws.api_client.do.side_effect = [
        {"events": [update_event("RUNNING", "2026-01-01T00:00:01Z")], "next_page_token": "t1"},
        {"events": [update_event("COMPLETED", "2026-01-01T00:00:02Z")]},
    ]
    read = read_update_events(ws, PID, "u1", with_flows=True, cap=10_000)
    assert len(read.events) == 2
    assert not read.truncated
    first, second = ws.api_client.do.call_args_list
    assert first.args == ("GET", f"/api/2.0/pipelines/{PID}/events")
    assert first.kwargs["query"] == {
        "filter": "update_id = 'u1' AND event_type in ('update_progress', 'flow_progress')",
        "order_by": "timestamp asc",
        "max_results": 1000,
    }
    assert second.kwargs["query"] == {"page_token": "t1", "max_results": 1000}


def test_event_cap_truncates() -> None:
    ws = workspace_client()
    page = [update_event("RUNNING", "2026-01-01T00:00:01Z")] * 3
    ws.api_client.do.side_effect = [{"events": page, "next_page_token": "t1"}, {"events": page}]
    read = read_update_events(ws, PID, "u1", with_flows=False, cap=4)
    assert len(read.events) == 4
    assert read.truncated
    assert ws.api_client.do.call_args_list[0].kwargs["query"]["max_results"] == 4
    assert ws.api_client.do.call_args_list[1].kwargs["query"]["max_results"] == 1


def test_filter_without_rows_reads_update_progress_only() -> None:
    assert events_filter("it's", with_flows=False) == (
        "update_id = 'it''s' AND event_type in ('update_progress')"
    )

"""Contract tests: the pipelines surface (C05, C11, X03, X04, X05, X07, X09 and the simulation of docs/EMULATOR.md §9.2).

Everything goes through the real databricks-sdk over HTTP; simulated time moves only through the control plane.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    BadRequest,
    InvalidParameterValue,
    ResourceConflict,
    ResourceDoesNotExist,
)
from databricks.sdk.service.pipelines import FileLibrary, PipelineLibrary

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

STEP_MS = 1000  # default simulation.step_ms
LIBRARY = "/Workspace/Shared/deltashare/pipelines/cdf_share_loader.py"
SOURCE_ROWS = 10_000  # main.sales.orders in the minimal seed


def config(target: str, source: str = "main.sales.orders", scd: str = "2") -> dict[str, str]:
    """The configuration DeltaShare pipelines carry."""
    return {
        "pipelines.source_table": source,
        "pipelines.target_table": target,
        "pipelines.keys": "order_id",
        "pipelines.scd_type": scd,
    }


def spec(target: str, **overrides: Any) -> dict[str, Any]:
    """A seed spec of a sharing pipeline writing `share_cat.sales_ext.<target>`."""
    return {
        "catalog": "share_cat",
        "schema": "sales_ext",
        "serverless": True,
        "libraries": [{"file": {"path": LIBRARY}}],
        "configuration": config(target),
        **overrides,
    }


def create(w: WorkspaceClient, name: str, **overrides: Any) -> str:
    """Create a sharing pipeline through the SDK; returns its id."""
    fields: dict[str, Any] = {
        "name": name,
        "catalog": "share_cat",
        "schema": "sales_ext",
        "serverless": True,
        "libraries": [PipelineLibrary(file=FileLibrary(path=LIBRARY))],
        "configuration": config(name),
        **overrides,
    }
    created = w.pipelines.create(**fields)
    assert created.pipeline_id
    return created.pipeline_id


def events_raw(w: WorkspaceClient, pipeline_id: str, **query: Any) -> dict[str, Any]:
    """One raw events page (the typed SDK result drops `details`)."""
    result: dict[str, Any] = w.api_client.do(
        "GET", f"/api/2.0/pipelines/{pipeline_id}/events", query=query
    )
    return result


def truth(emu: Emu, pipeline_id: str, update_id: str) -> dict[str, Any]:
    """Ground truth of one update."""
    response = emu.control.get(f"/pipelines/{pipeline_id}/updates/{update_id}/truth")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def update_state(w: WorkspaceClient, pipeline_id: str, update_id: str) -> str:
    """The update's state as the SDK parses it."""
    update = w.pipelines.get_update(pipeline_id, update_id).update
    assert update is not None
    assert update.state is not None
    return update.state.value


# ------------------------------------------------------------------------------------------ CRUD


def test_create_get_and_list(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share", tags={"team": "data"})

    got = emu_client.pipelines.get(pid)

    assert (got.pipeline_id, got.name) == (pid, "orders_share")
    assert got.state is not None
    assert got.state.value == "IDLE"
    assert got.health is not None
    assert got.health.value == "HEALTHY"
    assert got.creator_user_name == "00000000-0000-0000-0000-00000000c0de"
    assert got.spec is not None
    assert got.spec.id == pid
    assert got.spec.configuration == config("orders_share")
    assert got.spec.libraries is not None
    assert got.spec.libraries[0].file is not None
    assert got.spec.tags == {"team": "data"}
    assert not got.latest_updates
    assert got.last_modified == emu.now_ms()
    listed = list(emu_client.pipelines.list_pipelines())
    assert [(p.pipeline_id, p.name) for p in listed] == [(pid, "orders_share")]
    assert listed[0].state is not None
    assert listed[0].state.value == "IDLE"


def test_create_rules(emu: Emu, emu_client: WorkspaceClient) -> None:
    create(emu_client, "orders_share")

    with pytest.raises(InvalidParameterValue, match="is already used by another pipeline"):
        create(emu_client, "orders_share")
    second = create(emu_client, "orders_share", allow_duplicate_names=True)
    with pytest.raises(InvalidParameterValue, match="Only one of schema and target"):
        create(emu_client, "x1", target="legacy")
    with pytest.raises(InvalidParameterValue, match="single identifier"):
        create(emu_client, "x2", schema="a.b")
    with pytest.raises(InvalidParameterValue, match="at most 25 tags"):
        create(emu_client, "x3", tags={f"k{i}": "v" for i in range(26)})
    dry = emu_client.pipelines.create(name="dry", catalog="share_cat", schema="s", dry_run=True)
    assert dry.effective_settings is not None
    assert dry.effective_settings.name == "dry"
    assert sorted(p.name or "" for p in emu_client.pipelines.list_pipelines()) == [
        "orders_share",
        "orders_share",
    ]
    assert second


def test_missing_pipeline_and_update_are_404(emu: Emu, emu_client: WorkspaceClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    message = f"The specified pipeline {missing} was not found."

    for call in (
        lambda: emu_client.pipelines.get(missing),
        lambda: emu_client.pipelines.update(missing, name="x"),
        lambda: emu_client.pipelines.delete(missing),
        lambda: emu_client.pipelines.start_update(missing),
        lambda: emu_client.pipelines.list_updates(missing),
        lambda: list(emu_client.pipelines.list_pipeline_events(missing)),
    ):
        with pytest.raises(ResourceDoesNotExist, match=message):
            call()
    pid = create(emu_client, "p")
    with pytest.raises(
        ResourceDoesNotExist, match=f"The specified update {missing} was not found."
    ):
        emu_client.pipelines.get_update(pid, missing)


def test_c11_put_replaces_the_whole_spec(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share", tags={"team": "data"})
    before = emu_client.pipelines.get(pid).last_modified
    emu.advance(5)

    emu_client.pipelines.update(pid, name="orders_share", catalog="share_cat", schema="sales_ext")

    got = emu_client.pipelines.get(pid)
    assert got.spec is not None
    assert not got.spec.configuration  # omitted on PUT = cleared
    assert not got.spec.libraries
    assert not got.spec.tags
    assert got.spec.catalog == "share_cat"
    assert got.spec.id == pid
    assert got.last_modified is not None
    assert before is not None
    assert got.last_modified > before
    calls = emu.calls("pipelines.update")
    assert calls[0]["method"] == "PUT"
    assert "configuration" not in calls[0]["body"]

    with pytest.raises(ResourceConflict, match="modified concurrently"):
        emu_client.pipelines.update(pid, name="orders_share", expected_last_modified=before)
    emu_client.pipelines.update(
        pid, name="renamed", configuration={"a": "b"}, expected_last_modified=got.last_modified
    )
    again = emu_client.pipelines.get(pid)
    assert again.name == "renamed"
    assert again.spec is not None
    assert again.spec.configuration == {"a": "b"}
    create(emu_client, "other")
    with pytest.raises(InvalidParameterValue, match="already used"):
        emu_client.pipelines.update(pid, name="other")


# ------------------------------------------------------------------------------------------ timeline


def test_x05_update_timeline_conflict_and_newest_first(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    pid = create(emu_client, "orders_share")
    first = emu_client.pipelines.start_update(pid).update_id
    assert first

    seen = []
    pipeline_states = []
    for _ in range(8):
        seen.append(update_state(emu_client, pid, first))
        state = emu_client.pipelines.get(pid).state
        pipeline_states.append(state.value if state else None)
        emu.advance(STEP_MS)

    assert seen == [
        "CREATED",
        "WAITING_FOR_RESOURCES",
        "INITIALIZING",
        "SETTING_UP_TABLES",
        "RUNNING",
        "RUNNING",
        "COMPLETED",
        "COMPLETED",
    ]
    assert pipeline_states == ["STARTING"] * 3 + ["RUNNING"] * 3 + ["IDLE"] * 2
    second = emu_client.pipelines.start_update(pid, full_refresh=True).update_id
    with pytest.raises(ResourceConflict) as conflict:
        emu_client.pipelines.start_update(pid)
    assert str(conflict.value) == f"Pipeline {pid} already has an active update {second}."
    updates = emu_client.pipelines.list_updates(pid).updates or []
    assert [u.update_id for u in updates] == [second, first]
    assert updates[0].full_refresh is True
    assert updates[1].full_refresh is False
    assert updates[0].cause is not None
    assert updates[0].cause.value == "API_CALL"
    assert isinstance(updates[0].creation_time, int)
    latest = emu_client.pipelines.get(pid).latest_updates or []
    assert [u.update_id for u in latest] == [second, first]
    assert latest[0].creation_time == "2026-01-01T00:00:08.000Z"  # RFC 3339 string, not ms


def test_x05_stop_is_not_awaited_and_cancels(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share")
    update_id = emu_client.pipelines.start_update(pid).update_id or ""
    emu.advance(2 * STEP_MS)
    emu.reset_stats()

    emu_client.pipelines.stop(pid)  # returns a waiter; not waiting for it

    assert emu.count("pipelines.stop") == 1
    assert emu.stats()["total"] == 1
    assert update_state(emu_client, pid, update_id) == "STOPPING"
    assert emu_client.pipelines.get(pid).state.value == "STOPPING"  # type: ignore[union-attr]
    emu.advance(STEP_MS)
    assert update_state(emu_client, pid, update_id) == "CANCELED"
    assert emu_client.pipelines.get(pid).state.value == "IDLE"  # type: ignore[union-attr]
    events = events_raw(emu_client, pid, filter="event_type = 'update_progress'")["events"]
    assert events[0]["details"]["update_progress"]["state"] == "CANCELED"
    emu_client.pipelines.stop(pid)  # idle: a no-op
    assert emu_client.pipelines.start_update(pid).update_id


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"configuration": config("t", source="main.sales.nope")}, "TABLE_OR_VIEW_NOT_FOUND"),
        ({"configuration": config("t", source="main.sales.customers")}, "change data feed"),
        ({"catalog": "nope"}, "Catalog 'nope' was not found"),
        ({"schema": "nope"}, "SCHEMA_NOT_FOUND"),
        (
            {"libraries": [PipelineLibrary(file=FileLibrary(path="/Workspace/missing.py"))]},
            "Unable to find the file",
        ),
    ],
)
def test_x05_automatic_failures(
    emu: Emu, emu_client: WorkspaceClient, overrides: dict[str, Any], fragment: str
) -> None:
    pid = create(emu_client, "orders_share", **overrides)
    update_id = emu_client.pipelines.start_update(pid).update_id or ""

    emu.advance(3 * STEP_MS - 1)
    assert update_state(emu_client, pid, update_id) == "INITIALIZING"
    emu.advance(1)
    assert update_state(emu_client, pid, update_id) == "FAILED"
    got = emu_client.pipelines.get(pid)
    assert got.state is not None
    assert got.state.value == "FAILED"
    assert got.health is not None
    assert got.health.value == "UNHEALTHY"
    errors = events_raw(emu_client, pid, filter="level = 'ERROR'")["events"]
    assert len(errors) == 1
    assert errors[0]["origin"]["update_id"] == update_id
    assert errors[0]["error"]["fatal"] is True
    assert fragment in errors[0]["error"]["exceptions"][0]["message"]
    assert not emu_client.tables.exists("share_cat.sales_ext.orders_share").table_exists


def test_full_refresh_scd_needs_no_change_data_feed(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(
        emu_client,
        "customers_share",
        configuration=config("customers_share", "main.sales.customers", "full_refresh"),
    )
    update_id = emu_client.pipelines.start_update(pid).update_id or ""
    emu.settle()

    assert update_state(emu_client, pid, update_id) == "COMPLETED"
    rows = truth(emu, pid, update_id)["rows"]
    assert rows == {"output": 2500, "upserted": 2500, "deleted": 0, "dropped": 0}


def test_first_successful_update_creates_the_streaming_table(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    pid = create(emu_client, "orders_share")
    full_name = "share_cat.sales_ext.orders_share"
    emu_client.pipelines.start_update(pid, full_refresh=True)
    emu.advance(5 * STEP_MS)
    assert not emu_client.tables.exists(full_name).table_exists  # only once the update completes

    emu.settle()

    table = emu_client.tables.get(full_name)
    assert table.table_type is not None
    assert table.table_type.value == "STREAMING_TABLE"
    assert table.pipeline_id == pid
    assert (table.properties or {}).get("delta.enableChangeDataFeed") == "true"
    source = emu_client.tables.get("main.sales.orders")
    assert [c.name for c in table.columns or []] == [c.name for c in source.columns or []]

    def version() -> int:
        tables = emu.state()["unity_catalog"]["tables"]
        return int(next(t for t in tables if t["full_name"] == full_name)["current_version"])

    first_version = version()
    emu_client.pipelines.start_update(pid)
    emu.settle()
    assert version() == first_version + 1


@pytest.mark.parametrize(("cascade", "kept"), [(None, False), (True, False), (False, True)])
def test_delete_cancels_and_cascades(
    emu: Emu, emu_client: WorkspaceClient, cascade: bool | None, kept: bool
) -> None:
    pid = create(emu_client, "orders_share")
    emu_client.pipelines.start_update(pid)
    emu.settle()
    running = emu_client.pipelines.start_update(pid).update_id

    emu_client.pipelines.delete(pid, cascade=cascade)

    assert running
    with pytest.raises(ResourceDoesNotExist):
        emu_client.pipelines.get(pid)
    exists = emu_client.tables.exists("share_cat.sales_ext.orders_share").table_exists
    assert exists is kept
    assert emu.settle() >= emu.now_ms()  # nothing left running


def test_validate_only_has_no_flows(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share")
    update_id = emu_client.pipelines.start_update(pid, validate_only=True).update_id or ""

    emu.advance(4 * STEP_MS)

    assert update_state(emu_client, pid, update_id) == "COMPLETED"
    types = {e["event_type"] for e in events_raw(emu_client, pid)["events"]}
    assert types == {"create_update", "update_progress"}
    assert not emu_client.tables.exists("share_cat.sales_ext.orders_share").table_exists


# ------------------------------------------------------------------------------------------ scripted outcomes


def test_next_outcome_scripts_one_update(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share")
    scripted = emu.control.post(
        f"/pipelines/{pid}/next-outcome",
        json={"outcome": "FAILED", "at_phase": "SETTING_UP_TABLES", "error_message": "disk full"},
    )
    assert scripted.status_code == 200, scripted.text

    failed = emu_client.pipelines.start_update(pid).update_id or ""
    emu.advance(4 * STEP_MS - 1)
    assert update_state(emu_client, pid, failed) == "SETTING_UP_TABLES"
    emu.advance(1)
    assert update_state(emu_client, pid, failed) == "FAILED"
    assert truth(emu, pid, failed)["error"] == "disk full"
    error_events = events_raw(emu_client, pid, filter=f"update_id = '{failed}' AND level = 'ERROR'")
    assert {e["event_type"] for e in error_events["events"]} == {"update_progress"}

    emu.control.post(f"/pipelines/{pid}/next-outcome", json={"outcome": "CANCELED"})
    canceled = emu_client.pipelines.start_update(pid).update_id or ""
    emu.settle()
    assert update_state(emu_client, pid, canceled) == "CANCELED"
    flows = events_raw(
        emu_client, pid, filter=f"update_id = '{canceled}' AND event_type = 'flow_progress'"
    )
    assert next(e["details"]["flow_progress"]["status"] for e in flows["events"]) == "STOPPED"

    completed = emu_client.pipelines.start_update(pid).update_id or ""  # the script was used up
    emu.settle()
    assert update_state(emu_client, pid, completed) == "COMPLETED"
    assert (
        emu.control.post("/pipelines/nope/next-outcome", json={"outcome": "FAILED"}).status_code
        == 404
    )
    bad = emu.control.post(f"/pipelines/{pid}/next-outcome", json={"outcome": "BROKEN"})
    assert bad.status_code == 400


def test_failure_rate_fails_updates(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.set_behaviour(simulation={"failure_rate": 1.0})
    pid = create(emu_client, "orders_share")
    update_id = emu_client.pipelines.start_update(pid).update_id or ""
    emu.settle()
    assert update_state(emu_client, pid, update_id) == "FAILED"


def test_continuous_pipeline_runs_until_stopped(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share", continuous=True)
    update_id = emu_client.pipelines.start_update(pid).update_id or ""

    emu.settle()  # a running continuous update is steady state: settle returns
    emu.advance(10 * STEP_MS)

    assert update_state(emu_client, pid, update_id) == "RUNNING"
    assert emu_client.tables.exists("share_cat.sales_ext.orders_share").table_exists
    early = truth(emu, pid, update_id)["rows"]["output"]
    batches = events_raw(
        emu_client, pid, filter="event_type = 'flow_progress'", order_by="timestamp asc"
    )["events"]
    with_metrics = [e for e in batches if "metrics" in e["details"]["flow_progress"]]
    assert len(with_metrics) == 10  # one micro-batch per step after RUNNING (offsets 5..14)
    assert (
        sum(e["details"]["flow_progress"]["metrics"]["num_output_rows"] for e in with_metrics)
        == early
    )
    emu_client.pipelines.stop(pid)
    emu.settle()
    assert update_state(emu_client, pid, update_id) == "CANCELED"


# ------------------------------------------------------------------------------------------ events


def test_x03_event_details_and_flow_metrics(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share")
    update_id = emu_client.pipelines.start_update(pid).update_id or ""
    emu.settle()

    typed = list(emu_client.pipelines.list_pipeline_events(pid))
    assert typed
    assert not hasattr(typed[0], "details")
    query = {
        "filter": f"update_id = '{update_id}' AND event_type in ('update_progress', 'flow_progress')",
        "order_by": "timestamp asc",
    }
    events = events_raw(emu_client, pid, **query)["events"]
    assert events[0]["event_type"] == "update_progress"
    assert events[-1]["details"]["update_progress"]["state"] == "COMPLETED"
    metrics = [
        e["details"]["flow_progress"]["metrics"]
        for e in events
        if e["event_type"] == "flow_progress" and "metrics" in e["details"]["flow_progress"]
    ]
    ground = truth(emu, pid, update_id)
    assert len(metrics) == 1
    assert metrics[0]["num_output_rows"] == ground["rows"]["output"]
    assert metrics[0]["num_upserted_rows"] == ground["rows"]["upserted"]
    assert metrics[0]["num_deleted_rows"] == ground["rows"]["deleted"]
    assert 0 < ground["rows"]["output"] <= SOURCE_ROWS * 0.05 + 1
    assert ground["rows"]["deleted"] == round(ground["rows"]["output"] * 0.1)
    sequence = [e["sequence"]["control_plane_seq_no"] for e in events]
    assert sequence == sorted(sequence)

    emu.set_behaviour(event_details="json_string")
    encoded = events_raw(emu_client, pid, **query)["events"]
    assert all(isinstance(e["details"], str) for e in encoded)
    assert [json.loads(e["details"]) for e in encoded] == [e["details"] for e in events]
    emu.set_behaviour(event_details="omitted")
    assert all("details" not in e for e in events_raw(emu_client, pid, **query)["events"])


def test_events_are_visible_only_once_they_happened(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share")
    emu_client.pipelines.start_update(pid)

    counts = []
    for _ in range(3):
        counts.append(len(events_raw(emu_client, pid)["events"]))
        emu.advance(STEP_MS)

    assert counts == [1, 2, 3]  # create_update, then one update_progress per step
    newest_first = events_raw(emu_client, pid)["events"]
    assert [e["timestamp"] for e in newest_first] == sorted(
        (e["timestamp"] for e in newest_first), reverse=True
    )


def test_x04_events_filter_grammar(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "orders_share")
    emu_client.pipelines.start_update(pid)
    emu.settle()
    all_events = events_raw(emu_client, pid)["events"]
    middle = sorted(e["timestamp"] for e in all_events)[len(all_events) // 2]

    later = list(
        emu_client.pipelines.list_pipeline_events(
            pid, filter=f"timestamp >= '{middle}' AND level in ('INFO')"
        )
    )
    assert later
    assert all((e.timestamp or "") >= middle for e in later)
    assert len(later) == sum(1 for e in all_events if e["timestamp"] >= middle)
    one = all_events[3]
    by_id = events_raw(emu_client, pid, filter=f"id = '{one['id']}'")["events"]
    assert [e["id"] for e in by_id] == [one["id"]]
    for bad in (
        f"origin.update_id = '{one['origin']['update_id']}'",
        "level = 'INFO' OR level = 'WARN'",
        "colour = 'red'",
        "timestamp > 'yesterday'",
    ):
        with pytest.raises(InvalidParameterValue, match="Invalid filter"):
            events_raw(emu_client, pid, filter=bad)
    with pytest.raises(InvalidParameterValue, match="max_results"):
        events_raw(emu_client, pid, max_results=1001)
    with pytest.raises(InvalidParameterValue, match="order_by"):
        events_raw(emu_client, pid, order_by="level asc")


def test_c05_events_paging_with_and_without_the_filter(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    pid = create(emu_client, "orders_share")
    for _ in range(4):
        emu_client.pipelines.start_update(pid)
        emu.settle()
    flt = "event_type in ('update_progress', 'flow_progress')"
    expected = [
        e["id"]
        for e in events_raw(
            emu_client, pid, filter=flt, order_by="timestamp asc", max_results=1000
        )["events"]
    ]
    emu.reset_stats()

    listed = [
        e.id
        for e in emu_client.pipelines.list_pipeline_events(
            pid, filter=flt, order_by=["timestamp asc"], max_results=7
        )
    ]

    assert listed == expected
    assert len(expected) > 14
    calls = emu.calls("pipelines.list_pipeline_events")
    assert len(calls) == -(-len(expected) // 7)
    assert all(c["query"]["filter"] == flt for c in calls)  # the SDK re-sends the filter
    # A client that sends only page_token (and max_results) on follow-ups gets the same pages.
    page = events_raw(emu_client, pid, filter=flt, order_by="timestamp asc", max_results=7)
    manual = [e["id"] for e in page["events"]]
    while "next_page_token" in page:
        assert page["next_page_token"]
        page = events_raw(emu_client, pid, page_token=page["next_page_token"], max_results=7)
        manual += [e["id"] for e in page["events"]]
    assert manual == expected
    first = events_raw(emu_client, pid, filter=flt, max_results=7)
    with pytest.raises(InvalidParameterValue, match="page token does not match"):
        events_raw(emu_client, pid, filter="level = 'INFO'", page_token=first["next_page_token"])


# ------------------------------------------------------------------------------------------ listing


def test_c05_list_filter_resent_across_pages(emu: Emu, emu_client: WorkspaceClient) -> None:
    pipelines = [{"name": f"p{n:02d}", "spec": spec(f"p{n:02d}")} for n in range(60)]
    pipelines += [{"name": f"q{n:02d}", "spec": spec(f"q{n:02d}")} for n in range(5)]
    emu.reset(seed={"extends": "minimal", "pipelines": pipelines})

    names = [
        p.name or ""
        for p in emu_client.pipelines.list_pipelines(filter="name LIKE 'p%'", max_results=25)
    ]

    assert sorted(names) == [f"p{n:02d}" for n in range(60)]
    calls = emu.calls("pipelines.list_pipelines")
    assert len(calls) == 3
    assert all(c["query"]["filter"] == "name LIKE 'p%'" for c in calls)
    ids = [p.pipeline_id or "" for p in emu_client.pipelines.list_pipelines(max_results=100)]
    assert ids == sorted(ids)  # id asc
    descending = [
        p.pipeline_id or ""
        for p in emu_client.pipelines.list_pipelines(order_by=["id desc"], max_results=10)
    ]
    assert descending == sorted(ids, reverse=True)
    raw = emu_client.api_client.do("GET", "/api/2.0/pipelines", query={"max_results": 65})
    assert len(raw["statuses"]) == 65
    assert "next_page_token" not in raw


def test_x09_like_wildcards_are_real(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.reset(seed_file="default")
    o_brien = create(emu_client, "o'brien")
    percent = create(emu_client, "sales_2024%")
    lookalike = create(emu_client, "sales_2024x")

    def names(flt: str) -> list[str]:
        return sorted(p.name or "" for p in emu_client.pipelines.list_pipelines(filter=flt))

    assert names("name LIKE 'sales_orders_share'") == ["salesXorders_share", "sales_orders_share"]
    assert names("name LIKE 'SALES_ORDERS_SHARE_OLD'") == ["sales_orders_share_old"]
    assert names("name LIKE 'o''brien'") == ["o'brien"]
    assert names("name LIKE 'sales_2024%'") == ["sales_2024%", "sales_2024x"]
    assert names(f"notebook = '{LIBRARY}'") == sorted(
        [
            "sales_orders_share",
            "salesXorders_share",
            "sales_orders_share_old",
            "o'brien",
            "sales_2024%",
            "sales_2024x",
        ]
    )
    emu.set_behaviour(like_case_insensitive=False)
    assert names("name LIKE 'SALES_ORDERS_SHARE_OLD'") == []
    for bad in ("name = 'x'", "name LIKE 'a' AND notebook = 'b'", "name LIKE"):
        with pytest.raises(InvalidParameterValue, match="Invalid filter"):
            list(emu_client.pipelines.list_pipelines(filter=bad))
    with pytest.raises(InvalidParameterValue, match="order_by"):
        list(emu_client.pipelines.list_pipelines(order_by=["name asc"]))
    assert o_brien
    assert percent
    assert lookalike


def test_x07_pipeline_limits(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "p")

    with pytest.raises(InvalidParameterValue, match="max_results"):
        list(emu_client.pipelines.list_pipelines(max_results=101))
    with pytest.raises(InvalidParameterValue, match="max_results"):
        emu_client.pipelines.list_updates(pid, max_results=101)
    assert len(list(emu_client.pipelines.list_pipelines(max_results=100))) == 1


def test_list_updates_pages_newest_first_until_an_update(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu.reset(
        seed={
            "extends": "minimal",
            "pipelines": [
                {"name": "p", "spec": spec("p"), "history": {"count": 30, "every": "1h"}}
            ],
        }
    )
    pid = next(iter(emu_client.pipelines.list_pipelines())).pipeline_id or ""

    first = emu_client.pipelines.list_updates(pid, max_results=10)
    updates = list(first.updates or [])
    token = first.next_page_token
    while token:
        page = emu_client.pipelines.list_updates(pid, max_results=10, page_token=token)
        updates += page.updates or []
        token = page.next_page_token
        assert token != ""

    times = [u.creation_time or 0 for u in updates]
    assert len(updates) == 30
    assert times == sorted(times, reverse=True)
    assert times[0] == emu.now_ms() - 3_600_000  # the newest starts at `last` (default -1h)
    assert times[0] - times[1] == 3_600_000
    until = updates[12].update_id or ""
    bounded = emu_client.pipelines.list_updates(pid, until_update_id=until, max_results=100)
    assert [u.update_id for u in bounded.updates or []] == [u.update_id for u in updates[:13]]
    assert bounded.next_page_token is None
    with pytest.raises(ResourceDoesNotExist):
        emu_client.pipelines.list_updates(pid, until_update_id="nope")


# ------------------------------------------------------------------------------------------ seeds


def test_default_seed_lookalikes_with_history(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.reset(seed_file="default")

    by_name = {p.name: p for p in emu_client.pipelines.list_pipelines()}

    assert set(by_name) == {"sales_orders_share", "salesXorders_share", "sales_orders_share_old"}
    pid = by_name["sales_orders_share"].pipeline_id or ""
    updates = emu_client.pipelines.list_updates(pid).updates or []
    outcomes = [
        (u.cause.value if u.cause else "", u.state.value if u.state else "") for u in updates
    ]
    assert outcomes == [
        ("JOB_TASK", "COMPLETED"),  # synthesized for the seeded schedule run (-1d)
        ("API_CALL", "COMPLETED"),
        ("JOB_TASK", "FAILED"),
        ("JOB_TASK", "COMPLETED"),
    ]
    seeded_rows = truth(emu, pid, updates[1].update_id or "")["rows"]
    assert seeded_rows == {"output": 420, "upserted": 400, "deleted": 20, "dropped": 0}
    failed = events_raw(
        emu_client, pid, filter=f"update_id = '{updates[2].update_id}' AND level = 'ERROR'"
    )
    assert failed["events"][0]["error"]["exceptions"][0]["message"] == "Source table changed schema"
    assert emu_client.tables.get("share_cat.sales_ext.orders").pipeline_id == pid


def test_history_of_ten_thousand_updates_is_cheap_to_read(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    seed = {
        "extends": "minimal",
        "pipelines": [
            {
                "name": "busy",
                "spec": spec("busy"),
                "history": [
                    {"count": 9990, "every": "1h", "last": "-2d", "failed_every": 100},
                    {"count": 10, "every": "1h", "last": "-1h"},
                ],
            }
        ],
    }
    started = time.perf_counter()
    emu.reset(seed=seed)
    seconds = time.perf_counter() - started
    print(f"reset with 10,000 seeded updates: {seconds * 1000:.0f} ms")  # noqa: T201 - measured value, reported by -s runs
    pid = next(iter(emu_client.pipelines.list_pipelines())).pipeline_id or ""
    window_start = emu.now_ms() - 86_400_000
    emu.reset_stats()

    # The access pattern of a windowed metrics read: newest-first pages until the window's start,
    # then the events of each update inside it.
    page = emu_client.pipelines.list_updates(pid, max_results=100)
    in_window = [u for u in page.updates or [] if (u.creation_time or 0) >= window_start]
    rows = 0
    for update in in_window:
        flt = f"update_id = '{update.update_id}' AND event_type in ('update_progress', 'flow_progress')"
        events = events_raw(emu_client, pid, filter=flt, order_by="timestamp asc", max_results=1000)
        rows += sum(
            e["details"]["flow_progress"]["metrics"]["num_output_rows"]
            for e in events["events"]
            if e["event_type"] == "flow_progress" and "metrics" in e["details"]["flow_progress"]
        )
    total = emu.stats()["total"]
    print(f"windowed read over 10,000 updates: {total} upstream calls")  # noqa: T201 - measured value, reported by -s runs
    assert len(in_window) == 10
    assert total == 11
    assert rows == sum(truth(emu, pid, u.update_id or "")["rows"]["output"] for u in in_window)
    errors = list(
        emu_client.pipelines.list_pipeline_events(pid, filter="level = 'ERROR'", max_results=1000)
    )
    # A failure during RUNNING reports the flow's failure and the update's.
    assert len(errors) == 2 * (9990 // 100)
    assert {e.event_type for e in errors} == {"flow_progress", "update_progress"}


@pytest.mark.parametrize(
    ("pipeline", "problem"),
    [
        ({"updates": [{"start": "-1h"}, {"start": "-1h"}]}, "overlaps the previous one"),
        ({"updates": [{"start": "+1h"}]}, "cannot start in the future"),
        ({"history": {"count": 3, "every": "2s"}}, "must exceed the length of one update"),
        ({"count": 2, "pipeline_id": "fixed"}, "not allowed together with count"),
        ({"spec": {"schema": "a.b"}}, "single identifier"),
    ],
)
def test_seed_errors_name_the_problem(emu: Emu, pipeline: dict[str, Any], problem: str) -> None:
    body = {"seed": {"extends": "minimal", "pipelines": [{"name": "p", **pipeline}]}}
    response = emu.control.post("/reset", json=body)
    assert response.status_code == 400
    assert any(problem in p for p in response.json()["problems"]), response.json()


def test_same_seed_same_ids_and_events(emu: Emu, emu_client: WorkspaceClient) -> None:
    seed = {
        "extends": "minimal",
        "pipelines": [{"name": "p", "spec": spec("p"), "history": {"count": 3, "every": "1h"}}],
    }

    def snapshot() -> Any:
        pid = next(iter(emu_client.pipelines.list_pipelines())).pipeline_id or ""
        return pid, events_raw(emu_client, pid, max_results=1000)["events"]

    emu.reset(seed=seed)
    first = snapshot()
    emu.reset(seed=seed)
    assert snapshot() == first
    emu.reset(seed=seed, random_seed=7)
    assert snapshot()[0] != first[0]


def test_bad_requests_name_the_field(emu: Emu, emu_client: WorkspaceClient) -> None:
    pid = create(emu_client, "p")
    api = emu_client.api_client
    with pytest.raises(BadRequest, match="cause"):
        api.do("POST", f"/api/2.0/pipelines/{pid}/updates", body={"cause": "api_call"})
    with pytest.raises(InvalidParameterValue, match="full_refresh cannot be combined"):
        api.do(
            "POST",
            f"/api/2.0/pipelines/{pid}/updates",
            body={"full_refresh": True, "refresh_selection": ["t"]},
        )
    with pytest.raises(InvalidParameterValue, match="configuration"):
        api.do("POST", "/api/2.0/pipelines", body={"name": "x", "configuration": {"a": 1}})
    with pytest.raises(InvalidParameterValue, match="page token"):
        list(emu_client.pipelines.list_pipelines(page_token="garbage"))


def test_long_histories_list_every_event_consistently(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    seed = {
        "extends": "minimal",
        "pipelines": [{"name": "p", "spec": spec("p"), "history": {"count": 600, "every": "1h"}}],
    }
    emu.reset(seed=seed)
    pid = next(iter(emu_client.pipelines.list_pipelines())).pipeline_id or ""

    def every_event() -> list[tuple[str, int]]:
        events = emu_client.pipelines.list_pipeline_events(
            pid, order_by=["timestamp asc"], max_results=1000
        )
        return [(e.id or "", e.sequence.control_plane_seq_no or 0) for e in events]  # type: ignore[union-attr]

    first = every_event()
    second = every_event()  # more updates than the event cache holds: rebuilt events are identical

    # create_update, 5 update_progress, flow QUEUED/STARTING/RUNNING/COMPLETED per update
    assert len(first) == 600 * 10
    assert first == second
    sequences = [seq for _, seq in first]
    assert sequences == sorted(sequences)
    assert len({event_id for event_id, _ in first}) == len(first)

"""The deferred full refresh executor (docs/API.md §7.5): polls until idle, then starts; bounded and stoppable."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from databricks.sdk.errors import NotFound, TemporarilyUnavailable
from databricks.sdk.service.pipelines import StartUpdateCause, StartUpdateResponse

from dbrx_api.errors import ConflictError
from dbrx_api.jobs.deferred import DeferredOutcome, DeferredStarter, active_update
from fixtures.pipelines import PID, PID2, pipeline_response, workspace_client

WAIT_S = 5.0


@pytest.fixture
def starter() -> Iterator[DeferredStarter]:
    starter = DeferredStarter(max_workers=2, max_pending=2)
    yield starter
    starter.shutdown()


@pytest.mark.parametrize(
    ("state", "latest", "busy", "active"),
    [
        ("IDLE", [], False, None),
        ("IDLE", [("u1", "COMPLETED")], False, None),
        ("FAILED", [("u1", "FAILED")], False, None),
        ("RUNNING", [("u1", "RUNNING")], True, "u1"),
        ("STOPPING", [("u1", "CANCELED")], True, None),
        ("IDLE", [("u2", "QUEUED"), ("u1", "COMPLETED")], True, "u2"),
    ],
)
def test_busy_states(
    state: str, latest: list[tuple[str, str]], busy: bool, active: str | None
) -> None:
    assert active_update(pipeline_response(state=state, latest=latest)) == (busy, active)


def test_polls_until_idle_then_starts_once(starter: DeferredStarter) -> None:
    ws = workspace_client()
    ws.pipelines.get.side_effect = [
        pipeline_response(state="STOPPING", latest=[("u1", "STOPPING")]),
        TemporarilyUnavailable("try later"),  # wrapped by the SDK in practice; still only a pause
        pipeline_response(state="IDLE", latest=[("u1", "CANCELED")]),
    ]
    ws.pipelines.start_update.return_value = StartUpdateResponse(update_id="u2")
    job, _ = starter.submit(ws, PID, name="p", poll_s=0.01, timeout_s=WAIT_S)
    assert job.future.result(WAIT_S) == DeferredOutcome.STARTED
    assert job.update_id == "u2"
    ws.pipelines.start_update.assert_called_once_with(
        PID, full_refresh=True, cause=StartUpdateCause.API_CALL
    )
    assert ws.pipelines.get.call_count == 3
    assert starter.pending() == []


def test_gives_up_after_the_timeout(starter: DeferredStarter) -> None:
    ws = workspace_client()
    ws.pipelines.get.return_value = pipeline_response(state="RUNNING", latest=[("u1", "RUNNING")])
    job, _ = starter.submit(ws, PID, name="p", poll_s=0.01, timeout_s=0.05)
    assert job.future.result(WAIT_S) == DeferredOutcome.TIMED_OUT
    ws.pipelines.start_update.assert_not_called()


def test_deleted_pipeline_fails_without_start(starter: DeferredStarter) -> None:
    ws = workspace_client()
    ws.pipelines.get.side_effect = NotFound("The specified pipeline x was not found.")
    job, _ = starter.submit(ws, PID, name="p", poll_s=0.01, timeout_s=WAIT_S)
    assert job.future.result(WAIT_S) == DeferredOutcome.FAILED
    ws.pipelines.start_update.assert_not_called()


def test_one_pending_start_per_pipeline_and_a_bound(starter: DeferredStarter) -> None:
    ws = workspace_client()
    ws.pipelines.get.return_value = pipeline_response(state="RUNNING", latest=[("u1", "RUNNING")])
    first, new = starter.submit(ws, PID, name="p", poll_s=0.01, timeout_s=WAIT_S)
    assert new
    assert starter.submit(ws, PID, name="p", poll_s=0.01, timeout_s=WAIT_S) == (first, False)
    starter.submit(ws, PID2, name="q", poll_s=0.01, timeout_s=WAIT_S)
    with pytest.raises(ConflictError) as caught:
        starter.submit(ws, "third", name="r", poll_s=0.01, timeout_s=WAIT_S)
    assert caught.value.code == "pipeline_busy"
    assert starter.pending() == sorted([PID, PID2])


def test_cancel_abandons_before_the_start(starter: DeferredStarter) -> None:
    ws = workspace_client()
    ws.pipelines.get.return_value = pipeline_response(state="RUNNING", latest=[("u1", "RUNNING")])
    job, _ = starter.submit(ws, PID, name="p", poll_s=0.01, timeout_s=WAIT_S)
    job.cancel()
    deadline = time.monotonic() + WAIT_S
    while starter.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert starter.pending() == []
    ws.pipelines.start_update.assert_not_called()


def test_shutdown_is_prompt_even_with_long_polls() -> None:
    starter = DeferredStarter()
    ws = workspace_client()
    job, _ = starter.submit(ws, PID, name="p", poll_s=60, timeout_s=600)
    started = time.monotonic()
    starter.shutdown()
    assert time.monotonic() - started < 2
    assert job.future.cancelled() or job.future.result(0) == DeferredOutcome.ABANDONED
    ws.pipelines.start_update.assert_not_called()
    with pytest.raises(ConflictError):
        starter.submit(ws, PID, name="p", poll_s=1, timeout_s=1)

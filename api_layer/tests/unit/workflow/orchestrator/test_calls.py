"""Counted calls, the mutation guard, the one-shot POST and failure classes of the orchestrator."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any, cast

import psycopg
import pytest
from databricks.sdk import WorkspaceClient

from dbrx_api.errors import ConflictError, ForbiddenError, ServiceUnavailable, UpstreamError
from dbrx_api.workflow.orchestrator.apply import classify
from dbrx_api.workflow.orchestrator.calls import (
    CountedWorkspace,
    MutationForbidden,
    forbid_mutations,
    workspace_limiter,
)
from dbrx_api.workflow.orchestrator.steps import StepFailure
from dbrx_api.workflow.queue.run import RunCancelled


class FakeShares:
    def __init__(self) -> None:
        self.created: list[str] = []

    def get(self, name: str) -> str:
        return name

    def list_shares(self) -> Iterator[str]:
        yield from ("a", "b")

    def create(self, name: str) -> str:
        self.created.append(name)
        return name


class FakeApiClient:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def do(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = kwargs["data"]
        self.calls.append(
            {"method": method, "path": path, "headers": kwargs["headers"], "body": data.read()}
        )
        # The SDK replays a request only when its body is absent, bytes/str, or a seekable io stream.
        assert not isinstance(data, io.IOBase | bytes | str)
        return {"job_id": 7}


class FakeConfig:
    workspace_id = "123"


class FakeClient:
    def __init__(self) -> None:
        self.shares = FakeShares()
        self.api_client = FakeApiClient()
        self.config = FakeConfig()


def counted(before: Any = lambda: None) -> tuple[CountedWorkspace, FakeClient]:
    raw = FakeClient()
    workspace = CountedWorkspace(
        cast(WorkspaceClient, raw),
        workspace_url="https://adb-1.1.azuredatabricks.net",
        limiter=threading.BoundedSemaphore(2),
        before_mutation=before,
    )
    return workspace, raw


def test_reads_and_mutations_are_counted_and_lists_are_read_at_once() -> None:
    guarded: list[str] = []
    workspace, raw = counted(lambda: guarded.append("checked"))
    client: Any = workspace.client  # typed as the SDK client; the fake answers plain strings

    assert client.shares.get("x") == "x"
    assert client.shares.list_shares() == ["a", "b"]
    assert client.shares.create("new") == "new"

    assert (workspace.counter.reads, workspace.counter.mutations) == (2, 1)
    assert workspace.counter.operations == {
        "shares.get": 1,
        "shares.list_shares": 1,
        "shares.create": 1,
    }
    assert guarded == ["checked"]  # once, before the mutating call only
    assert raw.shares.created == ["new"]


def test_read_only_flows_refuse_a_mutation_before_it_is_sent() -> None:
    workspace, raw = counted(forbid_mutations)

    with pytest.raises(MutationForbidden):
        workspace.client.shares.create("new")

    assert raw.shares.created == []
    client: Any = workspace.client
    assert client.shares.get("x") == "x"


def test_a_cancelled_run_stops_before_the_call() -> None:
    def cancelled() -> None:
        raise RunCancelled("shutdown")

    workspace, raw = counted(cancelled)

    with pytest.raises(RunCancelled):
        workspace.client.shares.create("new")
    assert raw.shares.created == []
    assert workspace.counter.mutations == 0


def test_post_once_sends_a_body_the_sdk_does_not_replay() -> None:
    workspace, raw = counted()

    answer = workspace.post_once("jobs.create", "/api/2.2/jobs/create", {"name": "j"})

    assert answer == {"job_id": 7}
    (call,) = raw.api_client.calls
    assert call["method"] == "POST"
    assert call["body"] == b'{"name": "j"}'
    assert call["headers"]["X-Databricks-Workspace-Id"] == "123"
    assert workspace.counter.operations == {"jobs.create": 1}


def test_one_limiter_per_workspace() -> None:
    first = workspace_limiter("https://a.example", 3)
    assert workspace_limiter("https://a.example", 9) is first
    assert workspace_limiter("https://b.example", 3) is not first


@pytest.mark.parametrize(
    ("error", "code", "retriable"),
    [
        (ServiceUnavailable("throttled"), "upstream_unavailable", True),
        (UpstreamError("gone", code="upstream_unreachable"), "upstream_unreachable", True),
        (
            UpstreamError("bad credentials", code="upstream_auth_failed"),
            "upstream_auth_failed",
            False,
        ),
        (
            ForbiddenError("no", code="upstream_permission_denied"),
            "upstream_permission_denied",
            False,
        ),
        (ConflictError("edited meanwhile", code="conflict"), "conflict", True),
        (StepFailure("rotation_blocked", "two tokens"), "rotation_blocked", False),
        (psycopg.OperationalError("connection lost"), "database_unavailable", True),
        (KeyError("bug"), "internal_error", False),
    ],
)
def test_failure_classes(error: BaseException, code: str, retriable: bool) -> None:
    failure = classify(error)
    assert (failure.code, failure.retriable) == (code, retriable)

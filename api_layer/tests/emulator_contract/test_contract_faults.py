"""Contract tests: retries, exception classes and injected faults (C02, C06, C17, X01, fault kinds, latency)."""

from __future__ import annotations

import time
from typing import Literal

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    BadRequest,
    InternalError,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceConflict,
    ResourceDoesNotExist,
    TemporarilyUnavailable,
    TooManyRequests,
)
from databricks.sdk.service.sharing import (
    AuthenticationType,
    SharedDataObject,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)

from dbrx_emulator.config import EmulatorConfig
from dbrx_emulator.testing import Emu, EmulatorServer

pytestmark = pytest.mark.contract


def _add(name: str) -> SharedDataObjectUpdate:
    return SharedDataObjectUpdate(
        action=SharedDataObjectUpdateAction.ADD, data_object=SharedDataObject(name=name)
    )


# ---------------------------------------------------------------------------------------------- C02


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "cause"), [("throttle", TooManyRequests), ("unavailable", TemporarilyUnavailable)]
)
def test_c02_throttling_surfaces_as_timeout_error(
    emu: Emu, kind: str, cause: type[Exception]
) -> None:
    emu_client = emu.workspace_client(retry_timeout_seconds=3)
    emu_client.shares.create("s1")
    emu.add_fault(operation="shares.get", kind=kind, retry_after_seconds=1)

    with pytest.raises(TimeoutError) as caught:
        emu_client.shares.get("s1")

    assert isinstance(caught.value.__cause__, cause)
    assert emu.count("shares.get") >= 2
    (call, *_) = emu.calls("shares.get")
    assert call["fault"] == kind


@pytest.mark.slow
def test_c02_a_bounded_throttle_is_retried_through(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.shares.create("s1")
    emu.add_fault(operation="shares.get", kind="throttle", retry_after_seconds=1, times=2)

    share = emu_client.shares.get("s1")

    assert share.name == "s1"
    assert emu.count("shares.get") == 3
    assert emu.stats()["operations"]["shares.get"]["statuses"] == {"200": 1, "429": 2}


def test_c02_transient_message_is_retried_but_internal_is_not(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu_client.shares.create("s1")
    emu.add_fault(operation="shares.get", kind="transient_message", times=1)
    assert emu_client.shares.get("s1").name == "s1"
    assert emu.count("shares.get") == 2

    emu.reset_stats()
    emu.clear_faults()
    emu.add_fault(operation="shares.get", kind="internal", times=1)
    with pytest.raises(InternalError):
        emu_client.shares.get("s1")
    assert emu.count("shares.get") == 1


# ---------------------------------------------------------------------------------------------- C06


def test_c06_missing_share_is_plain_not_found_unless_resource_style(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    with pytest.raises(NotFound) as caught:
        emu_client.shares.get("nope")
    assert not isinstance(caught.value, ResourceDoesNotExist)
    assert caught.value.error_code == "SHARE_DOES_NOT_EXIST"
    assert str(caught.value) == "Share 'nope' does not exist."

    emu.set_behaviour(not_found_style="resource")
    with pytest.raises(ResourceDoesNotExist):
        emu_client.shares.get("nope")

    emu.set_behaviour(not_found_style="generic")
    with pytest.raises(NotFound) as generic:
        emu_client.shares.get("nope")
    assert generic.value.error_code == "NOT_FOUND"


def test_c06_duplicate_create_class_follows_already_exists_status(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu_client.shares.create("dup")
    with pytest.raises(BadRequest) as bad_request:
        emu_client.shares.create("dup")
    assert bad_request.value.error_code == "SHARE_ALREADY_EXISTS"
    assert not isinstance(bad_request.value, ResourceConflict)

    emu.set_behaviour(already_exists_status=409)
    with pytest.raises(ResourceConflict) as conflict:
        emu_client.shares.create("dup")
    assert str(conflict.value) == "Share 'dup' already exists."


def test_c06_double_add_is_resource_already_exists(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.shares.create("s1")
    emu_client.shares.update("s1", updates=[_add("main.sales.orders")])

    with pytest.raises(ResourceAlreadyExists, match=r"Shared Table 'sales.orders' already exists"):
        emu_client.shares.update("s1", updates=[_add("main.sales.orders")])


# ---------------------------------------------------------------------------------------------- C17


def test_c17_lost_create_response_is_replayed_into_already_exists(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu.add_fault(operation="shares.create", kind="applied_response_lost", times=1)

    with pytest.raises(BadRequest, match="already exists"):
        emu_client.shares.create("once")

    stats = emu.stats()["operations"]["shares.create"]
    assert stats["count"] == 2
    assert stats["faults"] == {"applied_response_lost": 1}
    assert [s.name for s in emu_client.shares.list_shares()] == ["once"]
    first, second = emu.calls("shares.create")
    assert (first["status"], first["applied"], first["fault"]) == (
        None,
        True,
        "applied_response_lost",
    )
    assert second["status"] == 400


def test_c17_lost_create_response_with_409_status(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.set_behaviour(already_exists_status=409)
    emu.add_fault(operation="shares.create", kind="applied_response_lost", times=1)

    with pytest.raises(ResourceConflict):
        emu_client.shares.create("once")
    assert emu.count("shares.create") == 2


def test_c17_lost_rotation_response_meets_the_rotated_state(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu_client.recipients.create("r1", AuthenticationType.TOKEN)
    emu.add_fault(operation="recipients.rotate_token", kind="applied_response_lost", times=1)

    with pytest.raises(BadRequest, match="already two activated tokens"):
        emu_client.recipients.rotate_token("r1", existing_token_expire_in_seconds=3600)

    assert emu.count("recipients.rotate_token") == 2
    tokens = emu_client.recipients.get("r1").tokens or []
    assert len(tokens) == 2


# ---------------------------------------------------------------------------------------------- X01 and other kinds


@pytest.mark.slow
def test_x01_drop_before_apply_times_out_with_connection_error(emu: Emu) -> None:
    client = emu.workspace_client(retry_timeout_seconds=3)
    emu.add_fault(operation="shares.create", kind="drop_before_apply")

    with pytest.raises(TimeoutError) as caught:
        client.shares.create("never")

    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert "Remote end closed connection without response" in str(caught.value.__cause__)
    calls = emu.calls("shares.create")
    assert len(calls) >= 2
    assert all(c["applied"] is False and c["status"] is None for c in calls)
    emu.clear_faults()
    with pytest.raises(NotFound):
        client.shares.get("never")


@pytest.mark.slow
def test_x01_drop_before_apply_on_catalogs_get(emu: Emu) -> None:
    client = emu.workspace_client(retry_timeout_seconds=3)
    emu.add_fault(operation="catalogs.get", kind="drop_before_apply")

    with pytest.raises(TimeoutError) as caught:
        client.catalogs.get("main")

    assert isinstance(caught.value.__cause__, requests.ConnectionError)
    assert emu.stats()["operations"]["catalogs.get"]["faults"]["drop_before_apply"] >= 2


def test_x01_truncated_response_is_a_client_read_error_not_a_hang(emu: Emu) -> None:
    client = emu.workspace_client(retry_timeout_seconds=3, http_timeout_seconds=3)
    emu.add_fault(operation="catalogs.list", kind="truncated_response", times=1)

    started = time.monotonic()
    with pytest.raises((requests.RequestException, TimeoutError)):
        list(client.catalogs.list())

    assert time.monotonic() - started < 10
    assert emu.calls("catalogs.list")[0]["fault"] == "truncated_response"


def test_timeout_fault_applies_then_answers_too_late(emu: Emu) -> None:
    client = emu.workspace_client(retry_timeout_seconds=5, http_timeout_seconds=1)
    emu.add_fault(operation="shares.create", kind="timeout", delay_ms=1500, times=1)

    with pytest.raises(BadRequest, match="already exists"):
        client.shares.create("slow")

    first, second = emu.calls("shares.create")
    assert first["fault"] == "timeout"
    assert first["applied"] is True
    assert second["status"] == 400


def test_error_kind_skip_and_path_regex(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.add_fault(
        operation="catalogs.*",
        method="GET",
        path_regex=r"/catalogs/main$",
        kind="error",
        status=403,
        error_code="PERMISSION_DENIED",
        message="nope",
        skip=1,
        times=1,
    )

    assert emu_client.catalogs.get("main").name == "main"  # skipped
    assert emu_client.catalogs.get("share_cat").name == "share_cat"  # path does not match
    with pytest.raises(PermissionDenied, match="nope"):
        emu_client.catalogs.get("main")
    assert emu_client.catalogs.get("main").name == "main"  # budget spent
    (rule,) = emu.faults()
    assert (rule["matched"], rule["skipped"], rule["applied"]) == (3, 1, 1)


def test_rate_limit_uses_a_token_bucket_in_emulator_time(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu.add_fault(operation="catalogs.get", kind="rate_limit", rps=1, burst=2)
    client = emu.workspace_client(retry_timeout_seconds=1)

    emu_client.catalogs.get("main")
    emu_client.catalogs.get("main")
    with pytest.raises(TimeoutError) as caught:
        client.catalogs.get("main")
    assert isinstance(caught.value.__cause__, TooManyRequests)

    emu.advance(1000)  # one token refills
    assert emu_client.catalogs.get("main").name == "main"


def test_rate_draws_are_seeded_per_rule(emu: Emu, emu_client: WorkspaceClient) -> None:
    def pattern() -> list[int]:
        emu.reset()
        emu.add_fault(operation="catalogs.get", kind="internal", rate=0.5)
        statuses = []
        for _ in range(20):
            try:
                emu_client.catalogs.get("main")
                statuses.append(200)
            except InternalError:
                statuses.append(500)
        return statuses

    first = pattern()
    assert first == pattern()
    assert 200 in first
    assert 500 in first


def test_fault_rules_match_only_their_operation_and_globs_skip_host_metadata(emu: Emu) -> None:
    emu.add_fault(operation="*", kind="internal")

    client = emu.workspace_client()  # the host-metadata probe is not faulted by a glob

    with pytest.raises(InternalError):
        client.catalogs.get("main")
    assert emu.stats()["operations"]["meta.host_metadata"]["faults"] == {}


def test_latency_injection_delays_calls_in_real_time(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.set_latency(per_operation={"catalogs.get": {"fixed_ms": 150}})
    clock_before = emu.now_ms()

    started = time.monotonic()
    emu_client.catalogs.get("main")
    slow = time.monotonic() - started
    started = time.monotonic()
    emu_client.schemas.get("main.sales")
    fast = time.monotonic() - started

    assert slow >= 0.15
    assert fast < 0.15
    assert emu.now_ms() == clock_before  # latency never moves the emulator clock


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_x01_connection_drops_work_with_both_uvicorn_protocols(
    http: Literal["h11", "httptools"],
) -> None:
    config = EmulatorConfig(clock="manual", seed_file="minimal")
    with EmulatorServer(config, http=http) as server:
        url = f"{server.url}/api/2.1/unity-catalog/catalogs"
        auth = {"Authorization": f"Bearer {server.token}"}
        Emu(server).add_fault(operation="catalogs.list", kind="applied_response_lost", times=1)
        with pytest.raises(
            requests.ConnectionError, match="Remote end closed connection without response"
        ):
            requests.get(url, headers=auth, timeout=5)
        Emu(server).add_fault(operation="catalogs.list", kind="truncated_response", times=1)
        with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
            requests.get(url, headers=auth, timeout=5)
        assert requests.get(url, headers=auth, timeout=5).status_code == 200

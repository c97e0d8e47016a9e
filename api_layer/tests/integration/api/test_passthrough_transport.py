"""The plain transport of the pass-through list pages, and its hand-over to the SDK (docs/ARCHITECTURE.md).

`PageTransport` carries a page only when it is a `200` with a JSON object; anything else is sent again through the
SDK's `ApiClient`, so retries and the `DatabricksError` the error handlers map stay the SDK's. Run against the
emulator through the real SDK, with the emulator's fault rules standing in for an unwell workspace.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import PermissionDenied

from dbrx_api import passthrough
from dbrx_api.dbrx_auth.workspaces import tune_http_session
from dbrx_api.dltshr.shares import SHARES_PATH

pytestmark = pytest.mark.integration

SHARES = 120  # the emulator pages shares by 50: three pages
LIST_OPERATION = "shares.list_shares"


class CountingTransport(passthrough.PageTransport):
    """The real transport, counting the pages it took and the ones it handed over (None)."""

    def __init__(self, host: str) -> None:
        super().__init__(host, pool_size=4, ca_bundle=None, timeout_s=5)
        self.taken = 0
        self.handed_over = 0

    def get_page(
        self, path: str, query: Mapping[str, Any], headers: Mapping[str, str]
    ) -> dict[str, Any] | None:
        page = super().get_page(path, query, headers)
        if page is None:
            self.handed_over += 1
        else:
            self.taken += 1
        return page


@pytest.fixture
def seeded(emu: Any) -> Any:
    emu.reset(seed={"shares": [{"name": f"share_{index:03d}"} for index in range(SHARES)]})
    return emu


@pytest.fixture
def transport(seeded: Any, emu_client: WorkspaceClient) -> CountingTransport:
    counting = CountingTransport(seeded.url)
    passthrough.attach_page_transport(emu_client, counting)
    return counting


def share_names(client: WorkspaceClient) -> list[str]:
    return [
        share["name"]
        for share in passthrough.list_all(client, SHARES_PATH, "shares", {"max_results": 0})
    ]


def list_calls(emu: Any) -> int:
    return len(emu.calls(operation=LIST_OPERATION))


def test_every_page_goes_through_the_transport_with_the_sdk_s_credentials(
    seeded: Any, emu_client: WorkspaceClient, transport: CountingTransport
) -> None:
    names = share_names(emu_client)
    assert sorted(names) == [f"share_{index:03d}" for index in range(SHARES)]
    assert (transport.taken, transport.handed_over) == (3, 0)
    calls = seeded.calls(operation=LIST_OPERATION)
    assert len(calls) == 3
    # The emulator refuses a request without the PAT (401): the pages carried the SDK's authentication.
    assert all(call["status"] == 200 for call in calls)


def test_a_page_the_workspace_refuses_once_is_sent_again_through_the_sdk(
    seeded: Any, emu_client: WorkspaceClient, transport: CountingTransport
) -> None:
    seeded.add_fault(operation=LIST_OPERATION, kind="unavailable", skip=1, times=1)
    assert len(share_names(emu_client)) == SHARES
    assert (transport.taken, transport.handed_over) == (2, 1)
    assert list_calls(seeded) == 4  # three pages, the second one twice


def test_an_error_page_raises_the_sdk_s_error_as_without_the_transport(
    seeded: Any, emu_client: WorkspaceClient, transport: CountingTransport
) -> None:
    seeded.add_fault(operation=LIST_OPERATION, kind="error", status=403, skip=1)
    with pytest.raises(PermissionDenied) as with_transport:
        share_names(emu_client)
    assert transport.handed_over == 1

    plain = seeded.workspace_client()  # no transport: every page through the SDK
    with pytest.raises(PermissionDenied) as without_transport:
        share_names(plain)
    assert str(with_transport.value) == str(without_transport.value)


def test_a_kept_alive_connection_the_server_dropped_is_replaced(
    seeded: Any, emu_client: WorkspaceClient, transport: CountingTransport
) -> None:
    share_names(emu_client)
    idle = list(transport._idle)  # the kept-alive connections, to break them as a server would
    assert idle
    for connection in idle:
        connection.shutdown(socket.SHUT_RDWR)
    before = list_calls(seeded)
    assert len(share_names(emu_client)) == SHARES
    assert (transport.taken, transport.handed_over) == (6, 0)
    assert list_calls(seeded) - before == 3


def test_behind_a_proxy_the_pages_keep_the_sdk_s_path(
    seeded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxied = seeded.workspace_client()  # built first: its host probe would go through the proxy
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    for name in ("NO_PROXY", "no_proxy"):  # the emulator fixture exempts loopback
        monkeypatch.setenv(name, "")
    tune_http_session(proxied, 4)
    assert passthrough.page_transport(proxied) is None

    monkeypatch.delenv("HTTP_PROXY")
    direct = seeded.workspace_client()
    tune_http_session(direct, 4)
    assert isinstance(passthrough.page_transport(direct), passthrough.PageTransport)


def test_a_header_with_a_line_break_is_never_written(
    seeded: Any, transport: CountingTransport
) -> None:
    before = list_calls(seeded)
    page = transport.get_page(SHARES_PATH, {}, {"X-Note": "a\r\nX-Injected: 1"})
    assert page is None  # handed to the SDK, which refuses such a header itself
    assert list_calls(seeded) == before

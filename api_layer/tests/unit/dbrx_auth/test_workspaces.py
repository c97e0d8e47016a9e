"""The X-Workspace-URL rules (docs/API.md §1.3): normalisation, host patterns and the allowlist, all without I/O."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from dbrx_api import passthrough
from dbrx_api.dbrx_auth.workspaces import (
    WorkspaceAllowlist,
    normalise_workspace_url,
    tune_http_session,
)
from dbrx_api.errors import AppError
from dbrx_api.settings import WorkspaceEntry

PROD = "https://adb-1234567890123456.7.azuredatabricks.net"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (PROD, PROD),
        ("  HTTPS://ADB-1234567890123456.7.AzureDatabricks.NET/  ", PROD),
        (f"{PROD}:443", PROD),
        (f"{PROD}:8443", f"{PROD}:8443"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        # IPv6 literals keep their brackets (without them the port could not be told apart)
        ("http://[::1]:8765/", "http://[::1]:8765"),
        ("HTTPS://[2001:DB8::1]:443", "https://[2001:db8::1]"),
        ("https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"),
    ],
)
def test_normalisation(raw: str, expected: str) -> None:
    assert normalise_workspace_url(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_header(raw: str | None) -> None:
    with pytest.raises(AppError) as failure:
        normalise_workspace_url(raw)
    assert (failure.value.status_code, failure.value.code) == (400, "workspace_header_missing")


@pytest.mark.parametrize(
    "raw",
    [
        "adb-1.2.azuredatabricks.net",
        f"{PROD}/api",
        f"{PROD}/?o=1",
        f"{PROD}/#frag",
        "https://user:pw@adb-1.2.azuredatabricks.net",
        "ftp://adb-1.2.azuredatabricks.net",
        "https://",
        "https://[::1",
    ],
)
def test_invalid_urls(raw: str) -> None:
    with pytest.raises(AppError) as failure:
        normalise_workspace_url(raw)
    assert (failure.value.status_code, failure.value.code) == (400, "workspace_url_invalid")


def allowlist(*urls: str, local: bool = False) -> WorkspaceAllowlist:
    return WorkspaceAllowlist(
        [WorkspaceEntry(url=u, name=f"w{i}", region="EMEA") for i, u in enumerate(urls)],
        local=local,
    )


def test_allowlisted_workspace_resolves_with_its_entry() -> None:
    workspace = allowlist(PROD).resolve(PROD.upper() + "/")
    assert (workspace.url, workspace.name) == (PROD, "w0")


@pytest.mark.parametrize(
    "raw",
    [
        "https://adb-999.9.azuredatabricks.net",  # a Databricks host, but not listed
        "https://evil.example.com",  # not a Databricks host
        "https://adb-1234567890123456.7.azuredatabricks.net.evil.com",
        "http://adb-1234567890123456.7.azuredatabricks.net",  # not https
    ],
)
def test_not_allowed(raw: str) -> None:
    with pytest.raises(AppError) as failure:
        allowlist(PROD).resolve(raw)
    assert (failure.value.status_code, failure.value.code) == (403, "workspace_not_allowed")


def test_loopback_only_in_local_mode() -> None:
    assert (
        allowlist("http://127.0.0.1:8765", local=True).resolve("http://127.0.0.1:8765").name == "w0"
    )
    with pytest.raises(AppError):
        WorkspaceAllowlist(
            [WorkspaceEntry(url="http://127.0.0.1:8765", name="e", region="AM")], local=False
        ).resolve("http://127.0.0.1:8765")


def _client_with_session(host: str) -> tuple[Any, requests.Session]:
    """The two attributes of a `WorkspaceClient` that `tune_http_session` reads, around a real session."""
    session = requests.Session()
    client = _Client(
        api_client=SimpleNamespace(_api_client=SimpleNamespace(_session=session)),
        config=SimpleNamespace(host=host, http_timeout_seconds=60),
    )
    return client, session


class _Client:
    """The two attributes, on an object hashed by identity and weakly referable, as a `WorkspaceClient` (the page
    transport is kept per client)."""

    def __init__(self, api_client: object, config: object) -> None:
        self.api_client = api_client
        self.config = config


def test_tuned_session_pools_one_connection_per_thread_for_both_schemes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    client, session = _client_with_session("https://adb-1.2.azuredatabricks.net")
    tune_http_session(client, 48)
    for url in ("https://adb-1.2.azuredatabricks.net/api", "http://127.0.0.1:8765/api"):
        adapter: Any = session.get_adapter(url)
        assert isinstance(adapter, HTTPAdapter)
        assert vars(adapter)["_pool_maxsize"] == 48
        assert vars(adapter)["_pool_block"] is True
    assert session.trust_env is False  # the environment was read once, here
    assert session.proxies == {}


def test_tuned_session_keeps_the_proxy_and_ca_bundle_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    client, session = _client_with_session("https://adb-1.2.azuredatabricks.net")
    tune_http_session(client, 8)
    assert session.proxies.get("https") == "http://proxy.example:3128"
    assert session.verify == "/etc/ssl/corp.pem"

    # Behind the proxy the list pages keep the SDK's path (docs/ARCHITECTURE.md, "One request").
    assert passthrough.page_transport(client) is None

    local, local_session = _client_with_session("http://127.0.0.1:8765")
    tune_http_session(local, 8)
    assert local_session.proxies == {}  # NO_PROXY covers the emulator, as before
    assert passthrough.page_transport(local) is not None


def test_a_client_without_the_sdk_session_is_left_as_built() -> None:
    client = SimpleNamespace(api_client=SimpleNamespace(), config=SimpleNamespace(host="x"))
    tune_http_session(client, 8)  # type: ignore[arg-type]

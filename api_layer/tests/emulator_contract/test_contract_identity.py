"""Contract tests: host metadata, authentication, identity, environment hygiene (C01, C18, C19, C20, X02)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.credentials_provider import CredentialsStrategy
from databricks.sdk.errors import PermissionDenied, Unauthenticated

from dbrx_emulator.config import EmulatorConfig
from dbrx_emulator.testing import Emu, EmulatorServer

pytestmark = pytest.mark.contract


def test_c01_each_client_fetches_host_metadata_without_authorization(emu: Emu) -> None:
    for _ in range(3):
        emu.workspace_client()

    assert emu.stats()["meta"]["host_metadata"] == 3
    probes = emu.calls("meta.host_metadata")
    assert len(probes) == 3
    assert all(call["headers"]["token_id"] is None for call in probes)


def test_c01_full_host_metadata_makes_the_sdk_send_the_workspace_id(emu: Emu) -> None:
    client = emu.workspace_client()

    client.catalogs.get("main")

    (call,) = emu.calls("catalogs.get")
    assert call["headers"]["workspace_id"] == emu.state()["workspace"]["workspace_id"]
    assert emu.stats()["meta"]["workspace_id_mismatch"] == 0


def test_c01_host_metadata_404_still_lets_the_client_work(emu: Emu) -> None:
    emu.set_behaviour(host_metadata="404")

    client = emu.workspace_client()
    catalog = client.catalogs.get("main")

    assert catalog.name == "main"
    (probe,) = emu.calls("meta.host_metadata")
    assert probe["status"] == 404
    (call,) = emu.calls("catalogs.get")
    assert call["headers"]["workspace_id"] is None


def test_c20_one_client_per_workspace_costs_one_probe(emu: Emu) -> None:
    shared = emu.workspace_client()
    for _ in range(10):
        shared.catalogs.get("main")
    assert emu.stats()["meta"]["host_metadata"] == 1

    emu.reset_stats()
    for _ in range(10):
        emu.workspace_client().catalogs.get("main")
    assert emu.stats()["meta"]["host_metadata"] == 10
    assert emu.count("catalogs.get") == 10


def test_x02_wrong_pat_is_permission_denied_with_numeric_code(emu: Emu) -> None:
    client = emu.workspace_client(token="dapi-wrong")

    with pytest.raises(PermissionDenied) as caught:
        client.catalogs.get("main")

    assert str(caught.value).startswith("Invalid access token")
    error_code: object = caught.value.error_code  # the SDK keeps the numeric code as sent
    assert error_code == 403


class _HeaderStrategy(CredentialsStrategy):
    """A custom credentials strategy, as the service uses with msal: the SDK calls `factory` per request."""

    def __init__(self, factory: Callable[[], dict[str, str]]) -> None:
        self._factory = factory

    def auth_type(self) -> str:
        return "test-headers"

    def __call__(self, cfg: Config) -> Callable[[], dict[str, str]]:
        return self._factory


def _header_strategy(factory: Callable[[], dict[str, str]]) -> CredentialsStrategy:
    return _HeaderStrategy(factory)


def test_x02_missing_authorization_is_unauthenticated(emu: Emu) -> None:
    config = Config(
        host=emu.url,
        credentials_strategy=_header_strategy(dict),
        auth_type="test-headers",
        retry_timeout_seconds=5,
    )
    client = WorkspaceClient(config=config)

    with pytest.raises(Unauthenticated):
        client.catalogs.get("main")


def test_c18_azure_client_secret_cannot_target_loopback(emu: Emu) -> None:
    with pytest.raises(ValueError, match="active_directory_endpoint"):
        Config(
            host=emu.url,
            azure_client_id="00000000-0000-0000-0000-000000000001",
            azure_client_secret="not-a-secret",
            azure_tenant_id="00000000-0000-0000-0000-000000000002",
            retry_timeout_seconds=5,
        )


def test_c18_custom_strategy_header_factory_runs_once_per_call(
    monkeypatch: pytest.MonkeyPatch, emu: Emu
) -> None:
    tokens = ["dapi-one", "dapi-two", "dapi-three"]
    with EmulatorServer(
        EmulatorConfig(clock="manual", seed_file="minimal", tokens=tokens, port=0)
    ) as server:
        issued = itertools.cycle(tokens)
        invocations: list[str] = []

        def factory() -> dict[str, str]:
            token = next(issued)
            invocations.append(token)
            return {"Authorization": f"Bearer {token}"}

        config = Config(
            host=server.url,
            credentials_strategy=_header_strategy(factory),
            auth_type="test-headers",
            retry_timeout_seconds=5,
        )
        client = WorkspaceClient(config=config)
        for _ in range(3):
            client.catalogs.get("main")

        calls = Emu(server).calls("catalogs.get")
    assert len(invocations) == 3
    assert len({call["headers"]["token_id"] for call in calls}) == 3
    assert all(call["status"] == 200 for call in calls)


def test_c19_explicit_pat_config_ignores_environment(
    monkeypatch: pytest.MonkeyPatch, emu: Emu
) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-1.1.azuredatabricks.net")
    monkeypatch.setenv("ARM_CLIENT_SECRET", "not-a-secret")
    monkeypatch.setenv("ARM_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("ARM_TENANT_ID", "00000000-0000-0000-0000-000000000002")

    client = emu.workspace_client()
    assert client.catalogs.get("main").name == "main"

    with pytest.raises(ValueError, match="more than one authorization method"):
        Config(host=emu.url, token=emu.token, retry_timeout_seconds=5)


def test_c19_proxy_variable_with_no_proxy_does_not_break_calls(
    monkeypatch: pytest.MonkeyPatch, emu: Emu
) -> None:
    monkeypatch.setenv(
        "HTTP_PROXY", "http://127.0.0.1:9"
    )  # discard port: a proxy that is never there
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")

    client = emu.workspace_client()

    assert client.catalogs.get("main").name == "main"


def test_scim_me_returns_the_seeded_principal_and_org_id_header(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    me = emu_client.current_user.me()
    assert me.user_name == "00000000-0000-0000-0000-00000000c0de"
    assert me.display_name == "deltashare-sp"

    slim = emu_client.current_user.me(attributes="userName")
    assert slim.user_name == me.user_name
    assert slim.display_name is None

    raw = emu_client.api_client.do(
        "GET", "/api/2.0/preview/scim/v2/Me", response_headers=["X-Databricks-Org-Id"]
    )
    assert raw["X-Databricks-Org-Id"] == "1234567890123456"

"""Contract tests: the legacy `databricks-cli` 0.18 (`databricks unity-catalog ...`) against the emulator.

The legacy CLI is a client of its own (requests, `Content-Type: text/json`, explicit `null`s in PATCH bodies, the
`properties_kvpairs.properties` pair list, `{}` bodies on DELETE); each step is cross-checked with the real
databricks-sdk (`emu_client`) on the same emulator state.

It lives in its own virtualenv (`.tools/legacy-cli/`, built by `make install`). It drops the port of
`DATABRICKS_HOST` (it builds `scheme://hostname/api/...`), so the session emulator's app is also served on port 80 of
a spare loopback address (127.0.0.2 and up); the test is skipped only when port 80 cannot be bound at all.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service.sharing import PermissionsChange

from dbrx_emulator.server import ThreadedServer
from dbrx_emulator.testing import Emu, EmulatorServer

pytestmark = pytest.mark.contract

LEGACY_CLI = Path(__file__).resolve().parents[2] / ".tools" / "legacy-cli" / "bin" / "databricks"
CLI_TIMEOUT_S = 60
HTTP_PORT = 80
# Spare loopback addresses tried in turn (another xdist worker or test run may hold port 80 of one).
LOOPBACK_CANDIDATES = [f"127.0.0.{n}" for n in range(2, 40)]
SECOND_MS = 1000
KNOWN_METASTORE = (
    "aws:us-east-1:0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"  # in the minimal seed's known_metastores
)


@pytest.fixture(scope="module")
def port80_host(emulator_server: EmulatorServer) -> Iterator[str]:
    """The session emulator's app served on `<spare loopback address>:80`; yields the address."""
    if not LEGACY_CLI.exists():
        pytest.fail(
            f"{LEGACY_CLI} is missing: run `make install` (target legacy-cli) in api_layer/"
        )
    assert emulator_server.app is not None
    server: ThreadedServer | None = None
    for host in LOOPBACK_CANDIDATES:
        try:
            server = ThreadedServer(emulator_server.app, host, HTTP_PORT).start()
            break
        except PermissionError as exc:
            pytest.skip(
                f"cannot bind port {HTTP_PORT} ({exc}); the legacy CLI drops the port of its host"
            )
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
                raise
    if server is None:
        pytest.skip(
            f"port {HTTP_PORT} is taken on every loopback address tried ({LOOPBACK_CANDIDATES[-1]} last)"
        )
    try:
        yield host
    finally:
        server.stop()


class LegacyCli:
    """Runs `databricks unity-catalog ...` of the legacy CLI with a clean environment (host and token only)."""

    def __init__(self, host: str, token: str, home: Path) -> None:
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),  # no ~/.databrickscfg, no ~/.netrc
            "LANG": "C.UTF-8",
            "NO_PROXY": "*",
            "no_proxy": "*",
            "DATABRICKS_HOST": f"http://{host}",
            "DATABRICKS_TOKEN": token,
        }

    def run(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        """The finished process (any exit code)."""
        env = dict(self.env)
        if token is not None:
            env["DATABRICKS_TOKEN"] = token
        return subprocess.run(
            [str(LEGACY_CLI), "unity-catalog", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def __call__(self, *args: str) -> Any:
        """Run a command that must succeed; returns its JSON output (None when it prints nothing)."""
        done = self.run(*args)
        assert done.returncode == 0, (
            f"databricks unity-catalog {' '.join(args)} -> {done.returncode}\n{done.stdout}{done.stderr}"
        )
        out = done.stdout.strip()
        return json.loads(out) if out else None


@pytest.fixture
def cli(emu: Emu, port80_host: str, tmp_path: Path) -> LegacyCli:
    """The legacy CLI bound to the emulator of `emu` (reset for the test)."""
    home = tmp_path / "home"
    home.mkdir()
    return LegacyCli(port80_host, emu.token, home)


def _objects(client: WorkspaceClient, share: str) -> dict[str, Any]:
    info = client.shares.get(share, include_shared_data=True)
    return {o.name: o for o in info.objects or []}


# ---------------------------------------------------------------------------------------------- shares


def test_shares_create_objects_update_list_delete(
    emu: Emu, cli: LegacyCli, emu_client: WorkspaceClient
) -> None:
    created = cli("shares", "create", "--name", "Legacy_Share")
    sdk_share = emu_client.shares.get("legacy_share")
    assert created["name"] == sdk_share.name == "legacy_share"
    assert created["owner"] == sdk_share.owner

    added = cli(
        "shares",
        "add-table",
        "--share",
        "legacy_share",
        "--table",
        "main.sales.orders",
        "--shared-as",
        "sales.orders_feed",
        "--comment",
        "orders",
        "--cdf",
    )
    assert [o["name"] for o in added["objects"]] == ["main.sales.orders"]
    orders = _objects(emu_client, "legacy_share")["main.sales.orders"]
    assert (orders.shared_as, orders.comment, orders.cdf_enabled) == (
        "sales.orders_feed",
        "orders",
        True,
    )

    cli("shares", "add-table", "--share", "legacy_share", "--table", "main.sales.customers")
    cli(
        "shares",
        "update-table",
        "--share",
        "legacy_share",
        "--table",
        "main.sales.customers",
        "--comment",
        "people",
    )
    assert _objects(emu_client, "legacy_share")["main.sales.customers"].comment == "people"

    cli("shares", "add-schema", "--share", "legacy_share", "--schema", "main.finance")
    objects = _objects(emu_client, "legacy_share")
    assert objects["main.finance"].data_object_type is not None
    assert objects["main.finance"].data_object_type.value == "SCHEMA"

    # `shares update` sends {"name": null, "owner": null, "updates": []} beside the comment.
    updated = cli("shares", "update", "--name", "legacy_share", "--comment", "via the legacy CLI")
    assert (
        updated["comment"] == emu_client.shares.get("legacy_share").comment == "via the legacy CLI"
    )
    assert updated["name"] == "legacy_share"

    listed = cli("shares", "list")
    assert [s["name"] for s in listed["shares"]] == [
        s.name for s in emu_client.shares.list_shares()
    ]
    got = cli("shares", "get", "--name", "legacy_share")
    assert sorted(o["name"] for o in got["objects"]) == sorted(_objects(emu_client, "legacy_share"))

    cli("shares", "remove-table", "--share", "legacy_share", "--table", "main.sales.customers")
    cli("shares", "remove-schema", "--share", "legacy_share", "--schema", "main.finance")
    assert sorted(_objects(emu_client, "legacy_share")) == ["main.sales.orders"]

    assert cli("shares", "delete", "--name", "legacy_share") in (None, {})
    with pytest.raises(NotFound):
        emu_client.shares.get("legacy_share")


def test_errors_reach_the_legacy_cli(emu: Emu, cli: LegacyCli) -> None:
    # The legacy CLI prints `Error: b'<response body>'` and exits 1.
    missing = cli.run("shares", "get", "--name", "nope")
    assert missing.returncode == 1
    assert "SHARE_DOES_NOT_EXIST" in missing.stdout
    assert "Share \\'nope\\' does not exist." in missing.stdout

    # rotate-token without --existing-token-expire-in-seconds sends only {"name": ...}: the field is required.
    cli("recipients", "create", "--name", "no_expiry")
    unbounded = cli.run("recipients", "rotate-token", "--name", "no_expiry")
    assert unbounded.returncode == 1
    assert "INVALID_PARAMETER_VALUE" in unbounded.stdout

    denied = cli.run("shares", "list", token="dapi-wrong")
    assert denied.returncode == 1
    assert "Authorization failed" in denied.stdout  # the legacy CLI's own text for a 403


# ---------------------------------------------------------------------------------------------- recipients


def test_recipients_properties_and_ip_access_list(
    emu: Emu, cli: LegacyCli, emu_client: WorkspaceClient
) -> None:
    created = cli(
        "recipients",
        "create",
        "--name",
        "legacy_partner",
        "--comment",
        "from the legacy CLI",
        "--property",
        "country=US",
        "--property",
        "tier=gold",
        "--allowed-ip-address",
        "10.0.0.0/24",
        "--allowed-ip-address",
        "192.168.1.1",
    )
    sdk = emu_client.recipients.get("legacy_partner")
    assert (
        created["authentication_type"]
        == "TOKEN"
        == (sdk.authentication_type and sdk.authentication_type.value)
    )
    assert created["comment"] == sdk.comment == "from the legacy CLI"
    assert sdk.properties_kvpairs is not None
    assert sdk.properties_kvpairs.properties == {"country": "US", "tier": "gold"}
    assert created["properties_kvpairs"]["properties"] == {"country": "US", "tier": "gold"}
    assert sdk.ip_access_list is not None
    assert sdk.ip_access_list.allowed_ip_addresses == ["10.0.0.0/24", "192.168.1.1"]
    assert len(created["tokens"]) == len(sdk.tokens or []) == 1

    # A recipient created without --property/--allowed-ip-address sends empty lists for both.
    plain = cli("recipients", "create", "--name", "legacy_plain")
    sdk_plain = emu_client.recipients.get("legacy_plain")
    assert plain["name"] == sdk_plain.name == "legacy_plain"
    assert not (sdk_plain.properties_kvpairs and sdk_plain.properties_kvpairs.properties)
    assert not (sdk_plain.ip_access_list and sdk_plain.ip_access_list.allowed_ip_addresses)

    # --sharing-id makes a DATABRICKS recipient; the empty IP list sent beside it is no IP list.
    d2d = cli("recipients", "create", "--name", "legacy_d2d", "--sharing-id", KNOWN_METASTORE)
    sdk_d2d = emu_client.recipients.get("legacy_d2d")
    assert d2d["authentication_type"] == "DATABRICKS"
    assert sdk_d2d.authentication_type is not None
    assert sdk_d2d.authentication_type.value == "DATABRICKS"
    assert sdk_d2d.data_recipient_global_metastore_id == KNOWN_METASTORE
    assert sdk_d2d.activated is True
    assert not sdk_d2d.tokens

    # `recipients update` sends {"name": null, "comment": ..., "owner": null, ...}: the nulls change nothing.
    cli("recipients", "update", "--name", "legacy_partner", "--property", "country=DE")
    sdk = emu_client.recipients.get("legacy_partner")
    assert sdk.properties_kvpairs is not None
    assert sdk.properties_kvpairs.properties == {"country": "DE"}
    assert sdk.comment == "from the legacy CLI"

    cli("recipients", "update", "--name", "legacy_partner", "--allowed-ip-address", "172.16.0.0/16")
    sdk = emu_client.recipients.get("legacy_partner")
    assert sdk.ip_access_list is not None
    assert sdk.ip_access_list.allowed_ip_addresses == ["172.16.0.0/16"]

    # A single empty string clears the list (`ip_access_list: {}`) or the properties (`properties_kvpairs: {}`).
    cli("recipients", "update", "--name", "legacy_partner", "--allowed-ip-address", "")
    cli("recipients", "update", "--name", "legacy_partner", "--property", "")
    sdk = emu_client.recipients.get("legacy_partner")
    assert not (sdk.ip_access_list and sdk.ip_access_list.allowed_ip_addresses)
    assert not (sdk.properties_kvpairs and sdk.properties_kvpairs.properties)

    # `--new-name` sends the new name as body `name`, which is the path's field: as in the service (only `new_name`
    # renames), the recipient keeps its name and the other fields still change.
    renamed = cli(
        "recipients",
        "update",
        "--name",
        "legacy_partner",
        "--comment",
        "renamed",
        "--new-name",
        "legacy_renamed",
    )
    assert renamed["name"] == "legacy_partner"
    assert emu_client.recipients.get("legacy_partner").comment == "renamed"
    with pytest.raises(NotFound):
        emu_client.recipients.get("legacy_renamed")

    listed = cli("recipients", "list")
    assert [r["name"] for r in listed["recipients"]] == [
        r.name for r in emu_client.recipients.list()
    ]
    assert cli("recipients", "get", "--name", "legacy_partner")["comment"] == "renamed"

    cli("recipients", "delete", "--name", "legacy_partner")
    with pytest.raises(NotFound):
        emu_client.recipients.get("legacy_partner")


# ---------------------------------------------------------------------------------------------- permissions


def test_share_permissions_update_and_list(
    emu: Emu, cli: LegacyCli, emu_client: WorkspaceClient
) -> None:
    cli("shares", "create", "--name", "granted")
    cli("shares", "add-table", "--share", "granted", "--table", "main.sales.orders")
    cli("recipients", "create", "--name", "reader")
    cli("recipients", "create", "--name", "other_reader")

    grant = {
        "changes": [
            {"principal": "reader", "add": ["SELECT"]},
            {"principal": "other_reader", "add": ["SELECT"]},
        ]
    }
    cli("shares", "update-permissions", "--name", "granted", "--json", json.dumps(grant))
    sdk = emu_client.shares.share_permissions("granted")
    expected = [
        {"principal": "other_reader", "privileges": ["SELECT"]},
        {"principal": "reader", "privileges": ["SELECT"]},
    ]
    assert [a.as_dict() for a in sdk.privilege_assignments or []] == expected
    assert (
        cli("shares", "list-permissions", "--name", "granted")["privilege_assignments"] == expected
    )

    by_recipient = cli("recipients", "list-permissions", "--name", "reader")
    sdk_by_recipient = emu_client.recipients.share_permissions("reader")
    assert [p["share_name"] for p in by_recipient["permissions_out"]] == ["granted"]
    assert [p.share_name for p in sdk_by_recipient.permissions_out or []] == ["granted"]

    revoke = {"changes": [{"principal": "reader", "remove": ["SELECT"]}]}
    cli("shares", "update-permissions", "--name", "granted", "--json", json.dumps(revoke))
    sdk = emu_client.shares.share_permissions("granted")
    assert [a.principal for a in sdk.privilege_assignments or []] == ["other_reader"]
    assert cli("recipients", "list-permissions", "--name", "reader")["permissions_out"] == []
    assert cli("shares", "list-permissions", "--name", "granted")["privilege_assignments"] == [
        {"principal": "other_reader", "privileges": ["SELECT"]}
    ]

    # The SDK's grant is seen by the legacy CLI too.
    emu_client.shares.update_permissions(
        "granted", changes=[PermissionsChange(principal="reader", add=["SELECT"])]
    )
    assert [
        p["share_name"]
        for p in cli("recipients", "list-permissions", "--name", "reader")["permissions_out"]
    ] == ["granted"]


# ---------------------------------------------------------------------------------------------- token rotation


def test_rotate_token(emu: Emu, cli: LegacyCli, emu_client: WorkspaceClient) -> None:
    created = cli("recipients", "create", "--name", "rotating")
    (first,) = created["tokens"]
    emu.advance(60 * SECOND_MS)

    rotated = cli(
        "recipients",
        "rotate-token",
        "--name",
        "rotating",
        "--existing-token-expire-in-seconds",
        "3600",
    )
    now_ms = emu.now_ms()
    tokens = {t["id"]: t for t in rotated["tokens"]}
    assert set(tokens) > {first["id"]}
    assert len(tokens) == 2
    assert tokens[first["id"]]["expiration_time"] == now_ms + 3600 * SECOND_MS
    (new_id,) = set(tokens) - {first["id"]}

    sdk = emu_client.recipients.get("rotating")
    sdk_tokens = {t.id: t for t in sdk.tokens or []}
    assert set(sdk_tokens) == set(tokens)
    assert sdk_tokens[first["id"]].expiration_time == now_ms + 3600 * SECOND_MS
    # Same activation code; the URL's host is the one each client called (127.0.0.1:<port> vs <address>:80).
    new_url = sdk_tokens[new_id].activation_url
    assert new_url is not None
    assert new_url.split("?", 1)[1] == tokens[new_id]["activation_url"].split("?", 1)[1]

    # Two active tokens: a third rotation is refused until the old one has expired.
    refused = cli.run(
        "recipients",
        "rotate-token",
        "--name",
        "rotating",
        "--existing-token-expire-in-seconds",
        "0",
    )
    assert refused.returncode == 1
    assert "There are already two activated tokens for recipient rotating." in refused.stdout
    assert {t.id for t in emu_client.recipients.get("rotating").tokens or []} == set(tokens)

    emu.advance(3600 * SECOND_MS)
    again = cli(
        "recipients",
        "rotate-token",
        "--name",
        "rotating",
        "--existing-token-expire-in-seconds",
        "0",
    )
    sdk = emu_client.recipients.get("rotating")
    assert {t["id"] for t in again["tokens"]} == {t.id for t in sdk.tokens or []}
    # Expired tokens are not listed: the first expired on the clock move, the second at once (0 s).
    (newest,) = sdk.tokens or []
    assert newest.id not in {first["id"], new_id}
    assert (newest.expiration_time or 0) > emu.now_ms()

"""Contract tests: the Delta Sharing open protocol, driven by the real `delta-sharing` connector (docs/EMULATOR.md §7.8).

The provider side is set up through the databricks-sdk; the recipient side follows its activation link, saves the
credential file and reads with `delta_sharing.SharingClient`, as a partner would.
"""

from __future__ import annotations

import json
from pathlib import Path

import delta_sharing
import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    PermissionsChange,
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from requests.exceptions import HTTPError

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

HOUR_MS = 3_600_000
RETRIEVE = "/api/2.1/unity-catalog/public/data_sharing_activation"


def _add(name: str, **fields: object) -> SharedDataObjectUpdate:
    return SharedDataObjectUpdate(
        action=SharedDataObjectUpdateAction.ADD,
        data_object=SharedDataObject(name=name, **fields),  # type: ignore[arg-type]
    )


def _grant(client: WorkspaceClient, share: str, recipient: str, *, add: bool = True) -> None:
    change = (
        PermissionsChange(principal=recipient, add=["SELECT"])
        if add
        else PermissionsChange(principal=recipient, remove=["SELECT"])
    )
    client.shares.update_permissions(share, changes=[change])


def _profile(emu: Emu, activation_url: str | None, tmp_path: Path, name: str = "p") -> str:
    """Follow the activation link as the partner does and save the credential file."""
    assert activation_url is not None
    code = activation_url.split("?", 1)[1]
    response = httpx.get(f"{emu.url}{RETRIEVE}/{code}", timeout=10)
    response.raise_for_status()
    path = tmp_path / f"{name}.share"
    path.write_text(json.dumps(response.json()))
    return str(path)


@pytest.fixture
def partner(emu: Emu, emu_client: WorkspaceClient, tmp_path: Path) -> str:
    """A TOKEN recipient `partner` granted share `sales` (a table under an alias, and a whole schema); its profile."""
    recipient = emu_client.recipients.create("partner", AuthenticationType.TOKEN)
    emu_client.shares.create("sales")
    emu_client.shares.update(
        "sales",
        updates=[
            _add("main.sales.orders", shared_as="retail.orders"),
            _add("main.finance", data_object_type=SharedDataObjectDataObjectType.SCHEMA),
        ],
    )
    emu_client.shares.create("internal")
    _grant(emu_client, "sales", "partner")
    return _profile(emu, recipient.activation_url, tmp_path)


def _finance_tables(client: WorkspaceClient) -> list[str]:
    return sorted(t.name or "" for t in client.tables.list("main", "finance"))


def test_the_connector_lists_what_the_share_grants(
    emu_client: WorkspaceClient, partner: str
) -> None:
    client = delta_sharing.SharingClient(partner)

    assert [s.name for s in client.list_shares()] == ["sales"]
    (share,) = client.list_shares()
    assert sorted(s.name for s in client.list_schemas(share)) == ["finance", "retail"]
    tables = sorted((t.share, t.schema, t.name) for t in client.list_all_tables())
    expected = [("sales", "finance", name) for name in _finance_tables(emu_client)]
    assert tables == sorted([*expected, ("sales", "retail", "orders")])
    assert len(expected) >= 1


def test_the_connector_reads_a_table_version_and_schema(
    emu_client: WorkspaceClient, partner: str
) -> None:
    url = f"{partner}#sales.retail.orders"
    live = emu_client.tables.get("main.sales.orders")

    version = delta_sharing.get_table_version(url)
    metadata = delta_sharing.get_table_metadata(url)

    assert version >= 0
    fields = json.loads(metadata.schema_string)["fields"]
    assert [f["name"] for f in fields] == [c.name for c in live.columns or []]


def test_an_address_outside_the_ip_access_list_is_refused(
    emu: Emu, emu_client: WorkspaceClient, partner: str
) -> None:
    client = delta_sharing.SharingClient(partner)
    emu_client.recipients.update(
        "partner", ip_access_list=IpAccessList(allowed_ip_addresses=["10.0.0.0/8"])
    )
    with pytest.raises(HTTPError) as refused:
        client.list_shares()
    assert refused.value.response.status_code == 403

    emu_client.recipients.update(
        "partner", ip_access_list=IpAccessList(allowed_ip_addresses=["127.0.0.1"])
    )
    assert [s.name for s in client.list_shares()] == ["sales"]

    # A header the emulator is told to trust stands for the client's address.
    emu.set_behaviour(trusted_client_ip_header="X-Forwarded-For")
    endpoint = json.loads(Path(partner).read_text())
    response = httpx.get(
        f"{endpoint['endpoint']}/shares",
        headers={
            "Authorization": f"Bearer {endpoint['bearerToken']}",
            "X-Forwarded-For": "10.1.2.3",
        },
    )
    assert response.status_code == 403
    assert response.json()["errorCode"] == "PERMISSION_DENIED"


def test_revoked_grants_and_deleted_recipients_lose_access(
    emu_client: WorkspaceClient, partner: str
) -> None:
    client = delta_sharing.SharingClient(partner)
    _grant(emu_client, "sales", "partner", add=False)
    assert list(client.list_shares()) == []
    assert list(client.list_all_tables()) == []
    with pytest.raises(HTTPError) as hidden:
        delta_sharing.get_table_version(f"{partner}#sales.retail.orders")
    assert hidden.value.response.status_code == 404

    emu_client.recipients.delete("partner")
    with pytest.raises(HTTPError) as unknown:
        client.list_shares()
    assert unknown.value.response.status_code == 401


def test_a_rotated_token_works_through_its_grace_period_only(
    emu: Emu, emu_client: WorkspaceClient, partner: str, tmp_path: Path
) -> None:
    old = delta_sharing.SharingClient(partner)
    rotated = emu_client.recipients.rotate_token("partner", existing_token_expire_in_seconds=3600)
    new = delta_sharing.SharingClient(
        _profile(
            emu, rotated.tokens[-1].activation_url if rotated.tokens else None, tmp_path, "new"
        )
    )

    assert [s.name for s in old.list_shares()] == [s.name for s in new.list_shares()] == ["sales"]
    emu.advance(2 * HOUR_MS)
    with pytest.raises(HTTPError) as expired:
        old.list_shares()
    assert expired.value.response.status_code == 401
    assert [s.name for s in new.list_shares()] == ["sales"]


def test_an_unactivated_or_unknown_token_is_refused(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.recipients.create("late", AuthenticationType.TOKEN)
    endpoint = f"{emu.url}/api/2.0/delta-sharing/metastores/{emu.runtime.workspace.metastore_id}"
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {emu.token}"},
    ):
        response = httpx.get(f"{endpoint}/shares", headers=headers)
        assert response.status_code == 401
        assert response.json()["errorCode"] == "UNAUTHENTICATED"

"""Contract tests: recipients, tokens and activation (C10, C12, C16, X07 IP lists, X10, docs/EMULATOR.md §7.5 rules)."""

from __future__ import annotations

import re

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, InvalidParameterValue, NotFound, PermissionDenied
from databricks.sdk.service.sharing import (
    AuthenticationType,
    IpAccessList,
    SecurablePropertiesKvPairs,
)

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

TOKEN, DATABRICKS = AuthenticationType.TOKEN, AuthenticationType.DATABRICKS
KNOWN_METASTORE = "aws:us-east-1:0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
OTHER_KNOWN_METASTORE = "azure:northeurope:1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d"
HOUR_MS = 3_600_000


def _code(activation_url: str | None) -> str:
    assert activation_url is not None
    return activation_url.split("?", 1)[1]


# ---------------------------------------------------------------------------------------------- C12


def test_c12_token_recipient_gets_a_token_and_activation_url(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    recipient = emu_client.recipients.create("Partner", TOKEN, comment="c", sharing_code="shh")

    assert recipient.name == "partner"
    assert recipient.activated is False
    (token,) = recipient.tokens or []
    assert token.id
    assert token.activation_url
    assert recipient.activation_url == token.activation_url
    assert token.activation_url.startswith(f"{emu.url}/delta_sharing/retrieve_config.html?")
    lifetime_ms = 7_776_000 * 1000
    assert token.expiration_time == emu.now_ms() + lifetime_ms
    assert recipient.sharing_code is None
    assert recipient.owner == recipient.created_by == token.created_by


def test_databricks_recipient_rules(emu_client: WorkspaceClient) -> None:
    d2d = emu_client.recipients.create(
        "d2d", DATABRICKS, data_recipient_global_metastore_id=KNOWN_METASTORE
    )
    assert (d2d.cloud, d2d.region, d2d.metastore_id) == (
        "aws",
        "us-east-1",
        KNOWN_METASTORE.split(":")[2],
    )
    assert d2d.activated is True
    assert not d2d.tokens

    with pytest.raises(
        InvalidParameterValue,
        match=re.escape(
            f"There is already a Recipient object 'd2d' with the same sharing identifier '{KNOWN_METASTORE}'."
        ),
    ):
        emu_client.recipients.create(
            "d2d_again", DATABRICKS, data_recipient_global_metastore_id=KNOWN_METASTORE
        )
    unknown = "aws:us-west-2:99999999-9999-4999-8999-999999999999"
    with pytest.raises(
        InvalidParameterValue,
        match=re.escape(f"Cannot resolve target shard for sharing identifier '{unknown}'."),
    ):
        emu_client.recipients.create(
            "d2d_unknown", DATABRICKS, data_recipient_global_metastore_id=unknown
        )
    with pytest.raises(InvalidParameterValue, match="only supported for TOKEN recipients"):
        emu_client.recipients.create(
            "d2d_ip",
            DATABRICKS,
            data_recipient_global_metastore_id=OTHER_KNOWN_METASTORE,
            ip_access_list=IpAccessList(allowed_ip_addresses=["10.0.0.1"]),
        )
    with pytest.raises(InvalidParameterValue, match="required for DATABRICKS"):
        emu_client.recipients.create("d2d_missing", DATABRICKS)
    with pytest.raises(InvalidParameterValue, match="not supported by the emulator"):
        emu_client.recipients.create("oidc", AuthenticationType.OIDC_FEDERATION)
    with pytest.raises(BadRequest, match=re.escape("Recipient 'd2d' already exists.")):
        emu_client.recipients.create("D2D", TOKEN)

    listed = list(emu_client.recipients.list(data_recipient_global_metastore_id=KNOWN_METASTORE))
    assert [r.name for r in listed] == ["d2d"]


# ---------------------------------------------------------------------------------------------- C10


def test_c10_recipient_patch_changes_only_present_fields(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    emu_client.recipients.create(
        "r1",
        TOKEN,
        ip_access_list=IpAccessList(allowed_ip_addresses=["10.0.0.0/8"]),
        properties_kvpairs=SecurablePropertiesKvPairs(
            properties={"a": "1", "b": "2", "databricks.x": "hidden"}
        ),
    )

    kept = emu_client.recipients.update("r1", comment="x")
    assert kept.comment == "x"
    assert kept.ip_access_list == IpAccessList(allowed_ip_addresses=["10.0.0.0/8"])
    assert kept.properties_kvpairs == SecurablePropertiesKvPairs(properties={"a": "1", "b": "2"})

    replaced = emu_client.recipients.update(
        "r1",
        properties_kvpairs=SecurablePropertiesKvPairs(properties={"c": "3", "Databricks.Y": "no"}),
    )
    assert replaced.properties_kvpairs == SecurablePropertiesKvPairs(properties={"c": "3"})
    emptied = emu_client.recipients.update(
        "r1", properties_kvpairs=SecurablePropertiesKvPairs(properties={})
    )
    assert emu.calls("recipients.update")[-1]["body"] == {"properties_kvpairs": {}}
    assert emptied.properties_kvpairs is None
    emu_client.recipients.update(
        "r1", properties_kvpairs=SecurablePropertiesKvPairs(properties={"c": "3"})
    )

    cleared = emu_client.recipients.update(
        "r1", ip_access_list=IpAccessList(allowed_ip_addresses=[])
    )
    assert emu.calls("recipients.update")[-1]["body"] == {"ip_access_list": {}}
    assert cleared.ip_access_list is None
    assert emu_client.recipients.get("r1").comment == "x"


def test_recipient_update_rules(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.recipients.create("r1", TOKEN)
    emu_client.recipients.create("r2", TOKEN)

    with pytest.raises(InvalidParameterValue, match="must be in the future"):
        emu_client.recipients.update("r1", expiration_time=emu.now_ms() - 1)
    with pytest.raises(BadRequest, match=re.escape("Recipient 'r2' already exists.")):
        emu_client.recipients.update("r1", new_name="r2")
    renamed = emu_client.recipients.update("r1", new_name="R3")
    assert renamed.name == "r3"
    with pytest.raises(NotFound, match=re.escape("Recipient 'r1' does not exist.")):
        emu_client.recipients.get("r1")
    emu_client.recipients.update("r3", owner="someone-else")
    with pytest.raises(
        PermissionDenied, match=re.escape("User is not an owner of Recipient 'r3'.")
    ):
        emu_client.recipients.update("r3", comment="nope")


# ---------------------------------------------------------------------------------------------- X07 IP lists


def test_x07_ip_access_list_limit_and_validation(emu_client: WorkspaceClient) -> None:
    hundred = [f"10.0.{i // 250}.{i % 250}" for i in range(100)]

    with pytest.raises(InvalidParameterValue, match="exceeds the limit of 100"):
        emu_client.recipients.create(
            "r101", TOKEN, ip_access_list=IpAccessList(allowed_ip_addresses=[*hundred, "10.9.9.9"])
        )
    accepted = emu_client.recipients.create(
        "r100", TOKEN, ip_access_list=IpAccessList(allowed_ip_addresses=hundred)
    )
    assert (
        len((accepted.ip_access_list and accepted.ip_access_list.allowed_ip_addresses) or []) == 100
    )
    with pytest.raises(
        InvalidParameterValue, match=re.escape("Invalid IP address or CIDR '10.0.0.300'.")
    ):
        emu_client.recipients.update(
            "r100", ip_access_list=IpAccessList(allowed_ip_addresses=["10.0.0.300"])
        )
    with pytest.raises(InvalidParameterValue, match="exceeds the limit of 100"):
        emu_client.recipients.update(
            "r100", ip_access_list=IpAccessList(allowed_ip_addresses=[*hundred, "2001:db8::/32"])
        )
    v6 = emu_client.recipients.update(
        "r100", ip_access_list=IpAccessList(allowed_ip_addresses=["2001:db8::/32"])
    )
    assert v6.ip_access_list == IpAccessList(allowed_ip_addresses=["2001:db8::/32"])


# ---------------------------------------------------------------------------------------------- C16 rotation


def test_c16_rotation_rules(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu_client.recipients.create("r1", TOKEN)

    rotated = emu_client.recipients.rotate_token("r1", existing_token_expire_in_seconds=3600)
    old, new = rotated.tokens or []
    assert old.expiration_time == emu.now_ms() + HOUR_MS
    assert (new.expiration_time or 0) > (old.expiration_time or 0)
    assert rotated.activated is False
    assert rotated.activation_url == new.activation_url

    with pytest.raises(
        InvalidParameterValue,
        match=f"^{re.escape('There are already two activated tokens for recipient r1.')}$",
    ):
        emu_client.recipients.rotate_token("r1", existing_token_expire_in_seconds=60)

    emu.advance(HOUR_MS)  # the old token expires
    assert len(emu_client.recipients.get("r1").tokens or []) == 1
    with pytest.raises(
        InvalidParameterValue,
        match=f"^{re.escape('Cannot extend the token expiration time of the existing token.')}$",
    ):
        emu_client.recipients.rotate_token("r1", existing_token_expire_in_seconds=10**9)
    again = emu_client.recipients.rotate_token("r1", existing_token_expire_in_seconds=0)
    assert len(again.tokens or []) == 1  # the previous one expired at once

    with pytest.raises(InvalidParameterValue):
        emu_client.recipients.rotate_token("r1", existing_token_expire_in_seconds=-1)
    emu_client.recipients.create(
        "d2d", DATABRICKS, data_recipient_global_metastore_id=KNOWN_METASTORE
    )
    with pytest.raises(InvalidParameterValue, match="with non-TOKEN authentication type"):
        emu_client.recipients.rotate_token("d2d", existing_token_expire_in_seconds=0)
    with pytest.raises(NotFound):
        emu_client.recipients.rotate_token("ghost", existing_token_expire_in_seconds=0)


# ---------------------------------------------------------------------------------------------- X10 activation


def test_x10_activation_downloads_the_credential_once(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    created = emu_client.recipients.create("r1", TOKEN)
    code = _code(created.activation_url)

    emu_client.recipient_activation.get_activation_url_info(code)
    credential = emu_client.recipient_activation.retrieve_token(code)

    assert credential.share_credentials_version == 1
    assert credential.bearer_token
    assert (
        credential.endpoint
        == f"{emu.url}/api/2.0/delta-sharing/metastores/{emu.state()['workspace']['metastore_id']}"
    )
    assert (credential.expiration_time or "").endswith("Z")
    after = emu_client.recipients.get("r1")
    assert after.activated is True
    assert after.activation_url is None
    assert all(t.activation_url is None for t in after.tokens or [])
    with pytest.raises(NotFound):
        emu_client.recipient_activation.retrieve_token(code)
    with pytest.raises(NotFound):
        emu_client.recipient_activation.get_activation_url_info(code)
    (first, second) = emu.calls("activation.retrieve")
    assert (first["status"], second["status"]) == (200, 404)
    assert first["headers"]["token_id"] is not None  # sent by the SDK, but not needed


def test_activation_endpoints_are_public(emu: Emu, emu_client: WorkspaceClient) -> None:
    import requests

    code = _code(emu_client.recipients.create("r1", TOKEN).activation_url)

    response = requests.get(
        f"{emu.url}/api/2.1/unity-catalog/public/data_sharing_activation/{code}", timeout=5
    )

    assert response.status_code == 200
    assert set(response.json()) == {
        "shareCredentialsVersion",
        "bearerToken",
        "endpoint",
        "expirationTime",
    }


def test_control_plane_activation_and_seeded_tokens(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.reset(seed_file="default")
    seeded = emu_client.recipients.get("demo_d2o")
    assert seeded.activated is True
    assert seeded.ip_access_list == IpAccessList(allowed_ip_addresses=["203.0.113.0/24"])

    rotated = emu_client.recipients.rotate_token("demo_d2o", existing_token_expire_in_seconds=60)
    assert rotated.activated is False
    credential = emu.activate("demo_d2o")
    assert credential["bearerToken"]
    assert emu_client.recipients.get("demo_d2o").activated is True
    assert emu.count("activation.retrieve") == 0  # the control plane is never counted

"""Recipients endpoints through HTTP, the real databricks-sdk and the emulator (docs/API.md §5, §11.2-11.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import IpAccessList
from fastapi.testclient import TestClient

from fixtures.api import align_emulator_clock

pytestmark = pytest.mark.integration

KNOWN_METASTORE = "aws:us-east-1:0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"
OTHER_METASTORE = "azure:northeurope:1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d"
UNKNOWN_METASTORE = "gcp:europe-west1:99999999-9999-4999-8999-999999999999"


def create_d2o(api: TestClient, name: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/recipients/d2o/{name}", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_d2o_create_returns_link_once(api: TestClient, emu_client: WorkspaceClient) -> None:
    created = create_d2o(
        api,
        "acme",
        description="ACME analytics",
        ip_access_list=["203.0.113.0/24", "2001:DB8::1", "203.0.113.0/24"],
        expiration_days=90,
    )
    assert created["type"] == "D2O"
    assert created["authentication_type"] == "TOKEN"
    assert created["ip_access_list"] == [
        "203.0.113.0/24",
        "2001:db8::1",
    ]  # canonical, de-duplicated
    assert created["activation_link"]
    assert "retrieve_config.html" in created["activation_link"]
    assert created["tokens"][0]["activation_url"] == created["activation_link"]
    assert created["tokens"][0]["active"] is True
    expiry = datetime.fromisoformat(created["tokens"][0]["expiration_time"].replace("Z", "+00:00"))
    assert abs(expiry - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert created["warnings"] == []
    info = emu_client.recipients.get("acme")
    assert info.comment == "ACME analytics"
    assert info.ip_access_list is not None
    assert info.ip_access_list.allowed_ip_addresses == ["203.0.113.0/24", "2001:db8::1"]

    # reads never carry the link unless asked for with the writer role
    plain = api.get("/recipients/acme").json()
    assert plain["activation_link"] is None
    assert plain["tokens"][0]["activation_url"] is None
    listed = api.get("/recipients").json()["items"]
    assert all(t["activation_url"] is None for r in listed for t in r["tokens"])
    with_link = api.get("/recipients/acme", params={"include_activation_link": True}).json()
    assert with_link["activation_link"] == created["activation_link"]


def test_d2o_without_ips_warns(api: TestClient) -> None:
    created = create_d2o(api, "open")
    assert created["warnings"] == ["no IP access list: the credential is usable from any network"]
    assert created["ip_access_list"] == []


def test_ip_validation(api: TestClient, emu: Any) -> None:
    emu.reset_stats()
    host_bits = api.post("/recipients/d2o/x", json={"ip_access_list": ["10.0.0.1/8"]})
    assert host_bits.status_code == 422
    error = host_bits.json()["errors"][0]
    assert error["type"] == "ip_invalid"
    assert "10.0.0.0/8" in error["msg"]
    garbage = api.post("/recipients/d2o/x", json={"ip_access_list": ["not-an-ip"]})
    assert garbage.json()["errors"][0]["type"] == "ip_invalid"
    too_many = api.post(
        "/recipients/d2o/x",
        json={"ip_access_list": [f"10.0.{i // 250}.{i % 250}" for i in range(101)]},
    )
    assert too_many.status_code == 422
    assert emu.mutating_total() == 0


def test_d2d_create_and_identifier_errors(api: TestClient, emu_client: WorkspaceClient) -> None:
    response = api.post(
        "/recipients/d2d/partner",
        json={
            "recipient_identifier": KNOWN_METASTORE,
            "description": "partner",
            "sharing_code": "s3cret-code",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["type"] == "D2D"
    assert body["data_recipient_global_metastore_id"] == KNOWN_METASTORE
    assert "sharing_code" not in body
    assert "s3cret-code" not in response.text
    assert response.headers["location"] == "/recipients/partner"
    assert emu_client.recipients.get("partner").authentication_type is not None

    in_use = api.post("/recipients/d2d/partner2", json={"recipient_identifier": KNOWN_METASTORE})
    assert (in_use.status_code, in_use.json()["code"]) == (409, "recipient_identifier_in_use")
    unknown = api.post("/recipients/d2d/partner3", json={"recipient_identifier": UNKNOWN_METASTORE})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "recipient_identifier_invalid")
    malformed = api.post("/recipients/d2d/partner4", json={"recipient_identifier": "not-an-id"})
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["type"] == "identifier_invalid"
    duplicate = api.post("/recipients/d2d/PARTNER", json={"recipient_identifier": OTHER_METASTORE})
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "recipient_already_exists")


def test_list_filters_by_type_and_name(api: TestClient) -> None:
    create_d2o(api, "acme_a")
    create_d2o(api, "acme_b")
    api.post("/recipients/d2d/acme_d2d", json={"recipient_identifier": KNOWN_METASTORE})
    d2o = api.get("/recipients", params={"type": "D2O", "contains": "ACME"}).json()
    assert [r["name"] for r in d2o["items"]] == ["acme_a", "acme_b"]
    d2d = api.get("/recipients", params={"type": "D2D"}).json()
    assert [r["name"] for r in d2d["items"]] == ["acme_d2d"]


def test_get_recipient_with_shares(api: TestClient) -> None:
    create_d2o(api, "acme")
    api.post("/shares", json={"name": "s1"})
    api.put("/shares/s1/recipients/add", json={"recipients": ["acme"]})
    detail = api.get("/recipients/acme").json()
    assert detail["shares"] == [{"share": "s1", "privileges": ["SELECT"]}]
    assert api.get("/recipients/acme", params={"include_shares": False}).json()["shares"] is None
    missing = api.get("/recipients/ghost")
    assert (missing.status_code, missing.json()["code"]) == (404, "recipient_not_found")


def test_recipient_responses_never_report_wrong_shares(api: TestClient) -> None:
    """Each recipient response carries the true grants, `null` (not read) or no field: never a false `[]` (docs/API.md §2.2)."""
    created = create_d2o(api, "acme")
    assert created["shares"] == []  # just created: no grants, true without a read
    d2d = api.post("/recipients/d2d/dbx", json={"recipient_identifier": KNOWN_METASTORE})
    assert d2d.json()["shares"] == []
    api.post("/shares", json={"name": "sales_eu"})
    granted = api.put("/shares/sales_eu/recipients/add", json={"recipients": ["acme"]})
    assert granted.status_code == 200, granted.text
    truth = [{"share": "sales_eu", "privileges": ["SELECT"]}]

    assert api.get("/recipients/acme").json()["shares"] == truth
    not_read = api.get("/recipients/acme", params={"include_shares": False}).json()
    assert not_read["shares"] is None
    rotated = api.post("/recipients/acme/tokens/rotate")
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["shares"] is None
    described = api.put("/recipients/acme/description", json={"description": "ACME"})
    assert described.status_code == 200, described.text
    assert "shares" not in described.json()
    expiring = api.put("/recipients/acme/expiration", json={"expiration_days": 30})
    assert expiring.status_code == 200, expiring.text
    assert "shares" not in expiring.json()
    listed = api.get("/recipients").json()["items"]
    assert listed
    assert all("shares" not in item for item in listed)
    assert api.get("/recipients/acme").json()["shares"] == truth


def test_ip_add_and_revoke(api: TestClient, emu: Any, emu_client: WorkspaceClient) -> None:
    create_d2o(api, "acme", ip_access_list=["203.0.113.0/24"])
    emu.reset_stats()
    added = api.put(
        "/recipients/acme/ipaddress/add",
        json={"ip_access_list": ["198.51.100.7", "203.0.113.0/24"]},
    )
    assert added.json()["added"] == ["198.51.100.7"]
    assert added.json()["already_present"] == ["203.0.113.0/24"]
    assert emu.count("recipients.get") == 1
    assert emu.count("recipients.update") == 1

    emu.reset_stats()
    same = api.put(
        "/recipients/acme/ipaddress/add", json={"ip_access_list": ["198.51.100.7"]}
    ).json()
    assert same["added"] == []
    assert emu.mutating_total() == 0

    revoked = api.put(
        "/recipients/acme/ipaddress/revoke",
        json={"ip_access_list": ["203.0.113.0/24", "198.51.100.7", "1.2.3.4"]},
    ).json()
    assert revoked["removed"] == ["203.0.113.0/24", "198.51.100.7"]
    assert revoked["not_present"] == ["1.2.3.4"]
    assert revoked["ip_access_list"] == []
    assert revoked["warnings"]
    # emptying the list sends {} which clears it upstream
    assert emu.calls("recipients.update")[-1]["body"]["ip_access_list"] == {}
    info = emu_client.recipients.get("acme")
    assert not (info.ip_access_list and info.ip_access_list.allowed_ip_addresses)


def test_ip_limit_and_type_checks(api: TestClient) -> None:
    create_d2o(api, "acme", ip_access_list=[f"10.0.0.{i}" for i in range(60)])
    over = api.put(
        "/recipients/acme/ipaddress/add",
        json={"ip_access_list": [f"10.0.1.{i}" for i in range(41)]},
    )
    assert (over.status_code, over.json()["code"]) == (400, "ip_limit_exceeded")
    api.post("/recipients/d2d/dbx", json={"recipient_identifier": KNOWN_METASTORE})
    not_token = api.put("/recipients/dbx/ipaddress/add", json={"ip_access_list": ["10.0.0.1"]})
    assert (not_token.status_code, not_token.json()["code"]) == (400, "recipient_not_token_type")


def test_rotate_token(api: TestClient, emu_client: WorkspaceClient) -> None:
    created = create_d2o(api, "acme")
    rotated = api.post(
        "/recipients/acme/tokens/rotate", json={"existing_token_expire_in_seconds": 3600}
    )
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert len(body["tokens"]) == 2
    assert body["activation_link"]
    assert body["activation_link"] != created["activation_link"]
    assert sum(t["active"] for t in body["tokens"]) == 2
    third = api.post(
        "/recipients/acme/tokens/rotate", json={"existing_token_expire_in_seconds": 60}
    )
    assert (third.status_code, third.json()["code"]) == (409, "recipient_token_limit")
    assert len(emu_client.recipients.get("acme").tokens or []) == 2

    api.post("/recipients/d2d/dbx", json={"recipient_identifier": KNOWN_METASTORE})
    not_token = api.post("/recipients/dbx/tokens/rotate")
    assert (not_token.status_code, not_token.json()["code"]) == (400, "recipient_not_token_type")


IMMEDIATE_EXPIRY = "the previous token was already activated and expired immediately"


def test_rotate_without_grace_warns_only_when_an_activated_token_expires(
    api: TestClient, emu: Any
) -> None:
    """Rotating with the default 0 cuts an activated partner off at once: the response says so (docs/API.md §5.8)."""
    create_d2o(api, "pending")
    not_activated = api.post("/recipients/pending/tokens/rotate")
    assert not_activated.status_code == 200, not_activated.text
    assert not_activated.json()["warnings"] == []

    create_d2o(api, "acme")
    emu.activate("acme")
    graced = api.post(
        "/recipients/acme/tokens/rotate", json={"existing_token_expire_in_seconds": 3600}
    )
    assert graced.status_code == 200, graced.text
    assert graced.json()["warnings"] == []

    create_d2o(api, "partner")
    emu.activate("partner")
    emu.reset_stats()
    immediate = api.post("/recipients/partner/tokens/rotate")
    assert immediate.status_code == 200, immediate.text
    warnings = immediate.json()["warnings"]
    assert len(warnings) == 1
    assert warnings[0].startswith(IMMEDIATE_EXPIRY)
    assert (emu.count("recipients.get"), emu.count("recipients.rotate_token")) == (1, 1)


def test_rotate_cannot_extend_token(api: TestClient) -> None:
    create_d2o(api, "acme", expiration_days=1)
    response = api.post(
        "/recipients/acme/tokens/rotate", json={"existing_token_expire_in_seconds": 10 * 24 * 3600}
    )
    assert (response.status_code, response.json()["code"]) == (400, "token_expiry_extension_denied")


def test_rotate_confirmed_after_lost_response(make_api: Any, emu: Any) -> None:
    """A rotation whose response is lost (and whose SDK retries also fail) is confirmed by one read."""
    api = make_api(databricks={"sdk": {"retry_timeout_s": 2, "http_timeout_s": 2}})
    original = create_d2o(api, "acme")["tokens"][0]["id"]
    emu.add_fault(operation="recipients.rotate_token", kind="applied_response_lost", times=1)
    emu.add_fault(operation="recipients.rotate_token", kind="drop_before_apply")
    response = api.post(
        "/recipients/acme/tokens/rotate", json={"existing_token_expire_in_seconds": 0}
    )
    assert response.status_code == 200, response.text
    assert emu.count("recipients.get") == 2  # the zero-grace pre-read and the confirmation read
    body = response.json()
    assert any(t["id"] != original and t["active"] for t in body["tokens"])
    assert body["activation_link"]


def test_rotate_is_not_replayed_after_a_lost_response(make_api: Any, emu: Any) -> None:
    """The SDK would replay the rotation whose answer was lost and rotate twice; the API sends it once and
    confirms it by one read."""
    api = make_api(databricks={"sdk": {"retry_timeout_s": 2, "http_timeout_s": 2}})
    original = create_d2o(api, "acme")["tokens"][0]["id"]
    emu.add_fault(operation="recipients.rotate_token", kind="applied_response_lost", times=1)
    response = api.post(
        "/recipients/acme/tokens/rotate", json={"existing_token_expire_in_seconds": 3600}
    )
    assert response.status_code == 200, response.text
    assert emu.count("recipients.rotate_token") == 1
    tokens = response.json()["tokens"]
    assert len(tokens) == 2  # the original (in its grace hour) and exactly one new token
    assert {t["id"] for t in tokens} - {original}


def test_description_and_expiration(api: TestClient, emu: Any, emu_client: WorkspaceClient) -> None:
    create_d2o(api, "acme", description="old")
    emu.reset_stats()
    changed = api.put("/recipients/acme/description", json={"description": '  "New text"  '}).json()
    assert changed["changed"] is True
    assert changed["comment"] == "New text"
    unchanged = api.put("/recipients/acme/description", json={"description": "New text"}).json()
    assert unchanged["changed"] is False
    assert emu.count("recipients.update") == 1

    expiring = api.put("/recipients/acme/expiration", json={"expiration_days": 30}).json()
    assert expiring["changed"] is True
    expiry = emu_client.recipients.get("acme").expiration_time or 0
    expected = (datetime.now(UTC) + timedelta(days=30)).timestamp() * 1000
    assert abs(expiry - expected) < 5 * 60 * 1000
    api.post("/recipients/d2d/dbx", json={"recipient_identifier": KNOWN_METASTORE})
    not_token = api.put("/recipients/dbx/expiration", json={"expiration_days": 30})
    assert (not_token.status_code, not_token.json()["code"]) == (400, "recipient_not_token_type")


def test_delete_recipient_removes_grants(api: TestClient, emu_client: WorkspaceClient) -> None:
    create_d2o(api, "acme")
    api.post("/shares", json={"name": "s1"})
    api.put("/shares/s1/recipients/add", json={"recipients": ["acme"]})
    assert api.delete("/recipients/acme").json() == {"name": "acme", "deleted": True}
    assert not emu_client.shares.share_permissions("s1").privilege_assignments
    missing = api.delete("/recipients/acme")
    assert (missing.status_code, missing.json()["code"]) == (404, "recipient_not_found")


def test_rotate_unconfirmed_is_502(make_api: Any, emu: Any) -> None:
    """When the rotation never reached the workspace, the read-back finds no new token: an honest 502."""
    api = make_api(databricks={"sdk": {"retry_timeout_s": 2, "http_timeout_s": 2}})
    emu.reset()  # the emulator clock goes back to its start: the existing token is clearly older than the request
    create_d2o(api, "acme")
    align_emulator_clock(emu)
    emu.add_fault(operation="recipients.rotate_token", kind="drop_before_apply")
    response = api.post(
        "/recipients/acme/tokens/rotate", json={"existing_token_expire_in_seconds": 0}
    )
    assert (response.status_code, response.json()["code"]) == (502, "upstream_unreachable")
    assert emu.count("recipients.get") == 2  # the zero-grace pre-read and the confirmation read


# ------------------------------------------------------------------------------------------ properties


def test_create_bodies_carry_properties(api: TestClient, emu_client: WorkspaceClient) -> None:
    created = create_d2o(api, "acme", properties={"tier": "gold", "country": "DE"})
    assert created["properties"] == {"country": "DE", "tier": "gold"}
    info = emu_client.recipients.get("acme")
    assert info.properties_kvpairs is not None
    assert info.properties_kvpairs.properties == {"country": "DE", "tier": "gold"}
    d2d = api.post(
        "/recipients/d2d/partner",
        json={"recipient_identifier": KNOWN_METASTORE, "properties": {"region": "emea"}},
    )
    assert d2d.status_code == 201, d2d.text
    assert d2d.json()["properties"] == {"region": "emea"}
    detail = api.get("/recipients/partner").json()
    assert detail["properties"] == {"region": "emea"}
    plain = create_d2o(api, "plain")
    assert plain["properties"] == {}


def test_properties_put_replaces_the_map(
    api: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    create_d2o(api, "acme", properties={"tier": "gold", "region": "emea"})
    emu.reset_stats()
    changed = api.put("/recipients/ACME/properties", json={"properties": {"tier": "platinum"}})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["changed"], changed.json()["properties"]) == (
        True,
        {"tier": "platinum"},
    )
    info = emu_client.recipients.get("acme")
    assert info.properties_kvpairs is not None
    assert info.properties_kvpairs.properties == {"tier": "platinum"}  # region removed
    same = api.put("/recipients/acme/properties", json={"properties": {"tier": "platinum"}})
    assert same.json()["changed"] is False
    assert emu.count("recipients.update") == 1  # no write when unchanged
    emptied = api.put("/recipients/acme/properties", json={"properties": {}}).json()
    assert (emptied["changed"], emptied["properties"]) == (True, {})
    assert emu.calls("recipients.update")[-1]["body"] == {"properties_kvpairs": {}}
    assert api.get("/recipients/acme").json()["properties"] == {}


def test_properties_are_validated_before_any_call(api: TestClient, emu: Any) -> None:
    create_d2o(api, "acme")
    emu.reset_stats()
    cases = [
        ({"databricks.accountId": "x"}, "recipient_property_reserved", "databricks.accountId"),
        ({"Databricks.Name": "x"}, "recipient_property_reserved", "Databricks.Name"),
        ({"bad key": "x"}, "recipient_property_invalid", "bad key"),
        ({"tier": "a", "TIER": "b"}, "recipient_property_duplicate", "TIER"),
        ({"tier": "x" * 1001}, "recipient_property_invalid", "tier"),
    ]
    for properties, code, key in cases:
        response = api.put("/recipients/acme/properties", json={"properties": properties})
        assert response.status_code == 422, properties
        (error,) = response.json()["errors"]
        assert (error["type"], error["loc"]) == (code, ["body", "properties"])
        assert key in error["msg"]
        created = api.post("/recipients/d2o/other", json={"properties": properties})
        assert created.status_code == 422
        assert created.json()["errors"][0]["type"] == code
    not_text = api.put("/recipients/acme/properties", json={"properties": {"tier": 1}})
    assert not_text.status_code == 422
    assert emu.mutating_total() == 0


def test_properties_put_of_an_unknown_recipient_is_404(api: TestClient, emu: Any) -> None:
    response = api.put("/recipients/nobody/properties", json={"properties": {"tier": "gold"}})
    assert (response.status_code, response.json()["code"]) == (404, "recipient_not_found")
    assert emu.mutating_total() == 0


def test_ip_add_and_revoke_compare_a_live_host_written_with_its_prefix(
    api: TestClient, emu_client: WorkspaceClient
) -> None:
    # Databricks may hold a single host as `/32` (set by hand or by another client); the direct API compares on the
    # canonical form as the share packs do (docs/SHAREPACK.md §5.2), so `10.0.0.1` is that entry.
    create_d2o(api, "acme", ip_access_list=["203.0.113.0/24"])
    emu_client.recipients.update(
        "acme",
        ip_access_list=IpAccessList(allowed_ip_addresses=["203.0.113.0/24", "10.0.0.1/32"]),
    )

    added = api.put("/recipients/acme/ipaddress/add", json={"ip_access_list": ["10.0.0.1/32"]})
    assert added.json()["added"] == []
    assert added.json()["already_present"] == ["10.0.0.1"]

    revoked = api.put("/recipients/acme/ipaddress/revoke", json={"ip_access_list": ["10.0.0.1"]})
    assert revoked.json()["removed"] == ["10.0.0.1"]
    assert revoked.json()["not_present"] == []
    info = emu_client.recipients.get("acme")
    assert info.ip_access_list is not None
    assert info.ip_access_list.allowed_ip_addresses == ["203.0.113.0/24"]

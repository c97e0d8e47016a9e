"""Token hygiene and access review through HTTP, the real databricks-sdk and the emulator (docs/API.md §16).

The last tests check the answers against what a partner really sees: the real `delta-sharing` connector reads the
emulator's sharing server with the credential file behind the activation link DeltaShare returned.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import delta_sharing
import httpx
import pytest
from databricks.sdk import WorkspaceClient
from fastapi.testclient import TestClient
from requests.exceptions import HTTPError

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
D2D_METASTORE = "aws:us-east-1:0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b"


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _d2o(api: TestClient, name: str, **body: Any) -> dict[str, Any]:
    return dict(_ok(api.post(f"/recipients/d2o/{name}", json=body)))


def _share(api: TestClient, name: str, *, tables: list[str] = (), schemas: list[str] = ()) -> None:  # type: ignore[assignment]
    _ok(api.post("/shares", json={"name": name}))
    if tables or schemas:
        _ok(api.put(f"/shares/{name}/dataobject/add", json={"tables": tables, "schemas": schemas}))


def _grant(api: TestClient, share: str, *recipients: str) -> None:
    _ok(api.put(f"/shares/{share}/recipients/add", json={"recipients": list(recipients)}))


@pytest.fixture
def fleet(api: TestClient) -> None:
    """acme (expires in 10 days, granted sales), beta (90 days, nothing granted), a D2D recipient."""
    _d2o(api, "acme", expiration_days=10)
    _d2o(api, "beta", expiration_days=90)
    _ok(api.post("/recipients/d2d/inhouse", json={"recipient_identifier": D2D_METASTORE}))
    _share(api, "sales", tables=["main.sales.orders"])
    _share(api, "finance_all", schemas=["main.finance"])
    _grant(api, "sales", "acme")
    _grant(api, "finance_all", "beta")


# ---------------------------------------------------------------------------------------------- token report


def test_the_report_lists_tokens_expiring_in_the_window_with_their_shares(
    api: TestClient, emu: Any, fleet: None
) -> None:
    emu.reset_stats()
    report = _ok(api.get("/tokens", params={"expiring_within": "30d"}))

    assert [(i["recipient"], i["shares"], i["activated"]) for i in report["items"]] == [
        ("acme", ["sales"], False)
    ]
    assert 9.9 <= report["items"][0]["days_left"] <= 10.0
    assert report["expiring_within_days"] == 30
    assert "activation" not in json.dumps(report)  # links are secrets: never in the report
    # One paged recipients.list, one share_permissions per recipient listed: no per-token reads.
    assert emu.count("recipients.list") == 1
    assert emu.count("recipients.share_permissions") == 1
    assert emu.count("recipients.get") == 0

    everything = _ok(api.get("/tokens", params={"expiring_within": "P100D"}))
    assert [i["recipient"] for i in everything["items"]] == ["acme", "beta"]  # soonest expiry first


def test_the_report_filters_activation_and_recipient_and_speaks_csv(
    api: TestClient, emu: Any, fleet: None
) -> None:
    emu.activate("acme")

    pending = _ok(api.get("/tokens", params={"activated": "false"}))
    assert [i["recipient"] for i in pending["items"]] == ["beta"]
    one = _ok(api.get("/tokens", params={"recipient": "ACME"}))
    assert [(i["recipient"], i["activated"]) for i in one["items"]] == [("acme", True)]

    response = api.get("/tokens", headers={"Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["recipient"], r["activated"], r["shares"]) for r in rows] == [
        ("acme", "true", "sales"),
        ("beta", "false", "finance_all"),
    ]


@pytest.mark.parametrize("window", ["soon", "-3d", "P99999D", "30w", "P1Y", " 30d"])
def test_a_bad_window_is_a_located_422(api: TestClient, window: str) -> None:
    response = api.get("/tokens", params={"expiring_within": window})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "expiring_within"]


def test_the_report_of_an_unknown_recipient_is_404(api: TestClient) -> None:
    assert api.get("/tokens", params={"recipient": "nobody"}).status_code == 404


# ---------------------------------------------------------------------------------------------- access view


def _entries(view: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [(e["recipient"], e["share"], e["object"], e["via"]) for e in view["entries"]]


def test_what_a_recipient_can_read(api: TestClient, emu: Any, fleet: None) -> None:
    emu.reset_stats()
    view = _ok(api.get("/access", params={"recipient": "ACME"}))

    assert (view["source"], view["recipient"], view["object"]) == ("live", "acme", None)
    assert _entries(view) == [("acme", "sales", "main.sales.orders", None)]
    assert view["entries"][0]["shared_as"] == "sales.orders"
    # its grants once, then only the granted share, read once; no listing of every share
    assert (emu.count("recipients.share_permissions"), emu.count("shares.get")) == (1, 1)
    assert emu.count("shares.list_shares") == 0

    text = api.get("/access", params={"recipient": "beta", "format": "csv"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["share"], r["object"], r["type"]) for r in rows] == [
        ("finance_all", "main.finance", "SCHEMA")
    ]


def test_who_can_read_a_table_directly_or_through_its_schema(
    api: TestClient, emu: Any, fleet: None, emu_client: WorkspaceClient
) -> None:
    finance_table = next(iter(emu_client.tables.list("main", "finance"))).full_name or ""
    emu.reset_stats()

    direct = _ok(api.get("/access", params={"object": "MAIN.sales.orders"}))
    assert _entries(direct) == [("acme", "sales", "main.sales.orders", "object")]
    assert emu.count("shares.list_shares") == 1
    assert emu.count("shares.get") == 2  # every share read once
    assert emu.count("shares.share_permissions") == 1  # grants only of the share that exposes it
    via_schema = _ok(api.get("/access", params={"object": finance_table}))
    assert _entries(via_schema) == [("beta", "finance_all", "main.finance", "schema")]
    both = _ok(api.get("/access", params={"object": finance_table, "recipient": "acme"}))
    assert both["entries"] == []


def test_the_whole_workspace_matrix(api: TestClient, fleet: None) -> None:
    view = _ok(api.get("/access"))
    assert _entries(view) == [
        ("acme", "sales", "main.sales.orders", None),
        ("beta", "finance_all", "main.finance", None),
    ]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"object": "main.sales"}, ["query", "object"]),
        ({"recipient": "a/b"}, ["query", "recipient"]),
        ({"format": "xml"}, ["query", "format"]),
    ],
)
def test_a_bad_question_is_a_located_422(
    api: TestClient, params: dict[str, str], loc: list[str]
) -> None:
    response = api.get("/access", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == loc


# ---------------------------------------------------------------------------------------------- as_of (history)
# The history itself (a pack version withdrawing a grant, CSV, object matching) is shown with the workflow database
# in tests/integration/workflow_api/test_access_as_of.py; here, the app of these tests has no workflow.


@pytest.mark.parametrize(
    "as_of",
    [
        "2026-03-01T10:15:30",  # no offset: refused, not read as UTC
        "2026-03-01",
        "yesterday",
        "2026-02-30T10:15:30Z",
        "2026-03-01T10:15:30 02:00",  # an unencoded '+' arrives as a space
        "2026-03-01T10:15:30Z" + "0" * 60,
    ],
)
def test_a_bad_as_of_is_a_located_422(api: TestClient, emu: Any, as_of: str) -> None:
    emu.reset_stats()
    response = api.get("/access", params={"as_of": as_of})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [
        (["query", "as_of"], "timestamp_invalid")
    ]
    assert emu.stats()["total"] == 0


def test_a_future_as_of_is_a_422_before_anything_else(api: TestClient) -> None:
    response = api.get("/access", params={"as_of": "2999-01-01T00:00:00+01:00"})
    assert response.status_code == 422, response.text
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["query", "as_of"], "timestamp_in_future")
    ]


def test_as_of_without_the_workflow_database_is_a_409_without_a_call(
    api: TestClient, emu: Any, fleet: None
) -> None:
    emu.reset_stats()
    for params in (
        {"as_of": "2026-01-01T00:00:00Z"},
        {"as_of": "2026-01-01T00:00:00Z", "format": "csv"},
    ):
        response = api.get("/access", params=params)
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["code"] == "history_unavailable"
        assert "workflow" in problem["detail"]
    assert emu.stats()["total"] == 0
    # Without as_of the same app answers live, as before.
    assert api.get("/access").json()["source"] == "live"


# ---------------------------------------------------------------------------------------------- what the partner sees


def _profile(activation_link: str, path: Path) -> str:
    """Follow the activation link as the partner does: the page names the download, which is the credential."""
    base, _, code = activation_link.partition("/delta_sharing/retrieve_config.html?")
    response = httpx.get(
        f"{base}/api/2.1/unity-catalog/public/data_sharing_activation/{code}", timeout=10
    )
    response.raise_for_status()
    path.write_text(response.text)
    return str(path)


def _client_tables(profile: str) -> set[tuple[str, str, str]]:
    return {
        (t.share, t.schema, t.name) for t in delta_sharing.SharingClient(profile).list_all_tables()
    }


def _access_tables(api: TestClient, recipient: str) -> set[tuple[str, str, str]]:
    view = _ok(api.get("/access", params={"recipient": recipient}))
    return {
        (e["share"], *e["shared_as"].split(".", 1))
        for e in view["entries"]
        if e["type"] != "SCHEMA"
    }


def test_the_partner_sees_what_the_access_view_says(api: TestClient, tmp_path: Path) -> None:
    created = _d2o(api, "partner")
    _share(api, "sales", tables=["main.sales.orders"])
    _grant(api, "sales", "partner")
    profile = _profile(created["activation_link"], tmp_path / "partner.share")

    assert (
        _client_tables(profile) == _access_tables(api, "partner") == {("sales", "sales", "orders")}
    )

    _ok(api.put("/shares/sales/dataobject/add", json={"tables": ["main.sales.customers"]}))
    assert _client_tables(profile) == _access_tables(api, "partner")
    assert ("sales", "sales", "customers") in _client_tables(profile)
    _ok(api.put("/shares/sales/dataobject/revoke", json={"tables": ["main.sales.customers"]}))
    assert _client_tables(profile) == {("sales", "sales", "orders")}

    _ok(api.put("/recipients/partner/ipaddress/add", json={"ip_access_list": ["10.0.0.0/8"]}))
    with pytest.raises(HTTPError) as refused:
        _client_tables(profile)
    assert refused.value.response.status_code == 403
    _ok(api.put("/recipients/partner/ipaddress/revoke", json={"ip_access_list": ["10.0.0.0/8"]}))

    _ok(api.put("/shares/sales/recipients/remove", json={"recipients": ["partner"]}))
    assert list(delta_sharing.SharingClient(profile).list_shares()) == []


def test_a_rotated_profile_works_through_the_grace_hour_only(
    api: TestClient, emu: Any, tmp_path: Path
) -> None:
    created = _d2o(api, "partner")
    _share(api, "sales", tables=["main.sales.orders"])
    _grant(api, "sales", "partner")
    old = _profile(created["activation_link"], tmp_path / "old.share")

    rotated = _ok(
        api.post(
            "/recipients/partner/tokens/rotate", json={"existing_token_expire_in_seconds": 3600}
        )
    )
    new = _profile(rotated["activation_link"], tmp_path / "new.share")
    assert _client_tables(old) == _client_tables(new) == {("sales", "sales", "orders")}

    emu.advance(2 * HOUR_MS)
    with pytest.raises(HTTPError) as expired:
        _client_tables(old)
    assert expired.value.response.status_code == 401
    assert _client_tables(new) == {("sales", "sales", "orders")}

"""Shares endpoints through HTTP, the real databricks-sdk and the emulator (docs/API.md §4)."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


def create_share(api: TestClient, name: str = "sales_eu", **body: Any) -> dict[str, Any]:
    response = api.post("/shares", json={"name": name, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_create_get_list_delete(api: TestClient, emu: Any, emu_client: WorkspaceClient) -> None:
    created = create_share(api, "Sales_EU", description="EU sales")
    assert created["name"] == "sales_eu"  # stored lower-case
    assert created["comment"] == "EU sales"
    assert created["objects"] == []
    assert created["recipients"] == []
    assert emu_client.shares.get("sales_eu").comment == "EU sales"

    emu.reset_stats()
    detail = api.get("/shares/SALES_EU").json()
    assert detail["name"] == "sales_eu"
    assert emu.count("shares.get") == 1
    assert emu.count("shares.share_permissions") == 1

    create_share(api, "marketing")
    listing = api.get("/shares", params={"prefix": "SAL"}).json()
    assert [s["name"] for s in listing["items"]] == ["sales_eu"]
    assert (listing["count"], listing["total"], listing["next_offset"]) == (1, 1, None)

    deleted = api.delete("/shares/sales_eu")
    assert deleted.status_code == 200
    assert deleted.json() == {"name": "sales_eu", "deleted": True}
    assert [s.name for s in emu_client.shares.list_shares()] == ["marketing"]


def test_create_response_has_location(api: TestClient) -> None:
    response = api.post("/shares", json={"name": "loc_share"})
    assert response.headers["location"] == "/shares/loc_share"


def test_duplicate_share_is_409(api: TestClient) -> None:
    create_share(api, "dup")
    response = api.post("/shares", json={"name": "DUP"})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "share_already_exists"


def test_unknown_share_is_404(api: TestClient) -> None:
    for method, path, body in [
        ("GET", "/shares/nope", None),
        ("DELETE", "/shares/nope", None),
        ("PUT", "/shares/nope/dataobject/add", {"tables": ["main.sales.orders"]}),
        ("PUT", "/shares/nope/recipients/add", {"recipients": ["r1"]}),
    ]:
        response = api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        problem = response.json()
        assert problem["code"] == "share_not_found"
        assert problem["instance"] == path
        assert problem["request_id"] == response.headers["x-request-id"]


def test_list_pages_every_upstream_page(api: TestClient, emu: Any) -> None:
    for i in range(120):
        assert api.post("/shares", json={"name": f"s{i:03d}"}).status_code == 201
    emu.reset_stats()
    listing = api.get("/shares", params={"limit": 50, "offset": 100}).json()
    assert listing["total"] == 120
    assert listing["count"] == 20
    assert listing["next_offset"] is None
    assert listing["items"][0]["name"] == "s100"
    assert emu.count("shares.list_shares") == 3  # 50 per upstream page
    first = api.get("/shares", params={"limit": 50}).json()
    assert first["next_offset"] == 50


def test_add_objects_types_and_idempotency(
    api: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    create_share(api, "s1")
    emu.reset_stats()
    response = api.put(
        "/shares/s1/dataobject/add",
        json={
            "objects": [
                "main.sales.orders",
                {"name": "main.sales.v_orders"},
                {"name": "main.sales.customers", "shared_as": "sales.clients"},
            ]
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["added"] == ["main.sales.orders", "main.sales.v_orders", "main.sales.customers"]
    types = {o["name"]: o["type"] for o in body["objects"]}
    assert types == {
        "main.sales.orders": "TABLE",
        "main.sales.v_orders": "VIEW",
        "main.sales.customers": "TABLE",
    }
    # one share read, three table reads, one write (docs/API.md §4.5: "three new tables → 5 calls")
    assert emu.count("shares.get") == 1
    assert emu.count("tables.get") == 3
    assert emu.count("shares.update") == 1

    emu.reset_stats()
    again = api.put("/shares/s1/dataobject/add", json={"tables": ["main.sales.orders"]}).json()
    assert again["added"] == []
    assert again["already_present"] == ["main.sales.orders"]
    assert emu.mutating_total() == 0
    shared = emu_client.shares.get("s1", include_shared_data=True)
    assert {o.shared_as for o in shared.objects or []} == {
        "sales.orders",
        "sales.v_orders",
        "sales.clients",
    }


def test_add_objects_update_existing_attributes(
    api: TestClient, emu_client: WorkspaceClient
) -> None:
    create_share(api, "s1")
    api.put("/shares/s1/dataobject/add", json={"tables": ["main.sales.orders"]})
    body = api.put(
        "/shares/s1/dataobject/add",
        json={"objects": [{"name": "main.sales.orders", "history_data_sharing_status": "ENABLED"}]},
    ).json()
    assert body["updated"] == ["main.sales.orders"]
    shared = emu_client.shares.get("s1", include_shared_data=True).objects or []
    assert shared[0].history_data_sharing_status is not None
    assert shared[0].history_data_sharing_status.value == "ENABLED"


def test_add_objects_validation_before_any_write(api: TestClient, emu: Any) -> None:
    create_share(api, "s1")
    emu.reset_stats()
    missing = api.put(
        "/shares/s1/dataobject/add",
        json={"tables": ["main.sales.orders", "main.sales.nope", "main.nope.x"]},
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "object_not_found"
    assert sorted(missing.json()["missing"]) == ["main.nope.x", "main.sales.nope"]

    unsupported = api.put(
        "/shares/s1/dataobject/add", json={"tables": ["main.sales.revenue_metrics"]}
    )
    assert (unsupported.status_code, unsupported.json()["code"]) == (400, "object_type_unsupported")

    mismatch = api.put(
        "/shares/s1/dataobject/add",
        json={"objects": [{"name": "main.sales.v_orders", "type": "TABLE"}]},
    )
    assert (mismatch.status_code, mismatch.json()["code"]) == (400, "object_type_mismatch")

    no_cdf = api.put(
        "/shares/s1/dataobject/add",
        json={"objects": [{"name": "main.sales.customers", "cdf_enabled": True}]},
    )
    assert (no_cdf.status_code, no_cdf.json()["code"]) == (400, "cdf_not_enabled")

    overlap = api.put(
        "/shares/s1/dataobject/add",
        json={"schemas": ["main.sales"], "tables": ["main.sales.orders"]},
    )
    assert (overlap.status_code, overlap.json()["code"]) == (409, "share_object_conflict")
    assert overlap.json()["conflicts"]

    alias = api.put(
        "/shares/s1/dataobject/add",
        json={
            "objects": [
                {"name": "main.sales.orders", "shared_as": "x.y"},
                {"name": "main.finance.invoices", "shared_as": "x.y"},
            ]
        },
    )
    assert (alias.status_code, alias.json()["code"]) == (409, "share_object_conflict")
    assert emu.mutating_total() == 0


def test_add_objects_permission_denied_is_403(api: TestClient) -> None:
    create_share(api, "s1")
    response = api.put(
        "/shares/s1/dataobject/add", json={"tables": ["main.sales.restricted_payments"]}
    )
    assert (response.status_code, response.json()["code"]) == (403, "upstream_permission_denied")


def test_add_schema_and_notebook(api: TestClient, emu_client: WorkspaceClient) -> None:
    create_share(api, "s1")
    body = api.put(
        "/shares/s1/dataobject/add",
        json={
            "schemas": ["main.finance"],
            "objects": [
                {"name": "/Workspace/Shared/deltashare/notebooks/readme", "type": "NOTEBOOK_FILE"}
            ],
        },
    ).json()
    types = sorted(o["type"] for o in body["objects"])
    assert types == ["NOTEBOOK_FILE", "SCHEMA"]
    shared = emu_client.shares.get("s1", include_shared_data=True).objects or []
    assert {o.name for o in shared} == {"main.finance", "readme"}


def test_250_objects_take_three_share_updates(
    api: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    tables = [{"name": f"t{i:03d}", "columns": ["id BIGINT"]} for i in range(250)]
    emu.reset(seed={"catalogs": [{"name": "big", "schemas": [{"name": "s", "tables": tables}]}]})
    create_share(api, "bulk")
    emu.reset_stats()
    response = api.put(
        "/shares/bulk/dataobject/add", json={"tables": [f"big.s.t{i:03d}" for i in range(250)]}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["added"]) == 250
    assert emu.count("shares.update") == 3
    assert all(len(c["body"]["updates"]) <= 100 for c in emu.calls("shares.update"))
    assert len(emu_client.shares.get("bulk", include_shared_data=True).objects or []) == 250

    emu.reset_stats()
    removed = api.put(
        "/shares/bulk/dataobject/revoke", json={"tables": [f"big.s.t{i:03d}" for i in range(250)]}
    )
    assert len(removed.json()["removed"]) == 250
    assert emu.count("shares.update") == 3


def test_failure_after_some_batches_reports_applied(api: TestClient, emu: Any) -> None:
    tables = [{"name": f"t{i:03d}", "columns": ["id BIGINT"]} for i in range(150)]
    emu.reset(seed={"catalogs": [{"name": "big", "schemas": [{"name": "s", "tables": tables}]}]})
    create_share(api, "bulk")
    emu.add_fault(operation="shares.update", kind="internal", skip=1, times=1)
    response = api.put(
        "/shares/bulk/dataobject/add", json={"tables": [f"big.s.t{i:03d}" for i in range(150)]}
    )
    assert response.status_code == 502
    assert len(response.json()["applied"]) == 100
    retry = api.put(
        "/shares/bulk/dataobject/add", json={"tables": [f"big.s.t{i:03d}" for i in range(150)]}
    )
    assert len(retry.json()["added"]) == 50
    assert len(retry.json()["already_present"]) == 100


def test_revoke_objects_reports_not_present(api: TestClient, emu: Any) -> None:
    create_share(api, "s1")
    api.put("/shares/s1/dataobject/add", json={"tables": ["main.sales.orders"]})
    emu.reset_stats()
    body = api.put(
        "/shares/s1/dataobject/revoke",
        json={"tables": ["main.sales.orders", "main.sales.customers"]},
    ).json()
    assert body["removed"] == ["main.sales.orders"]
    assert body["not_present"] == ["main.sales.customers"]
    assert body["objects"] == []
    emu.reset_stats()
    again = api.put("/shares/s1/dataobject/revoke", json={"tables": ["main.sales.orders"]}).json()
    assert again["not_present"] == ["main.sales.orders"]
    assert emu.mutating_total() == 0


def test_recipients_add_remove_minimal_calls(
    api: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    create_share(api, "s1")
    for name in ("r1", "r2", "r3"):
        assert api.post(f"/recipients/d2o/{name}", json={}).status_code == 201
    emu.reset_stats()
    body = api.put("/shares/s1/recipients/add", json={"recipients": ["r1", "R2", "r3"]}).json()
    assert body["added"] == ["r1", "r2", "r3"]  # as Unity Catalog stores them
    assert body["already_present"] == []
    assert [g["recipient"] for g in body["recipients"]] == ["r1", "r2", "r3"]
    # k + 2 calls for k new recipients, exactly one permissions write
    assert emu.count("shares.share_permissions") == 1
    assert emu.count("recipients.get") == 3
    assert emu.count("shares.update_permissions") == 1
    grants = emu_client.shares.share_permissions("s1").privilege_assignments or []
    assert sorted(g.principal or "" for g in grants) == ["r1", "r2", "r3"]

    emu.reset_stats()
    again = api.put("/shares/s1/recipients/add", json={"recipients": ["r1"]}).json()
    assert again["already_present"] == ["r1"]
    assert emu.mutating_total() == 0

    removed = api.put("/shares/s1/recipients/remove", json={"recipients": ["r2", "zz"]}).json()
    assert removed["removed"] == ["r2"]
    assert removed["not_present"] == ["zz"]
    assert [g["recipient"] for g in removed["recipients"]] == ["r1", "r3"]


def test_a_repeated_recipient_is_granted_once_with_a_warning(
    api: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    """The share-pack rule (an exact repeat is harmless) holds for the direct API too (docs/API.md §4.7)."""
    create_share(api, "s1")
    assert api.post("/recipients/d2o/r1", json={}).status_code == 201
    emu.reset_stats()
    response = api.put("/shares/s1/recipients/add", json={"recipients": ["R1", "r1"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["added"] == ["r1"]
    assert body["warnings"] == ["'r1' is listed more than once; the repeat was ignored."]
    assert emu.count("recipients.get") == 1
    assert emu.count("shares.update_permissions") == 1
    removed = api.put("/shares/s1/recipients/remove", json={"recipients": ["r1", "R1"]}).json()
    assert removed["removed"] == ["r1"]
    assert len(removed["warnings"]) == 1
    assert (emu_client.shares.share_permissions("s1").privilege_assignments or []) == []


def test_unknown_recipients_are_listed_and_nothing_granted(api: TestClient, emu: Any) -> None:
    create_share(api, "s1")
    api.post("/recipients/d2o/r1", json={})
    emu.reset_stats()
    response = api.put("/shares/s1/recipients/add", json={"recipients": ["r1", "ghost1", "ghost2"]})
    assert response.status_code == 404
    assert response.json()["code"] == "recipient_not_found"
    assert sorted(response.json()["missing"]) == ["ghost1", "ghost2"]
    assert emu.count("shares.update_permissions") == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"tables": ["main.sales"]},
        # an exact repeat is collapsed (test_exact_repeats_...); a repeat with other options is refused
        {"objects": ["main.sales.orders", {"name": "MAIN.SALES.ORDERS", "comment": "x"}]},
        {
            "objects": [
                {
                    "name": "main.sales.orders",
                    "cdf_enabled": True,
                    "history_data_sharing_status": "ENABLED",
                }
            ]
        },
        {"objects": [{"name": "main.sales.orders", "unknown": 1}]},
        {"objects": [{"name": "/Workspace/x/nb"}]},
    ],
)
def test_invalid_object_requests_are_422(api: TestClient, emu: Any, body: dict[str, Any]) -> None:
    create_share(api, "s1")
    emu.reset_stats()
    response = api.put("/shares/s1/dataobject/add", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    # An invalid name is reported as `name_invalid`, any other failure as `validation_failed` (docs/API.md §1.5.2).
    named = any(e["type"] == "name_invalid" for e in problem["errors"])
    assert problem["code"] == ("name_invalid" if named else "validation_failed")
    assert problem["errors"]
    assert all({"loc", "msg", "type"} <= set(e) for e in problem["errors"])
    assert emu.count("shares.get") == 0  # validated before any upstream call


def test_exact_repeats_are_collapsed_with_a_warning_and_names_echo_as_stored(
    api: TestClient, emu: Any, emu_client: WorkspaceClient
) -> None:
    # One rule with share packs (docs/API.md §4.5, docs/SHAREPACK.md §7.4): a repeat is harmless.
    create_share(api, "s1")
    emu.reset_stats()
    response = api.put(
        "/shares/s1/dataobject/add",
        json={"objects": ["MAIN.SALES.ORDERS"], "tables": ["main.sales.orders"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["added"] == ["main.sales.orders"]  # as stored, not as typed
    assert body["warnings"] == [
        "'main.sales.orders' is listed more than once; the repeat was ignored."
    ]
    assert emu.count("tables.get") == 1
    assert emu.count("shares.update") == 1
    assert [
        o.name for o in emu_client.shares.get("s1", include_shared_data=True).objects or []
    ] == ["main.sales.orders"]

    again = api.put("/shares/s1/dataobject/add", json={"tables": ["Main.Sales.Orders"]}).json()
    assert again["already_present"] == ["main.sales.orders"]
    assert again["warnings"] == []

    gone = api.put(
        "/shares/s1/dataobject/revoke", json={"tables": ["MAIN.SALES.ORDERS", "Main.Sales.Nope"]}
    ).json()
    assert gone["removed"] == ["main.sales.orders"]
    assert gone["not_present"] == ["main.sales.nope"]


def test_a_repeat_with_different_options_is_refused(api: TestClient, emu: Any) -> None:
    create_share(api, "s1")
    emu.reset_stats()
    response = api.put(
        "/shares/s1/dataobject/add",
        json={
            "objects": [
                {"name": "main.sales.orders", "comment": "a"},
                {"name": "MAIN.SALES.ORDERS", "comment": "b"},
            ]
        },
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == "duplicate_entry_conflict"
    assert emu.count("shares.get") == 0  # refused before any call

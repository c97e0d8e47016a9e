"""`PUT /shares/{name}/dataobject/add|revoke` with volumes and registered models (docs/API.md §4.5, §4.6)."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import SharedDataObjectDataObjectType
from fastapi.testclient import TestClient

from fixtures.orchestrator import seed_with_volumes_and_models

pytestmark = pytest.mark.integration


@pytest.fixture
def share(api: TestClient, emu: Any) -> str:
    emu.reset(seed=seed_with_volumes_and_models())
    response = api.post("/shares", json={"name": "ml_share"})
    assert response.status_code == 201, response.text
    emu.reset_stats()
    return "ml_share"


def test_volumes_and_models_are_added_once_read_each_and_aliased_by_databricks(
    api: TestClient, emu: Any, emu_client: WorkspaceClient, share: str
) -> None:
    body = {
        "objects": [
            "main.sales.orders",
            {"name": "MAIN.SALES.LANDING", "type": "VOLUME", "comment": "files"},
            {"name": "main.sales.churn", "type": "MODEL"},
        ]
    }
    response = api.put(f"/shares/{share}/dataobject/add", json=body)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["added"] == ["main.sales.orders", "main.sales.landing", "main.sales.churn"]
    objects = {o["name"]: o for o in result["objects"]}
    assert objects["main.sales.landing"]["type"] == "VOLUME"
    assert objects["main.sales.landing"]["string_shared_as"] == "sales.landing"
    assert objects["main.sales.landing"]["shared_as"] is None
    assert objects["main.sales.churn"]["type"] == "MODEL"
    # One share read, one read per new object (by its declared type), one write.
    assert emu.count("shares.get") == 1
    assert emu.count("tables.get") == 1
    assert emu.count("volumes.read") == 1
    assert emu.count("registered_models.get") == 1
    assert emu.count("shares.update") == 1
    live = emu_client.shares.get(share, include_shared_data=True)
    assert {(o.name, o.data_object_type) for o in live.objects or []} == {
        ("main.sales.orders", SharedDataObjectDataObjectType.TABLE),
        ("main.sales.landing", SharedDataObjectDataObjectType.VOLUME),
        ("main.sales.churn", SharedDataObjectDataObjectType.MODEL),
    }

    emu.reset_stats()
    again = api.put(f"/shares/{share}/dataobject/add", json=body).json()
    assert again["already_present"] == [
        "main.sales.orders",
        "main.sales.landing",
        "main.sales.churn",
    ]
    assert emu.mutating_total() == 0

    removed = api.put(
        f"/shares/{share}/dataobject/revoke", json={"objects": ["main.sales.landing"]}
    ).json()
    assert removed["removed"] == ["main.sales.landing"]
    assert {o["name"] for o in removed["objects"]} == {"main.sales.orders", "main.sales.churn"}


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "main.sales.landing", "type": "VOLUME", "shared_as": "sales.files"},
        {"name": "main.sales.churn", "type": "MODEL", "cdf_enabled": True},
        {"name": "main.sales.churn", "type": "MODEL", "history_data_sharing_status": "ENABLED"},
        {"name": "main.sales.landing", "type": "VOLUME", "start_version": 0},
        {
            "name": "main.sales.landing",
            "type": "VOLUME",
            "partitions": [{"values": [{"name": "p", "op": "EQUAL", "value": "x"}]}],
        },
    ],
)
def test_table_options_on_a_volume_or_model_are_422_before_any_call(
    api: TestClient, emu: Any, share: str, entry: dict[str, Any]
) -> None:
    response = api.put(f"/shares/{share}/dataobject/add", json={"objects": [entry]})

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [e["type"] for e in problem["errors"]] == ["option_not_allowed"]
    assert problem["errors"][0]["loc"] == ["body", "objects", 0]
    assert entry["type"] in problem["errors"][0]["msg"]
    assert emu.count("shares.get") == 0  # validated before any upstream call


def test_missing_and_mistyped_volumes_and_models(api: TestClient, emu: Any, share: str) -> None:
    missing = api.put(
        f"/shares/{share}/dataobject/add",
        json={
            "objects": [
                {"name": "main.sales.nope", "type": "VOLUME"},
                {"name": "main.sales.landing", "type": "MODEL"},
            ]
        },
    )
    assert missing.status_code == 404, missing.text
    assert missing.json()["code"] == "object_not_found"
    assert sorted(missing.json()["missing"]) == ["main.sales.landing", "main.sales.nope"]

    mistyped = api.put(
        f"/shares/{share}/dataobject/add",
        json={"objects": [{"name": "main.sales.orders", "type": "VOLUME"}]},
    )
    assert mistyped.status_code == 400, mistyped.text
    assert mistyped.json()["code"] == "object_type_mismatch"
    assert emu.mutating_total() == 0


def test_a_volume_alias_taken_by_a_table_is_a_conflict(
    api: TestClient, emu: Any, share: str
) -> None:
    first = api.put(
        f"/shares/{share}/dataobject/add",
        json={"objects": [{"name": "main.sales.orders", "shared_as": "sales.landing"}]},
    )
    assert first.status_code == 200, first.text
    clash = api.put(
        f"/shares/{share}/dataobject/add",
        json={"objects": [{"name": "main.sales.landing", "type": "VOLUME"}]},
    )
    assert clash.status_code == 409, clash.text
    assert clash.json()["code"] == "share_object_conflict"
    assert clash.json()["conflicts"] == [
        "shared_as 'sales.landing' of 'main.sales.landing' is already used by 'main.sales.orders'"
    ]

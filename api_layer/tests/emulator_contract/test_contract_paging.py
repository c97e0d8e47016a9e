"""Contract tests: UC list paging (C04), empty results and JSON bodies without nulls (C14)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue
from databricks.sdk.service.sharing import AuthenticationType, PermissionsChange

from dbrx_emulator.testing import Emu

pytestmark = pytest.mark.contract

SHARES_PATH = "/api/2.1/unity-catalog/shares"


def _seed_shares(emu: Emu, count: int) -> list[str]:
    names = [f"share_{i:03d}" for i in range(count)]
    emu.reset(seed={"extends": "minimal", "shares": [{"name": n} for n in names]})
    return names


def test_c04_list_shares_pages_with_max_results_zero(emu: Emu, emu_client: WorkspaceClient) -> None:
    names = _seed_shares(emu, 120)

    listed = [s.name for s in emu_client.shares.list_shares()]

    assert listed == names
    calls = emu.calls("shares.list_shares")
    assert len(calls) == 3
    assert all(call["query"]["max_results"] == "0" for call in calls)
    assert "page_token" not in calls[0]["query"]
    assert all("page_token" in call["query"] for call in calls[1:])
    raw = emu_client.api_client.do("GET", SHARES_PATH, query={"max_results": 0})
    assert all("objects" not in item for item in raw["shares"])


def test_c04_next_page_token_only_when_another_page_exists(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    _seed_shares(emu, 120)
    api = emu_client.api_client

    first = api.do("GET", SHARES_PATH, query={"max_results": 100})
    last = api.do(
        "GET", SHARES_PATH, query={"max_results": 100, "page_token": first["next_page_token"]}
    )

    assert len(first["shares"]) == 100
    assert first["next_page_token"]
    assert len(last["shares"]) == 20
    assert "next_page_token" not in last
    exact = api.do("GET", SHARES_PATH, query={"max_results": 120})
    assert len(exact["shares"]) == 120
    assert "next_page_token" not in exact


def test_c04_empty_pages_are_followed(emu: Emu, emu_client: WorkspaceClient) -> None:
    names = _seed_shares(emu, 120)
    emu.set_behaviour(empty_pages=True)

    listed = [s.name for s in emu_client.shares.list_shares()]

    assert listed == names
    assert emu.count("shares.list_shares") == 4
    raw = emu_client.api_client.do("GET", SHARES_PATH, query={"max_results": 0})
    assert len(raw["shares"]) == 50


def test_c04_paging_is_stable_when_shares_change_between_pages(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    names = _seed_shares(emu, 120)
    other = emu.workspace_client()
    iterator = emu_client.shares.list_shares()

    seen = [next(iterator).name for _ in range(50)]  # exactly the first page
    other.shares.create("aaa_before_cursor")
    other.shares.create("zzz_after_cursor")
    other.shares.delete("share_100")
    other.shares.delete("share_010")  # already seen
    seen += [s.name for s in iterator]

    assert len(seen) == len(set(seen))
    expected = [n for n in names if n != "share_100"] + ["zzz_after_cursor"]
    assert seen == expected


def test_c04_negative_max_results_is_invalid(emu: Emu, emu_client: WorkspaceClient) -> None:
    with pytest.raises(InvalidParameterValue):
        list(emu_client.shares.list_shares(max_results=-1))
    with pytest.raises(InvalidParameterValue):
        list(emu_client.recipients.list(max_results=-1))


def test_c04_page_size_is_capped_and_tokens_are_bound_to_their_filters(
    emu: Emu, emu_client: WorkspaceClient
) -> None:
    _seed_shares(emu, 120)
    api = emu_client.api_client
    assert len(api.do("GET", SHARES_PATH, query={"max_results": 5000})["shares"]) == 120

    page = api.do(
        "GET",
        "/api/2.1/unity-catalog/tables",
        query={"catalog_name": "main", "schema_name": "sales", "max_results": 2},
    )
    with pytest.raises(InvalidParameterValue, match="page token does not match"):
        api.do(
            "GET",
            "/api/2.1/unity-catalog/tables",
            query={
                "catalog_name": "main",
                "schema_name": "finance",
                "page_token": page["next_page_token"],
            },
        )
    with pytest.raises(InvalidParameterValue, match="Invalid page token"):
        api.do("GET", SHARES_PATH, query={"page_token": "not-a-token"})


def test_uc_lists_page_through_every_item(emu: Emu, emu_client: WorkspaceClient) -> None:
    emu.set_behaviour(page_sizes={"uc": 2})

    tables = [t.name or "" for t in emu_client.tables.list("main", "sales")]
    schemas = [s.name for s in emu_client.schemas.list("main")]
    catalogs = [c.name for c in emu_client.catalogs.list()]

    assert tables == sorted(tables)
    assert len(tables) == 9
    assert emu.count("tables.list") == 5
    assert schemas == ["finance", "sales"]
    assert catalogs == ["main", "share_cat"]


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


def test_c14_empty_workspace_lists_are_empty_and_bodies_have_no_nulls(emu: Emu) -> None:
    emu.reset(
        seed={
            "catalogs": [
                {"name": "empty_cat"},
                {"name": "cat", "schemas": [{"name": "empty_schema"}]},
            ]
        }
    )
    w = emu.workspace_client()

    assert [c.name for c in w.catalogs.list()] == ["cat", "empty_cat"]
    assert list(w.schemas.list("empty_cat")) == []
    assert list(w.tables.list("cat", "empty_schema")) == []
    assert list(w.shares.list_shares()) == []
    assert list(w.recipients.list()) == []
    w.shares.create("s1")
    w.recipients.create("r1", AuthenticationType.TOKEN)
    assert w.shares.share_permissions("s1").privilege_assignments == []
    assert w.recipients.share_permissions("r1").permissions_out == []
    w.shares.update_permissions("s1", changes=[PermissionsChange(principal="r1", add=["SELECT"])])
    w.shares.get("s1", include_shared_data=True)
    w.shares.update("s1", comment="c")
    w.recipients.get("r1")
    w.recipients.update("r1", comment="c")
    w.current_user.me()
    w.schemas.get("cat.empty_schema")
    w.tables.exists("cat.empty_schema.none")

    calls = emu.calls()
    for call in calls:
        headers = {"Authorization": f"Bearer {emu.token}"}
        response = requests.request(
            call["method"],
            emu.url + call["path"],
            params=call["query"],
            json=call["body"] if call["method"] != "GET" else None,
            headers=headers,
            timeout=5,
        )
        assert response.headers["content-type"] == "application/json", call
        body = response.json()
        assert isinstance(body, dict), call
        assert not _has_null(body), (call, body)
    covered = {call["operation"] for call in calls}
    assert covered >= {
        "meta.host_metadata",
        "catalogs.list",
        "schemas.list",
        "tables.list",
        "shares.list_shares",
        "recipients.list",
        "shares.share_permissions",
        "recipients.share_permissions",
        "shares.update",
        "shares.update_permissions",
        "recipients.update",
        "current_user.me",
        "tables.exists",
    }

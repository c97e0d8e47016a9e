"""`GET /access?as_of=`: who could read what at a past instant, from the share packs' SCD2 records
(docs/API.md §16.2), through HTTP with real PostgreSQL, the in-process worker and the emulator driven by the real databricks-sdk.

A pack grants `acme_external` a share holding a view and a whole schema; a later version of the pack withdraws the
grant. The history still answers "yes" for an instant between the two versions, and "no" after; the live view
agrees with the latter; a hand-made share is in the live view only. History answers make no Databricks call.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

UPLOAD = "/workflow/sharepack/upload_and_validate"
FINAL = {"COMPLETED", "FAILED", "REJECTED", "SUPERSEDED", "PENDING_APPROVAL"}

PACK = """\
metadata:
  requestor: jane.doe@example.com
  project_name: access-audit
  business_line: Retail Analytics
  strategy: UPDATE
  description: Access history test pack.
  delta_share_region: EMEA
  configurator: data-platform-admins
  approver: john.smith@example.com
  executive_team: retail-executives
  approver_status: approved
  workspace_url: {url}
  servicenow: RITM0012345
  version: "1.0"
  contact_email: retail-data@example.com
  client: Example Partners Ltd
  owner: retail-data-owners
  last_updated: 2026-03-01

recipient:
  - name: acme_external
    type: D2O
    recipient: data-ops@example.com
    comment: External consumer, token based
    recipient_ips: [203.0.113.0/24]
    token_expiry: 90

share:
  - name: audit_share
    description: The orders view and the finance schema
    share_assets:
      - name: main.sales.v_orders
        type: VIEW
        shared_as: curated.orders_v
      - main.finance
    {grants}: [acme_external]
"""


def _pack(url: str, *, granted: bool) -> str:
    return PACK.format(url=url, grants="recipients" if granted else "recipients_to_remove")


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _entries(view: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [(e["recipient"], e["share"], e["object"], e["via"]) for e in view["entries"]]


def _share_by_hand(client: TestClient, headers: dict[str, str], share: str, recipient: str) -> None:
    """Make `share` through the direct API, holding main.sales.orders and granted to `recipient`."""
    _ok(client.post("/shares", json={"name": share}, headers=headers))
    _ok(
        client.put(
            f"/shares/{share}/dataobject/add",
            json={"tables": ["main.sales.orders"]},
            headers=headers,
        )
    )
    _ok(
        client.put(
            f"/shares/{share}/recipients/add", json={"recipients": [recipient]}, headers=headers
        )
    )


def _provision(client: TestClient, text: str, timeout_s: float = 60) -> dict[str, Any]:
    """Upload a version and wait until the in-process worker finished it (it must complete)."""
    response = client.post(
        UPLOAD, files={"file": ("pack.yaml", text.encode(), "application/x-yaml")}
    )
    assert response.status_code in (200, 202), response.text
    accepted: dict[str, Any] = response.json()
    deadline = time.monotonic() + timeout_s
    while (status := client.get(accepted["status_url"]).json())["status"] not in FINAL:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    assert status["status"] == "COMPLETED", status
    return accepted


def test_history_says_who_could_read_before_the_grant_was_withdrawn(
    workflow_api: Callable[..., TestClient], emu: Any, emu_client: WorkspaceClient
) -> None:
    client = workflow_api(inline=True)
    headers = {"X-Workspace-URL": emu.url}

    def access(**params: str) -> Any:
        return _ok(client.get("/access", params=params, headers=headers))

    before_any_pack = datetime.now(UTC)
    time.sleep(0.01)
    first = _provision(client, _pack(emu.url, granted=True))
    # A share made by hand: the live view sees it, the history never does.
    _share_by_hand(client, headers, "handmade", "acme_external")
    t1 = datetime.now(UTC)
    time.sleep(0.01)
    second = _provision(client, _pack(emu.url, granted=False))
    assert second["share_pack_id"] == first["share_pack_id"]
    assert second["version"] == first["version"] + 1
    finance_table = next(iter(emu_client.tables.list("main", "finance"))).full_name or ""

    emu.reset_stats()
    then = access(recipient="ACME_EXTERNAL", as_of=_stamp(t1))
    assert (then["source"], then["recipient"], then["object"]) == (
        "recorded",
        "acme_external",
        None,
    )
    assert then["as_of"] == _stamp(t1)[:23] + "Z"  # echoed in UTC, milliseconds
    assert _entries(then) == [
        ("acme_external", "audit_share", "main.finance", None),
        ("acme_external", "audit_share", "main.sales.v_orders", None),
    ]
    assert {e["source"] for e in then["entries"]} == {"recorded"}
    assert {e["share_pack_id"] for e in then["entries"]} == {first["share_pack_id"]}
    assert [(e["type"], e["shared_as"]) for e in then["entries"]] == [
        ("SCHEMA", "finance"),
        ("VIEW", "curated.orders_v"),
    ]
    coverage = then["coverage"]
    assert coverage["scope"] == "pack_managed_shares"
    assert coverage["shares"] == ["audit_share"]  # the hand-made share is not covered
    assert "hand" in coverage["note"]
    assert before_any_pack < datetime.fromisoformat(coverage["recorded_since"]) < t1

    # `?object=` matches the recorded objects as the live view matches live ones: itself, or through its schema.
    direct = access(object="MAIN.sales.V_orders", as_of=_stamp(t1))
    assert _entries(direct) == [("acme_external", "audit_share", "main.sales.v_orders", "object")]
    via_schema = access(object=finance_table, as_of=_stamp(t1))
    assert _entries(via_schema) == [("acme_external", "audit_share", "main.finance", "schema")]
    assert access(object="main.sales.customers", as_of=_stamp(t1))["entries"] == []

    # After the second version: the grant is gone from the records (the share itself is still recorded) ...
    now = access(recipient="acme_external", as_of=_stamp(datetime.now(UTC)))
    assert now["entries"] == []
    assert now["coverage"]["shares"] == ["audit_share"]
    # ... and before the first pack, nothing was recorded at all.
    empty = access(as_of=_stamp(before_any_pack))
    assert (empty["entries"], empty["coverage"]["shares"]) == ([], [])
    # An offset other than Z names the same instant.
    shifted = t1.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="microseconds")
    assert shifted.endswith("+02:00")
    assert _entries(access(recipient="acme_external", as_of=shifted)) == _entries(then)
    assert emu.stats()["total"] == 0  # history answers never ask Databricks

    # Live, the pack's share is not readable by acme_external any more; only the hand-made one is.
    live = access(recipient="acme_external")
    assert (live["source"], live["as_of"], live["coverage"]) == ("live", None, None)
    assert _entries(live) == [("acme_external", "handmade", "main.sales.orders", None)]
    assert {e["source"] for e in live["entries"]} == {"live"}


def test_history_as_csv(workflow_api: Callable[..., TestClient], emu: Any) -> None:
    client = workflow_api(inline=True)
    headers = {"X-Workspace-URL": emu.url}
    _provision(client, _pack(emu.url, granted=True))
    at = datetime.now(UTC)

    # The first workspace request of this app: building its SDK client would read the host's metadata (a call).
    emu.reset_stats()
    response = client.get("/access", params={"as_of": _stamp(at), "format": "csv"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    assert response.headers["content-disposition"] == (
        f'attachment; filename="access-as-of-{stamp}.csv"'
    )
    assert response.text.splitlines()[0] == "recipient,share,object,type,shared_as,via,source"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["recipient"], r["share"], r["object"], r["type"], r["source"]) for r in rows] == [
        ("acme_external", "audit_share", "main.finance", "SCHEMA", "recorded"),
        ("acme_external", "audit_share", "main.sales.v_orders", "VIEW", "recorded"),
    ]
    assert emu.stats()["total"] == 0, emu.stats()["operations"]

    # Accept: text/csv works the same way; the live CSV keeps its six columns first and adds `source` last.
    by_header = client.get(
        "/access", params={"as_of": _stamp(at)}, headers={**headers, "Accept": "text/csv"}
    )
    assert by_header.text == response.text
    live = client.get("/access", params={"format": "csv"}, headers=headers)
    assert [r["source"] for r in csv.DictReader(io.StringIO(live.text))] == ["live", "live"]


ADOPTING = """\
metadata:
  requestor: jane.doe@example.com
  project_name: access-adopt
  business_line: Retail Analytics
  strategy: UPDATE
  description: Adopts a hand-made share without managing its grants.
  delta_share_region: EMEA
  configurator: data-platform-admins
  approver: john.smith@example.com
  executive_team: retail-executives
  approver_status: approved
  workspace_url: {url}
  servicenow: RITM0012346
  version: "1.0"
  contact_email: retail-data@example.com
  client: Example Partners Ltd
  owner: retail-data-owners
  last_updated: 2026-03-01

share:
  - name: adopted_share
    description: Made by hand, adopted by a pack that leaves its grants alone
"""


def test_history_names_the_readers_of_a_share_adopted_without_managing_its_grants(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    """A share made and granted by hand, then adopted by a pack that sets no grant key: the run records who reads
    it, so the history says what the live view says (it named nobody, though the share was covered)."""
    client = workflow_api(inline=True)
    headers = {"X-Workspace-URL": emu.url}
    _ok(client.post("/recipients/d2o/partner_ext", json={}, headers=headers))
    _share_by_hand(client, headers, "adopted_share", "partner_ext")
    _provision(client, ADOPTING.format(url=emu.url))

    live = _ok(client.get("/access", headers=headers))
    recorded = _ok(
        client.get("/access", params={"as_of": _stamp(datetime.now(UTC))}, headers=headers)
    )
    assert recorded["coverage"]["shares"] == ["adopted_share"]
    expected = [("partner_ext", "adopted_share", "main.sales.orders", None)]
    assert _entries(live) == expected
    assert _entries(recorded) == expected

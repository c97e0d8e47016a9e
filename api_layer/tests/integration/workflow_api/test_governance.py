"""Approvals, pack owners and role parity through HTTP with Entra-style tokens (docs/GOVERNANCE.md).

Four callers, each a token minted by the local JWKS: writers A and B, approver C (the pack's listed approver),
admin D, and approver E who is not listed. The API runs the workflow on real PostgreSQL with the in-process worker
against the emulator, driven by the real databricks-sdk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sharing import (
    SharedDataObject,
    SharedDataObjectDataObjectType,
    SharedDataObjectUpdate,
    SharedDataObjectUpdateAction,
)
from fastapi.testclient import TestClient

from fixtures.orchestrator import sample_pack
from fixtures.tokens import Caller, TokenFactory

pytestmark = pytest.mark.integration

UPLOAD = "/workflow/sharepack/upload_and_validate"
SETTLED = {"COMPLETED", "FAILED", "REJECTED", "SUPERSEDED", "PENDING_APPROVAL"}
WRITER, APPROVER, ADMIN = "DeltaShare.Writer", "DeltaShare.Approver", "DeltaShare.Admin"


@pytest.fixture
def people(token_factory: TokenFactory) -> dict[str, Caller]:
    return {
        # A holds the approver role too: only "not the uploader" stops A approving A's own version.
        "A": Caller(
            token_factory,
            "00000000-0000-4000-8000-00000000000a",
            "ann@example.com",
            WRITER,
            APPROVER,
        ),
        "B": Caller(
            token_factory, "00000000-0000-4000-8000-00000000000b", "bob@example.com", WRITER
        ),
        "C": Caller(
            token_factory,
            "00000000-0000-4000-8000-00000000000c",
            "john.smith@example.com",
            APPROVER,
        ),
        "D": Caller(
            token_factory, "00000000-0000-4000-8000-00000000000d", "dana@example.com", ADMIN
        ),
        "E": Caller(
            token_factory, "00000000-0000-4000-8000-00000000000e", "eve@example.com", APPROVER
        ),
    }


def upload(client: TestClient, who: Caller, text: str) -> Any:
    return client.post(
        UPLOAD,
        files={"file": ("sales.yaml", text.encode(), "application/x-yaml")},
        headers=who.headers,
    )


def settle(client: TestClient, who: Caller, pack_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status = dict(client.get(f"/workflow/sharepack/{pack_id}", headers=who.headers).json())
        if status["status"] in SETTLED:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def decide(
    client: TestClient, who: Caller, pack_id: str, version: int, decision: str, **extra: Any
) -> Any:
    return client.post(
        f"/workflow/sharepack/{pack_id}/versions/{version}/approval",
        json={"decision": decision, **extra},
        headers=who.headers,
    )


def history(client: TestClient, who: Caller, pack_id: str) -> dict[str, Any]:
    return dict(client.get(f"/workflow/sharepack/{pack_id}/history", headers=who.headers).json())


def test_a_writers_destructive_version_waits_for_a_listed_approver_who_is_not_the_uploader(
    workflow_api: Callable[..., TestClient],
    people: dict[str, Caller],
    emu: Any,
    emu_client: WorkspaceClient,
) -> None:
    client = workflow_api(inline=True, auth=True, approval="destructive")
    a, c, e = people["A"], people["C"], people["E"]
    emu.reset_stats()
    accepted = upload(client, a, sample_pack(emu.url))
    assert accepted.status_code == 202, accepted.text
    pack_id = accepted.json()["share_pack_id"]

    held = settle(client, a, pack_id)
    assert held["status"] == "PENDING_APPROVAL", held
    plan = held["approval_plan"]
    assert "create open-sharing recipient acme_external" in plan["destructive_changes"]
    assert plan["digest"].startswith("sha256:")
    assert emu.mutating_total() == 0  # held before any mutating call
    assert held["owners"] == [{"id": a.oid, "name": "ann@example.com"}]
    listed = client.get(
        "/workflow/sharepacks", params={"status": "pending_approval"}, headers=c.headers
    ).json()
    assert [item["share_pack_id"] for item in listed["items"]] == [pack_id]
    bad_filter = client.get("/workflow/sharepacks", params={"status": "WAITING"}, headers=c.headers)
    assert bad_filter.status_code == 422

    own = decide(client, a, pack_id, 1, "approve")
    assert (own.status_code, own.json()["code"]) == (403, "self_approval")
    unlisted = decide(client, e, pack_id, 1, "approve")
    assert (unlisted.status_code, unlisted.json()["code"]) == (403, "approver_not_listed")
    writer_only = decide(client, people["B"], pack_id, 1, "approve")
    assert (writer_only.status_code, writer_only.json()["code"]) == (403, "role_missing")
    stale = decide(client, c, pack_id, 1, "approve", plan_digest="sha256:" + "0" * 64)
    assert (stale.status_code, stale.json()["code"]) == (409, "plan_changed")
    assert settle(client, a, pack_id)["status"] == "PENDING_APPROVAL"
    assert emu.mutating_total() == 0

    approved = decide(client, c, pack_id, 1, "approve", plan_digest=plan["digest"], comment="ok")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "QUEUED"
    assert approved.json()["approved_changes"] == plan["destructive_changes"]
    done = settle(client, a, pack_id)
    assert done["status"] == "COMPLETED", done
    assert "acme_external" in {r.name for r in emu_client.recipients.list()}

    # The worker's audit rows act for the uploader and name the approver (docs/GOVERNANCE.md §5).
    ctx = client.app.state.workflow  # type: ignore[attr-defined]
    with ctx.pool.connection() as conn:
        worker_rows = conn.execute(
            "SELECT actor_id, new_values FROM deltashare.audit_trail "
            "WHERE source = 'workflow' AND share_pack_id = %s",
            (pack_id,),
        ).fetchall()
    assert worker_rows
    assert {r["actor_id"] for r in worker_rows} == {a.oid}
    assert {r["new_values"]["approved_by"] for r in worker_rows} == {c.oid}

    again = decide(client, c, pack_id, 1, "approve")
    assert (again.status_code, again.json()["code"]) == (409, "not_pending_approval")
    assert (again.json()["status"], again.json()["version_status"]) == (409, "COMPLETED")
    record = history(client, c, pack_id)["versions"][0]
    assert [
        (d["decision"], d["decided_by"]["id"], d["plan_digest"]) for d in record["approvals"]
    ] == [("approve", c.oid, plan["digest"])]
    reasons = [t["reason"] for t in record["transitions"]]
    assert "approval_required" in reasons
    assert "approved by john.smith@example.com" in reasons


def test_a_declined_version_never_runs(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(inline=True, auth=True, approval="destructive")
    a, c = people["A"], people["C"]
    emu.reset_stats()
    pack_id = upload(client, a, sample_pack(emu.url)).json()["share_pack_id"]
    assert settle(client, a, pack_id)["status"] == "PENDING_APPROVAL"
    declined = decide(client, c, pack_id, 1, "decline", comment="no open sharing for this client")
    assert (declined.status_code, declined.json()["status"]) == (200, "REJECTED")
    time.sleep(0.5)  # the in-process worker would have picked a queued version up by now
    assert settle(client, a, pack_id)["status"] == "REJECTED"
    assert emu.mutating_total() == 0
    assert decide(client, c, pack_id, 1, "approve").status_code == 409


def test_another_writer_cannot_store_a_version_of_a_pack_they_do_not_own(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(inline=False, auth=True, approval="destructive")
    a, b, d = people["A"], people["B"], people["D"]
    first = upload(client, a, sample_pack(emu.url))
    pack_id = first.json()["share_pack_id"]
    takeover = sample_pack(emu.url).replace("      - 198.51.100.7\n", "      - 0.0.0.0/0\n")
    refused = upload(client, b, takeover)
    assert (refused.status_code, refused.json()["code"]) == (403, "pack_not_owned")
    identical = upload(client, b, sample_pack(emu.url))  # a re-run is storing too
    assert (identical.status_code, identical.json()["code"]) == (403, "pack_not_owned")
    assert [v["version"] for v in history(client, a, pack_id)["versions"]] == [1]

    # An admin may add B as an owner; the change is in the pack's history.
    not_admin = client.put(
        f"/workflow/sharepack/{pack_id}/owners", json={"owners": [a.oid, b.oid]}, headers=a.headers
    )
    assert not_admin.status_code == 403
    made = client.put(
        f"/workflow/sharepack/{pack_id}/owners", json={"owners": [a.oid, b.oid]}, headers=d.headers
    )
    assert made.status_code == 200, made.text
    assert made.json()["added"] == [b.oid]
    stored = upload(client, b, takeover)
    assert stored.status_code == 202, stored.text
    assert stored.json()["version"] == 2
    record = history(client, d, pack_id)
    assert [(c["principal"]["id"], c["change"], c["actor"]) for c in record["owner_changes"]] == [
        (a.oid, "added", a.oid),
        (b.oid, "added", d.oid),
    ]


def test_a_changed_plan_after_approval_goes_back_to_the_approver(
    workflow_api: Callable[..., TestClient],
    people: dict[str, Caller],
    emu: Any,
    emu_client: WorkspaceClient,
) -> None:
    client = workflow_api(inline=True, auth=True, approval="destructive")
    a, c = people["A"], people["C"]
    pack_id = upload(client, a, sample_pack(emu.url)).json()["share_pack_id"]
    plan = settle(client, a, pack_id)["approval_plan"]
    assert decide(client, c, pack_id, 1, "approve", plan_digest=plan["digest"]).status_code == 200
    assert settle(client, a, pack_id)["status"] == "COMPLETED"

    # Version 2 removes one grant: destructive, held with that one change.
    narrower = sample_pack(emu.url).replace(
        "    recipients:\n      - partner_analytics\n      - acme_external\n",
        "    recipients:\n      - partner_analytics\n",
    )
    assert upload(client, a, narrower).status_code == 202
    held = settle(client, a, pack_id)
    assert held["status"] == "PENDING_APPROVAL"
    shown = held["approval_plan"]
    assert shown["destructive_changes"] == ["remove acme_external from share_grants sales_share"]

    # Someone adds a table to the share by hand before the run: the declarative run would now also remove it.
    emu_client.shares.update(
        "sales_share",
        updates=[
            SharedDataObjectUpdate(
                action=SharedDataObjectUpdateAction.ADD,
                data_object=SharedDataObject(
                    name="main.sales.customers",
                    data_object_type=SharedDataObjectDataObjectType.TABLE,
                ),
            )
        ],
    )
    emu.reset_stats()
    assert decide(client, c, pack_id, 2, "approve", plan_digest=shown["digest"]).status_code == 200
    back = settle(client, a, pack_id)
    assert back["status"] == "PENDING_APPROVAL", back
    assert emu.mutating_total() == 0  # nothing of the approved plan ran either
    assert set(back["approval_plan"]["destructive_changes"]) == {
        "remove acme_external from share_grants sales_share",
        "remove main.sales.customers from share_objects sales_share",
    }
    transitions = history(client, a, pack_id)["versions"][1]["transitions"]
    assert transitions[-1]["reason"] == "plan_changed_since_approval"

    assert decide(client, c, pack_id, 2, "approve").status_code == 200
    assert settle(client, a, pack_id)["status"] == "COMPLETED"
    objects = emu_client.shares.get("sales_share", include_shared_data=True).objects or []
    assert "main.sales.customers" not in {o.name for o in objects}


def test_role_parity_a_writers_destructive_version_waits_even_when_the_policy_says_never(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(inline=True, auth=True, approval="never")
    writer_pack = upload(client, people["A"], sample_pack(emu.url)).json()["share_pack_id"]
    assert settle(client, people["A"], writer_pack)["status"] == "PENDING_APPROVAL"
    # The same content from an admin (who may do all of it directly) runs without an approver.
    admin_pack = upload(client, people["D"], sample_pack(emu.url, requestor="dana@example.com"))
    assert admin_pack.status_code == 202, admin_pack.text
    status = settle(client, people["D"], admin_pack.json()["share_pack_id"])
    assert status["status"] in {"COMPLETED", "FAILED"}, (
        status
    )  # ran (may clash with the held pack's names)


def test_plan_reports_whether_an_approval_is_required(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(inline=False, auth=True, approval="destructive")
    response = client.post(
        "/workflow/sharepack/plan",
        files={"file": ("sales.yaml", sample_pack(emu.url).encode(), "application/x-yaml")},
        headers=people["A"].headers,
    )
    assert response.status_code == 200, response.text
    approval = response.json()["approval"]
    assert approval["required"] is True
    assert approval["policy"] == "destructive"
    assert "create open-sharing recipient acme_external" in approval["destructive_changes"]

"""`POST /workflow/sharepack/{id}/versions/{v}/withdraw` and `GET /workflow/sharepack/{id}/versions/{a}/diff/{b}`
(docs/API.md §12.3.3, §12.3.4) with Entra-style tokens on real PostgreSQL, the emulator behind the real SDK.

Writers A (uploader, first owner) and B (no owner), admin D. Consumers are off unless a test starts one, so a
QUEUED version stays QUEUED with its message in the queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dbrx_api.workflow.queue.consumer import Consumer
from dbrx_api.workflow.queue.run import Outcome
from fixtures.orchestrator import sample_pack, second_version
from fixtures.tokens import Caller, TokenFactory

pytestmark = pytest.mark.integration

UPLOAD = "/workflow/sharepack/upload_and_validate"
UNKNOWN = "00000000-0000-4000-8000-0000000000ff"


@pytest.fixture
def people(token_factory: TokenFactory) -> dict[str, Caller]:
    return {
        "A": Caller(
            token_factory,
            "00000000-0000-4000-8000-0000000000a1",
            "ann@example.com",
            "DeltaShare.Writer",
        ),
        "B": Caller(
            token_factory,
            "00000000-0000-4000-8000-0000000000b1",
            "bob@example.com",
            "DeltaShare.Writer",
        ),
        "D": Caller(
            token_factory,
            "00000000-0000-4000-8000-0000000000d1",
            "dana@example.com",
            "DeltaShare.Admin",
        ),
    }


def upload(client: TestClient, who: Caller, text: str) -> dict[str, Any]:
    response = client.post(
        UPLOAD,
        files={"file": ("sales.yaml", text.encode(), "application/x-yaml")},
        headers=who.headers,
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def withdraw(client: TestClient, who: Caller, pack_id: str, version: int, **body: Any) -> Any:
    # No body at all when there is nothing to say: the body is optional.
    return client.post(
        f"/workflow/sharepack/{pack_id}/versions/{version}/withdraw",
        json=body or None,
        headers=who.headers,
    )


def test_withdraw_by_the_uploader_and_the_problems_around_it(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(auth=True, approval="destructive")
    a, b = people["A"], people["B"]
    held = upload(
        client,
        a,
        sample_pack(emu.url).replace("approver_status: approved", "approver_status: pending"),
    )
    pack_id = held["share_pack_id"]
    assert held["status"] == "PENDING_APPROVAL"

    refused = withdraw(client, b, pack_id, 1)
    assert (refused.status_code, refused.json()["code"]) == (403, "withdraw_not_allowed")
    missing_pack = withdraw(client, a, UNKNOWN, 1)
    assert (missing_pack.status_code, missing_pack.json()["code"]) == (404, "sharepack_not_found")
    missing_version = withdraw(client, a, pack_id, 9)
    assert (missing_version.status_code, missing_version.json()["code"]) == (
        404,
        "sharepack_not_found",
    )
    bad_body = withdraw(client, a, pack_id, 1, reason="x")
    assert bad_body.status_code == 422

    done = withdraw(client, a, pack_id, 1, comment="wrong ticket")
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["previous_status"], body["status"]) == ("PENDING_APPROVAL", "WITHDRAWN")
    assert body["withdrawn_by"]["id"] == a.oid
    assert body["comment"] == "wrong ticket"

    again = withdraw(client, a, pack_id, 1)
    assert (again.status_code, again.json()["code"]) == (409, "not_withdrawable")
    assert again.json()["version_status"] == "WITHDRAWN"

    status = client.get(f"/workflow/sharepack/{pack_id}", headers=a.headers).json()
    assert status["status"] == "WITHDRAWN"
    listed = client.get("/workflow/sharepacks", params={"status": "withdrawn"}, headers=a.headers)
    assert [item["share_pack_id"] for item in listed.json()["items"]] == [pack_id]
    record = client.get(f"/workflow/sharepack/{pack_id}/history", headers=a.headers).json()
    last = record["versions"][0]["transitions"][-1]
    assert (last["from_status"], last["to_status"], last["actor"]) == (
        "PENDING_APPROVAL",
        "WITHDRAWN",
        a.oid,
    )
    assert last["reason"].endswith(": wrong ticket")

    # The audit trail keeps who withdrew what.
    ctx = client.app.state.workflow  # type: ignore[attr-defined]
    with ctx.pool.connection() as conn:
        rows = conn.execute(
            "SELECT actor_id FROM deltashare.audit_trail WHERE action = 'sharepack.withdraw' "
            "AND share_pack_id = %s",
            (pack_id,),
        ).fetchall()
    assert [r["actor_id"] for r in rows] == [a.oid]


def test_an_admin_withdraws_a_queued_version_and_the_worker_drops_its_message(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(auth=True, approval="destructive")
    a, d = people["A"], people["D"]
    queued = upload(client, a, sample_pack(emu.url))
    assert (queued["status"], queued["enqueue"]) == ("QUEUED", "sent")
    pack_id = queued["share_pack_id"]

    done = withdraw(client, d, pack_id, 1)
    assert done.status_code == 200, done.text
    assert done.json()["previous_status"] == "QUEUED"

    ctx = client.app.state.workflow  # type: ignore[attr-defined]
    handled: list[Any] = []

    def handler(share_pack_id: Any, version: int, cancel: threading.Event) -> Outcome:
        handled.append((share_pack_id, version))
        raise AssertionError("a withdrawn version must not run")

    consumer = Consumer(
        pool=ctx.pool,
        queue=ctx.queue,
        handler=handler,
        settings=ctx.settings.workflow,
        conninfo=ctx.settings.workflow.database_url,
    )
    assert consumer.poll_once("test:1:1") == ["dropped"]
    assert handled == []
    assert emu.mutating_total() == 0
    status = client.get(f"/workflow/sharepack/{pack_id}", headers=a.headers).json()
    assert status["status"] == "WITHDRAWN"


def test_a_completed_version_cannot_be_withdrawn(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(auth=True, approval="destructive")
    a = people["A"]
    rejected = upload(
        client,
        a,
        sample_pack(emu.url).replace("approver_status: approved", "approver_status: declined"),
    )
    refused = withdraw(client, a, rejected["share_pack_id"], 1)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_withdrawable")


def test_diff_between_two_versions_and_its_problems(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(auth=True, approval="destructive")
    a = people["A"]
    pending = "approver_status: pending"
    first = upload(client, a, sample_pack(emu.url).replace("approver_status: approved", pending))
    pack_id = first["share_pack_id"]
    second = upload(
        client, a, second_version(emu.url).replace("approver_status: approved", pending)
    )
    assert second["version"] == 2

    response = client.get(f"/workflow/sharepack/{pack_id}/versions/1/diff/2", headers=a.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from_version"], body["to_version"]) == (1, 2)
    assert body["from_record_hash"] != body["to_record_hash"]
    changes = {(c["path"], c["change"]): c for c in body["document"]["changes"]}
    assert body["document"]["count"] == len(body["document"]["changes"]) > 0
    added = [c for (path, kind), c in changes.items() if kind == "added" and "beta_partner" in path]
    assert added, changes.keys()
    assert any(
        c["to"] == "beta_partner" or "beta_partner" in path for (path, _), c in changes.items()
    )
    # Neither version was held by the worker with a plan: no plan-level part.
    assert body["plan"] is None

    same = client.get(f"/workflow/sharepack/{pack_id}/versions/2/diff/2", headers=a.headers).json()
    assert same["document"] == {"changes": [], "count": 0}
    reverse = client.get(
        f"/workflow/sharepack/{pack_id}/versions/2/diff/1", headers=a.headers
    ).json()
    assert reverse["document"]["count"] == body["document"]["count"]

    for path, code in (
        (f"/workflow/sharepack/{UNKNOWN}/versions/1/diff/2", "sharepack_not_found"),
        (f"/workflow/sharepack/{pack_id}/versions/1/diff/7", "sharepack_not_found"),
        ("/workflow/sharepack/not-a-uuid/versions/1/diff/2", "sharepack_not_found"),
    ):
        problem = client.get(path, headers=a.headers)
        assert (problem.status_code, problem.json()["code"]) == (404, code), path
    assert (
        "No version 7"
        in client.get(f"/workflow/sharepack/{pack_id}/versions/1/diff/7", headers=a.headers).json()[
            "detail"
        ]
    )
    zero = client.get(f"/workflow/sharepack/{pack_id}/versions/0/diff/1", headers=a.headers)
    assert zero.status_code == 422
    anonymous = client.get(f"/workflow/sharepack/{pack_id}/versions/1/diff/2")
    assert anonymous.status_code == 401


def settle(client: TestClient, who: Caller, pack_id: str, version: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        status = dict(client.get(f"/workflow/sharepack/{pack_id}", headers=who.headers).json())
        if status["current_version"] == version and status["status"] not in {
            "QUEUED",
            "IN_PROGRESS",
        }:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_diff_of_two_held_versions_compares_their_plans(
    workflow_api: Callable[..., TestClient], people: dict[str, Caller], emu: Any
) -> None:
    client = workflow_api(inline=True, auth=True, approval="destructive")
    a = people["A"]
    pack_id = upload(client, a, sample_pack(emu.url))["share_pack_id"]
    assert settle(client, a, pack_id, 1)["status"] == "PENDING_APPROVAL"
    upload(client, a, second_version(emu.url))
    held = settle(client, a, pack_id, 2)
    assert held["status"] == "PENDING_APPROVAL"

    body = client.get(f"/workflow/sharepack/{pack_id}/versions/1/diff/2", headers=a.headers).json()
    plan = body["plan"]
    assert plan is not None
    assert plan["to_digest"] == held["approval_plan"]["digest"]
    assert plan["from_digest"] != plan["to_digest"]
    assert "create open-sharing recipient beta_partner" in plan["destructive_added"]
    keys = {(c["key"], c["change"]) for c in plan["changes"]}
    assert ("create recipient beta_partner", "added") in keys

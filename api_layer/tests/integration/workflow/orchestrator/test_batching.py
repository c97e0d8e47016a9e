"""I8: batch and call limits of share updates and grants, seen in the emulator's call log."""

from __future__ import annotations

from typing import Any

import pytest

from dbrx_api.workflow.context import WorkflowContext
from dbrx_emulator.testing import Emu
from fixtures.orchestrator import provision, seed_with_views, store_yaml, views_pack

pytestmark = pytest.mark.integration

VIEWS = [f"bulk.views.v{i:03d}" for i in range(250)]


def object_calls(emu: Emu) -> list[list[tuple[str, str]]]:
    """`(action, name)` of every `shares.update` call, in order."""
    return [
        [(u["action"], u["data_object"]["name"]) for u in call["body"].get("updates") or []]
        for call in emu.calls("shares.update")
    ]


def assert_call_limits(calls: list[list[tuple[str, str]]]) -> None:
    for updates in calls:
        names = [name.lower() for _, name in updates]
        assert len(updates) <= 100
        assert len(names) == len(set(names))  # each object at most once per call


def test_250_assets_are_added_in_three_calls_and_granted_in_one(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    orch_emu.reset(seed=seed_with_views("bulk", "views", 250))
    stored = store_yaml(orch_ctx.pool, views_pack(orch_emu.url, {"bulk_share": VIEWS}))

    report = provision(orch_ctx, stored)

    assert report.outcome.result == "COMPLETED", report.outcome
    calls = object_calls(orch_emu)
    assert [len(c) for c in calls] == [100, 100, 50]
    assert_call_limits(calls)
    assert sorted(name for c in calls for _, name in c) == VIEWS
    assert orch_emu.count("shares.update_permissions") == 1
    (grant,) = orch_emu.calls("shares.update_permissions")
    assert grant["body"]["changes"] == [{"principal": "bulk_partner", "add": ["SELECT"]}]
    info = orch_emu.workspace_client().shares.get("bulk_share", include_shared_data=True)
    assert len(info.objects or []) == 250


def test_removals_go_first_and_a_recreated_object_is_added_in_a_later_call(
    orch_ctx: WorkflowContext, orch_emu: Emu
) -> None:
    orch_emu.reset(seed=seed_with_views("bulk", "views", 250))
    first = store_yaml(orch_ctx.pool, views_pack(orch_emu.url, {"bulk_share": VIEWS}))
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    orch_emu.reset_stats()
    kept = VIEWS[:100]
    text = views_pack(orch_emu.url, {"bulk_share": kept}).replace(
        "{name: bulk.views.v000, type: VIEW}",
        "{name: bulk.views.v000, type: VIEW, shared_as: views.first}",
    )
    second = store_yaml(orch_ctx.pool, text)

    report = provision(orch_ctx, second)

    assert report.outcome.result == "COMPLETED", report.outcome
    calls = object_calls(orch_emu)
    assert_call_limits(calls)
    flat = [
        (index, action, name) for index, updates in enumerate(calls) for action, name in updates
    ]
    removed = {name for _, action, name in flat if action == "REMOVE"}
    assert removed == {*VIEWS[100:], "bulk.views.v000"}
    assert len(calls) == 2  # 151 removals and one re-addition: ceil(152 / 100)
    (remove_at,) = [
        i for i, action, name in flat if name == "bulk.views.v000" and action == "REMOVE"
    ]
    (add_at,) = [i for i, action, name in flat if name == "bulk.views.v000" and action == "ADD"]
    assert remove_at < add_at
    assert all(action == "REMOVE" for _, action, _ in flat[: len(removed)])
    objects = {
        o.name: o
        for o in orch_emu.workspace_client()
        .shares.get("bulk_share", include_shared_data=True)
        .objects
        or []
    }
    assert set(objects) == set(kept)
    assert objects["bulk.views.v000"].shared_as == "views.first"
    assert orch_emu.count("shares.update_permissions") == 0  # grants unchanged: no call


def test_grant_changes_of_a_share_make_one_call(orch_ctx: WorkflowContext, orch_emu: Emu) -> None:
    orch_emu.reset(seed=seed_with_views("bulk", "views", 3))
    views = [f"bulk.views.v{i:03d}" for i in range(3)]
    first = store_yaml(
        orch_ctx.pool, views_pack(orch_emu.url, {"s1": views}, recipients=("r1", "r2", "r3"))
    )
    assert provision(orch_ctx, first).outcome.result == "COMPLETED"
    orch_emu.reset_stats()
    text = views_pack(orch_emu.url, {"s1": views}, recipients=("r1", "r2", "r3")).replace(
        "recipients: [r1, r2, r3]", "recipients: [r2, r4]"
    )
    text = text.replace(
        "share:\n",
        "  - name: r4\n    type: D2O\n    recipient: ops@example.com\n    recipient_ips: [192.0.2.0/24]\nshare:\n",
        1,
    )
    second = store_yaml(orch_ctx.pool, text)

    report = provision(orch_ctx, second)

    assert report.outcome.result == "COMPLETED", report.outcome
    (call,) = orch_emu.calls("shares.update_permissions")
    changes: list[dict[str, Any]] = call["body"]["changes"]
    assert sorted((c["principal"], "add" in c) for c in changes) == [
        ("r1", False),
        ("r3", False),
        ("r4", True),
    ]
    granted = orch_emu.workspace_client().shares.share_permissions("s1").privilege_assignments or []
    assert {a.principal for a in granted} == {"r2", "r4"}

"""Differences between two stored versions (docs/API.md §12.3.4): pure functions over the canonical documents and
the stored plans."""

from __future__ import annotations

from dbrx_api.workflow.version_diff import document_changes, plan_changes


def test_named_entries_are_compared_by_name_and_plain_lists_as_sets() -> None:
    old = {
        "metadata": {"comment": "a", "approver": ["x@example.com", "y@example.com"]},
        "recipient": [{"name": "r1", "type": "D2O"}, {"name": "r2", "type": "D2D"}],
    }
    new = {
        "metadata": {
            "comment": "b",
            "approver": ["y@example.com", "z@example.com"],
            "servicenow": "RITM1",
        },
        "recipient": [{"name": "r2", "type": "D2D"}, {"name": "r3", "type": "D2O"}],
    }
    body = document_changes(old, new)
    got = {(c["path"], c["change"], str(c["from"]), str(c["to"])) for c in body["changes"]}
    assert got == {
        ("metadata.comment", "changed", "a", "b"),
        ("metadata.approver", "added", "None", "z@example.com"),
        ("metadata.approver", "removed", "x@example.com", "None"),
        ("metadata.servicenow", "added", "None", "RITM1"),
        ("recipient[r1]", "removed", str({"name": "r1", "type": "D2O"}), "None"),
        ("recipient[r3]", "added", "None", str({"name": "r3", "type": "D2O"})),
    }
    assert body["count"] == 6


def test_reordering_is_no_difference_and_nested_fields_have_a_path() -> None:
    old = {"share": [{"name": "s", "objects": [{"name": "t1", "history": False}, {"name": "t2"}]}]}
    new = {"share": [{"name": "s", "objects": [{"name": "t2"}, {"name": "t1", "history": True}]}]}
    assert document_changes(old, new)["changes"] == [
        {"path": "share[s].objects[t1].history", "change": "changed", "from": False, "to": True}
    ]
    assert document_changes(new, new) == {"changes": [], "count": 0}


def test_unnamed_lists_of_mappings_change_as_a_whole() -> None:
    changes = document_changes({"x": [{"a": 1}]}, {"x": [{"a": 2}]})["changes"]
    assert changes == [{"path": "x", "change": "changed", "from": [{"a": 1}], "to": [{"a": 2}]}]


def test_plan_changes_keyed_by_action_type_and_name_with_destructive_sides() -> None:
    old = {
        "digest": "sha256:1",
        "destructive_changes": ["delete share old_share"],
        "changes": [
            {"action": "delete", "resource_type": "share", "name": "old_share"},
            {
                "action": "update",
                "resource_type": "share_objects",
                "name": "s",
                "diff": {"add": ["t1"]},
            },
        ],
    }
    new = {
        "digest": "sha256:2",
        "destructive_changes": ["create open-sharing recipient r"],
        "changes": [
            {
                "action": "create",
                "resource_type": "recipient",
                "name": "r",
                "after": {"type": "D2O"},
            },
            {
                "action": "update",
                "resource_type": "share_objects",
                "name": "s",
                "diff": {"add": ["t2"]},
            },
        ],
    }
    body = plan_changes(old, new)
    assert (body["from_digest"], body["to_digest"]) == ("sha256:1", "sha256:2")
    assert [(c["key"], c["change"]) for c in body["changes"]] == [
        ("create recipient r", "added"),
        ("delete share old_share", "removed"),
        ("update share_objects s", "changed"),
    ]
    assert body["destructive_added"] == ["create open-sharing recipient r"]
    assert body["destructive_removed"] == ["delete share old_share"]
    assert plan_changes(new, new)["changes"] == []

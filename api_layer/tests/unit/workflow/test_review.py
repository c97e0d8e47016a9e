"""What the reviewer console derives from the history (docs/API.md §17): file locations and the timeline order."""

from __future__ import annotations

from dbrx_api.schemas.workflow import PackHistory
from dbrx_api.workflow.review import issue_location, timeline


def test_issue_locations_of_yaml_and_excel_files() -> None:
    assert issue_location({"loc": "recipient[1].type", "line": 12, "column": 5}) == (
        "recipient[1].type (line 12, column 5)"
    )
    assert issue_location({"loc": "share[0].name", "sheet": "shares", "cell": "B3"}) == (
        "share[0].name (sheet shares, cell B3)"
    )
    assert issue_location({"loc": "metadata"}) == "metadata"
    assert issue_location({}) is None
    assert issue_location(None) is None


def test_the_timeline_orders_events_and_names_actors_the_history_knows() -> None:
    history = PackHistory.model_validate(
        {
            "share_pack_id": "5f0c7d2e-1b7a-4c59-9d51-3e1f0a6b2c11",
            "pack_key": "a/b/c",
            "owners": [{"id": "oid-a", "name": "ann@example.com"}],
            "versions": [
                {
                    "version": 1,
                    "effective_from": "2026-03-01T10:00:00Z",
                    "is_current": True,
                    "record_hash": "h",
                    "strategy": "NEW",
                    "requested_by": {"id": "oid-a", "name": "ann@example.com"},
                    "file": {"name": "sales.yaml"},
                    "transitions": [
                        {
                            "from_status": None,
                            "to_status": "RECEIVED",
                            "at": "2026-03-01T10:00:00Z",
                            "actor": "oid-a",
                        },
                        {
                            "from_status": "PENDING_APPROVAL",
                            "to_status": "QUEUED",
                            "at": "2026-03-01T10:05:00Z",
                            "actor": "oid-j",
                        },
                    ],
                    "approvals": [
                        {
                            "decision": "approve",
                            "decided_by": {"id": "oid-j", "name": "john@example.com"},
                            "decided_at": "2026-03-01T10:05:00Z",
                            "comment": "ok",
                        }
                    ],
                    "runs": [
                        {
                            "run_id": "6f0c7d2e-1b7a-4c59-9d51-3e1f0a6b2c11",
                            "attempt": 1,
                            "started_at": "2026-03-01T10:06:00Z",
                            "outcome": "COMPLETED",
                        }
                    ],
                }
            ],
        }
    )
    [(version, events)] = timeline(history)
    assert version.version == 1
    assert [e.kind for e in events] == ["upload", "transition", "transition", "decision", "run"]
    assert events[1].actor == {"id": "oid-a", "name": "ann@example.com"}
    assert events[2].actor == {"id": "oid-j", "name": "john@example.com"}
    assert events[3].title == "approved"
    assert events[3].detail == "ok"

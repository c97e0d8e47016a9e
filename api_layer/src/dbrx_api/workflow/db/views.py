"""Read models of the share-pack endpoints: status object, keyset-paged list and history (docs/API.md §10.3, §12.1-2),
and the recorded access of a workspace at an instant (docs/API.md §16.2).

The functions return plain dicts shaped like the JSON documents of docs/WORKFLOW.md §3 (datetimes and UUIDs as Python
objects; the route serialises them). Runs, steps and transitions of the history are their repositories' records
as dicts (`asdict`): the response model keeps the fields the API shows and drops the rest. The status object is
built from the one joined row of `_STATUS_SELECT`. Reads only; no table scan beyond the indexed ranges.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import DictRow

from dbrx_api.errors import ValidationFailed
from dbrx_api.workflow.db import adapters
from dbrx_api.workflow.db.repositories import (
    approvals,
    owners,
    provisioning_runs,
    provisioning_steps,
    share_packs,
    status_transitions,
    token_rotation_claims,
)

MAX_LIST_LIMIT = 500

_STATUS_SELECT = """
SELECT sp.share_pack_id, sp.pack_key, sp.workspace_url, sp.version AS current_version, sp.strategy,
       pvs.status, pvs.status_detail, pvs.attempts, sp.requested_by, sp.requested_by_name,
       first_version.effective_from AS created_at, pvs.updated_at,
       (SELECT max(done.version) FROM deltashare.pack_version_status done
         WHERE done.share_pack_id = sp.share_pack_id AND done.status = 'COMPLETED') AS last_completed_version,
       sp.approver_status, sp.config -> 'metadata' -> 'approver' AS approver, sp.servicenow,
       sp.warnings, pvs.error, pvs.approval_plan,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.principal_id, 'name', o.principal_name)
                                  ORDER BY o.added_at, o.principal_id), '[]'::jsonb)
          FROM deltashare.share_pack_owners o WHERE o.share_pack_id = sp.share_pack_id) AS owners,
       run.run_id AS run_run_id, run.attempt AS run_attempt, run.started_at AS run_started_at,
       run.ended_at AS run_ended_at, run.outcome AS run_outcome, run.summary AS run_summary
FROM deltashare.share_packs sp
JOIN deltashare.pack_version_status pvs
  ON pvs.share_pack_id = sp.share_pack_id AND pvs.version = sp.version
JOIN deltashare.share_packs first_version
  ON first_version.share_pack_id = sp.share_pack_id AND first_version.version = 1
LEFT JOIN LATERAL (
  SELECT r.run_id, r.attempt, r.started_at, r.ended_at, r.outcome, r.summary
  FROM deltashare.provisioning_runs r
  WHERE r.share_pack_id = sp.share_pack_id AND r.version = sp.version
  ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1
) run ON true
WHERE sp.is_current
"""


def _status_object(row: dict[str, Any]) -> dict[str, Any]:
    warnings = list(row["warnings"] or [])
    summary = row["run_summary"] or {}
    if isinstance(summary, dict) and isinstance(summary.get("warnings"), list):
        warnings.extend(summary["warnings"])
    latest_run = None
    if row["run_run_id"] is not None:
        latest_run = {
            "run_id": row["run_run_id"],
            "attempt": row["run_attempt"],
            "started_at": row["run_started_at"],
            "ended_at": row["run_ended_at"],
            "outcome": row["run_outcome"],
        }
    return {
        "share_pack_id": row["share_pack_id"],
        "pack_key": row["pack_key"],
        "workspace_url": row["workspace_url"],
        "current_version": row["current_version"],
        "strategy": row["strategy"],
        "status": row["status"],
        "status_detail": row["status_detail"],
        "attempts": row["attempts"],
        "requested_by": {"id": row["requested_by"], "name": row["requested_by_name"]},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_completed_version": row["last_completed_version"],
        "governance": {
            "approver_status": row["approver_status"],
            "approver": row["approver"] if row["approver"] is not None else [],
            "servicenow": row["servicenow"],
        },
        "owners": row["owners"],
        "approval_plan": row["approval_plan"] if row["status"] == "PENDING_APPROVAL" else None,
        "warnings": warnings,
        "error": row["error"],
        "latest_run": latest_run,
    }


def status_view(conn: psycopg.Connection[DictRow], share_pack_id: UUID) -> dict[str, Any] | None:
    """The status object of a pack's current version (docs/WORKFLOW.md §3), or None for an unknown pack."""
    query = sql.SQL(_STATUS_SELECT + " AND sp.share_pack_id = %s")
    row = conn.execute(query, (share_pack_id,)).fetchone()
    if row is None:
        return None
    view = _status_object(row)
    if view["latest_run"] is not None:
        view["latest_run"]["steps"] = provisioning_steps.counts(conn, view["latest_run"]["run_id"])
    return view


# ------------------------------------------------------------------------------------------ list


@dataclass(frozen=True)
class PackPage:
    """One page of `GET /workflow/sharepacks`."""

    items: list[dict[str, Any]]
    next_cursor: str | None

    @property
    def count(self) -> int:
        """Number of items in this page."""
        return len(self.items)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}",
        code="validation_failed",
        errors=[{"loc": ["query", field], "msg": message, "type": f"{field}_invalid"}],
    )


def encode_cursor(updated_at: datetime, share_pack_id: UUID) -> str:
    """Opaque keyset cursor: position after the item `(updated_at, share_pack_id)`."""
    raw = json.dumps({"u": updated_at.isoformat(), "id": str(share_pack_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Inverse of `encode_cursor`; a malformed cursor raises `ValidationFailed` (422) naming `cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        updated_at = datetime.fromisoformat(data["u"])
        share_pack_id = UUID(data["id"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as exc:
        raise _invalid("cursor", "not a cursor returned by this endpoint") from exc
    if updated_at.tzinfo is None:
        raise _invalid("cursor", "not a cursor returned by this endpoint")
    return updated_at, share_pack_id


def list_status_views(
    conn: psycopg.Connection[DictRow],
    *,
    statuses: Sequence[str] | None = None,
    requested_by: str | None = None,
    since: datetime | None = None,
    workspace_url: str | None = None,
    pack_key: str | None = None,
    project: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> PackPage:
    """Current versions of all packs, newest `updated_at` first, keyset-paged (docs/API.md §12.1).

    `statuses` filters on the current version's status, `requested_by` on the uploader's principal id or name
    (exact, case-insensitive), `since` on the last status change (inclusive), `workspace_url` on the pack's
    normalised workspace URL (exact; the caller normalises), `pack_key` and `project` on the pack key and the
    project name (exact, case-insensitive). Items are status objects without `latest_run.steps`.
    """
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise _invalid("limit", f"must be between 1 and {MAX_LIST_LIMIT}")
    filters: list[sql.Composable] = []
    params: list[Any] = []
    if statuses:
        filters.append(sql.SQL(" AND pvs.status = ANY(%s)"))
        params.append(list(statuses))
    if requested_by is not None:
        filters.append(
            sql.SQL(
                " AND (lower(sp.requested_by) = lower(%s) OR lower(sp.requested_by_name) = lower(%s))"
            )
        )
        params.extend([requested_by, requested_by])
    if since is not None:
        filters.append(sql.SQL(" AND pvs.updated_at >= %s"))
        params.append(since)
    if workspace_url is not None:
        filters.append(sql.SQL(" AND sp.workspace_url = %s"))
        params.append(workspace_url)
    if pack_key is not None:
        filters.append(sql.SQL(" AND lower(sp.pack_key) = lower(%s)"))
        params.append(pack_key)
    if project is not None:
        filters.append(sql.SQL(" AND lower(sp.project_name) = lower(%s)"))
        params.append(project)
    if cursor is not None:
        after_updated, after_id = decode_cursor(cursor)
        filters.append(sql.SQL(" AND (pvs.updated_at, sp.share_pack_id) < (%s, %s)"))
        params.extend([after_updated, after_id])
    query = sql.Composed(
        [
            sql.SQL(_STATUS_SELECT),
            *filters,
            sql.SQL(" ORDER BY pvs.updated_at DESC, sp.share_pack_id DESC LIMIT %s"),
        ]
    )
    rows = conn.execute(query, [*params, limit + 1]).fetchall()
    items = [_status_object(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last["updated_at"], last["share_pack_id"])
    return PackPage(items=items, next_cursor=next_cursor)


# ------------------------------------------------------------------------------------------ history


def history_view(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, *, include_config: bool = False
) -> dict[str, Any] | None:
    """Every version (oldest first) with its transitions and its runs and steps (docs/API.md §12.2); None if unknown."""
    versions = share_packs.list_versions(conn, share_pack_id)
    if not versions:
        return None
    transitions: dict[int, list[dict[str, Any]]] = {}
    for t in status_transitions.list_for_pack(conn, share_pack_id):
        transitions.setdefault(t.version, []).append(asdict(t))
    decisions: dict[int, list[dict[str, Any]]] = {}
    for d in approvals.list_for_pack(conn, share_pack_id):
        decisions.setdefault(d.version, []).append(
            {
                "decision": d.decision,
                "decided_by": {"id": d.approver_id, "name": d.approver_name},
                "decided_at": d.decided_at,
                "comment": d.comment,
                "plan_digest": d.plan_digest,
                "approved_changes": d.approved_changes,
            }
        )
    runs = provisioning_runs.list_for_pack(conn, share_pack_id)
    steps = provisioning_steps.list_for_runs(conn, [r.run_id for r in runs])
    runs_by_version: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        view = {**asdict(run), "steps": [asdict(step) for step in steps[run.run_id]]}
        runs_by_version.setdefault(run.version, []).append(view)
    return {
        "share_pack_id": share_pack_id,
        "pack_key": versions[-1].pack_key,
        "owners": owners.list_owners(conn, share_pack_id),
        "owner_changes": [
            {
                "principal": {"id": c.principal_id, "name": c.principal_name},
                "change": c.change,
                "actor": c.actor,
                "at": c.at,
            }
            for c in owners.list_changes(conn, share_pack_id)
        ],
        "token_rotations": [
            {
                "workspace_url": c.workspace_url,
                "recipient": c.recipient_name,
                "outcome": (c.result or {}).get("outcome"),
                "rotated_at": c.done_at,
                "performed_by": c.claimed_by,
                "token_id": (c.result or {}).get("token_id"),
                "token_expiration_time": (c.result or {}).get("token_expiration_time"),
                "previous_token_id": c.token_id,
                "previous_token_expiration_time": (c.result or {}).get(
                    "previous_token_expiration_time"
                ),
            }
            for c in token_rotation_claims.list_done_for_pack(conn, share_pack_id)
        ],
        "versions": [
            {
                "version": v.version,
                "effective_from": v.effective_from,
                "effective_to": None if adapters.is_infinity(v.effective_to) else v.effective_to,
                "is_current": v.is_current,
                "record_hash": v.record_hash,
                "changed_by": v.changed_by,
                "change_reason": v.change_reason,
                "strategy": v.strategy,
                "approver_status": v.approver_status,
                "requested_by": {"id": v.requested_by, "name": v.requested_by_name},
                "file": {
                    "name": v.file_name,
                    "format": v.file_format,
                    "sha256": v.file_sha256,
                    "size": v.file_size,
                },
                "warnings": v.warnings,
                "config": v.config if include_config else None,
                "transitions": transitions.get(v.version, []),
                "approvals": decisions.get(v.version, []),
                "runs": runs_by_version.get(v.version, []),
            }
            for v in versions
        ],
    }


# ------------------------------------------------------------------------------------------ access at an instant


@dataclass(frozen=True)
class RecordedShare:
    """A share as recorded at an instant: its managing pack, objects and the recipients that could read it."""

    share_name: str
    share_pack_id: UUID | None
    assets: list[dict[str, Any]]
    readers: list[str]


@dataclass(frozen=True)
class RecordedAccess:
    """Every share recorded in a workspace at an instant, and since when the workspace has any share history."""

    recorded_since: datetime | None
    shares: list[RecordedShare]


# One statement (docs/WORKFLOW.md §5.2, point-in-time reads): the aggregate row always exists, so `recorded_since`
# comes back even when no share was valid at the instant (then one row with a null share). A grantee whose
# `recipients` row valid at the instant marks it deleted is left out: a deleted recipient reads nothing, and the
# share's recorded grant list may still name it until the share's next recorded version.
_ACCESS_AS_OF = """
SELECT span.recorded_since, s.share_name, s.share_pack_id, s.assets, s.readers
FROM (SELECT min(effective_from) AS recorded_since
      FROM deltashare.shares WHERE workspace_url = %(workspace)s) AS span
LEFT JOIN LATERAL (
  SELECT sh.share_name, sh.share_pack_id, sh.assets,
         ARRAY(SELECT g.name FROM jsonb_array_elements_text(sh.recipients) AS g(name)
               WHERE NOT EXISTS (
                 SELECT 1 FROM deltashare.recipients r
                 WHERE r.workspace_url = sh.workspace_url AND r.recipient_name = g.name
                   AND r.effective_from <= %(at)s AND %(at)s < r.effective_to AND r.is_deleted)
               ORDER BY g.name) AS readers
  FROM deltashare.shares sh
  WHERE sh.workspace_url = %(workspace)s
    AND sh.effective_from <= %(at)s AND %(at)s < sh.effective_to AND NOT sh.is_deleted
) AS s ON true
ORDER BY s.share_name
"""


def access_as_of(
    conn: psycopg.Connection[DictRow], workspace_url: str, at: datetime
) -> RecordedAccess:
    """The shares recorded (not deleted) in `workspace_url` at instant `at` (half-open validity ranges), sorted by
    name, each with its objects and the recipients holding `SELECT`; one query whatever the number of shares."""
    rows = conn.execute(_ACCESS_AS_OF, {"workspace": workspace_url, "at": at}).fetchall()
    recorded_since = rows[0]["recorded_since"] if rows else None
    shares = [
        RecordedShare(
            share_name=row["share_name"],
            share_pack_id=row["share_pack_id"],
            assets=list(row["assets"] or []),
            readers=list(row["readers"] or []),
        )
        for row in rows
        if row["share_name"] is not None
    ]
    return RecordedAccess(recorded_since=recorded_since, shares=shares)

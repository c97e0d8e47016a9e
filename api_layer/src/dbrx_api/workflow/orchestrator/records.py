"""What the workflow database recorded for a pack and its resources, as provisioning, plan and DELETE read it.

Loaded in one read transaction at the start of a run (docs/WORKFLOW.md §9.1 step 1). `Recorded` indexes the current rows of
`recipients`, `shares` and `pipelines` by canonical name and says which of them this pack owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.repositories import pipelines, recipients, shares, version_actions
from dbrx_api.workflow.models.pack import AnySharePack, SharePack


@dataclass
class Recorded:
    """Current recorded rows (non-deleted) of the resources a pack manages or names, by lower-case name."""

    share_pack_id: UUID | None
    recipients: dict[str, dict[str, Any]] = field(default_factory=dict)
    shares: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    actions: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # version_actions by action key

    def owned(self, row: Mapping[str, Any] | None) -> bool:
        """The row is recorded for this pack."""
        return (
            row is not None
            and self.share_pack_id is not None
            and row.get("share_pack_id") == self.share_pack_id
        )

    def created(self, row: Mapping[str, Any] | None) -> bool:
        """The row is recorded as created by this pack."""
        return self.owned(row) and bool(row and row.get("created_by_pack"))

    def pipeline_ids(self) -> dict[str, str]:
        """Lower-case pipeline name -> recorded pipeline id, for pipelines this pack records."""
        return {
            key: str(row["databricks_pipeline_id"])
            for key, row in self.pipelines.items()
            if self.owned(row) and row.get("databricks_pipeline_id")
        }

    def job_ids(self, suffix: str) -> dict[str, int]:
        """Lower-case schedule job name -> recorded job id, for pipelines this pack records."""
        return {
            f"{row['pipeline_name']}{suffix}".lower(): int(row["schedule_job_id"])
            for row in self.pipelines.values()
            if self.owned(row) and row.get("schedule_job_id") is not None
        }

    def rotation_done(self, recipient: str) -> bool:
        """The version's rotation of `recipient` is recorded as done."""
        row = self.actions.get(version_actions.rotate_token_key(recipient))
        return row is not None and row.get("done_at") is not None


def _by_name(rows: Iterable[dict[str, Any]], column: str) -> dict[str, dict[str, Any]]:
    return {str(row[column]).lower(): row for row in rows}


def load_recorded(
    conn: psycopg.Connection[DictRow],
    pack: AnySharePack,
    *,
    workspace_url: str,
    share_pack_id: UUID | None,
    version: int | None,
) -> Recorded:
    """The rows of this pack in the workspace plus the rows of every resource the pack names (any pack)."""
    recipient_names = [recipient.name for recipient in pack.recipient]
    share_names = [share.name for share in pack.share]
    pipeline_names: list[str] = []
    if isinstance(pack, SharePack):
        for share in pack.share:
            for key in ("recipients", "recipients_to_add", "recipients_to_remove"):
                recipient_names.extend(getattr(share, key) or [])
            pipeline_names.extend(p.name_prefix for p in share.pipelines or [])
    else:
        for ref in pack.share:
            pipeline_names.extend(ref.pipelines or [])
    recorded = Recorded(share_pack_id=share_pack_id)
    recorded.recipients = _by_name(
        recipients.list_current(conn, workspace_url=workspace_url, names=recipient_names),
        "recipient_name",
    )
    recorded.shares = _by_name(
        shares.list_current(conn, workspace_url=workspace_url, names=share_names), "share_name"
    )
    recorded.pipelines = _by_name(
        pipelines.list_current(conn, workspace_url=workspace_url, names=pipeline_names),
        "pipeline_key",
    )
    if share_pack_id is not None:
        for row in recipients.list_current(
            conn, workspace_url=workspace_url, share_pack_id=share_pack_id
        ):
            recorded.recipients.setdefault(str(row["recipient_name"]), row)
        for row in shares.list_current(
            conn, workspace_url=workspace_url, share_pack_id=share_pack_id
        ):
            recorded.shares.setdefault(str(row["share_name"]), row)
        for row in pipelines.list_current(
            conn, workspace_url=workspace_url, share_pack_id=share_pack_id
        ):
            recorded.pipelines.setdefault(str(row["pipeline_key"]), row)
        if version is not None:
            recorded.actions = {
                str(row["action_key"]): row
                for row in version_actions.list_for_version(conn, share_pack_id, version)
            }
    return recorded

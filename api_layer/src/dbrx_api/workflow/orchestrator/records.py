"""What the workflow database recorded for a pack and its resources, as provisioning, plan and DELETE read it.

Loaded in one read transaction at the start of a run (docs/WORKFLOW.md §9.1 step 1). `Recorded` indexes the current rows of
`recipients`, `shares` and `pipelines` by canonical name and says which of them this pack owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.repositories import pipelines, recipients, shares, version_actions
from dbrx_api.workflow.db.repositories.records import (
    AnyRecord,
    PipelineRecord,
    RecipientRecord,
    ShareRecord,
)
from dbrx_api.workflow.db.repositories.version_actions import VersionAction
from dbrx_api.workflow.models.pack import AnySharePack, SharePack


@dataclass
class Recorded:
    """Current records (non-deleted) of the resources a pack manages or names, by lower-case name."""

    share_pack_id: UUID | None
    recipients: dict[str, RecipientRecord] = field(default_factory=dict)
    shares: dict[str, ShareRecord] = field(default_factory=dict)
    pipelines: dict[str, PipelineRecord] = field(default_factory=dict)
    actions: dict[str, VersionAction] = field(default_factory=dict)  # by action key

    def owned(self, rec: AnyRecord | None) -> bool:
        """The resource is recorded for this pack."""
        return (
            rec is not None
            and self.share_pack_id is not None
            and rec.share_pack_id == self.share_pack_id
        )

    def created(self, rec: AnyRecord | None) -> bool:
        """The resource is recorded as created by this pack."""
        return self.owned(rec) and bool(rec and rec.created_by_pack)

    def pipeline_ids(self) -> dict[str, str]:
        """Lower-case pipeline name -> recorded pipeline id, for pipelines this pack records."""
        return {
            key: rec.databricks_pipeline_id
            for key, rec in self.pipelines.items()
            if self.owned(rec) and rec.databricks_pipeline_id
        }

    def job_ids(self, suffix: str) -> dict[str, int]:
        """Lower-case schedule job name -> recorded job id, for pipelines this pack records."""
        return {
            f"{rec.pipeline_name}{suffix}".lower(): rec.schedule_job_id
            for rec in self.pipelines.values()
            if self.owned(rec) and rec.schedule_job_id is not None
        }

    def rotation_done(self, recipient: str) -> bool:
        """The version's rotation of `recipient` is recorded as done."""
        row = self.actions.get(version_actions.rotate_token_key(recipient))
        return row is not None and row.done_at is not None


def _by_name[R](records: Iterable[R], name_of: Callable[[R], str]) -> dict[str, R]:
    return {name_of(rec).lower(): rec for rec in records}


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
        lambda rec: rec.recipient_name,
    )
    recorded.shares = _by_name(
        shares.list_current(conn, workspace_url=workspace_url, names=share_names),
        lambda rec: rec.share_name,
    )
    recorded.pipelines = _by_name(
        pipelines.list_current(conn, workspace_url=workspace_url, names=pipeline_names),
        lambda rec: rec.pipeline_key,
    )
    if share_pack_id is not None:
        for recipient in recipients.list_current(
            conn, workspace_url=workspace_url, share_pack_id=share_pack_id
        ):
            recorded.recipients.setdefault(recipient.recipient_name, recipient)
        for share_record in shares.list_current(
            conn, workspace_url=workspace_url, share_pack_id=share_pack_id
        ):
            recorded.shares.setdefault(share_record.share_name, share_record)
        for pipeline in pipelines.list_current(
            conn, workspace_url=workspace_url, share_pack_id=share_pack_id
        ):
            recorded.pipelines.setdefault(pipeline.pipeline_key, pipeline)
        if version is not None:
            recorded.actions = {
                action.action_key: action
                for action in version_actions.list_for_version(conn, share_pack_id, version)
            }
    return recorded

"""DELETE strategy (docs/WORKFLOW.md §9.8): only resources recorded as managed by the pack are deleted.

Targets come from the records alone, never from a name lookup: each listed share's current row (this workspace,
this pack, not deleted; created or adopted by the pack) with every such pipeline row of that share, and each listed
recipient's row. A resource the pack created is deleted. A resource it adopted (`adopted`, V0006) is released: its
row is recorded as deleted with reason `released` and the live object stays, managed by nobody, so another pack
may adopt it; only a DELETE version with `metadata.destroy_adopted: true` deletes adopted resources too. Either way
no live resource stays recorded for a pack that was deleted. Shares go first (their pipelines and schedule jobs
before them), recipients after every share. Before each delete the live object's identity is compared with the
record (share `created_at`, recipient id); a mismatch, or a recipient still granted on a share this run keeps, is
reported as a warning and the object is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbrx_api.workflow.db.repositories import pipelines, recipients, shares
from dbrx_api.workflow.db.repositories._resources import is_adopted
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.db.repositories.records import AnyRecord
from dbrx_api.workflow.models.issues import Issue
from dbrx_api.workflow.models.pack import DeleteSharePack
from dbrx_api.workflow.orchestrator.actions import ORDER, Action, AnyAction, StepType, Verb
from dbrx_api.workflow.orchestrator.apply import Executor
from dbrx_api.workflow.orchestrator.diff import ActionGraph
from dbrx_api.workflow.orchestrator.records import Recorded
from dbrx_api.workflow.orchestrator.steps import RunContext, StepResult
from dbrx_api.workflow.resources import RECIPIENT, SHARE, Deletion, kind_for
from dbrx_api.workflow.resources.pipeline import DeleteWork
from dbrx_api.workflow.resources.pipeline import deletion as pipeline_deletion
from dbrx_api.workflow.validators.locator import PackLocator

DELETE_ORDER = {"pipeline": 1, "share": 2, "recipient": 3}
RELEASE = "release"  # the plan action of an adopted resource a DELETE leaves in place

# The repository that records a released resource, by the resource type of its action.
_SOFT_DELETES: dict[str, Callable[..., object]] = {
    StepType.RECIPIENT: recipients.soft_delete,
    StepType.SHARE: shares.soft_delete,
    StepType.PIPELINE: pipelines.soft_delete,
}


@dataclass
class Release:
    """Executor data of an adopted resource a DELETE pack releases: its record."""

    row: AnyRecord | None


def _released(action: AnyAction) -> AnyAction:
    """`action` turned into the release of its adopted resource (no Databricks call; the row is closed)."""
    action.work = Release(_row_of(action))
    action.plan_kind = RELEASE
    action.calls = 0
    action.drops_tables = None
    action.reason = "adopted by this pack: released and left in place (destroy_adopted is not set)"
    return action


def run_release(ctx: RunContext, action: AnyAction) -> StepResult:
    """Record an adopted resource as no longer managed (reason `released`) without touching it."""
    soft_delete = _SOFT_DELETES[action.resource_type]

    def write(conn: Any) -> object:
        return soft_delete(
            conn,
            ctx.workspace_url,
            action.name,
            changed_by=ctx.actor,
            reason="released",
            **ctx.bookkeeping(),
        )

    return StepResult(
        StepOutcome.NOOP,
        detail={"released": True},
        writes=[write],
        audit_action=f"{action.resource_type}.release",
    )


def _row_for[R: AnyRecord](recorded: Recorded, rows: Mapping[str, R], name: str) -> R | None:
    row = rows.get(name.lower())
    return row if recorded.owned(row) else None


def _row_of(action: AnyAction) -> AnyRecord | None:
    work = action.work
    return work.row if isinstance(work, (Deletion, DeleteWork)) else None


def _is_adopted(row: AnyRecord | None) -> bool:
    return row is not None and is_adopted(row)


def build_delete_graph(
    pack: DeleteSharePack,
    recorded: Recorded,
    locator: PackLocator,
    *,
    already_deleted: set[tuple[str, str]],
) -> ActionGraph:
    """Delete actions for the recorded targets; `delete_not_recorded` for names without a record.

    `already_deleted` holds `(resource_type, name)` whose current row is a deletion recorded for this pack: a
    re-run skips them quietly and makes no call.
    """
    actions: list[AnyAction] = []
    warnings: list[Issue] = []

    def warn(path: str, msg: str) -> None:
        warnings.append(
            Issue.at("delete_not_recorded", "warning", path, msg, locator.position(path))
        )

    share_keys: list[str] = []
    for ref in pack.share:
        path = locator.share(ref.name)
        row = _row_for(recorded, recorded.shares, ref.name)
        if row is None:
            if (SHARE.resource_type, ref.name.lower()) not in already_deleted:
                warn(
                    path,
                    f'share "{ref.name}" is not recorded as managed by this pack; it is skipped.',
                )
            continue
        owned_pipelines = sorted(
            (
                prow
                for prow in recorded.pipelines.values()
                if recorded.owned(prow) and prow.share_name == ref.name.lower()
            ),
            key=lambda prow: prow.pipeline_key,
        )
        pipeline_keys = set()
        for prow in owned_pipelines:
            action = pipeline_deletion(
                prow,
                f"share {ref.name} is deleted",
                job_calls=1 if prow.schedule_job_id is not None else 0,
            )
            actions.append(action)
            pipeline_keys.add(action.key)
        listed = {name.lower() for name in ref.pipelines or []}
        known = {prow.pipeline_key for prow in owned_pipelines}
        for name in sorted(listed - known):
            warn(
                f"{path}.pipelines",
                f'pipeline "{name}" is not recorded for share "{ref.name}" in this pack; nothing to delete.',
            )
        share_action = Action(
            SHARE.resource_type,
            ref.name,
            Verb.DELETE,
            Deletion(row),
            order=ORDER["delete"] + 1,
            deps=pipeline_keys,
            calls=1,
            reason="listed for deletion",
        )
        actions.append(share_action)
        share_keys.append(share_action.key)
    for recipient_ref in pack.recipient:
        path = locator.recipient(recipient_ref.name)
        recipient_row = _row_for(recorded, recorded.recipients, recipient_ref.name)
        if recipient_row is None:
            if (RECIPIENT.resource_type, recipient_ref.name.lower()) not in already_deleted:
                warn(
                    path,
                    f'recipient "{recipient_ref.name}" is not recorded as managed by this pack; it is skipped.',
                )
            continue
        actions.append(
            Action(
                RECIPIENT.resource_type,
                recipient_ref.name,
                Verb.DELETE,
                Deletion(recipient_row),
                order=ORDER["delete"] + 2,
                deps=set(share_keys),
                calls=1,
                reason="listed for deletion",
            )
        )
    if not pack.metadata.destroy_adopted:
        actions = [
            _released(action) if _is_adopted(_row_of(action)) else action for action in actions
        ]
    actions.sort(key=lambda action: (action.order, action.name.lower()))
    for seq, action in enumerate(actions, start=1):
        action.seq = seq
    return ActionGraph(actions, warnings)


# ------------------------------------------------------------------------------------------ executors


def delete_executor(action: AnyAction) -> Executor:
    """The executor of a DELETE-pack action: its kind's."""
    if isinstance(action.work, Release):
        return run_release
    kind = kind_for(action.resource_type)
    if kind is None:
        raise ValueError(f"no DELETE executor for {action.key}")
    return kind.delete

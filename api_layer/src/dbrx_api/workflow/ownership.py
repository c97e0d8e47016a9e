"""One managing pack per resource (docs/WORKFLOW.md §9.10).

A recipient, share, pipeline or schedule job whose current, not-deleted row in `recipients`, `shares` or
`pipelines` records share pack A cannot be declared by another pack B of the same workspace. Two places enforce it:

* `managed_elsewhere` runs while a pack is validated against the database: inside the upload transaction before the
  version is stored, and in the read-only transaction of `plan`. Every declaration of a resource managed by another
  pack becomes a located `resource_managed_by_other_pack` error naming that pack (id and pack key); the upload is
  then rejected (422) and nothing is stored.
* `guard_executor` wraps the executors of a run: an action on a resource that is, at the moment the step starts,
  recorded for another pack (two packs' uploads raced past validation) fails with the step error
  `resource_managed_by_other_pack` before any Databricks call, instead of moving the row to the running pack.

A reference is not a declaration: naming another pack's recipient in a share's grant lists stays allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.connection import transaction
from dbrx_api.workflow.db.repositories import pipelines, recipients, share_packs, shares
from dbrx_api.workflow.db.repositories.records import AnyRecord, PipelineRecord
from dbrx_api.workflow.models.errors import SharePackInvalid
from dbrx_api.workflow.models.issues import Issue
from dbrx_api.workflow.models.pack import AnySharePack, SharePack
from dbrx_api.workflow.sharepack import LoadedPack
from dbrx_api.workflow.validators.locator import PackLocator

if TYPE_CHECKING:
    from dbrx_api.workflow.orchestrator.actions import AnyAction
    from dbrx_api.workflow.orchestrator.steps import RunContext, StepFailure, StepResult

CODE = "resource_managed_by_other_pack"

_LIST_CURRENT: dict[str, Callable[..., Sequence[AnyRecord]]] = {
    "recipient": recipients.list_current,
    "share": shares.list_current,
    "pipeline": pipelines.list_current,
}

_HINT = (
    "A resource has one managing pack. Remove it from that pack (or list it in that pack's DELETE) first; "
    "to grant another pack's recipient on a share, name it only in the share's recipients."
)


@dataclass(frozen=True, slots=True)
class Declaration:
    """One resource a pack declares: type, name and the path of its entry in the file."""

    resource_type: str  # recipient | share | pipeline
    name: str
    path: str


def declarations(pack: SharePack, locator: PackLocator) -> Iterator[Declaration]:
    """The recipients, shares and pipelines (with their schedule jobs) the pack declares, in file terms."""
    for recipient in pack.recipient:
        yield Declaration("recipient", recipient.name, locator.recipient(recipient.name))
    for share in pack.share:
        yield Declaration("share", share.name, locator.share(share.name))
        for pipeline in share.pipelines or []:
            yield Declaration(
                "pipeline", pipeline.name_prefix, locator.pipeline(pipeline.name_prefix)
            )


def _recorded_rows(
    conn: psycopg.Connection[DictRow], workspace_url: str, found: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], AnyRecord]:
    """Current, not-deleted records of `(resource_type, name)` pairs, by `(resource_type, lower-case name)`."""
    names: dict[str, list[str]] = {"recipient": [], "share": [], "pipeline": []}
    for resource_type, name in found:
        names[resource_type].append(name)
    return {
        (resource_type, rec.key): rec
        for resource_type, wanted in names.items()
        if wanted
        for rec in _LIST_CURRENT[resource_type](conn, workspace_url=workspace_url, names=wanted)
    }


def _pack_keys(conn: psycopg.Connection[DictRow], pack_ids: set[UUID]) -> dict[UUID, str]:
    keys: dict[UUID, str] = {}
    for pack_id in pack_ids:
        row = share_packs.get_current(conn, pack_id)
        keys[pack_id] = str(row.pack_key) if row is not None else "unknown"
    return keys


def managed_elsewhere(
    conn: psycopg.Connection[DictRow],
    pack: AnySharePack,
    locator: PackLocator,
    *,
    workspace_url: str,
    pack_key: str,
) -> list[Issue]:
    """`resource_managed_by_other_pack` errors, in file order, for every resource of `pack` recorded in
    `workspace_url` for a pack other than the one with `pack_key`. Writes nothing.

    DELETE packs declare nothing (their names are checked by the DELETE strategy).
    """
    if not isinstance(pack, SharePack):
        return []
    found = list(declarations(pack, locator))
    if not found:
        return []
    own = share_packs.get_current_by_key(conn, pack_key)
    own_id: UUID | None = own.share_pack_id if own is not None else None
    rows = _recorded_rows(conn, workspace_url, [(d.resource_type, d.name) for d in found])
    conflicts: list[tuple[Declaration, AnyRecord, UUID]] = []
    for declaration in found:
        row = rows.get((declaration.resource_type, declaration.name.lower()))
        owner = row.share_pack_id if row is not None else None
        if row is not None and owner is not None and owner != own_id:
            conflicts.append((declaration, row, owner))
    if not conflicts:
        return []
    keys = _pack_keys(conn, {owner_id for _, _, owner_id in conflicts})
    issues: list[Issue] = []
    for declaration, row, owner_id in conflicts:
        what = f'{declaration.resource_type} "{declaration.name}"'
        if isinstance(row, PipelineRecord) and row.schedule_job_id is not None:
            what += f" (with its schedule job {row.schedule_job_id})"
        issues.append(
            Issue.at(
                CODE,
                "error",
                declaration.path,
                f'{what} is managed by share pack {owner_id} (pack key "{keys[owner_id]}"); '
                "another pack cannot declare it.",
                locator.position(declaration.path),
                input_value=declaration.name,
                hint=_HINT,
            )
        )
    return sorted(issues, key=lambda issue: locator.position(issue.loc).sort_key())


def reject_managed_elsewhere(
    conn: psycopg.Connection[DictRow], loaded: LoadedPack, *, workspace_url: str
) -> None:
    """Raise the 422 of an upload or plan whose pack declares resources another pack manages.

    Raises:
        SharePackInvalid: 422 `sharepack_invalid` listing every `resource_managed_by_other_pack` error (and the
            pack's warnings).
    """
    issues = managed_elsewhere(
        conn,
        loaded.model,
        loaded.locator,
        workspace_url=workspace_url,
        pack_key=loaded.pack_key,
    )
    if issues:
        raise SharePackInvalid(issues, loaded.warnings)


# ------------------------------------------------------------------------------------------ run-time guard


_CURRENT: dict[str, Callable[[psycopg.Connection[DictRow], str, str], AnyRecord | None]] = {
    "recipient": recipients.get_current,
    "share": shares.get_current,
    "pipeline": pipelines.get_current,
}


def _recorded_target(action: AnyAction) -> tuple[str, str] | None:
    """The table (`recipient`, `share` or `pipeline`) and name of the record an action writes; None for
    deletions and schemas."""
    if action.kind == "delete":  # Verb.DELETE; the orchestrator package imports this module
        return None  # deletions act only on rows recorded for the running pack
    if action.resource_type in ("recipient", "token"):
        return "recipient", action.name
    if action.resource_type in ("share", "share_objects", "share_grants"):
        return "share", action.name
    if action.resource_type == "pipeline":
        return "pipeline", action.name
    if action.resource_type == "schedule":
        pipeline = getattr(action.work, "pipeline", None)
        name = getattr(pipeline, "name_prefix", None)
        return ("pipeline", str(name)) if name else None
    return None


def _managed_by_other(ctx: RunContext, row: AnyRecord | None) -> UUID | None:
    """The pack managing a recorded row when it is not the running one."""
    owner = row.share_pack_id if row is not None else None
    return None if owner is None or owner == ctx.share_pack_id else owner


def managed_elsewhere_keys(
    conn: psycopg.Connection[DictRow], ctx: RunContext, actions: Sequence[AnyAction]
) -> set[str]:
    """Keys of the actions whose resource another pack is recorded as managing: `refusal`'s check for many
    actions, with one read per table."""
    targets = {action.key: target for action in actions if (target := _recorded_target(action))}
    rows = _recorded_rows(conn, ctx.workspace_url, targets.values())
    return {
        key
        for key, (table, name) in targets.items()
        if _managed_by_other(ctx, rows.get((table, name.lower()))) is not None
    }


def refusal(
    conn: psycopg.Connection[DictRow], ctx: RunContext, action: AnyAction
) -> StepFailure | None:
    """The step failure of an action on a resource another pack is recorded as managing, else None."""
    from dbrx_api.workflow.orchestrator.steps import StepFailure  # apply imports this module

    target = _recorded_target(action)
    if target is None:
        return None
    table, name = target
    owner_id = _managed_by_other(ctx, _CURRENT[table](conn, ctx.workspace_url, name))
    if owner_id is None:
        return None
    key = _pack_keys(conn, {owner_id})[owner_id]
    kind = "recipient" if action.resource_type == "token" else action.resource_type
    return StepFailure(
        CODE,
        f'{kind} "{action.name}" is recorded as managed by share pack {owner_id} '
        f'(pack key "{key}"); this pack cannot take it over. Remove it from one of the packs.',
    )


Executor = Callable[["RunContext", "AnyAction"], "StepResult"]


def guard_executor(
    executor_for: Callable[[AnyAction], Executor],
) -> Callable[[AnyAction], Executor]:
    """Executors that first re-read the action's recorded row and fail when another pack manages it."""

    def guarded_for(action: AnyAction) -> Executor:
        execute = executor_for(action)
        if _recorded_target(action) is None:
            return execute

        def guarded(ctx: RunContext, act: AnyAction) -> StepResult:
            with transaction(ctx.pool) as conn:
                refused = refusal(conn, ctx, act)
            if refused is not None:
                raise refused
            return execute(ctx, act)

        return guarded

    return guarded_for

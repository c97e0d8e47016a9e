"""What every executor shares (docs/WORKFLOW.md §9.9): the per-run context, the step result and its failure type.

The executors live with their resource kind (`workflow.resources`) or in `apply`; the scheduler in `apply` runs them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from dbrx_api.settings import DatabricksSettings
from dbrx_api.workflow.db.connection import Pool
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.db.repositories.records import AnyRecord
from dbrx_api.workflow.models.issues import NO_POS, Issue
from dbrx_api.workflow.orchestrator.actions import AdoptionLookup, AnyAction
from dbrx_api.workflow.orchestrator.calls import CountedWorkspace
from dbrx_api.workflow.orchestrator.live import LiveReader
from dbrx_api.workflow.validators.locator import PackLocator


class StepFailure(Exception):
    """A failure with a stable code decided by an executor (e.g. `rotation_blocked`)."""

    def __init__(self, code: str, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retriable = retriable


RunHook = Callable[[str, AnyAction], None]
"""Test hook called at `before_call`, `after_call` (applied, not yet recorded) and `after_record`."""


def _no_hook(_point: str, _action: AnyAction) -> None:
    return None


@dataclass
class StepResult:
    """What an executor did: outcome, calls, ids, detail, and the writes of the closing transaction."""

    outcome: str
    calls: int = 0
    ids: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    writes: list[Callable[[psycopg.Connection[Any]], object]] = field(default_factory=list)
    audit_action: str | None = None

    @classmethod
    def after(
        cls,
        calls: int,
        *,
        ids: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        writes: list[Callable[[psycopg.Connection[Any]], object]] | None = None,
        audit_action: str | None = None,
    ) -> StepResult:
        """The result of an executor that made `calls` calls: SUCCEEDED when it made any, else NOOP."""
        outcome = StepOutcome.SUCCEEDED if calls else StepOutcome.NOOP
        return cls(outcome, calls, ids, detail or {}, writes or [], audit_action)


@dataclass
class RunContext:
    """Per-run state shared by the executors (the records they build are reused by dependent actions)."""

    pool: Pool
    workspace: CountedWorkspace
    reader: LiveReader
    databricks: DatabricksSettings
    workspace_url: str
    share_pack_id: UUID
    version: int
    run_id: UUID
    actor: str
    request_id: str | None
    adoption: AdoptionLookup
    total_steps: int = 0
    hook: RunHook = _no_hook
    # What a step hands to the steps after it, by (step type, lower-case name): the record a recipient or pipeline
    # step built (its token rotation or schedule step extends it) and the resources this run deleted.
    records: dict[tuple[str, str], object] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    warnings: list[Issue] = field(default_factory=list)
    guard: threading.Lock = field(default_factory=threading.Lock)
    # The version's file positions: warnings carry their line/cell.
    locator: PackLocator | None = None

    def warn(self, code: str, loc: str, msg: str) -> None:
        """A warning found while applying (DELETE identity checks, …), located in the uploaded file."""
        pos = self.locator.position(loc) if self.locator is not None else NO_POS
        with self.guard:
            self.warnings.append(Issue.at(code, "warning", loc, msg, pos))

    def remember(self, step_type: str, name: str, record: object) -> None:
        """Keep the record a step built for the steps that depend on it (thread-safe)."""
        with self.guard:
            self.records[(step_type, name.lower())] = record

    def recalled[R](self, step_type: str, name: str, record_type: type[R]) -> R | None:
        """The record a step of this run kept, None when none did."""
        record = self.records.get((step_type, name.lower()))
        return record if isinstance(record, record_type) else None

    def note_deleted(self, step_type: str, name: str) -> None:
        """Note that this run deleted the resource (or found it gone), for the deletions that depend on it."""
        with self.guard:
            self.deleted.add((step_type, name.lower()))

    def deleted_names(self, step_type: str) -> set[str]:
        """The lower-case names of the resources of a type this run deleted."""
        with self.guard:
            return {name for kind, name in self.deleted if kind == step_type}

    def bookkeeping(self) -> dict[str, Any]:
        """`source_version` and `source_run_id` of SCD2 writes."""
        return {"source_version": self.version, "source_run_id": self.run_id}

    def deletion_write(
        self, soft_delete: Callable[..., object], name: str
    ) -> Callable[[Any], object]:
        """The step's write that records `name` as deleted with a repository's `soft_delete`."""

        def write(conn: Any) -> object:
            return soft_delete(
                conn,
                self.workspace_url,
                name,
                changed_by=self.actor,
                reason="deleted",
                **self.bookkeeping(),
            )

        return write

    def now(self) -> datetime:
        """Wall clock (token activity is decided against it)."""
        return datetime.now(UTC)


def record_reason(created_by_pack: bool, previous: AnyRecord | None, share_pack_id: UUID) -> str:
    """`adopted` the first time this pack records a resource it did not create, else `provisioned`."""
    first_time = previous is None or previous.share_pack_id != share_pack_id
    return "adopted" if first_time and not created_by_pack else "provisioned"


def kept(ctx: RunContext, code: str, loc: str, message: str) -> StepResult:
    """A deletion that keeps the live object: a located warning and a `NOOP` step saying why."""
    ctx.warn(code, loc, message)
    return StepResult(StepOutcome.NOOP, detail={"kept": code})


def kept_recreated(ctx: RunContext, resource_type: str, name: str) -> StepResult:
    """A deletion that keeps an object re-created since this pack recorded it (`delete_identity_mismatch`)."""
    return kept(
        ctx,
        "delete_identity_mismatch",
        f"{resource_type}[{name}]",
        f'{resource_type} "{name}" was re-created after this pack recorded it; it is kept.',
    )


def already_gone(detail: dict[str, Any], write: Callable[[Any], object]) -> StepResult:
    """A deletion whose object is gone already: recorded as deleted, no call."""
    return StepResult(StepOutcome.NOOP, detail={**detail, "already_gone": True}, writes=[write])

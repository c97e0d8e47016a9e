"""Resource kinds: one module per kind of resource a share pack manages ("one room per resource").

A kind's module holds its desired state from the pack, its managed fields with their normalisers and the one
comparison (plan and drift), its actions in the graph, its Databricks calls (through the `dltshr` gateway) and its
recorded row, and its stage-5 live checks (`check_*`, called by `orchestrator.checks`). The generic engine
(`orchestrator.diff`, `apply`, `delete`, `drift`) dispatches to a kind through `kind_for` / `KINDS`. Recipients,
shares, target schemas, pipelines and schedule jobs live here. The export (`workflow.export`, docs/WORKFLOW.md §15)
asks a kind's module how its live object is written as a pack entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from uuid import UUID

    from dbrx_api.settings import Settings
    from dbrx_api.workflow.db.connection import DictConnection
    from dbrx_api.workflow.db.repositories.records import AnyRecord
    from dbrx_api.workflow.models.pack import SharePack
    from dbrx_api.workflow.orchestrator.actions import AnyAction, StepType
    from dbrx_api.workflow.orchestrator.diff import GraphBuilder
    from dbrx_api.workflow.orchestrator.live import LiveReader
    from dbrx_api.workflow.orchestrator.steps import RunContext, StepResult
    from dbrx_api.workflow.validators.locator import PackLocator


class ResourceKind(Protocol):
    """One kind of resource, as the engine sees it."""

    resource_type: StepType  # the resource type of its records and drift items, e.g. RECIPIENT
    action_types: frozenset[StepType]  # the step types of the actions it plans and executes

    def plan(self, graph: GraphBuilder) -> None:
        """Add the NEW/UPDATE actions of the pack's resources of this kind to the graph."""
        ...

    def leftovers(self, graph: GraphBuilder) -> None:
        """Warn about recorded resources of this kind the pack no longer declares."""
        ...

    def execute(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """Run one of its NEW/UPDATE actions."""
        ...

    def delete(self, ctx: RunContext, action: AnyAction) -> StepResult:
        """Run one of its DELETE-pack actions."""
        ...

    def locate(self, action: AnyAction, locator: PackLocator) -> str:
        """The pack entry an action works on, as a path of the uploaded file ("" when it has none)."""
        ...

    def read(self, reader: LiveReader, name: str) -> object | None:
        """The live object (SDK type), None when absent."""
        ...

    # `row` below is a record of this kind (`recorded` returns them): `Any` here, since each kind names its own.
    def drift(
        self, row: Any, pack: SharePack | None, live: Any, settings: Settings
    ) -> list[dict[str, Any]]:
        """Differences between a record (as the recording pack version managed it) and the live object; `settings`
        give the fields a plan sets from them rather than from the pack (a pipeline's, docs/WORKFLOW.md §11)."""
        ...

    def recorded(
        self, conn: DictConnection, workspace_url: str, share_pack_id: UUID | None
    ) -> Sequence[AnyRecord]:
        """The current records drift examines for this kind (of one pack when `share_pack_id` is given)."""
        ...

    def drift_target(self, row: Any, settings: Settings) -> tuple[str, str] | None:
        """`(name in the drift report, what `read` reads it by)` of a record; None: nothing to examine."""
        ...


type Warn = Callable[[str, str], None]
"""How a kind's export function reports a warning `(code, message)` about the entry it writes (the export locates
it, docs/WORKFLOW.md §15)."""


@dataclass
class Deletion:
    """Executor data of a DELETE-pack action of any kind: the record of the resource."""

    row: AnyRecord


def deletion_row[R](action: AnyAction, record_type: type[R]) -> R:
    """The record (of `record_type`) a DELETE-pack action removes."""
    if not isinstance(action.work, Deletion) or not isinstance(action.work.row, record_type):
        raise TypeError(f"{action.key}: not a deletion of a {record_type.__name__}")
    return action.work.row


def work_of[W](action: AnyAction, work_type: type[W], what: str) -> W:
    """An action's executor data, checked to be a `work_type` (`what` names the action in the error)."""
    if not isinstance(action.work, work_type):
        raise TypeError(f"{action.key}: not a {what} action")
    return action.work


def own_previous[R: AnyRecord](previous: R | None, share_pack_id: UUID) -> R | None:
    """A resource's previous record when this pack wrote it (another pack's record carries nothing over)."""
    return previous if previous is not None and previous.share_pack_id == share_pack_id else None


def set_difference(
    field_name: str, recorded: Iterable[str], live: Iterable[str]
) -> dict[str, Any] | None:
    """A drift item for a set: `unexpected_in_workspace` (live only), `missing_in_workspace` (recorded only)."""
    recorded_set, live_set = set(recorded), set(live)
    if recorded_set == live_set:
        return None
    return {
        "field": field_name,
        "unexpected_in_workspace": sorted(live_set - recorded_set),
        "missing_in_workspace": sorted(recorded_set - live_set),
    }


# The kinds import only the helpers above.
from dbrx_api.workflow.resources.pipeline import PIPELINE  # noqa: E402
from dbrx_api.workflow.resources.recipient import RECIPIENT  # noqa: E402
from dbrx_api.workflow.resources.schedule import SCHEDULE  # noqa: E402
from dbrx_api.workflow.resources.schema import SCHEMA  # noqa: E402
from dbrx_api.workflow.resources.share import SHARE  # noqa: E402

KINDS: tuple[ResourceKind, ...] = (RECIPIENT, SHARE, SCHEMA, PIPELINE, SCHEDULE)
"""Every registered kind, in the order they plan (a schedule needs its pipeline's action in the graph)."""

_BY_ACTION_TYPE: dict[str, ResourceKind] = {
    action_type: kind for kind in KINDS for action_type in kind.action_types
}


def kind_for(action_type: str) -> ResourceKind | None:
    """The kind that owns actions of `action_type` (a step type, e.g. `delete_pipeline`), None when none does."""
    return _BY_ACTION_TYPE.get(action_type)


__all__ = [
    "KINDS",
    "PIPELINE",
    "RECIPIENT",
    "SCHEDULE",
    "SCHEMA",
    "SHARE",
    "Deletion",
    "ResourceKind",
    "Warn",
    "deletion_row",
    "kind_for",
    "own_previous",
    "set_difference",
    "work_of",
]

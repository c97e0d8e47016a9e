"""`prepare`: the read → check → diff flow that plan and provisioning share (docs/WORKFLOW.md §9.1, §10).

A NEW / UPDATE pack: prefetch the live state (docs/WORKFLOW.md §9.2), run the live checks over the same cache
(docs/SHAREPACK.md §13.4) and, when none fails, diff desired vs live into the action graph (docs/WORKFLOW.md §9.3). A DELETE pack:
the delete graph of its recorded targets (docs/WORKFLOW.md §9.8), no read. The caller builds the counted workspace once
(`counted_workspace`: mutations allowed behind its guard for a run, `forbid_mutations` for plan and drift) and
maps the result to its own answer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from databricks.sdk import WorkspaceClient

from dbrx_api.settings import Settings
from dbrx_api.workflow.models.issues import Issue
from dbrx_api.workflow.models.pack import AnySharePack, DeleteSharePack
from dbrx_api.workflow.orchestrator.actions import AdoptionLookup
from dbrx_api.workflow.orchestrator.calls import CountedWorkspace, workspace_limiter
from dbrx_api.workflow.orchestrator.checks import RecordedState, run_live_checks
from dbrx_api.workflow.orchestrator.delete import build_delete_graph
from dbrx_api.workflow.orchestrator.diff import ActionGraph, DiffInputs, build_graph
from dbrx_api.workflow.orchestrator.live import LiveReader, PrefetchPlan, prefetch
from dbrx_api.workflow.orchestrator.records import Recorded
from dbrx_api.workflow.validators.locator import PackLocator


def counted_workspace(
    raw: WorkspaceClient,
    *,
    workspace_url: str,
    settings: Settings,
    before_mutation: Callable[[], None],
) -> CountedWorkspace:
    """The workspace client of one run, plan or drift check: counted, bounded per workspace, guarded."""
    return CountedWorkspace(
        raw,
        workspace_url=workspace_url,
        limiter=workspace_limiter(workspace_url, settings.workflow.worker.workspace_max_inflight),
        before_mutation=before_mutation,
    )


@dataclass(frozen=True)
class Prepared:
    """What `prepare` found: the graph to apply, or the failed live checks (`graph` None)."""

    graph: ActionGraph | None
    errors: list[Issue]
    warnings: list[Issue]  # the live checks' warnings, then the graph's
    resolved_types: dict[tuple[str, str], str] = field(default_factory=dict)
    read_calls: int = 0
    mutating_calls: int = 0


def prepare(
    pack: AnySharePack,
    recorded: Recorded,
    *,
    settings: Settings,
    locator: PackLocator,
    reader: LiveReader,
    allowed: Callable[[str], bool],
    reference_time: datetime,
    clock: Callable[[], datetime],
    adoption: AdoptionLookup,
    already_deleted: Collection[tuple[str, str]] = frozenset(),
) -> Prepared:
    """Read (docs/WORKFLOW.md §9.2), check (docs/SHAREPACK.md §13.4) and diff (docs/WORKFLOW.md §9.3) a pack, or build a DELETE pack's graph (docs/WORKFLOW.md §9.8).

    Args:
        reader: the cached reader over the caller's `CountedWorkspace` (the Applier of a run keeps using it).
        allowed: the allowlist test of the live checks (`allowlist_check`).
        reference_time: *T* of the version (docs/WORKFLOW.md §9.6).
        clock: read once, when the diff starts (`now` of the diff).
        adoption: create intents of earlier runs (docs/WORKFLOW.md §9.9); plan passes `no_adoption`.
        already_deleted: DELETE only: names whose recorded deletion is this pack's (a re-run).
    """
    counter = reader.workspace.counter
    if isinstance(pack, DeleteSharePack):
        graph = build_delete_graph(pack, recorded, locator, already_deleted=set(already_deleted))
        return Prepared(graph, [], list(graph.warnings))
    suffix = settings.databricks.schedules.job_name_suffix
    job_ids = recorded.job_ids(suffix)
    prefetch(
        reader,
        PrefetchPlan(pack, recorded.pipeline_ids(), job_ids, suffix),
        parallel=settings.workflow.worker.workspace_max_inflight,
    )
    checks = run_live_checks(
        pack,
        reader,
        allowed=allowed,
        locator=locator,
        recorded=RecordedState(pipeline_ids=recorded.pipeline_ids(), job_ids=job_ids),
        job_name_suffix=suffix,
    )
    if checks.errors:
        return Prepared(
            None,
            checks.errors,
            list(checks.warnings),
            checks.resolved_types,
            read_calls=counter.reads,
            mutating_calls=counter.mutations,
        )
    graph = build_graph(
        DiffInputs(
            pack=pack,
            reader=reader,
            recorded=recorded,
            resolved_types=checks.resolved_types,
            databricks=settings.databricks,
            reference_time=reference_time,
            now=clock(),
            locator=locator,
            adoption=adoption,
        )
    )
    return Prepared(
        graph,
        [],
        [*checks.warnings, *graph.warnings],
        checks.resolved_types,
        read_calls=counter.reads,
        mutating_calls=counter.mutations,
    )

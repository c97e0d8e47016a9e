"""Desired vs live state → the action graph of a NEW/UPDATE run (docs/WORKFLOW.md §9.3), shared by provisioning and plan.

`build_graph` compares the pack with the live objects (read through the run's `LiveReader`) and the recorded
rows, and returns one `Action` per resource: what would be done (`create`, `update`, `delete`, `rotate_token`,
`noop`), the dependencies between actions, the number of mutating calls, a readable diff for `plan`, and the data
the executor in `apply` needs. Actions are numbered in the canonical order (recipients, tokens, shares, share
objects, share grants, target schemas, pipelines, schedules, deletions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from databricks.sdk.service.jobs import BaseJob, Job
from databricks.sdk.service.pipelines import GetPipelineResponse, PipelineSpec

from dbrx_api.settings import DatabricksSettings
from dbrx_api.workflow.models.issues import Issue
from dbrx_api.workflow.models.pack import CronSchedule, Pipeline, Share, SharePack
from dbrx_api.workflow.orchestrator.actions import (
    ORDER,
    Action,
    AdoptionLookup,
    no_adoption,
)
from dbrx_api.workflow.orchestrator.desired import (
    JobChange,
    PipelineTarget,
    desired_job_settings,
    desired_pipeline_spec,
    job_change,
    pipeline_differences,
    pipeline_target,
    schedule_job_name,
)
from dbrx_api.workflow.orchestrator.live import LiveReader, job_pipeline_id
from dbrx_api.workflow.orchestrator.records import Recorded
from dbrx_api.workflow.resources import KINDS
from dbrx_api.workflow.validators.locator import PackLocator

# ------------------------------------------------------------------------------------------ payloads


@dataclass
class SchemaWork:
    """Executor data of a target-schema action."""

    catalog: str
    schema: str


@dataclass
class PipelineWork:
    """Executor data of a pipeline action and of its schedule action."""

    share: Share
    pipeline: Pipeline
    target: PipelineTarget
    desired: PipelineSpec
    live: GetPipelineResponse | None
    created_by_pack: bool
    previous: dict[str, Any] | None
    pipeline_id: str | None = None
    # schedule part
    job: BaseJob | Job | None = None
    job_created_by_pack: bool | None = None
    job_change: JobChange | None = None
    duplicate_jobs: list[int] = field(default_factory=list)
    delete_job_id: int | None = None  # continuous now: the recorded job this pack created goes


@dataclass
class DeleteWork:
    """Executor data of a pipeline deletion (its schedule job first)."""

    row: dict[str, Any]
    reason: str


@dataclass
class ActionGraph:
    """Actions in canonical order (seq 1..n) and the warnings found while diffing."""

    actions: list[Action]
    warnings: list[Issue]

    def by_key(self) -> dict[str, Action]:
        """Actions by step key."""
        return {action.key: action for action in self.actions}

    @property
    def mutating_calls(self) -> int:
        """Mutating calls the graph needs when everything goes as read."""
        return sum(action.calls for action in self.actions)

    def dependants(self, key: str) -> set[str]:
        """Every action that depends, directly or not, on `key`."""
        reverse: dict[str, set[str]] = {}
        for action in self.actions:
            for dep in action.deps:
                reverse.setdefault(dep, set()).add(action.key)
        found: set[str] = set()
        stack = [key]
        while stack:
            for child in reverse.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found


# ------------------------------------------------------------------------------------------ inputs


@dataclass
class DiffInputs:
    """Everything `build_graph` needs; `reader` holds the run's live reads (§9.2)."""

    pack: SharePack
    reader: LiveReader
    recorded: Recorded
    resolved_types: dict[tuple[str, str], str]
    databricks: DatabricksSettings
    reference_time: datetime
    now: datetime
    locator: PackLocator
    adoption: AdoptionLookup = no_adoption


class GraphBuilder:
    """Builds the graph; resource kinds (`workflow.resources`) add their actions through it."""

    def __init__(self, inputs: DiffInputs) -> None:
        self.i = inputs
        self.reader = inputs.reader
        self.recorded = inputs.recorded
        self.actions: list[Action] = []
        self.warnings: list[Issue] = []
        self.strategy = inputs.pack.metadata.strategy

    def warn(self, code: str, path: str, msg: str) -> None:
        self.warnings.append(Issue.at(code, "warning", path, msg, self.i.locator.position(path)))

    def add(self, action: Action) -> Action:
        self.actions.append(action)
        return action

    def adopting(self, action: Action, row: dict[str, Any] | None, created: bool | None) -> None:
        """Mark the action on an existing object as an adoption when no pack records it (§9.10)."""
        unmanaged = row is None or row.get("share_pack_id") is None
        action.adopt = unmanaged and not created

    def presence_warning(self, kind: str, name: str, path: str, *, exists: bool) -> None:
        """NEW on an existing resource, UPDATE creating a missing one (docs/SHAREPACK.md §10.1)."""
        if exists and self.strategy == "NEW":
            self.warn(
                "new_on_existing", path, f'{kind} "{name}" already exists; it will be updated.'
            )
        if not exists and self.strategy == "UPDATE":
            self.warn(
                "update_created_missing",
                path,
                f'{kind} "{name}" does not exist; it will be created.',
            )

    def other_pack(self, row: dict[str, Any] | None, kind: str, name: str, path: str) -> None:
        if row is not None and row.get("share_pack_id") not in (None, self.recorded.share_pack_id):
            self.warn(
                "resource_managed_by_other_pack",
                path,
                f'{kind} "{name}" is recorded as managed by share pack {row["share_pack_id"]}; '
                "its step fails (a resource has one managing pack).",
            )

    def no_longer_in_pack(
        self, kind: str, declared: Iterable[str], rows: Mapping[str, dict[str, Any]]
    ) -> None:
        """Warn about recorded resources an earlier version of the pack managed and this one no longer lists."""
        names = set(declared)
        for name, row in sorted(rows.items()):
            if name not in names and self.recorded.owned(row):
                self.warn(
                    "resource_no_longer_in_pack",
                    kind,
                    f'{kind} "{name}" was managed by an earlier version of this pack; it is left in place.',
                )

    # ---------------------------------------------------------------- schemas, pipelines, schedules

    def pipelines(self) -> None:
        schemas: dict[str, tuple[str, str, bool]] = {}
        for share in self.i.pack.share:
            create = bool(share.delta_share and share.delta_share.create_schema_if_missing)
            for pipeline in share.pipelines or []:
                target = pipeline_target(share, pipeline)
                known = schemas.get(target.schema_full_name)
                schemas[target.schema_full_name] = (
                    target.catalog,
                    target.schema,
                    create or (known[2] if known else False),
                )
        for full_name, (catalog, schema, create) in sorted(schemas.items()):
            exists = self.reader.schema_exists(full_name)
            missing = not exists and create
            self.add(
                Action(
                    "schema",
                    full_name,
                    "create" if missing else "noop",
                    ORDER["schema"],
                    SchemaWork(catalog, schema),
                    calls=1 if missing else 0,
                )
            )
        for share in self.i.pack.share:
            for pipeline in share.pipelines or []:
                self.pipeline(share, pipeline)
        self.deletions()

    def pipeline(self, share: Share, pipeline: Pipeline) -> None:
        defaults = self.i.databricks
        path = self.i.locator.pipeline(pipeline.name_prefix)
        name = pipeline.name_prefix
        row = self.recorded.pipelines.get(name.lower())
        self.other_pack(row, "pipeline", name, path)
        recorded_id = (
            str(row["databricks_pipeline_id"])
            if self.recorded.owned(row) and row and row.get("databricks_pipeline_id")
            else None
        )
        live = self.reader.pipeline(recorded_id) if recorded_id else None
        if live is None:
            matches = self.reader.pipelines_named(name)
            live = matches[0] if len(matches) == 1 else None
        table = self.reader.table(pipeline.source_asset)
        columns = [c.name for c in (table.columns if table else None) or [] if c.name]
        target = pipeline_target(share, pipeline)
        desired = desired_pipeline_spec(
            share, pipeline, defaults=defaults.pipelines, source_columns=columns
        )
        deps = {f"schema:{target.schema_full_name}"}
        self.presence_warning("pipeline", name, path, exists=live is not None)
        if live is None:
            work = PipelineWork(share, pipeline, target, desired, None, True, row)
            after = {
                "catalog": target.catalog,
                "schema": target.schema,
                "target_table": target.full_name,
                "source_table": pipeline.source_asset,
                "scd_type": pipeline.scd_type,
                "continuous": pipeline.is_continuous,
            }
            action = Action(
                "pipeline", name, "create", ORDER["pipeline"], work, deps=deps, calls=1, after=after
            )
        else:
            if (
                recorded_id is not None
                and recorded_id == live.pipeline_id
                and self.recorded.created(row)
            ):
                owned = True
            else:
                owned = self.i.adoption("pipeline", name, live.creator_user_name).created_by_pack
            work = PipelineWork(
                share, pipeline, target, desired, live, owned, row, pipeline_id=live.pipeline_id
            )
            differences = pipeline_differences(desired, live.spec or PipelineSpec())
            action = Action(
                "pipeline",
                name,
                "update" if differences else "noop",
                ORDER["pipeline"],
                work,
                deps=deps,
                calls=1 if differences else 0,
                diff=differences or None,
            )
            self.adopting(action, row, owned)
        self.add(action)
        self.schedule(share, pipeline, work, row)

    def schedule(
        self, share: Share, pipeline: Pipeline, work: PipelineWork, row: dict[str, Any] | None
    ) -> None:
        schedules = self.i.databricks.schedules
        job_name = schedule_job_name(pipeline, schedules)
        path = self.i.locator.pipeline(pipeline.name_prefix)
        owned_row = row if self.recorded.owned(row) else None
        recorded_job = owned_row.get("schedule_job_id") if owned_row else None
        recorded_job_created = bool(owned_row and owned_row.get("schedule_job_created_by_pack"))
        if not isinstance(pipeline.schedule, CronSchedule):
            if recorded_job is not None and recorded_job_created:
                work.delete_job_id = int(recorded_job)
                self.add(
                    Action(
                        "schedule",
                        job_name,
                        "delete",
                        ORDER["schedule"],
                        work,
                        deps={f"pipeline:{pipeline.name_prefix}"},
                        calls=1,
                        reason="the pipeline is continuous now",
                    )
                )
            elif recorded_job is not None:
                self.warn(
                    "schedule_job_kept",
                    path,
                    f"job {recorded_job} was not created by this pack; it is left in place although the pipeline "
                    "is continuous now.",
                )
            return
        live_job: BaseJob | Job | None = None
        if recorded_job is not None:
            live_job = self.reader.job(int(recorded_job))
            if live_job is not None:
                work.job_created_by_pack = recorded_job_created
        if live_job is None:
            candidates = self.reader.jobs_named(job_name)
            running = sorted(
                (
                    job
                    for job in candidates
                    if work.pipeline_id and job_pipeline_id(job) == work.pipeline_id
                ),
                key=lambda job: job.job_id or 0,
            )
            if running:
                live_job = running[0]
                adoption = self.i.adoption("schedule", job_name, running[0].creator_user_name)
                work.job_created_by_pack = adoption.created_by_pack
                work.duplicate_jobs = [job.job_id for job in running[1:] if job.job_id is not None]
        work.job = live_job
        deps = {f"pipeline:{pipeline.name_prefix}"}
        self.presence_warning("schedule job", job_name, path, exists=live_job is not None)
        after = {"cron": pipeline.schedule.cron, "timezone": pipeline.schedule.timezone}
        if live_job is None:
            self.add(
                Action(
                    "schedule",
                    job_name,
                    "create",
                    ORDER["schedule"],
                    work,
                    deps=deps,
                    calls=1,
                    after=after,
                )
            )
            return
        desired = desired_job_settings(share, pipeline, work.pipeline_id or "", defaults=schedules)
        change = job_change(desired, live_job, schedules.task_key)
        work.job_change = change
        calls = (0 if change.empty else 1) + len(work.duplicate_jobs)
        diff: dict[str, Any] = dict(change.diff)
        if work.duplicate_jobs:
            diff["duplicate_jobs_deleted"] = work.duplicate_jobs
        schedule_action = self.add(
            Action(
                "schedule",
                job_name,
                "noop" if calls == 0 else "update",
                ORDER["schedule"],
                work,
                deps=deps,
                calls=calls,
                diff=diff or None,
            )
        )
        if recorded_job is None:  # found by name: no pack records this job
            self.adopting(schedule_action, None, work.job_created_by_pack)

    def deletions(self) -> None:
        """Recorded pipelines of this pack that a share no longer wants (docs/SHAREPACK.md §9.3)."""
        listed = {
            pipeline.name_prefix.lower()
            for share in self.i.pack.share
            for pipeline in share.pipelines or []
        }
        targets = {
            action.work.target.full_name: action.key
            for action in self.actions
            if action.resource_type == "pipeline" and isinstance(action.work, PipelineWork)
        }
        for share in self.i.pack.share:
            if share.share_assets is None and share.share_assets_to_remove is None:
                continue
            removed = {asset.name.lower() for asset in share.share_assets_to_remove or []}
            for key, row in sorted(self.recorded.pipelines.items()):
                if (
                    key in listed
                    or not self.recorded.created(row)
                    or row.get("share_name") != share.name
                ):
                    continue
                source = str(row.get("source_table") or "").lower()
                if share.share_assets is None and source not in removed:
                    continue
                reason = (
                    f"source asset {source} removed from {share.name}"
                    if source in removed
                    else f"pipeline no longer listed in {share.name}"
                )
                target = f"{row['target_catalog']}.{row['target_schema']}.{row['target_table']}"
                job_calls = (
                    1
                    if row.get("schedule_job_id") is not None
                    and row.get("schedule_job_created_by_pack")
                    else 0
                )
                action = self.add(
                    Action(
                        "pipeline",
                        str(row["pipeline_name"]),
                        "delete",
                        ORDER["delete"],
                        DeleteWork(row, reason),
                        deps={f"share_objects:{share.name}"},
                        calls=job_calls + 1,
                        reason=reason,
                        drops_tables=[target],
                    )
                )
                writer = targets.get(target)
                if writer is not None:
                    self.by_key_cache()[writer].deps.add(action.key)

    def by_key_cache(self) -> dict[str, Action]:
        return {action.key: action for action in self.actions}

    def build(self) -> ActionGraph:
        for kind in KINDS:
            kind.plan(self)
        self.pipelines()
        for kind in KINDS:
            kind.leftovers(self)
        self.actions.sort(key=lambda action: (action.order, action.name.lower(), action.key))
        keys = {action.key for action in self.actions}
        for seq, action in enumerate(self.actions, start=1):
            action.seq = seq
            action.deps &= keys
        return ActionGraph(self.actions, self.warnings)


def build_graph(inputs: DiffInputs) -> ActionGraph:
    """The action graph of a NEW/UPDATE pack against the live state (reads go through `inputs.reader`)."""
    return GraphBuilder(inputs).build()

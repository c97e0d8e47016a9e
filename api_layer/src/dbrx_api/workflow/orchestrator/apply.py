"""Applying an action graph (docs/WORKFLOW.md §9.3-§9.6, §9.9): executors per resource and the bounded-concurrency scheduler.

Every action is recorded in short transactions, never across a Databricks call: (1) the `RUNNING` step row (for
a create it is the create intent), (2) the SDK calls, (3) one transaction with the SCD2 row of the resource (a
no-op when unchanged), the closed step and the audit row. Actions whose diff is empty get a `NOOP` step and their
SCD2 write in one transaction. A non-retriable failure fails the step and skips its dependants while independent
actions continue; a retriable failure or a cancellation stops starting new actions.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import psycopg
from databricks.sdk.service.jobs import CreateResponse

from dbrx_api.errors import (
    AppError,
    ConflictError,
    NotFoundError,
    is_retriable,
    upstream,
)
from dbrx_api.jobs.pipelines import edit_arguments, spec_arguments
from dbrx_api.schemas.paths import path_segment
from dbrx_api.workflow.db.connection import transaction
from dbrx_api.workflow.db.repositories import (
    audit_trail,
    pipelines,
    provisioning_steps,
    version_status,
)
from dbrx_api.workflow.db.repositories.pipelines import PipelineRecord
from dbrx_api.workflow.db.repositories.provisioning_steps import StepOutcome
from dbrx_api.workflow.orchestrator.actions import Action, Adoption
from dbrx_api.workflow.orchestrator.desired import (
    SCHEMA_COMMENT,
    desired_job_settings,
    job_change,
    notification_emails,
    pipeline_differences,
    pipeline_update_arguments,
    schedule_job_name,
)
from dbrx_api.workflow.orchestrator.diff import (
    ActionGraph,
    DeleteWork,
    PipelineWork,
    SchemaWork,
)
from dbrx_api.workflow.orchestrator.steps import (
    RunContext,
    StepFailure,
    StepResult,
    record_reason,
)
from dbrx_api.workflow.ownership import guard_executor
from dbrx_api.workflow.queue.run import RunCancelled
from dbrx_api.workflow.resources import kind_for
from dbrx_api.workflow.worker_audit import VersionActor, step_entry, version_actor

logger = logging.getLogger(__name__)

SELECT = "SELECT"
PROGRESS_INTERVAL_S = 1.0
_JOBS_CREATE_PATH = "/api/2.2/jobs/create"


@dataclass(frozen=True)
class Failure:
    """How a step failed."""

    code: str
    message: str
    retriable: bool


def classify(exc: BaseException) -> Failure:
    """Failure classes of §9.9: retriable (throttling, outage, transport, 5xx, database, edit conflict) or not."""
    if isinstance(exc, StepFailure):
        return Failure(exc.code, exc.message, exc.retriable)
    if isinstance(exc, psycopg.OperationalError):
        return Failure("database_unavailable", "the workflow database is unreachable", True)
    if isinstance(exc, AppError):
        if exc.code == "upstream_auth_failed":
            return Failure(exc.code, exc.detail, False)
        if isinstance(exc, ConflictError) and exc.code == "conflict":
            return Failure(
                exc.code, exc.detail, True
            )  # pipeline edited concurrently: read again later
        return Failure(exc.code, exc.detail, is_retriable(exc))
    logger.error("unexpected error in a provisioning step", exc_info=exc)
    return Failure(
        "internal_error", "unexpected error while provisioning; see the worker logs", False
    )


# ------------------------------------------------------------------------------------------ schemas


def run_schema(ctx: RunContext, action: Action) -> StepResult:
    """Create a missing target schema; "already exists" counts as done. The catalog is never created."""
    work: SchemaWork = action.work
    if action.kind == "noop":
        return StepResult(StepOutcome.NOOP)
    full_name = f"{work.catalog}.{work.schema}"
    try:
        with upstream("schema", full_name):
            ctx.workspace.client.schemas.create(
                name=work.schema, catalog_name=work.catalog, comment=SCHEMA_COMMENT
            )
    except ConflictError as exc:
        if exc.code != "schema_already_exists":
            raise
    ctx.reader.put("schema", full_name, True)
    return StepResult(StepOutcome.SUCCEEDED, calls=1, audit_action="schema.create")


# ------------------------------------------------------------------------------------------ pipelines


def _pipeline_record(ctx: RunContext, work: PipelineWork) -> PipelineRecord:
    pipeline = work.pipeline
    previous = (
        work.previous
        if work.previous and work.previous.get("share_pack_id") == ctx.share_pack_id
        else None
    )
    configuration = work.desired.configuration or {}
    keys = [k for k in (configuration.get("pipelines.keys") or "").split(",") if k]
    schedule = pipeline.schedule
    carried: dict[str, Any] = {}
    if previous is not None:
        carried = {
            "schedule_job_id": previous.get("schedule_job_id"),
            "schedule_job_created_by_pack": previous.get("schedule_job_created_by_pack"),
            "cron": previous.get("cron"),
            "timezone": previous.get("timezone"),
        }
    if isinstance(schedule, str):
        carried.update(cron=None, timezone=None)
    return PipelineRecord(
        workspace_url=ctx.workspace_url,
        pipeline_name=pipeline.name_prefix,
        share_name=work.share.name,
        created_by_pack=work.created_by_pack,
        source_table=pipeline.source_asset,
        target_catalog=work.target.catalog,
        target_schema=work.target.schema,
        target_table=work.target.table,
        scd_type=pipeline.scd_type,
        serverless=bool(work.desired.serverless),
        continuous=pipeline.is_continuous,
        library_path=ctx.databricks.pipelines.library_path or "",
        share_pack_id=ctx.share_pack_id,
        databricks_pipeline_id=work.pipeline_id,
        key_columns=tuple(keys),
        notifications=tuple(notification_emails(pipeline)),
        tags=dict(work.desired.tags or {}),
        **carried,
    )


def _write_pipeline(
    ctx: RunContext, record: PipelineRecord, reason: str
) -> Callable[[Any], object]:
    def write(conn: Any) -> object:
        return pipelines.record(
            conn, record, changed_by=ctx.actor, reason=reason, **ctx.bookkeeping()
        )

    return write


def run_pipeline(ctx: RunContext, action: Action) -> StepResult:
    """Create (no duplicate names) or update (full edit with the managed fields replaced) a pipeline."""
    work: PipelineWork = action.work
    name = work.pipeline.name_prefix
    ws = ctx.workspace.client
    calls = 0
    detail: dict[str, Any] = {}
    if action.kind == "create":
        try:
            with upstream("pipeline", name):
                created = ws.pipelines.create(
                    allow_duplicate_names=False, **spec_arguments(work.desired)
                )
            calls += 1
            work.pipeline_id = created.pipeline_id
        except ConflictError as exc:
            if exc.code != "pipeline_already_exists":
                raise
            calls += 1
            ctx.reader.forget("pipelines_named", name.lower())
            matches = ctx.reader.pipelines_named(name)
            if len(matches) != 1:
                raise StepFailure(
                    "pipeline_name_ambiguous", f'{len(matches)} pipelines are named "{name}".'
                ) from exc
            live = matches[0]
            source = ((live.spec.configuration if live.spec else None) or {}).get(
                "pipelines.source_table"
            )
            if (source or "").lower() != work.pipeline.source_asset:
                raise StepFailure(
                    "pipeline_source_immutable", f'pipeline "{name}" already reads "{source}".'
                ) from exc
            work.live, work.pipeline_id = live, live.pipeline_id
            work.created_by_pack = (live.creator_user_name or "") == ctx.reader.identity()
            detail["adopted_after_conflict"] = True
            if pipeline_differences(work.desired, live.spec or type(work.desired)()):
                _update_pipeline(ctx, work)
                calls += 1
    elif action.kind == "update":
        _update_pipeline(ctx, work)
        calls += 1
        detail["fields"] = sorted(action.diff or {})
    record = _pipeline_record(ctx, work)
    with ctx.guard:
        ctx.pipeline_records[name.lower()] = record
    return StepResult(
        StepOutcome.SUCCEEDED if calls else StepOutcome.NOOP,
        calls=calls,
        ids={"pipeline_id": work.pipeline_id} if work.pipeline_id else None,
        detail=detail,
        writes=[
            _write_pipeline(
                ctx, record, record_reason(work.created_by_pack, work.previous, ctx.share_pack_id)
            )
        ],
        audit_action=f"pipeline.{action.kind}",
    )


def _update_pipeline(ctx: RunContext, work: PipelineWork) -> None:
    live = work.live
    if live is None or work.pipeline_id is None:
        raise StepFailure("internal_error", "pipeline update without a live pipeline")
    arguments = pipeline_update_arguments(work.desired, edit_arguments(live))
    with upstream("pipeline", work.pipeline.name_prefix):
        ctx.workspace.client.pipelines.update(
            path_segment(work.pipeline_id), expected_last_modified=live.last_modified, **arguments
        )


def _delete_job(ctx: RunContext, job_id: int) -> None:
    """`jobs.delete`; a job that no longer exists counts as deleted."""
    try:
        with upstream("job", str(job_id)):
            ctx.workspace.client.jobs.delete(job_id)
    except NotFoundError:
        pass


def run_schedule(ctx: RunContext, action: Action) -> StepResult:
    """The schedule job of a triggered pipeline: create (never replayed), update the differing settings, or
    delete the job this pack created when the pipeline became continuous."""
    work: PipelineWork = action.work
    schedules = ctx.databricks.schedules
    name = work.pipeline.name_prefix
    job_name = schedule_job_name(work.pipeline, schedules)
    calls = 0
    detail: dict[str, Any] = {}
    record = ctx.pipeline_records.get(name.lower())
    if record is None:
        raise StepFailure("internal_error", f"schedule of {name} without its pipeline record")
    if action.kind == "delete":
        if work.delete_job_id is not None:
            _delete_job(ctx, work.delete_job_id)
            calls += 1
        record = dataclasses.replace(
            record,
            schedule_job_id=None,
            schedule_job_created_by_pack=None,
            cron=None,
            timezone=None,
        )
    else:
        schedule = work.pipeline.schedule
        desired = desired_job_settings(
            work.share, work.pipeline, work.pipeline_id or "", defaults=schedules
        )
        job_id: int | None = work.job.job_id if work.job is not None else None
        created_by_pack = bool(work.job_created_by_pack)
        if action.kind == "create" or work.job is None:
            with upstream("job", job_name):
                response = ctx.workspace.post_once(
                    "jobs.create", _JOBS_CREATE_PATH, desired.as_dict()
                )
            job_id = CreateResponse.from_dict(response).job_id
            created_by_pack = True
            calls += 1
        else:
            calls += _delete_duplicates(ctx, work, job_name)
            change = job_change(desired, work.job, schedules.task_key)
            if not change.empty and job_id is not None:
                with upstream("job", str(job_id)):
                    ctx.workspace.client.jobs.update(
                        job_id,
                        new_settings=change.new_settings,
                        fields_to_remove=change.fields_to_remove or None,
                    )
                calls += 1
                detail["fields"] = sorted(change.diff)
        record = dataclasses.replace(
            record,
            schedule_job_id=job_id,
            schedule_job_created_by_pack=created_by_pack,
            cron=getattr(schedule, "cron", None),
            timezone=getattr(schedule, "timezone", None),
        )
    with ctx.guard:
        ctx.pipeline_records[name.lower()] = record
    return StepResult(
        StepOutcome.SUCCEEDED if calls else StepOutcome.NOOP,
        calls=calls,
        ids={"job_id": record.schedule_job_id} if record.schedule_job_id is not None else None,
        detail=detail,
        writes=[_write_pipeline(ctx, record, "provisioned")],
        audit_action=f"schedule.{action.kind}",
    )


def _delete_duplicates(ctx: RunContext, work: PipelineWork, job_name: str) -> int:
    """Jobs named like the schedule and running the pipeline besides the kept (lowest) one (§9.5)."""
    if not work.duplicate_jobs:
        return 0
    adoption: Adoption = ctx.adoption("schedule", job_name, None)
    identity = ctx.reader.identity()
    calls = 0
    for job_id in work.duplicate_jobs:
        job = ctx.reader.job(job_id)
        if job is None:
            continue
        created_ms = job.created_time or 0
        ours = (job.creator_user_name or "") == identity
        after_intent = adoption.intent_at is not None and created_ms >= int(
            adoption.intent_at.timestamp() * 1000
        )
        if not (ours and after_intent):
            raise StepFailure(
                "schedule_job_conflict",
                f'job "{job_name}" exists more than once ({job_id}) and this pack did not create the copies.',
            )
        _delete_job(ctx, job_id)
        calls += 1
    return calls


def run_pipeline_delete(ctx: RunContext, action: Action) -> StepResult:
    """Schedule job first (when this pack created it), then the pipeline; gone objects count as deleted."""
    work: DeleteWork = action.work
    row = work.row
    calls = 0
    job_id = row.get("schedule_job_id")
    if job_id is not None and row.get("schedule_job_created_by_pack"):
        _delete_job(ctx, int(job_id))
        calls += 1
    pipeline_id = row.get("databricks_pipeline_id")
    if pipeline_id:
        try:
            with upstream("pipeline", str(row["pipeline_name"])):
                ctx.workspace.client.pipelines.delete(path_segment(str(pipeline_id)))
        except NotFoundError:
            pass
        calls += 1
    write = ctx.deletion_write(pipelines.soft_delete, str(row["pipeline_name"]))
    return StepResult(
        StepOutcome.SUCCEEDED,
        calls=calls,
        ids={"pipeline_id": pipeline_id, "job_id": job_id},
        detail={"reason": work.reason, "dropped_tables": action.drops_tables or []},
        writes=[write],
        audit_action="pipeline.delete",
    )


# ------------------------------------------------------------------------------------------ scheduler


@dataclass
class ApplyResult:
    """Outcome of applying a graph."""

    succeeded: list[str] = field(default_factory=list)
    noop: list[str] = field(default_factory=list)
    failed: list[tuple[str, Failure]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    stopped: Failure | None = None  # retriable failure that stopped the run
    cancelled: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # created / updated / deleted / rotated


Executor = Callable[[RunContext, Action], StepResult]


def reconcile_executor(action: Action) -> Executor:
    """The executor of a NEW/UPDATE action."""
    if action.key.startswith("delete_pipeline:"):
        return run_pipeline_delete
    kind = kind_for(action.resource_type)
    if kind is not None:
        return kind.execute
    executors: dict[str, Executor] = {
        "schema": run_schema,
        "pipeline": run_pipeline,
        "schedule": run_schedule,
    }
    return executors[action.resource_type]


class Applier:
    """Runs a graph: ready actions in canonical order, `concurrency` at a time, each recorded (§9.9)."""

    def __init__(
        self,
        ctx: RunContext,
        graph: ActionGraph,
        *,
        concurrency: int,
        cancelled: Callable[[], str | None],
        executor_for: Callable[[Action], Executor],
    ) -> None:
        self.ctx = ctx
        self.graph = graph
        # An action on a resource another pack manages fails before any call (docs/WORKFLOW.md §9.10).
        self.executor_for = guard_executor(executor_for)
        self.concurrency = max(1, concurrency)
        self.cancelled = cancelled
        self.result = ApplyResult()
        ctx.total_steps = len(graph.actions)
        self._progress_guard = threading.Lock()
        self._actor_guard = threading.Lock()
        self._actor: VersionActor | None = None
        self._progress_at = -PROGRESS_INTERVAL_S

    # ---------------------------------------------------------------- recording

    def _progress(self, conn: Any, action: Action) -> None:
        """`status_detail` = "step k of n: <key>", at most every `PROGRESS_INTERVAL_S` (one status row: parallel
        actions updating it on every step would queue on its row lock)."""
        now = time.monotonic()
        with self._progress_guard:
            if now - self._progress_at < PROGRESS_INTERVAL_S:
                return
            self._progress_at = now
        version_status.set_progress(
            conn,
            self.ctx.share_pack_id,
            self.ctx.version,
            status_detail=f"step {action.seq} of {self.ctx.total_steps}: {action.key}",
            run_id=self.ctx.run_id,
        )

    def _audit(
        self, conn: Any, action: Action, result: StepResult | None, failure: Failure | None
    ) -> None:
        """The step's audit row: keyed by the bare name like API rows, the version's uploader as actor (§5.3)."""
        ctx = self.ctx
        with self._actor_guard:
            if self._actor is None:
                self._actor = version_actor(conn, ctx.share_pack_id, ctx.version)
            actor = self._actor
        audit_trail.record(
            conn,
            step_entry(
                actor=actor,
                performed_by=ctx.actor,
                action=(result.audit_action if result else None)
                or f"{action.resource_type}.{action.kind}",
                entity_type=action.resource_type,
                name=action.name,
                outcome="failed" if failure else "succeeded",
                workspace_url=ctx.workspace_url,
                share_pack_id=ctx.share_pack_id,
                version=ctx.version,
                run_id=ctx.run_id,
                request_id=ctx.request_id,
                values=(result.detail or None)
                if result
                else {"error_code": failure.code if failure else None},
            ),
        )

    def _step_fields(self, action: Action) -> dict[str, Any]:
        return {
            "run_id": self.ctx.run_id,
            "seq": action.seq,
            "step_key": action.key,
            "resource_type": "pipeline"
            if action.key.startswith("delete_pipeline:")
            else action.resource_type,
            "resource_name": action.name,
        }

    def _step_action(self, action: Action) -> str:
        return "noop" if action.is_noop else action.kind

    def record_skipped(self, action: Action, cause: str) -> None:
        with transaction(self.ctx.pool) as conn:
            provisioning_steps.record_closed(
                conn,
                **self._step_fields(action),
                action=self._step_action(action),
                outcome=StepOutcome.SKIPPED,
                error_code="dependency_failed",
                error_message=f"not attempted: {cause} failed",
            )

    # ---------------------------------------------------------------- one action (worker thread)

    def run_one(self, action: Action) -> StepResult:
        ctx = self.ctx
        execute = self.executor_for(action)
        if action.is_noop:
            try:
                result = execute(ctx, action)
            except Exception as exc:
                failure = classify(exc)
                with transaction(ctx.pool) as conn:
                    provisioning_steps.record_closed(
                        conn,
                        **self._step_fields(action),
                        action="noop",
                        outcome=StepOutcome.FAILED,
                        error_code=failure.code,
                        error_message=failure.message,
                    )
                raise
            with transaction(ctx.pool) as conn:
                for write in result.writes:
                    write(conn)
                provisioning_steps.record_closed(
                    conn,
                    **self._step_fields(action),
                    action="noop",
                    outcome=result.outcome,
                    databricks_ids=result.ids,
                    detail=result.detail or None,
                )
            ctx.hook("after_record", action)
            return result
        with transaction(ctx.pool) as conn:
            # For a create this row is the create intent (§9.9).
            step_id = provisioning_steps.start(
                conn, **self._step_fields(action), action=self._step_action(action)
            )
            self._progress(conn, action)
        ctx.hook("before_call", action)
        try:
            result = execute(ctx, action)
        except RunCancelled:
            with transaction(ctx.pool) as conn:
                provisioning_steps.close(conn, step_id, outcome=StepOutcome.INTERRUPTED)
            raise
        except Exception as exc:
            failure = classify(exc)
            try:
                with transaction(ctx.pool) as conn:
                    provisioning_steps.close(
                        conn,
                        step_id,
                        outcome=StepOutcome.FAILED,
                        error_code=failure.code,
                        error_message=failure.message,
                    )
                    self._audit(conn, action, None, failure)
            except (AppError, psycopg.Error):
                logger.warning("could not record a failed step", extra={"step_key": action.key})
            raise
        ctx.hook("after_call", action)
        with transaction(ctx.pool) as conn:
            for write in result.writes:
                write(conn)
            provisioning_steps.close(
                conn,
                step_id,
                outcome=result.outcome,
                databricks_ids=result.ids,
                detail={**result.detail, "calls": result.calls},
            )
            if result.calls:
                self._audit(conn, action, result, None)
        ctx.hook("after_record", action)
        return result

    # ---------------------------------------------------------------- scheduling (coordinator thread)

    def settled_noops(self) -> list[Action]:
        """No-op actions that depend only on no-op actions: nothing can change what they record."""
        settled: set[str] = set()
        chosen: list[Action] = []
        for action in self.graph.actions:  # canonical order: dependencies come first
            if action.is_noop and action.deps <= settled:
                settled.add(action.key)
                chosen.append(action)
        return chosen

    def run_noops(self, actions: list[Action]) -> list[Action]:
        """Record settled no-ops together: one transaction for their SCD2 writes and `NOOP` steps.

        Returns the actions recorded; one whose executor failed is left to the normal path (which records the
        failure).
        """
        ctx = self.ctx
        results: list[tuple[Action, StepResult]] = []
        for action in actions:
            try:
                results.append((action, self.executor_for(action)(ctx, action)))
            except Exception:  # noqa: BLE001 - retried on the normal path, which classifies and records it
                logger.info("no-op step left to the scheduler", extra={"step_key": action.key})
        if not results:
            return []
        with transaction(ctx.pool) as conn:
            for action, result in results:
                for write in result.writes:
                    write(conn)
                provisioning_steps.record_closed(
                    conn,
                    **self._step_fields(action),
                    action="noop",
                    outcome=result.outcome,
                    databricks_ids=result.ids,
                    detail=result.detail or None,
                )
        for action, _ in results:
            ctx.hook("after_record", action)
        return [action for action, _ in results]

    def run(self) -> ApplyResult:
        actions = {action.key: action for action in self.graph.actions}
        pending = dict(actions)
        done: set[str] = set()
        blocked: set[str] = set()
        running: dict[Future[StepResult], Action] = {}
        try:
            recorded = self.run_noops(self.settled_noops())
        except (AppError, psycopg.Error) as exc:
            self.result.stopped = classify(exc)
            return self.result
        for action in recorded:
            del pending[action.key]
            done.add(action.key)
            self.result.noop.append(action.key)
        with ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix="reconcile"
        ) as pool:
            while True:
                if self.result.stopped is None and self.result.cancelled is None:
                    reason = self.cancelled()
                    if reason is not None:
                        self.result.cancelled = reason
                if self.result.stopped is None and self.result.cancelled is None:
                    ready = sorted(
                        (a for a in pending.values() if a.deps <= done), key=lambda a: a.seq
                    )
                    for action in ready:
                        if len(running) >= self.concurrency:
                            break
                        del pending[action.key]
                        running[pool.submit(self.run_one, action)] = action
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: running[f].seq):
                    action = running.pop(future)
                    self._collect(future, action, done, blocked, pending)
        return self.result

    def _collect(
        self,
        future: Future[StepResult],
        action: Action,
        done: set[str],
        blocked: set[str],
        pending: dict[str, Action],
    ) -> None:
        try:
            result = future.result()
        except RunCancelled as exc:
            self.result.cancelled = exc.reason
            return
        except Exception as exc:  # noqa: BLE001 - every step failure is classified (§9.9 failure classes)
            failure = classify(exc)
            if failure.retriable:
                if self.result.stopped is None:
                    self.result.stopped = failure
                self.result.failed.append((action.key, failure))
                return
            self.result.failed.append((action.key, failure))
            for key in sorted(self.graph.dependants(action.key)):
                if key in pending and key not in blocked:
                    blocked.add(key)
                    skipped = pending.pop(key)
                    self.result.skipped.append(key)
                    try:
                        self.record_skipped(skipped, action.key)
                    except (AppError, psycopg.Error) as db_exc:
                        self.result.stopped = classify(db_exc)
            return
        done.add(action.key)
        if result.outcome == StepOutcome.NOOP:
            self.result.noop.append(action.key)
        else:
            self.result.succeeded.append(action.key)
            bucket = {"create": "created", "delete": "deleted", "rotate_token": "rotated"}.get(
                action.kind, "updated"
            )
            self.result.counts[bucket] = self.result.counts.get(bucket, 0) + 1

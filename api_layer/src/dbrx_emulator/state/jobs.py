"""Jobs 2.2 state (docs/EMULATOR.md §7.7, §9.3): job settings, runs, concurrency and the Quartz scheduler.

Settings are validated and normalised here (server-filled defaults of docs/EMULATOR.md §6) for create, update (merge) and reset,
and for seeded jobs. Runs progress lazily: `catch_up(now)` replays, in time order, every run transition and
scheduled fire up to `now`; every jobs/pipelines handler and every clock move calls it (`sync_simulation`).
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from dbrx_emulator.api import Body, Json
from dbrx_emulator.errors import ApiError, invalid
from dbrx_emulator.names import parse_enum
from dbrx_emulator.paging import SortedIndex
from dbrx_emulator.quartz import CronError, CronSchedule, parse_cron, parse_timezone
from dbrx_emulator.seed import JobSeed, Seed, SeedError
from dbrx_emulator.sim import jobs as runs_sim
from dbrx_emulator.sim.jobs import Run, TaskRun
from dbrx_emulator.sim.pipelines import Update
from dbrx_emulator.state.pipelines import PipelinesState
from dbrx_emulator.store import StateArea

MAX_TAGS = 25
MAX_CONCURRENT_RUNS = 1000
IDEMPOTENCY_WINDOW_MS = 3_600_000
SEEDED_LINK_WINDOW_MS = (
    3_600_000  # a seeded JOB_TASK update within 1 h after a seeded run's start is its update
)
RATE_WINDOW_MS = 3_600_000
RUN_IFS = frozenset(
    {
        "ALL_SUCCESS",
        "ALL_DONE",
        "NONE_FAILED",
        "AT_LEAST_ONE_SUCCESS",
        "ALL_FAILED",
        "AT_LEAST_ONE_FAILED",
    }
)
PAUSE_STATUSES = frozenset({"PAUSED", "UNPAUSED"})
FORMATS = frozenset({"MULTI_TASK", "SINGLE_TASK"})
EDIT_MODES = frozenset({"EDITABLE", "UI_LOCKED"})
MERGED_ARRAYS = {"tasks": "task_key", "job_clusters": "job_cluster_key"}
PAGED_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
_OUTCOME_OF_RESULT = {"SUCCESS": "COMPLETED", "FAILED": "FAILED", "CANCELED": "CANCELED"}


@dataclass
class Job:
    """A job: normalised settings, its schedule and its runs (newest first)."""

    job_id: int
    created_time: int
    creator: str
    settings: Json
    cron: CronSchedule | None = None
    zone: ZoneInfo | None = None
    next_fire_ms: int | None = None
    runs: SortedIndex[tuple[int, int], Run] = field(default_factory=SortedIndex)
    queued: list[Run] = field(default_factory=list)
    next_number: int = 1

    _templates: list[TaskRun] | None = field(default=None, repr=False)

    def set_settings(self, normalised: NormalisedSettings) -> None:
        """New settings and schedule (drops what was derived from the old ones)."""
        self.settings, self.cron, self.zone = normalised.settings, normalised.cron, normalised.zone
        self._templates = None

    def task_templates(self) -> list[TaskRun]:
        """What every run's tasks start from (built once per settings; the settings dicts are shared, read-only)."""
        if self._templates is None:
            templates = []
            for settings in self.settings.get("tasks") or []:
                pipeline_task = settings.get("pipeline_task") or {}
                templates.append(
                    TaskRun(
                        task_key=settings["task_key"],
                        run_id=0,
                        settings={
                            k: v
                            for k, v in settings.items()
                            if k not in ("depends_on", "run_if", "task_key")
                        },
                        depends_on=tuple(d["task_key"] for d in settings.get("depends_on", [])),
                        run_if=settings.get("run_if", "ALL_SUCCESS"),
                        pipeline_id=pipeline_task.get("pipeline_id"),
                        full_refresh=bool(pipeline_task.get("full_refresh")),
                    )
                )
            self._templates = templates
        return self._templates

    @property
    def name(self) -> str:
        """The job name."""
        return str(self.settings.get("name", "Untitled"))

    @property
    def schedule_active(self) -> bool:
        """An UNPAUSED schedule the simulator can fire."""
        schedule = self.settings.get("schedule") or {}
        return (
            self.cron is not None
            and self.cron.simulated
            and schedule.get("pause_status", "UNPAUSED") == "UNPAUSED"
        )


@dataclass(frozen=True)
class NormalisedSettings:
    """Validated settings plus the parsed schedule."""

    settings: Json
    cron: CronSchedule | None
    zone: ZoneInfo | None


def job_not_found(job_id: object, style: str) -> ApiError:
    """Missing job: 400 INVALID_PARAMETER_VALUE (trap 7), or 404 NOT_FOUND with `jobs_not_found: not_found`."""
    if style == "not_found":
        return ApiError(404, "NOT_FOUND", f"Job {job_id} does not exist.")
    return invalid(f"Job {job_id} does not exist.")


def run_not_found(run_id: object, style: str) -> ApiError:
    """Missing run (same switch as jobs)."""
    if style == "not_found":
        return ApiError(404, "NOT_FOUND", f"Run {run_id} does not exist.")
    return invalid(f"Run {run_id} does not exist.")


class JobsState(StateArea):
    """Jobs keyed by `-job_id` (listing order: newest first) and runs keyed by `(-start_time, -run_id)`."""

    name = "jobs"

    def __init__(self, rt: Any) -> None:
        super().__init__(rt)
        self.jobs: SortedIndex[int, Job] = SortedIndex()
        self.by_name: dict[str, set[int]] = {}
        self.runs: dict[int, Run] = {}
        self.run_index: SortedIndex[tuple[int, int], Run] = SortedIndex()
        self.active: dict[int, Run] = {}
        self.idempotency: dict[str, tuple[int, int]] = {}
        self.creations: deque[int] = deque()
        self._next_job_id: int = 1000 + int(rt.random_seed)
        self._next_run_id: int = 1000 + int(rt.random_seed)
        self._scheduler_on = False

    # ------------------------------------------------------------------------------------------ helpers

    @property
    def pipelines(self) -> PipelinesState:
        """The pipelines area (pipeline tasks start updates there)."""
        return self.rt.store.area(PipelinesState)

    @property
    def step_ms(self) -> int:
        """Length of one simulation step."""
        return int(self.rt.simulation.step_ms)

    def require_job(self, job_id: int | None) -> Job:
        """The job (trap 7 error when missing)."""
        job = self.jobs.get(-job_id) if job_id is not None else None
        if job is None:
            raise job_not_found(job_id, self.rt.behaviour.jobs_not_found)
        return job

    def require_run(self, run_id: int | None) -> Run:
        """The run (trap 7 error when missing)."""
        run = self.runs.get(run_id) if run_id is not None else None
        if run is None:
            raise run_not_found(run_id, self.rt.behaviour.jobs_not_found)
        return run

    def _take_job_id(self) -> int:
        while -self._next_job_id in self.jobs:
            self._next_job_id += 1
        self._next_job_id += 1
        return self._next_job_id - 1

    def _take_run_id(self) -> int:
        self._next_run_id += 1
        return self._next_run_id - 1

    def jobs_named(self, name: str) -> list[int]:
        """Index keys (-job_id) of jobs with this name (case-insensitive), in listing order."""
        return sorted(-job_id for job_id in self.by_name.get(name.lower(), ()))

    def _index_name(self, job: Job) -> None:
        self.by_name.setdefault(job.name.lower(), set()).add(job.job_id)

    def _unindex_name(self, job: Job) -> None:
        ids = self.by_name.get(job.name.lower())
        if ids is not None:
            ids.discard(job.job_id)
            if not ids:
                del self.by_name[job.name.lower()]

    # ------------------------------------------------------------------------------------------ settings

    def normalise(self, raw: Json) -> NormalisedSettings:
        """Validate settings and fill the server defaults of docs/EMULATOR.md §6 (400 naming the field otherwise)."""
        strict = self.rt.behaviour.enum_case_strict
        body = Body(raw)
        settings: Json = {k: copy.deepcopy(v) for k, v in raw.items() if v is not None}
        name = body.str_("name")
        settings["name"] = name if name else "Untitled"
        tags = body.str_map("tags")
        if tags is not None and len(tags) > MAX_TAGS:
            raise invalid(f"A job can have at most {MAX_TAGS} tags, not {len(tags)}.")
        for key in ("email_notifications", "webhook_notifications"):
            if body.obj(key) is None:
                settings[key] = {}
        for key in ("notification_settings", "trigger", "continuous", "health", "run_as"):
            body.obj(key)
        queue = body.obj("queue")
        if queue is not None:
            queue.bool_("enabled")
        timeout = body.int_("timeout_seconds")
        if timeout is not None and timeout < 0:
            raise invalid(f"Invalid value {timeout} for timeout_seconds: it must not be negative.")
        settings["timeout_seconds"] = timeout or 0
        concurrency = body.int_("max_concurrent_runs")
        if concurrency is not None and not 0 <= concurrency <= MAX_CONCURRENT_RUNS:
            raise invalid(
                f"Invalid value {concurrency} for max_concurrent_runs: it must be between 0 and "
                f"{MAX_CONCURRENT_RUNS}."
            )
        settings["max_concurrent_runs"] = 1 if concurrency is None else concurrency
        for key, allowed in (("format", FORMATS), ("edit_mode", EDIT_MODES)):
            value = raw.get(key)
            if value is not None:
                settings[key] = parse_enum(value, allowed, key, strict=strict)
        settings.setdefault("format", "MULTI_TASK")
        settings["tasks"] = self._tasks(body, strict)
        if not settings["tasks"]:
            del settings["tasks"]
        clusters = body.objects("job_clusters")
        keys = [cluster.require_str("job_cluster_key") for cluster in clusters]
        _unique(keys, "job_cluster_key")
        environments = body.objects("environments")
        _unique([env.require_str("environment_key") for env in environments], "environment_key")
        cron, zone = self._schedule(body, settings, strict)
        return NormalisedSettings(settings, cron, zone)

    def _tasks(self, body: Body, strict: bool) -> list[Json]:
        tasks: list[Json] = []
        keys: list[str] = []
        for task in body.objects("tasks"):
            key = task.require_str("task_key")
            keys.append(key)
            pipeline_task = task.obj("pipeline_task")
            if pipeline_task is not None:
                pipeline_task.require_str("pipeline_id")
                pipeline_task.bool_("full_refresh")
            run_if = task.data.get("run_if")
            normalised: Json = {k: copy.deepcopy(v) for k, v in task.data.items() if v is not None}
            normalised["run_if"] = (
                "ALL_SUCCESS"
                if run_if is None
                else parse_enum(run_if, RUN_IFS, task.field_name("run_if"), strict=strict)
            )
            timeout = task.int_("timeout_seconds")
            normalised["timeout_seconds"] = timeout or 0
            if task.obj("email_notifications") is None:
                normalised["email_notifications"] = {}
            depends = [dep.require_str("task_key") for dep in task.objects("depends_on")]
            if depends:
                normalised["depends_on"] = [{"task_key": k} for k in sorted(depends)]
            tasks.append(normalised)
        _unique(keys, "task_key")
        known = set(keys)
        for task_json in tasks:
            for dep in task_json.get("depends_on", []):
                if dep["task_key"] not in known or dep["task_key"] == task_json["task_key"]:
                    raise invalid(
                        f"Task {task_json['task_key']} depends on '{dep['task_key']}', which is not "
                        "another task of this job."
                    )
        return tasks

    @staticmethod
    def _schedule(
        body: Body, settings: Json, strict: bool
    ) -> tuple[CronSchedule | None, ZoneInfo | None]:
        schedule = body.obj("schedule")
        if schedule is None:
            return None, None
        expression = schedule.require_str("quartz_cron_expression")
        timezone_id = schedule.require_str("timezone_id")
        try:
            cron = parse_cron(expression)
        except CronError as exc:
            raise invalid(f"Invalid quartz_cron_expression '{expression}': {exc}") from None
        try:
            zone = parse_timezone(timezone_id)
        except CronError:
            raise invalid(
                f"Invalid timezone_id '{timezone_id}': not a known time-zone id."
            ) from None
        pause = schedule.data.get("pause_status")
        settings["schedule"]["pause_status"] = (
            "UNPAUSED"
            if pause is None
            else parse_enum(pause, PAUSE_STATUSES, "schedule.pause_status", strict=strict)
        )
        return cron, zone

    def _install(self, job: Job, normalised: NormalisedSettings, now_ms: int) -> None:
        """Give a job new settings (index, schedule); the next fire counts from `now_ms`."""
        self._unindex_name(job)
        job.set_settings(normalised)
        self._index_name(job)
        job.next_fire_ms = None
        pause = (job.settings.get("schedule") or {}).get("pause_status")
        if job.cron is not None and not job.cron.simulated and pause == "UNPAUSED":
            self.rt.stats.bump("schedules_not_simulated")
        if self._scheduler_enabled() and job.schedule_active:
            job.next_fire_ms = self._next_fire(job, now_ms)

    @staticmethod
    def _next_fire(job: Job, after_ms: int) -> int | None:
        if job.cron is None or job.zone is None:
            return None
        return job.cron.next_fire_ms(after_ms, job.zone)

    # ------------------------------------------------------------------------------------------ job operations

    def create(self, raw: Json, now_ms: int) -> Job:
        """`jobs.create`."""
        limit = self.rt.behaviour.job_create_rate_per_hour
        while self.creations and self.creations[0] <= now_ms - RATE_WINDOW_MS:
            self.creations.popleft()
        if limit is not None and len(self.creations) >= limit:
            raise ApiError(
                400,
                "INVALID_STATE",
                f"There were already {len(self.creations)} jobs created in past 3600 seconds, exceeding "
                f"rate limit: {limit} job creations per 3600 seconds.",
            )
        raw = {k: v for k, v in raw.items() if k != "access_control_list"}
        normalised = self.normalise(raw)
        job = Job(self._take_job_id(), now_ms, self.rt.principal, {})
        self._install(job, normalised, now_ms)
        self.jobs.put(-job.job_id, job)
        self.creations.append(now_ms)
        return job

    def update(
        self, job: Job, new_settings: Json | None, fields_to_remove: list[str], now_ms: int
    ) -> None:
        """`jobs.update`: remove fields, then merge `new_settings` (arrays of tasks/job_clusters by key)."""
        merged = copy.deepcopy(job.settings)
        for entry in fields_to_remove:
            array, slash, key = entry.partition("/")
            if slash:
                key_field = MERGED_ARRAYS.get(array)
                items = merged.get(array) or []
                if key_field is None or not any(i.get(key_field) == key for i in items):
                    raise invalid(f"Cannot remove '{entry}': no such element.")
                merged[array] = [i for i in items if i.get(key_field) != key]
            else:
                merged.pop(entry, None)
        for key, value in (new_settings or {}).items():
            key_field = MERGED_ARRAYS.get(key)
            if key_field is None or not isinstance(value, list):
                merged[key] = copy.deepcopy(value)
                continue
            items = list(merged.get(key) or [])
            positions = {item.get(key_field): index for index, item in enumerate(items)}
            for item in value:
                item_key = item.get(key_field) if isinstance(item, dict) else None
                if item_key in positions:
                    items[positions[item_key]] = copy.deepcopy(item)
                else:
                    positions[item_key] = len(items)
                    items.append(copy.deepcopy(item))
            merged[key] = items
        self._install(job, self.normalise(merged), now_ms)

    def reset(self, job: Job, new_settings: Json, now_ms: int) -> None:
        """`jobs.reset`: replace every setting (defaults re-filled)."""
        self._install(job, self.normalise(new_settings), now_ms)

    def delete(self, job: Job) -> None:
        """`jobs.delete`: the job and its runs disappear (their pipeline updates keep running)."""
        self.jobs.pop(-job.job_id)
        self._unindex_name(job)
        for run in job.runs.values():
            self.runs.pop(run.run_id, None)
            self.run_index.pop(run.sort_key)
            self.active.pop(run.run_id, None)

    # ------------------------------------------------------------------------------------------ runs

    def run_now(self, job: Job, body: Body, now_ms: int) -> Run:
        """`jobs.run_now` (same run for an idempotency token reused within an hour)."""
        token = body.str_("idempotency_token")
        if token is not None:
            known = self.idempotency.get(token)
            if known is not None and known[1] > now_ms - IDEMPOTENCY_WINDOW_MS:
                existing = self.runs.get(known[0])
                if existing is not None:
                    return existing
        full_refresh = None
        params = body.obj("pipeline_params")
        if params is not None:
            full_refresh = params.bool_("full_refresh")
        job_parameters = body.str_map("job_parameters") or {}
        run = self.create_run(
            job,
            now_ms,
            "ONE_TIME",
            full_refresh=full_refresh,
            job_parameters=[{"name": k, "value": v} for k, v in sorted(job_parameters.items())],
        )
        if token is not None:
            self.idempotency[token] = (run.run_id, now_ms)
        return run

    def create_run(
        self,
        job: Job,
        at_ms: int,
        trigger: str,
        *,
        full_refresh: bool | None = None,
        job_parameters: list[Json] | None = None,
    ) -> Run:
        """A new run of `job` at `at_ms`, started, queued or skipped per `max_concurrent_runs`."""
        run = self._new_run(job, at_ms, trigger, full_refresh, job_parameters or [])
        limit = int(job.settings.get("max_concurrent_runs", 1))
        active = sum(1 for r in self.active.values() if r.job_id == job.job_id)
        if active >= limit:
            if (job.settings.get("queue") or {}).get("enabled"):
                run.queue_reason = (
                    f"Queued because the limit of {limit} maximum concurrent runs has been reached."
                )
                job.queued.append(run)
                self.active[run.run_id] = run
            else:
                run.skipped = True
                run.terminated_at = at_ms
                run.state_message = (
                    f"Skipping this run because the limit of {limit} maximum concurrent runs has been "
                    "reached."
                )
        else:
            self._start(run, at_ms)
            self.active[run.run_id] = run
        self._register_run(job, run)
        return run

    def _new_run(
        self,
        job: Job,
        at_ms: int,
        trigger: str,
        full_refresh: bool | None,
        job_parameters: list[Json],
    ) -> Run:
        run_id = self._take_run_id()
        tasks = []
        for template in job.task_templates():
            tasks.append(
                TaskRun(
                    task_key=template.task_key,
                    run_id=self._take_run_id(),
                    settings=template.settings,
                    depends_on=template.depends_on,
                    run_if=template.run_if,
                    pipeline_id=template.pipeline_id,
                    full_refresh=template.full_refresh if full_refresh is None else full_refresh,
                )
            )
        number = job.next_number
        job.next_number += 1
        return Run(
            run_id=run_id,
            job_id=job.job_id,
            number_in_job=number,
            run_name=job.name,
            trigger=trigger,
            creator=self.rt.principal,
            start_time=at_ms,
            tasks=tasks,
            job_parameters=job_parameters,
        )

    def cancel_run(self, run: Run, now_ms: int) -> None:
        """`jobs.cancel_run`: an active run ends CANCELED (its pipeline updates are stopped); no-op once ended."""
        if not run.is_active(now_ms) or run.terminating_at is not None:
            return
        job = self.jobs.get(-run.job_id)
        if job is not None and run in job.queued:
            job.queued.remove(run)
        if run.pending_at is None or run.pending_at > now_ms:
            run.pending_at = now_ms
        if run.running_at is None or run.running_at > now_ms:
            run.running_at = now_ms
        for task in run.tasks:
            if task.end_ms is not None and task.end_ms <= now_ms:
                continue
            if task.update is not None:
                task.update.stop(now_ms)
                self.pipelines.live[task.update.update_id] = task.update
            if task.start_ms is None or task.start_ms > now_ms:
                task.start_ms = now_ms
            task.end_ms, task.result, task.message = now_ms, "CANCELED", "Run was canceled."
        run.forced_result = "CANCELED"
        runs_sim.finish(run, self.step_ms)

    def cancel_all(self, job: Job | None, now_ms: int, *, queued_only: bool) -> None:
        """`jobs.cancel_all_runs`: every active run of `job` (or, `queued_only`, every queued run)."""
        for run in list(self.active.values()):
            if job is not None and run.job_id != job.job_id:
                continue
            if queued_only and run.life_at(now_ms) != "QUEUED":
                continue
            self.cancel_run(run, now_ms)

    def delete_run(self, run: Run, now_ms: int) -> None:
        """`jobs.delete_run`: only a run that is no longer active (else 400, as Databricks answers)."""
        if run.is_active(now_ms):
            raise invalid(f"Cannot delete run {run.run_id}: it is still active.")
        self.runs.pop(run.run_id, None)
        self.run_index.pop(run.sort_key)
        job = self.jobs.get(-run.job_id)
        if job is not None and run.sort_key in job.runs:
            job.runs.pop(run.sort_key)

    def _register_run(self, job: Job, run: Run) -> None:
        self.runs[run.run_id] = run
        self.run_index.put(run.sort_key, run)
        job.runs.put(run.sort_key, run)

    def _start(self, run: Run, at_ms: int) -> None:
        run.pending_at, run.running_at = at_ms, at_ms + self.step_ms
        run.queue_reason = None

    def _start_pipeline(self, pipeline_id: str, at_ms: int, full_refresh: bool) -> Update | str:
        pipelines = self.pipelines
        pipeline = pipelines.pipelines.get(pipeline_id)
        if pipeline is None:
            return f"The specified pipeline {pipeline_id} was not found."
        active = pipeline.active_update(at_ms)
        if active is not None:
            return f"Pipeline {pipeline_id} already has an active update {active.update_id}."
        return pipelines.start_update_at(
            pipeline, at_ms, cause="JOB_TASK", full_refresh=full_refresh
        )

    # ------------------------------------------------------------------------------------------ simulation

    def _scheduler_enabled(self) -> bool:
        configured = self.rt.simulation.scheduler
        return self.rt.clock.mode == "real" if configured is None else bool(configured)

    def _sync_scheduler(self, now_ms: int) -> None:
        """Switching the scheduler on starts counting fires from now (no backlog from when it was off)."""
        enabled = self._scheduler_enabled()
        if enabled and not self._scheduler_on:
            for job in self.jobs.values():
                job.next_fire_ms = self._next_fire(job, now_ms) if job.schedule_active else None
        self._scheduler_on = enabled

    def catch_up(self, now_ms: int, since_ms: int | None = None) -> None:
        """Replay every run transition and scheduled fire up to `now_ms` in time order, then pipeline effects.

        `since_ms` (the time before a clock move) is when a scheduler switched on since the last look counts as
        switched on.
        """
        self._sync_scheduler(now_ms if since_ms is None else since_ms)
        fired: dict[int, int] = {}
        while True:
            due = self._next_due()
            if due is None or due > now_ms:
                break
            self._process(due, fired, now_ms)
        self.pipelines.catch_up(now_ms)

    def _next_due(self) -> int | None:
        times = [
            t for run in self.active.values() if (t := runs_sim.next_action_ms(run)) is not None
        ]
        if self._scheduler_on:
            times += [
                job.next_fire_ms for job in self.jobs.values() if job.next_fire_ms is not None
            ]
        return min(times) if times else None

    def _process(self, t: int, fired: dict[int, int], now_ms: int) -> None:
        step, task_steps = self.step_ms, self.rt.simulation.task_steps
        for run_id in sorted(self.active):
            runs_sim.advance(
                self.active[run_id],
                t,
                step_ms=step,
                task_steps=task_steps,
                start_pipeline=self._start_pipeline,
            )
        released = sorted(
            {
                r.job_id
                for r in self.active.values()
                if r.terminated_at is not None and r.terminated_at <= t
            }
        )
        for run_id in [r for r, run in self.active.items() if run.ended_by(t)]:
            del self.active[run_id]
        for job_id in released:
            self._start_queued(self.jobs[-job_id], t)
        if not self._scheduler_on:
            return
        for job in sorted(self.jobs.values(), key=lambda j: j.job_id):
            if job.next_fire_ms is None or job.next_fire_ms > t:
                continue
            if fired.get(job.job_id, 0) < self.rt.simulation.max_catchup_runs:
                fired[job.job_id] = fired.get(job.job_id, 0) + 1
                self.create_run(job, job.next_fire_ms, "PERIODIC")
                job.next_fire_ms = self._next_fire(job, job.next_fire_ms)
            else:
                job.next_fire_ms = self._next_fire(
                    job, now_ms
                )  # missed fires beyond the catch-up cap

    def _start_queued(self, job: Job, t: int) -> None:
        limit = int(job.settings.get("max_concurrent_runs", 1))
        while job.queued:
            running = sum(
                1
                for r in self.active.values()
                if r.job_id == job.job_id and r.pending_at is not None
            )
            if running >= limit:
                return
            self._start(job.queued.pop(0), t)

    def next_activity_ms(self, now_ms: int) -> int | None:
        """The next run transition after `now_ms` (scheduled fires do not count: settle stops when idle)."""
        times = [
            t
            for run in self.active.values()
            if (t := runs_sim.next_action_ms(run)) is not None and t > now_ms
        ]
        return min(times) if times else None

    def on_clock_moved(self, old_ms: int, new_ms: int) -> None:
        """Catch up with the new time."""
        self.catch_up(new_ms, old_ms)

    def fire(self, job: Job, now_ms: int) -> Run:
        """Start one PERIODIC run now, whatever the scheduler says (`/_emulator/jobs/{id}/fire`)."""
        return self.create_run(job, now_ms, "PERIODIC")

    # ------------------------------------------------------------------------------------------ rendering

    def job_json(self, job: Job, *, offset: int = 0, page: int | None = None) -> tuple[Json, bool]:
        """Job (get), with paged arrays from `offset`; and whether another page follows."""
        settings = copy.deepcopy(job.settings)
        more = False
        if page is not None:
            for key in PAGED_ARRAYS:
                values = settings.get(key)
                if isinstance(values, list):
                    settings[key] = values[offset : offset + page]
                    more = more or len(values) > offset + page
        body: Json = {
            "job_id": job.job_id,
            "creator_user_name": job.creator,
            "run_as_user_name": self.rt.principal,
            "created_time": job.created_time,
            "settings": settings,
        }
        return body, more

    def base_job_json(self, job: Job, *, expand_tasks: bool, page: int) -> Json:
        """BaseJob (list item): without tasks/job_clusters unless `expand_tasks` (then at most `page`)."""
        settings = copy.deepcopy(job.settings)
        more = False
        if expand_tasks:
            for key in ("tasks", "job_clusters"):
                values = settings.get(key)
                if isinstance(values, list) and len(values) > page:
                    settings[key] = values[:page]
                    more = True
        else:
            settings.pop("tasks", None)
            settings.pop("job_clusters", None)
        body: Json = {
            "job_id": job.job_id,
            "creator_user_name": job.creator,
            "run_as_user_name": self.rt.principal,
            "created_time": job.created_time,
            "settings": settings,
        }
        if expand_tasks:
            body["has_more"] = more
        return body

    def dump(self) -> Json:
        """Jobs with run summaries."""
        now = self.rt.now_ms()
        return {
            "jobs": [
                {
                    **self.job_json(job)[0],
                    "next_fire": job.next_fire_ms,
                    "runs": [
                        {
                            "run_id": r.run_id,
                            "start_time": r.start_time,
                            "life_cycle_state": r.life_at(now),
                            "result_state": r.result_state,
                        }
                        for r in job.runs.values()[:20]
                    ],
                }
                for job in self.jobs.values()
            ],
            "active_runs": sorted(self.active),
        }

    # ------------------------------------------------------------------------------------------ seed

    def load_seed(self, seed: Seed) -> None:
        """Seeded jobs and their run history (pipeline runs linked to JOB_TASK updates, docs/EMULATOR.md §5.4)."""
        now = self.rt.seed_origin_ms  # the clock is reset only after the state is built
        self._scheduler_on = self._scheduler_enabled()
        used = {j.job_id for j in seed.jobs if j.job_id is not None}
        pending: list[Run] = []
        for index, job_seed in enumerate(seed.jobs):
            pending += self._seed_job(index, job_seed, used)
        self.pipelines.place_synthesized(now)
        for run in pending:
            self._finish_seeded_run(run, now)

    def _seed_job(self, index: int, job_seed: JobSeed, used: set[int]) -> list[Run]:
        where = f"jobs[{index}]"
        raw = self._resolve_pipeline_names(job_seed.settings)
        raw["name"] = job_seed.name
        try:
            normalised = self.normalise(raw)
        except ApiError as exc:
            raise SeedError([f"{where}.settings: {exc.message}"]) from None
        for ti, task in enumerate(normalised.settings.get("tasks") or []):
            pipeline_id = (task.get("pipeline_task") or {}).get("pipeline_id")
            if pipeline_id is not None and pipeline_id not in self.pipelines.pipelines:
                raise SeedError(
                    [
                        f"{where}.settings.tasks[{ti}].pipeline_task.pipeline_id: '{pipeline_id}' is not a seeded pipeline"
                    ]
                )
        runs = sorted(
            [(self.rt.seed_time(r.start), r.trigger, r.outcome) for r in job_seed.runs]
            + self._generated_runs(where, job_seed, raw),
            key=lambda item: item[0],
        )
        origin = self.rt.seed_origin_ms
        if any(start > origin for start, _, _ in runs):
            raise SeedError([f"{where}.runs: a run cannot start in the future"])
        if job_seed.job_id is not None:
            job_id = job_seed.job_id
        else:
            while self._next_job_id in used or -self._next_job_id in self.jobs:
                self._next_job_id += 1
            job_id = self._take_job_id()
        created = (
            self.rt.seed_time(job_seed.created)
            if job_seed.created is not None
            else min([origin, *(start for start, _, _ in runs)]) - self.step_ms
        )
        job = Job(job_id, created, self.rt.principal, {})
        self._install(job, normalised, origin)
        self.jobs.put(-job.job_id, job)
        seeded = (self._seed_run(job, start, trigger, outcome) for start, trigger, outcome in runs)
        return [run for run in seeded if run is not None]

    def _resolve_pipeline_names(self, settings: Json) -> Json:
        resolved = copy.deepcopy(settings)
        for task in resolved.get("tasks") or []:
            pipeline_task = task.get("pipeline_task") if isinstance(task, dict) else None
            if isinstance(pipeline_task, dict) and "pipeline" in pipeline_task:
                name = pipeline_task.pop("pipeline")
                ids = self.pipelines.names.get(str(name), set())
                if ids:
                    pipeline_task["pipeline_id"] = sorted(ids)[0]
        return resolved

    def _generated_runs(
        self, where: str, job_seed: JobSeed, raw: Json
    ) -> list[tuple[int, str, str]]:
        """Runs of the `history` blocks, oldest first."""
        out: list[tuple[int, str, str]] = []
        tasks = [t for t in raw.get("tasks") or [] if isinstance(t, dict)]
        pipeline_jobs = any("pipeline_task" in t for t in tasks)
        # A run of a pipeline job lasts one update plus set-up and clean-up: runs must not overlap it.
        longest = (12 if pipeline_jobs else 3 + self.rt.simulation.task_steps) * self.step_ms
        for bi, block in enumerate(job_seed.history):
            if block.every <= longest:
                raise SeedError(
                    [
                        f"{where}.history[{bi}].every: must exceed the length of one run ({longest} ms)"
                    ]
                )
            last = self.rt.seed_time(block.last)
            oldest = last - (block.count - 1) * block.every
            for n in range(block.count):
                outcome = block.outcome
                if block.failed_every and (n + 1) % block.failed_every == 0:
                    outcome = "FAILED"
                out.append((oldest + n * block.every, block.trigger, outcome))
        return out

    def _seed_run(self, job: Job, start_ms: int, trigger: str, outcome: str) -> Run | None:
        """A seeded run; returned when it still needs `_finish_seeded_run` (after updates are placed).

        A run that has not reached RUNNING at the seed time simply continues as a live run.
        """
        run = self._new_run(job, start_ms, trigger, None, [])
        self._register_run(job, run)
        if outcome == "SKIPPED":
            run.skipped, run.terminated_at = True, start_ms
            limit = job.settings.get("max_concurrent_runs", 1)
            run.state_message = (
                f"Skipping this run because the limit of {limit} maximum concurrent runs has been "
                "reached."
            )
            return None
        self._start(run, start_ms)
        assert run.running_at is not None  # noqa: S101 - just started
        if run.running_at > self.rt.seed_origin_ms:
            self.active[run.run_id] = run
            return None
        run.forced_result = outcome
        for task in run.tasks:
            task.start_ms = run.running_at
            if task.pipeline_id is None:
                continue
            pipeline = self.pipelines.pipelines[task.pipeline_id]
            update = self.pipelines.seeded_job_update(pipeline, start_ms, SEEDED_LINK_WINDOW_MS)
            if update is None:
                update = self.pipelines.synthesize_job_update(
                    pipeline,
                    run.running_at,
                    _OUTCOME_OF_RESULT.get(outcome, "COMPLETED"),
                    task.full_refresh,
                )
            elif update.outcome != _OUTCOME_OF_RESULT.get(outcome):
                raise SeedError(
                    [
                        f"job '{job.name}': the run at {start_ms} ends {outcome} but the seeded JOB_TASK "
                        f"update {update.update_id} it links to ends {update.outcome}"
                    ]
                )
            task.update = update
        return run

    def _finish_seeded_run(self, run: Run, now_ms: int) -> None:
        if run.skipped:
            return
        assert run.running_at is not None  # noqa: S101 - seeded runs are started
        failed_one = False
        for task in run.tasks:
            update = task.update
            if update is not None:
                if update.created_ms < run.running_at:
                    run.running_at = max(run.pending_at or update.created_ms, update.created_ms)
                task.start_ms = min(run.running_at, update.created_ms)
                if update.end_ms is not None and update.end_ms <= now_ms:
                    task.end_ms = update.end_ms
                    task.result = "SUCCESS" if update.outcome == "COMPLETED" else "FAILED"
                    if update.outcome != "COMPLETED":
                        task.message = runs_sim.update_message(update)
                continue
            task.end_ms = run.running_at + self.rt.simulation.task_steps * self.step_ms
            task.result = "SUCCESS"
            if run.forced_result in ("FAILED", "CANCELED") and not failed_one:
                failed_one = True
                task.result = run.forced_result
                task.message = (
                    "Simulated failure." if run.forced_result == "FAILED" else "Canceled."
                )
        if all(task.end_ms is not None for task in run.tasks):
            runs_sim.finish(run, self.step_ms)
        if not run.ended_by(now_ms):
            run.forced_result = (
                None if any(t.end_ms is None for t in run.tasks) else run.forced_result
            )
            self.active[run.run_id] = run


def _unique(keys: list[str], field_name: str) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise invalid(f"Duplicate {field_name} '{key}'.")
        seen.add(key)


def sync_simulation(rt: Any, now_ms: int) -> None:
    """Bring runs, schedules and pipeline updates up to `now_ms` (every jobs/pipelines handler calls it)."""
    rt.store.area(JobsState).catch_up(now_ms)

"""Pipelines state (docs/EMULATOR.md §7.6, §9.2): specs, update histories, simulated updates and their effects.

The rules live here rather than in the routes because the seed loader validates seeded specs with the same code
the API uses, and the jobs simulator starts pipeline updates through `start_update_at`.

Invariant: the updates of one pipeline never overlap in time (a new update starts only when the previous one has
ended), so `Pipeline.updates` is ordered by creation *and* by event time, the newest update is the only one that can
be active, and `control_plane_seq_no = ordinal * 10**6 + index` orders events across the whole history.
"""

from __future__ import annotations

import copy
import json
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from dbrx_emulator.api import Body, Json
from dbrx_emulator.clock import rfc3339
from dbrx_emulator.errors import ApiError, invalid, resource_conflict, resource_does_not_exist
from dbrx_emulator.filters import EventFilter
from dbrx_emulator.names import parse_enum
from dbrx_emulator.paging import SortedIndex
from dbrx_emulator.seed import PipelineSeed, Seed, SeedError, UpdateSeed
from dbrx_emulator.sim.pipelines import (
    SEQUENCE_STRIDE,
    Failure,
    Flow,
    Outcome,
    Rows,
    Update,
    draw_rows,
)
from dbrx_emulator.state.uc import Table, UcState
from dbrx_emulator.state.workspace import WorkspaceObjects
from dbrx_emulator.store import StateArea

MAX_TAGS = 25
LATEST_UPDATES = 5
EVENT_CACHE_UPDATES = 512
DEFAULT_SOURCE_ROWS = 1000
# Fields of a create/edit request that are instructions, not part of the stored spec.
REQUEST_ONLY_FIELDS = frozenset(
    {"allow_duplicate_names", "dry_run", "expected_last_modified", "pipeline_id"}
)
UPDATE_CAUSES = frozenset(
    {
        "API_CALL",
        "INFRASTRUCTURE_MAINTENANCE",
        "JOB_TASK",
        "RETRY_ON_FAILURE",
        "SCHEMA_CHANGE",
        "SERVICE_UPGRADE",
        "USER_ACTION",
    }
)
CHANNELS = frozenset({"CURRENT", "PREVIEW"})
EDITIONS = frozenset({"CORE", "PRO", "ADVANCED"})
_BOOL_FIELDS = ("continuous", "serverless", "development", "photon")
_LIST_FIELDS = ("libraries", "clusters", "notifications")
SOURCE_TABLE_KEY = "pipelines.source_table"
TARGET_TABLE_KEY = "pipelines.target_table"
SCD_TYPE_KEY = "pipelines.scd_type"


@dataclass
class Pipeline:
    """A pipeline: its stored spec and its updates (oldest first)."""

    pipeline_id: str
    name: str
    spec: Json
    created_ms: int
    last_modified: int
    creator: str
    updates: list[Update] = field(default_factory=list)
    by_update_id: dict[str, Update] = field(default_factory=dict)
    seeded_flows: list[str] | None = None
    next_outcome: Outcome | None = None

    def latest(self) -> Update | None:
        """The newest update."""
        return self.updates[-1] if self.updates else None

    def active_update(self, at_ms: int) -> Update | None:
        """The update active at `at_ms` (only the newest can be)."""
        latest = self.latest()
        return latest if latest is not None and latest.is_active(at_ms) else None


@dataclass
class _Synthesized:
    """An update the seed loader makes up for a seeded job run (placed when all history is known)."""

    update: Update
    wanted_ms: int  # earliest creation time (the run's RUNNING time)


def _flag(spec: Json, key: str) -> bool:
    return bool(spec.get(key))


class PipelinesState(StateArea):
    """Pipelines keyed by id (list order `id asc`)."""

    name = "pipelines"

    def __init__(self, rt: Any) -> None:
        super().__init__(rt)
        self.pipelines: SortedIndex[str, Pipeline] = SortedIndex()
        self.names: dict[str, set[str]] = {}
        self.live: dict[str, Update] = {}  # updates whose end (or side effects) is still ahead
        self._synthesized: dict[str, list[_Synthesized]] = {}
        # Keeps a reference to the spec it was computed from, so identity proves it is current.
        self._flows_cache: dict[str, tuple[Json, list[tuple[str, str]]]] = {}
        self._event_cache: OrderedDict[str, Update] = OrderedDict()

    # ------------------------------------------------------------------------------------------ helpers

    @property
    def uc(self) -> UcState:
        """The Unity Catalog area (targets and sources)."""
        return self.rt.store.area(UcState)

    @property
    def step_ms(self) -> int:
        """Length of one simulation step."""
        return int(self.rt.simulation.step_ms)

    def require(self, pipeline_id: str) -> Pipeline:
        """The pipeline (404 RESOURCE_DOES_NOT_EXIST with the wire-contract message)."""
        pipeline = self.pipelines.get(pipeline_id)
        if pipeline is None:
            raise resource_does_not_exist(f"The specified pipeline {pipeline_id} was not found.")
        return pipeline

    @staticmethod
    def require_update(pipeline: Pipeline, update_id: str) -> Update:
        """One update of the pipeline (404 RESOURCE_DOES_NOT_EXIST)."""
        update = pipeline.by_update_id.get(update_id)
        if update is None:
            raise resource_does_not_exist(f"The specified update {update_id} was not found.")
        return update

    def _register_name(self, pipeline: Pipeline) -> None:
        self.names.setdefault(pipeline.name, set()).add(pipeline.pipeline_id)

    def _unregister_name(self, pipeline: Pipeline) -> None:
        ids = self.names.get(pipeline.name)
        if ids is not None:
            ids.discard(pipeline.pipeline_id)
            if not ids:
                del self.names[pipeline.name]

    def _name_taken(self, name: str, except_id: str | None = None) -> bool:
        return bool(self.names.get(name, set()) - {except_id})

    # ------------------------------------------------------------------------------------------ spec rules

    def validate_spec(self, body: Body) -> Json:
        """The spec a create/edit body stores (request-only fields dropped); 400 for invalid fields."""
        name = body.str_("name")
        if name is not None and not name.strip():
            raise invalid("Pipeline name must not be empty.")
        body.str_("catalog")
        schema, target = body.str_("schema"), body.str_("target")
        if schema is not None and target is not None:
            raise invalid("Only one of schema and target may be set.")
        for key, value in (("schema", schema), ("target", target)):
            if value is not None and "." in value:
                raise invalid(
                    f"Invalid {key} '{value}': it must be a single identifier without '.'."
                )
        body.str_map("configuration")
        tags = body.str_map("tags")
        if tags is not None and len(tags) > MAX_TAGS:
            raise invalid(f"A pipeline can have at most {MAX_TAGS} tags, not {len(tags)}.")
        for key in _BOOL_FIELDS:
            body.bool_(key)
        for key in _LIST_FIELDS:
            body.objects(key)
        for key, allowed in (("channel", CHANNELS), ("edition", EDITIONS)):
            value = body.str_(key)
            if value is not None and value.upper() not in allowed:
                raise invalid(f"Invalid value '{value}' for {key}")
        return {
            key: copy.deepcopy(value)
            for key, value in sorted(body.data.items())
            if key not in REQUEST_ONLY_FIELDS and value is not None
        }

    def create(self, body: Body, now_ms: int) -> Json:
        """`pipelines.create`: `{pipeline_id}` (or `{effective_settings}` for a dry run)."""
        spec = self.validate_spec(body)
        name = body.require_str("name")
        if not body.bool_("allow_duplicate_names") and self._name_taken(name):
            raise _duplicate_name(name)
        pipeline_id = body.str_("id")
        if pipeline_id is not None and pipeline_id in self.pipelines:
            raise invalid(f"A pipeline with id {pipeline_id} already exists.")
        if body.bool_("dry_run"):
            return {"effective_settings": {**spec, "id": pipeline_id or ""}}
        pipeline_id = pipeline_id or self.rt.rng.uuid4()
        spec.pop("id", None)
        pipeline = Pipeline(pipeline_id, name, spec, now_ms, now_ms, self.rt.principal)
        self.pipelines.put(pipeline_id, pipeline)
        self._register_name(pipeline)
        return {"pipeline_id": pipeline_id}

    def replace_spec(self, pipeline: Pipeline, body: Body, now_ms: int) -> None:
        """`pipelines.update` (PUT): the body replaces the whole spec; a running update keeps its old spec."""
        expected = body.int_("expected_last_modified")
        if expected is not None and expected != pipeline.last_modified:
            raise resource_conflict("The pipeline was modified concurrently.")
        spec = self.validate_spec(body)
        spec.pop("id", None)
        name = body.str_("name") or pipeline.name
        if (
            name != pipeline.name
            and not body.bool_("allow_duplicate_names")
            and self._name_taken(name, pipeline.pipeline_id)
        ):
            raise _duplicate_name(name)
        spec["name"] = name
        self._unregister_name(pipeline)
        pipeline.name, pipeline.spec = name, spec
        self._register_name(pipeline)
        pipeline.last_modified = max(now_ms, pipeline.last_modified + 1)

    def delete(self, pipeline: Pipeline, now_ms: int, *, cascade: bool) -> None:
        """`pipelines.delete`: cancel an active update; with `cascade`, drop the tables it maintains."""
        active = pipeline.active_update(now_ms)
        if active is not None:
            active.stop(now_ms)
        self.pipelines.pop(pipeline.pipeline_id)
        self._unregister_name(pipeline)
        for update in pipeline.updates:
            self.live.pop(update.update_id, None)
        if cascade:
            for table in self.uc.tables_of_pipeline(pipeline.pipeline_id):
                self.uc.drop_table(table.full_name)

    # ------------------------------------------------------------------------------------------ updates

    def start_update(self, pipeline: Pipeline, body: Body, now_ms: int) -> Update:
        """`pipelines.start_update` (409 while an update is active)."""
        cause_value = body.data.get("cause")
        cause = "API_CALL"
        if cause_value is not None:
            cause = parse_enum(
                cause_value, UPDATE_CAUSES, "cause", strict=self.rt.behaviour.enum_case_strict
            )
        full_refresh = bool(body.bool_("full_refresh"))
        full_selection = body.str_list("full_refresh_selection") or []
        selection = body.str_list("refresh_selection") or []
        if full_refresh and (full_selection or selection):
            raise invalid(
                "full_refresh cannot be combined with refresh_selection or full_refresh_selection."
            )
        validate_only = bool(body.bool_("validate_only"))
        active = pipeline.active_update(now_ms)
        if active is not None:
            raise resource_conflict(
                f"Pipeline {pipeline.pipeline_id} already has an active update {active.update_id}."
            )
        return self.start_update_at(
            pipeline,
            now_ms,
            cause=cause,
            full_refresh=full_refresh,
            full_refresh_selection=full_selection,
            refresh_selection=selection,
            validate_only=validate_only,
        )

    def start_update_at(
        self,
        pipeline: Pipeline,
        at_ms: int,
        *,
        cause: str,
        full_refresh: bool = False,
        full_refresh_selection: list[str] | None = None,
        refresh_selection: list[str] | None = None,
        validate_only: bool = False,
    ) -> Update:
        """Plan and record a new update created at `at_ms` (the caller checked that none is active)."""
        full_refresh_selection = full_refresh_selection or []
        flows = self._plan_flows(pipeline, full_refresh, full_refresh_selection)
        outcome = self._next_outcome(pipeline)
        update = Update(
            update_id=self.rt.rng.uuid4(),
            pipeline_id=pipeline.pipeline_id,
            created_ms=at_ms,
            step_ms=self.step_ms,
            cause=cause,
            flows=flows,
            config=self._config_of(pipeline),
            full_refresh=full_refresh,
            full_refresh_selection=list(full_refresh_selection),
            refresh_selection=list(refresh_selection or []),
            validate_only=validate_only,
            continuous=_flag(pipeline.spec, "continuous") and not validate_only,
        )
        update.plan(outcome)
        self._append(pipeline, update)
        self.live[update.update_id] = update
        return update

    def stop(self, pipeline: Pipeline, now_ms: int) -> None:
        """`pipelines.stop`: the active update goes STOPPING, then CANCELED one step later (no-op when idle)."""
        active = pipeline.active_update(now_ms)
        if active is not None:
            active.stop(now_ms)
            self.live[active.update_id] = active

    def _config_of(self, pipeline: Pipeline) -> Json:
        return {**pipeline.spec, "id": pipeline.pipeline_id}

    def _append(self, pipeline: Pipeline, update: Update) -> None:
        latest = pipeline.latest()
        pipeline.by_update_id[update.update_id] = update
        if latest is None or latest.created_ms <= update.created_ms:
            update.ordinal = len(pipeline.updates) + 1
            pipeline.updates.append(update)
            return
        # Not expected (every creation first catches up to its time), but keep the order invariant if it happens.
        position = bisect_right([u.created_ms for u in pipeline.updates], update.created_ms)
        pipeline.updates.insert(position, update)
        self._renumber(pipeline)

    @staticmethod
    def _renumber(pipeline: Pipeline) -> None:
        for index, update in enumerate(pipeline.updates, start=1):
            if update.ordinal != index:
                update.ordinal = index
                update.invalidate_events()

    def flows_of(self, pipeline: Pipeline) -> list[tuple[str, str]]:
        """`(flow name, dataset name)` of the pipeline's flows (one per target table), cached per spec."""
        cached = self._flows_cache.get(pipeline.pipeline_id)
        if cached is not None and cached[0] is pipeline.spec:
            return cached[1]
        flows = self._compute_flows(pipeline)
        self._flows_cache[pipeline.pipeline_id] = (pipeline.spec, flows)
        return flows

    def _compute_flows(self, pipeline: Pipeline) -> list[tuple[str, str]]:
        configuration = pipeline.spec.get("configuration") or {}
        names = pipeline.seeded_flows
        if not names:
            target = configuration.get(TARGET_TABLE_KEY)
            names = [str(target)] if target else [pipeline.name]
        catalog, schema = pipeline.spec.get("catalog"), pipeline.spec.get("schema")
        schema = schema or pipeline.spec.get("target")
        prefix = ".".join(str(p) for p in (catalog, schema) if p)
        return [(name, f"{prefix}.{name}" if prefix else name) for name in names]

    def _source(self, pipeline: Pipeline) -> Table | None:
        source = (pipeline.spec.get("configuration") or {}).get(SOURCE_TABLE_KEY)
        return self.uc.tables.get(str(source).lower()) if source else None

    def _plan_flows(
        self, pipeline: Pipeline, full_refresh: bool, selection: list[str]
    ) -> list[Flow]:
        configuration = pipeline.spec.get("configuration") or {}
        scd_full = str(configuration.get(SCD_TYPE_KEY, "")).lower() == "full_refresh"
        source = self._source(pipeline)
        row_count = source.row_count if source is not None else DEFAULT_SOURCE_ROWS
        rng = self.rt.rng.get("rows")
        flows = []
        for name, dataset in self.flows_of(pipeline):
            full = full_refresh or scd_full or name in selection
            rows = draw_rows(rng, row_count, full=full, sim=self.rt.simulation)
            flows.append(Flow(name, dataset, full=full, source_rows=row_count, rows=rows))
        return flows

    def _next_outcome(self, pipeline: Pipeline) -> Outcome:
        """Scripted outcome first, then automatic failures, then `simulation.failure_rate`."""
        if pipeline.next_outcome is not None:
            scripted, pipeline.next_outcome = pipeline.next_outcome, None
            return scripted
        failure = self._automatic_failure(pipeline)
        if failure is not None:
            return Outcome("FAILED", "INITIALIZING", failure)
        rate = self.rt.simulation.failure_rate
        if rate > 0 and self.rt.rng.get("outcomes").random() < rate:
            return Outcome(
                "FAILED",
                "RUNNING",
                Failure("com.databricks.pipelines.SimulatedFailure", "Simulated failure."),
            )
        return Outcome()

    def _automatic_failure(self, pipeline: Pipeline) -> Failure | None:
        """Why an update of this pipeline must fail (docs/EMULATOR.md §9.2 automatic failures), or None."""
        spec, uc = pipeline.spec, self.uc
        catalog = spec.get("catalog")
        schema = spec.get("schema") or spec.get("target")
        if catalog:
            if str(catalog).lower() not in uc.catalogs:
                return Failure(
                    "org.apache.spark.sql.catalyst.analysis.NoSuchCatalogException",
                    f"[NO_SUCH_CATALOG_EXCEPTION] Catalog '{catalog}' was not found.",
                )
            if schema and f"{catalog}.{schema}".lower() not in uc.schemas:
                return Failure(
                    "org.apache.spark.sql.catalyst.analysis.NoSuchNamespaceException",
                    f"[SCHEMA_NOT_FOUND] The schema `{catalog}`.`{schema}` cannot be found.",
                )
        workspace = self.rt.store.area(WorkspaceObjects)
        for library in spec.get("libraries") or []:
            for kind in ("notebook", "file"):
                entry = library.get(kind) if isinstance(library, dict) else None
                path = entry.get("path") if isinstance(entry, dict) else None
                if path is None:
                    continue
                found = workspace.get(str(path))
                if found is None or found.object_type == "DIRECTORY":
                    return Failure(
                        "java.io.FileNotFoundException",
                        f"Unable to find the {kind} at path '{path}'.",
                    )
        configuration = spec.get("configuration") or {}
        source_name = configuration.get(SOURCE_TABLE_KEY)
        if source_name:
            source = self._source(pipeline)
            if source is None:
                return Failure(
                    "org.apache.spark.sql.catalyst.ExtendedAnalysisException",
                    f"[TABLE_OR_VIEW_NOT_FOUND] The table or view `{source_name}` cannot be found.",
                )
            scd = str(configuration.get(SCD_TYPE_KEY, "")).lower()
            if scd in ("1", "2") and not source.cdf_enabled:
                return Failure(
                    "org.apache.spark.sql.delta.DeltaAnalysisException",
                    f"[DELTA_MISSING_CHANGE_DATA] Error getting change data for table "
                    f"{source.full_name}: change data feed is not enabled "
                    "(delta.enableChangeDataFeed is not 'true').",
                )
        return None

    # ------------------------------------------------------------------------------------------ simulation

    def catch_up(self, now_ms: int) -> None:
        """Apply the effects of updates that ended (or reached RUNNING, for continuous ones) by `now_ms`."""
        due = [u for u in self.live.values() if self._effects_due(u, now_ms)]
        for update in sorted(due, key=lambda u: (u.end_ms or u.created_ms, u.update_id)):
            self._apply_effects(update)
            if update.end_ms is not None:
                del self.live[update.update_id]

    @staticmethod
    def _effects_due(update: Update, now_ms: int) -> bool:
        if update.end_ms is not None:
            return update.end_ms <= now_ms
        running = next((at for at, state in update.states if state == "RUNNING"), None)
        return running is not None and running <= now_ms and not update.effects_applied

    def _apply_effects(self, update: Update) -> None:
        """The first successful update creates each target STREAMING_TABLE; later ones bump its version."""
        pipeline = self.pipelines.get(update.pipeline_id)
        if pipeline is None or update.effects_applied or update.validate_only:
            return
        if update.end_ms is not None and update.outcome != "COMPLETED":
            return
        update.effects_applied = True
        at_ms = update.end_ms if update.end_ms is not None else update.created_ms
        source = self._source(pipeline)
        for flow in update.flows:
            self._touch_target(pipeline, flow, source, at_ms, bump=update.end_ms is not None)

    def _touch_target(
        self, pipeline: Pipeline, flow: Flow, source: Table | None, at_ms: int, *, bump: bool
    ) -> None:
        parts = flow.dataset.lower().split(".")
        uc = self.uc
        if len(parts) != 3 or f"{parts[0]}.{parts[1]}" not in uc.schemas:
            return
        existing = uc.tables.get(flow.dataset.lower())
        if existing is not None:
            if bump:
                existing.current_version += 1
                existing.row_count = flow.source_rows
            return
        uc.create_table(
            parts[0],
            parts[1],
            parts[2],
            "STREAMING_TABLE",
            columns=list(source.columns) if source is not None else [],
            at_ms=at_ms,
            properties={"delta.enableChangeDataFeed": "true"},
            row_count=flow.source_rows,
            pipeline_id=pipeline.pipeline_id,
        )

    def next_activity_ms(self, now_ms: int) -> int | None:
        """The next planned update state change (a running continuous update has none)."""
        times = [t for u in self.live.values() if (t := u.next_change_ms(now_ms)) is not None]
        return min(times) if times else None

    def on_clock_moved(self, old_ms: int, new_ms: int) -> None:  # noqa: ARG002 - hook signature
        """Apply effects that became due."""
        self.catch_up(new_ms)

    # ------------------------------------------------------------------------------------------ rendering

    def state_and_health(self, pipeline: Pipeline, now_ms: int) -> tuple[str, str]:
        """Pipeline state and health at `now_ms` (FAILED/UNHEALTHY after a failure until a success)."""
        latest = pipeline.latest()
        if latest is None:
            return "IDLE", "HEALTHY"
        health = "HEALTHY"
        for update in reversed(pipeline.updates):
            if update.end_ms is None or update.end_ms > now_ms or update.outcome == "CANCELED":
                continue
            health = "UNHEALTHY" if update.outcome == "FAILED" else "HEALTHY"
            break
        active_state = latest.pipeline_state_at(now_ms)
        if active_state is not None:
            return active_state, health
        return ("FAILED" if latest.outcome == "FAILED" else "IDLE"), health

    def latest_updates(self, pipeline: Pipeline, now_ms: int) -> list[Json]:
        """Up to five newest updates `{update_id, state, creation_time (RFC 3339)}`."""
        return [
            {
                "update_id": u.update_id,
                "state": u.state_at(now_ms),
                "creation_time": rfc3339(u.created_ms),
            }
            for u in reversed(pipeline.updates[-LATEST_UPDATES:])
        ]

    def _run_as(self) -> Json:
        if self.rt.workspace.current_user.kind == "service_principal":
            return {"service_principal_name": self.rt.principal}
        return {"user_name": self.rt.principal}

    def pipeline_json(self, pipeline: Pipeline, now_ms: int) -> Json:
        """GetPipelineResponse."""
        state, health = self.state_and_health(pipeline, now_ms)
        return {
            "pipeline_id": pipeline.pipeline_id,
            "name": pipeline.name,
            "spec": {**copy.deepcopy(pipeline.spec), "id": pipeline.pipeline_id},
            "state": state,
            "health": health,
            "creator_user_name": pipeline.creator,
            "run_as_user_name": self.rt.principal,
            "run_as": self._run_as(),
            "last_modified": pipeline.last_modified,
            "latest_updates": self.latest_updates(pipeline, now_ms),
        }

    def state_info_json(self, pipeline: Pipeline, now_ms: int) -> Json:
        """PipelineStateInfo (list item)."""
        state, health = self.state_and_health(pipeline, now_ms)
        return {
            "pipeline_id": pipeline.pipeline_id,
            "name": pipeline.name,
            "state": state,
            "health": health,
            "creator_user_name": pipeline.creator,
            "run_as_user_name": self.rt.principal,
            "latest_updates": self.latest_updates(pipeline, now_ms),
        }

    @staticmethod
    def update_json(update: Update, now_ms: int) -> Json:
        """UpdateInfo."""
        body: Json = {
            "update_id": update.update_id,
            "pipeline_id": update.pipeline_id,
            "state": update.state_at(now_ms),
            "cause": update.cause,
            "creation_time": update.created_ms,
            "full_refresh": update.full_refresh,
            "validate_only": update.validate_only,
            "config": update.config,
        }
        if update.full_refresh_selection:
            body["full_refresh_selection"] = list(update.full_refresh_selection)
        if update.refresh_selection:
            body["refresh_selection"] = list(update.refresh_selection)
        if update.continuous:
            body["mode"] = "CONTINUOUS"
        return body

    def origin(self, pipeline: Pipeline) -> Json:
        """The `origin` fields shared by every event of a pipeline."""
        workspace = self.rt.workspace
        org_id: int | str = (
            int(workspace.workspace_id)
            if workspace.workspace_id.isdigit()
            else workspace.workspace_id
        )
        return {
            "cloud": workspace.cloud.capitalize(),
            "region": workspace.region,
            "org_id": org_id,
            "pipeline_id": pipeline.pipeline_id,
            "pipeline_type": "WORKSPACE",
            "pipeline_name": pipeline.name,
        }

    def update_events(
        self, pipeline: Pipeline, update: Update, now_ms: int
    ) -> list[tuple[int, int, Json]]:
        """Every planned event of one update (callers keep those with timestamp ≤ now).

        Built events are kept for the `EVENT_CACHE_UPDATES` most recently read updates only, so listing the
        events of a long history does not keep all of them in memory.
        """
        events = update.events(
            self.origin(pipeline), self.rt.random_seed, self.rt.simulation, now_ms
        )
        self._event_cache[update.update_id] = update
        self._event_cache.move_to_end(update.update_id)
        while len(self._event_cache) > EVENT_CACHE_UPDATES:
            _, evicted = self._event_cache.popitem(last=False)
            evicted.invalidate_events()
        return events

    def list_events(
        self,
        pipeline: Pipeline,
        flt: EventFilter,
        *,
        ascending: bool,
        after_seq: int | None,
        size: int,
        now_ms: int,
    ) -> tuple[list[Json], int | None]:
        """One page of events matching `flt` (timestamp ≤ now), and the sequence number to continue after.

        Walks updates from the cursor in the requested order and builds only the events it needs; updates that
        cannot match (another update id, outside the time bounds, no event of the wanted level) are skipped.
        """
        levels = flt.values_of("level")
        updates = pipeline.updates
        wanted_id = flt.update_id()
        if wanted_id is not None:
            target = pipeline.by_update_id.get(wanted_id)
            if target is None:
                return [], None
            first = last = target.ordinal - 1
        else:
            low, high = flt.time_bounds()
            high = now_ms if high is None else min(high, now_ms)
            created = [u.created_ms for u in updates]
            # The update containing `low` may have started before it: begin one update earlier.
            first = 0 if low is None else max(0, bisect_right(created, low) - 1)
            last = bisect_right(created, high) - 1
        if after_seq is not None:
            cursor_index = after_seq // SEQUENCE_STRIDE - 1
            if ascending:
                first = max(first, cursor_index)
            else:
                last = min(last, cursor_index)
        indexes = range(first, last + 1) if ascending else range(last, first - 1, -1)
        chosen: list[tuple[int, Json]] = []
        for index in indexes:
            update = updates[index]
            if levels is not None and not levels & update.summary_levels():
                continue
            events = self.update_events(pipeline, update, now_ms)
            for at_ms, sequence, event in events if ascending else reversed(events):
                if at_ms > now_ms:
                    continue
                if after_seq is not None and (
                    sequence <= after_seq if ascending else sequence >= after_seq
                ):
                    continue
                if not flt.matches(event, at_ms):
                    continue
                if len(chosen) == size:
                    return [e for _, e in chosen], chosen[-1][0]
                chosen.append((sequence, event))
        return [e for _, e in chosen], None

    def truth(self, pipeline: Pipeline, update: Update, now_ms: int) -> Json:
        """Ground truth of one update (docs/EMULATOR.md §10.6)."""
        rows, flows = update.rows_at(now_ms, self.rt.random_seed, self.rt.simulation)
        return {
            "pipeline_id": pipeline.pipeline_id,
            "update_id": update.update_id,
            "state": update.state_at(now_ms),
            "outcome": update.outcome,
            "rows": rows.to_json(),
            "flows": flows,
            "start": rfc3339(update.created_ms),
            "end": rfc3339(update.end_ms)
            if update.end_ms is not None and update.end_ms <= now_ms
            else None,
            "error": update.failure.message if update.failure is not None else None,
        }

    def dump(self) -> Json:
        """Pipelines with a summary of their updates (events are not dumped)."""
        now = self.rt.now_ms()
        return {
            "pipelines": [
                {
                    **self.pipeline_json(p, now),
                    "update_count": len(p.updates),
                    "updates": [self.update_json(u, now) for u in p.updates[-LATEST_UPDATES:]],
                }
                for p in self.pipelines.values()
            ]
        }

    # ------------------------------------------------------------------------------------------ seed

    def load_seed(self, seed: Seed) -> None:
        """Seeded pipelines (specs validated as the API would) with their update history."""
        for index, spec in enumerate(seed.pipelines):
            self._seed_pipeline(index, spec)
        now = self.rt.seed_origin_ms  # the clock is reset only after the state is built
        for pipeline in self.pipelines.values():
            self._apply_history_effects(pipeline, now)

    def _seed_pipeline(self, index: int, seed: PipelineSeed) -> None:
        where = f"pipelines[{index}]"
        body = Body({**seed.spec, "name": seed.name})
        try:
            spec = self.validate_spec(body)
        except ApiError as exc:
            raise SeedError([f"{where}.spec: {exc.message}"]) from None
        pipeline_id = seed.pipeline_id or self.rt.rng.uuid4()
        if pipeline_id in self.pipelines:
            raise SeedError([f"{where}.pipeline_id: duplicate '{pipeline_id}'"])
        spec.pop("id", None)
        origin = self.rt.seed_origin_ms
        history = [
            (self.rt.seed_time(u.start), u, None) for u in seed.updates
        ] + self._generated_history(where, seed)
        created = self.rt.seed_time(seed.created) if seed.created is not None else None
        if created is None:
            created = min((start for start, _, _ in history), default=origin) - self.step_ms
        pipeline = Pipeline(
            pipeline_id,
            seed.name,
            spec,
            created,
            created,
            self.rt.principal,
            seeded_flows=seed.flows,
        )
        self.pipelines.put(pipeline_id, pipeline)
        self._register_name(pipeline)
        history.sort(key=lambda item: item[0])
        for start_ms, update_seed, generated in history:
            if start_ms > origin:
                raise SeedError([f"{where}.updates: an update cannot start in the future"])
            update = self._seed_update(pipeline, start_ms, update_seed, generated)
            pipeline.by_update_id[update.update_id] = update
            update.ordinal = len(pipeline.updates) + 1
            pipeline.updates.append(update)
        self._check_overlaps(where, pipeline)

    def _generated_history(
        self, where: str, seed: PipelineSeed
    ) -> list[tuple[int, UpdateSeed | None, tuple[str, str, bool, str | None] | None]]:
        out: list[tuple[int, UpdateSeed | None, tuple[str, str, bool, str | None] | None]] = []
        for hi, block in enumerate(seed.history):
            last = self.rt.seed_time(block.last)
            oldest = last - (block.count - 1) * block.every
            longest = self._longest_update(seed)
            if block.every <= longest:
                raise SeedError(
                    [
                        f"{where}.history[{hi}].every: must exceed the length of one update "
                        f"({longest} ms with step_ms {self.step_ms})"
                    ]
                )
            for n in range(block.count):
                outcome = block.outcome
                if block.failed_every and (n + 1) % block.failed_every == 0:
                    outcome = "FAILED"
                full = bool(block.full_refresh_every and (n + 1) % block.full_refresh_every == 0)
                error = "Simulated failure." if outcome == "FAILED" else None
                out.append((oldest + n * block.every, None, (block.cause, outcome, full, error)))
        return out

    def _longest_update(self, seed: PipelineSeed) -> int:
        """Length of a completed update of this pipeline (5 steps of start-up, one per flow, one to finish)."""
        return (6 + max(1, len(seed.flows or []))) * self.step_ms

    def _seed_update(
        self,
        pipeline: Pipeline,
        start_ms: int,
        update_seed: UpdateSeed | None,
        generated: tuple[str, str, bool, str | None] | None,
    ) -> Update:
        outcome_state: str
        if update_seed is not None:
            cause, outcome_state = update_seed.cause, update_seed.outcome
            full, error = update_seed.full_refresh, update_seed.error
            validate_only, rows = update_seed.validate_only, update_seed.rows
        else:
            assert generated is not None  # noqa: S101 - one of the two is always given
            cause, outcome_state, full, error = generated
            validate_only, rows = False, None
        flows = self._plan_flows(pipeline, full, [])
        if rows is not None and flows:
            flows[0].rows = Rows(rows.output, rows.upserted, rows.deleted, rows.dropped)
            for flow in flows[1:]:
                flow.rows = Rows()
        return self._make_seeded_update(
            pipeline, start_ms, cause, flows, outcome_state, error, full, validate_only
        )

    def _make_seeded_update(
        self,
        pipeline: Pipeline,
        start_ms: int,
        cause: str,
        flows: list[Flow],
        outcome_state: str,
        error: str | None,
        full: bool,
        validate_only: bool = False,
    ) -> Update:
        failure = None
        if outcome_state == "FAILED":
            failure = Failure(
                "com.databricks.pipelines.PipelineException", error or "Simulated failure."
            )
        update = Update(
            update_id=self.rt.rng.uuid4(),
            pipeline_id=pipeline.pipeline_id,
            created_ms=start_ms,
            step_ms=self.step_ms,
            cause=cause,
            flows=flows,
            config=self._config_of(pipeline),
            full_refresh=full,
            validate_only=validate_only,
            continuous=False,  # history: even a continuous pipeline's past updates have ended
        )
        update.plan(Outcome(outcome_state, "RUNNING", failure))
        return update

    def _check_overlaps(self, where: str, pipeline: Pipeline) -> None:
        previous: Update | None = None
        for update in pipeline.updates:
            if previous is not None and (
                previous.end_ms is None or update.created_ms < previous.end_ms
            ):
                raise SeedError(
                    [
                        f"{where}.updates: the update starting at {rfc3339(update.created_ms)} overlaps "
                        f"the previous one (it ends at "
                        f"{rfc3339(previous.end_ms) if previous.end_ms else 'never: continuous'})"
                    ]
                )
            previous = update

    def _apply_history_effects(self, pipeline: Pipeline, now_ms: int) -> None:
        for update in pipeline.updates:
            if self._effects_due(update, now_ms):
                self._apply_effects(update)
            if update.end_ms is None or update.end_ms > now_ms:
                self.live[update.update_id] = update

    # -------------------------------------------------------------------- seeded job runs (called by JobsState)

    def seeded_job_update(self, pipeline: Pipeline, start_ms: int, window_ms: int) -> Update | None:
        """A seeded `JOB_TASK` update created in `[start_ms, start_ms + window_ms]` not yet linked to a run."""
        created = [u.created_ms for u in pipeline.updates]
        index = bisect_left(created, start_ms)
        while index < len(pipeline.updates) and created[index] <= start_ms + window_ms:
            update = pipeline.updates[index]
            if update.cause == "JOB_TASK" and not update.linked:
                update.linked = True
                return update
            index += 1
        return None

    def synthesize_job_update(
        self, pipeline: Pipeline, wanted_ms: int, outcome_state: str, full_refresh: bool
    ) -> Update:
        """A `JOB_TASK` update for a seeded run; placed by `place_synthesized` (possibly later than wanted)."""
        flows = self._plan_flows(pipeline, full_refresh, [])
        error = "Simulated failure." if outcome_state == "FAILED" else None
        update = self._make_seeded_update(
            pipeline, wanted_ms, "JOB_TASK", flows, outcome_state, error, full_refresh
        )
        update.synthesized = True
        self._synthesized.setdefault(pipeline.pipeline_id, []).append(
            _Synthesized(update, wanted_ms)
        )
        return update

    def place_synthesized(self, now_ms: int) -> None:
        """Merge synthesized updates into their pipelines' histories without overlaps (one sort per pipeline)."""
        for pipeline_id, pending in self._synthesized.items():
            pipeline = self.pipelines[pipeline_id]
            merged = sorted(
                [(u.created_ms, 0, u) for u in pipeline.updates]
                + [(s.wanted_ms, 1, s.update) for s in pending],
                key=lambda item: (item[0], item[1]),
            )
            placed: list[Update] = []
            for _, _, update in merged:
                previous = placed[-1] if placed else None
                if (
                    previous is not None
                    and previous.end_ms is not None
                    and (update.created_ms < previous.end_ms)
                ):
                    if not update.synthesized:
                        raise SeedError(
                            [
                                f"pipeline '{pipeline.name}': the seeded update at "
                                f"{rfc3339(update.created_ms)} overlaps an update synthesized for a "
                                "seeded job run; space the runs and updates further apart"
                            ]
                        )
                    self._move(update, previous.end_ms)
                placed.append(update)
            for update in placed:
                if update.created_ms > now_ms:
                    raise SeedError(
                        [
                            f"pipeline '{pipeline.name}': seeded job runs need updates after the seed "
                            "time; start the runs earlier"
                        ]
                    )
                pipeline.by_update_id[update.update_id] = update
            pipeline.updates = placed
            self._renumber(pipeline)
            self._check_overlaps(f"pipelines['{pipeline.name}']", pipeline)
            for update in pipeline.updates:
                if update.synthesized:
                    if self._effects_due(update, now_ms):
                        self._apply_effects(update)
                    if update.end_ms is None or update.end_ms > now_ms:
                        self.live[update.update_id] = update
        self._synthesized = {}

    @staticmethod
    def _move(update: Update, created_ms: int) -> None:
        """Re-plan an update to start at `created_ms` (same outcome)."""
        outcome = Outcome(update.outcome or "COMPLETED", "RUNNING", update.failure)
        update.created_ms = created_ms
        update.plan(outcome)


def _duplicate_name(name: str) -> ApiError:
    return invalid(
        f"The pipeline name '{name}' is already used by another pipeline. This check can be skipped by "
        "setting `allow_duplicate_names = true` in the request."
    )


def encode_details(event: Json, mode: str) -> Json:
    """An event with `details` encoded per `behaviour.event_details` (object, json_string or omitted)."""
    if mode == "object" or "details" not in event:
        return event
    out = {k: v for k, v in event.items() if k != "details"}
    if mode == "json_string":
        out["details"] = json.dumps(event["details"], separators=(",", ":"), sort_keys=True)
    return out

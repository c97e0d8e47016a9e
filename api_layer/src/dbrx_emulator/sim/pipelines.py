"""Pipeline update timelines, events and row metrics (docs/EMULATOR.md §9.2).

An `Update` is planned once, when it starts: a list of `(time, update state)` changes at multiples of `step_ms`,
the flows it refreshes with the rows each one reports, and its outcome. Reads evaluate it against the clock, so an
update "progresses" only because time passes. `stop` rewrites the rest of the timeline. Events are derived from the
plan on first use (and cached), with ids and sequence numbers that depend only on the seed and the update, so the
same seed and call sequence always give the same events.

Timeline of a triggered update (one step = `step_ms`, F flows):

    offset 0    CREATED                  pipeline STARTING   create_update
    offset 1    WAITING_FOR_RESOURCES    STARTING            update_progress
    offset 2    INITIALIZING             STARTING            update_progress
    offset 3    SETTING_UP_TABLES        RUNNING             update_progress; flow_progress QUEUED per flow
    offset 4    RUNNING                  RUNNING             update_progress; flow_progress STARTING, RUNNING
    offset 4+i  RUNNING                  RUNNING             flow i flow_progress COMPLETED with row metrics
    offset 5+F  COMPLETED                IDLE                update_progress COMPLETED

A failure "at phase P" lets the update enter P and end one step later (`FAILED` with an ERROR event, or
`CANCELED`); automatic failures happen at phase INITIALIZING, so they end at offset 3.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from dbrx_emulator.clock import rfc3339
from dbrx_emulator.config import Simulation
from dbrx_emulator.rng import derive, stable_uuid

Json = dict[str, Any]

TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELED"})
STARTUP_STATES = (
    "CREATED",
    "WAITING_FOR_RESOURCES",
    "INITIALIZING",
    "SETTING_UP_TABLES",
    "RUNNING",
)
PHASE_OFFSETS = {"INITIALIZING": 2, "SETTING_UP_TABLES": 3, "RUNNING": 4}
_PIPELINE_STATE_OF = {
    "QUEUED": "STARTING",
    "CREATED": "STARTING",
    "WAITING_FOR_RESOURCES": "STARTING",
    "INITIALIZING": "STARTING",
    "SETTING_UP_TABLES": "RUNNING",
    "RUNNING": "RUNNING",
    "STOPPING": "STOPPING",
}
SEQUENCE_STRIDE = (
    1_000_000  # control_plane_seq_no = ordinal * stride + index: monotonic across updates
)

# Ranks order events that share a timestamp.
_RANK_CREATE, _RANK_PROGRESS, _RANK_FLOW, _RANK_FLOW_DONE, _RANK_FLOW_END, _RANK_FINAL = range(6)


@dataclass
class Rows:
    """Row counts of one flow (or the sum of several)."""

    output: int = 0
    upserted: int = 0
    deleted: int = 0
    dropped: int = 0

    def add(self, other: Rows) -> None:
        """Add `other` to these counts."""
        self.output += other.output
        self.upserted += other.upserted
        self.deleted += other.deleted
        self.dropped += other.dropped

    def to_json(self) -> Json:
        """`{output, upserted, deleted, dropped}`."""
        return {
            "output": self.output,
            "upserted": self.upserted,
            "deleted": self.deleted,
            "dropped": self.dropped,
        }

    def metrics_details(self, status: str) -> Json:
        """`details.flow_progress` carrying these counts."""
        return {
            "flow_progress": {
                "status": status,
                "metrics": {
                    "num_output_rows": self.output,
                    "num_upserted_rows": self.upserted,
                    "num_deleted_rows": self.deleted,
                },
                "data_quality": {"dropped_records": self.dropped},
            }
        }


def draw_rows(rng: random.Random, row_count: int, *, full: bool, sim: Simulation) -> Rows:
    """Simulated rows of one flow: the whole source on a full refresh, else a random share of changes."""
    if full:
        return Rows(row_count, row_count, 0, round(row_count * sim.dropped_rate))
    changes = rng.randint(0, math.ceil(sim.change_rate * row_count))
    deleted = round(changes * sim.delete_ratio)
    return Rows(changes, changes - deleted, deleted, round(changes * sim.dropped_rate))


@dataclass
class Flow:
    """A flow refreshed by an update: its target dataset and, once planned, its rows and completion time."""

    name: str
    dataset: str
    full: bool = False
    source_rows: int = 0  # row count of the source (basis of continuous micro-batches)
    rows: Rows = field(default_factory=Rows)
    completed_at: int | None = None  # None: does not complete (continuous, failed, canceled)


@dataclass(frozen=True)
class Failure:
    """Why an update failed (the ERROR event's exception)."""

    class_name: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """How an update ends: COMPLETED, or FAILED/CANCELED during `at_phase`."""

    state: str = "COMPLETED"
    at_phase: str = "RUNNING"
    failure: Failure | None = None


@dataclass
class Update:
    """One pipeline update and its planned timeline (times in epoch ms)."""

    update_id: str
    pipeline_id: str
    created_ms: int
    step_ms: int
    cause: str
    flows: list[Flow]
    config: Json
    full_refresh: bool = False
    full_refresh_selection: list[str] = field(default_factory=list)
    refresh_selection: list[str] = field(default_factory=list)
    validate_only: bool = False
    continuous: bool = False
    ordinal: int = 0  # 1-based position in the pipeline's history (sets the event sequence numbers)
    states: list[tuple[int, str]] = field(default_factory=list)
    end_ms: int | None = None  # time of the terminal state; None while a continuous update runs
    outcome: str | None = None  # terminal state once known
    failure: Failure | None = None
    stopped_at: int | None = None
    effects_applied: bool = False
    synthesized: bool = False  # made up by the seed loader for a seeded job run
    linked: bool = False  # a seeded job run already claimed this seeded JOB_TASK update
    _events: list[tuple[int, int, Json]] | None = field(default=None, repr=False)
    _events_until: int | None = field(default=None, repr=False)

    # ------------------------------------------------------------------------------------------ planning

    def plan(self, outcome: Outcome) -> None:
        """Lay out the timeline from `created_ms` (flows must already carry their rows)."""
        t0, step = self.created_ms, self.step_ms
        startup = [(t0 + i * step, state) for i, state in enumerate(STARTUP_STATES)]
        self.failure = None
        if outcome.state != "COMPLETED":
            phase = PHASE_OFFSETS.get(outcome.at_phase, PHASE_OFFSETS["RUNNING"])
            if self.validate_only:
                phase = min(phase, PHASE_OFFSETS["SETTING_UP_TABLES"])
            self.states = startup[: phase + 1]
            self._finish(outcome.state, t0 + (phase + 1) * step)
            self.failure = outcome.failure if outcome.state == "FAILED" else None
            for flow in self.flows:
                flow.completed_at = None
            return
        if self.validate_only:
            self.states = startup[:4]
            self._finish("COMPLETED", t0 + 4 * step)
            for flow in self.flows:
                flow.completed_at = None
            return
        self.states = startup
        if self.continuous:
            self.end_ms, self.outcome = None, None
            for flow in self.flows:
                flow.completed_at = None
            return
        for index, flow in enumerate(self.flows, start=1):
            flow.completed_at = t0 + (4 + index) * step
        self._finish("COMPLETED", t0 + (5 + len(self.flows)) * step)

    def invalidate_events(self) -> None:
        """Drop the event cache (its sequence numbers depend on `ordinal`)."""
        self._events = None

    def _finish(self, state: str, at_ms: int) -> None:
        self.states.append((at_ms, state))
        self.end_ms, self.outcome = at_ms, state
        self._events = None

    def stop(self, at_ms: int) -> bool:
        """Cancel the update at `at_ms`: STOPPING now, CANCELED one step later. False when it is not active."""
        if not self.is_active(at_ms):
            return False
        self.states = [s for s in self.states if s[0] <= at_ms]
        self.states.append((at_ms, "STOPPING"))
        for flow in self.flows:
            if flow.completed_at is not None and flow.completed_at > at_ms:
                flow.completed_at = None
        self.stopped_at = at_ms
        self.failure = None
        self._finish("CANCELED", at_ms + self.step_ms)
        return True

    # ------------------------------------------------------------------------------------------ reading

    def state_at(self, now_ms: int) -> str:
        """Update state at `now_ms`."""
        index = bisect_right(self.states, (now_ms, "\uffff")) - 1
        return self.states[index][1] if index >= 0 else "QUEUED"

    def is_active(self, now_ms: int) -> bool:
        """Created and not yet in a terminal state at `now_ms`."""
        return self.created_ms <= now_ms and (self.end_ms is None or now_ms < self.end_ms)

    def pipeline_state_at(self, now_ms: int) -> str | None:
        """The pipeline state this update imposes while active (None once it ended)."""
        if not self.is_active(now_ms):
            return None
        return _PIPELINE_STATE_OF.get(self.state_at(now_ms), "RUNNING")

    def next_change_ms(self, now_ms: int) -> int | None:
        """The next planned state change after `now_ms` (None: nothing planned, e.g. a running continuous update)."""
        for at_ms, _ in self.states:
            if at_ms > now_ms:
                return at_ms
        return None

    def rows_at(self, now_ms: int, seed: int, sim: Simulation) -> tuple[Rows, list[Json]]:
        """Ground truth at `now_ms`: total rows reported so far and per-flow details."""
        total = Rows()
        flows = []
        batches = self._batch_totals(now_ms, seed, sim)
        for flow in self.flows:
            rows = Rows()
            status = "QUEUED"
            if flow.completed_at is not None and flow.completed_at <= now_ms:
                rows.add(flow.rows)
                status = "COMPLETED"
            elif flow.name in batches:
                rows.add(batches[flow.name])
                status = "RUNNING"
            total.add(rows)
            flows.append(
                {
                    "flow_name": flow.name,
                    "dataset_name": flow.dataset,
                    "status": status,
                    "rows": rows.to_json(),
                }
            )
        return total, flows

    # ------------------------------------------------------------------------------------------ events

    def _batch_rows(self, seed: int, step: int, flow: Flow, sim: Simulation) -> Rows:
        rng = derive(seed, f"rows:{self.update_id}:{step}:{flow.name}")
        return draw_rows(rng, flow.source_rows, full=False, sim=sim)

    def _batch_steps(self, until_ms: int) -> range:
        """Steps (offsets ≥ 5) of continuous micro-batches up to `until_ms` (or the stop)."""
        if not self.continuous or len(self.states) < len(STARTUP_STATES):
            return range(0)
        limit = until_ms if self.stopped_at is None else min(until_ms, self.stopped_at)
        last = (limit - self.created_ms) // self.step_ms
        return range(5, max(5, last + 1))

    def _batch_totals(self, now_ms: int, seed: int, sim: Simulation) -> dict[str, Rows]:
        totals: dict[str, Rows] = {}
        for step in self._batch_steps(now_ms):
            for flow in self.flows:
                totals.setdefault(flow.name, Rows()).add(self._batch_rows(seed, step, flow, sim))
        return totals

    def events(
        self, origin: Json, seed: int, sim: Simulation, now_ms: int
    ) -> list[tuple[int, int, Json]]:
        """`(timestamp ms, control_plane_seq_no, event)` of this update in order.

        Built on first use and cached; it holds every planned event (callers keep those with timestamp ≤ now).
        A running continuous update is materialised up to `now_ms` and extended on later reads.
        """
        self.build_events(origin, seed, sim, now_ms)
        assert self._events is not None  # noqa: S101 - build_events always fills the cache
        return self._events

    def build_events(self, origin: Json, seed: int, sim: Simulation, now_ms: int) -> None:
        """Build (or extend, for a running continuous update) the event cache."""
        if self._events is not None and (
            self._events_until is None or self._events_until >= now_ms
        ):
            return
        items: list[tuple[int, int, Json]] = []
        short = self.update_id[:8]
        base = {**origin, "update_id": self.update_id}

        def add(at_ms: int, rank: int, event: Json) -> None:
            items.append((at_ms, rank, event))

        create: Json = {"cause": self.cause, "full_refresh": self.full_refresh}
        if self.validate_only:
            create["validate_only"] = True
        if self.full_refresh_selection:
            create["full_refresh_selection"] = list(self.full_refresh_selection)
        if self.refresh_selection:
            create["refresh_selection"] = list(self.refresh_selection)
        add(
            self.created_ms,
            _RANK_CREATE,
            _event(
                base,
                "create_update",
                "INFO",
                f"Update {short} started by {self.cause}.",
                {"create_update": create},
            ),
        )
        flows_started: int | None = None
        for at_ms, state in self.states[1:]:
            final = state in TERMINAL_STATES or state == "STOPPING"
            if state == "FAILED":
                self._flow_ends(add, base, at_ms, flows_started, "FAILED")
            if state == "CANCELED":
                self._flow_ends(add, base, at_ms, flows_started, "STOPPED")
            level = "ERROR" if state == "FAILED" else "INFO"
            event = _event(
                base,
                "update_progress",
                level,
                f"Update {short} is {state}.",
                {"update_progress": {"state": state}},
            )
            if state == "FAILED" and self.failure is not None:
                event["error"] = _error(self.failure)
            add(at_ms, _RANK_FINAL if final else _RANK_PROGRESS, event)
            if self.validate_only:
                continue
            if state == "SETTING_UP_TABLES":
                for flow in self.flows:
                    add(at_ms, _RANK_FLOW, _flow_event(base, flow, "QUEUED", "is QUEUED"))
            if state == "RUNNING":
                flows_started = at_ms
                for flow in self.flows:
                    add(at_ms, _RANK_FLOW, _flow_event(base, flow, "STARTING", "is STARTING"))
                    add(at_ms, _RANK_FLOW, _flow_event(base, flow, "RUNNING", "is RUNNING"))
        for flow in self.flows:
            if flow.completed_at is not None:
                event = _flow_event(base, flow, "COMPLETED", "has COMPLETED")
                event["details"] = flow.rows.metrics_details("COMPLETED")
                add(flow.completed_at, _RANK_FLOW_DONE, event)
        until = self.end_ms if self.end_ms is not None else now_ms
        for step in self._batch_steps(until):
            at_ms = self.created_ms + step * self.step_ms
            for flow in self.flows:
                event = _flow_event(base, flow, "RUNNING", "is RUNNING")
                event["details"] = self._batch_rows(seed, step, flow, sim).metrics_details(
                    "RUNNING"
                )
                add(at_ms, _RANK_FLOW_DONE, event)
        ordered = sorted(enumerate(items), key=lambda pair: (pair[1][0], pair[1][1], pair[0]))
        events: list[tuple[int, int, Json]] = []
        for index, (_, (at_ms, _, event)) in enumerate(ordered):
            sequence = self.ordinal * SEQUENCE_STRIDE + index
            event["id"] = stable_uuid(seed, "event", self.update_id, index)
            event["sequence"] = {"control_plane_seq_no": sequence}
            event["timestamp"] = rfc3339(at_ms)
            events.append((at_ms, sequence, event))
        self._events = events
        self._events_until = None if self.end_ms is not None else now_ms

    def _flow_ends(
        self, add: Any, base: Json, at_ms: int, started: int | None, status: str
    ) -> None:
        """Events of flows that started but did not complete when the update fails or is canceled."""
        if started is None:
            return
        for flow in self.flows:
            if flow.completed_at is None or flow.completed_at > at_ms:
                verb = "has FAILED" if status == "FAILED" else "has STOPPED"
                event = _flow_event(base, flow, status, verb)
                if status == "FAILED":
                    event["level"] = "ERROR"
                    if self.failure is not None:
                        event["error"] = _error(self.failure)
                add(at_ms, _RANK_FLOW_END, event)

    def summary_levels(self) -> frozenset[str]:
        """Levels this update's events can have (lets listings skip updates without building events)."""
        return frozenset({"INFO", "ERROR"}) if self.outcome == "FAILED" else frozenset({"INFO"})


def _event(origin: Json, event_type: str, level: str, message: str, details: Json) -> Json:
    return {
        "origin": dict(origin),
        "message": message,
        "level": level,
        "maturity_level": "STABLE",
        "event_type": event_type,
        "details": details,
    }


def _flow_event(origin: Json, flow: Flow, status: str, verb: str) -> Json:
    event = _event(
        {**origin, "flow_name": flow.name, "dataset_name": flow.dataset},
        "flow_progress",
        "INFO",
        f"Flow '{flow.name}' {verb}.",
        {"flow_progress": {"status": status}},
    )
    return event


def _error(failure: Failure) -> Json:
    return {
        "exceptions": [{"class_name": failure.class_name, "message": failure.message}],
        "fatal": True,
    }

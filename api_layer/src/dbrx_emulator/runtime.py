"""The runtime of one emulator: configuration, clock, random streams, state, stats, faults and latency.

`create_app` builds one `Runtime` and stores it as `app.state.runtime`; API handlers receive it as `call.rt`,
control-plane routes through `runtime_of(request)`. Everything that changes it runs under `rt.lock`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbrx_emulator import __version__
from dbrx_emulator.clock import Clock, resolve_time, to_ms
from dbrx_emulator.config import Behaviour, EmulatorConfig, Simulation
from dbrx_emulator.faults import FaultInjector, FaultRuleSpec
from dbrx_emulator.latency import LatencyInjector, LatencySettings
from dbrx_emulator.rng import Streams, stable_uuid
from dbrx_emulator.seed import Seed, SeedError, WorkspaceSeed, load_seed, parse_seed
from dbrx_emulator.stats import CallLog, Stats
from dbrx_emulator.store import StateArea, Store

DEFAULT_SETTLE_MS = 86_400_000


class Runtime:
    """Everything one emulator instance knows."""

    def __init__(self, config: EmulatorConfig, area_types: Sequence[type[StateArea]]) -> None:
        self.config = config
        self.version = __version__
        self.store = Store(area_types)
        self.lock = self.store.lock
        self.clock = Clock(config.clock, to_ms(config.start_time))
        self.random_seed = config.random_seed
        self.rng = Streams(config.random_seed)
        self.seed_source: str | dict[str, Any] = config.seed_file
        self.seed = Seed()
        self.workspace = WorkspaceSeed()
        self.behaviour = Behaviour()
        self.simulation = Simulation()
        self.seed_origin_ms = self.clock.now_ms()
        self._real_clock_seen_ms = self.seed_origin_ms
        self.stats = Stats(self.seed_origin_ms)
        self.calls = CallLog()
        self.faults = FaultInjector(config.random_seed)
        self.latency = LatencyInjector(config.random_seed)
        self.reset()

    # ------------------------------------------------------------------------------------------ identity

    @property
    def principal(self) -> str:
        """`userName` of the seeded principal: owner and creator of everything created through the API."""
        return self.workspace.current_user.user_name

    def now_ms(self) -> int:
        """Current emulator time."""
        return self.clock.now_ms()

    def seed_time(self, value: Any) -> int:
        """Epoch ms of a seed time (relative times count from the clock's start)."""
        return resolve_time(value, self.seed_origin_ms)

    def request_id(self, seq: int) -> str:
        """Deterministic request id of call `seq` (no random stream is consumed)."""
        return stable_uuid(self.random_seed, "request", seq)

    # ------------------------------------------------------------------------------------------ reset

    def reset(
        self,
        *,
        seed_file: str | None = None,
        seed: dict[str, Any] | None = None,
        random_seed: int | None = None,
        keep_faults: bool = False,
        keep_latency: bool = False,
        keep_behaviour: bool = False,
    ) -> None:
        """Restore the seeded state (docs/EMULATOR.md §10.1 `reset`); the state is unchanged if the seed is invalid.

        Without `seed_file`/`seed` the seed loaded last is used again; without `random_seed` the current one.
        Stats, the call log and the clock are always reset.
        """
        with self.lock:
            source: str | dict[str, Any] = self.seed_source
            if seed is not None:
                source = seed
            elif seed_file is not None:
                source = seed_file
            parsed = self._parse(source)
            saved = dict(vars(self))
            try:
                self._apply(source, parsed, random_seed, keep_faults, keep_latency, keep_behaviour)
            except BaseException:
                vars(self).update(saved)
                raise

    def _parse(self, source: str | dict[str, Any]) -> Seed:
        if isinstance(source, dict):
            return parse_seed(source, Path.cwd(), "inline seed")
        return load_seed(source)

    def _apply(
        self,
        source: str | dict[str, Any],
        seed: Seed,
        random_seed: int | None,
        keep_faults: bool,
        keep_latency: bool,
        keep_behaviour: bool,
    ) -> None:
        config = self.config
        self.seed_source = source
        self.seed = seed
        if random_seed is not None:
            self.random_seed = random_seed
        self.rng = Streams(self.random_seed)
        # Seed times count from the clock's start; the clock itself is reset only once the state is built.
        self.seed_origin_ms = (
            self.clock.start_ms if self.clock.mode == "manual" else self.clock.now_ms()
        )
        workspace = seed.workspace
        if config.workspace_id is not None:
            workspace = workspace.model_copy(update={"workspace_id": config.workspace_id})
        self.workspace = workspace
        if not keep_behaviour:
            behaviour = seed.behaviour
            if config.host_metadata is not None:
                behaviour = behaviour.model_copy(update={"host_metadata": config.host_metadata})
            self.behaviour = behaviour
            simulation = seed.simulation
            if config.step_ms is not None:
                simulation = simulation.model_copy(update={"step_ms": config.step_ms})
            self.simulation = simulation
        self.store.rebuild(self, seed)
        self.clock.reset()
        self._real_clock_seen_ms = self.clock.now_ms()
        self.stats = Stats(self.seed_origin_ms)
        self.calls = CallLog()
        if not keep_faults:
            self.faults = FaultInjector(self.random_seed)
            if config.fault_rate > 0:
                self.faults.add(
                    [
                        FaultRuleSpec(
                            id="global",
                            operation="*",
                            kind=config.fault_kind,
                            rate=config.fault_rate,
                            retry_after_seconds=1,
                        )
                    ]
                )
        if not keep_latency:
            self.latency = LatencyInjector(
                self.random_seed, LatencySettings(fixed_ms=config.latency_ms)
            )

    # ------------------------------------------------------------------------------------------ clock

    def catch_up_real_clock(self) -> None:
        """With the real clock, let the areas evaluate what happened since the last API call.

        Simulated activity is lazy: with a manual clock it moves on clock moves; with the real clock every API call
        first brings updates, runs, target tables and scheduled fires up to now (so a bare `tables.get` sees the
        table a just-finished update created).
        """
        if self.clock.mode != "real":
            return
        with self.lock:
            now = self.clock.now_ms()
            if now > self._real_clock_seen_ms:
                self.store.clock_moved(self._real_clock_seen_ms, now)
                self._real_clock_seen_ms = now

    def advance_clock(self, ms: int) -> int:
        """Move the manual clock forward and let the areas catch up; returns the new time."""
        with self.lock:
            return self.move_clock_to(self.clock.now_ms() + ms)

    def move_clock_to(self, to_ms_value: int) -> int:
        """Move the manual clock to `to_ms_value` (never backwards) and let the areas catch up."""
        with self.lock:
            old = self.clock.now_ms()
            new = self.clock.set(to_ms_value)
            if new != old:
                self.store.clock_moved(old, new)
            return new

    def settle(self, max_ms: int = DEFAULT_SETTLE_MS) -> int:
        """Advance from activity to activity until nothing is active, at most `max_ms`; returns the new time."""
        with self.lock:
            limit = self.clock.now_ms() + max_ms
            while True:
                now = self.clock.now_ms()
                upcoming = self.store.next_activity_ms(now)
                if upcoming is None or now >= limit:
                    return now
                self.move_clock_to(min(max(upcoming, now + 1), limit))


__all__ = ["Runtime", "SeedError"]

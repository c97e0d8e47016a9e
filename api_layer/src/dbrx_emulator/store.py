"""In-memory emulator state behind one re-entrant lock.

State is split into *areas*, one class per API family (`UcState`, `SharingState`, `WorkspaceObjects`, and the
pipelines and jobs areas). An area is a `StateArea` subclass; the runtime builds a fresh instance of every area on
each reset, in the order of `app.STATE_AREAS`, and calls `load_seed(seed)` on it. Handlers reach an area with
`call.rt.store.area(UcState)` (typed) and run with the store lock held.

Areas see their runtime as an `AreaRuntime`: the part of `runtime.Runtime` they may use. The dependency goes one
way (`runtime` imports `store`, never the reverse); mypy checks that `Runtime` has everything `AreaRuntime` names
where the runtime hands itself to `Store.rebuild`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from dbrx_emulator.clock import Clock
    from dbrx_emulator.config import Behaviour, Simulation
    from dbrx_emulator.rng import Streams
    from dbrx_emulator.seed import Seed, WorkspaceSeed
    from dbrx_emulator.stats import Stats


class AreaRuntime(Protocol):
    """What a state area may use of the runtime that owns it (implemented by `runtime.Runtime`)."""

    store: Store
    clock: Clock
    rng: Streams
    random_seed: int
    seed_origin_ms: int
    workspace: WorkspaceSeed
    behaviour: Behaviour
    simulation: Simulation
    stats: Stats

    @property
    def principal(self) -> str:
        """`userName` of the seeded principal."""
        ...

    def now_ms(self) -> int:
        """Current emulator time."""
        ...

    def seed_time(self, value: Any) -> int:
        """Epoch ms of a seed time."""
        ...


class StateArea:
    """Base class of one area of emulator state.

    Subclasses set `name` (the key in `/_emulator/state`) and override what they need:
    `load_seed` (build state from the seed), `dump` (debug view), and, for simulated activity,
    `next_activity_ms` (when something changes next; None when idle: used by `clock/settle`) and
    `on_clock_moved` (lazy evaluation after the manual clock moved, e.g. a scheduler).
    """

    name: ClassVar[str] = ""

    def __init__(self, rt: AreaRuntime) -> None:
        self.rt = rt

    def load_seed(self, seed: Seed) -> None:
        """Build this area's state from the seed (raise `SeedError` with paths for bad references)."""

    def dump(self) -> dict[str, Any]:
        """Full state as JSON-able data (debugging; may include secrets such as tokens)."""
        return {}

    def next_activity_ms(self, now_ms: int) -> int | None:  # noqa: ARG002 - a hook for subclasses
        """The next emulator time (> now) at which simulated activity changes state; None when idle."""
        return None

    def on_clock_moved(self, old_ms: int, new_ms: int) -> None:
        """Called under the lock after the manual clock moved from `old_ms` to `new_ms`."""


class Store:
    """All areas plus the lock that serialises every handler and control-plane change."""

    def __init__(self, area_types: Sequence[type[StateArea]]) -> None:
        self.lock = threading.RLock()
        self.area_types = tuple(area_types)
        self._areas: dict[type[StateArea], StateArea] = {}

    def area[A: StateArea](self, cls: type[A]) -> A:
        """The live instance of area `cls`."""
        found = self._areas.get(cls)
        if found is None:
            raise KeyError(
                f"state area {cls.__name__} is not registered (add it to app.STATE_AREAS)"
            )
        assert isinstance(found, cls)  # noqa: S101 - narrows the type; always true by construction
        return found

    def rebuild(self, rt: AreaRuntime, seed: Seed) -> None:
        """Replace every area with a fresh one loaded from `seed` (the old state stays if loading fails)."""
        fresh: dict[type[StateArea], StateArea] = {}
        previous = self._areas
        self._areas = fresh  # areas loaded later may read areas loaded earlier through the store
        try:
            for cls in self.area_types:
                area = cls(rt)
                fresh[cls] = area
                area.load_seed(seed)
        except BaseException:
            self._areas = previous
            raise

    def dump(self) -> dict[str, Any]:
        """`{area name: area dump}`."""
        return {area.name or type(area).__name__: area.dump() for area in self._areas.values()}

    def next_activity_ms(self, now_ms: int) -> int | None:
        """The earliest next activity of any area."""
        times = [
            t for area in self._areas.values() if (t := area.next_activity_ms(now_ms)) is not None
        ]
        return min(times) if times else None

    def clock_moved(self, old_ms: int, new_ms: int) -> None:
        """Tell every area that the clock moved."""
        for area in self._areas.values():
            area.on_clock_moved(old_ms, new_ms)

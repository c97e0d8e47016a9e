"""Liveness and readiness (docs/API.md §3): cheap checks, cached, never a Databricks call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

CheckFn = Callable[[], "CheckOutcome"]


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What a check reports: healthy or not, and an optional human detail (never a secret)."""

    ok: bool
    detail: str | None = None


class CheckResult(BaseModel):
    ok: bool
    latency_ms: int
    detail: str | None = None


class Readiness(BaseModel):
    status: str
    checks: dict[str, CheckResult]


@dataclass
class ReadinessProbe:
    """Runs the registered checks at most once per `cache_s` seconds and remembers the result."""

    cache_s: float
    checks: dict[str, CheckFn] = field(default_factory=dict)
    _cached: Readiness | None = None
    _cached_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, name: str, check: CheckFn) -> None:
        """Add a named check (e.g. `database`, `queue`)."""
        self.checks[name] = check

    def run(self) -> Readiness:
        """The (possibly cached) readiness of the service."""
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached_at < self.cache_s:
                return self._cached
            results = {name: _timed(check) for name, check in self.checks.items()}
            ready = all(r.ok for r in results.values())
            self._cached = Readiness(status="ready" if ready else "not_ready", checks=results)
            self._cached_at = now
            return self._cached


def _timed(check: CheckFn) -> CheckResult:
    started = time.perf_counter()
    try:
        outcome = check()
    except Exception as exc:  # noqa: BLE001 - a failing check is a result, not a crash
        outcome = CheckOutcome(ok=False, detail=f"{type(exc).__name__}")
    latency_ms = int((time.perf_counter() - started) * 1000)
    return CheckResult(ok=outcome.ok, latency_ms=latency_ms, detail=outcome.detail)

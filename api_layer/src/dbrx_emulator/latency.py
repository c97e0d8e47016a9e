"""Latency injection (docs/EMULATOR.md §10.5): a real sleep before the handler; the emulator clock does not move."""

from __future__ import annotations

import fnmatch
import math
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dbrx_emulator.rng import derive


class LatencySpec(BaseModel):
    """How long one call waits: `fixed_ms` for the fixed distribution, else a sample clipped to min/max."""

    model_config = ConfigDict(extra="forbid")

    fixed_ms: float = Field(default=0, ge=0)
    distribution: Literal["fixed", "uniform", "normal", "lognormal"] = "fixed"
    mean_ms: float = Field(default=0, ge=0)
    stddev_ms: float = Field(default=0, ge=0)
    min_ms: float = Field(default=0, ge=0)
    max_ms: float | None = Field(default=None, ge=0)

    def sample(self, rng: random.Random) -> float:
        """Delay in milliseconds for one call."""
        if self.distribution == "fixed":
            return self.fixed_ms
        if self.distribution == "uniform":
            high = self.max_ms if self.max_ms is not None else self.mean_ms * 2
            value = rng.uniform(self.min_ms, max(self.min_ms, high))
        elif self.distribution == "normal":
            value = rng.gauss(self.mean_ms, self.stddev_ms)
        else:
            value = self._lognormal(rng)
        value = max(value, self.min_ms)
        if self.max_ms is not None:
            value = min(value, self.max_ms)
        return max(0.0, value)

    def _lognormal(self, rng: random.Random) -> float:
        # mean_ms/stddev_ms describe the resulting distribution; convert to the underlying normal.
        if self.mean_ms <= 0:
            return 0.0
        sigma2 = math.log(1 + (self.stddev_ms / self.mean_ms) ** 2)
        return rng.lognormvariate(math.log(self.mean_ms) - sigma2 / 2, math.sqrt(sigma2))


class LatencySettings(LatencySpec):
    """Global latency plus per-operation overrides (operation ids or globs) and the stream seed."""

    per_operation: dict[str, LatencySpec] = Field(default_factory=dict)
    seed: int | None = None


class LatencyInjector:
    """Samples delays from the `latency` stream."""

    def __init__(self, master_seed: int, settings: LatencySettings | None = None) -> None:
        self._master_seed = master_seed
        self.configure(settings or LatencySettings())

    def configure(self, settings: LatencySettings) -> None:
        """Replace the settings (and restart the stream)."""
        self.settings = settings
        seed = settings.seed if settings.seed is not None else self._master_seed
        self._rng = derive(seed, "latency")
        self._idle = (
            settings.fixed_ms == 0
            and settings.distribution == "fixed"
            and not settings.per_operation
        )

    def delay_ms(self, operation: str) -> float:
        """Delay for one call of `operation`."""
        if self._idle:
            return 0.0
        spec: LatencySpec = self.settings
        override = self.settings.per_operation.get(operation)
        if override is None:
            for pattern, candidate in self.settings.per_operation.items():
                if fnmatch.fnmatchcase(operation, pattern):
                    override = candidate
                    break
        if override is not None:
            spec = override
        return spec.sample(self._rng)

    def to_json(self) -> dict[str, Any]:
        """`GET /_emulator/latency` body."""
        return self.settings.model_dump()

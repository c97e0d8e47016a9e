"""Emulator configuration: start-up options (CLI flags) and the runtime switches of the seed.

`EmulatorConfig` holds what the command line (or a test) chooses when the emulator starts. `Behaviour` and
`Simulation` are the seed's `behaviour` and `simulation` sections (docs/EMULATOR.md §5.5, §8.2); both can be changed at
runtime through `PATCH /_emulator/behaviour`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

HostMetadataMode = Literal["full", "minimal", "404"]
FaultKindName = Literal[
    "throttle",
    "unavailable",
    "internal",
    "transient_message",
    "error",
    "applied_response_lost",
    "drop_before_apply",
    "timeout",
    "truncated_response",
    "rate_limit",
]

DEFAULT_START_TIME = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_TOKEN = "dapi-emulator"  # noqa: S105 - the documented emulator PAT, not a secret


def _coerce_host_metadata(value: Any) -> Any:
    # JSON clients naturally send the 404 mode as a number.
    return str(value) if value == 404 else value


class PageSizes(BaseModel):
    """Server page sizes per list family (docs/EMULATOR.md §6.1)."""

    model_config = ConfigDict(extra="forbid")

    uc: int = Field(default=50, ge=1, le=1000)
    permissions: int | None = Field(default=None, ge=1, le=1000)
    pipelines: int = Field(default=25, ge=1, le=100)
    updates: int = Field(default=25, ge=1, le=100)
    events: int = Field(default=100, ge=1, le=1000)
    jobs: int = Field(default=20, ge=1, le=100)
    runs: int = Field(default=20, ge=1, le=25)


class Behaviour(BaseModel):
    """Wire-contract switches (docs/EMULATOR.md §8.2)."""

    model_config = ConfigDict(extra="forbid")

    already_exists_status: Literal[400, 409] = 400
    not_found_style: Literal["specific", "resource", "generic"] = "specific"
    jobs_not_found: Literal["invalid_parameter", "not_found"] = "invalid_parameter"
    enum_case_strict: bool = True
    like_case_insensitive: bool = True
    event_details: Literal["object", "json_string", "omitted"] = "object"
    empty_pages: bool = False
    read_after_write_lag_ms: int = Field(default=0, ge=0)
    permissions_readback_lag_ms: int = Field(default=0, ge=0)
    page_sizes: PageSizes = Field(default_factory=PageSizes)
    host_metadata: HostMetadataMode = "full"
    job_create_rate_per_hour: int | None = Field(default=None, ge=0)
    # A request header whose first address stands for the client's (tests of IP access lists); None: the socket's.
    trusted_client_ip_header: str | None = Field(default=None, max_length=64)

    _coerce = field_validator("host_metadata", mode="before")(_coerce_host_metadata)


class Simulation(BaseModel):
    """Simulation parameters (docs/EMULATOR.md §5.5); used by the pipelines and jobs simulators."""

    model_config = ConfigDict(extra="forbid")

    step_ms: int = Field(default=1000, ge=1)
    change_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    delete_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    dropped_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    scheduler: bool | None = None  # None: on with the real clock, off with the manual clock
    max_catchup_runs: int = Field(default=10, ge=0)
    failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    task_steps: int = Field(default=2, ge=1)


def merge_model[M: BaseModel](model: M, patch: dict[str, Any]) -> M:
    """Return a validated copy of `model` with `patch` deep-merged into it (nested mappings merge key-wise)."""
    merged = deep_merge(model.model_dump(), patch)
    return type(model).model_validate(merged)


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge `patch` into a copy of `base`; nested dicts merge, everything else is replaced."""
    out = dict(base)
    for key, value in patch.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out


class EmulatorConfig(BaseModel):
    """Start-up options of one emulator instance (docs/EMULATOR.md §3.1)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    seed_file: str = "default"
    random_seed: int = 0
    tokens: list[str] = Field(default_factory=lambda: [DEFAULT_TOKEN], min_length=1)
    latency_ms: int = Field(default=0, ge=0)
    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_kind: Literal["throttle", "unavailable", "internal"] = "unavailable"
    clock: Literal["real", "manual"] = "real"
    start_time: datetime = DEFAULT_START_TIME
    step_ms: int | None = Field(default=None, ge=1)  # None: the seed's simulation.step_ms
    workspace_id: str | None = None  # None: the seed's value
    host_metadata: HostMetadataMode | None = None  # None: the seed's behaviour value
    control_token: str | None = None
    allow_non_loopback: bool = False
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"

    _coerce = field_validator("host_metadata", mode="before")(_coerce_host_metadata)

    @field_validator("start_time")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

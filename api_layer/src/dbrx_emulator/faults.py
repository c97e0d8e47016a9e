"""Fault injection rules (docs/EMULATOR.md §10.4).

Rules are evaluated in order for every API call; the first rule whose match, `skip` count, `times` budget and
random draw all pass applies. Each rule draws from its own stream (`faults:<index>` of the faults seed), so its
decisions depend only on the calls it matches. Glob patterns never match the host-metadata probe: a fault there
would change client construction, not the calls a test is about; name `meta.host_metadata` to fault it.
"""

from __future__ import annotations

import fnmatch
import random
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dbrx_emulator.config import FaultKindName
from dbrx_emulator.errors import ApiError
from dbrx_emulator.rng import derive

HOST_METADATA_OPERATION = "meta.host_metadata"

# Kinds that answer instead of running the handler; the rest act after the handler ran (or drop the connection).
BEFORE_KINDS = frozenset(
    {
        "throttle",
        "unavailable",
        "internal",
        "transient_message",
        "error",
        "rate_limit",
        "drop_before_apply",
    }
)
AFTER_KINDS = frozenset({"applied_response_lost", "timeout", "truncated_response"})

_DEFAULT_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "RESOURCE_CONFLICT",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
}


class FaultRuleSpec(BaseModel):
    """One rule as posted to `/_emulator/faults`."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    operation: str = "*"
    method: str | None = None
    path_regex: str | None = None
    kind: FaultKindName
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    skip: int = Field(default=0, ge=0)
    times: int | None = Field(default=None, ge=0)
    retry_after_seconds: int | None = Field(default=None, ge=0)
    status: int | None = Field(default=None, ge=100, le=599)
    error_code: str | None = None
    message: str | None = None
    delay_ms: int = Field(default=0, ge=0)
    rps: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> FaultRuleSpec:
        if self.path_regex is not None:
            try:
                re.compile(self.path_regex)
            except re.error as exc:
                raise ValueError(f"path_regex is not a valid regular expression: {exc}") from None
        if self.kind == "error" and self.status is None:
            raise ValueError("kind 'error' needs a status")
        if self.kind == "rate_limit" and self.rps is None:
            raise ValueError("kind 'rate_limit' needs rps")
        return self


@dataclass
class _Bucket:
    tokens: float
    updated_ms: int


@dataclass
class FaultRule:
    """A configured rule with its counters and random stream."""

    spec: FaultRuleSpec
    rule_id: str
    rng: random.Random
    pattern: re.Pattern[str] | None
    matched: int = 0
    skipped: int = 0
    applied: int = 0
    buckets: dict[str, _Bucket] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The fault kind."""
        return self.spec.kind

    def matches(self, operation: str, method: str, path: str) -> bool:
        """Whether the call is one this rule is about (before skip/times/rate)."""
        pattern = self.spec.operation
        if operation == HOST_METADATA_OPERATION and pattern != operation:
            return False
        if not fnmatch.fnmatchcase(operation, pattern):
            return False
        if self.spec.method is not None and self.spec.method.upper() != method:
            return False
        return self.pattern is None or self.pattern.search(path) is not None

    def decide(self, operation: str, now_ms: int) -> bool:
        """Count a matching call and say whether the fault applies to it."""
        self.matched += 1
        if self.skipped < self.spec.skip:
            self.skipped += 1
            return False
        if self.spec.times is not None and self.applied >= self.spec.times:
            return False
        if self.spec.kind == "rate_limit":
            hit = self._over_limit(operation, now_ms)
        else:
            hit = self.rng.random() < self.spec.rate
        if hit:
            self.applied += 1
        return hit

    def _over_limit(self, operation: str, now_ms: int) -> bool:
        rps = self.spec.rps or 1.0
        burst = float(self.spec.burst if self.spec.burst is not None else max(1, int(rps)))
        bucket = self.buckets.get(operation)
        if bucket is None:
            bucket = self.buckets[operation] = _Bucket(burst, now_ms)
        elapsed_s = max(0, now_ms - bucket.updated_ms) / 1000
        bucket.tokens = min(burst, bucket.tokens + elapsed_s * rps)
        bucket.updated_ms = now_ms
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return False
        return True

    def error(self) -> ApiError:
        """The error answer of the answering kinds (throttle, unavailable, internal, …)."""
        spec = self.spec
        headers = {}
        if spec.retry_after_seconds is not None:
            headers["Retry-After"] = str(spec.retry_after_seconds)
        if spec.kind in ("throttle", "rate_limit"):
            return ApiError(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                spec.message or "Request limit exceeded",
                headers=headers,
            )
        if spec.kind == "unavailable":
            return ApiError(
                503,
                "TEMPORARILY_UNAVAILABLE",
                spec.message or "The service is temporarily unavailable",
                headers=headers,
            )
        if spec.kind == "transient_message":
            return ApiError(
                500,
                "INTERNAL_ERROR",
                spec.message or "Unexpected error while processing the request",
            )
        if spec.kind == "error":
            status = spec.status or 500
            code = spec.error_code or _DEFAULT_CODES.get(status, "UNKNOWN")
            return ApiError(status, code, spec.message or "Injected fault", headers=headers)
        return ApiError(500, "INTERNAL_ERROR", spec.message or "Internal error")

    def to_json(self) -> dict[str, Any]:
        """The rule as listed by `GET /_emulator/faults`, with its counters."""
        body = self.spec.model_dump()
        body["id"] = self.rule_id
        body.update(matched=self.matched, skipped=self.skipped, applied=self.applied)
        return body


class FaultInjector:
    """The ordered fault rules of one emulator."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self._next_index = 0

    def clear(self, seed: int | None = None) -> None:
        """Remove every rule (and optionally change the faults seed)."""
        self.rules = []
        self._next_index = 0
        if seed is not None:
            self.seed = seed

    def add(
        self, specs: list[FaultRuleSpec], *, seed: int | None = None, replace: bool = False
    ) -> list[str]:
        """Append (or replace the list with) `specs`; returns the rule ids."""
        if replace:
            self.clear(seed)
        elif seed is not None:
            self.seed = seed
        ids = []
        for spec in specs:
            index = self._next_index
            self._next_index += 1
            rule_id = spec.id or f"rule-{index}"
            pattern = re.compile(spec.path_regex) if spec.path_regex is not None else None
            self.rules.append(
                FaultRule(spec, rule_id, derive(self.seed, f"faults:{index}"), pattern)
            )
            ids.append(rule_id)
        return ids

    def choose(self, operation: str, method: str, path: str, now_ms: int) -> FaultRule | None:
        """The rule that applies to this call, if any (counters are updated)."""
        for rule in self.rules:
            if rule.matches(operation, method, path) and rule.decide(operation, now_ms):
                return rule
        return None

    def to_json(self) -> dict[str, Any]:
        """`GET /_emulator/faults` body."""
        return {"seed": self.seed, "rules": [rule.to_json() for rule in self.rules]}

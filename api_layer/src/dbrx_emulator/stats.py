"""Per-operation call counts (docs/EMULATOR.md §10.2) and the call log ring buffer (docs/EMULATOR.md §10.3).

Both are changed only under the runtime lock by the request pipeline; control-plane requests are never recorded.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dbrx_emulator.clock import rfc3339

CALL_LOG_SIZE = 10_000
BODY_LOG_LIMIT = 64 * 1024
META_COUNTERS = ("host_metadata", "workspace_id_mismatch", "schedules_not_simulated")


def is_mutating(method: str) -> bool:
    """An operation is mutating when its HTTP method is not GET (run-now, rotate-token, PATCH, PUT included)."""
    return method.upper() != "GET"


@dataclass
class OperationStats:
    """Counts of one operation id."""

    method: str
    path: str
    count: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The stats entry of this operation."""
        return {
            "method": self.method,
            "path": self.path,
            "count": self.count,
            "mutating": is_mutating(self.method),
            "statuses": dict(sorted(self.statuses.items())),
            "faults": dict(sorted(self.faults.items())),
        }


class Stats:
    """Call counts since the last reset."""

    def __init__(self, since_ms: int) -> None:
        self.reset(since_ms)

    def reset(self, since_ms: int) -> None:
        """Zero every counter."""
        self.since_ms = since_ms
        self.operations: dict[str, OperationStats] = {}
        self.meta: dict[str, int] = dict.fromkeys(META_COUNTERS, 0)

    def record(
        self, operation: str, method: str, path: str, status: int | None, fault: str | None
    ) -> None:
        """Count one call; `status` None means no response was sent (dropped connection)."""
        entry = self.operations.get(operation)
        if entry is None:
            entry = self.operations[operation] = OperationStats(method, path)
        entry.count += 1
        if status is not None:
            key = str(status)
            entry.statuses[key] = entry.statuses.get(key, 0) + 1
        if fault is not None:
            entry.faults[fault] = entry.faults.get(fault, 0) + 1

    def bump(self, counter: str, by: int = 1) -> None:
        """Increase one of the `meta` counters (host_metadata, workspace_id_mismatch, schedules_not_simulated)."""
        self.meta[counter] = self.meta.get(counter, 0) + by

    def to_json(self) -> dict[str, Any]:
        """The `/_emulator/stats` body."""
        operations = {name: self.operations[name].to_json() for name in sorted(self.operations)}
        return {
            "since": rfc3339(self.since_ms),
            "total": sum(op.count for op in self.operations.values()),
            "mutating_total": sum(
                op.count for op in self.operations.values() if is_mutating(op.method)
            ),
            "faults_total": sum(sum(op.faults.values()) for op in self.operations.values()),
            "operations": operations,
            "meta": dict(self.meta),
        }


class CallLog:
    """Ring buffer of the last 10 000 calls; `seq` keeps increasing across `clear()`."""

    def __init__(self, size: int = CALL_LOG_SIZE) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self.seq = 0

    def start(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append a new entry (the pipeline fills `status`, `fault`, `applied` later) and return it."""
        self.seq += 1
        entry["seq"] = self.seq
        self._entries.append(entry)
        return entry

    def clear(self) -> None:
        """Drop every entry (the sequence continues)."""
        self._entries.clear()

    def restart(self) -> None:
        """Drop every entry and restart the sequence (full emulator reset)."""
        self._entries.clear()
        self.seq = 0

    def query(
        self,
        operation: str | None = None,
        method: str | None = None,
        since_seq: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries in call order; `operation` may be a glob (`shares.*`); `since_seq` is exclusive."""
        out: list[dict[str, Any]] = []
        for entry in self._entries:
            if since_seq is not None and entry["seq"] <= since_seq:
                continue
            if operation is not None and not fnmatch.fnmatchcase(entry["operation"], operation):
                continue
            if method is not None and entry["method"] != method.upper():
                continue
            out.append(dict(entry))
            if limit is not None and len(out) >= limit:
                break
        return out

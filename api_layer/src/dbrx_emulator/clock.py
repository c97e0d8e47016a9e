"""The emulator clock: real (UTC wall time) or manual (moves only through the control plane).

Every timestamp, expiry, lag and simulated progress reads this clock; latency injection sleeps in real time.
Times are epoch milliseconds (ints) throughout the emulator.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Literal

ClockMode = Literal["real", "manual"]

_RELATIVE = re.compile(r"^\s*([+-])\s*(\d+)\s*(ms|d|h|m|s)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class ClockError(Exception):
    """Raised for clock moves that are not allowed (real clock, moving backwards)."""


class Clock:
    """Real or manual clock in epoch milliseconds."""

    def __init__(self, mode: ClockMode, start_ms: int) -> None:
        self.mode: ClockMode = mode
        self.start_ms = start_ms
        self._manual_ms = start_ms

    def now_ms(self) -> int:
        """Current emulator time."""
        if self.mode == "real":
            return int(time.time() * 1000)
        return self._manual_ms

    def advance(self, ms: int) -> int:
        """Move a manual clock forward by `ms` milliseconds and return the new time."""
        if ms < 0:
            raise ClockError("ms must not be negative")
        return self.set(self.now_ms() + ms)

    def set(self, to_ms: int) -> int:
        """Move a manual clock to `to_ms` (never backwards) and return the new time."""
        if self.mode == "real":
            raise ClockError("the real clock cannot be moved")
        if to_ms < self._manual_ms:
            raise ClockError("the clock cannot move backwards")
        self._manual_ms = to_ms
        return to_ms

    def reset(self) -> None:
        """Put a manual clock back to its start time (no effect on a real clock)."""
        self._manual_ms = self.start_ms


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware (or UTC-naive) datetime."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def rfc3339(ms: int) -> str:
    """RFC 3339 UTC timestamp with milliseconds and `Z`, as Databricks writes it."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_rfc3339(text: str) -> int:
    """Epoch milliseconds of an RFC 3339 timestamp (`Z` or an offset; a missing offset means UTC)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return to_ms(value)


def parse_relative(text: str) -> int | None:
    """Offset in milliseconds of a relative time such as `-2d`, `+80d`, `-90m`; None when not relative."""
    match = _RELATIVE.match(text)
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    return sign * int(match.group(2)) * _UNIT_MS[match.group(3)]


def resolve_time(value: str | datetime | int, origin_ms: int) -> int:
    """Epoch milliseconds of a seed time: relative to `origin_ms`, RFC 3339, a datetime or epoch ms."""
    if isinstance(value, datetime):
        return to_ms(value)
    if isinstance(value, int):
        return value
    offset = parse_relative(value)
    if offset is not None:
        return origin_ms + offset
    return parse_rfc3339(value)

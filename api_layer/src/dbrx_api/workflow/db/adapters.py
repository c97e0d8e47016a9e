"""Type adaptation shared by every workflow connection.

SCD2 rows keep `effective_to = 'infinity'` for the current version. psycopg cannot represent an infinite timestamp
and raises `DataError` when loading one, so the timestamptz loaders map `±infinity` to `datetime.max/min` (UTC)
and the dumper maps those back. The registration is global (`psycopg.adapters`) and happens when this module is
imported, which every repository does; connections created afterwards in the process inherit it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.abc import Buffer
from psycopg.types.datetime import (
    DatetimeBinaryDumper,
    DatetimeDumper,
    TimestamptzBinaryLoader,
    TimestamptzLoader,
)

INFINITY = datetime.max.replace(tzinfo=UTC)
MINUS_INFINITY = datetime.min.replace(tzinfo=UTC)

_INFINITY_MICROS = 0x7FFFFFFFFFFFFFFF
_MINUS_INFINITY_MICROS = -0x8000000000000000


class _InfinityTimestamptzLoader(TimestamptzLoader):
    def load(self, data: Any) -> datetime:
        raw = bytes(data)
        if raw == b"infinity":
            return INFINITY
        if raw == b"-infinity":
            return MINUS_INFINITY
        return super().load(data)


class _InfinityTimestamptzBinaryLoader(TimestamptzBinaryLoader):
    def load(self, data: Any) -> datetime:
        micros = int.from_bytes(bytes(data), "big", signed=True)
        if micros == _INFINITY_MICROS:
            return INFINITY
        if micros == _MINUS_INFINITY_MICROS:
            return MINUS_INFINITY
        return super().load(data)


class _InfinityDatetimeDumper(DatetimeDumper):
    def dump(self, obj: datetime) -> Buffer | None:
        if obj == INFINITY:
            return b"infinity"
        if obj == MINUS_INFINITY:
            return b"-infinity"
        return super().dump(obj)


class _InfinityDatetimeBinaryDumper(DatetimeBinaryDumper):
    def dump(self, obj: datetime) -> Buffer | None:
        if obj == INFINITY:
            return _INFINITY_MICROS.to_bytes(8, "big", signed=True)
        if obj == MINUS_INFINITY:
            return _MINUS_INFINITY_MICROS.to_bytes(8, "big", signed=True)
        return super().dump(obj)


def is_infinity(value: datetime | None) -> bool:
    """True for the open end of a current SCD2 row."""
    return value == INFINITY


def register(adapters: Any = None) -> None:
    """Register the infinity-aware timestamptz adapters (globally by default)."""
    target = adapters if adapters is not None else psycopg.adapters
    target.register_loader("timestamptz", _InfinityTimestamptzLoader)
    target.register_loader("timestamptz", _InfinityTimestamptzBinaryLoader)
    target.register_dumper(datetime, _InfinityDatetimeDumper)
    target.register_dumper(datetime, _InfinityDatetimeBinaryDumper)


register()

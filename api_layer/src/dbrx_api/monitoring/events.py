"""Turning a `logging.LogRecord` into one redacted, JSON-safe structured event shared by every sink.

`capture(record)` runs once per record, in the thread that logged it (so it sees that thread's request
context), and caches its result on the record; each sink then serialises the same `LogEvent`. The event's
fields, in order: `timestamp`, `level`, `logger`, `message`, the request context (`request_id`, `principal_id`,
`principal_name`, `method`, `route`, `path`, `share_pack_id`, `run_id`), `status` and `latency_ms` (from
`extra=`), exception fields (`exception_type`, `exception_message`, `stack`), then every other `extra` value.
Fields without a value are left out.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import math
import time
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

from dbrx_api.monitoring.context import CONTEXT_FIELDS, current_request_context
from dbrx_api.monitoring.redaction import REDACTED, is_secret_key, redact

MAX_MESSAGE_CHARS = 32_768
MAX_VALUE_CHARS = 8_192
MAX_DEPTH = 6
MAX_ITEMS = 200
_TRUNCATED = "…[truncated]"
_CACHE_ATTRIBUTE = "_deltashare_event"
_RECORD_FIELDS = ("status", "latency_ms")
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
    _CACHE_ATTRIBUTE,
}
_BASE_KEYS = frozenset(("timestamp", "level", "logger", "message"))
_NOT_EXTRA = _STANDARD_ATTRIBUTES | _BASE_KEYS


class LogEvent:
    """One captured log record: creation time, level and the ordered, redacted fields."""

    __slots__ = ("_json", "created", "fields", "levelno")

    def __init__(self, created: float, levelno: int, fields: dict[str, Any]) -> None:
        self.created = created
        self.levelno = levelno
        self.fields = fields
        self._json: str | None = None

    def json_line(self) -> str:
        """The event as one compact JSON document (no trailing newline); computed once."""
        if self._json is None:
            self._json = json.dumps(self.fields, ensure_ascii=False, separators=(",", ":"))
        return self._json

    def text_line(self) -> str:
        """The event as one human-readable line (the stack, if any, on the following lines)."""
        fields = self.fields
        parts = [fields["timestamp"], f"{fields['level']:<8}", fields["logger"]]
        if "request_id" in fields:
            parts.append(f"[{fields['request_id']}]")
        parts.append(fields["message"])
        skip = {"timestamp", "level", "logger", "message", "request_id", "stack"}
        parts.extend(
            f"{key}={json.dumps(value, ensure_ascii=False)}"
            for key, value in fields.items()
            if key not in skip
        )
        line = " ".join(parts)
        if "stack" in fields:
            line += "\n" + fields["stack"]
        return line


def format_timestamp(created: float) -> str:
    """RFC 3339 UTC with milliseconds and `Z` (docs/API.md §1.6)."""
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


def capture(record: logging.LogRecord) -> LogEvent:
    """The redacted structured event of `record` (built once, then cached on the record)."""
    cached = record.__dict__.get(_CACHE_ATTRIBUTE)
    if isinstance(cached, LogEvent):
        return cached
    fields: dict[str, Any] = {
        "timestamp": format_timestamp(record.created),
        "level": record.levelname,
        "logger": record.name,
        "message": _clean_text(_message_of(record), MAX_MESSAGE_CHARS),
    }
    explicit = record.__dict__
    context = current_request_context()
    for name in CONTEXT_FIELDS:
        value = explicit[name] if name in explicit else getattr(context, name, None)
        if value is not None:
            fields[name] = _json_safe(value, name, 0)
    for name in _RECORD_FIELDS:
        if explicit.get(name) is not None:
            fields[name] = _json_safe(explicit[name], name, 0)
    fields.update(_exception_fields(record))
    for key, value in explicit.items():
        if key in _STANDARD_ATTRIBUTES or key.startswith("_"):
            continue
        target = f"extra_{key}" if key in _BASE_KEYS else key
        if target not in fields:  # context and exception fields were taken above
            fields[target] = _json_safe(value, key, 0)
    event = LogEvent(record.created, record.levelno, fields)
    record.__dict__[_CACHE_ATTRIBUTE] = event
    return event


def _message_of(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string must not lose the record
        return f"{record.msg!s} (unformattable arguments)"


def _exception_fields(record: logging.LogRecord) -> dict[str, str]:
    fields: dict[str, str] = {}
    exc_info = record.exc_info
    if exc_info and exc_info[1] is not None:
        exc_type, exc, tb = exc_info
        fields["exception_type"] = exc_type.__name__ if exc_type else type(exc).__name__
        fields["exception_message"] = _clean_text(str(exc), MAX_VALUE_CHARS)
        stack = "".join(traceback.format_exception(exc_type, exc, tb)).rstrip()
        fields["stack"] = _clean_text(stack, MAX_MESSAGE_CHARS)
    elif record.exc_text:
        fields["stack"] = _clean_text(record.exc_text, MAX_MESSAGE_CHARS)
    if record.stack_info:
        fields["stack_info"] = _clean_text(record.stack_info, MAX_MESSAGE_CHARS)
    return fields


def _clean_text(text: str, limit: int) -> str:
    if len(text) > limit:
        text = text[:limit] + _TRUNCATED
    return redact(text)


def _json_safe(value: Any, key: str, depth: int) -> Any:
    """A JSON-serialisable, redacted, size-bounded copy of `value` (found under `key`)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return _clean_text(value, MAX_VALUE_CHARS)
    if isinstance(value, enum.Enum):
        return _json_safe(value.value, key, depth)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        return {
            str(k): _json_safe(v, str(k), depth + 1) for k, v in list(value.items())[:MAX_ITEMS]
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_json_safe(v, key, depth + 1) for v in list(items)[:MAX_ITEMS]]
    return _clean_text(str(value), MAX_VALUE_CHARS)


class RedactionFilter(logging.Filter):
    """Attached to every sink: captures the record and rewrites its text fields with redacted values.

    Rewriting the record in place means any other formatter that sees it afterwards (a test's `caplog`, a
    plain `StreamHandler`) gets the redacted text too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact `record` in place; never drops it."""
        event = capture(record)
        record.msg = event.fields["message"]
        record.args = None
        if "stack" in event.fields:
            record.exc_text = event.fields["stack"]
        for key in list(record.__dict__):
            if key in event.fields and key not in _NOT_EXTRA:
                record.__dict__[key] = event.fields[key]
        return True


class JsonFormatter(logging.Formatter):
    """`logging.Formatter` producing the structured JSON line (for handlers outside `configure_logging`)."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON document per record."""
        return capture(record).json_line()


class TextFormatter(logging.Formatter):
    """`logging.Formatter` producing the plain-text line."""

    def format(self, record: logging.LogRecord) -> str:
        """One human-readable line per record."""
        return capture(record).text_line()

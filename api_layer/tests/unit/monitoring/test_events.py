"""Capturing records: field order, request context, extras, exceptions, redaction, formatters."""

from __future__ import annotations

import datetime as dt
import enum
import io
import json
import logging
import uuid

import pytest

from dbrx_api.monitoring.context import request_scope, update_request_context
from dbrx_api.monitoring.events import (
    MAX_MESSAGE_CHARS,
    JsonFormatter,
    RedactionFilter,
    TextFormatter,
    capture,
    format_timestamp,
)

PAT = "dapi0123456789abcdef0123456789abcdef"


def _record(
    msg: str = "hello %s",
    args: tuple[object, ...] = ("world",),
    level: int = logging.INFO,
    exc_info: logging._SysExcInfoType | None = None,
    **extra: object,
) -> logging.LogRecord:
    record = logging.LogRecord("dbrx_api.test", level, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def test_base_fields_in_order() -> None:
    record = _record()
    record.created = 1_772_360_130.1234
    fields = capture(record).fields
    assert list(fields)[:4] == ["timestamp", "level", "logger", "message"]
    assert fields["timestamp"] == "2026-03-01T10:15:30.123Z"
    assert fields["level"] == "INFO"
    assert fields["logger"] == "dbrx_api.test"
    assert fields["message"] == "hello world"
    assert "request_id" not in fields  # nothing bound, nothing invented


def test_request_context_fields_are_read_from_the_bound_context() -> None:
    with request_scope(request_id="req-1", method="POST", path="/shares"):
        update_request_context(principal_id="oid-1", principal_name="Jane", route="/shares")
        fields = capture(_record(status=201, latency_ms=12.5)).fields
    assert fields["request_id"] == "req-1"
    assert fields["principal_id"] == "oid-1"
    assert fields["principal_name"] == "Jane"
    assert fields["method"] == "POST"
    assert fields["route"] == "/shares"
    assert fields["status"] == 201
    assert fields["latency_ms"] == 12.5
    keys = list(fields)
    assert keys.index("message") < keys.index("request_id") < keys.index("status")


def test_explicit_extra_overrides_the_context() -> None:
    with request_scope(request_id="req-1"):
        fields = capture(_record(request_id="job-7", run_id="r-1")).fields
    assert fields["request_id"] == "job-7"
    assert fields["run_id"] == "r-1"


class Colour(enum.Enum):
    RED = "red"


def test_extras_become_json_safe_fields() -> None:
    when = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    event = capture(
        _record(
            share="sales_eu",
            count=3,
            ratio=float("nan"),
            tags={"b", "a"},
            when=when,
            ident=ident,
            colour=Colour.RED,
            payload=b"\x00\x01",
            nested={"k": [1, {"deep": "v"}]},
            logger="shadowed",
        )
    )
    fields = event.fields
    assert fields["share"] == "sales_eu"
    assert fields["count"] == 3
    assert fields["ratio"] == "nan"
    assert fields["tags"] == ["a", "b"]
    assert fields["when"] == "2026-03-01T10:00:00+00:00"
    assert fields["ident"] == str(ident)
    assert fields["colour"] == "red"
    assert fields["payload"] == "<2 bytes>"
    assert fields["nested"] == {"k": [1, {"deep": "v"}]}
    assert fields["logger"] == "dbrx_api.test"
    assert fields["extra_logger"] == "shadowed"
    assert json.loads(event.json_line()) == fields


def test_secret_named_extras_are_dropped_and_text_is_redacted() -> None:
    fields = capture(
        _record(
            activation_url="https://h/delta_sharing/retrieve_config.html?c2VjcmV0",
            sharing_code="one-time-42",
            note=f"used {PAT}",
            body={"client_secret": "abc", "name": "x"},
            include_activation_link=True,
        )
    ).fields
    assert fields["activation_url"] == "[REDACTED]"
    assert fields["sharing_code"] == "[REDACTED]"
    assert fields["note"] == "used [REDACTED_PAT]"
    assert fields["body"] == {"client_secret": "[REDACTED]", "name": "x"}
    assert fields["include_activation_link"] is True


def test_message_with_arguments_is_redacted() -> None:
    fields = capture(_record("calling with token %s", (PAT,))).fields
    assert fields["message"] == "calling with token [REDACTED_PAT]"


def test_exception_fields_are_captured_and_redacted() -> None:
    try:
        raise RuntimeError(f"upstream said Bearer {PAT}")
    except RuntimeError:
        import sys

        record = _record("failed", (), level=logging.ERROR, exc_info=sys.exc_info())
    fields = capture(record).fields
    assert fields["exception_type"] == "RuntimeError"
    assert PAT not in fields["exception_message"]
    assert fields["stack"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: upstream said Bearer [REDACTED]" in fields["stack"]


def test_long_messages_are_truncated() -> None:
    fields = capture(_record("x" * (MAX_MESSAGE_CHARS + 10), ())).fields
    assert len(fields["message"]) < MAX_MESSAGE_CHARS + 20
    assert fields["message"].endswith("…[truncated]")


def test_unformattable_arguments_do_not_lose_the_record() -> None:
    assert "unformattable" in capture(_record("%d items", ("many",))).fields["message"]


def test_capture_is_cached_per_record() -> None:
    record = _record()
    assert capture(record) is capture(record)


def test_redaction_filter_rewrites_the_record_for_other_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("dbrx_api.test.filter")
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactionFilter())
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="dbrx_api.test.filter"):
            logger.info("token %s", PAT, extra={"detail": f"see {PAT}"})
    finally:
        logger.removeHandler(handler)
    assert PAT not in caplog.text
    assert caplog.records[0].getMessage() == "token [REDACTED_PAT]"
    assert caplog.records[0].__dict__["detail"] == "see [REDACTED_PAT]"


def test_formatters() -> None:
    record = _record(share="a b")
    assert json.loads(JsonFormatter().format(record))["share"] == "a b"
    text = TextFormatter().format(record)
    assert text.endswith('INFO     dbrx_api.test hello world share="a b"')


def test_text_line_puts_the_stack_on_following_lines() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = _record("failed", (), exc_info=sys.exc_info())
    with request_scope(request_id="req-9"):
        pass
    line = capture(record).text_line()
    first, *rest = line.split("\n")
    assert "failed" in first
    assert 'exception_type="ValueError"' in first
    assert rest[-1] == "ValueError: bad"


def test_format_timestamp_is_rfc3339_utc_milliseconds() -> None:
    assert format_timestamp(0.5) == "1970-01-01T00:00:00.500Z"

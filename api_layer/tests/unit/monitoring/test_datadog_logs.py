"""Datadog log sinks: record mapping, JSON-lines files for the Agent, gzip batches to a local intake."""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from pathlib import Path

import pytest

from dbrx_api.monitoring.context import request_scope
from dbrx_api.monitoring.datadog_logs import (
    DatadogFileSink,
    DatadogFormat,
    DatadogHttpSink,
    default_log_directory,
    intake_url,
)
from dbrx_api.monitoring.events import capture
from fixtures.azurite import free_port
from fixtures.monitoring import IntakeServer

API_KEY = "0123456789abcdef0123456789abcdef"
FORMAT = DatadogFormat(service="deltashare-api", env="test", version="1.2.3", host="inst-1")


def test_record_uses_datadog_standard_attributes() -> None:
    record = logging.LogRecord("dbrx_api.x", logging.ERROR, __file__, 1, "failed", (), None)
    record.__dict__.update(status=502, latency_ms=12.5, share="s1")
    with request_scope(
        request_id="req-1",
        method="GET",
        route="/shares/{name}",
        path="/shares/s1",
        principal_id="oid-1",
        principal_name="Jane",
    ):
        mapped = FORMAT.record(capture(record))
    assert mapped["status"] == "error"
    assert mapped["message"] == "failed"
    assert mapped["service"] == "deltashare-api"
    assert mapped["ddsource"] == "python"
    assert mapped["ddtags"] == "env:test,version:1.2.3"
    assert mapped["hostname"] == "inst-1"
    assert mapped["logger"] == {"name": "dbrx_api.x"}
    assert mapped["http"] == {
        "request_id": "req-1",
        "method": "GET",
        "route": "/shares/{name}",
        "status_code": 502,
        "url_details": {"path": "/shares/s1"},
    }
    assert mapped["usr"] == {"id": "oid-1", "name": "Jane"}
    assert mapped["duration"] == 12_500_000
    assert mapped["latency_ms"] == 12.5
    assert mapped["share"] == "s1"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home")
    assert default_log_directory() == Path("/home/LogFiles/deltashare")
    assert intake_url("datadoghq.eu") == "https://http-intake.logs.datadoghq.eu/api/v2/logs"


def test_file_sink_writes_json_lines_per_process_and_day(
    tmp_path: Path, sink_logger: logging.Logger
) -> None:
    directory = tmp_path / "LogFiles" / "deltashare"
    sink = DatadogFileSink(directory, FORMAT, instance_id="inst 1")
    sink_logger.addHandler(sink)
    sink_logger.info("hello", extra={"share": "s1"})
    sink_logger.warning("Bearer abcdefghijklmnop")
    assert sink.close_sink(5)
    (path,) = directory.iterdir()
    assert path.name == f"deltashare-api-inst-1-{time.strftime('%Y%m%d', time.gmtime())}.log"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["status"], line["message"]) for line in lines] == [
        ("info", "hello"),
        ("warning", "Bearer [REDACTED]"),
    ]
    assert lines[0]["share"] == "s1"
    assert sink.stats().emitted == 2


def test_file_sink_prunes_files_older_than_a_week(
    tmp_path: Path, sink_logger: logging.Logger
) -> None:
    old = tmp_path / "deltashare-api-gone-20200101.log"
    recent = tmp_path / "deltashare-api-other-20990101.log"
    unrelated = tmp_path / "someone-else.log"
    for path in (old, recent, unrelated):
        path.write_text("{}\n")
    ten_days_ago = time.time() - 10 * 24 * 3600
    os.utime(old, (ten_days_ago, ten_days_ago))
    os.utime(unrelated, (ten_days_ago, ten_days_ago))
    sink = DatadogFileSink(tmp_path, FORMAT, instance_id="i")
    sink_logger.addHandler(sink)
    sink_logger.info("x")
    sink.close_sink(5)
    assert not old.exists()
    assert recent.exists()
    assert unrelated.exists()


def test_unwritable_directory_drops_and_counts(tmp_path: Path, sink_logger: logging.Logger) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    sink = DatadogFileSink(blocker / "sub", FORMAT, instance_id="i")
    sink_logger.addHandler(sink)
    sink_logger.info("x")
    sink.close_sink(5)
    assert sink.stats().dropped == 1


def _http_sink(url: str, **kwargs: float) -> DatadogHttpSink:
    return DatadogHttpSink(url, API_KEY, FORMAT, linger_s=0.05, backoff_s=0.01, **kwargs)  # type: ignore[arg-type]


def test_http_sink_posts_gzip_json_with_the_api_key(
    intake_server: IntakeServer, sink_logger: logging.Logger
) -> None:
    sink = _http_sink(intake_server.url)
    sink_logger.addHandler(sink)
    for i in range(3):
        sink_logger.info("m%d", i)
    assert sink.flush_queue(5)
    sink.close_sink(5)
    (request,) = intake_server.requests
    assert request["path"] == "/api/v2/logs"
    assert request["headers"]["dd-api-key"] == API_KEY
    assert request["headers"]["content-encoding"] == "gzip"
    assert request["headers"]["content-type"] == "application/json"
    assert [r["message"] for r in intake_server.accepted_records()] == ["m0", "m1", "m2"]
    assert sink.stats().emitted == 3


def test_http_sink_splits_payloads_at_1000_entries(
    intake_server: IntakeServer, sink_logger: logging.Logger
) -> None:
    sink = DatadogHttpSink(intake_server.url, API_KEY, FORMAT, linger_s=2.0)
    sink_logger.addHandler(sink)
    for i in range(1_500):
        sink_logger.info("m%d", i)
    sink.close_sink(10)
    sizes = [len(json.loads(gzip.decompress(r["raw"]))) for r in intake_server.requests]
    assert sizes == [1_000, 500]


def test_http_sink_retries_server_errors(
    intake_server: IntakeServer, sink_logger: logging.Logger
) -> None:
    intake_server.fail_next(503, 500)
    sink = _http_sink(intake_server.url)
    sink_logger.addHandler(sink)
    sink_logger.info("eventually")
    sink.flush_queue(5)
    sink.close_sink(5)
    assert [r["status"] for r in intake_server.requests] == [503, 500, 202]
    assert [r["message"] for r in intake_server.accepted_records()] == ["eventually"]
    assert sink.stats().emitted == 1


def test_http_sink_does_not_retry_client_errors(
    intake_server: IntakeServer, sink_logger: logging.Logger
) -> None:
    intake_server.fail_next(403)
    sink = _http_sink(intake_server.url)
    sink_logger.addHandler(sink)
    sink_logger.info("refused")
    sink.flush_queue(5)
    sink.close_sink(5)
    assert [r["status"] for r in intake_server.requests] == [403]
    assert sink.stats().dropped == 1


def test_http_sink_without_listener_drops_and_counts(sink_logger: logging.Logger) -> None:
    sink = _http_sink(f"http://127.0.0.1:{free_port()}/api/v2/logs")
    sink_logger.addHandler(sink)
    sink_logger.info("lost")
    sink.flush_queue(10)
    sink.close_sink(5)
    assert sink.stats().dropped == 1

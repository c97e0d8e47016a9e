"""`configure_logging`: which sinks the settings install, replacement, shutdown, configuration errors."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dbrx_api.monitoring import LoggingHandle, configure_logging
from dbrx_api.monitoring.datadog_logs import DatadogFileSink, DatadogHttpSink
from dbrx_api.monitoring.metrics import DatadogMetrics, Metrics
from dbrx_api.monitoring.setup import resolve_instance_id
from dbrx_api.monitoring.sinks import QueuedSink, StdoutSink
from dbrx_api.settings import SettingsError
from fixtures.monitoring import StatsdListener, logging_settings

Configure = Callable[..., LoggingHandle]


def _our_handlers() -> list[QueuedSink]:
    return [h for h in logging.getLogger().handlers if isinstance(h, QueuedSink)]


def test_stdout_only(configured_logging: Configure, capsys: pytest.CaptureFixture[str]) -> None:
    handle = configured_logging(logging_settings(stdout=True, level="WARNING"))
    assert set(handle.sinks) == {"stdout"}
    assert isinstance(handle.metrics, Metrics)
    assert not isinstance(handle.metrics, DatadogMetrics)
    assert logging.getLogger().level == logging.WARNING
    logging.getLogger("dbrx_api.test").warning("visible")
    logging.getLogger("dbrx_api.test").info("hidden")
    assert handle.flush(5)
    messages = [json.loads(line)["message"] for line in capsys.readouterr().out.splitlines()]
    assert messages == ["visible"]
    assert handle.stats()["stdout"].emitted == 1


def test_plain_text_stdout(
    configured_logging: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = configured_logging(logging_settings(stdout=True, json=False))
    logging.getLogger("dbrx_api.test").warning("plain")
    handle.flush(5)
    assert capsys.readouterr().out.rstrip().endswith("WARNING  dbrx_api.test plain")


def test_datadog_file_logs_and_metrics(
    configured_logging: Configure, tmp_path: Path, statsd_listener: StatsdListener
) -> None:
    handle = configured_logging(
        logging_settings(
            datadog=True,
            datadog_log_dir=str(tmp_path),
            datadog_statsd_port=statsd_listener.port,
        ),
        instance_id="i-1",
    )
    assert isinstance(handle.sinks["datadog"], DatadogFileSink)
    assert isinstance(handle.metrics, DatadogMetrics)
    handle.metrics.increment("probe")
    logging.getLogger("dbrx_api.test").info("to the agent")
    handle.flush(5)
    (path,) = tmp_path.iterdir()
    assert path.name.startswith("deltashare-api-i-1-")
    assert "to the agent" in path.read_text()
    (line,) = statsd_listener.lines(1)
    assert line.startswith("deltashare.probe:1|c|#env:local,service:deltashare-api,version:")


def test_datadog_http_logs(configured_logging: Configure) -> None:
    settings = logging_settings(
        datadog=True,
        datadog_logs="http",
        datadog_api_key="0123456789abcdef",
        datadog_intake_url="http://127.0.0.1:9/api/v2/logs",
    )
    handle = configured_logging(settings)
    assert isinstance(handle.sinks["datadog"], DatadogHttpSink)


def test_datadog_logs_off_keeps_metrics(configured_logging: Configure) -> None:
    handle = configured_logging(logging_settings(datadog=True, datadog_logs="off"))
    assert handle.sinks == {}
    assert isinstance(handle.metrics, DatadogMetrics)


def test_reconfiguring_replaces_the_previous_sinks(configured_logging: Configure) -> None:
    first = configured_logging(logging_settings(stdout=True))
    second = configured_logging(logging_settings(stdout=True))
    handlers = _our_handlers()
    assert handlers == [second.sinks["stdout"]]
    assert not first.sinks["stdout"]._thread.is_alive()


def test_close_detaches_and_flushes(configured_logging: Configure) -> None:
    handle = configured_logging(logging_settings(stdout=True))
    sink = handle.sinks["stdout"]
    assert isinstance(sink, StdoutSink)
    logging.getLogger("dbrx_api.test").warning("last words")
    assert handle.close(timeout_s=5)
    assert _our_handlers() == []
    assert sink.stats().emitted >= 1
    assert handle.close()  # idempotent


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ({"blob": True}, "logging.blob needs"),
        ({"datadog": True, "datadog_logs": "http"}, "DATADOG_API_KEY"),
    ],
)
def test_missing_sink_requirements_fail_fast(
    section: dict[str, Any], fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DD_API_KEY", raising=False)
    with pytest.raises(SettingsError, match=fragment):
        configure_logging(logging_settings(**section))
    assert _our_handlers() == []


def test_postgresql_sink_needs_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DBRX_API_WORKFLOW__DATABASE_URL", raising=False)
    with pytest.raises(SettingsError, match=r"logging\.postgresql needs the workflow database"):
        configure_logging(logging_settings(postgresql=True))


def test_instance_id(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_instance_id("given") == "given"
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "abc123")
    assert resolve_instance_id() == f"abc123-{os.getpid()}"

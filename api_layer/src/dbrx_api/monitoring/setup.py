"""`configure_logging`: install the sinks the settings ask for on the root logger (docs/API.md §15.3).

Call it once per process (API lifespan, worker `main()`); calling it again replaces the previous configuration.
Keep the returned `LoggingHandle` and call `close(timeout_s)` on shutdown so queued records are flushed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from dbrx_api.monitoring.blob_sink import BlobLogSink, container_client_from_settings
from dbrx_api.monitoring.datadog_logs import (
    DatadogFileSink,
    DatadogFormat,
    DatadogHttpSink,
    default_log_directory,
    intake_url,
)
from dbrx_api.monitoring.metrics import DatadogMetrics, Metrics
from dbrx_api.monitoring.postgres_sink import DsnConnection, PostgresLogSink, pool_connections
from dbrx_api.monitoring.sinks import QueuedSink, SinkStats, StdoutSink
from dbrx_api.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

_NOISY_LOGGERS = {"azure.core.pipeline.policies.http_logging_policy": logging.WARNING}

_active_lock = threading.Lock()
_active: LoggingHandle | None = None


class LoggingHandle:
    """The installed sinks and the metrics client of this process."""

    def __init__(self, sinks: list[QueuedSink], metrics: Metrics, instance_id: str) -> None:
        self.sinks: dict[str, QueuedSink] = {sink.sink_name: sink for sink in sinks}
        self.metrics = metrics
        self.instance_id = instance_id
        self._closed = False

    def stats(self) -> dict[str, SinkStats]:
        """Per sink: records emitted (written), dropped, and still queued."""
        return {name: sink.stats() for name, sink in self.sinks.items()}

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Write everything queued so far; True when every sink finished within `timeout_s` (each)."""
        results = [sink.flush_queue(timeout_s) for sink in self.sinks.values()]
        return all(results)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Detach the sinks, flush them (sharing one deadline) and stop the metrics client.

        Returns True when every sink finished writing in time. Safe to call twice.
        """
        if self._closed:
            return True
        self._closed = True
        root = logging.getLogger()
        for sink in self.sinks.values():
            root.removeHandler(sink)
        per_sink = timeout_s / max(len(self.sinks), 1)
        finished = [sink.close_sink(per_sink) for sink in self.sinks.values()]
        self.metrics.close(min(timeout_s, 2.0))
        return all(finished)


def configure_logging(
    settings: Settings,
    *,
    db_pool: ConnectionPool[Any] | None = None,
    instance_id: str | None = None,
) -> LoggingHandle:
    """Install the stdout, Blob, PostgreSQL and Datadog sinks enabled in `settings.logging`.

    Args:
        settings: the service settings (`logging` section, plus `app_name`, `environment` and the workflow
            database URL as a fallback for the PostgreSQL sink).
        db_pool: the workflow connection pool; the PostgreSQL sink borrows from it when given.
        instance_id: names this process in blob and file names; default `WEBSITE_INSTANCE_ID` (App Service)
            or the host name, followed by the process id.

    Raises:
        SettingsError: an enabled sink lacks what it needs (storage location, database, Datadog API key).
    """
    global _active
    log = settings.logging
    _check_sink_settings(settings, db_pool)
    instance = resolve_instance_id(instance_id)
    with _active_lock:
        if _active is not None:
            _active.close(timeout_s=2.0)
            _active = None
        sinks = _build_sinks(settings, db_pool, instance)
        root = logging.getLogger()
        root.setLevel(log.level)
        for sink in sinks:
            root.addHandler(sink)
        for name, level in _NOISY_LOGGERS.items():
            logging.getLogger(name).setLevel(level)
        metrics: Metrics = (
            DatadogMetrics(
                log.datadog_statsd_host,
                log.datadog_statsd_port,
                constant_tags={
                    "env": settings.environment,
                    "service": log.datadog_service,
                    "version": package_version(),
                },
            )
            if log.datadog
            else Metrics()
        )
        _active = LoggingHandle(sinks, metrics, instance)
    logger.info(
        "logging configured",
        extra={"sinks": sorted(_active.sinks), "instance_id": instance, "metrics": log.datadog},
    )
    return _active


def _check_sink_settings(settings: Settings, db_pool: ConnectionPool[Any] | None) -> None:
    log = settings.logging
    problems: list[str] = []
    if log.blob and log.blob_connection_string is None and not log.blob_account_url:
        problems.append(
            "logging.blob needs logging.blob_account_url or DBRX_API_LOGGING__BLOB_CONNECTION_STRING"
        )
    if log.postgresql and db_pool is None and settings.workflow.database_url is None:
        problems.append("logging.postgresql needs the workflow database (pool or database URL)")
    if log.datadog and log.datadog_logs == "http" and log.datadog_api_key is None:
        problems.append(
            "logging.datadog_logs = 'http' needs DBRX_API_LOGGING__DATADOG_API_KEY (or DD_API_KEY)"
        )
    if problems:
        raise SettingsError("invalid logging configuration: " + "; ".join(problems))


def _build_sinks(
    settings: Settings, db_pool: ConnectionPool[Any] | None, instance: str
) -> list[QueuedSink]:
    log = settings.logging
    sinks: list[QueuedSink] = []
    if log.stdout:
        sinks.append(
            StdoutSink(json_lines=log.json_lines, level=log.level, queue_size=log.queue_size)
        )
    if log.blob:
        sinks.append(
            BlobLogSink(
                container_client_from_settings(log),
                app=settings.app_name,
                instance_id=instance,
                flush_interval_s=log.blob_flush_interval_s,
                level=log.level,
                queue_size=log.queue_size,
            )
        )
    if log.postgresql:
        connections = (
            pool_connections(db_pool)
            if db_pool is not None
            else DsnConnection(_secret(settings.workflow.database_url))
        )
        level = max(
            logging.getLevelNamesMapping()[name] for name in (log.level, log.postgresql_min_level)
        )
        sinks.append(PostgresLogSink(connections, level=level, queue_size=log.queue_size))
    if log.datadog and log.datadog_logs != "off":
        formatter = DatadogFormat(
            service=log.datadog_service,
            env=settings.environment,
            version=package_version(),
            host=instance,
        )
        if log.datadog_logs == "file":
            directory = (
                Path(log.datadog_log_dir) if log.datadog_log_dir else default_log_directory()
            )
            sinks.append(
                DatadogFileSink(
                    directory,
                    formatter,
                    instance_id=instance,
                    level=log.level,
                    queue_size=log.queue_size,
                )
            )
        else:
            sinks.append(
                DatadogHttpSink(
                    log.datadog_intake_url or intake_url(log.datadog_site),
                    _secret(log.datadog_api_key),
                    formatter,
                    level=log.level,
                    queue_size=log.queue_size,
                )
            )
    return sinks


def _secret(value: SecretStr | None) -> str:
    if value is None:  # _check_sink_settings ran first; this only narrows the type
        raise SettingsError("a secret required by an enabled log sink is missing")
    return value.get_secret_value()


def resolve_instance_id(instance_id: str | None = None) -> str:
    """`instance_id`, else `{WEBSITE_INSTANCE_ID or host name}-{pid}` (one writer per blob and file)."""
    if instance_id:
        return instance_id
    base = os.environ.get("WEBSITE_INSTANCE_ID") or socket.gethostname() or "instance"
    return f"{base[:32]}-{os.getpid()}"


def package_version() -> str:
    """The installed package's version (docs/API.md §15.2: not a setting)."""
    try:
        return metadata.version("deltashare")
    except metadata.PackageNotFoundError:
        return "0.0.0"

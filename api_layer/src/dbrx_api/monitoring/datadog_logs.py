"""Datadog log sinks (settings: docs/API.md §15.3).

* `file` (default on Azure Web App): JSON lines under `$HOME/LogFiles/deltashare/` (per process and UTC day,
  `{service}-{instance}-{yyyymmdd}.log`), tailed by the Datadog Agent sidecar; files older than 7 days are pruned.
* `http`: batched, gzip-compressed POSTs of JSON arrays to the logs intake (`/api/v2/logs`, header `DD-API-KEY`),
  at most 1 000 entries and ~4.5 MB per payload; 429/5xx and transport errors are retried with backoff.

Both write from the sink's background thread. Records use Datadog's standard attributes (`status` is the level,
`http.status_code`, `http.method`, `http.route`, `usr.id`, `error.kind`, `duration` in nanoseconds).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import time
from pathlib import Path
from typing import IO, Any

import httpx

from dbrx_api.monitoring.blob_sink import path_segment
from dbrx_api.monitoring.events import LogEvent
from dbrx_api.monitoring.sinks import QueuedSink

MAX_ENTRIES_PER_PAYLOAD = 1_000
MAX_PAYLOAD_BYTES = 4_500_000  # the intake accepts 5 MB uncompressed
FILE_RETENTION_S = 7 * 24 * 3600
_RETRIABLE_STATUS = frozenset((408, 429, 500, 502, 503, 504))


def default_log_directory() -> Path:
    """`$HOME/LogFiles/deltashare/`: persistent on App Service and watched by the Datadog sidecar."""
    return Path(os.environ.get("HOME") or Path.home()) / "LogFiles" / "deltashare"


def intake_url(site: str) -> str:
    """The logs intake of a Datadog site (`datadoghq.com`, `datadoghq.eu`, …)."""
    return f"https://http-intake.logs.{site}/api/v2/logs"


class DatadogFormat:
    """Maps our events to Datadog log records for one service, environment and host."""

    def __init__(self, *, service: str, env: str, version: str, host: str) -> None:
        self.service = service
        self.host = host
        self.tags = f"env:{env},version:{version}"

    def record(self, event: LogEvent) -> dict[str, Any]:
        """The Datadog representation of `event`."""
        fields = dict(event.fields)
        record: dict[str, Any] = {
            "timestamp": fields.pop("timestamp"),
            "status": str(fields.pop("level")).lower(),
            "message": fields.pop("message"),
            "service": self.service,
            "ddsource": "python",
            "ddtags": self.tags,
            "hostname": self.host,
            "logger": {"name": fields.pop("logger")},
        }
        http = _take(
            fields,
            request_id="request_id",
            method="method",
            route="route",
            status_code="status",
        )
        if "path" in fields:
            http["url_details"] = {"path": fields.pop("path")}
        user = _take(fields, id="principal_id", name="principal_name")
        error = _take(fields, kind="exception_type", message="exception_message", stack="stack")
        if http:
            record["http"] = http
        if user:
            record["usr"] = user
        if error:
            record["error"] = error
        latency_ms = fields.get("latency_ms")
        if isinstance(latency_ms, int | float) and not isinstance(latency_ms, bool):
            record["duration"] = int(latency_ms * 1_000_000)
        for key, value in fields.items():
            record.setdefault(key, value)
        return record


def _take(fields: dict[str, Any], **names: str) -> dict[str, Any]:
    return {target: fields.pop(source) for target, source in names.items() if source in fields}


class DatadogFileSink(QueuedSink):
    """JSON lines for the Datadog Agent to tail."""

    def __init__(
        self,
        directory: Path,
        formatter: DatadogFormat,
        *,
        instance_id: str,
        level: int | str = logging.NOTSET,
        queue_size: int = 10_000,
    ) -> None:
        self._directory = directory
        self._format = formatter
        self._stem = f"{path_segment(formatter.service)}-{path_segment(instance_id)}"
        self._file: IO[str] | None = None
        self._file_name = ""
        super().__init__("datadog", level=level, queue_size=queue_size)

    def file_path(self, created: float) -> Path:
        """The file a record created at `created` goes to."""
        return self._directory / f"{self._stem}-{time.strftime('%Y%m%d', time.gmtime(created))}.log"

    def write_batch(self, events: list[LogEvent]) -> None:
        """Append the batch to the current day's file and flush it."""
        by_path: dict[Path, list[str]] = {}
        for event in events:
            line = json.dumps(self._format.record(event), ensure_ascii=False, separators=(",", ":"))
            by_path.setdefault(self.file_path(event.created), []).append(line + "\n")
        for path, lines in by_path.items():
            handle = self._open(path)
            handle.write("".join(lines))
            handle.flush()

    def _open(self, path: Path) -> IO[str]:
        if self._file is not None and self._file_name == path.name:
            return self._file
        self.close_resources()
        self._directory.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._file_name = path.name
        self._prune()
        return self._file

    def _prune(self) -> None:
        cutoff = time.time() - FILE_RETENTION_S
        prefix = path_segment(self._format.service) + "-"
        for old in self._directory.glob(f"{prefix}*.log"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                continue  # another instance pruned it first

    def close_resources(self) -> None:
        """Close the open file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class DatadogHttpSink(QueuedSink):
    """Batched gzip POSTs to the Datadog logs intake."""

    def __init__(
        self,
        url: str,
        api_key: str,
        formatter: DatadogFormat,
        *,
        level: int | str = logging.NOTSET,
        queue_size: int = 10_000,
        linger_s: float = 2.0,
        timeout_s: float = 5.0,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self._url = url
        self._format = formatter
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._client = httpx.Client(
            timeout=timeout_s,
            headers={
                "DD-API-KEY": api_key,
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
        )
        super().__init__(
            "datadog",
            level=level,
            queue_size=queue_size,
            linger_s=linger_s,
            max_batch=MAX_ENTRIES_PER_PAYLOAD,
        )

    def write_batch(self, events: list[LogEvent]) -> None:
        """POST the batch, split by the intake's payload limits."""
        for payload in _payloads([self._format.record(event) for event in events]):
            self._post(gzip.compress(payload, compresslevel=6))

    def _post(self, body: bytes) -> None:
        last_error: Exception | None = None
        for attempt in range(self._max_attempts):
            if attempt:
                time.sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.post(self._url, content=body)
            except httpx.TransportError as exc:
                last_error = exc
                continue
            if response.is_success:
                return
            last_error = DatadogIntakeError(f"the logs intake answered HTTP {response.status_code}")
            if response.status_code not in _RETRIABLE_STATUS:
                break
        raise last_error or DatadogIntakeError("the logs intake could not be reached")

    def close_resources(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class DatadogIntakeError(RuntimeError):
    """The logs intake refused or failed a payload."""


def _payloads(records: list[dict[str, Any]]) -> list[bytes]:
    """JSON arrays of at most 1 000 records and ~4.5 MB each."""
    payloads: list[bytes] = []
    current: list[bytes] = []
    size = 2
    for record in records:
        encoded = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if current and (
            len(current) >= MAX_ENTRIES_PER_PAYLOAD or size + len(encoded) + 1 > MAX_PAYLOAD_BYTES
        ):
            payloads.append(b"[" + b",".join(current) + b"]")
            current, size = [], 2
        current.append(encoded)
        size += len(encoded) + 1
    if current:
        payloads.append(b"[" + b",".join(current) + b"]")
    return payloads

"""Metrics: DogStatsD to the Datadog Agent (settings: docs/API.md §15.3), or nothing.

All names live under the namespace `deltashare`; durations are explicit milliseconds (`…duration_ms`, never
`statsd.timed`, which sends seconds unless told otherwise). Tags are low-cardinality: route *templates*, methods,
status codes, step kinds, results; never request ids, principals or resource names. Sending goes through the
client's background sender with a bounded queue, so a call never waits for the network and a missing Agent only
loses datagrams.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Literal

from datadog.dogstatsd.base import DogStatsd

logger = logging.getLogger(__name__)

NAMESPACE = "deltashare"
# Datadog tags allow letters, digits, `_ - : . /`; the rest becomes `_` (`/shares/{name}` -> `/shares/_name_`).
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./:]")
_MAX_TAG_CHARS = 100

Tags = Mapping[str, str | int]
AlertType = Literal["info", "success", "warning", "error"]


class Metrics:
    """The metrics interface; this base class records nothing (Datadog disabled)."""

    def increment(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        """Add `value` to the counter `name`."""

    def gauge(self, name: str, value: float, tags: Tags | None = None) -> None:
        """Set the gauge `name` (queue depth, pool usage…)."""

    def distribution(self, name: str, value: float, tags: Tags | None = None) -> None:
        """Record one sample of `name` (latencies in milliseconds)."""

    def event(
        self, title: str, text: str, *, alert_type: AlertType = "info", tags: Tags | None = None
    ) -> None:
        """A Datadog event (the event stream and monitors on it): something a person may want to know happened.
        `title` and `text` must hold no secret."""

    def record_request(self, route: str, method: str, status: int, latency_ms: float) -> None:
        """One served HTTP request; `route` must be the route template, not the concrete path."""
        tags: dict[str, str | int] = {
            "route": route,
            "method": method.upper(),
            "status": status,
            "status_class": f"{status // 100}xx",
        }
        self.increment("http.requests", tags=tags)
        self.distribution("http.request.duration_ms", latency_ms, tags=tags)

    def record_provisioning_step(self, kind: str, result: str, latency_ms: float) -> None:
        """One provisioning step of the workflow worker (`kind` e.g. `share.create`, `result` ok|error|…)."""
        tags = {"step": kind, "result": result}
        self.increment("provision.steps", tags=tags)
        self.distribution("provision.step.duration_ms", latency_ms, tags=tags)

    def close(self, timeout_s: float = 2.0) -> None:
        """Send what is pending and release the socket."""


class DatadogMetrics(Metrics):
    """DogStatsD over UDP with a background sender."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        constant_tags: Tags | None = None,
        namespace: str = NAMESPACE,
        sender_queue_size: int = 4_096,
    ) -> None:
        # Without an Agent the client logs a WARNING for every lost datagram, i.e. for every metric:
        # a log flood exactly when something is already wrong. Lost metrics are expected; keep errors only.
        logging.getLogger("datadog.dogstatsd").setLevel(logging.ERROR)
        self._statsd = DogStatsd(
            host=host,
            port=port,
            namespace=namespace,
            constant_tags=format_tags(constant_tags or {}),
            disable_telemetry=True,
            disable_background_sender=False,
            sender_queue_size=sender_queue_size,
            sender_queue_timeout=0,  # full queue: drop, never wait
            socket_timeout=0,
            origin_detection_enabled=False,
        )

    def increment(self, name: str, value: int = 1, tags: Tags | None = None) -> None:
        """Counter (`|c`)."""
        try:
            self._statsd.increment(name, value, tags=format_tags(tags or {}))
        except Exception:  # noqa: BLE001 - metrics must never fail the caller
            logger.debug("metric %s not sent", name)

    def gauge(self, name: str, value: float, tags: Tags | None = None) -> None:
        """Gauge (`|g`)."""
        try:
            self._statsd.gauge(name, value, tags=format_tags(tags or {}))
        except Exception:  # noqa: BLE001
            logger.debug("metric %s not sent", name)

    def distribution(self, name: str, value: float, tags: Tags | None = None) -> None:
        """Distribution (`|d`), aggregated by Datadog across hosts."""
        try:
            self._statsd.distribution(name, value, tags=format_tags(tags or {}))
        except Exception:  # noqa: BLE001
            logger.debug("metric %s not sent", name)

    def event(
        self, title: str, text: str, *, alert_type: AlertType = "info", tags: Tags | None = None
    ) -> None:
        """Event (`_e{…}`) over the same DogStatsD socket."""
        try:
            self._statsd.event(title, text, alert_type=alert_type, tags=format_tags(tags or {}))
        except Exception:  # noqa: BLE001
            logger.debug("event %s not sent", title)

    def close(self, timeout_s: float = 2.0) -> None:
        """Drain the sender queue (bounded) and close the socket."""
        try:
            self._statsd.stop(timeout=timeout_s)
            self._statsd.close_socket()
        except Exception:  # noqa: BLE001
            logger.debug("statsd client did not stop cleanly")


def format_tags(tags: Tags) -> list[str]:
    """`{"route": "/shares/{name}"}` -> `["route:/shares/_name_"]`, with unsafe characters replaced."""
    return [
        f"{_tag_part(key)}:{_tag_part(str(value))}"[: _MAX_TAG_CHARS * 2]
        for key, value in tags.items()
    ]


def _tag_part(text: str) -> str:
    return _TAG_UNSAFE.sub("_", text)[:_MAX_TAG_CHARS]

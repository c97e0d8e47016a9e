"""Logging and metrics: structured JSON records, request context, redaction, sinks and DogStatsD.

Framework-free: the request middleware (in `main`) binds the request context and calls the metrics helpers.
"""

from dbrx_api.monitoring.context import (
    RequestContext,
    bind_request_context,
    current_request_context,
    request_context,
    request_scope,
    reset_request_context,
    update_request_context,
)
from dbrx_api.monitoring.events import (
    JsonFormatter,
    LogEvent,
    RedactionFilter,
    TextFormatter,
    capture,
)
from dbrx_api.monitoring.metrics import DatadogMetrics, Metrics
from dbrx_api.monitoring.redaction import redact
from dbrx_api.monitoring.setup import LoggingHandle, configure_logging
from dbrx_api.monitoring.sinks import SinkStats

__all__ = [
    "DatadogMetrics",
    "JsonFormatter",
    "LogEvent",
    "LoggingHandle",
    "Metrics",
    "RedactionFilter",
    "RequestContext",
    "SinkStats",
    "TextFormatter",
    "bind_request_context",
    "capture",
    "configure_logging",
    "current_request_context",
    "redact",
    "request_context",
    "request_scope",
    "reset_request_context",
    "update_request_context",
]

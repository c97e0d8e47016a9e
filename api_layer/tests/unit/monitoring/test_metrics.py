"""DogStatsD metrics against a local UDP socket: names, explicit milliseconds, tags, no blocking."""

from __future__ import annotations

import logging
import time

import pytest

from dbrx_api.monitoring.metrics import DatadogMetrics, Metrics, format_tags
from fixtures.azurite import free_port
from fixtures.monitoring import StatsdListener

CONSTANT = {"env": "test", "service": "deltashare-api", "version": "1.2.3"}
CONSTANT_TAGS = "env:test,service:deltashare-api,version:1.2.3"


def _metrics(port: int) -> DatadogMetrics:
    return DatadogMetrics("127.0.0.1", port, constant_tags=CONSTANT)


def test_record_request_sends_a_counter_and_a_millisecond_distribution(
    statsd_listener: StatsdListener,
) -> None:
    metrics = _metrics(statsd_listener.port)
    metrics.record_request("/shares/{name}", "get", 404, 12.5)
    metrics.close()
    tags = "route:/shares/_name_,method:GET,status:404,status_class:4xx"
    assert sorted(statsd_listener.lines(2)) == sorted(
        [
            f"deltashare.http.requests:1|c|#{tags},{CONSTANT_TAGS}",
            f"deltashare.http.request.duration_ms:12.5|d|#{tags},{CONSTANT_TAGS}",
        ]
    )


def test_record_provisioning_step(statsd_listener: StatsdListener) -> None:
    metrics = _metrics(statsd_listener.port)
    metrics.record_provisioning_step("share.create", "ok", 250.0)
    metrics.close()
    assert sorted(statsd_listener.lines(2)) == sorted(
        [
            f"deltashare.provision.steps:1|c|#step:share.create,result:ok,{CONSTANT_TAGS}",
            f"deltashare.provision.step.duration_ms:250.0|d|#step:share.create,result:ok,{CONSTANT_TAGS}",
        ]
    )


def test_gauge_and_increment(statsd_listener: StatsdListener) -> None:
    metrics = _metrics(statsd_listener.port)
    metrics.gauge("queue.depth", 7, tags={"queue": "sharepack-processing"})
    metrics.increment("sharepack.uploads", 2)
    metrics.close()
    assert sorted(statsd_listener.lines(2)) == sorted(
        [
            f"deltashare.queue.depth:7|g|#queue:sharepack-processing,{CONSTANT_TAGS}",
            f"deltashare.sharepack.uploads:2|c|#{CONSTANT_TAGS}",
        ]
    )


def test_tags_are_sanitised() -> None:
    assert format_tags({"route": "/x/{id} a|b,c#d", "status": 200}) == [
        "route:/x/_id__a_b_c_d",
        "status:200",
    ]
    assert len(format_tags({"k": "v" * 500})[0]) == len("k:") + 100


def test_no_agent_never_blocks_raises_or_floods_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    metrics = _metrics(free_port())  # nothing listens there
    started = time.perf_counter()
    with caplog.at_level(logging.DEBUG):
        for _ in range(2_000):
            metrics.record_request("/health", "GET", 200, 1.0)
        elapsed = time.perf_counter() - started
        metrics.close(timeout_s=1)
    assert elapsed < 2.0  # ~4 000 enqueues; a blocking send path would not stay far below this
    assert [r for r in caplog.records if r.name.startswith("datadog")] == []


def test_disabled_metrics_are_no_ops() -> None:
    metrics = Metrics()
    metrics.record_request("/health", "GET", 200, 1.0)
    metrics.record_provisioning_step("share.create", "ok", 1.0)
    metrics.close()


def test_an_event_reaches_the_agent_as_a_dogstatsd_event(statsd_listener: StatsdListener) -> None:
    """`event` sends `_e{len(title),len(text)}:title|text|t:<alert type>|#tags` over the metrics socket."""
    metrics = _metrics(statsd_listener.port)
    metrics.event(
        "DeltaShare rotated a recipient token", "acme", alert_type="success", tags={"result": "ok"}
    )
    metrics.close()
    assert statsd_listener.lines(1) == [
        f"_e{{36,4}}:DeltaShare rotated a recipient token|acme|t:success|#result:ok,{CONSTANT_TAGS}"
    ]

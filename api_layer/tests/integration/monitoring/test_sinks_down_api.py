"""With every remote log sink down, API requests still succeed, as fast, and the sinks count their drops (issue 6)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fixtures.azurite import ACCOUNT, ACCOUNT_KEY, free_port

pytestmark = pytest.mark.integration


def p50_ms(client: TestClient, rounds: int = 60) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        assert client.get("/shares").status_code == 200
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def test_requests_unaffected_by_dead_sinks(
    make_api: Callable[..., TestClient], tmp_path: Path
) -> None:
    dead = free_port()  # nothing listens there
    dead_blob = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{dead}/{ACCOUNT};"
    )
    quiet = make_api()
    down = make_api(
        logging={
            "blob": True,
            "blob_connection_string": dead_blob,
            "blob_flush_interval_s": 0.2,
            "postgresql": True,
            "postgresql_min_level": "INFO",
            "datadog": True,
            "datadog_statsd_port": dead,
            "datadog_logs": "http",
            "datadog_api_key": "dd-test-key",
            "datadog_intake_url": f"http://127.0.0.1:{dead}/api/v2/logs",
        },
        workflow={
            "database_url": f"postgresql://postgres@127.0.0.1:{dead}/nothing?connect_timeout=1"
        },
    )
    for client in (quiet, down):  # warm-up: client caches, first connections
        p50_ms(client, rounds=5)
    baseline = p50_ms(quiet)
    degraded = p50_ms(down)
    print(f"p50 GET /shares: sinks off {baseline:.2f} ms, remote sinks down {degraded:.2f} ms")  # noqa: T201
    handle: Any = down.app.state.logging  # type: ignore[attr-defined]
    handle.flush(5)
    stats = handle.stats()
    assert {"blob", "postgresql", "datadog"} <= set(stats)
    for name in ("blob", "postgresql", "datadog"):
        assert stats[name].dropped > 0, (name, stats[name])
    # Generous on a shared 2-core machine: a blocking sink would add its connect timeout (~1 s) per request.
    assert degraded < baseline * 3 + 20

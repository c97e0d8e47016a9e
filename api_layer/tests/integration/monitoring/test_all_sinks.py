"""Every sink at once, for real: secrets never reach any output, and dead sinks never slow the caller."""

from __future__ import annotations

import gzip
import json
import logging
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from azure.storage.blob import BlobServiceClient

from dbrx_api.monitoring import LoggingHandle, request_scope
from dbrx_api.settings import Settings
from fixtures.azurite import AzuriteBlob, free_port, start_azurite_blob
from fixtures.monitoring import IntakeServer, StatsdListener, TcpProxy, logging_settings
from fixtures.tokens import TokenFactory

pytestmark = pytest.mark.integration

Configure = Callable[..., LoggingHandle]

ACTIVATION_CODE = "QWN0aXZhdGlvblRva2VuLTdmM2E5YjJj"
ACTIVATION_LINK = f"https://adb-1234567890123456.7.azuredatabricks.net/delta_sharing/retrieve_config.html?{ACTIVATION_CODE}"
PAT = "dapi0123456789abcdef0123456789abcdef"
STORAGE_KEY = "c3RvcmFnZS1rZXktdGhhdC1tdXN0LW5vdC1sZWFr"
SHARING_CODE = "sharing-code-7f3a9b2c"
DD_KEY = "ddkey0123456789abcdef0123456789ab"


def _settings(
    *,
    azurite: AzuriteBlob,
    container: str,
    database_url: str,
    datadog_logs: str,
    datadog_dir: Path,
    intake_url: str,
    statsd_port: int,
) -> Settings:
    return logging_settings(
        database_url=database_url,
        stdout=True,
        blob=True,
        blob_connection_string=azurite.connection_string,
        blob_container=container,
        blob_flush_interval_s=0.2,
        postgresql=True,
        postgresql_min_level="INFO",
        datadog=True,
        datadog_logs=datadog_logs,
        datadog_log_dir=str(datadog_dir),
        datadog_intake_url=intake_url,
        datadog_api_key=DD_KEY,
        datadog_statsd_port=statsd_port,
    )


def _emit_secrets(logger: logging.Logger, jwt: str) -> None:
    with request_scope(
        request_id=f"req-{uuid.uuid4().hex[:8]}", method="POST", path="/recipients/d2o/acme"
    ):
        logger.info("recipient created, activation link %s", ACTIVATION_LINK)
        logger.warning("calling upstream with Authorization: Bearer %s", jwt)
        logger.warning("token in plain text: %s", jwt)
        logger.info("workspace client uses %s", PAT)
        logger.info(
            "storage DefaultEndpointsProtocol=https;AccountName=a;AccountKey=%s;EndpointSuffix=x",
            STORAGE_KEY,
        )
        logger.info("intake header DD-API-KEY: %s", DD_KEY)
        logger.info(
            "d2d recipient requested",
            extra={
                "sharing_code": SHARING_CODE,
                "activation_url": ACTIVATION_LINK,
                "request_body": {"name": "acme", "sharing_code": SHARING_CODE},
                "note": f"link was {ACTIVATION_LINK}",
            },
        )
        try:
            raise RuntimeError(f"upstream echoed {PAT} and {ACTIVATION_LINK}")
        except RuntimeError:
            logger.exception("rotation failed")


def _forbidden(jwt: str) -> list[str]:
    _header, payload, signature = jwt.split(".")
    return [ACTIVATION_CODE, PAT, STORAGE_KEY, SHARING_CODE, DD_KEY, jwt, payload, signature]


def _assert_clean(where: str, text: str, jwt: str) -> None:
    assert "rotation failed" in text, f"{where}: the records did not arrive"
    assert "[REDACTED" in text, f"{where}: nothing was redacted"
    for secret in _forbidden(jwt):
        assert secret not in text, f"{where} leaked {secret[:12]}…"


@pytest.mark.parametrize("datadog_logs", ["file", "http"])
def test_secrets_reach_no_sink(
    datadog_logs: str,
    azurite_blob: AzuriteBlob,
    pg_url: str,
    intake_server: IntakeServer,
    statsd_listener: StatsdListener,
    token_factory: TokenFactory,
    configured_logging: Configure,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    container = f"logs-{uuid.uuid4().hex[:10]}"
    settings = _settings(
        azurite=azurite_blob,
        container=container,
        database_url=pg_url,
        datadog_logs=datadog_logs,
        datadog_dir=tmp_path,
        intake_url=intake_server.url,
        statsd_port=statsd_listener.port,
    )
    handle = configured_logging(settings, instance_id="redaction")
    logger = logging.getLogger(f"dbrx_api.test.redaction.{uuid.uuid4().hex[:6]}")
    jwt = token_factory.mint()
    _emit_secrets(logger, jwt)
    assert handle.flush(15)
    assert all(stats.dropped == 0 for stats in handle.stats().values()), handle.stats()

    _assert_clean("stdout", capsys.readouterr().out, jwt)

    service = BlobServiceClient.from_connection_string(azurite_blob.connection_string)
    blobs = service.get_container_client(container)
    blob_text = "".join(
        blobs.download_blob(blob.name).readall().decode() for blob in blobs.list_blobs()
    )
    service.close()
    _assert_clean("blob", blob_text, jwt)

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT row_to_json(l)::text FROM deltashare.application_logs l WHERE logger = %s",
            (logger.name,),
        ).fetchall()
    assert len(rows) == 8
    _assert_clean("postgresql", "\n".join(row[0] for row in rows), jwt)

    if datadog_logs == "file":
        datadog_text = "".join(path.read_text() for path in tmp_path.glob("*.log"))
    else:
        datadog_text = json.dumps(intake_server.accepted_records())
        raw = b"".join(gzip.decompress(request["raw"]) for request in intake_server.requests)
        assert DD_KEY.encode() not in raw
    _assert_clean(f"datadog ({datadog_logs})", datadog_text, jwt)


def test_dead_sinks_never_block_and_count_their_drops(
    pg_url: str,
    configured_logging: Configure,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    azurite = start_azurite_blob(tmp_path / "azurite")
    intake = IntakeServer()
    proxy = TcpProxy.for_postgres(pg_url)
    try:
        settings = _settings(
            azurite=azurite,
            container="logs-down",
            database_url=proxy.dsn_through(pg_url),
            datadog_logs="http",
            datadog_dir=tmp_path,
            intake_url=intake.url,
            statsd_port=free_port(),  # no Agent listening
        )
        handle = configured_logging(settings, instance_id="down")
        logger = logging.getLogger("dbrx_api.test.down")

        logger.warning("all sinks up")
        assert handle.flush(15)
        up = handle.stats()
        assert {name: s.dropped for name, s in up.items()} == dict.fromkeys(up, 0)
        assert all(s.emitted >= 1 for s in up.values()), up
        healthy = _emit_timings(logger, handle, 200)

        azurite.stop()  # by PID
        intake.stop()
        proxy.cut()
        before = handle.stats()
        down = _emit_timings(logger, handle, 1_000)
        handle.flush(30)
        after = handle.stats()
    finally:
        azurite.stop()
        proxy.cut()
        intake.stop()

    for sink in ("blob", "postgresql", "datadog"):
        assert after[sink].emitted == before[sink].emitted, sink
        assert after[sink].dropped - before[sink].dropped >= 1_000, (sink, after[sink])
    assert after["stdout"].emitted - before["stdout"].emitted >= 1_000
    assert after["stdout"].dropped == 0

    warnings = [
        json.loads(line)["message"]
        for line in capsys.readouterr().out.splitlines()
        if "log sink '" in line
    ]
    for sink in ("blob", "postgresql", "datadog"):
        failing = [w for w in warnings if w.startswith(f"log sink '{sink}' is failing")]
        assert len(failing) == 1, (sink, warnings)

    # The caller's cost per record does not depend on the sinks being reachable. A record that waited on a dead
    # sink would wait for a network timeout (seconds); one scheduling pause of a loaded 2-core machine (0.6 s
    # seen in CI) is not that, so the strict bound holds for 99 % of the records and the loose one for all.
    assert sorted(down["all"])[-len(down["all"]) // 100] < 0.1, down
    assert max(down["all"]) < 1.0, down
    assert statistics.mean(down["all"]) < 0.002, down
    assert statistics.median(down["all"]) < 3 * statistics.median(healthy["all"]) + 0.0005
    print(  # noqa: T201 - the measurement is reported with -s
        f"emit+metrics per record: healthy median {statistics.median(healthy['all']) * 1e6:.0f} µs, "
        f"sinks down median {statistics.median(down['all']) * 1e6:.0f} µs, "
        f"max {max(down['all']) * 1e3:.1f} ms"
    )


def _emit_timings(logger: logging.Logger, handle: LoggingHandle, count: int) -> dict[str, Any]:
    timings: list[float] = []
    for i in range(count):
        started = time.perf_counter()
        logger.info("request %d", i, extra={"status": 200, "latency_ms": 1.0})
        handle.metrics.record_request("/shares/{name}", "GET", 200, 1.0)
        timings.append(time.perf_counter() - started)
    return {"all": timings}

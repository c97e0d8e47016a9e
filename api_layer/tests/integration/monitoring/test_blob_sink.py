"""The Azure Blob log sink against Azurite: blob names, JSON lines, one append per batch, restarts, rollover."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from dbrx_api.monitoring import LoggingHandle, blob_sink
from dbrx_api.monitoring.blob_sink import BlobLogSink, container_client_from_settings
from fixtures.azurite import AzuriteBlob
from fixtures.monitoring import logging_settings

pytestmark = pytest.mark.integration

HOUR_2026_03_01_10 = 1_772_359_200.0  # 2026-03-01T10:00:00Z


@pytest.fixture
def container_name() -> str:
    return f"logs-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def container(azurite_blob: AzuriteBlob, container_name: str) -> Iterator[ContainerClient]:
    """A client of a fresh (not yet created) container."""
    service = BlobServiceClient.from_connection_string(azurite_blob.connection_string)
    client = service.get_container_client(container_name)
    yield client
    client.close()


def _emit_at(sink_logger: logging.Logger, created: float, message: str) -> None:
    record = sink_logger.makeRecord(sink_logger.name, logging.INFO, __file__, 1, message, (), None)
    record.created = created
    sink_logger.handle(record)


def _lines(container: ContainerClient, name: str) -> list[dict[str, object]]:
    data = container.download_blob(name).readall().decode()
    return [json.loads(line) for line in data.splitlines()]


def _committed_blocks(container: ContainerClient, name: str) -> int:
    count = container.get_blob_client(name).get_blob_properties().append_blob_committed_block_count
    assert count is not None
    return count


def _sink(container: ContainerClient, instance: str = "inst-1") -> BlobLogSink:
    return BlobLogSink(container, app="DeltaShare API", instance_id=instance, flush_interval_s=30)


def test_batch_lands_as_one_block_in_the_hourly_instance_blob(
    container: ContainerClient, sink_logger: logging.Logger
) -> None:
    sink = _sink(container)
    sink_logger.addHandler(sink)
    for i in range(3):
        _emit_at(sink_logger, HOUR_2026_03_01_10 + i, f"m{i}")
    assert sink.flush_queue(10)
    name = "logs/deltashare-api/2026/03/01/10/inst-1.jsonl"
    assert [b.name for b in container.list_blobs()] == [name]
    assert [line["message"] for line in _lines(container, name)] == ["m0", "m1", "m2"]
    assert _committed_blocks(container, name) == 1

    _emit_at(sink_logger, HOUR_2026_03_01_10 + 60, "m3")
    assert sink.flush_queue(10)
    assert [line["message"] for line in _lines(container, name)] == ["m0", "m1", "m2", "m3"]
    assert _committed_blocks(container, name) == 2
    assert sink.stats().emitted == 4
    sink.close_sink(5)


def test_records_of_two_hours_go_to_two_blobs(
    container: ContainerClient, sink_logger: logging.Logger
) -> None:
    sink = _sink(container)
    sink_logger.addHandler(sink)
    _emit_at(sink_logger, HOUR_2026_03_01_10 + 3599, "late")
    _emit_at(sink_logger, HOUR_2026_03_01_10 + 3600, "next hour")
    sink.close_sink(10)
    assert sorted(b.name for b in container.list_blobs()) == [
        "logs/deltashare-api/2026/03/01/10/inst-1.jsonl",
        "logs/deltashare-api/2026/03/01/11/inst-1.jsonl",
    ]


def test_a_restarted_sink_keeps_appending_to_the_existing_blob(
    container: ContainerClient, sink_logger: logging.Logger
) -> None:
    first = _sink(container)
    sink_logger.addHandler(first)
    _emit_at(sink_logger, HOUR_2026_03_01_10, "before restart")
    first.close_sink(10)
    sink_logger.removeHandler(first)

    second = _sink(container)  # If-None-Match: * answers BlobAlreadyExists: carry on
    sink_logger.addHandler(second)
    _emit_at(sink_logger, HOUR_2026_03_01_10 + 5, "after restart")
    second.close_sink(10)
    name = "logs/deltashare-api/2026/03/01/10/inst-1.jsonl"
    assert [line["message"] for line in _lines(container, name)] == [
        "before restart",
        "after restart",
    ]
    assert second.stats().dropped == 0


def test_rolls_over_to_a_new_blob_near_the_block_limit(
    container: ContainerClient, sink_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blob_sink, "ROLL_AT_BLOCKS", 2)
    sink = _sink(container)
    sink_logger.addHandler(sink)
    for i in range(3):
        _emit_at(sink_logger, HOUR_2026_03_01_10 + i, f"m{i}")
        sink.flush_queue(10)
    sink.close_sink(5)
    base = "logs/deltashare-api/2026/03/01/10/inst-1"
    assert [line["message"] for line in _lines(container, f"{base}.jsonl")] == ["m0", "m1"]
    assert [line["message"] for line in _lines(container, f"{base}.1.jsonl")] == ["m2"]


def test_a_deleted_blob_is_created_again(
    container: ContainerClient, sink_logger: logging.Logger
) -> None:
    sink = _sink(container)
    sink_logger.addHandler(sink)
    _emit_at(sink_logger, HOUR_2026_03_01_10, "one")
    sink.flush_queue(10)
    name = "logs/deltashare-api/2026/03/01/10/inst-1.jsonl"
    container.delete_blob(name)
    _emit_at(sink_logger, HOUR_2026_03_01_10 + 1, "two")
    sink.flush_queue(10)
    sink.close_sink(5)
    assert [line["message"] for line in _lines(container, name)] == ["two"]
    assert sink.stats().dropped == 0


def test_configure_logging_with_a_connection_string(
    azurite_blob: AzuriteBlob,
    container_name: str,
    configured_logging: Callable[..., LoggingHandle],
) -> None:
    settings = logging_settings(
        blob=True,
        blob_connection_string=azurite_blob.connection_string,
        blob_container=container_name,
        blob_flush_interval_s=0.2,
    )
    handle = configured_logging(settings, instance_id="web-1")
    hours = {time.strftime("%Y/%m/%d/%H", time.gmtime())}
    logging.getLogger("dbrx_api.test").warning("through settings", extra={"share": "s1"})
    hours.add(time.strftime("%Y/%m/%d/%H", time.gmtime()))
    time.sleep(1.0)  # the flush interval does the writing, not an explicit flush
    client = container_client_from_settings(settings.logging)
    try:
        (blob,) = list(client.list_blobs())
        assert blob.name in {f"logs/deltashare/{hour}/web-1.jsonl" for hour in hours}
        messages = [line["message"] for line in _lines(client, blob.name)]
        assert "through settings" in messages
    finally:
        client.close()
    assert handle.stats()["blob"].dropped == 0

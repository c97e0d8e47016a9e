"""`AzureStorageQueue` against Azurite: the same semantics as `InProcessQueue` (docs/WORKFLOW.md §6.3)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from azure.storage.queue import QueueClient

from dbrx_api.settings import QueueSettings
from dbrx_api.workflow.queue.azure import AzureStorageQueue
from dbrx_api.workflow.queue.base import Queue, QueueUnavailable, Received, StaleReceipt
from dbrx_api.workflow.queue.factory import create_queue
from dbrx_api.workflow.queue.in_process import InProcessQueue
from fixtures.azurite import AzuriteQueue, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def azure_queue(
    azurite_queue: AzuriteQueue, azurite_queue_name: str
) -> Iterator[AzureStorageQueue]:
    queue = AzureStorageQueue(azurite_queue_name, connection_string=azurite_queue.connection_string)
    queue.ensure_queues()
    queue.ensure_queues()  # "already exists" is fine
    yield queue
    queue.close()


def _receive_one(queue: Queue, visibility_s: float, wait_s: float = 5.0) -> Received:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        batch = queue.receive(1, visibility_s)
        if batch:
            return batch[0]
        time.sleep(0.1)
    raise AssertionError("no message became visible")


def test_factory_picks_azure_with_a_connection_string(azurite_queue: AzuriteQueue) -> None:
    configured = create_queue(QueueSettings(connection_string=azurite_queue.connection_string))  # type: ignore[arg-type]
    assert isinstance(configured, AzureStorageQueue)
    assert configured.durable
    assert isinstance(create_queue(QueueSettings()), InProcessQueue)


def test_visibility_redelivery_and_delete(azure_queue: AzureStorageQueue) -> None:
    assert isinstance(azure_queue, Queue)
    message_id = azure_queue.send({"share_pack_id": "x", "version": 1})
    first = _receive_one(azure_queue, 1)
    assert first.id == message_id
    assert first.dequeue_count == 1
    assert json.loads(first.body) == {"share_pack_id": "x", "version": 1}
    assert azure_queue.receive(1, 1) == []  # hidden while leased
    second = _receive_one(azure_queue, 30)
    assert second.id == message_id
    assert second.dequeue_count == 2
    with pytest.raises(StaleReceipt):
        azure_queue.delete(first)
    azure_queue.delete(second)
    assert azure_queue.approximate_counts() == (0, 0)


def test_extend_issues_a_new_receipt_and_keeps_it_hidden(azure_queue: AzureStorageQueue) -> None:
    azure_queue.send("payload")
    received = _receive_one(azure_queue, 1)
    extended = azure_queue.extend(received, 3)
    assert extended.pop_receipt != received.pop_receipt
    assert extended.body == "payload"
    with pytest.raises(StaleReceipt):
        azure_queue.extend(received, 3)
    time.sleep(1.5)
    assert azure_queue.receive(1, 1) == []  # the extension outlived the original timeout
    azure_queue.delete(extended)
    with pytest.raises(StaleReceipt):
        azure_queue.delete(extended)


def test_delayed_send_poison_and_counts(azure_queue: AzureStorageQueue) -> None:
    azure_queue.send("later", delay_s=2)
    assert azure_queue.receive(1, 5) == []
    assert _receive_one(azure_queue, 5, wait_s=6).body == "later"
    azure_queue.send_poison({"v": 1, "reason": "malformed", "original": "x"})
    work, poison = azure_queue.approximate_counts()
    assert (work, poison) == (1, 1)
    assert [json.loads(b)["reason"] for b in azure_queue.peek_poison()] == ["malformed"]


def test_plain_json_messages_from_other_tools_are_decoded(
    azure_queue: AzureStorageQueue, azurite_queue: AzuriteQueue
) -> None:
    raw = QueueClient.from_connection_string(azurite_queue.connection_string, azure_queue.name)
    raw.send_message('{"share_pack_id":"p","version":2}')
    raw.close()
    assert json.loads(_receive_one(azure_queue, 5).body) == {"share_pack_id": "p", "version": 2}


def test_missing_queue_and_unreachable_service_are_queue_unavailable(
    azurite_queue: AzuriteQueue,
) -> None:
    missing = AzureStorageQueue(
        "never-created-queue", connection_string=azurite_queue.connection_string
    )
    with pytest.raises(QueueUnavailable):
        missing.send("x")
    dead = AzureStorageQueue(
        "q",
        connection_string=azurite_queue.connection_string.replace(
            str(azurite_queue.port), str(free_port())
        ),
        retry_total=0,
        timeout_s=2,
    )
    with pytest.raises(QueueUnavailable):
        dead.approximate_counts()

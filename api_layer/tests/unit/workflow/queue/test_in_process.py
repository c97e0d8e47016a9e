"""`InProcessQueue` semantics with a controlled clock (docs/WORKFLOW.md §6.3)."""

from __future__ import annotations

import json
import threading

import pytest

from dbrx_api.workflow.queue.base import Queue, StaleReceipt
from dbrx_api.workflow.queue.in_process import InProcessQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(clock: FakeClock) -> InProcessQueue:
    return InProcessQueue("work", clock=clock)


def test_is_a_queue(queue: InProcessQueue) -> None:
    assert isinstance(queue, Queue)
    assert (queue.kind, queue.durable, queue.name) == ("in_process", False, "work")


def test_visibility_redelivery_and_dequeue_count(queue: InProcessQueue, clock: FakeClock) -> None:
    message_id = queue.send({"a": 1})
    first = queue.receive(1, 30)
    assert [(m.id, m.dequeue_count, json.loads(m.body)) for m in first] == [
        (message_id, 1, {"a": 1})
    ]
    assert queue.receive(1, 30) == []  # invisible while leased
    clock.now += 29.9
    assert queue.receive(1, 30) == []
    clock.now += 0.2
    second = queue.receive(1, 30)
    assert second[0].id == message_id
    assert second[0].dequeue_count == 2
    assert second[0].pop_receipt != first[0].pop_receipt


def test_stale_receipts_are_rejected(queue: InProcessQueue, clock: FakeClock) -> None:
    queue.send("x")
    old = queue.receive(1, 10)[0]
    extended = queue.extend(old, 60)
    assert extended.pop_receipt != old.pop_receipt
    assert extended.dequeue_count == 1
    with pytest.raises(StaleReceipt):
        queue.delete(old)
    with pytest.raises(StaleReceipt):
        queue.extend(old, 5)
    clock.now += 30
    assert queue.receive(1, 10) == []  # the extension holds
    clock.now += 31
    again = queue.receive(1, 10)[0]
    with pytest.raises(StaleReceipt):
        queue.delete(extended)  # re-received: the heartbeat's receipt is stale too
    queue.delete(again)
    assert queue.approximate_counts() == (0, 0)
    with pytest.raises(StaleReceipt):
        queue.delete(again)


def test_delayed_send_order_and_batch(queue: InProcessQueue, clock: FakeClock) -> None:
    queue.send("late", delay_s=20)
    queue.send("first")
    queue.send("second")
    assert [m.body for m in queue.receive(32, 60)] == ["first", "second"]
    clock.now += 20
    assert [m.body for m in queue.receive(32, 60)] == ["late"]
    with pytest.raises(ValueError, match="delay"):
        queue.send("x", delay_s=-1)
    with pytest.raises(ValueError, match="max_messages"):
        queue.receive(33, 5)


def test_extend_to_zero_makes_it_visible_again(queue: InProcessQueue) -> None:
    queue.send("x")
    received = queue.receive(1, 60)[0]
    queue.extend(received, 0)
    assert queue.receive(1, 60)[0].dequeue_count == 2


def test_poison_list_and_counts(queue: InProcessQueue) -> None:
    queue.send("a")
    queue.send_poison({"reason": "malformed"})
    queue.send_poison("raw")
    assert queue.approximate_counts() == (1, 2)
    assert queue.peek_poison() == ['{"reason":"malformed"}', "raw"]
    assert queue.peek_poison(1) == ['{"reason":"malformed"}']


def test_concurrent_receivers_never_share_a_message(queue: InProcessQueue) -> None:
    for i in range(200):
        queue.send(str(i))
    got: list[str] = []
    guard = threading.Lock()

    def drain() -> None:
        while batch := queue.receive(3, 300):
            with guard:
                got.extend(m.body for m in batch)

    threads = [threading.Thread(target=drain) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(got, key=int) == [str(i) for i in range(200)]

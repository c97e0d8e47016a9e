"""`InProcessQueue`: the thread-safe in-memory queue of local mode and unit tests (docs/WORKFLOW.md §6.3).

Same semantics as Azure Storage queues: a received message is invisible for the visibility timeout, its
`dequeue_count` grows on every receive, every receive/extend issues a new pop receipt (older ones are rejected),
sends can be delayed, and poisoned messages go to a separate list. Not durable: the process owns the messages.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbrx_api.workflow.queue.base import (
    QueueKind,
    Received,
    StaleReceipt,
    body_text,
    check_delay,
    check_receive,
)

logger = logging.getLogger(__name__)


@dataclass
class _Message:
    id: str
    body: str
    visible_at: float
    sequence: int
    dequeue_count: int = 0
    pop_receipt: str | None = None


def _hide(message: _Message, until: float) -> Received:
    """Hide `message` until `until` under a new pop receipt (older receipts become stale)."""
    message.visible_at = until
    message.pop_receipt = str(uuid.uuid4())
    return Received(message.id, message.pop_receipt, message.dequeue_count, message.body)


class InProcessQueue:
    """In-memory work queue plus poison list; `clock` (monotonic seconds) is injectable for tests."""

    def __init__(
        self, name: str = "sharepack-processing", *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._messages: dict[str, _Message] = {}
        self._poison: list[tuple[str, str]] = []
        self._sequence = itertools.count()
        self._listeners: list[Callable[[], None]] = []

    def on_send(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every send: idle consumers of this process wake at once (docs/WORKFLOW.md §6.3)."""
        with self._lock:
            self._listeners.append(listener)

    @property
    def name(self) -> str:
        """Name of the work queue."""
        return self._name

    @property
    def kind(self) -> QueueKind:
        """Always `in_process`."""
        return "in_process"

    @property
    def durable(self) -> bool:
        """Always False: messages live in this process only."""
        return False

    def ensure_queues(self) -> None:
        """Nothing to create; logs that the queue is not durable (docs/WORKFLOW.md §12)."""
        logger.warning(
            "using the in-process queue: messages are lost on restart (the sweeper re-sends QUEUED versions)"
        )

    def send(self, body: str | Mapping[str, Any], delay_s: float = 0) -> str:
        """Add a message, invisible for `delay_s` seconds."""
        check_delay(delay_s)
        message_id = str(uuid.uuid4())
        with self._lock:
            self._messages[message_id] = _Message(
                id=message_id,
                body=body_text(body),
                visible_at=self._clock() + delay_s,
                sequence=next(self._sequence),
            )
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return message_id

    def receive(self, max_messages: int, visibility_timeout_s: float) -> list[Received]:
        """Hide and return up to `max_messages` visible messages, oldest first."""
        check_receive(max_messages, visibility_timeout_s)
        with self._lock:
            now = self._clock()
            visible = sorted(
                (m for m in self._messages.values() if m.visible_at <= now),
                key=lambda m: (m.visible_at, m.sequence),
            )[:max_messages]
            for message in visible:
                message.dequeue_count += 1
            return [_hide(message, now + visibility_timeout_s) for message in visible]

    def _owned(self, received: Received) -> _Message:
        message = self._messages.get(received.id)
        if message is None:
            raise StaleReceipt(f"message {received.id} does not exist any more")
        if message.pop_receipt != received.pop_receipt:
            raise StaleReceipt(f"pop receipt of message {received.id} is stale")
        return message

    def extend(self, received: Received, visibility_timeout_s: float) -> Received:
        """Hide the message for `visibility_timeout_s` from now and issue a new pop receipt."""
        check_delay(visibility_timeout_s)
        with self._lock:
            return _hide(self._owned(received), self._clock() + visibility_timeout_s)

    def delete(self, received: Received) -> None:
        """Delete the message if the receipt is current; `StaleReceipt` otherwise."""
        with self._lock:
            self._owned(received)
            del self._messages[received.id]

    def send_poison(self, body: str | Mapping[str, Any]) -> str:
        """Append a message to the poison list."""
        message_id = str(uuid.uuid4())
        with self._lock:
            self._poison.append((message_id, body_text(body)))
        return message_id

    def approximate_counts(self) -> tuple[int, int]:
        """Exact counts here: messages in the work queue (visible or not) and in the poison list."""
        with self._lock:
            return len(self._messages), len(self._poison)

    def peek_poison(self, max_messages: int = 32) -> list[str]:
        """Bodies of the first `max_messages` poison messages."""
        with self._lock:
            return [body for _, body in self._poison[:max_messages]]

    def close(self) -> None:
        """Nothing to release."""

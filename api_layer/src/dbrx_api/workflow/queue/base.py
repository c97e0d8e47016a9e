"""The queue interface (docs/WORKFLOW.md §6.3) shared by `AzureStorageQueue` and `InProcessQueue`, and its errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

QueueKind = Literal["azure", "in_process"]
MAX_DELAY_S = 7 * 24 * 3600


class QueueError(Exception):
    """A queue operation failed; `code` is stable."""

    code = "queue_error"


class QueueUnavailable(QueueError):
    """The queue service cannot be reached or refused our credentials (retry later)."""

    code = "queue_unavailable"


class StaleReceipt(QueueError):
    """The pop receipt is no longer valid: the message was received again, extended elsewhere or deleted."""

    code = "queue_receipt_stale"


@dataclass(frozen=True)
class Received:
    """A received message: `pop_receipt` authorises extend/delete until the next receive or extend."""

    id: str
    pop_receipt: str
    dequeue_count: int
    body: str


@runtime_checkable
class Queue(Protocol):
    """A work queue with its poison queue (`<name>-poison`)."""

    @property
    def name(self) -> str:
        """Name of the work queue."""
        ...

    @property
    def kind(self) -> QueueKind:
        """`azure` or `in_process` (health output)."""
        ...

    @property
    def durable(self) -> bool:
        """False when messages are lost with the process (the sweeper then re-sends at startup)."""
        ...

    def ensure_queues(self) -> None:
        """Create the work and poison queues when missing (an existing queue is fine)."""
        ...

    def send(self, body: str | Mapping[str, Any], delay_s: float = 0) -> str:
        """Send a message (JSON text or a mapping), invisible for `delay_s`; returns its id."""
        ...

    def receive(self, max_messages: int, visibility_timeout_s: float) -> list[Received]:
        """Receive up to `max_messages` visible messages and hide them for `visibility_timeout_s`."""
        ...

    def extend(self, received: Received, visibility_timeout_s: float) -> Received:
        """Hide the message for `visibility_timeout_s` from now; returns it with its new pop receipt."""
        ...

    def delete(self, received: Received) -> None:
        """Delete a received message (`StaleReceipt` when the receipt is no longer valid)."""
        ...

    def send_poison(self, body: str | Mapping[str, Any]) -> str:
        """Send a message to the poison queue; returns its id."""
        ...

    def approximate_counts(self) -> tuple[int, int]:
        """Approximate number of messages in the work and poison queues."""
        ...

    def peek_poison(self, max_messages: int = 32) -> list[str]:
        """Bodies of up to `max_messages` poison messages without receiving them (operations, tests)."""
        ...

    def close(self) -> None:
        """Release network resources."""
        ...


def poison_name(name: str) -> str:
    """Name of the poison queue of a work queue."""
    return f"{name}-poison"


def body_text(body: str | Mapping[str, Any]) -> str:
    """A message body as JSON text (a mapping is dumped compactly)."""
    return body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))


def check_receive(max_messages: int, visibility_timeout_s: float) -> None:
    """Validate the arguments of `receive` (1 to 32 messages, as Azure allows)."""
    if not 1 <= max_messages <= 32:
        raise ValueError("max_messages must be between 1 and 32")
    check_delay(visibility_timeout_s)


def check_delay(delay_s: float) -> None:
    """Validate a delivery delay / visibility timeout (0 to 7 days)."""
    if not 0 <= delay_s <= MAX_DELAY_S:
        raise ValueError(f"delay must be between 0 and {MAX_DELAY_S} seconds, got {delay_s}")

"""Queue message bodies (docs/WORKFLOW.md §6.2): the work message and the poison envelope.

Messages carry identifiers only (never the pack, names, principals or secrets). Unknown members are ignored; a
message without a valid `share_pack_id` and `version` is malformed and gets poisoned at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

MESSAGE_FORMAT_VERSION = 1
MAX_ORIGINAL_CHARS = 16_384  # a poison envelope must stay far below the 64 KiB message limit
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")

PoisonReason = Literal["max_dequeue_exceeded", "malformed", "retries_exhausted"]


class MalformedMessage(ValueError):
    """The body is not a work message (bad JSON, or no valid `share_pack_id` / `version`)."""


@dataclass(frozen=True)
class WorkMessage:
    """`{v, share_pack_id, version, attempt, request_id}`; `attempt` is informational (docs/WORKFLOW.md §6.2)."""

    share_pack_id: UUID
    version: int
    attempt: int = 1
    request_id: str | None = None

    def to_json(self) -> str:
        """Compact JSON text of the message (well under 1 KiB)."""
        body: dict[str, Any] = {
            "v": MESSAGE_FORMAT_VERSION,
            "share_pack_id": str(self.share_pack_id),
            "version": self.version,
            "attempt": self.attempt,
        }
        if self.request_id is not None:
            body["request_id"] = self.request_id
        return json.dumps(body, separators=(",", ":"))

    def next_attempt(self) -> WorkMessage:
        """The same message with `attempt + 1` (a re-send)."""
        return WorkMessage(self.share_pack_id, self.version, self.attempt + 1, self.request_id)

    @classmethod
    def from_json(cls, text: str) -> WorkMessage:
        """Parse a body; raises `MalformedMessage` when the identifiers are missing or invalid."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise MalformedMessage("body is not JSON") from exc
        if not isinstance(data, dict):
            raise MalformedMessage("body is not a JSON object")
        try:
            share_pack_id = UUID(str(data["share_pack_id"]))
        except (KeyError, ValueError) as exc:
            raise MalformedMessage("share_pack_id is missing or not a UUID") from exc
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise MalformedMessage("version is missing or not a positive integer")
        attempt = data.get("attempt")
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            attempt = 1  # informational: a bad value does not make the message useless
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
            request_id = None
        return cls(
            share_pack_id=share_pack_id, version=version, attempt=attempt, request_id=request_id
        )


def poison_body(
    *,
    reason: PoisonReason,
    dequeue_count: int,
    message_id: str,
    original: str,
    poisoned_at: datetime | None = None,
) -> str:
    """The poison envelope `{v, reason, dequeue_count, message_id, poisoned_at, original}` (docs/WORKFLOW.md §6.2).

    `original` is embedded as JSON when it parses, else as (truncated) text.
    """
    try:
        original_value: Any = json.loads(original)
    except ValueError:
        original_value = original[:MAX_ORIGINAL_CHARS]
    at = (poisoned_at or datetime.now(UTC)).astimezone(UTC)
    body = {
        "v": MESSAGE_FORMAT_VERSION,
        "reason": reason,
        "dequeue_count": dequeue_count,
        "message_id": message_id,
        "poisoned_at": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        "original": original_value,
    }
    text = json.dumps(body, separators=(",", ":"))
    if (
        len(text) > 4 * MAX_ORIGINAL_CHARS
    ):  # a huge but valid JSON original: keep its text prefix only
        body["original"] = original[:MAX_ORIGINAL_CHARS]
        text = json.dumps(body, separators=(",", ":"))
    return text

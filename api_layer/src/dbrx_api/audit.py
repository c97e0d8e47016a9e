"""The audit trail of mutating API calls (docs/API.md §1.12): PostgreSQL when the workflow database exists, else logs.

The request middleware describes each finished mutating request as an `AuditEntry`; `AuditRecorder.record` writes
it in one short transaction. A failed write is logged at ERROR and never fails the request (the upstream change has
already happened).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any
from urllib.parse import unquote

from psycopg_pool import ConnectionPool

from dbrx_api.workflow.db.repositories import audit_trail
from dbrx_api.workflow.db.repositories.audit_trail import AuditEntry

logger = logging.getLogger(__name__)
audit_logger = logging.getLogger("dbrx_api.audit")

# First segment of an operationId -> the entity type it acts on (`shares_create` -> `share`).
_ENTITY_BY_PREFIX = {
    "shares": "share",
    "recipients": "recipient",
    "catalogs": "catalog",
    "pipelines": "pipeline",
    "schedules": "schedule",
    "metrics": "pipeline",
    "workflow": "sharepack",
}
_KEY_PARAMS = ("name", "pipeline_id", "job", "id")


def describe_operation(operation_id: str) -> tuple[str, str]:
    """`(entity_type, action)` of an operationId: `recipients_rotate_token` -> (`recipient`, `recipient.rotate_token`)."""
    prefix, _, verb = operation_id.partition("_")
    entity = _ENTITY_BY_PREFIX.get(prefix, prefix)
    return entity, f"{entity}.{verb or 'call'}"


def entity_key(path_params: dict[str, Any], location: str | None) -> str:
    """The key of the entity acted on: path parameters, else the created resource's `Location`."""
    keys = [str(path_params[p]) for p in _KEY_PARAMS if p in path_params]
    if keys:
        return "/".join(keys)
    if location:
        return unquote(location.rstrip("/").rsplit("/", 1)[-1])  # Location is percent-encoded
    return "-"


class AuditRecorder:
    """Writes audit entries to `deltashare.audit_trail`, or to the log sinks when there is no database."""

    def __init__(self, pool: ConnectionPool[Any] | None) -> None:
        self._pool = pool

    def record(self, entry: AuditEntry) -> None:
        """Persist one entry; never raises."""
        if self._pool is None:
            values = audit_trail.redact(dataclasses.asdict(entry))
            audit_logger.info("audit", extra={"audit": values})
            return
        try:
            with self._pool.connection() as conn, conn.transaction():
                audit_trail.record(conn, entry)
        except Exception:
            logger.exception(
                "audit write failed", extra={"action": entry.action, "entity_key": entry.entity_key}
            )

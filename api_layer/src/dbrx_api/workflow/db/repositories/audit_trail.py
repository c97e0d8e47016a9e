"""`deltashare.audit_trail` (append-only): who did what, for workflow actions and REST mutations (docs/API.md §1.12)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from uuid import UUID

import psycopg
from psycopg.rows import DictRow

from dbrx_api.workflow.db.values import insert_sql, jsonb, records_of, scalar

ActorKind = Literal["user", "app", "worker", "system"]
Source = Literal["api", "workflow"]


class Actor(Protocol):
    """Who acts (an authenticated `Principal` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> Literal["user", "app"]: ...


AuditOutcome = Literal["succeeded", "failed"]

REDACTED = "[redacted]"
# Keys whose values are secrets wherever they appear in old/new values.
_SECRET_KEY = re.compile(
    r"(activation_link|activation_url|bearer_token|token_value|secret|password|connection_string|"
    r"authorization|api_key|access_token|refresh_token|^token$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AuditEntry:
    """One audit row; `old_values`/`new_values` are redacted before they are written."""

    actor_id: str
    actor_kind: ActorKind
    source: Source
    action: str  # e.g. sharepack.upload, share.create, recipient.rotate_token
    entity_type: str
    entity_key: str
    outcome: AuditOutcome
    actor_name: str | None = None
    workspace_url: str | None = None
    share_pack_id: UUID | None = None
    version: int | None = None
    run_id: UUID | None = None
    request_id: str | None = None
    old_values: Mapping[str, Any] | None = None
    new_values: Mapping[str, Any] | None = None
    at: datetime | None = None  # default: clock_timestamp()


def redact(values: Any) -> Any:
    """Copy of `values` with the value of every secret-looking key replaced by `[redacted]`."""
    if isinstance(values, Mapping):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) and v is not None else redact(v))
            for k, v in values.items()
        }
    if isinstance(values, list | tuple):
        return [redact(v) for v in values]
    return values


def record(conn: psycopg.Connection[DictRow], entry: AuditEntry) -> int:
    """Append one audit row and return its id."""
    values = {
        **dataclasses.asdict(entry),
        "old_values": jsonb(redact(entry.old_values)),
        "new_values": jsonb(redact(entry.new_values)),
    }
    if entry.at is None:
        del values["at"]  # the column default, clock_timestamp()
    audit_id = scalar(conn, insert_sql("audit_trail", values, "audit_id"), values)
    return int(audit_id)


def record_pack_event(
    conn: psycopg.Connection[DictRow],
    *,
    actor: Actor,
    action: str,
    pack_key: str,
    workspace_url: str,
    share_pack_id: UUID,
    version: int | None = None,
    request_id: str | None = None,
    old_values: Mapping[str, Any] | None = None,
    new_values: Mapping[str, Any] | None = None,
) -> int:
    """Append the row of a caller's action on a share pack (upload, re-run, decision, owners)."""
    return record(
        conn,
        AuditEntry(
            actor_id=actor.id,
            actor_name=actor.name,
            actor_kind=actor.kind,
            source="api",
            action=action,
            entity_type="sharepack",
            entity_key=pack_key,
            outcome="succeeded",
            workspace_url=workspace_url,
            share_pack_id=share_pack_id,
            version=version,
            request_id=request_id,
            old_values=old_values,
            new_values=new_values,
        ),
    )


@dataclass(frozen=True)
class StoredAudit:
    """One row of `audit_trail` as stored (values already redacted)."""

    audit_id: int
    at: datetime
    actor_id: str
    actor_name: str | None
    actor_kind: str
    source: str
    action: str
    entity_type: str
    entity_key: str
    workspace_url: str | None
    share_pack_id: UUID | None
    version: int | None
    run_id: UUID | None
    request_id: str | None
    outcome: str
    old_values: Any
    new_values: Any


def list_for_entity(
    conn: psycopg.Connection[DictRow], entity_type: str, entity_key: str, *, limit: int = 500
) -> list[StoredAudit]:
    """Audit rows of one entity, oldest first."""
    rows = conn.execute(
        "SELECT * FROM deltashare.audit_trail WHERE entity_type = %s AND entity_key = %s "
        "ORDER BY at, audit_id LIMIT %s",
        (entity_type, entity_key, limit),
    ).fetchall()
    return records_of(StoredAudit, rows)


def list_for_pack(
    conn: psycopg.Connection[DictRow], share_pack_id: UUID, *, limit: int = 1000
) -> list[StoredAudit]:
    """Audit rows of one pack (uploads and provisioning actions), oldest first."""
    rows = conn.execute(
        "SELECT * FROM deltashare.audit_trail WHERE share_pack_id = %s ORDER BY at, audit_id LIMIT %s",
        (share_pack_id, limit),
    ).fetchall()
    return records_of(StoredAudit, rows)

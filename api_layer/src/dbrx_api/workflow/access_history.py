"""Who could read what at a past instant, answered from the share packs' SCD2 records (docs/API.md §16.2).

The live access view (`dltshr.access`) asks the workspace; this one reads only PostgreSQL (no Databricks call), in
one read-only transaction and one query (`views.access_as_of`). It can only see what share packs recorded: shares,
objects and grants made by hand are not in the history, which the answer's `coverage` says.
"""

from __future__ import annotations

from datetime import datetime

from dbrx_api.dltshr.access import exposure
from dbrx_api.errors import ConflictError, ValidationFailed
from dbrx_api.schemas.access import AccessCoverage, AccessEntry, AccessView
from dbrx_api.schemas.common import format_timestamp
from dbrx_api.workflow.context import WorkflowContext, utc_now
from dbrx_api.workflow.db import views
from dbrx_api.workflow.db.connection import read_transaction


def _in_future(at: datetime, now: datetime) -> ValidationFailed:
    message = (
        f"{format_timestamp(at)} is after the service's clock ({format_timestamp(now)}); "
        "history has no future"
    )
    return ValidationFailed(
        f"The request is invalid: query.as_of {message}.",
        errors=[{"loc": ["query", "as_of"], "msg": message, "type": "timestamp_in_future"}],
    )


def _unavailable() -> ConflictError:
    return ConflictError(
        "as_of is answered from the share-pack history, which this service does not keep "
        "(workflow.enabled = false); ask without as_of for the live view.",
        code="history_unavailable",
    )


def recorded_access_view(
    ctx: WorkflowContext | None,
    workspace_url: str,
    *,
    at: datetime,
    recipient: str | None = None,
    object_name: str | None = None,
) -> AccessView:
    """Who could read what in `workspace_url` at instant `at`, from the SCD2 rows valid then.

    `recipient` keeps that recipient's entries (an unknown name is an empty answer, not a 404: the history cannot
    tell a recipient that never existed from one no pack recorded); `object_name` (`catalog.schema.table`) keeps
    the objects exposing that table, itself or through its schema, as the live view matches them.

    Raises:
        ValidationFailed: 422, `at` after the service's clock (`timestamp_in_future` at `["query", "as_of"]`).
        ConflictError: 409 `history_unavailable` when the workflow (and so its database) is not configured.
        ServiceUnavailable: 503 `database_unavailable`.
    """
    now = ctx.clock() if ctx is not None else utc_now()
    if at > now:
        raise _in_future(at, now)
    if ctx is None:
        raise _unavailable()
    with read_transaction(ctx.pool) as conn:
        recorded = views.access_as_of(conn, workspace_url, at)
    reader = recipient.lower() if recipient is not None else None
    entries: list[AccessEntry] = []
    for share in recorded.shares:
        readers = [r for r in share.readers if reader is None or r == reader]
        if not readers:
            continue
        for asset in share.assets:
            name = str(asset.get("name") or "")
            kind = str(asset.get("type") or "TABLE")
            via = exposure(name, kind, object_name) if object_name is not None else None
            if object_name is not None and via is None:
                continue
            entries.extend(
                AccessEntry(
                    recipient=name_of_reader,
                    share=share.share_name,
                    object=name,
                    type=kind,
                    shared_as=asset.get("shared_as"),
                    via=via,
                    source="recorded",
                    share_pack_id=share.share_pack_id,
                )
                for name_of_reader in readers
            )
    entries.sort(key=lambda e: (e.recipient, e.share, e.object))
    return AccessView(
        source="recorded",
        as_of=at,
        recipient=reader,
        object=object_name.lower() if object_name is not None else None,
        coverage=AccessCoverage(
            shares=[s.share_name for s in recorded.shares], recorded_since=recorded.recorded_since
        ),
        entries=entries,
    )

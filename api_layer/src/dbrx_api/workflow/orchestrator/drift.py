"""`detect_drift`: recorded resources vs the live workspace (docs/WORKFLOW.md §11, docs/API.md §12.6).

Only current, non-deleted recorded rows are examined, and only the fields the recording pack version managed
(docs/WORKFLOW.md §9.3): the pack's stored config says which keys it set. Set differences name the side explicitly:
`unexpected_in_workspace` = present live but not recorded, `missing_in_workspace` = recorded but absent live;
scalars as `{recorded, live}`. Reads only,
bounded by the per-workspace limit; secrets (tokens, activation links) are never compared nor returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from dbrx_api.errors import AppError
from dbrx_api.workflow.context import WorkflowContext
from dbrx_api.workflow.db.connection import database_unavailable
from dbrx_api.workflow.db.repositories import share_packs
from dbrx_api.workflow.db.repositories.records import AnyRecord
from dbrx_api.workflow.models.pack import SharePack, parse_canonical
from dbrx_api.workflow.orchestrator.calls import forbid_mutations
from dbrx_api.workflow.orchestrator.live import LiveReader
from dbrx_api.workflow.orchestrator.prepare import counted_workspace
from dbrx_api.workflow.resources import KINDS

STATES = ("in_sync", "drifted", "missing", "error")


@dataclass
class DriftItem:
    """One examined resource."""

    resource_type: str
    name: str
    share_pack_id: UUID | None
    version: int | None
    state: str = "in_sync"
    differences: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def body(self) -> dict[str, Any]:
        """JSON-ready item."""
        item: dict[str, Any] = {
            "resource_type": self.resource_type,
            "name": self.name,
            "share_pack_id": str(self.share_pack_id) if self.share_pack_id else None,
            "version": self.version,
            "state": self.state,
        }
        if self.state == "drifted":
            item["differences"] = self.differences
        if self.state == "error":
            item["error"] = self.error
        return item


@dataclass
class DriftReport:
    """The 200 body of `GET /workflow/drift`."""

    workspace_url: str
    checked_at: datetime
    items: list[DriftItem]
    read_calls: int = 0
    mutating_calls: int = 0

    @property
    def summary(self) -> dict[str, int]:
        """`{resources, in_sync, drifted, missing, error}`."""
        counts = dict.fromkeys(STATES, 0)
        for item in self.items:
            counts[item.state] += 1
        return {"resources": len(self.items), **counts}

    def body(self) -> dict[str, Any]:
        """JSON-ready body."""
        return {
            "workspace_url": self.workspace_url,
            "checked_at": self.checked_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "summary": self.summary,
            "items": [item.body() for item in self.items],
        }


def _source(row: AnyRecord) -> tuple[UUID, int] | None:
    """`(share_pack_id, source_version)` of a record, None when unknown."""
    if row.share_pack_id is None or row.source_version is None:
        return None
    return row.share_pack_id, row.source_version


class _Managed:
    """What the pack version that recorded a row said about it (None: unknown, compare everything)."""

    def __init__(self, configs: Mapping[tuple[UUID, int], SharePack | None]) -> None:
        self._configs = configs

    def pack(self, row: AnyRecord) -> SharePack | None:
        source = _source(row)
        return self._configs.get(source) if source is not None else None


def _examine(
    item: DriftItem, read: Callable[[], Any], compare: Callable[[Any], list[dict[str, Any]]]
) -> None:
    try:
        live = read()
        if live is None:
            item.state = "missing"
            return
        item.differences = compare(live)
    except AppError as exc:
        item.state, item.error = "error", exc.code
        return
    item.state = "drifted" if item.differences else "in_sync"


def detect_drift(
    ctx: WorkflowContext, workspace_url: str, share_pack_id: UUID | None = None
) -> DriftReport:
    """Compare the recorded recipients, shares, pipelines and schedule jobs of a workspace with the live ones.

    Raises:
        ForbiddenError: 403 `workspace_not_allowed` (no request is sent); `InvalidRequest` for a malformed URL.
        ServiceUnavailable: 503 `database_unavailable`.
    """
    workspace = ctx.clients.resolve(workspace_url)
    url = workspace.url
    with database_unavailable(), ctx.pool.connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        rows = {kind: kind.recorded(conn, url, share_pack_id) for kind in KINDS}
        configs: dict[tuple[UUID, int], SharePack | None] = {}
        for row in (row for kind_rows in rows.values() for row in kind_rows):
            source = _source(row)
            if source is None or source in configs:
                continue
            stored = share_packs.get_version(conn, *source)
            model = parse_canonical(stored.config) if stored is not None else None
            configs[source] = model if isinstance(model, SharePack) else None
    managed = _Managed(configs)
    counted = counted_workspace(
        ctx.clients.client_for(workspace),
        workspace_url=url,
        settings=ctx.settings,
        before_mutation=forbid_mutations,
    )
    reader = LiveReader(counted)
    checks: list[Callable[[], None]] = []
    items: list[DriftItem] = []

    for kind, kind_rows in rows.items():
        for row in kind_rows:
            target = kind.drift_target(row, ctx.settings)
            if target is None:
                continue
            name, identity = target
            item = DriftItem(str(kind.resource_type), name, row.share_pack_id, row.source_version)
            items.append(item)
            checks.append(
                partial(
                    _examine,
                    item,
                    partial(kind.read, reader, identity),
                    partial(kind.drift, row, managed.pack(row), settings=ctx.settings),
                )
            )
    parallel = ctx.settings.workflow.worker.workspace_max_inflight
    if checks:
        with ThreadPoolExecutor(
            max_workers=min(parallel, len(checks)), thread_name_prefix="drift"
        ) as pool:
            for future in [pool.submit(check) for check in checks]:
                future.result()
    order = {str(kind.resource_type): index for index, kind in enumerate(KINDS)}
    items.sort(key=lambda i: (order[i.resource_type], i.name.lower()))
    return DriftReport(
        workspace_url=url,
        checked_at=ctx.clock(),
        items=items,
        read_calls=counted.counter.reads,
        mutating_calls=counted.counter.mutations,
    )

"""`WorkflowContext`: everything the workflow flows need, built once by the API lifespan and by the worker `main()`.

Flows (`run_provisioning`, upload, plan, drift) take the context and ids, open their own short transactions and never
import web packages (Dispatch's "flows"), so the in-process worker thread and the standalone worker run the same code.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import ConnectionPool

from dbrx_api.dbrx_auth.workspaces import WorkspaceClientFactory
from dbrx_api.monitoring import Metrics
from dbrx_api.settings import Settings
from dbrx_api.workflow.queue.base import Queue


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


def process_worker_id(thread: str | None = None) -> str:
    """`<host>:<pid>:<thread>` (docs/WORKFLOW.md §8.1)."""
    return f"{socket.gethostname()}:{os.getpid()}:{thread or threading.current_thread().name}"


@dataclass
class WorkflowContext:
    """Settings, database pool, Databricks client factory, queue, clock and metrics of one process."""

    settings: Settings
    pool: ConnectionPool[Any]
    clients: WorkspaceClientFactory
    queue: Queue
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], datetime] = utc_now

    @property
    def worker_mode(self) -> str:
        """`inline` when the API process consumes the queue itself, else `external`."""
        return "inline" if self.settings.worker_inline else "external"


def worker_client_factory(settings: Settings, product_version: str = "0") -> WorkspaceClientFactory:
    """The workspace-client factory of provisioning, with the worker's own (short) SDK retry budget."""
    return WorkspaceClientFactory(
        settings.databricks,
        local=settings.is_local,
        retry_timeout_s=settings.workflow.worker.sdk_retry_timeout_s,
        product="deltashare-worker",
        product_version=product_version,
    )

"""Assembly of the workflow subsystem for one process: database, migrations, pool, queue, consumers, sweeper.

The API lifespan (in-process mode) and `python -m dbrx_api.workflow.worker` both call `open_workflow` and
`WorkflowRuntime.start_workers`, so they run the same consumer loop and the same `run_provisioning`.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from threading import Event
from uuid import UUID

from dbrx_api.monitoring import Metrics
from dbrx_api.monitoring.readiness import CheckOutcome, ReadinessProbe
from dbrx_api.settings import Settings
from dbrx_api.workflow.context import WorkflowContext, worker_client_factory
from dbrx_api.workflow.db import migrate
from dbrx_api.workflow.db.connection import open_pool, resolve_database_url, stop_embedded_servers
from dbrx_api.workflow.queue.consumer import Consumer
from dbrx_api.workflow.queue.factory import create_queue
from dbrx_api.workflow.queue.run import Outcome
from dbrx_api.workflow.queue.sweeper import Sweeper

logger = logging.getLogger(__name__)


@dataclass
class WorkflowRuntime:
    """The opened workflow subsystem of this process and its (optional) consumers and sweeper."""

    context: WorkflowContext
    conninfo: str
    consumer: Consumer | None = None
    sweeper: Sweeper | None = None
    _closed: bool = field(default=False, repr=False)

    def handle(self, share_pack_id: UUID, version: int, cancel: Event) -> Outcome:
        """The consumer's handler: provision one stored version."""
        # Imported here so that API processes that leave consuming to external workers never load it; a process
        # that consumes has loaded it in `start_workers`.
        from dbrx_api.workflow.orchestrator.provision import run_provisioning

        return run_provisioning(self.context, share_pack_id, version, cancel)

    def sweep_token_rotations(self, performed_by: str) -> object:
        """The sweeper's token rotation sweep (docs/WORKFLOW.md §9.6) on this process's context."""
        from dbrx_api.workflow.token_rotation import sweep_token_rotations

        return sweep_token_rotations(self.context, performed_by=performed_by)

    def start_workers(self, concurrency: int) -> None:
        """Load the provisioning flow, then start `concurrency` consumer threads and the sweeper."""
        # Loaded before the first message rather than by it: the imports cost about half a second of CPU, which
        # the first pack (and, on a shared machine, every other worker's packs) would otherwise wait for.
        importlib.import_module("dbrx_api.workflow.orchestrator.provision")
        importlib.import_module("dbrx_api.workflow.token_rotation")
        settings = self.context.settings.workflow
        self.consumer = Consumer(
            pool=self.context.pool,
            queue=self.context.queue,
            handler=self.handle,
            settings=settings,
            conninfo=self.conninfo,
        )
        self.consumer.start(concurrency)
        self.sweeper = Sweeper(
            pool=self.context.pool,
            queue=self.context.queue,
            settings=settings,
            rotation_sweep=self.sweep_token_rotations,
        )
        self.sweeper.start()
        logger.info("workflow consumers started", extra={"concurrency": concurrency})

    def register_readiness(self, probe: ReadinessProbe) -> None:
        """Add the database, migrations and queue checks to the readiness probe (docs/API.md §3.2)."""
        pool, queue = self.context.pool, self.context.queue

        def database() -> CheckOutcome:
            with pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
            return CheckOutcome(ok=True)

        def migrations() -> CheckOutcome:
            with pool.connection(timeout=2) as conn:
                applied = migrate.schema_version(conn)
            ok = applied == migrate.EXPECTED_SCHEMA_VERSION
            return CheckOutcome(ok=ok, detail=None if ok else f"schema version {applied}")

        def queue_check() -> CheckOutcome:
            queue.approximate_counts()
            return CheckOutcome(
                ok=True, detail=None if queue.durable else "in-process queue, not durable"
            )

        probe.register("database", database)
        probe.register("migrations", migrations)
        probe.register("queue", queue_check)

    def close(self) -> None:
        """Graceful shutdown (docs/WORKFLOW.md §8.8): stop consuming, stop the sweeper, close queue and pool."""
        if self._closed:
            return
        self._closed = True
        if self.consumer is not None:
            self.consumer.stop()
        if self.sweeper is not None:
            self.sweeper.stop()
        self.context.queue.close()
        self.context.pool.close()
        stop_embedded_servers()


def open_workflow(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    product_version: str = "0",
    pool_max: int | None = None,
) -> WorkflowRuntime:
    """Resolve the database (embedded in local mode), migrate, open the pool and the queue."""
    conninfo = resolve_database_url(settings.workflow)
    if settings.workflow.database_url is None:
        logger.warning("workflow database: embedded PostgreSQL (local mode)")
    if settings.workflow.migrate_on_startup:
        report = migrate.apply_migrations(conninfo, applied_by="deltashare")
        logger.info("workflow migrations checked", extra={"applied_now": report.applied_now})
    pool = open_pool(settings.workflow, conninfo=conninfo, max_size=pool_max)
    queue = create_queue(settings.workflow.queue)
    queue.ensure_queues()
    if not queue.durable:
        logger.warning(
            "workflow queue: in-process and NOT durable (local mode); the sweeper re-sends at start"
        )
    context = WorkflowContext(
        settings=settings,
        pool=pool,
        clients=worker_client_factory(settings, product_version),
        queue=queue,
        metrics=metrics or Metrics(),
    )
    return WorkflowRuntime(context=context, conninfo=conninfo)

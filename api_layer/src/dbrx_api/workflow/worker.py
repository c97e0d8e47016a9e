"""Standalone queue worker: `python -m dbrx_api.workflow.worker` (docs/WORKFLOW.md §8.1).

Loads the settings, opens the workflow subsystem (migrations, pool, queue, workspace clients), starts
`workflow.worker.concurrency` consumer threads and the sweeper, and runs until SIGTERM or SIGINT, then shuts down
gracefully (docs/WORKFLOW.md §8.8). Scale out by running more of these processes.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from pydantic import ValidationError

from dbrx_api.heap import settle_startup_heap
from dbrx_api.monitoring import configure_logging
from dbrx_api.settings import Settings, SettingsError, get_settings
from dbrx_api.version import __version__
from dbrx_api.workflow.runtime import open_workflow

logger = logging.getLogger(__name__)


def main(settings: Settings | None = None, stop: threading.Event | None = None) -> int:
    """Run the worker until `stop` is set (by SIGTERM/SIGINT); returns the process exit code."""
    try:
        settings = settings or get_settings()
    except (ValidationError, SettingsError) as exc:
        sys.stderr.write(f"deltashare worker: invalid configuration: {exc}\n")
        return 2
    if not settings.workflow.enabled:
        sys.stderr.write("deltashare worker: the workflow is disabled (workflow.enabled = false)\n")
        return 2
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("worker stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    concurrency = settings.workflow.worker.concurrency or 4
    runtime = open_workflow(settings, product_version=__version__, pool_max=2 * concurrency + 2)
    logging_handle = configure_logging(settings, db_pool=runtime.context.pool)
    runtime.context.metrics = logging_handle.metrics
    try:
        settle_startup_heap()
        runtime.start_workers(concurrency)
        logger.info("worker running", extra={"concurrency": concurrency})
        stop.wait()
    finally:
        runtime.close()
        logging_handle.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Choose the queue implementation from the settings (docs/WORKFLOW.md §12)."""

from __future__ import annotations

from dbrx_api.settings import QueueSettings
from dbrx_api.workflow.queue.azure import AzureStorageQueue
from dbrx_api.workflow.queue.base import Queue
from dbrx_api.workflow.queue.in_process import InProcessQueue


def create_queue(settings: QueueSettings) -> Queue:
    """`AzureStorageQueue` when a connection string or account URL is configured, else `InProcessQueue`.

    Settings validation already requires an Azure queue outside the local environment when the workflow is on.
    The caller runs `ensure_queues()` at startup.
    """
    if settings.connection_string is not None or settings.account_url:
        return AzureStorageQueue.from_settings(settings)
    return InProcessQueue(settings.name)

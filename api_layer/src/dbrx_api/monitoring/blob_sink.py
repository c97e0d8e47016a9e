"""Azure Blob log sink: JSON lines appended to one append blob per hour and instance (settings: docs/API.md §15.3).

Blob names: `logs/{app}/{yyyy}/{mm}/{dd}/{HH}/{instance}.jsonl` (UTC hour of each record). Each flush writes **one**
`append_block` per blob (split only above the 4 MiB block limit): an append blob holds at most 50 000 blocks, so
the sink rolls over to `{instance}.1.jsonl`, `{instance}.2.jsonl`, … near 45 000. Blobs are created with
`If-None-Match: *`; "already exists" means a previous process or handle created it, and appending continues.
Per-instance (per-process) blobs avoid concurrent appends, whose order Azure does not guarantee.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient, LinearRetry

from dbrx_api.monitoring.events import LogEvent
from dbrx_api.monitoring.sinks import QueuedSink
from dbrx_api.settings import LoggingSettings, SettingsError

MAX_BLOCK_BYTES = 4 * 1024 * 1024
ROLL_AT_BLOCKS = 45_000
_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def path_segment(value: str) -> str:
    """`value` made safe for one blob-name segment (`DeltaShare API` -> `deltashare-api`)."""
    return _UNSAFE_PATH_CHARS.sub("-", value.strip()).strip("-.").lower() or "unnamed"


def container_client_from_settings(settings: LoggingSettings) -> ContainerClient:
    """The log container: connection-string secret, else account URL + managed identity.

    Timeouts and retries are short: a dead storage endpoint must cost the writer thread seconds, not minutes.
    """
    options: dict[str, Any] = {
        "connection_timeout": 3,
        "read_timeout": 10,
        "retry_policy": LinearRetry(backoff=1, retry_total=1, random_jitter_range=0),
    }
    if settings.blob_connection_string is not None:
        service = BlobServiceClient.from_connection_string(
            settings.blob_connection_string.get_secret_value(), **options
        )
    elif settings.blob_account_url:
        from azure.identity import DefaultAzureCredential  # imported only where it is used

        service = BlobServiceClient(
            settings.blob_account_url,
            credential=DefaultAzureCredential(exclude_interactive_browser_credential=True),
            **options,
        )
    else:
        raise SettingsError(
            "logging.blob needs logging.blob_account_url (managed identity) or "
            "DBRX_API_LOGGING__BLOB_CONNECTION_STRING"
        )
    return service.get_container_client(settings.blob_container)


class BlobLogSink(QueuedSink):
    """Batches records and appends them to the hour's blob from a background thread."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        app: str,
        instance_id: str,
        flush_interval_s: float = 5.0,
        level: int | str = logging.NOTSET,
        queue_size: int = 10_000,
    ) -> None:
        self._container = container
        self._prefix = f"logs/{path_segment(app)}"
        self._instance = path_segment(instance_id)
        self._container_ready = False
        self._created: set[str] = set()
        self._segments: dict[str, int] = {}  # hour directory -> rollover index
        super().__init__(
            "blob",
            level=level,
            queue_size=queue_size,
            linger_s=flush_interval_s,
            max_batch=5_000,
        )

    def _current_name(self, hour: str) -> str:
        segment = self._segments.get(hour, 0)
        suffix = f".{segment}" if segment else ""
        return f"{hour}/{self._instance}{suffix}.jsonl"

    def hour_directory(self, created: float) -> str:
        """`logs/{app}/{yyyy}/{mm}/{dd}/{HH}` for a timestamp."""
        return time.strftime(f"{self._prefix}/%Y/%m/%d/%H", time.gmtime(created))

    def write_batch(self, events: list[LogEvent]) -> None:
        """Group by hour, then one append per hour (per 4 MiB)."""
        self._ensure_container()
        by_hour: dict[str, list[bytes]] = {}
        for event in events:
            line = (event.json_line() + "\n").encode("utf-8")
            by_hour.setdefault(self.hour_directory(event.created), []).append(line)
        for hour, lines in by_hour.items():
            for block in _blocks(lines):
                self._append(hour, block)

    def _ensure_container(self) -> None:
        if self._container_ready:
            return
        try:
            self._container.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            # A managed identity may append without the right to create containers: carry on.
            if exc.status_code != 403:
                raise
        self._container_ready = True

    def _append(self, hour: str, block: bytes) -> None:
        name = self._blob_for(hour)
        blob = self._container.get_blob_client(name)
        try:
            result = blob.append_block(block)
        except ResourceNotFoundError:
            # Deleted behind our back (or the container was): create again and retry once.
            self._created.discard(name)
            self._container_ready = False
            self._ensure_container()
            name = self._blob_for(hour)
            blob = self._container.get_blob_client(name)
            result = blob.append_block(block)
        committed = result.get("blob_committed_block_count")
        if isinstance(committed, int) and committed >= ROLL_AT_BLOCKS:
            self._segments[hour] = self._segments.get(hour, 0) + 1

    def _blob_for(self, hour: str) -> str:
        name = self._current_name(hour)
        if name not in self._created:
            # "Already exists": created earlier by this process (or before a restart); keep appending.
            with contextlib.suppress(ResourceExistsError):
                self._container.get_blob_client(name).create_append_blob(
                    match_condition=MatchConditions.IfMissing
                )
            self._created.add(name)
            # Forget blobs of past hours so the set stays small.
            self._created = {n for n in self._created if n.startswith(hour)}
        return name

    def close_resources(self) -> None:
        """Close the storage client's HTTP session."""
        self._container.close()


def _blocks(lines: list[bytes]) -> list[bytes]:
    """Concatenate lines into blocks of at most 4 MiB; a single larger line is dropped (cannot be appended)."""
    blocks: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if len(line) > MAX_BLOCK_BYTES:
            continue
        if size + len(line) > MAX_BLOCK_BYTES:
            blocks.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        blocks.append(b"".join(current))
    return blocks

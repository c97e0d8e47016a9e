"""POSTs the Databricks SDK must not replay.

The SDK retries every request after a dropped connection or a timeout, POST included
(docs/databricks-wire-contract.md §2.3). For `jobs.create` a replay makes a second job, for `rotate_token` a second
rotation. `post_once` sends such a request exactly once: the SDK does not retry a request whose body is a
non-seekable stream, so a lost response surfaces as a transport error (`upstream_unreachable` once translated) and
the caller reads the workspace to learn whether the request was applied.

The direct API calls `post_once` on the workspace's client; the share-pack orchestrator sends through its counted
workspace (`CountedWorkspace.post_once`), which counts and limits the same request. Both satisfy `OnceSender`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Protocol

from databricks.sdk import WorkspaceClient


class OnceSender(Protocol):
    """What sends a POST exactly once, never replayed by the SDK."""

    def post_once(self, operation: str, path: str, body: dict[str, Any]) -> dict[str, Any]: ...


class DirectSender:
    """`OnceSender` over a plain `WorkspaceClient` (the direct API's calls)."""

    def __init__(self, ws: WorkspaceClient) -> None:
        self._ws = ws

    def post_once(self, operation: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to `path` once (`operation` names the call for counting senders only)."""
        del operation
        return post_once(self._ws, path, body)


def post_once(ws: WorkspaceClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` as JSON to `path` of the workspace exactly once; the SDK's usual exceptions on failure."""
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    workspace_id = ws.config.workspace_id
    if workspace_id:
        headers["X-Databricks-Workspace-Id"] = workspace_id
    response = ws.api_client.do(
        "POST", path, headers=headers, data=_OneShotBody(json.dumps(body).encode("utf-8"))
    )
    return response if isinstance(response, dict) else {}


class _OneShotBody:
    """A request body the SDK treats as a non-seekable stream (sent once, never retried)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[bytes]:
        yield self.read()

    def tell(self) -> int:
        return self._offset

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._offset + size
        chunk = self._data[self._offset : end]
        self._offset += len(chunk)
        return chunk

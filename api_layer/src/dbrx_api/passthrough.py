"""Pass-through reads: every page of a Databricks list as plain dicts, through the SDK's `ApiClient`.

The SDK's list methods build one dataclass per item, which the list endpoints then re-shaped into pydantic models
and serialised. A listing of 1,000 shares spent most of its CPU there (issue 16). The list endpoints read the pages
here instead, through `WorkspaceClient.api_client.do`: the same request the SDK's own list method sends (path,
query, `Accept` and workspace-id headers), with the SDK's authentication, retries and error parsing, so an upstream
failure raises the same `DatabricksError` subclasses and `errors.upstream` maps it as before (docs/API.md §1.5.3).
Each service shapes the returned dicts into the documented fields and serialises the page once
(`schemas.common.list_body`); docs/ARCHITECTURE.md describes the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from databricks.sdk import WorkspaceClient

Item = dict[str, Any]


def list_all(
    ws: WorkspaceClient,
    path: str,
    items_key: str,
    query: Mapping[str, Any] | None = None,
) -> list[Item]:
    """Every item of a paged Databricks listing (docs/API.md §1.7: read to the end, no cap).

    `path` is the REST path the SDK's list method calls, `items_key` the member holding a page's items and
    `query` its query parameters (the first page's; `page_token` carries `next_page_token` to the next).
    Items are returned as Databricks sent them (decoded JSON objects); a page without `items_key` adds none.
    """
    headers = {"Accept": "application/json"}
    workspace_id = ws.config.workspace_id
    if workspace_id:
        headers["X-Databricks-Workspace-Id"] = workspace_id
    params: dict[str, Any] = dict(query or {})
    items: list[Item] = []
    api = ws.api_client
    while True:
        page = api.do("GET", path, query=params, headers=headers)
        if not isinstance(page, dict):
            return items
        items.extend(page.get(items_key) or ())
        token = page.get("next_page_token")
        if not token:
            return items
        params["page_token"] = token


def enum_values(cls: type[Enum]) -> frozenset[str]:
    """The wire values of an SDK enum, for `known_enum`."""
    return frozenset(str(member.value) for member in cls)


def known_enum(value: object, values: frozenset[str]) -> str | None:
    """The text the SDK path gave for an enum member: the value when it names a member of the SDK's enum, None
    otherwise (the SDK's `from_dict` reads an empty or unknown value as None)."""
    return value if isinstance(value, str) and value in values else None

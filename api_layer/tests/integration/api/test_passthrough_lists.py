"""The pass-through list reads answer byte for byte what the documented models gave (docs/API.md §1.7, §2).

`GET /shares`, `/recipients`, `/catalogs`, `/pipelines` and `/schedules` read their pages as plain JSON (the SDK's
dataclasses only for the jobs that run a pipeline) and serialise once (docs/ARCHITECTURE.md). The reference here is the path they replaced: the SDK's
list method (dataclasses), the services' own conversions of those dataclasses (the ones the detail endpoints still
use), the documented list model, serialised by FastAPI as a route's `response_model`. Both run against the same
emulator state: the packaged `default` seed, and a 1,000-share set (20 upstream pages) with comments holding
characters JSON escapes or must not escape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.catalog import CatalogInfo
from databricks.sdk.service.pipelines import PipelineStateInfo
from databricks.sdk.service.sharing import RecipientInfo
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from dbrx_api.dltshr import catalogs, recipients, shares
from dbrx_api.jobs import pipelines, resolution, schedules
from dbrx_api.jobs.resolution import JOBS_PAGE
from dbrx_api.schemas.catalogs import CatalogList, CatalogSummary
from dbrx_api.schemas.common import ListQuery, slice_page
from dbrx_api.schemas.pipelines import PipelineList, PipelineSummary
from dbrx_api.schemas.recipients import RecipientList, RecipientSummary
from dbrx_api.schemas.schedules import ScheduleList
from dbrx_api.schemas.shares import ShareList, ShareSummary

pytestmark = pytest.mark.integration

# Quotes, backslash, control characters, non-ASCII, an astral character and the JS line separators: what a JSON
# encoder must escape (the first ones) or may write either way (the others), so two encoders can differ here.
AWKWARD = 'q"b\\s/t\tn\nc\x01\x1f é ü 日本 🚀 \u2028 \u2029 \x7f <tag> &amp;'
SHARE_COUNT = 1_000

QUERIES: list[dict[str, Any]] = [
    {},
    {"prefix": "DEMO"},
    {"contains": "share_09", "limit": 7, "offset": 3},
    {"limit": 1},
    {"offset": 5000},
]


def large_seed() -> dict[str, Any]:
    """`default` plus 1,000 shares (the emulator pages shares by 50: 20 pages) and awkward recipients."""
    return {
        "extends": "default",
        "shares": [
            {
                "name": f"share_{index:04d}",
                "comment": None if index % 7 == 0 else f"{AWKWARD} {index}",
                "owner": None if index % 11 == 0 else f"owner_{index % 3}",
                "created": f"-{index}h",
            }
            for index in range(SHARE_COUNT)
        ],
        "recipients": [
            {
                "name": "awkward_d2o",
                "authentication_type": "TOKEN",
                "comment": AWKWARD,
                "ip_access_list": ["10.0.0.0/8", "192.0.2.1"],
                "properties": {"country": "FR", "zz": "ü", "databricks.hidden": "x"},
                "tokens": [
                    {"created": "-30d", "expires": "-1d", "activated": True},
                    {"created": "-1d", "expires": "+90d"},
                ],
            },
            {"name": "awkward_no_tokens", "authentication_type": "TOKEN", "tokens": []},
        ],
        # Schedules of the seeded pipeline, and a job that runs no pipeline (never listed as a schedule).
        "jobs": [
            *(
                {
                    "name": f"{AWKWARD} schedule {index}",
                    "settings": {
                        "tasks": [
                            {"task_key": "run", "pipeline_task": {"pipeline": "sales_orders_share"}}
                        ],
                        "schedule": {
                            "quartz_cron_expression": f"0 {index} 2 * * ?",
                            "timezone_id": "Europe/Paris",
                            "pause_status": "PAUSED" if index % 2 else "UNPAUSED",
                        },
                    },
                }
                for index in range(3)
            ),
            {
                "name": "notebook_only",
                "settings": {
                    "tasks": [{"task_key": "nb", "notebook_task": {"notebook_path": "/Shared/x"}}]
                },
            },
        ],
    }


def fastapi_body(model: BaseModel) -> bytes:
    """The bytes FastAPI writes for `model` as a route's `response_model` (what the list routes returned)."""
    app = FastAPI()
    app.add_api_route("/reference", lambda: model, response_model=type(model), methods=["GET"])
    with TestClient(app) as client:
        return bytes(client.get("/reference").content)


def old_share_list(ws: WorkspaceClient, query: ListQuery) -> ShareList:
    items = [
        ShareSummary.model_validate(shares._summary_fields(info))
        for info in ws.shares.list_shares()
    ]
    page, envelope = slice_page(items, query, name_of=lambda s: s.name)
    return ShareList(items=page, **envelope)


def old_recipient_list(ws: WorkspaceClient, query: ListQuery, kind: str | None) -> RecipientList:
    infos: list[RecipientInfo] = list(ws.recipients.list())
    items = [
        RecipientSummary.model_validate(recipients._summary_fields(info))
        for info in infos
        if kind is None or recipients.recipient_type(info) == kind
    ]
    page, envelope = slice_page(items, query, name_of=lambda r: r.name)
    return RecipientList(items=page, **envelope)


def old_catalog_list(ws: WorkspaceClient, query: ListQuery, kind: str | None) -> CatalogList:
    infos: list[CatalogInfo] = list(ws.catalogs.list())
    items = [
        CatalogSummary.model_validate(catalogs._summary_fields(info))
        for info in infos
        if kind is None or (info.catalog_type.value if info.catalog_type else "") == kind.upper()
    ]
    page, envelope = slice_page(items, query, name_of=lambda c: c.name)
    return CatalogList(items=page, **envelope)


def old_pipeline_list(ws: WorkspaceClient, query: ListQuery) -> PipelineList:
    infos: list[PipelineStateInfo] = list(ws.pipelines.list_pipelines(max_results=100))
    items = [PipelineSummary.model_validate(pipelines._summary_fields(info)) for info in infos]
    page, envelope = slice_page(
        items, query, name_of=lambda p: p.name, sort_key=lambda p: (p.name.lower(), p.pipeline_id)
    )
    return PipelineList(items=page, **envelope)


def old_schedule_list(ws: WorkspaceClient, query: ListQuery) -> ScheduleList:
    jobs = [
        job
        for job in ws.jobs.list(expand_tasks=True, limit=JOBS_PAGE)
        if resolution.pipeline_ids_of(job.settings)
    ]
    infos: list[PipelineStateInfo] = list(ws.pipelines.list_pipelines(max_results=100))
    names = {info.pipeline_id: info.name for info in infos if info.pipeline_id}
    items = [schedules.schedule_from_job(job, names) for job in jobs]
    page, envelope = slice_page(
        items,
        query,
        name_of=lambda s: s.job_name,
        sort_key=lambda s: (s.job_name.lower(), s.job_id),
    )
    return ScheduleList(items=page, **envelope)


@pytest.fixture(params=["default", "large"])
def seeded(request: pytest.FixtureRequest, emu: Any) -> str:
    """The emulator in each state the comparison runs on."""
    if request.param == "default":
        emu.reset(seed_file="default")
    else:
        emu.reset(seed=large_seed())
    return str(request.param)


def compare(
    api: TestClient,
    path: str,
    params: dict[str, Any],
    reference: Callable[[ListQuery], BaseModel],
) -> dict[str, Any]:
    """GET `path` and assert its body equals the reference's bytes; the decoded body for further checks."""
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    query = ListQuery(**{k: v for k, v in params.items() if k in ListQuery.model_fields})
    expected = fastapi_body(reference(query))
    assert response.content == expected, f"{path} {params}"
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("params", QUERIES)
def test_shares_list_is_the_documented_model(
    api: TestClient, emu_client: WorkspaceClient, seeded: str, params: dict[str, Any]
) -> None:
    body = compare(api, "/shares", params, lambda q: old_share_list(emu_client, q))
    if seeded == "large" and not params:
        assert body["total"] == SHARE_COUNT + 1  # and demo_share
        assert any(item["comment"] and AWKWARD in item["comment"] for item in body["items"])


@pytest.mark.parametrize("params", [*QUERIES, {"type": "d2o"}, {"type": "D2D", "prefix": "demo"}])
def test_recipients_list_is_the_documented_model(
    api: TestClient, emu_client: WorkspaceClient, seeded: str, params: dict[str, Any]
) -> None:
    kind = params["type"].upper() if "type" in params else None
    body = compare(api, "/recipients", params, lambda q: old_recipient_list(emu_client, q, kind))
    if seeded == "large" and not params:
        awkward = next(item for item in body["items"] if item["name"] == "awkward_d2o")
        assert awkward["properties"] == {"country": "FR", "zz": "ü"}
        assert awkward["tokens"]
        assert all(token["activation_url"] is None for token in awkward["tokens"])


@pytest.mark.parametrize("params", [*QUERIES, {"catalog_type": "managed_catalog"}])
def test_catalogs_list_is_the_documented_model(
    api: TestClient, emu_client: WorkspaceClient, seeded: str, params: dict[str, Any]
) -> None:
    kind = params.get("catalog_type")
    compare(api, "/catalogs", params, lambda q: old_catalog_list(emu_client, q, kind))


@pytest.mark.parametrize("params", [*QUERIES, {"prefix": "SALES"}])
def test_pipelines_list_is_the_documented_model(
    api: TestClient, emu_client: WorkspaceClient, seeded: str, params: dict[str, Any]
) -> None:
    body = compare(api, "/pipelines", params, lambda q: old_pipeline_list(emu_client, q))
    if seeded == "default" and not params:
        assert body["total"] == 3
        assert all(item["latest_update"]["creation_time"] for item in body["items"])


@pytest.mark.parametrize("params", [*QUERIES, {"prefix": "SALES"}])
def test_schedules_list_is_the_documented_model(
    api: TestClient, emu_client: WorkspaceClient, seeded: str, params: dict[str, Any]
) -> None:
    body = compare(api, "/schedules", params, lambda q: old_schedule_list(emu_client, q))
    if not params:
        assert body["total"] == (1 if seeded == "default" else 4)
        assert "notebook_only" not in {item["job_name"] for item in body["items"]}


def test_the_workspace_client_keeps_one_connection_per_worker_thread(
    api: TestClient, emu: Any
) -> None:
    """Concurrent list calls reuse pooled connections instead of opening one per upstream page."""
    app: Any = api.app
    client = app.state.workspace_clients.client(emu.url)
    session = client.api_client._api_client._session
    adapter = session.get_adapter(emu.url)
    assert adapter._pool_maxsize == app.state.settings.server.threadpool_size
    assert session.trust_env is False
    emu.reset_stats()
    for _ in range(3):
        assert api.get("/shares").status_code == 200
    assert emu.count("shares.list_shares") == 3  # one page each on the minimal seed

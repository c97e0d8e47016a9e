"""Token hygiene and access review (docs/API.md §16): thin routes over `dltshr.access` (live) and, for
`GET /access?as_of=`, `workflow.access_history` (the share packs' records).

The report is `/tokens`, not `/recipients/tokens`: under `/recipients/` it would shadow a recipient named `tokens`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from dbrx_api.dependencies import (
    OptionalWorkflowDep,
    WorkspaceClientDep,
    WorkspaceClientSourceDep,
    WorkspaceDep,
)
from dbrx_api.dltshr import access as access_service
from dbrx_api.routes.common import operation, uc_name
from dbrx_api.schemas.access import (
    AccessView,
    AsOf,
    ExpiryWindow,
    ReportFormat,
    TokenReport,
    access_csv,
    access_csv_filename,
    token_report_csv,
)
from dbrx_api.schemas.common import uc_full_name_problem
from dbrx_api.workflow import access_history

router = APIRouter(tags=["Access"])
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def _table_name(value: str) -> str:
    problem = uc_full_name_problem(value, 3)
    if problem:
        raise PydanticCustomError("name_invalid", "name {problem}", {"problem": problem})
    return value


RecipientQuery = Annotated[str | None, Query(max_length=255), AfterValidator(uc_name)]
FormatQuery = Annotated[
    ReportFormat | None,
    Query(description="`csv` for a download; default JSON (or `Accept: text/csv`)"),
]


def _wants_csv(request: Request, format_: ReportFormat | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _csv(text: str, filename: str) -> Response:
    return Response(
        content=text,
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/tokens",
    response_model=TokenReport,
    **operation("recipients_token_report", "reader", errors=[404]),
)
def token_report(
    request: Request,
    ws: WorkspaceClientDep,
    expiring_within: Annotated[
        ExpiryWindow | None,
        Query(
            description="Only tokens expiring within this window: `30d`, `12h`, `30` (days) or `P30D`"
        ),
    ] = None,
    activated: Annotated[
        bool | None, Query(description="true: downloaded tokens only; false: activation pending")
    ] = None,
    recipient: RecipientQuery = None,
    format: FormatQuery = None,
) -> TokenReport | Response:
    """Every live bearer token of the open-sharing recipients, soonest expiry first, with the shares it reads."""
    report = access_service.token_report(
        ws, expiring_within=expiring_within, activated=activated, recipient=recipient
    )
    return _csv(token_report_csv(report), "tokens.csv") if _wants_csv(request, format) else report


@router.get(
    "/access",
    response_model=AccessView,
    **operation("access_view", "reader", errors=[404, 409]),
)
def access_view(
    request: Request,
    workspace: WorkspaceDep,
    client: WorkspaceClientSourceDep,
    history: OptionalWorkflowDep,
    recipient: RecipientQuery = None,
    object: Annotated[
        str | None,
        Query(max_length=767, description="`catalog.schema.table`: only the shares that expose it"),
        AfterValidator(lambda v: v if v is None else _table_name(v)),
    ] = None,
    as_of: Annotated[
        AsOf | None,
        Query(
            description="A past instant, RFC 3339 with offset (`Z` or `±hh:mm`): answer from the share packs' "
            "history instead of the workspace (pack-managed shares only; needs the workflow database)",
        ),
    ] = None,
    format: FormatQuery = None,
) -> AccessView | Response:
    """Who can read what now: every recipient and the objects of the shares granted to it, narrowed to one
    `recipient` and/or one `object` (a table, read directly or through its shared schema). With `as_of`: who
    could at that instant, from the SCD2 records of the share packs (no Databricks call)."""
    if as_of is None:
        view = access_service.access_view(client(), recipient=recipient, object_name=object)
    else:  # history only: no workspace client is built, no Databricks call is made
        view = access_history.recorded_access_view(
            history, workspace.url, at=as_of, recipient=recipient, object_name=object
        )
    return (
        _csv(access_csv(view), access_csv_filename(view)) if _wants_csv(request, format) else view
    )

"""What every route declares: operationId, required role, workspace header and every status it can return."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Path, Query, Request, Response
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from dbrx_api.dbrx_auth.principal import Role
from dbrx_api.dependencies import reject_unknown_query_parameters, require_role
from dbrx_api.schemas.common import UC_NAME_PATTERN, ListQuery, uc_name_problem

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

STATUS_DESCRIPTIONS = {
    400: "Bad request (workspace header missing or invalid, or rejected by Databricks)",
    401: "Authentication required or token invalid",
    403: "Role missing, workspace not allowed, or Databricks permission denied",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Validation failed",
    500: "Internal error",
    502: "Databricks failed or could not be reached",
    503: "Databricks (or a dependency) unavailable; see Retry-After",
}
# Statuses every Databricks-facing operation can return (docs/API.md §1.5.4).
WORKSPACE_STATUSES = (400, 401, 403, 422, 500, 502, 503)
# 503: `auth_unavailable` when the tenant's signing keys cannot be fetched.
AUTHENTICATED_STATUSES = (401, 403, 422, 500, 503)
BODY_STATUSES = (413, 415)


def problem_responses(statuses: Iterable[int]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries rendering each status as a Problem document."""
    return {
        status: {
            "description": STATUS_DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}},
        }
        for status in sorted(set(statuses))
    }


def operation(
    operation_id: str,
    role: Role | None,
    *,
    workspace: bool = True,
    body: bool = False,
    errors: Iterable[int] = (),
    success: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of a route decorator: operationId, role check, documented statuses and role extension.

    `role=None` marks a public route; `success` documents a non-JSON 200 response. The role check is a decorator dependency, so it runs before the route's
    parameters (workspace header, body), as docs/API.md §1.2 orders the checks.
    """
    statuses: set[int] = set(errors) | {500}
    if role is not None:
        statuses |= set(AUTHENTICATED_STATUSES)
    if workspace:
        statuses |= set(WORKSPACE_STATUSES)
    if body:
        statuses |= set(BODY_STATUSES) | {422}
    responses = problem_responses(statuses)
    if success is not None:
        responses[200] = success  # a non-JSON success (file download)
    kwargs: dict[str, Any] = {
        "operation_id": operation_id,
        "responses": responses,
        "openapi_extra": {"x-required-role": role or "public"},
    }
    if workspace:
        # Marks `X-Workspace-URL` required in the document (main._custom_openapi removes the marker): the
        # header is read as optional so that its absence is a 400 problem rather than a 422 (docs/API.md §1.3).
        kwargs["openapi_extra"]["x-workspace-required"] = True
    # After the role check, so an unauthenticated caller gets its 401 first (docs/API.md §1.2).
    unknown_query = Depends(reject_unknown_query_parameters)
    if role is not None:
        kwargs["dependencies"] = [Depends(require_role(role)), unknown_query]
    else:
        kwargs["dependencies"] = [unknown_query]
    return kwargs


def json_body(body: bytes) -> Response:
    """A 200 whose JSON body a pass-through list service serialised already (docs/ARCHITECTURE.md).

    FastAPI returns a `Response` as it is: no second validation against the route's `response_model`, which
    still documents the body in the OpenAPI document.
    """
    return Response(content=body, media_type="application/json")


def uc_name(value: str) -> str:
    """`value` when it is a valid Unity Catalog name; else the error type `name_invalid` (docs/API.md §1.6)."""
    problem = uc_name_problem(value)
    if problem:
        raise PydanticCustomError("name_invalid", "name {problem}", {"problem": problem})
    return value


UcNamePath = Annotated[
    str,
    Path(
        description="Unity Catalog name (case-insensitive; stored lower-case)",
        max_length=255,
        # Documented only: `uc_name` enforces it with the error type `name_invalid` (docs/API.md §1.6).
        json_schema_extra={"pattern": UC_NAME_PATTERN},
    ),
    AfterValidator(uc_name),
]


async def list_query(
    prefix: Annotated[
        str | None,
        Query(min_length=1, max_length=255, description="Case-insensitive literal name prefix"),
    ] = None,
    contains: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=255,
            description="Case-insensitive literal substring of the name",
        ),
    ] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=10_000, description="Maximum items returned")
    ] = None,
    offset: Annotated[int, Query(ge=0, description="Matching items to skip")] = 0,
) -> ListQuery:
    """The common list parameters (docs/API.md §1.7).

    `async` because it never blocks (`dependencies.get_workspace` says why).
    """
    return ListQuery(prefix=prefix, contains=contains, limit=limit, offset=offset)


ListQueryDep = Annotated[ListQuery, Depends(list_query)]


def set_location(request: Request, response: Response, route_name: str, **path_params: str) -> None:
    """`Location` of a created resource: the path of its GET route (including `api_prefix`).

    Each path parameter is percent-encoded: names may hold any character but `/` (`%`, `?`, `#`, non-ASCII),
    and a header value must be ASCII (Starlette raises on anything outside Latin-1).
    """
    encoded = {name: quote(value, safe="") for name, value in path_params.items()}
    response.headers["Location"] = request.url_for(route_name, **encoded).path

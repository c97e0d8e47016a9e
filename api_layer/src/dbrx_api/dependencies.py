"""FastAPI dependencies shared by the routes: settings, the caller, role checks, the target workspace.

Check order for every request (docs/API.md §1.2): authentication (401) → role (403) → workspace header (400/403) →
request validation (422) → upstream work. Routes declare the role check in the decorator (`dependencies=`), which
FastAPI resolves before the parameters, then take `WorkspaceClientDep` before their body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from databricks.sdk import WorkspaceClient
from fastapi import Depends, Header, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from dbrx_api.dbrx_auth.principal import LOCAL_DEVELOPER, Principal, Role
from dbrx_api.dbrx_auth.workspaces import Workspace, WorkspaceClientFactory
from dbrx_api.errors import AuthenticationError, ForbiddenError, unknown_query_problem
from dbrx_api.jobs.deferred import DeferredStarter
from dbrx_api.monitoring import update_request_context
from dbrx_api.settings import Settings
from dbrx_api.workflow.context import WorkflowContext

WORKSPACE_HEADER = "X-Workspace-URL"
WORKSPACE_HEADER_DESCRIPTION = (
    "URL of the target Databricks workspace, e.g. https://adb-1234567890123456.7.azuredatabricks.net. "
    "It must be in the service's workspace allowlist."
)

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="EntraIdBearer",
    description="Microsoft Entra ID access token for the DeltaShare API (app roles DeltaShare.Reader/Writer/Approver/Admin).",
)


def get_settings(request: Request) -> Settings:
    """The settings the application was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def _missing_token() -> AuthenticationError:
    return AuthenticationError(
        "An 'Authorization: Bearer <token>' header with a Microsoft Entra ID access token is required.",
        code="auth_missing",
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """Authenticate the caller (401 `auth_missing` / `auth_invalid`); local mode without auth is the developer."""
    settings: Settings = request.app.state.settings
    if settings.auth.mode == "disabled":
        principal = LOCAL_DEVELOPER
    else:
        if credentials is None or not credentials.credentials.strip():
            raise _missing_token()
        try:
            principal = request.app.state.token_validator.validate(credentials.credentials.strip())
        except AuthenticationError as exc:
            exc.headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
            raise
    request.state.principal = principal
    # In place: FastAPI runs sync dependencies on a copy of the context, so re-binding would be lost.
    route = request.scope.get("route")
    update_request_context(
        principal_id=principal.id, principal_name=principal.name, route=getattr(route, "path", None)
    )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def ensure_role(principal: Principal, role: Role) -> None:
    """403 `role_missing` naming the required role (never the token content)."""
    if not principal.has_role(role):
        raise ForbiddenError(
            f"This operation requires the '{role}' role.", code="role_missing", required_role=role
        )


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks `role` (hierarchical).

    The check itself is `async` (it never blocks; `get_workspace` says why); authentication stays a sync
    dependency, since validating a token may fetch the signing keys.
    """

    async def check(principal: PrincipalDep) -> Principal:
        ensure_role(principal, role)
        return principal

    check.__name__ = f"require_{role}"
    return check


async def get_workspace(
    request: Request,
    x_workspace_url: Annotated[
        str | None,
        Header(alias=WORKSPACE_HEADER, description=WORKSPACE_HEADER_DESCRIPTION),
    ] = None,
) -> Workspace:
    """The allow-listed workspace named by `X-Workspace-URL` (400/403 with no outbound call otherwise).

    `async` because resolving is a look-up that never blocks: FastAPI runs a sync dependency in the thread pool,
    a hand-off per dependency and request.
    """
    factory: WorkspaceClientFactory = request.app.state.workspace_clients
    workspace = factory.resolve(x_workspace_url)
    request.state.workspace = workspace
    return workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


async def get_workspace_client(request: Request, workspace: WorkspaceDep) -> WorkspaceClient:
    """The cached SDK client of the request's workspace.

    A look-up without a thread-pool hand-off once the client exists; building it the first time fetches the
    host's metadata (an outbound call), which runs in the thread pool.
    """
    factory: WorkspaceClientFactory = request.app.state.workspace_clients
    client = factory.cached_client(workspace)
    if client is None:
        client = await run_in_threadpool(factory.client_for, workspace)
    return client


WorkspaceClientDep = Annotated[WorkspaceClient, Depends(get_workspace_client)]


def get_workspace_client_source(
    request: Request, workspace: WorkspaceDep
) -> Callable[[], WorkspaceClient]:
    """The request's workspace client, built only when called: for routes that answer some requests without
    Databricks (building a client the first time fetches the host's metadata, an outbound call)."""
    factory: WorkspaceClientFactory = request.app.state.workspace_clients
    return lambda: factory.client_for(workspace)


WorkspaceClientSourceDep = Annotated[
    Callable[[], WorkspaceClient], Depends(get_workspace_client_source)
]


def activation_link_requested(
    principal: PrincipalDep,
    include_activation_link: Annotated[
        bool,
        Query(
            description="Return the activation link and token URLs (writer role; secret material)."
        ),
    ] = False,
) -> bool:
    """`include_activation_link=true` needs the writer role (checked before the workspace header)."""
    if include_activation_link:
        ensure_role(principal, "writer")
    return include_activation_link


ActivationLinkDep = Annotated[bool, Depends(activation_link_requested)]


def get_max_parallel(settings: SettingsDep) -> int:
    """Bound of concurrent upstream reads inside one request."""
    return settings.databricks.max_parallel_calls


MaxParallelDep = Annotated[int, Depends(get_max_parallel)]


def get_workflow(request: Request) -> WorkflowContext:
    """The workflow context built by the lifespan (only present when the workflow is enabled)."""
    context: WorkflowContext = request.app.state.workflow
    return context


WorkflowDep = Annotated[WorkflowContext, Depends(get_workflow)]


def get_optional_workflow(request: Request) -> WorkflowContext | None:
    """The workflow context, or None when the workflow (and its database) is off: for routes outside
    `/workflow/` that use the records only on request (`GET /access?as_of=`, docs/API.md §16.2)."""
    context: WorkflowContext | None = getattr(request.app.state, "workflow", None)
    return context


OptionalWorkflowDep = Annotated[WorkflowContext | None, Depends(get_optional_workflow)]


def get_request_id(request: Request) -> str | None:
    """The request id the middleware assigned."""
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


RequestIdDep = Annotated[str | None, Depends(get_request_id)]


def _declared_query_parameters(dependant: Dependant) -> set[str]:
    """Names of the query parameters an operation takes, its dependencies' included (e.g. `list_query`)."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared_query_parameters(sub)
    return names


async def reject_unknown_query_parameters(request: Request) -> None:
    """422 `query_parameter_unknown` naming every query parameter the operation does not take (docs/API.md §1.7).

    A misspelt or unsupported filter would otherwise be ignored and the call would answer with everything, as if
    it had filtered. Declared on every operation after its role check (`routes.common.operation`). `async`: a
    look-up that never blocks (`get_workspace` says why).
    """
    if not request.query_params:  # most calls: nothing to check, no walk of the dependency tree
        return
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return
    accepted = _declared_query_parameters(dependant)
    unknown = sorted({key for key in request.query_params if key not in accepted})
    if unknown:
        raise unknown_query_problem(unknown, sorted(accepted))


def get_deferred_starter(request: Request) -> DeferredStarter:
    """The bounded executor of deferred full refreshes, created and shut down by the lifespan."""
    starter: DeferredStarter = request.app.state.deferred_starter
    return starter


DeferredStarterDep = Annotated[DeferredStarter, Depends(get_deferred_starter)]

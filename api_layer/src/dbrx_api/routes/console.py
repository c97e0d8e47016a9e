"""The reviewer console at `/console` (docs/API.md §17): server-rendered pages over the API's own service functions.

Thin `def` routes: find the viewer, call one service function, render a template. The approval, decline and
withdraw rules are the API's (`workflow.approvals`, `workflow.service`), so a button is enabled exactly where the
call would succeed, and a refused call shows the API's problem code in the page. Forms are multipart with a CSRF
token (double submit: a random HttpOnly cookie and the same value in the form). Pages load only the app's own
`/console/static/` files; their Content-Security-Policy allows no inline script or style.

Who is viewing: in the local environment without authentication, the local developer (as for the API); with
authentication, an `Authorization: Bearer` token exactly as for the API (tests and tools), else the session of the
Entra ID sign-in (`dbrx_auth.console_signin`), else a redirect to `/console/signin`.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import TypeAdapter, ValidationError

from dbrx_api.console import build_environment
from dbrx_api.dbrx_auth import console_signin
from dbrx_api.dbrx_auth.principal import Principal
from dbrx_api.dependencies import RequestIdDep, SettingsDep, WorkflowDep, get_principal
from dbrx_api.dltshr import access as access_service
from dbrx_api.errors import AppError, AuthenticationError, ForbiddenError
from dbrx_api.monitoring import update_request_context
from dbrx_api.schemas.access import AccessView, AsOf, ExpiryWindow, access_csv, access_csv_filename
from dbrx_api.schemas.workflow import ApprovalRequest
from dbrx_api.workflow import access_history, review
from dbrx_api.workflow import service as workflow_service
from dbrx_api.workflow.orchestrator import drift as drift_flow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)
_templates = build_environment()

CSRF_COOKIE = "ds_console_csrf"
CSRF_FIELD = "csrf_token"
# docs/API.md §1.1.1 and §17: only the app's own files; forms post to the console itself.
CONSOLE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
VersionPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
CommentField = Annotated[str, Form(max_length=2000)]


# ------------------------------------------------------------------------------------------ viewer, CSRF, pages


def console_viewer(request: Request, settings: SettingsDep) -> Principal | None:
    """The viewer (see the module docstring); None when they must sign in first."""
    header = request.headers.get("authorization", "")
    if settings.auth.mode == "disabled" or header:
        scheme, _, token = header.partition(" ")
        credentials = (
            HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
            if scheme.lower() == "bearer"
            else None
        )
        return get_principal(request, credentials)
    principal = console_signin.principal_from_session(
        request.cookies.get(console_signin.SESSION_COOKIE), settings.console
    )
    if principal is not None:
        request.state.principal = principal
        update_request_context(principal_id=principal.id, principal_name=principal.name)
    return principal


ViewerDep = Annotated[Principal | None, Depends(console_viewer)]


def _secure(request: Request) -> bool:
    settings = request.app.state.settings
    return not settings.is_local


def _csrf_token(request: Request) -> str:
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_token", None)
    if not token:
        token = secrets.token_urlsafe(32)
    request.state.csrf_token = token
    return str(token)


def check_csrf(request: Request, csrf_token: Annotated[str, Form(max_length=128)] = "") -> None:
    """403 `csrf_invalid` unless the form's token equals the CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        raise ForbiddenError(
            "The form is stale or was not sent by the console; reload the page and try again.",
            code="csrf_invalid",
        )


def _page(
    request: Request,
    template: str,
    viewer: Principal | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    settings = request.app.state.settings
    prefix = settings.api_prefix
    csrf = _csrf_token(request)
    html = _templates.get_template(template).render(
        base=f"{prefix}/console",
        api=prefix,
        viewer=viewer,
        csrf_field=CSRF_FIELD,
        csrf_token=csrf,
        signed_in=bool(request.cookies.get(console_signin.SESSION_COOKIE)),
        app_name=settings.app_name,
        **context,
    )
    response = HTMLResponse(
        html,
        status_code=status_code,
        headers={"Content-Security-Policy": CONSOLE_CSP, "Cache-Control": "no-store"},
    )
    if request.cookies.get(CSRF_COOKIE) != csrf:
        response.set_cookie(
            CSRF_COOKIE,
            csrf,
            httponly=True,
            secure=_secure(request),
            samesite="lax",
            path=f"{prefix}/console",
        )
    return response


def _error_page(request: Request, viewer: Principal | None, error: AppError) -> HTMLResponse:
    return _page(request, "error.html", viewer, status_code=error.status_code, error=error)


def _sign_in(request: Request) -> RedirectResponse:
    prefix = request.app.state.settings.api_prefix
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(
        f"{prefix}/console/signin?{urlencode({'return_to': target})}", status_code=303
    )


def _rendered(
    request: Request, viewer: Principal | None, render: Callable[[Principal], Response]
) -> Response:
    """Sign-in redirect, the page, or the error page of an `AppError` the service raised."""
    if viewer is None:
        return _sign_in(request)
    try:
        return render(viewer)
    except AppError as error:
        return _error_page(request, viewer, error)


def _workspaces(request: Request) -> list[str]:
    return [w.url for w in request.app.state.settings.databricks.workspaces]


def _client_for(request: Request, workspace: str | None) -> tuple[str, Any]:
    """The allow-listed workspace (default: the first) and its SDK client (400/403 problems otherwise)."""
    factory = request.app.state.workspace_clients
    resolved = factory.resolve(workspace or _workspaces(request)[0])
    return resolved.url, factory.client_for(resolved)


def _pack_url(request: Request, pack_id: str, **query: str) -> str:
    prefix = request.app.state.settings.api_prefix
    suffix = f"?{urlencode(query)}" if query else ""
    return f"{prefix}/console/packs/{quote(pack_id, safe='')}{suffix}"


# ------------------------------------------------------------------------------------------ inbox and pack


@router.get("")
def inbox_page(request: Request, viewer: ViewerDep, ctx: WorkflowDep) -> Response:
    """Versions waiting for the viewer's decision, the others waiting, and the viewer's uploads."""
    return _rendered(
        request, viewer, lambda who: _page(request, "inbox.html", who, inbox=review.inbox(ctx, who))
    )


@router.get("/packs/{pack_id}")
def pack_page(
    request: Request,
    pack_id: str,
    viewer: ViewerDep,
    ctx: WorkflowDep,
    done: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """One pack: metadata, owners, status, the plan, the actions the viewer may take, and the history."""
    return _rendered(
        request,
        viewer,
        lambda who: _page(
            request,
            "pack.html",
            who,
            review=review.pack_review(ctx, who, pack_id),
            done=done,
            destructive_entries=review.destructive_entries,
            timeline=review.timeline,
            issue_location=review.issue_location,
        ),
    )


@router.post("/packs/{pack_id}/versions/{version}/decision", dependencies=[Depends(check_csrf)])
def decide(
    request: Request,
    pack_id: str,
    version: VersionPath,
    viewer: ViewerDep,
    ctx: WorkflowDep,
    request_id: RequestIdDep,
    decision: Annotated[str, Form(pattern="^(approve|decline)$")],
    comment: CommentField = "",
    plan_digest: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    """Approve or decline through `workflow.service.decide_version` (the API's function), then show the pack."""

    def act(who: Principal) -> Response:
        body = ApprovalRequest.model_validate(
            {"decision": decision, "comment": comment or None, "plan_digest": plan_digest or None}
        )
        result = workflow_service.decide_version(
            ctx, principal=who, raw_id=pack_id, version=version, request=body, request_id=request_id
        )
        done = "approved" if result.decision == "approve" else "declined"
        return RedirectResponse(_pack_url(request, pack_id, done=done), status_code=303)

    return _rendered(request, viewer, act)


@router.post("/packs/{pack_id}/versions/{version}/withdraw", dependencies=[Depends(check_csrf)])
def withdraw(
    request: Request,
    pack_id: str,
    version: VersionPath,
    viewer: ViewerDep,
    ctx: WorkflowDep,
    request_id: RequestIdDep,
    comment: CommentField = "",
) -> Response:
    """Withdraw through `workflow.service.withdraw_version` (the API's function), then show the pack."""

    def act(who: Principal) -> Response:
        workflow_service.withdraw_version(
            ctx,
            principal=who,
            raw_id=pack_id,
            version=version,
            comment=comment or None,
            request_id=request_id,
        )
        return RedirectResponse(_pack_url(request, pack_id, done="withdrawn"), status_code=303)

    return _rendered(request, viewer, act)


@router.get("/packs/{pack_id}/versions/{a}/diff/{b}")
def diff_page(
    request: Request,
    pack_id: str,
    a: VersionPath,
    b: VersionPath,
    viewer: ViewerDep,
    ctx: WorkflowDep,
) -> Response:
    """What changed from version `a` to version `b` (`GET /workflow/sharepack/{id}/versions/{a}/diff/{b}`)."""
    return _rendered(
        request,
        viewer,
        lambda who: _page(
            request, "diff.html", who, diff=workflow_service.diff_versions(ctx, pack_id, a, b)
        ),
    )


@router.get("/packs/{pack_id}/drift")
def drift_page(
    request: Request,
    pack_id: str,
    viewer: ViewerDep,
    ctx: WorkflowDep,
) -> Response:
    """The pack's recorded resources against the live workspace (`GET /workflow/drift`)."""

    def render(who: Principal) -> Response:
        status = workflow_service.get_status(ctx, pack_id)
        report = drift_flow.detect_drift(
            ctx, status.workspace_url, share_pack_id=status.share_pack_id
        )
        return _page(request, "drift.html", who, pack=status, report=report.body())

    return _rendered(request, viewer, render)


# ------------------------------------------------------------------------------------------ tokens and access


def _parsed(adapter: TypeAdapter[Any], raw: str | None, name: str, problems: list[str]) -> Any:
    if raw is None or not raw.strip():
        return None
    try:
        return adapter.validate_python(raw.strip())
    except ValidationError as exc:
        problems.append(f"{name}: {exc.errors()[0]['msg']}")
        return None


_WINDOW = TypeAdapter(ExpiryWindow)
_AS_OF = TypeAdapter(AsOf)
_BOOL = {"": None, "true": True, "false": False}


@router.get("/tokens")
def tokens_page(
    request: Request,
    viewer: ViewerDep,
    workspace: Annotated[str | None, Query(max_length=2048)] = None,
    expiring_within: Annotated[str | None, Query(max_length=32)] = None,
    activated: Annotated[str, Query(pattern="^(|true|false)$")] = "",
    recipient: Annotated[str | None, Query(max_length=255)] = None,
) -> Response:
    """The expiring-token report (`GET /tokens`) with its filters."""

    def render(who: Principal) -> Response:
        problems: list[str] = []
        window = _parsed(_WINDOW, expiring_within, "expiring_within", problems)
        url, client = _client_for(request, workspace)
        report = None
        if not problems:
            try:
                report = access_service.token_report(
                    client,
                    expiring_within=window,
                    activated=_BOOL[activated],
                    recipient=recipient or None,
                )
            except AppError as error:  # e.g. an unknown recipient: shown next to the filters
                problems.append(f"{error.code}: {error.detail}")
        filters = {
            "workspace": url,
            "expiring_within": expiring_within or "",
            "activated": activated,
            "recipient": recipient or "",
        }
        return _page(
            request,
            "tokens.html",
            who,
            report=report,
            problems=problems,
            filters=filters,
            workspaces=_workspaces(request),
        )

    return _rendered(request, viewer, render)


@dataclass(frozen=True)
class AccessFilters:
    """The filters of the access page and its CSV download (the same as `GET /access`)."""

    workspace: str | None
    recipient: str | None
    object_name: str | None
    as_of: str | None

    def query(self, url: str) -> dict[str, str]:
        """The filters as the page shows them and links them, with the workspace it chose."""
        return {
            "workspace": url,
            "recipient": self.recipient or "",
            "object": self.object_name or "",
            "as_of": self.as_of or "",
        }


def _access_filters(
    workspace: Annotated[str | None, Query(max_length=2048)] = None,
    recipient: Annotated[str | None, Query(max_length=255)] = None,
    object_name: Annotated[str | None, Query(alias="object", max_length=767)] = None,
    as_of: Annotated[str | None, Query(max_length=64)] = None,
) -> AccessFilters:
    return AccessFilters(workspace, recipient, object_name, as_of)


AccessFiltersDep = Annotated[AccessFilters, Depends(_access_filters)]


def _access(
    request: Request, filters: AccessFilters, problems: list[str]
) -> tuple[str, AccessView | None]:
    at = _parsed(_AS_OF, filters.as_of, "as_of", problems)
    url, client = _client_for(request, filters.workspace)
    if problems:
        return url, None
    recipient, object_name = filters.recipient or None, filters.object_name or None
    if at is None:
        return url, access_service.access_view(client, recipient=recipient, object_name=object_name)
    history = getattr(request.app.state, "workflow", None)
    return url, access_history.recorded_access_view(
        history, url, at=at, recipient=recipient, object_name=object_name
    )


@router.get("/access")
def access_page(request: Request, viewer: ViewerDep, filters: AccessFiltersDep) -> Response:
    """Who can read what (`GET /access`), now or at a past instant, with a CSV download of the same view."""

    def render(who: Principal) -> Response:
        problems: list[str] = []
        try:
            url, view = _access(request, filters, problems)
        except (
            AppError
        ) as error:  # e.g. an unknown recipient or a future as_of: shown next to the filters
            problems.append(f"{error.code}: {error.detail}")
            url, view = filters.workspace or _workspaces(request)[0], None
        shown = filters.query(url)
        return _page(
            request,
            "access.html",
            who,
            view=view,
            problems=problems,
            filters=shown,
            csv_query=urlencode({k: v for k, v in shown.items() if v}),
            workspaces=_workspaces(request),
        )

    return _rendered(request, viewer, render)


@router.get("/access.csv")
def access_csv_download(request: Request, viewer: ViewerDep, filters: AccessFiltersDep) -> Response:
    """The access view as CSV, exactly as `GET /access?format=csv` writes it."""

    def render(who: Principal) -> Response:
        problems: list[str] = []
        _, view = _access(request, filters, problems)
        if view is None:
            return _page(request, "error.html", who, status_code=422, problems=problems, error=None)
        return Response(
            access_csv(view),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{access_csv_filename(view)}"'},
        )

    return _rendered(request, viewer, render)


# ------------------------------------------------------------------------------------------ sign-in


def _signin(request: Request) -> console_signin.ConsoleSignIn:
    cached: console_signin.ConsoleSignIn | None = getattr(request.app.state, "console_signin", None)
    if cached is None:
        settings = request.app.state.settings
        if not settings.console.sign_in_configured or request.app.state.token_validator is None:
            raise AuthenticationError(
                "Sign-in to the console is not configured on this service (console.client_id, ...).",
                code="signin_unavailable",
            )
        cached = console_signin.ConsoleSignIn(
            settings.console, settings.auth, request.app.state.token_validator
        )
        request.app.state.console_signin = cached
    return cached


def _safe_return(request: Request, target: str | None) -> str:
    """Only a path inside the console: never another host (docs/GOVERNANCE.md §6)."""
    base = f"{request.app.state.settings.api_prefix}/console"
    if target and target.startswith(base) and not target.startswith("//") and "\\" not in target:
        return target
    return base


@router.get("/signin")
def signin(
    request: Request, return_to: Annotated[str | None, Query(max_length=2048)] = None
) -> Response:
    """Start the Entra ID authorization code flow with PKCE (a redirect to the authority)."""
    try:
        url, flow = _signin(request).start(_safe_return(request, return_to))
    except AppError as error:
        return _error_page(request, None, error)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        console_signin.FLOW_COOKIE,
        flow,
        max_age=console_signin.FLOW_MAX_AGE_S,
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        path=f"{request.app.state.settings.api_prefix}/console",
    )
    return response


@router.get("/auth/callback")
def signin_callback(request: Request) -> Response:
    """Redeem the authorization code, validate the token as the API does, and open the session."""
    try:
        signed_in = _signin(request).finish(
            request.cookies.get(console_signin.FLOW_COOKIE), dict(request.query_params)
        )
    except AppError as error:
        return _error_page(request, None, error)
    settings = request.app.state.settings
    principal = signed_in.principal
    response = RedirectResponse(_safe_return(request, signed_in.return_to), status_code=303)
    path = f"{settings.api_prefix}/console"
    response.delete_cookie(console_signin.FLOW_COOKIE, path=path)
    response.set_cookie(
        console_signin.SESSION_COOKIE,
        console_signin.session_value(
            principal, settings.console, lifetime_s=signed_in.session_lifetime_s
        ),
        max_age=signed_in.session_lifetime_s,
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        path=path,
    )
    logger.info("console sign-in", extra={"principal_id": principal.id})
    return response


@router.post("/signout", dependencies=[Depends(check_csrf)])
def signout(request: Request) -> Response:
    """Close the console session (the Entra ID session itself is left alone)."""
    path = f"{request.app.state.settings.api_prefix}/console"
    response = RedirectResponse(path, status_code=303)
    response.delete_cookie(console_signin.SESSION_COOKIE, path=path)
    return response

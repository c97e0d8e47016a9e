"""Application factory: wiring of settings, clients, middleware, problem handlers, routes and documentation."""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

import anyio.to_thread
from databricks.sdk.errors.base import DatabricksError
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, compile_path

from dbrx_api.audit import AuditRecorder, describe_operation, entity_key
from dbrx_api.dbrx_auth.principal import Principal
from dbrx_api.dbrx_auth.workspaces import Workspace, WorkspaceClientFactory
from dbrx_api.dependencies import WORKSPACE_HEADER, reject_unknown_query_parameters
from dbrx_api.errors import (
    INTERNAL_ERROR_DETAIL,
    AppError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailed,
    encoded_separator_problem,
    log_upstream_failure,
    title_for,
    translate_upstream,
    validation_problem,
)
from dbrx_api.heap import settle_startup_heap
from dbrx_api.jobs.deferred import DeferredStarter
from dbrx_api.monitoring import (
    Metrics,
    bind_request_context,
    configure_logging,
    reset_request_context,
)
from dbrx_api.monitoring.readiness import CheckOutcome, ReadinessProbe
from dbrx_api.routes import (
    access,
    catalogs,
    health,
    metrics,
    pipelines,
    recipients,
    schedules,
    shares,
)
from dbrx_api.routes.common import PROBLEM_MEDIA_TYPE
from dbrx_api.schemas.problem import Problem, problem_body
from dbrx_api.settings import Settings, get_settings
from dbrx_api.version import __version__
from dbrx_api.workflow.db.repositories.audit_trail import AuditEntry

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_JSON_TYPES = ("application/json",)
_MULTIPART = "multipart/form-data"
_MULTIPART_OVERHEAD_BYTES = 64 * 1024
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_AUDIT_BODY_LIMIT = 64 * 1024


# docs/API.md §1.1.1: sent on every response unless the route set its own (the documentation
# pages set a CSP that allows their assets). Nothing the API serves is meant to be framed, sniffed as another type,
# or to leak its URL (which may name shares and recipients) to another site through `Referer`.
_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)


def _with_security_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`raw` plus each security header it does not already carry."""
    present = {name.lower() for name, _ in raw}
    return raw + [(name, value) for name, value in _SECURITY_HEADERS if name not in present]


def _json_or_none(body: bytearray | None) -> Any:
    """The JSON response kept for the audit trail (None when absent, too large or not JSON)."""
    if not body or len(body) > _AUDIT_BODY_LIMIT:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


API_DESCRIPTION = """
Share Databricks tables, views, schemas and notebooks through Delta Sharing with Databricks-to-Databricks (D2D) and
open-sharing (D2O) recipients; manage Unity Catalog catalogs, the pipelines that feed shared tables and their
schedules; read run metrics.

**Authentication**: `Authorization: Bearer <Microsoft Entra ID access token>` (use *Authorize*). Every
Databricks-facing operation also needs the `X-Workspace-URL` header naming an allow-listed workspace.
Errors are RFC 9457 problem documents with a stable `code`.
"""


# ------------------------------------------------------------------------------------------ problems


def request_id_of(request: Request) -> str:
    """The id the request-id middleware assigned (or a fresh one outside it)."""
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else str(uuid.uuid4())


def _instance(request: Request) -> str:
    return request.url.path


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An `application/problem+json` response (docs/API.md §1.5.1)."""
    body = problem_body(
        code=code,
        title=title_for(code),
        status=status,
        detail=detail,
        instance=_instance(request),
        request_id=request_id_of(request),
        extra=extra,
    )
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _app_error_response(request: Request, exc: AppError) -> JSONResponse:
    return problem_response(
        request,
        status=exc.status_code,
        code=exc.code,
        detail=exc.detail,
        extra=exc.extra,
        headers=exc.headers,
    )


def _validation_items(exc: RequestValidationError) -> list[dict[str, Any]]:
    items = []
    for error in exc.errors():
        loc = [part for part in error.get("loc", ()) if isinstance(part, str | int)]
        items.append(
            {"loc": loc, "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}
        )
    return items


_HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Methods some route fully matches on the request path (`Allow` of a 405, RFC 9110 §15.5.6).

    Starlette's own 405 names the methods of the first partially matching route only, while one path often has
    several routes (`GET /shares` and `POST /shares`). Each method is tried through the routes' own `matches`,
    which also sees into included routers (their routes are not listed on `app.router.routes`).
    """
    routes = request.app.router.routes
    return [
        method
        for method in _HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


_BODY_TOO_LARGE_STATE = "body_too_large"


def _body_cut_at_limit(request: Request) -> AppError | None:
    """The 413 of a request whose streamed body the middleware cut at its limit (None otherwise).

    A chunked body has no Content-Length to refuse up front; the middleware stops it while it streams, and the
    body reader (FastAPI's JSON or form parsing) turns that into its own "could not parse" error. That error is
    a consequence of the cut, so the limit is reported instead (docs/API.md §1.5.2, §10.1).
    """
    error = request.scope.get("state", {}).get(_BODY_TOO_LARGE_STATE)
    return error if isinstance(error, AppError) else None


def install_exception_handlers(app: FastAPI) -> None:
    """Register the one mapping from failures to problem documents."""

    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
        return _app_error_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        too_large = _body_cut_at_limit(request)
        if too_large is not None:
            return _app_error_response(request, too_large)
        return _app_error_response(request, validation_problem(_validation_items(exc)))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        error: AppError
        too_large = _body_cut_at_limit(request)
        if too_large is not None:
            error = too_large
        elif exc.status_code == 404:
            path = request.url.path
            # Trailing slashes are not redirected (create_app): say so instead of a bare "no route".
            hint = " (paths take no trailing '/')" if len(path) > 1 and path.endswith("/") else ""
            error = NotFoundError(f"No route matches {path}{hint}.", code="not_found")
        elif exc.status_code == 405:
            allowed = _allowed_methods(request)
            error = MethodNotAllowedError(
                f"{request.method} is not allowed on {request.url.path}.",
                headers={"Allow": ", ".join(allowed)},
            )
        else:
            # e.g. an unparsable body: report it as a validation problem, never echo internals
            error = ValidationFailed(
                "The request could not be parsed.",
                errors=[
                    {"loc": ["body"], "msg": "malformed request body", "type": "body_malformed"}
                ],
            )
        return _app_error_response(request, error)

    async def on_upstream(request: Request, exc: Exception) -> JSONResponse:
        translated = translate_upstream(exc)
        if translated is None:
            raise exc
        log_upstream_failure(exc, translated)
        return _app_error_response(request, translated)

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DatabricksError, on_upstream)
    app.add_exception_handler(TimeoutError, on_upstream)


# ------------------------------------------------------------------------------------------ middleware


def _form_operations(openapi: dict[str, Any]) -> list[tuple[str, re.Pattern[str], list[str]]]:
    """(method, path pattern, field names) of every operation whose request body is `multipart/form-data`."""
    components = openapi.get("components", {}).get("schemas", {})
    found = []
    for path, item in openapi.get("paths", {}).items():
        for method, operation in item.items():
            content = (
                (operation.get("requestBody") or {}).get("content", {})
                if isinstance(operation, dict)
                else {}
            )
            if _MULTIPART not in content:
                continue
            schema = content[_MULTIPART].get("schema", {})
            ref = schema.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                schema = components.get(ref.rsplit("/", 1)[-1], {})
            pattern, _, _ = compile_path(path)
            found.append((method.upper(), pattern, list(schema.get("properties", {}))))
    return found


class _BodyTooLarge(Exception):
    def __init__(self, limit: int, multipart: bool) -> None:
        super().__init__(limit)
        self.limit = limit
        self.multipart = multipart


class RequestMiddleware:
    """Request id, body limits and content type, `Cache-Control` and security headers, access log, 500 safety net.

    A pure ASGI middleware (no response buffering) so streaming and latency stay untouched.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._form_operations: list[tuple[str, re.Pattern[str], list[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        response_started = False
        status_code = 500
        location: str | None = None
        # The response of a mutating call is the "after" of its audit entry (secrets are redacted when written).
        audit_body = bytearray() if scope.get("method") in _MUTATING else None

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started, status_code, location
            if (
                message["type"] == "http.response.body"
                and audit_body is not None
                and len(audit_body) <= _AUDIT_BODY_LIMIT
            ):
                audit_body.extend(message.get("body", b""))
            if message["type"] == "http.response.start":
                response_started = True
                status_code = int(message["status"])
                raw = list(message.get("headers", []))
                raw.append((b"x-request-id", request_id.encode("latin-1")))
                raw_location = next((v for k, v in raw if k.lower() == b"location"), None)
                location = raw_location.decode("latin-1") if raw_location else None
                content_type = next((v for k, v in raw if k.lower() == b"content-type"), b"")
                if b"json" in content_type:
                    raw.append((b"cache-control", b"no-store"))
                message["headers"] = _with_security_headers(raw)
            await send(message)

        request = Request(scope)
        context_token = bind_request_context(
            request_id=request_id, method=scope.get("method"), path=scope.get("path")
        )
        early = self._early_rejection(request, headers)
        try:
            if early is not None:
                await early(scope, receive, send_with_headers)
            else:
                await self.app(scope, self._limited(scope, receive, headers), send_with_headers)
        except _BodyTooLarge as exc:
            if response_started:
                raise
            await self._too_large(request, exc)(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id})
            if response_started:
                return
            response = problem_response(
                request, status=500, code="internal_error", detail=INTERNAL_ERROR_DETAIL
            )
            await response(scope, receive, send_with_headers)
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            logger.info(
                "request",
                extra={
                    "route": route_path,
                    "status": status_code,
                    "latency_ms": round(latency_ms, 2),
                },
            )
            state = getattr(scope.get("app"), "state", None)
            metrics: Metrics | None = getattr(state, "metrics", None)
            if metrics is not None:
                metrics.record_request(
                    route_path, str(scope.get("method")), status_code, latency_ms
                )
            await self._audit(scope, request_id, status_code, location, audit_body)
            reset_request_context(context_token)

    async def _audit(
        self,
        scope: Scope,
        request_id: str,
        status: int,
        location: str | None,
        body: bytearray | None,
    ) -> None:
        """One audit entry per authenticated mutating API call, written off the event loop."""
        route = scope.get("route")
        operation_id = getattr(route, "operation_id", None)
        state = scope.get("state", {})
        principal: Principal | None = state.get("principal")
        recorder: AuditRecorder | None = getattr(
            getattr(scope.get("app"), "state", None), "audit", None
        )
        if (
            scope.get("method") not in _MUTATING
            or not operation_id
            or principal is None
            or recorder is None
        ):
            return
        entity_type, action = describe_operation(operation_id)
        workspace: Workspace | None = state.get("workspace")
        path_params = dict(scope.get("path_params", {}))
        entry = AuditEntry(
            actor_id=principal.id,
            actor_name=principal.name,
            actor_kind=principal.kind,
            source="api",
            action=action,
            entity_type=entity_type,
            entity_key=entity_key(path_params, location),
            outcome="succeeded" if status < 400 else "failed",
            workspace_url=workspace.url if workspace else None,
            request_id=request_id,
            new_values={
                "status": status,
                "path": scope.get("path"),
                "location": location,
                "response": _json_or_none(body),
            },
        )
        await anyio.to_thread.run_sync(recorder.record, entry)

    def _limit_for(self, headers: dict[str, str]) -> tuple[int, bool]:
        multipart = headers.get("content-type", "").lower().startswith(_MULTIPART)
        if multipart:
            return self.settings.upload.max_bytes + _MULTIPART_OVERHEAD_BYTES, True
        return self.settings.server.max_json_body_bytes, False

    def _early_rejection(self, request: Request, headers: dict[str, str]) -> JSONResponse | None:
        raw_path = request.scope.get("raw_path")
        if isinstance(raw_path, bytes) and b"%2f" in raw_path.lower():
            # Before routing: the router would match the decoded path, where `%2F` is a separator.
            return _app_error_response(request, encoded_separator_problem())
        if request.method not in {"POST", "PUT", "PATCH"}:
            return None
        length = headers.get("content-length")
        limit, multipart = self._limit_for(headers)
        if length is not None and length.isdigit() and int(length) > limit:
            return self._too_large(request, _BodyTooLarge(limit, multipart))
        has_body = (length is not None and length != "0") or "transfer-encoding" in headers
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and not (
            content_type in _JSON_TYPES
            or content_type.endswith("+json")
            or content_type == _MULTIPART
        ):
            got = content_type or "no content type"
            fields = self._form_fields(request)
            if fields is not None:
                named = ", ".join(f"'{name}'" for name in fields)
                detail = (
                    f"Send the body as multipart/form-data with the field {named} (got '{got}')."
                )
            else:
                detail = f"Send the body as application/json (got '{got}')."
            return _app_error_response(request, UnsupportedMediaTypeError(detail))
        return None

    def _form_fields(self, request: Request) -> list[str] | None:
        """The form fields of the operation at the request's method and path; None when it takes no form.

        Read from the OpenAPI document (the middleware runs before routing, so the route is not known yet): a
        raw YAML file posted to the upload is told to send a multipart form, not JSON (docs/API.md §10.2).
        """
        if self._form_operations is None:
            self._form_operations = _form_operations(request.app.openapi())
        for method, pattern, fields in self._form_operations:
            if method == request.method and pattern.match(request.url.path):
                return fields
        return None

    def _too_large(self, request: Request, exc: _BodyTooLarge) -> JSONResponse:
        return _app_error_response(request, self._too_large_error(exc))

    def _too_large_error(self, exc: _BodyTooLarge) -> AppError:
        if exc.multipart:
            limit = self.settings.upload.max_bytes
            error: AppError = PayloadTooLargeError(
                f"The upload exceeds {limit} bytes.",
                code="file_too_large",
                errors=[
                    {
                        "type": "file_too_large",
                        "severity": "error",
                        "msg": f"the file exceeds the upload limit of {limit} bytes",
                        "loc": "file",
                    }
                ],
            )
        else:
            error = PayloadTooLargeError(
                f"The JSON body exceeds {exc.limit} bytes.", code="payload_too_large"
            )
        return error

    def _limited(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> Receive:
        limit, multipart = self._limit_for(headers)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exc = _BodyTooLarge(limit, multipart)
                    # The body reader may catch this and raise its own parse error: the problem handlers
                    # answer with this 413 instead (`_body_cut_at_limit`).
                    scope.setdefault("state", {})[_BODY_TOO_LARGE_STATE] = self._too_large_error(
                        exc
                    )
                    raise exc
            return message

        return limited_receive


# ------------------------------------------------------------------------------------------ OpenAPI and docs


def _custom_openapi(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=settings.app_name,
            version=__version__,
            openapi_version="3.1.0",
            description=API_DESCRIPTION,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                if not isinstance(operation, dict):
                    continue
                workspace_required = bool(operation.pop("x-workspace-required", False))
                role = operation.get("x-required-role")
                if role:
                    note = "Public." if role == "public" else f"Required role: **{role}**."
                    operation["description"] = (
                        f"{operation.get('description', '').strip()}\n\n{note}".strip()
                    )
                for parameter in operation.get("parameters", []):
                    if (
                        parameter.get("in") == "header"
                        and parameter.get("name") == WORKSPACE_HEADER
                    ):
                        # Optional on the share-pack upload and plan, where the pack's
                        # metadata.workspace_url names the workspace (docs/API.md §1.1, §2.9).
                        parameter["required"] = workspace_required
                        parameter["schema"] = {"type": "string", "format": "uri"}
                        if settings.databricks.workspaces:
                            # Swagger UI pre-fills the first allow-listed workspace.
                            parameter["example"] = settings.databricks.workspaces[0].url
        for unused in ("HTTPValidationError", "ValidationError"):
            if unused in components and unused not in json.dumps(schema["paths"]):
                del components[unused]
        app.openapi_schema = schema
        return schema

    return build


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_NONCE_SLOT = "{csp_nonce}"
# ReDoc's styled-components insert <style> elements at run time; ReDoc gives them the `nonce` option. The option is
# read from the inline script's own `nonce` (an HTML attribute would be blanked by the browser once parsed).
_REDOC_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="shortcut icon" href="{favicon_url}">
<style nonce="{nonce}">body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc requires JavaScript to function. Please enable it to browse the documentation.</noscript>
<div id="redoc"></div>
<script src="{js_url}"></script>
<script nonce="{nonce}">
Redoc.init({spec_url}, {{nonce: document.currentScript.nonce}}, document.getElementById("redoc"));
</script>
</body>
</html>
"""


# redoc.standalone.js (fastapi-offline's copy) inserts perfect-scrollbar's CSS as a <style> element while it loads,
# before ReDoc has its nonce: the element, empty and then filled, is allowed by the hashes of those two contents.
_REDOC_BUNDLE_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (the element as inserted)
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar's stylesheet
)


def _docs_page(
    source: str, *, style_hashes: tuple[str, ...] = (), worker_src: str = "'none'"
) -> Callable[[], HTMLResponse]:
    """The route of a documentation page whose CSP allows only the app's own assets and its inline code (docs/API.md §1.1.1).

    Attribute-less inline `<script>` blocks are allowed by hash (the page is rendered once, from settings only);
    a page holding `{csp_nonce}` gets a fresh nonce per response for its scripts and styles. Any other script or
    style, injected or from another origin, is refused.
    """
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'"
        for text in _INLINE_SCRIPT.findall(source)
    ]

    def serve() -> HTMLResponse:
        page, nonce = source, []
        if _NONCE_SLOT in source:
            value = secrets.token_urlsafe(18)
            page, nonce = source.replace(_NONCE_SLOT, value), [f"'nonce-{value}'"]
        policy = "; ".join(
            (
                "default-src 'none'",
                " ".join(["script-src 'self'", *hashes, *nonce]),
                " ".join(["style-src 'self'", *style_hashes, *nonce]),
                "img-src 'self' data:",  # swagger-ui.css draws its icons as data: SVGs
                "font-src 'self'",
                "connect-src 'self'",  # the OpenAPI document and "Try it out" calls: same origin only
                f"worker-src {worker_src}",
                "base-uri 'none'",
                "form-action 'none'",
                "frame-ancestors 'none'",
            )
        )
        return HTMLResponse(page, headers={"Content-Security-Policy": policy})

    return serve


def _docs_router(app: FastAPI, settings: Settings) -> APIRouter:
    prefix = settings.api_prefix
    # The pages take no query parameters either (docs/API.md §1.7); the API routes get the same check from
    # `routes.common.operation`.
    router = APIRouter(
        include_in_schema=False, dependencies=[Depends(reject_unknown_query_parameters)]
    )
    assets = f"{prefix}/docs-assets"

    swagger = _docs_page(
        bytes(
            get_swagger_ui_html(
                openapi_url=f"{prefix}/openapi.json",
                title=f"{settings.app_name} API",
                swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                swagger_css_url=f"{assets}/swagger-ui.css",
                swagger_favicon_url=f"{assets}/favicon.png",
                swagger_ui_parameters={
                    "persistAuthorization": True,
                    "displayRequestDuration": True,
                },
            ).body
        ).decode()
    )
    router.add_api_route("/", swagger, methods=["GET"])
    if prefix:
        # `{prefix}` as well as `{prefix}/`: there is no slash redirect to lead from one to the other.
        router.add_api_route("", swagger, methods=["GET"])
    router.add_api_route("/docs", swagger, methods=["GET"])

    redoc = _docs_page(
        _REDOC_PAGE.format(
            title=html.escape(f"{settings.app_name} API"),
            favicon_url=f"{assets}/favicon.png",
            js_url=f"{assets}/redoc.standalone.js",
            spec_url=json.dumps(f"{prefix}/openapi.json"),
            nonce=_NONCE_SLOT,
        ),
        style_hashes=_REDOC_BUNDLE_STYLE_HASHES,
        worker_src="blob:",  # ReDoc's search index runs in a worker built from its own bundle
    )
    router.add_api_route("/redoc", redoc, methods=["GET"])

    def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    router.add_api_route("/openapi.json", openapi_json, methods=["GET"])
    return router


def _workflow_disabled_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def workflow_disabled(path: str) -> None:  # noqa: ARG001 - the catch-all segment
        raise NotFoundError(
            "The share-pack workflow is disabled on this service (workflow.enabled = false).",
            code="workflow_disabled",
        )

    router.add_api_route(
        "/workflow/{path:path}",
        workflow_disabled,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    )
    return router


# ------------------------------------------------------------------------------------------ factory


def _include_console(app: FastAPI, prefix: str) -> None:
    """The reviewer console (docs/API.md §17): its pages and its own static files (CSS and the one script)."""
    from dbrx_api.console import STATIC_DIR
    from dbrx_api.routes import console

    app.include_router(console.router, prefix=prefix)
    app.mount(
        f"{prefix}/console/static",
        StaticFiles(directory=str(STATIC_DIR)),
        name="console-static",
    )


def build_readiness(settings: Settings) -> ReadinessProbe:
    """The readiness checks of the core service (the workflow adds its own)."""
    probe = ReadinessProbe(cache_s=settings.server.readiness_cache_s)
    probe.register("config", lambda: CheckOutcome(ok=True))
    probe.register(
        "workspaces",
        lambda: CheckOutcome(
            ok=bool(settings.databricks.workspaces),
            detail=None if settings.databricks.workspaces else "the workspace allowlist is empty",
        ),
    )
    return probe


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application; `settings` defaults to the process settings (tests pass their own)."""
    settings = settings or get_settings()
    if settings.auth.mode == "disabled":
        logger.warning(
            "authentication is DISABLED (environment=local): every caller is 'local-developer'"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = settings.server.threadpool_size
        runtime = None
        if settings.workflow.enabled:
            from dbrx_api.workflow.runtime import open_workflow  # the feature-flagged subsystem

            runtime = await anyio.to_thread.run_sync(
                functools.partial(open_workflow, settings, product_version=__version__)
            )
            app.state.workflow = runtime.context
            runtime.register_readiness(app.state.readiness)
        pool = runtime.context.pool if runtime is not None else None
        logging_handle = configure_logging(settings, db_pool=pool)
        if settings.auth.mode == "disabled":
            logger.warning(
                "authentication is DISABLED (environment=local): every caller is 'local-developer'"
            )
        app.state.logging = logging_handle
        app.state.metrics = logging_handle.metrics
        app.state.audit = AuditRecorder(pool)
        if app.state.token_validator is not None:
            await anyio.to_thread.run_sync(app.state.token_validator.warm)
        if runtime is not None:
            runtime.context.metrics = logging_handle.metrics
            if settings.worker_inline:
                runtime.start_workers(settings.worker_concurrency)
        app.state.deferred_starter = DeferredStarter()
        settle_startup_heap()
        try:
            yield
        finally:
            app.state.deferred_starter.shutdown()
            if runtime is not None:
                await anyio.to_thread.run_sync(runtime.close)
            logging_handle.close()

    app = FastAPI(
        title=settings.app_name,
        version=__version__,
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # No `/shares/` → 307 to `/shares`: Starlette builds that Location from the Host header, so a forged Host
        # would send the client (and a replayed POST body) elsewhere. One URL per route, others are a 404 problem
        # (docs/API.md §1.1).
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.workspace_clients = WorkspaceClientFactory(
        settings.databricks,
        local=settings.is_local,
        product_version=__version__,
        # One connection per thread of the worker's pool: every route runs there (lifespan sizes it).
        pool_size=settings.server.threadpool_size,
    )
    app.state.readiness = build_readiness(settings)
    app.state.token_validator = None
    if settings.auth.mode == "entra":
        from dbrx_api.dbrx_auth.entra import TokenValidator

        app.state.token_validator = TokenValidator(settings.auth)

    install_exception_handlers(app)
    prefix = settings.api_prefix
    for module in (health, shares, access, recipients, catalogs, pipelines, schedules, metrics):
        app.include_router(module.router, prefix=prefix)
    if settings.workflow.enabled:
        from dbrx_api.routes import workflow  # imported only when the feature is on
        from dbrx_api.workflow.parsers.xlsx_reader import ensure_hardened_xml

        ensure_hardened_xml()  # refuse to start when openpyxl would parse uploads without defusedxml
        app.include_router(workflow.router, prefix=prefix)
        _include_console(app, prefix)
    else:
        app.include_router(_workflow_disabled_router(), prefix=prefix)
    app.include_router(_docs_router(app, settings), prefix=prefix)
    static_dir = str(files("fastapi_offline").joinpath("static"))
    app.mount(f"{prefix}/docs-assets", StaticFiles(directory=static_dir), name="docs-assets")
    app.openapi = _custom_openapi(app, settings)  # type: ignore[method-assign]
    app.add_middleware(RequestMiddleware, settings=settings)
    return app

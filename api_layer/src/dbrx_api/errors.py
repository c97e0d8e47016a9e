"""The service's error tree and the one translator from Databricks SDK failures to it (docs/API.md §1.5).

Every failure the service reports is an `AppError` carrying its HTTP status, a stable `code` and a human detail.
`main.install_exception_handlers` renders them as RFC 9457 problem documents. Service code wraps SDK calls in
`upstream(resource, name)` so that SDK exceptions become domain errors here and nowhere else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import requests
from databricks.sdk.errors import (
    AlreadyExists,
    BadRequest,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceConflict,
    TemporarilyUnavailable,
    TooManyRequests,
    Unauthenticated,
)
from databricks.sdk.errors.base import DatabricksError

logger = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER_S = 30
INTERNAL_ERROR_DETAIL = "An internal error occurred; quote the request id when reporting it."

_TITLE_OVERRIDES = {
    "auth_missing": "Authentication required",
    "auth_invalid": "Invalid token",
    "xls_not_supported": "XLS not supported",
    "cdf_not_enabled": "Change data feed not enabled",
    "ip_limit_exceeded": "IP limit exceeded",
}


# The members RFC 9457 defines (and `code`, ours); an extension under one of these names would be overwritten
# when the problem is rendered, so `AppError` refuses them.
RESERVED_PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code"})


def title_for(code: str) -> str:
    """The fixed short title of a problem code (`share_not_found` -> "Share not found")."""
    return _TITLE_OVERRIDES.get(code) or code.replace("_", " ").capitalize()


class AppError(Exception):
    """A failure with an HTTP status and a stable problem `code`; extension members go in `extra`."""

    status_code: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        _refuse_reserved(extra)
        self.detail = detail
        self.code = code or self.default_code
        self.headers = headers or {}
        self.extra = extra

    @property
    def title(self) -> str:
        """Short fixed title derived from the code."""
        return title_for(self.code)

    def with_extra(self, **extra: Any) -> AppError:
        """Add extension members (e.g. `applied`) and return self for chaining in `raise`."""
        _refuse_reserved(extra)
        self.extra.update(extra)
        return self


def _refuse_reserved(extra: dict[str, Any]) -> None:
    clash = RESERVED_PROBLEM_MEMBERS.intersection(extra)
    if clash:
        raise TypeError(f"problem extension members may not reuse RFC 9457 names: {sorted(clash)}")


class InvalidRequest(AppError):
    status_code = 400
    default_code = "upstream_rejected"


class AuthenticationError(AppError):
    status_code = 401
    default_code = "auth_invalid"


class ForbiddenError(AppError):
    status_code = 403
    default_code = "role_missing"


class NotFoundError(AppError):
    status_code = 404
    default_code = "not_found"


class MethodNotAllowedError(AppError):
    status_code = 405
    default_code = "method_not_allowed"


class ConflictError(AppError):
    status_code = 409
    default_code = "conflict"


class PayloadTooLargeError(AppError):
    status_code = 413
    default_code = "payload_too_large"


class UnsupportedMediaTypeError(AppError):
    status_code = 415
    default_code = "unsupported_media_type"


class ValidationFailed(AppError):
    """422: `errors` lists `{loc, msg, type}` entries (or share-pack issue objects)."""

    status_code = 422
    default_code = "validation_failed"


_LOCATION_KINDS = {
    "path": "path parameter",
    "query": "query parameter",
    "header": "header",
    "body": "body field",
}


def _location(loc: list[Any]) -> str:
    """`["path", "name"]` -> "path parameter 'name'"; `["body", "recipients", 0]` -> "body field 'recipients.0'"."""
    if not loc:
        return "the request"
    kind = _LOCATION_KINDS.get(str(loc[0]))
    if kind is None:
        return "'" + ".".join(str(part) for part in loc) + "'"
    rest = ".".join(str(part) for part in loc[1:])
    return f"{kind} '{rest}'" if rest else kind


def validation_problem(items: list[dict[str, Any]]) -> ValidationFailed:
    """The 422 of a request that failed validation (`items` are `{loc, msg, type}`).

    An invalid name is reported as `name_invalid`, with a detail naming the offending character and where it was
    sent (docs/API.md §1.5.2, §1.6); any other failure is `validation_failed`. `errors` lists every problem.
    """
    named = [item for item in items if item.get("type") == "name_invalid"]
    if named:
        first = named[0]
        return ValidationFailed(
            f"Invalid name in {_location(list(first.get('loc', [])))}: {first.get('msg', '')}.",
            code="name_invalid",
            errors=items,
        )
    where = ", ".join(".".join(str(p) for p in item.get("loc", [])) for item in items[:5])
    return ValidationFailed(f"The request is invalid: {where}.", errors=items)


def unknown_query_problem(unknown: list[str], accepted: list[str]) -> ValidationFailed:
    """The 422 of query parameters an operation does not take (docs/API.md §1.7); lists the accepted ones."""
    names = ", ".join(f"'{name}'" for name in unknown)
    takes = ", ".join(f"'{name}'" for name in accepted) if accepted else "no query parameters"
    plural = "s" if len(unknown) > 1 else ""
    return ValidationFailed(
        f"Unknown query parameter{plural} {names}; this operation accepts {takes}.",
        code="query_parameter_unknown",
        errors=[
            {
                "loc": ["query", name],
                "msg": "unknown query parameter",
                "type": "query_parameter_unknown",
            }
            for name in unknown
        ],
        accepted=accepted,
    )


def encoded_separator_problem() -> ValidationFailed:
    """The 422 of a request path holding an encoded `/` (`%2F`), refused before routing (docs/API.md §1.6).

    The router matches the decoded path, so `DELETE /pipelines/x%2Fschedules` would reach
    `DELETE /pipelines/{name}/schedules` for pipeline `x`: another object than the one named. No name may contain
    `/`, so such a path never names anything legitimately.
    """
    message = "a path parameter must not contain '/' (sent encoded as %2F)"
    return ValidationFailed(
        f"Invalid name in the path: {message}.",
        code="name_invalid",
        errors=[{"loc": ["path"], "msg": message, "type": "name_invalid"}],
    )


class UpstreamError(AppError):
    status_code = 502
    default_code = "upstream_error"


class ServiceUnavailable(AppError):
    status_code = 503
    default_code = "upstream_unavailable"


# ------------------------------------------------------------------------------------------ SDK translation

# Case-insensitive message fragments that decide the problem code, checked in order (docs/API.md §1.5.3).
_MESSAGE_RULES: tuple[tuple[str, type[AppError], str], ...] = (
    ("there is already a recipient object", ConflictError, "recipient_identifier_in_use"),
    ("cannot resolve target shard", InvalidRequest, "recipient_identifier_invalid"),
    ("already two activated tokens", ConflictError, "recipient_token_limit"),
    ("cannot extend the token expiration time", InvalidRequest, "token_expiry_extension_denied"),
    ("non-token authentication type", InvalidRequest, "recipient_not_token_type"),
)
_NOT_FOUND_FRAGMENTS = ("does not exist", "doesn't exist", "was not found")
_ALREADY_EXISTS_FRAGMENTS = ("already exists", "is already used by another pipeline")
_ACTIVE_UPDATE_FRAGMENTS = ("active update",)
_UC_MISSING_KINDS = {
    "SHARE_DOES_NOT_EXIST": "share",
    "RECIPIENT_DOES_NOT_EXIST": "recipient",
    "CATALOG_DOES_NOT_EXIST": "catalog",
    "SCHEMA_DOES_NOT_EXIST": "schema",
    "TABLE_DOES_NOT_EXIST": "table",
    "EXTERNAL_LOCATION_DOES_NOT_EXIST": "external_location",
}
_CONFIG_SUFFIX = re.compile(r"\.?\s*Config:\s.*$", re.DOTALL)
_THROTTLE_CAUSES = (TooManyRequests, TemporarilyUnavailable)
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def clean_upstream_message(message: str) -> str:
    """Drop the SDK's trailing `Config: …` diagnostic (it names hosts and auth attributes)."""
    return _CONFIG_SUFFIX.sub("", message).strip() or "Databricks returned an error."


def _iter_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _error_code(exc: DatabricksError) -> str:
    return str(exc.error_code or "")


def translate_upstream(exc: BaseException, resource: str = "resource") -> AppError | None:
    """Map an SDK/transport exception to an `AppError`; None when `exc` is not an upstream failure.

    `resource` is the kind of object the failed operation concerned (`share`, `recipient`, `pipeline`, …) and turns a
    generic "not found" into e.g. `share_not_found`.
    """
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, DatabricksError):
        return _translate_databricks(exc, resource)
    if isinstance(exc, TimeoutError):
        for cause in _iter_chain(exc):
            if isinstance(cause, _THROTTLE_CAUSES):
                retry_after = getattr(cause, "retry_after_secs", None) or DEFAULT_RETRY_AFTER_S
                return ServiceUnavailable(
                    "Databricks kept throttling or was unavailable through the retry budget; try again later.",
                    code="upstream_unavailable",
                    headers={"Retry-After": str(int(retry_after))},
                    retry_after_seconds=int(retry_after),
                )
        for cause in _iter_chain(exc):
            if isinstance(cause, _TRANSPORT_ERRORS):
                return UpstreamError(
                    "The Databricks workspace could not be reached.", code="upstream_unreachable"
                )
        for cause in _iter_chain(exc):
            if isinstance(cause, DatabricksError):
                return _translate_databricks(cause, resource)
        return UpstreamError(
            "The Databricks workspace did not answer in time.", code="upstream_unreachable"
        )
    if isinstance(exc, _TRANSPORT_ERRORS):
        return UpstreamError(
            "The Databricks workspace could not be reached.", code="upstream_unreachable"
        )
    if isinstance(exc, ValueError) and type(exc).__name__ == "JSONDecodeError":
        return UpstreamError("Databricks returned a malformed response.", code="upstream_error")
    return None


def _translate_databricks(exc: DatabricksError, resource: str) -> AppError:
    message = clean_upstream_message(str(exc))
    lowered = message.lower()
    code = _error_code(exc)
    for fragment, cls, problem_code in _MESSAGE_RULES:
        if fragment in lowered:
            return cls(message, code=problem_code)
    if isinstance(exc, NotFound) or (
        # Jobs answer a missing job with 400 "Job 5 does not exist."; only a message about the kind of object
        # being operated on counts, so "Metastore storage root URL does not exist" stays a 400.
        isinstance(exc, BadRequest)
        and lowered.startswith(
            (resource.replace("_", " "), f"the specified {resource.replace('_', ' ')}")
        )
        and any(f in lowered for f in _NOT_FOUND_FRAGMENTS)
    ):
        # A Unity Catalog code names the missing kind precisely (a missing catalog while reading a schema).
        kind = _UC_MISSING_KINDS.get(code.upper(), resource)
        return NotFoundError(message, code=f"{kind}_not_found")
    if isinstance(exc, AlreadyExists | ResourceAlreadyExists) or (
        isinstance(exc, BadRequest | ResourceConflict)
        and (
            code.upper().endswith("ALREADY_EXISTS")
            or any(f in lowered for f in _ALREADY_EXISTS_FRAGMENTS)
        )
    ):
        return ConflictError(message, code=f"{resource}_already_exists")
    if isinstance(exc, ResourceConflict):
        if resource == "pipeline" and any(f in lowered for f in _ACTIVE_UPDATE_FRAGMENTS):
            return ConflictError(message, code="pipeline_busy")
        return ConflictError(message, code="conflict")
    if isinstance(exc, PermissionDenied):
        if lowered.startswith("invalid access token"):
            return UpstreamError(
                "The service's Databricks credentials were rejected.", code="upstream_auth_failed"
            )
        return ForbiddenError(message, code="upstream_permission_denied")
    if isinstance(exc, Unauthenticated):
        return UpstreamError(
            "The service's Databricks credentials were rejected.", code="upstream_auth_failed"
        )
    if isinstance(exc, BadRequest):
        return InvalidRequest(message, code="upstream_rejected")
    if isinstance(exc, _THROTTLE_CAUSES):
        retry_after = exc.retry_after_secs or DEFAULT_RETRY_AFTER_S
        return ServiceUnavailable(
            "Databricks is throttling or unavailable; try again later.",
            headers={"Retry-After": str(int(retry_after))},
            retry_after_seconds=int(retry_after),
        )
    return UpstreamError(f"Databricks failed: {message}", code="upstream_error")


def log_upstream_failure(exc: BaseException, translated: AppError, name: str | None = None) -> None:
    """Record what Databricks said (code, status, request id), never credentials."""
    for cause in _iter_chain(exc):
        if isinstance(cause, DatabricksError):
            request_info = cause.get_error_details().request_info
            logger.warning(
                "upstream call failed",
                extra={
                    "upstream_error_code": _error_code(cause),
                    "upstream_class": type(cause).__name__,
                    "upstream_request_id": request_info.request_id if request_info else None,
                    "problem_code": translated.code,
                    "resource_name": name,
                },
            )
            return
    logger.warning(
        "upstream call failed",
        extra={
            "upstream_class": type(exc).__name__,
            "problem_code": translated.code,
            "resource_name": name,
        },
    )


@contextmanager
def upstream(resource: str = "resource", name: str | None = None) -> Iterator[None]:
    """Translate SDK failures raised inside the block into `AppError`s about `resource`."""
    try:
        yield
    except AppError:
        raise
    except Exception as exc:
        translated = translate_upstream(exc, resource)
        if translated is None:
            raise
        log_upstream_failure(exc, translated, name)
        raise translated from exc


def is_transport_failure(exc: BaseException) -> bool:
    """True when the outcome of a call is unknown (connection dropped or timed out after retries)."""
    return isinstance(exc, AppError) and exc.code == "upstream_unreachable"


# Waiting does not help when Databricks rejected the service's own credentials: an operator has to act.
_NOT_RETRIABLE = frozenset({"upstream_auth_failed"})


def is_retriable(exc: BaseException) -> bool:
    """Whether a worker may retry the failed step later (throttling, outage, transport, 5xx)."""
    translated = exc if isinstance(exc, AppError) else translate_upstream(exc)
    if translated is None or translated.code in _NOT_RETRIABLE:
        return False
    return translated.status_code in {502, 503}

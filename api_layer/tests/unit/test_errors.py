"""The single SDK → problem translator (docs/API.md §1.5.3), fed with the SDK's real exception classes."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk.errors import (
    BadRequest,
    InternalError,
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceConflict,
    TemporarilyUnavailable,
    TooManyRequests,
    Unauthenticated,
)

from dbrx_api.errors import AppError, translate_upstream, upstream


def translated(exc: BaseException, resource: str = "share") -> AppError:
    result = translate_upstream(exc, resource)
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("exc", "resource", "status", "code"),
    [
        (
            NotFound("Share 'x' does not exist.", error_code="SHARE_DOES_NOT_EXIST"),
            "share",
            404,
            "share_not_found",
        ),
        (
            NotFound("Catalog 'c' does not exist.", error_code="CATALOG_DOES_NOT_EXIST"),
            "schema",
            404,
            "catalog_not_found",
        ),
        (
            InvalidParameterValue("Job 5 does not exist.", error_code="INVALID_PARAMETER_VALUE"),
            "job",
            404,
            "job_not_found",
        ),
        (
            BadRequest("Share 'x' already exists.", error_code="SHARE_ALREADY_EXISTS"),
            "share",
            409,
            "share_already_exists",
        ),
        (
            ResourceConflict("Share 'x' already exists.", error_code="SHARE_ALREADY_EXISTS"),
            "share",
            409,
            "share_already_exists",
        ),
        (
            ResourceAlreadyExists("Shared Table 's.t' already exists"),
            "share",
            409,
            "share_already_exists",
        ),
        (
            InvalidParameterValue("The pipeline name 'p' is already used by another pipeline."),
            "pipeline",
            409,
            "pipeline_already_exists",
        ),
        (
            BadRequest("There is already a Recipient object 'a' with the same sharing identifier"),
            "recipient",
            409,
            "recipient_identifier_in_use",
        ),
        (
            BadRequest("Cannot resolve target shard for sharing identifier 'x'."),
            "recipient",
            400,
            "recipient_identifier_invalid",
        ),
        (
            BadRequest("There are already two activated tokens for recipient r."),
            "recipient",
            409,
            "recipient_token_limit",
        ),
        (
            BadRequest("Cannot extend the token expiration time of the existing token."),
            "recipient",
            400,
            "token_expiry_extension_denied",
        ),
        (
            BadRequest("Cannot rotate token for recipient 'r' with non-TOKEN authentication type."),
            "recipient",
            400,
            "recipient_not_token_type",
        ),
        (
            ResourceConflict("Pipeline p already has an active update u."),
            "pipeline",
            409,
            "pipeline_busy",
        ),
        (ResourceConflict("The pipeline was modified concurrently."), "pipeline", 409, "conflict"),
        (
            PermissionDenied("Invalid access token. Config: host=http://x, auth_type=pat"),
            "share",
            502,
            "upstream_auth_failed",
        ),
        (
            PermissionDenied("User is not an owner of Share 's'."),
            "share",
            403,
            "upstream_permission_denied",
        ),
        (Unauthenticated("Credential was not sent"), "share", 502, "upstream_auth_failed"),
        (
            InvalidParameterValue("UpdateShare number of data objects to update exceeds limit 100"),
            "share",
            400,
            "upstream_rejected",
        ),
        (InternalError("Internal error"), "share", 502, "upstream_error"),
        (
            InvalidParameterValue(
                "Metastore storage root URL does not exist. Please provide a storage location."
            ),
            "catalog",
            400,
            "upstream_rejected",
        ),
    ],
)
def test_sdk_errors_map_to_problem_codes(
    exc: Exception, resource: str, status: int, code: str
) -> None:
    result = translated(exc, resource)
    assert (result.status_code, result.code) == (status, code)


def test_config_diagnostic_is_stripped_from_details() -> None:
    result = translated(
        PermissionDenied("User is not an owner of Share 's'. Config: host=http://h, token=***")
    )
    assert "Config" not in result.detail
    assert result.detail.endswith("Share 's'")


def timed_out(cause: BaseException) -> TimeoutError:
    """What the SDK raises when its retry budget ends: a builtin TimeoutError caused by the last error."""
    exc = TimeoutError("Timed out after 0:00:05")
    exc.__cause__ = cause
    return exc


def test_throttling_after_retry_budget_is_503_with_retry_after() -> None:
    result = translated(timed_out(TooManyRequests("Request limit exceeded", retry_after_secs=7)))
    assert (result.status_code, result.code) == (503, "upstream_unavailable")
    assert result.headers["Retry-After"] == "7"
    assert result.extra["retry_after_seconds"] == 7


def test_unavailable_without_retry_after_defaults_to_30() -> None:
    assert translated(timed_out(TemporarilyUnavailable("down"))).headers["Retry-After"] == "30"


def test_connection_failures_are_unreachable() -> None:
    cause = requests.ConnectionError("Remote end closed connection")
    assert translated(timed_out(cause)).code == "upstream_unreachable"
    assert translated(requests.Timeout("read timed out")).code == "upstream_unreachable"


def test_upstream_context_manager_translates_and_keeps_cause() -> None:
    with pytest.raises(AppError) as failure, upstream("recipient", "r1"):
        raise NotFound("Recipient 'r1' does not exist.", error_code="RECIPIENT_DOES_NOT_EXIST")
    assert failure.value.code == "recipient_not_found"
    assert isinstance(failure.value.__cause__, NotFound)


def test_non_upstream_errors_pass_through() -> None:
    with pytest.raises(KeyError), upstream("share"):
        raise KeyError("bug")


def test_retriable_classification() -> None:
    from dbrx_api.errors import is_retriable

    assert is_retriable(timed_out(TooManyRequests("slow down")))
    assert is_retriable(InternalError("boom"))
    assert not is_retriable(PermissionDenied("Invalid access token."))
    assert not is_retriable(
        NotFound("Share 'x' does not exist.", error_code="SHARE_DOES_NOT_EXIST")
    )
    assert not is_retriable(KeyError("bug"))


@pytest.mark.parametrize("member", ["status", "type", "title", "detail", "instance", "code"])
def test_extension_members_cannot_shadow_rfc9457_members(member: str) -> None:
    # A `status` extension once replaced the problem's HTTP status with a version state (docs/API.md §1.5).
    if member != "code":  # `code` is the constructor's own argument
        with pytest.raises(TypeError, match=member):
            AppError("x", **{member: "QUEUED"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=member):
        AppError("x").with_extra(**{member: "QUEUED"})

"""Databricks error bodies (docs/EMULATOR.md §6, §8).

Handlers raise `ApiError`; the request pipeline turns it into the Databricks JSON error body. The helpers below
build the errors whose code or status depends on the behaviour switches (`not_found_style`,
`already_exists_status`).
"""

from __future__ import annotations

from typing import Any, Literal

ERROR_DOMAIN = "dbrx-emulator"

NotFoundStyle = Literal["specific", "resource", "generic"]

# Kind as written in messages -> the UC error-code stem.
_KIND_CODES = {
    "Share": "SHARE",
    "Recipient": "RECIPIENT",
    "Catalog": "CATALOG",
    "Schema": "SCHEMA",
    "Table": "TABLE",
    "Volume": "VOLUME",
    "Registered model": "REGISTERED_MODEL",
    "External location": "EXTERNAL_LOCATION",
}


class ApiError(Exception):
    """An error answer of an emulated API call."""

    def __init__(
        self,
        status: int,
        error_code: str | int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        with_details: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}
        self.with_details = with_details

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body Databricks sends for this error."""
        return error_body(self.error_code, self.message, request_id, with_details=self.with_details)


def error_body(
    error_code: str | int, message: str, request_id: str, *, with_details: bool = True
) -> dict[str, Any]:
    """`{"error_code", "message", "details": [ErrorInfo, RequestInfo]}` as Databricks writes it."""
    body: dict[str, Any] = {"error_code": error_code, "message": message}
    if with_details:
        body["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": str(error_code),
                "domain": ERROR_DOMAIN,
                "metadata": {},
            },
            {
                "@type": "type.googleapis.com/google.rpc.RequestInfo",
                "request_id": request_id,
                "serving_data": "",
            },
        ]
    return body


def invalid(message: str) -> ApiError:
    """400 `INVALID_PARAMETER_VALUE`."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def malformed(message: str) -> ApiError:
    """400 `MALFORMED_REQUEST` (a body that is not a JSON object)."""
    return ApiError(400, "MALFORMED_REQUEST", message)


def permission_denied(message: str) -> ApiError:
    """403 `PERMISSION_DENIED`."""
    return ApiError(403, "PERMISSION_DENIED", message)


def resource_does_not_exist(message: str) -> ApiError:
    """404 `RESOURCE_DOES_NOT_EXIST` (SDK class ResourceDoesNotExist)."""
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def resource_conflict(message: str) -> ApiError:
    """409 `RESOURCE_CONFLICT`."""
    return ApiError(409, "RESOURCE_CONFLICT", message)


def not_owner(kind: str, name: str) -> ApiError:
    """403 `User is not an owner of <Kind> '<name>'.`"""
    return permission_denied(f"User is not an owner of {kind} '{name}'.")


def uc_not_found(style: NotFoundStyle, kind: str, name: str) -> ApiError:
    """404 for a missing UC object; the code follows `behaviour.not_found_style` (trap 6)."""
    if style == "specific":
        code = f"{_KIND_CODES[kind]}_DOES_NOT_EXIST"
    elif style == "resource":
        code = "RESOURCE_DOES_NOT_EXIST"
    else:
        code = "NOT_FOUND"
    return ApiError(404, code, f"{kind} '{name}' does not exist.")


def uc_already_exists(status: int, kind: str, name: str) -> ApiError:
    """`<KIND>_ALREADY_EXISTS`; the status follows `behaviour.already_exists_status` (trap 6)."""
    return ApiError(
        status, f"{_KIND_CODES[kind]}_ALREADY_EXISTS", f"{kind} '{name}' already exists."
    )


def endpoint_not_found(method: str, path: str) -> ApiError:
    """404 `ENDPOINT_NOT_FOUND` (host metadata in its `404` mode)."""
    return ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")


def not_implemented(method: str, path: str) -> ApiError:
    """501 `NOT_IMPLEMENTED` for a route or method the emulator does not serve.

    Not Databricks' 404 `ENDPOINT_NOT_FOUND`: a client would read that as "object missing" (SDK `NotFound`) and
    carry on, hiding that the emulator lacks an operation the code under test calls (docs/EMULATOR.md §6).
    """
    return ApiError(501, "NOT_IMPLEMENTED", f"The emulator does not implement '{method} {path}'.")

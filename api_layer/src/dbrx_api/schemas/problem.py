"""The RFC 9457 problem document (docs/API.md §1.5.1), as documented in OpenAPI."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ValidationErrorItem(BaseModel):
    loc: list[str | int] | str
    msg: str
    type: str


class Problem(BaseModel):
    """Every error response: `application/problem+json`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:deltashare:problem:share_not_found"])
    title: str = Field(examples=["Share not found"])
    status: int = Field(examples=[404])
    detail: str
    instance: str = Field(examples=["/shares/sales_eu"])
    code: str = Field(examples=["share_not_found"])
    request_id: str
    errors: list[dict[str, Any]] | None = None


def problem_body(
    *,
    code: str,
    title: str,
    status: int,
    detail: str,
    instance: str,
    request_id: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of a problem response (extension members after the standard ones)."""
    body: dict[str, Any] = {
        "type": f"urn:deltashare:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "request_id": request_id,
    }
    for key, value in (extra or {}).items():
        body.setdefault(key, value)
    return body

"""Each parameter's `required` flag in the OpenAPI document agrees with the server (docs/API.md §1.1, §1.3).

For every operation: the request with only the required parameters is not refused because of any optional one, and
the same request without one required parameter is a 4xx problem that names it (in `errors[].loc`, or in `detail`
for a header such as `X-Workspace-URL`, whose absence is a 400 `workspace_header_missing`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

PROBE_ID = "00000000-0000-0000-0000-0000000000aa"


def _value(parameter: dict[str, Any], workspace_url: str) -> str:
    """A valid value for a parameter, from its name and schema."""
    schema = parameter["schema"]
    variants = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    schema = variants[0] if variants else schema
    if schema.get("format") == "uri":
        return workspace_url
    if schema.get("format") == "uuid" or parameter["name"] == "id":
        return PROBE_ID
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "integer":
        return str(max(1, schema.get("minimum", 1)))
    if schema.get("type") == "boolean":
        return "false"
    if schema.get("format") == "date-time":
        return "2026-03-01T00:00:00Z"
    return "param_probe"


def _names(body: Any, parameter: dict[str, Any]) -> bool:
    """Whether a problem document is about `parameter`."""
    if not isinstance(body, dict):
        return False
    name = parameter["name"]
    for error in body.get("errors") or []:
        if isinstance(error, dict) and name.lower() in [
            str(part).lower() for part in error.get("loc", [])
        ]:
            return True
    return parameter["in"] == "header" and name.lower() in str(body.get("detail", "")).lower()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    ]


def test_every_required_flag_matches_the_server(
    workflow_api: Callable[..., TestClient], emu: Any
) -> None:
    client = workflow_api()
    document = client.get("/openapi.json").json()
    failures: list[str] = []
    checked = omitted = 0
    for method, path, operation in _operations(document):
        parameters = [p for p in operation.get("parameters", []) if p["in"] != "cookie"]
        url = path
        for parameter in (p for p in parameters if p["in"] == "path"):
            if parameter.get("required") is not True or f"{{{parameter['name']}}}" not in path:
                failures.append(f"{method} {path}: path parameter {parameter['name']} not required")
            url = url.replace(f"{{{parameter['name']}}}", _value(parameter, emu.url))
        required = [p for p in parameters if p["in"] != "path" and p.get("required")]
        optional = [p for p in parameters if p["in"] != "path" and not p.get("required")]

        def send(
            omit: dict[str, Any] | None = None,
            *,
            _url: str = url,
            _method: str = method,
            _required: list[dict[str, Any]] = required,
        ) -> Any:
            sent = [p for p in _required if p is not omit]
            query = {p["name"]: _value(p, emu.url) for p in sent if p["in"] == "query"}
            headers = {p["name"]: _value(p, emu.url) for p in sent if p["in"] == "header"}
            return client.request(_method.upper(), _url, params=query, headers=headers)

        minimal = send()
        checked += 1
        for parameter in optional:
            if 400 <= minimal.status_code < 500 and _names(minimal.json(), parameter):
                failures.append(
                    f"{method} {path}: optional {parameter['in']} {parameter['name']} refused "
                    f"({minimal.status_code}: {minimal.text[:200]})"
                )
        for parameter in required:
            omitted += 1
            response = send(parameter)
            body = response.json() if response.content else None
            if not (400 <= response.status_code < 500 and _names(body, parameter)):
                failures.append(
                    f"{method} {path}: without required {parameter['in']} {parameter['name']}: "
                    f"{response.status_code} {response.text[:200]}"
                )
    assert checked > 40, "the document lists the operations"
    assert omitted > 40, "... and their required parameters"
    assert failures == []


def test_workspace_header_is_optional_on_pack_upload_and_plan(
    workflow_api: Callable[..., TestClient],
) -> None:
    """The upload and plan take the workspace from the pack, so the document must not require the header."""
    document = workflow_api().get("/openapi.json").json()
    for path in ("/workflow/sharepack/upload_and_validate", "/workflow/sharepack/plan"):
        (header,) = [
            p
            for p in document["paths"][path]["post"]["parameters"]
            if p["in"] == "header" and p["name"] == "X-Workspace-URL"
        ]
        assert header["required"] is False
        assert header["description"].startswith("Optional")
    shares = document["paths"]["/shares"]["get"]["parameters"]
    assert [p["required"] for p in shares if p["name"] == "X-Workspace-URL"] == [True]
    assert "x-workspace-required" not in str(document)

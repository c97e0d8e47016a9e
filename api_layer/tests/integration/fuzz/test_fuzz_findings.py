"""Regression tests for what schemathesis found (each a fixed case, so they fail without the fix at any seed)."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dbrx_api.schemas.common import UC_NAME_PATTERN, uc_name_problem

pytestmark = pytest.mark.integration


def test_location_of_a_created_resource_is_percent_encoded(api: TestClient) -> None:
    """A non-Latin-1 name in `Location` was a 500 (Starlette encodes header values as Latin-1)."""
    created = api.post("/shares", json={"name": "ventes_été_東京"})
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert location == "/shares/ventes_%C3%A9t%C3%A9_%E6%9D%B1%E4%BA%AC"
    assert api.get(location).json()["name"] == "ventes_été_東京"

    catalog = api.post("/catalogs/cat%C3%A1logo")
    assert catalog.status_code == 201, catalog.text
    assert catalog.headers["Location"] == "/catalogs/cat%C3%A1logo"
    # '%' is reserved in URL paths (docs/API.md §1.6): refused before any call, never echoed into a Location.
    refused = api.post("/catalogs/cat%25alogue")
    assert (refused.status_code, refused.json()["code"]) == (422, "name_invalid")


def test_405_names_the_allowed_methods(api: TestClient) -> None:
    """RFC 9110: a 405 carries `Allow`, listing the methods of every route on the path."""
    response = api.request("TRACE", "/shares")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert api.request("PATCH", "/shares/demo").headers["Allow"] == "DELETE, GET"


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"expiration_days": "30"}, ["body", "expiration_days"], "int_type"),
        ({"expiration_days": True}, ["body", "expiration_days"], "int_type"),
        ({"expiration_days": 30.5}, ["body", "expiration_days"], "int_type"),
        ({"ip_access_list": "10.0.0.1"}, ["body", "ip_access_list"], "list_type"),
    ],
)
def test_request_members_have_their_schema_type(
    api: TestClient, emu: Any, body: dict[str, Any], loc: list[Any], error_type: str
) -> None:
    """Pydantic's lax mode took `"30"` for an integer; the body must match its JSON Schema, with no upstream call."""
    emu.reset_stats()
    response = api.post("/recipients/d2o/partner_a", json=body)
    assert response.status_code == 422, response.text
    assert {"loc": loc, "type": error_type} in [
        {"loc": e["loc"], "type": e["type"]} for e in response.json()["errors"]
    ]
    # At most the workspace client's one-time host-metadata call (on the first request of the session app).
    operations = emu.stats()["operations"]
    assert {op for op, entry in operations.items() if entry["count"]} <= {"meta.host_metadata"}


def test_integral_floats_are_integers(api: TestClient) -> None:
    """JSON Schema counts 30.0 as an integer: accepted (strict mode alone would refuse it)."""
    response = api.post("/recipients/d2o/partner_b", json={"expiration_days": 30.0})
    assert response.status_code == 201, response.text


def test_booleans_are_json_booleans(api: TestClient) -> None:
    response = api.put(
        "/shares/any_share/dataobject/add",
        json={"objects": [{"name": "main.sales.orders", "cdf_enabled": "yes"}]},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "bool_type"


def test_enum_members_still_accept_their_text(api: TestClient) -> None:
    """Strict models would refuse `"TABLE"` for the enum (FastAPI validates in Python mode): it opts out."""
    api.post("/shares", json={"name": "enum_share"}).raise_for_status()
    response = api.put(
        "/shares/enum_share/dataobject/add",
        json={"objects": [{"name": "main.sales.orders", "type": "TABLE"}]},
    )
    assert response.status_code == 200, response.text


def test_uc_name_pattern_states_the_validator_rule() -> None:
    """The OpenAPI `pattern` accepts exactly the characters `uc_name_problem` accepts (every code point)."""
    pattern = re.compile(UC_NAME_PATTERN)
    disagreements = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if not 0xD800 <= code <= 0xDFFF
        and bool(pattern.fullmatch(chr(code))) != (uc_name_problem(chr(code)) is None)
    ]
    assert disagreements == []
    # No `\s`: its meaning differs between Python and ECMA-262 (the JSON Schema dialect), e.g. for U+0085.
    assert "\\s" not in UC_NAME_PATTERN
    assert not pattern.fullmatch("a\x85b")


def test_path_names_carry_the_pattern(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    parameter = next(
        p for p in document["paths"]["/shares/{name}"]["get"]["parameters"] if p["name"] == "name"
    )
    assert parameter["schema"]["pattern"] == UC_NAME_PATTERN


def test_workflow_since_is_rfc3339(workflow_api: Any) -> None:
    """`since=0.5` was read as a Unix time (pydantic's lax datetime); the query takes RFC 3339 only."""
    client = workflow_api()
    refused = client.get("/workflow/sharepacks", params={"since": "0.5"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["type"] == "timestamp_invalid"
    assert client.get("/workflow/sharepacks", params={"since": "2026-03-01"}).status_code == 200
    assert (
        client.get("/workflow/sharepacks", params={"since": "2026-03-01T10:00:00Z"}).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("params", "error_type"),
    [
        ({"requested_by": "jane\x00doe"}, "string_pattern_mismatch"),
        ({"status": "QUEUED\x00"}, "literal_error"),  # statuses are an enumeration
    ],
)
def test_workflow_filters_refuse_control_characters(
    workflow_api: Any, params: dict[str, str], error_type: str
) -> None:
    """A NUL in a filter reached PostgreSQL, which refuses it in text: a 500. Now a 422 at the boundary."""
    client = workflow_api()
    response = client.get("/workflow/sharepacks", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == error_type
    assert (
        client.get(
            "/workflow/sharepacks", params={"requested_by": "jane.doe@example.com"}
        ).status_code
        == 200
    )


@pytest.mark.parametrize("value", ["0001-01-01", "0001-01-01T02:00:01+01:01", "9999-12-31"])
def test_metrics_window_out_of_range_is_422(api: TestClient, value: str) -> None:
    """Found by schemathesis: a window at the ends of datetime's range overflowed into a 500."""
    for path in ("/pipelines/p1/metrics", "/pipelines/p1/job-runs/metrics"):
        response = api.get(path, params={"end_timestamp": value})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"][0]["type"] == "timestamp_invalid"
